//! The composer: a multi-line text input with a cursor, and the messages sent before it (Up
//! and Down bring them back).

use crate::render::wrap::{char_width, str_width};

/// Multi-line text being written, with the cursor as a byte offset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Composer {
    text: String,
    cursor: usize,
    /// Messages sent before, oldest first: Up and Down bring them back.
    sent: Vec<String>,
    /// Position in `sent` while browsing it; `None` when editing a new message.
    browsing: Option<usize>,
    /// What was being written before browsing started.
    draft: String,
    /// Tab's candidates when they share nothing beyond what was typed, and the one shown: Tab
    /// again shows the next while the text is still that one.
    offered: Option<(Vec<String>, usize)>,
}

impl Composer {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Replaces the text and puts the cursor at its end.
    pub fn set_text(&mut self, text: impl Into<String>) {
        self.text = text.into();
        self.cursor = self.text.len();
        self.browsing = None;
    }

    /// Takes the text out (for sending) and remembers it among the messages sent.
    pub fn take(&mut self) -> String {
        let text = std::mem::take(&mut self.text);
        self.cursor = 0;
        self.browsing = None;
        if !text.trim().is_empty() && self.sent.last() != Some(&text) {
            self.sent.push(text.clone());
        }
        text
    }

    /// Shows the first of several Tab candidates; [`Composer::next_offer`] shows the others.
    pub fn offer(&mut self, candidates: Vec<String>) {
        if let Some(first) = candidates.first() {
            self.set_text(first.clone());
            self.offered = Some((candidates, 0));
        }
    }

    /// Tab again after [`Composer::offer`]: the next candidate (round), when the text is still
    /// the one offered. False otherwise.
    pub fn next_offer(&mut self) -> bool {
        let Some((candidates, at)) = self.offered.take() else { return false };
        if candidates.get(at) != Some(&self.text) {
            return false;
        }
        let next = (at + 1) % candidates.len();
        self.set_text(candidates[next].clone());
        self.offered = Some((candidates, next));
        true
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
        self.browsing = None;
    }

    pub fn insert_str(&mut self, s: &str) {
        // Pasted text may carry \r\n or lone \r: keep plain newlines.
        let s = if s.contains('\r') { s.replace("\r\n", "\n").replace('\r', "\n") } else { s.to_string() };
        self.text.insert_str(self.cursor, &s);
        self.cursor += s.len();
    }

    /// Replaces the bytes in `range` with `with` and puts the cursor after it (a completion).
    pub fn replace(&mut self, range: std::ops::Range<usize>, with: &str) {
        self.text.replace_range(range.clone(), with);
        self.cursor = range.start + with.len();
        self.browsing = None;
    }

    pub fn insert_char(&mut self, c: char) {
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
    }

    fn prev_boundary(&self) -> usize {
        self.text[..self.cursor].char_indices().next_back().map_or(0, |(i, _)| i)
    }

