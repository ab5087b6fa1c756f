//! Terminal-safety sanitizer. Every untrusted string (model output, file contents, titles, paths)
//! passes through here before it reaches a terminal, so that no text can command the terminal.
//!
//! What is made visible instead of executed:
//! - ESC (U+001B) becomes `␛`, so CSI/OSC/DCS/APC sequences lose their introducer and show as text;
//! - other C0 controls (but newline and tab) become their Control Pictures (`␇`, `␍`, ...), DEL `␡`;
//! - C1 controls (U+0080..U+009F, which some terminals honour as 8-bit CSI/OSC) become `<U+009B>`;
//! - bidi embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069) and the invisible
//!   direction marks (U+200E, U+200F, U+061C) become `<U+202E>`: they reorder how a line reads
//!   ("Trojan Source") without showing;
//! - the line and paragraph separators (U+2028, U+2029), invisible line breaks to some renderers,
//!   become `<U+2028>`.
//!
//! A lone carriage return is made visible too: on a terminal it moves the cursor to the start of
//! the line, so later text would overwrite (hide) what came before it.

use std::borrow::Cow;

/// Is `c` a bidi control: an embedding, override, isolate or direction mark?
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// Is `c` an invisible line or paragraph break (U+2028, U+2029)?
fn is_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// Does `c` need replacing before it may reach a terminal?
pub fn is_unsafe(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}') || is_bidi_control(c) || is_separator(c)
}

/// Returns `text` with every control and bidi character made visible. Borrowed when nothing changes.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        push_visible(&mut out, c);
    }
    Cow::Owned(out)
}

/// For drawing into cells (the TUI): [`sanitize`], and tabs as four spaces (a cell grid has
/// no tab stops; a tab would vanish).
pub fn for_cells(text: &str) -> Cow<'_, str> {
    match sanitize(text) {
        Cow::Borrowed(s) if !s.contains('\t') => Cow::Borrowed(s),
        other => Cow::Owned(other.replace('\t', "    ")),
    }
}

/// Appends `c` to `out`, replaced by a visible stand-in when it is unsafe for a terminal.
pub fn push_visible(out: &mut String, c: char) {
    match c {
        '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' => {
            // Control Pictures block: U+2400 + code point (ESC -> ␛, CR -> ␍).
            out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'));
        }
        '\u{7f}' => out.push('\u{2421}'),
        '\u{80}'..='\u{9f}' => out.push_str(&format!("<U+{:04X}>", c as u32)),
        c if is_bidi_control(c) || is_separator(c) => out.push_str(&format!("<U+{:04X}>", c as u32)),
        _ => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let s = "fn main() {\n\tprintln!(\"hé 日本 🦀\");\n}\n";
        assert!(matches!(sanitize(s), Cow::Borrowed(_)));
        assert_eq!(sanitize(s), s);
    }

    #[test]
    fn escape_sequences_are_made_inert() {
        let s = "a\x1b[2Jb\x1b]52;c;aGk=\x07c\x1bP+q\x1b\\";
        let out = sanitize(s);
        assert!(!out.contains('\x1b'));
        assert!(!out.contains('\x07'));
        assert_eq!(out, "a␛[2Jb␛]52;c;aGk=␇c␛P+q␛\\");
    }

    #[test]
    fn c1_controls_and_bidi_are_visible() {
        let out = sanitize("x\u{9b}31my\u{202e}txt.exe\u{2066}");
        assert_eq!(out, "x<U+009B>31my<U+202E>txt.exe<U+2066>");
    }

    #[test]
    fn direction_marks_are_visible() {
        assert_eq!(sanitize("a\u{200e}b\u{200f}c\u{61c}d"), "a<U+200E>b<U+200F>c<U+061C>d");
    }

    #[test]
    fn line_and_paragraph_separators_are_visible() {
        assert_eq!(sanitize("a\u{2028}b\u{2029}c"), "a<U+2028>b<U+2029>c");
    }

    #[test]
    fn carriage_return_and_del_are_visible() {
        assert_eq!(sanitize("ok\rEVIL\x7f"), "ok␍EVIL␡");
    }

    #[test]
    fn cells_get_spaces_for_tabs() {
        assert_eq!(for_cells("\tx\x1b"), "    x␛");
        assert!(matches!(for_cells("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn newline_and_tab_survive() {
        assert_eq!(sanitize("a\n\tb"), "a\n\tb");
    }

    #[test]
    fn every_control_is_replaced() {
        let marks = [0x200e, 0x200f, 0x061c, 0x2028, 0x2029];
        for cp in (0u32..0x20).chain(0x7f..0xa0).chain(0x202a..0x202f).chain(0x2066..0x206a).chain(marks) {
            let Some(c) = char::from_u32(cp) else { continue };
            if c == '\n' || c == '\t' {
                continue;
            }
            let out = sanitize(&c.to_string()).into_owned();
            assert!(!out.contains(c), "U+{cp:04X} survived");
            assert!(!out.chars().any(is_unsafe), "U+{cp:04X} became something unsafe");
        }
    }
}
