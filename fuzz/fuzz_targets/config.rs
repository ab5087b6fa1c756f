//! The configuration file parser on arbitrary text: no panic, and every error names a line
//! that exists in the text (or line 1 of an empty one).
#![no_main]

use ember_fuzz::config_file::{ConfigError, Settings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Settings::parse(text, std::path::Path::new("config.toml")) {
        Ok(_) => {}
        Err(ConfigError::Invalid { line, .. }) => {
            let lines = text.split('\n').count().max(1);
            assert!(line >= 1 && line <= lines, "line {line} of a {lines}-line text");
        }
        Err(ConfigError::Read { .. }) => unreachable!("parse reads no file"),
    }
});