    fn next_boundary(&self) -> usize {
        self.text[self.cursor..].chars().next().map_or(self.cursor, |c| self.cursor + c.len_utf8())
    }

    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            let start = self.prev_boundary();
            self.text.replace_range(start..self.cursor, "");
            self.cursor = start;
        }
    }

    pub fn delete(&mut self) {
        if self.cursor < self.text.len() {
            let end = self.next_boundary();
            self.text.replace_range(self.cursor..end, "");
        }
    }

    pub fn left(&mut self) {
        self.cursor = self.prev_boundary();
    }

    pub fn right(&mut self) {
        self.cursor = self.next_boundary();
    }

    fn line_start(&self) -> usize {
        self.text[..self.cursor].rfind('\n').map_or(0, |i| i + 1)
    }

    fn line_end(&self) -> usize {
        self.text[self.cursor..].find('\n').map_or(self.text.len(), |i| self.cursor + i)
    }

    pub fn home(&mut self) {
        self.cursor = self.line_start();
    }

    pub fn end(&mut self) {
        self.cursor = self.line_end();
    }

    /// Deletes from the start of the line to the cursor (Ctrl-U).
    pub fn kill_line_before(&mut self) {
        let start = self.line_start();
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    /// Deletes the word before the cursor (Ctrl-W).
    pub fn kill_word_before(&mut self) {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end_matches([' ', '\t']);
        let start = trimmed.rfind([' ', '\t', '\n']).map_or(0, |i| i + 1);
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
    }

    fn on_first_line(&self) -> bool {
        !self.text[..self.cursor].contains('\n')
    }

    fn on_last_line(&self) -> bool {
        !self.text[self.cursor..].contains('\n')
    }

    /// Up: the line above, or on the first line the message sent before.
    pub fn up(&mut self) {
        if !self.on_first_line() {
            self.move_vertically(-1);
            return;
        }
        let index = match self.browsing {
            Some(0) => return,
            Some(i) => i - 1,
            None if self.sent.is_empty() => return,
            None => {
                self.draft = self.text.clone();
                self.sent.len() - 1
            }
        };
        self.browsing = Some(index);
        self.text = self.sent[index].clone();
        self.cursor = self.text.len();
    }

    /// Down: the line below, or on the last line the next message sent (then the draft).
    pub fn down(&mut self) {
        if !self.on_last_line() {
            self.move_vertically(1);
            return;
        }
        match self.browsing {
            None => {}
            Some(i) if i + 1 < self.sent.len() => {
                self.browsing = Some(i + 1);
                self.text = self.sent[i + 1].clone();
                self.cursor = self.text.len();
            }
            Some(_) => {
                self.browsing = None;
                self.text = std::mem::take(&mut self.draft);
                self.cursor = self.text.len();
            }
        }
    }

    fn move_vertically(&mut self, direction: i32) {
        let column = str_width(&self.text[self.line_start()..self.cursor]);
        let target_start = if direction < 0 {
            let this_start = self.line_start();
            self.text[..this_start.saturating_sub(1)].rfind('\n').map_or(0, |i| i + 1)
        } else {
            self.line_end() + 1
        };
        let line_end = self.text[target_start..].find('\n').map_or(self.text.len(), |i| target_start + i);
        let mut pos = target_start;
        let mut width = 0;
        for (i, c) in self.text[target_start..line_end].char_indices() {
            if width + char_width(c) > column {
                break;
            }
            width += char_width(c);
            pos = target_start + i + c.len_utf8();
        }
        self.cursor = pos;
    }

    /// At most `max_rows` wrapped rows around the cursor, and the cursor's (row, column) in
    /// them. Lays out only the logical lines near the cursor, so a megabyte paste costs what
    /// the visible lines cost.
    pub fn visible_layout(&self, width: usize, max_rows: usize) -> (Vec<String>, (usize, usize)) {
        let max_rows = max_rows.max(1);
        // Each logical line is at least one row: max_rows lines either side are enough.
        let mut start = self.cursor;
        for _ in 0..max_rows {
            match self.text[..start].rfind('\n') {
                Some(i) => start = i,
                None => {
                    start = 0;
                    break;
                }
            }
        }
        if start > 0 {
            start += 1;
        }
        let mut end = self.cursor;
        for _ in 0..max_rows {
            match self.text[end..].find('\n') {
                Some(i) => end += i + 1,
                None => {
                    end = self.text.len();
                    break;
                }
            }
        }
        let near =
            Composer { text: self.text[start..end].to_string(), cursor: self.cursor - start, ..Composer::default() };
        let (rows, (row, col)) = near.layout(width);
        let first = row.saturating_sub(max_rows - 1);
        let window: Vec<String> = rows.into_iter().skip(first).take(max_rows).collect();
        (window, (row - first, col))
    }

    /// The text wrapped to `width` columns, and the cursor's (row, column) in it.
    pub fn layout(&self, width: usize) -> (Vec<String>, (usize, usize)) {
        let width = width.max(1);
        let mut rows = vec![String::new()];
        let mut row_width = 0;
        let mut cursor = (0, 0);
        for (i, c) in self.text.char_indices() {
            if i == self.cursor {
                cursor = (rows.len() - 1, row_width);
            }
            if c == '\n' {
                rows.push(String::new());
                row_width = 0;
                continue;
            }
            // Measure what is drawn: a tab as spaces, a control character as its stand-in.
            let mut shown = String::new();
            if c == '\t' {
                shown.push_str("    ");
            } else {
                crate::render::sanitize::push_visible(&mut shown, c);
            }
            let cw = str_width(&shown);
            if row_width + cw > width && row_width > 0 {
                rows.push(String::new());
                row_width = 0;
                if i == self.cursor {
                    cursor = (rows.len() - 1, 0);
                }
            }
            if let Some(row) = rows.last_mut() {
                row.push_str(&shown);
            }
            row_width += cw;
        }
        if self.cursor >= self.text.len() {
            if row_width >= width {
                rows.push(String::new());
                row_width = 0;
            }
            cursor = (rows.len() - 1, row_width);
        }
        (rows, cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editing_moves_by_characters() {
        let mut c = Composer::default();
        c.insert_str("héllo");
        c.left();
        c.left();
        c.backspace();
        assert_eq!(c.text(), "hélo");
        c.home();
        c.delete();
        assert_eq!(c.text(), "élo");
        c.end();
        c.insert_char('!');
        assert_eq!(c.text(), "élo!");
    }

    #[test]
    fn pasted_crlf_becomes_newlines() {
        let mut c = Composer::default();
        c.insert_str("a\r\nb\rc");
        assert_eq!(c.text(), "a\nb\nc");
    }

    #[test]
    fn up_and_down_move_between_lines_then_sent_messages() {
        let mut c = Composer::default();
        c.insert_str("first");
        c.take();
        c.insert_str("second");
        c.take();
        c.insert_str("draft line 1\nline 2");
        c.up();
        assert_eq!(c.text(), "draft line 1\nline 2", "first Up moves to the line above");
        c.up();
        assert_eq!(c.text(), "second");
        c.up();
        assert_eq!(c.text(), "first");
        c.up();
        assert_eq!(c.text(), "first");
        c.down();
        assert_eq!(c.text(), "second");
        c.down();
        assert_eq!(c.text(), "draft line 1\nline 2");
    }

    #[test]
    fn kill_word_and_line() {
        let mut c = Composer::default();
        c.insert_str("one two three");
        c.kill_word_before();
        assert_eq!(c.text(), "one two ");
        c.kill_line_before();
        assert_eq!(c.text(), "");
    }

    #[test]
    fn layout_wraps_and_places_the_cursor() {
        let mut c = Composer::default();
        c.insert_str("abcdef\ngh");
        let (rows, cursor) = c.layout(4);
        assert_eq!(rows, vec!["abcd", "ef", "gh"]);
        assert_eq!(cursor, (2, 2));
        c.set_text("abcd");
        assert_eq!(c.layout(4).1, (1, 0), "a full row puts the cursor on the next");
    }

    #[test]
    fn visible_layout_matches_the_full_layout_near_the_cursor() {
        let mut c = Composer::default();
        let text: String = (0..50).map(|i| format!("line {i} {}\n", "x".repeat(i % 13))).collect();
        c.insert_str(&text);
        for cursor_back in [0, 3, 40, 200, text.len()] {
            let mut d = c.clone();
            for _ in 0..cursor_back.min(text.chars().count()) {
                d.left();
            }
            let (full, (row, col)) = d.layout(9);
            let (window, (wrow, wcol)) = d.visible_layout(9, 8);
            assert!(window.len() <= 8);
            assert_eq!(wcol, col);
            let first = row - wrow;
            assert_eq!(window, full[first..first + window.len()].to_vec(), "cursor back {cursor_back}");
        }
    }

    #[test]
    fn tabs_and_stand_ins_take_their_drawn_width() {
        let mut c = Composer::default();
        c.insert_str("\tab\u{9b}");
        let (rows, cursor) = c.layout(40);
        assert_eq!(rows, vec!["    ab<U+009B>"]);
        assert_eq!(cursor, (0, 14));
    }

    #[test]
    fn control_characters_are_shown_visibly() {
        let mut c = Composer::default();
        c.insert_str("a\x1b[2Jb");
        assert_eq!(c.layout(20).0, vec!["a␛[2Jb"]);
        assert_eq!(c.text(), "a\x1b[2Jb", "the text itself is kept as typed");
    }
}
