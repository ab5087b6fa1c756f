//! A search hit shown in the transcript: the session picker opens a conversation at the message
//! that matched, with the words searched for marked in it (reversed).

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

/// Marks every match of `words` (ASCII case folded: byte offsets stay put) in `rows`; the first
/// row with one.
pub(super) fn mark(rows: &mut [Line<'static>], words: &[String], color: bool) -> Option<usize> {
    let style = colored(color, theme::SELECTED);
    let mut first = None;
    for (r, row) in rows.iter_mut().enumerate() {
        let mut spans = Vec::with_capacity(row.spans.len());
        for span in row.spans.drain(..) {
            let ranges = matches(&span.content, words);
            if ranges.is_empty() {
                spans.push(span);
                continue;
            }
            first.get_or_insert(r);
            let text = span.content.as_ref();
            let mut at = 0;
            for (start, end) in ranges {
                if start > at {
                    spans.push(Span::styled(text[at..start].to_string(), span.style));
                }
                spans.push(Span::styled(text[start..end].to_string(), span.style.patch(style)));
                at = end;
            }
            if at < text.len() {
                spans.push(Span::styled(text[at..].to_string(), span.style));
            }
        }
        row.spans = spans;
    }
    first
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
