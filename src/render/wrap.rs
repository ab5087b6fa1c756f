//! Wrapping styled text to a width, so that every `Line` is exactly one screen row.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// Display width of a char (control pictures and the like count as 1; zero-width as 0).
pub fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// Display width of a string.
pub fn str_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// Word-wraps `spans` to `width` columns. The first row starts with `first_prefix`, the others
/// with `rest_prefix` (indentation for lists and quotes). Words longer than a row are split.
pub fn wrap_spans(
    spans: &[Span<'static>],
    width: usize,
    first_prefix: &[Span<'static>],
    rest_prefix: &[Span<'static>],
) -> Vec<Line<'static>> {
    let mut rows = Rows {
        done: Vec::new(),
        row: first_prefix.to_vec(),
        row_width: first_prefix.iter().map(|s| str_width(&s.content)).sum(),
        row_has_text: false,
        width: width.max(1),
        rest_prefix,
        rest_width: rest_prefix.iter().map(|s| str_width(&s.content)).sum(),
    };
    for (text, style, is_space) in tokens(spans) {
        if is_space {
            rows.push_space(text, style);
        } else {
            rows.push_word(text, style);
        }
    }
    if rows.row_has_text || rows.done.is_empty() || rows.row.len() > first_prefix.len() {
        rows.end_row();
    }
    rows.done
}

/// Runs of spaces and runs of non-spaces, each with its style and whether it is spaces.
fn tokens(spans: &[Span<'static>]) -> Vec<(String, Style, bool)> {
    let mut tokens = Vec::new();
    for span in spans {
        let mut current = String::new();
        let mut current_space = None;
        for c in span.content.chars() {
            let is_space = c == ' ';
            if current_space.is_some_and(|s| s != is_space) {
                tokens.push((std::mem::take(&mut current), span.style, current_space.unwrap_or(false)));
            }
            current_space = Some(is_space);
            current.push(c);
        }
        if !current.is_empty() {
            tokens.push((current, span.style, current_space.unwrap_or(false)));
        }
    }
    tokens
}

/// Word-wrapped rows as they fill: the finished ones and the row being filled.
struct Rows<'p> {
    done: Vec<Line<'static>>,
    row: Vec<Span<'static>>,
    row_width: usize,
    row_has_text: bool,
    width: usize,
    rest_prefix: &'p [Span<'static>],
    rest_width: usize,
}

impl Rows<'_> {
    /// Spaces between words; dropped at the start of a row and where they would not fit.
    fn push_space(&mut self, text: String, style: Style) {
        let w = str_width(&text);
        if self.row_has_text && self.row_width + w <= self.width {
            self.row.push(Span::styled(text, style));
            self.row_width += w;
        }
    }

    /// A word: on this row when it fits, else on the next; split when longer than a row.
    fn push_word(&mut self, text: String, style: Style) {
        let w = str_width(&text);
        if self.row_width + w > self.width && self.row_has_text {
            self.next_row();
        }
        if self.row_width + w <= self.width {
            self.row.push(Span::styled(text, style));
            self.row_width += w;
            self.row_has_text = true;
        } else {
            self.split_word(&text, style);
        }
    }

    /// A word longer than the row, split by characters.
    fn split_word(&mut self, text: &str, style: Style) {
        let mut piece = String::new();
        for c in text.chars() {
            let cw = char_width(c);
            if self.row_width + cw > self.width && (self.row_has_text || !piece.is_empty()) {
                if !piece.is_empty() {
                    self.row.push(Span::styled(std::mem::take(&mut piece), style));
                }
                self.next_row();
            }
            piece.push(c);
            self.row_width += cw;
        }
        if !piece.is_empty() {
            self.row.push(Span::styled(piece, style));
            self.row_has_text = true;
        }
    }

    /// Ends the row and starts the next with the continuation prefix.
    fn next_row(&mut self) {
        self.end_row();
        self.row = self.rest_prefix.to_vec();
        self.row_width = self.rest_width;
        self.row_has_text = false;
    }

    /// Ends the row, without its trailing spaces (they carry nothing on screen).
    fn end_row(&mut self) {
        let row = &mut self.row;
        let len = row.len();
        while let Some(last) = row.last_mut() {
            let trimmed = last.content.trim_end_matches(' ').len();
            if trimmed == 0 && len > 1 {
                row.pop();
                continue;
            }
            if trimmed < last.content.len() {
                let kept = last.content[..trimmed].to_string();
                *last = Span::styled(kept, last.style);
            }
            break;
        }
        self.done.push(Line::from(std::mem::take(row)));
    }
}

/// Hard-wraps one line of code (already styled) to `width` columns, no word boundaries:
/// code is shown as written. Continuation rows start with `cont`.
pub fn wrap_code(
    spans: Vec<Span<'static>>,
    width: usize,
    prefix: &[Span<'static>],
    cont: &[Span<'static>],
) -> Vec<Line<'static>> {
    let width = width.max(1);
    let mut rows = Vec::new();
    let mut row: Vec<Span<'static>> = prefix.to_vec();
    let mut row_width: usize = prefix.iter().map(|s| str_width(&s.content)).sum();
    let cont_width: usize = cont.iter().map(|s| str_width(&s.content)).sum();
    for span in spans {
        let mut piece = String::new();
        for c in span.content.chars() {
            let cw = char_width(c);
            if row_width + cw > width && row_width > cont_width {
                if !piece.is_empty() {
                    row.push(Span::styled(std::mem::take(&mut piece), span.style));
                }
                rows.push(Line::from(std::mem::take(&mut row)));
                row = cont.to_vec();
                row_width = cont_width;
            }
            piece.push(c);
            row_width += cw;
        }
        if !piece.is_empty() {
            row.push(Span::styled(piece, span.style));
        }
    }
    rows.push(Line::from(row));
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    #[test]
    fn words_wrap_at_width() {
        let lines = wrap_spans(&[Span::raw("the quick brown fox jumps")], 10, &[], &[]);
        assert_eq!(texts(&lines), vec!["the quick", "brown fox", "jumps"]);
        for l in &lines {
            assert!(l.width() <= 10);
        }
    }

    #[test]
    fn prefixes_indent_continuations() {
        let lines = wrap_spans(&[Span::raw("alpha beta gamma")], 9, &[Span::raw("- ")], &[Span::raw("  ")]);
        assert_eq!(texts(&lines), vec!["- alpha", "  beta", "  gamma"]);
    }

    #[test]
    fn long_words_and_wide_chars_split() {
        let lines = wrap_spans(&[Span::raw("abcdefghij 日本語日本語")], 4, &[], &[]);
        assert_eq!(texts(&lines), vec!["abcd", "efgh", "ij", "日本", "語日", "本語"]);
    }

    #[test]
    fn tiny_widths_never_loop() {
        let lines = wrap_spans(&[Span::raw("日本")], 1, &[], &[]);
        assert_eq!(texts(&lines), vec!["日", "本"]);
        assert_eq!(texts(&wrap_spans(&[], 5, &[], &[])), vec![""]);
    }

    #[test]
    fn code_wraps_hard() {
        let lines = wrap_code(vec![Span::raw("let x = 1;")], 6, &[Span::raw("  ")], &[Span::raw("  ")]);
        assert_eq!(texts(&lines), vec!["  let ", "  x = ", "  1;"]);
    }
}
