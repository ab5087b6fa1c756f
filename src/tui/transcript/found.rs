//! A search hit shown in the transcript: the session picker opens a conversation at the message
//! that matched, with the words searched for marked in it (reversed).

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::Transcript;
use crate::render::theme::{self, colored};

impl Transcript {
    /// Marks entry `i` as the search hit, its matches of `words` shown reversed.
    pub fn mark_found(&mut self, i: usize, words: Vec<String>) {
        let words = words.into_iter().map(|w| w.to_ascii_lowercase()).filter(|w| !w.is_empty()).collect();
        if let Some((old, _)) = self.found.replace((i, words)) {
            self.invalidate(old);
        }
        self.invalidate(i);
    }

    /// The words entry `i` marks, when it is the search hit.
    pub(super) fn found_words(&self, i: usize) -> Option<&[String]> {
        self.found.as_ref().filter(|(at, _)| *at == i).map(|(_, words)| words.as_slice())
    }

    /// The first row of entry `i` at `width` with a marked match, if any.
    pub fn found_row(&self, i: usize, width: u16) -> Option<usize> {
        self.rows(i, width);
        self.cache.borrow().get(i)?.found_row
    }
}

/// Marks every match of `words` (ASCII case folded: byte offsets stay put) in `rows`, also where
/// a match runs over spans of different styles (`**wal**rus`, a highlighted identifier); the
/// first row with one. (A word that wrapping split over two rows is not found.)
pub(super) fn mark(rows: &mut [Line<'static>], words: &[String], color: bool) -> Option<usize> {
    let style = colored(color, theme::SELECTED);
    let mut first = None;
    for (r, row) in rows.iter_mut().enumerate() {
        let joined: String = row.spans.iter().map(|s| s.content.as_ref()).collect();
        let ranges = matches(&joined, words);
        if ranges.is_empty() {
            continue;
        }
        first.get_or_insert(r);
        row.spans = marked(std::mem::take(&mut row.spans), &ranges, style);
    }
    first
}

/// `spans` with the byte ranges `ranges` of their joined text (in order, apart) styled `style`
/// on top of their own style, each span cut where a range starts or ends inside it.
fn marked(spans: Vec<Span<'static>>, ranges: &[(usize, usize)], style: Style) -> Vec<Span<'static>> {
    let mut out = Vec::with_capacity(spans.len() + 2 * ranges.len());
    let mut offset = 0;
    for span in spans {
        let text = span.content.as_ref();
        let end = offset + text.len();
        let mut at = 0;
        for &(s, e) in ranges.iter().filter(|&&(s, e)| e > offset && s < end) {
            let (from, to) = (s.max(offset) - offset, e.min(end) - offset);
            if from > at {
                out.push(Span::styled(text[at..from].to_string(), span.style));
            }
            out.push(Span::styled(text[from..to].to_string(), span.style.patch(style)));
            at = to;
        }
        if at == 0 {
            out.push(span);
        } else if at < text.len() {
            out.push(Span::styled(text[at..].to_string(), span.style));
        }
        offset = end;
    }
    out
}

/// The byte ranges of `text` where one of `words` (lower case) starts, merged, in order.
fn matches(text: &str, words: &[String]) -> Vec<(usize, usize)> {
    let lower = text.to_ascii_lowercase();
    let mut ranges: Vec<(usize, usize)> =
        words.iter().flat_map(|w| lower.match_indices(w.as_str()).map(|(s, m)| (s, s + m.len()))).collect();
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::new();
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Modifier;

    fn marked_texts(row: &Line<'_>, color: bool) -> Vec<String> {
        let style = colored(color, theme::SELECTED);
        let on = |s: &Span<'_>| s.style.patch(style) == s.style && style != Style::default();
        row.spans.iter().filter(|s| on(s)).map(|s| s.content.to_string()).collect()
    }

    #[test]
    fn a_match_over_two_styles_is_marked_in_both() {
        let bold = Style::default().add_modifier(Modifier::BOLD);
        let mut rows = vec![
            Line::from("nothing here"),
            Line::from(vec![Span::styled("the wal", bold), Span::raw("rus and the Walrus")]),
        ];
        assert_eq!(mark(&mut rows, &["walrus".to_string()], true), Some(1));
        assert_eq!(marked_texts(&rows[1], true), vec!["wal", "rus", "Walrus"]);
        let text: String = rows[1].spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "the walrus and the Walrus", "the text is unchanged");
        assert_eq!(rows[1].spans[1].style, bold.patch(colored(true, theme::SELECTED)), "its own style kept");
        assert_eq!(rows[0].spans.len(), 1, "a row without a match is left as it was");
    }

    #[test]
    fn matches_next_to_each_other_and_multibyte_text_cut_cleanly() {
        let mut rows = vec![Line::from(vec![Span::raw("ééwal"), Span::raw("ruswalrus ü")])];
        assert_eq!(mark(&mut rows, &["walrus".to_string()], true), Some(0));
        assert_eq!(marked_texts(&rows[0], true), vec!["wal", "ruswalrus"]);
    }
}
