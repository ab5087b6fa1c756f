//! What may never reach a terminal, written down here independently of ember's sanitizer
//! (`render::sanitize`), so the tests do not use the code under test as their own oracle.
//!
//! Text shown to a person (cells of a TUI frame, pipe mode's output on a terminal, `ember
//! history` on a terminal) must hold none of:
//! - C0 controls but tab and newline: ESC starts every escape sequence (CSI, OSC, DCS, APC, PM,
//!   SOS), BEL ends OSCs and rings, BS and CR move the cursor back and hide text, VT/FF scroll;
//! - DEL;
//! - C1 controls (U+0080..U+009F): 8-bit CSI, OSC, DCS and ST, which some terminals honour;
//! - bidi controls (embeddings, overrides, isolates, marks), which reorder a line without
//!   showing ("Trojan Source");
//! - the Unicode line and paragraph separators, invisible line breaks to some renderers.
//!
//! A full-screen program's own byte stream is escape sequences by design: [`tui_stream_problems`]
//! allows the CSI sequences a TUI draws with and nothing that can set a title, the clipboard, a
//! hyperlink, query the terminal or reset it.
#![allow(dead_code)]

/// The characters that must never reach a terminal as they are.
pub fn forbidden(c: char) -> bool {
    let cp = c as u32;
    (cp < 0x20 && c != '\t' && c != '\n')
        || cp == 0x7f
        || (0x80..=0x9f).contains(&cp)
        || matches!(cp, 0x061c | 0x200e | 0x200f | 0x202a..=0x202e | 0x2066..=0x2069)
        || matches!(cp, 0x2028 | 0x2029)
}

/// The forbidden characters in `text`, at most five, each with the text before it.
pub fn forbidden_in(text: &str) -> Vec<String> {
    text.char_indices()
        .filter(|(_, c)| forbidden(*c))
        .take(5)
        .map(|(i, c)| {
            let from = text[..i].char_indices().rev().nth(20).map_or(0, |(j, _)| j);
            format!("U+{:04X} after {:?}", c as u32, &text[from..i])
        })
        .collect()
}

/// What a terminal would act on in the raw byte stream of a full-screen program, beyond the
/// drawing it needs: any escape sequence but CSI (cursor, erase, colours, modes) and the
/// save/restore-cursor pair, and any forbidden character outside an escape sequence but the
/// CR and LF that end lines. OSC 52 (the clipboard) is allowed only when `clipboard_ok`.
pub fn tui_stream_problems(raw: &[u8], clipboard_ok: bool) -> Vec<String> {
    let text = String::from_utf8_lossy(raw);
    let chars: Vec<char> = text.chars().collect();
    let mut problems = Vec::new();
    if let Err(e) = std::str::from_utf8(raw) {
        // A raw 8-bit byte (a C1 control, to a terminal in an 8-bit mode) or a broken character.
        problems.push(format!("bytes that are not UTF-8 at offset {}", e.valid_up_to()));
    }
    let context = |at: usize| chars[at.saturating_sub(30)..at].iter().collect::<String>();
    let mut i = 0;
    while i < chars.len() && problems.len() < 10 {
        let c = chars[i];
        if c == '\x1b' {
            match chars.get(i + 1) {
                Some('[') => {
                    // CSI: parameters 0x30-0x3F, intermediates 0x20-0x2F, one final 0x40-0x7E.
                    let mut j = i + 2;
                    while j < chars.len() && ('\x20'..='\x3f').contains(&chars[j]) {
                        j += 1;
                    }
                    match chars.get(j) {
                        Some(f) if ('\x40'..='\x7e').contains(f) => i = j + 1,
                        other => {
                            problems.push(format!("a broken CSI ending in {other:?} after {:?}", context(i)));
                            i = j;
                        }
                    }
                    continue;
                }
                Some('7' | '8') => {
                    i += 2;
                    continue;
                }
                Some(']') => {
                    let body: String = chars[i + 2..].iter().take(8).collect();
                    if !(clipboard_ok && body.starts_with("52;")) {
                        problems.push(format!("an OSC {body:?}… after {:?}", context(i)));
                    }
                    // Skip to its terminator (BEL or ESC \).
                    let mut j = i + 2;
                    while j < chars.len()
                        && chars[j] != '\x07'
                        && !(chars[j] == '\x1b' && chars.get(j + 1) == Some(&'\\'))
                    {
                        j += 1;
                    }
                    i = j + if chars.get(j) == Some(&'\x07') { 1 } else { 2 };
                    continue;
                }
                other => {
                    problems.push(format!("ESC {other:?} after {:?}", context(i)));
                    i += 2;
                    continue;
                }
            }
        }
        if c != '\r' && forbidden(c) {
            problems.push(format!("U+{:04X} after {:?}", c as u32, context(i)));
        }
        i += 1;
    }
    problems
}
