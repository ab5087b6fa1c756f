//! The sanitizer: whatever comes in, nothing a terminal acts on goes out, and safe text is kept.
#![no_main]

use ember_fuzz::render::sanitize::{for_cells, is_unsafe, sanitize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let out = sanitize(&text);
    assert!(!out.chars().any(is_unsafe), "unsafe character survived in {out:?}");
    if !text.chars().any(is_unsafe) {
        assert_eq!(out, text, "safe text was changed");
    }
    let cells = for_cells(&text);
    assert!(!cells.chars().any(|c| is_unsafe(c) || c == '\t'));
    // Newlines are the only line breaks: sanitizing never adds or removes one.
    assert_eq!(out.matches('\n').count(), text.matches('\n').count());
});
