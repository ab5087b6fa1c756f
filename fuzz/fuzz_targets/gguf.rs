//! The GGUF header reader on arbitrary files: an error or a header, never a panic, a hang, or an
//! allocation the file's size does not justify.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("ember-fuzz-{}.gguf", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(header) = ember_fuzz::gguf::read_header(&path) {
        let _ = (header.architecture(), header.context_length(), header.chat_template());
    }
});
