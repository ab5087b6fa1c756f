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
    let width = width.max(1);
    let mut rows: Vec<Line<'static>> = Vec::new();
    let mut row: Vec<Span<'static>> = first_prefix.to_vec();
    let mut row_width: usize = first_prefix.iter().map(|s| str_width(&s.content)).sum();
    let prefix_width_rest: usize = rest_prefix.iter().map(|s| str_width(&s.content)).sum();
    let mut row_has_text = false;

    // Tokens: runs of spaces and runs of non-spaces, each with its style.
    let mut tokens: Vec<(String, Style, bool)> = Vec::new();
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

    let push_row = |row: &mut Vec<Span<'static>>, rows: &mut Vec<Line<'static>>| {
        // Trailing spaces carry nothing on screen.
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
        rows.push(Line::from(std::mem::take(row)));
    };

    for (text, style, is_space) in tokens {
        let w = str_width(&text);
        if is_space {
            if row_has_text && row_width + w <= width {
                row.push(Span::styled(text, style));
                row_width += w;
            }
            continue;
        }
        if row_width + w > width && row_has_text {
            push_row(&mut row, &mut rows);
            row = rest_prefix.to_vec();
            row_width = prefix_width_rest;
            row_has_text = false;
        }
        if row_width + w <= width {
            row.push(Span::styled(text, style));
            row_width += w;
            row_has_text = true;
            continue;
        }
        // A word longer than the row: split it by characters.
        let mut piece = String::new();
        for c in text.chars() {
            let cw = char_width(c);
            if row_width + cw > width && (row_has_text || !piece.is_empty()) {
                if !piece.is_empty() {
                    row.push(Span::styled(std::mem::take(&mut piece), style));
                }
                push_row(&mut row, &mut rows);
                row = rest_prefix.to_vec();
                row_width = prefix_width_rest;
                row_has_text = false;
            }
            piece.push(c);
            row_width += cw;
        }
        if !piece.is_empty() {
            row.push(Span::styled(piece, style));
            row_has_text = true;
        }
    }
    if row_has_text || rows.is_empty() || row.len() > first_prefix.len() {
        push_row(&mut row, &mut rows);
    }
    rows
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
