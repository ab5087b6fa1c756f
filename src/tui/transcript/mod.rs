//! The transcript: the conversation's entries, rendered to rows once per width and cached.
//!
//! Drawing a frame costs what is visible, not the transcript's length: rows are counted from an
//! anchor (or from the bottom when following), walking only the entries on screen. A reply being
//! streamed keeps its finished blocks rendered and re-renders only its last block.
//!
//! A reasoning model's thinking is kept apart from the answer ([`Thinking`]): shown dim above
//! it as plain text, folded to one line once the answer begins. It is never markdown, and its
//! code never becomes a numbered code block: only the answer (`content`) is parsed for those.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use ratatui::text::{Line, Span};

use crate::render::markdown::{self, Block, RenderOptions};
use crate::render::theme::{self, colored};

/// Who wrote an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    User,
    Assistant,
    /// ember itself: errors, notices.
    Notice,
}

/// Where an entry is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryState {
    Complete,
    Streaming,
    /// Cancelled by the user: the partial answer stays.
    Stopped,
    Failed(String),
}

/// One message of the transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub author: Author,
    pub content: String,
    pub state: EntryState,
    /// The number of this entry's first code block (numbers run through the conversation from 1).
    pub first_block: usize,
    /// This is version `.0` of `.1` (after /retry or /edit); shown as "2/3".
    pub versions: Option<(usize, usize)>,
    /// Stays in the context when older turns leave it (/pin).
    pub pinned: bool,
    /// A reasoning model's thinking before the answer, shown apart from it.
    pub thinking: Option<Thinking>,
}

/// A reasoning model's thinking: never part of the answer, never parsed for code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Thinking {
    pub text: String,
    /// Reasoning tokens: counted as pieces arrive (about one a token), then the engine's count.
    pub tokens: usize,
    /// How long the model thought: measured while streaming, then the engine's figure.
    pub time: Duration,
    /// The model is still thinking (no answer yet, the turn goes on).
    pub live: bool,
    /// Shown as one line.
    pub folded: bool,
    /// Loaded from history: no figures are known.
    pub stored: bool,
}

impl Thinking {
    /// The section's one-line summary (its first row, folded or not).
    pub fn label(&self) -> String {
        let marker = if self.folded { '▸' } else { '▾' };
        let tokens = if self.tokens == 1 { "1 token".to_string() } else { format!("{} tokens", self.tokens) };
        if self.stored {
            let words = self.text.split_whitespace().count();
            return format!("{marker} thought · {words} words");
        }
        let secs = self.time.as_secs_f64();
        if self.live {
            format!("{marker} thinking… {secs:.1} s · {tokens}")
        } else {
            format!("{marker} thought for {secs:.1} s · {tokens}")
        }
    }
}

/// A code block of the conversation, byte-exact as the model wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeBlock {
    pub number: usize,
    pub lang: String,
    pub code: String,
}

/// Where the top of the view is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scroll {
    /// Show the end, following new text.
    #[default]
    Follow,
    /// The view starts at row `row` of entry `entry`.
    Anchor { entry: usize, row: usize },
}

#[derive(Debug, Default)]
struct Cached {
    width: u16,
    /// Bytes of content rendered into `stable`.
    stable_bytes: usize,
    /// Rows of the complete blocks (all of them once the entry is finished).
    stable: Rc<Vec<Line<'static>>>,
    /// Code blocks numbered so far in `stable`.
    stable_code: usize,
    /// Rows of the unfinished last block (streaming only).
    tail: Rc<Vec<Line<'static>>>,
    /// The content length `tail` was rendered for.
    rendered_len: usize,
    /// Rows of the thinking section (after the header row).
    thinking_rows: usize,
    valid: bool,
}

/// The conversation as shown.
#[derive(Debug, Default)]
pub struct Transcript {
    entries: Vec<Entry>,
    cache: RefCell<Vec<Cached>>,
    color: bool,
    code_blocks: Vec<CodeBlock>,
}

/// Rows of one entry: the stable part and the live tail.
pub struct EntryRows {
    pub stable: Rc<Vec<Line<'static>>>,
    pub tail: Rc<Vec<Line<'static>>>,
}

impl EntryRows {
    pub fn len(&self) -> usize {
        self.stable.len() + self.tail.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn get(&self, i: usize) -> Option<&Line<'static>> {
        if i < self.stable.len() {
            self.stable.get(i)
        } else {
            self.tail.get(i - self.stable.len())
        }
    }
}

fn header(entry: &Entry, color: bool) -> Line<'static> {
    let (name, label) = match entry.author {
        Author::User => ("you", theme::USER_LABEL),
        Author::Assistant => ("ember", theme::ASSISTANT_LABEL),
        Author::Notice => ("note", theme::NOTICE_LABEL),
    };
    let mut spans = vec![Span::styled(format!("▍{name}"), colored(color, label))];
    let dim = colored(color, theme::ENTRY_MARK);
    if let Some((at, of)) = entry.versions {
        spans.push(Span::styled(format!("  ‹ {at}/{of} ›"), dim));
    }
    if entry.pinned {
        spans.push(Span::styled("  [pinned]", dim));
    }
    match &entry.state {
        EntryState::Stopped => spans.push(Span::styled("  [stopped]", dim)),
        EntryState::Failed(_) => spans.push(Span::styled("  [failed]", dim)),
        EntryState::Streaming | EntryState::Complete => {}
    }
    Line::from(spans)
}

/// The thinking section: its label, then (unfolded) its text, plain and sanitized.
fn thinking_rows(thinking: &Thinking, answered: bool, width: usize, color: bool) -> Vec<Line<'static>> {
    let st = theme::reasoning_dim(color);
    let mut rows = vec![Line::from(Span::styled(thinking.label(), st))];
    if thinking.folded {
        return rows;
    }
    // Not the code blocks' "│": this text is no code block, whatever it contains.
    let gutter = [Span::styled("┊ ", st)];
    let text = crate::render::sanitize::for_cells(thinking.text.trim_matches('\n'));
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        rows.extend(crate::render::wrap::wrap_spans(&[Span::styled(line.to_string(), st)], width, &gutter, &gutter));
    }
    if answered {
        rows.push(Line::default());
    }
    rows
}

fn render_block(block: &Block, next_code: &mut usize, opts: RenderOptions) -> Vec<Line<'static>> {
    match block {
        Block::Prose(text) => markdown::render_prose(text, opts),
        Block::Code { lang, code, .. } => {
            let lines = markdown::render_code(*next_code, lang, code, opts);
            *next_code += 1;
            lines
        }
    }
}

impl Transcript {
    pub fn new(color: bool) -> Self {
        Transcript { color, ..Transcript::default() }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The code blocks of finished entries, in order.
    pub fn code_blocks(&self) -> &[CodeBlock] {
        &self.code_blocks
    }

    /// Adds an entry at the end.
    pub fn push(&mut self, author: Author, content: impl Into<String>, state: EntryState) {
        let first_block = self.code_blocks.len() + 1;
        let finished = state != EntryState::Streaming;
        self.entries.push(Entry {
            author,
            content: content.into(),
            state,
            first_block,
            versions: None,
            pinned: false,
            thinking: None,
        });
        self.cache.borrow_mut().push(Cached::default());
        if finished {
            self.collect_code(self.entries.len() - 1);
        }
    }

    /// Adds an entry just before a streaming reply (or at the end when none streams), so that
    /// the reply stays last.
    pub fn push_before_streaming(&mut self, author: Author, content: impl Into<String>) {
        let streaming = self.entries.last().is_some_and(|e| e.state == EntryState::Streaming);
        if !streaming {
            self.push(author, content, EntryState::Complete);
            return;
        }
        let at = self.entries.len() - 1;
        let first_block = self.entries[at].first_block;
        self.entries.insert(
            at,
            Entry {
                author,
                content: content.into(),
                state: EntryState::Complete,
                first_block,
                versions: None,
                pinned: false,
                thinking: None,
            },
        );
        self.cache.borrow_mut().insert(at, Cached::default());
        // The reply's code numbers follow the notice's (which has none); nothing to renumber.
    }

    /// Appends text to the last entry (a streaming reply).
    pub fn append(&mut self, text: &str) {
        if let Some(last) = self.entries.last_mut() {
            last.content.push_str(text);
        }
    }

    /// Appends reasoning to the last entry (a streaming reply): `tokens` and `time` so far.
    pub fn append_thinking(&mut self, text: &str, time: Duration) {
        let Some(i) = self.entries.len().checked_sub(1) else { return };
        let thinking = self.entries[i].thinking.get_or_insert_with(|| Thinking { live: true, ..Thinking::default() });
        thinking.text.push_str(text);
        thinking.tokens += 1;
        thinking.time = time;
        self.invalidate(i);
    }

    /// The answer of the last entry began: its thinking ends and folds to one line.
    pub fn end_thinking(&mut self, time: Duration) {
        let Some(i) = self.entries.len().checked_sub(1) else { return };
        if let Some(thinking) = self.entries[i].thinking.as_mut().filter(|t| t.live) {
            thinking.live = false;
            thinking.folded = true;
            thinking.time = time;
            self.invalidate(i);
        }
    }

    /// The last entry's turn ended: its thinking stops (shown as it is: a turn cut while
    /// thinking keeps it unfolded), with the engine's figures when it has them.
    pub fn finish_thinking(&mut self, figures: Option<(usize, Duration)>) {
        let Some(i) = self.entries.len().checked_sub(1) else { return };
        if let Some(thinking) = self.entries[i].thinking.as_mut() {
            thinking.live = false;
            if let Some((tokens, time)) = figures {
                thinking.tokens = tokens;
                thinking.time = time;
            }
            self.invalidate(i);
        }
    }

    /// Gives entry `i` stored thinking (a conversation loaded from history), folded.
    pub fn set_stored_thinking(&mut self, i: usize, text: &str) {
        if text.trim().is_empty() {
            return;
        }
        if let Some(entry) = self.entries.get_mut(i) {
            entry.thinking =
                Some(Thinking { text: text.to_string(), folded: true, stored: true, ..Thinking::default() });
            self.invalidate(i);
        }
    }

    /// Folds or unfolds entry `i`'s thinking; false when it has none.
    pub fn toggle_thinking(&mut self, i: usize) -> bool {
        let Some(thinking) = self.entries.get_mut(i).and_then(|e| e.thinking.as_mut()) else { return false };
        thinking.folded = !thinking.folded;
        self.invalidate(i);
        true
    }

    /// Pins or unpins entry `i`.
    pub fn set_pinned(&mut self, i: usize, pinned: bool) {
        if let Some(entry) = self.entries.get_mut(i) {
            entry.pinned = pinned;
            self.invalidate(i);
        }
    }

    /// Marks entry `i` as version `at` of `of`.
    pub fn set_versions(&mut self, i: usize, versions: Option<(usize, usize)>) {
        if let Some(entry) = self.entries.get_mut(i) {
            entry.versions = versions;
            self.invalidate(i);
        }
    }

    /// Ends the last entry's streaming with `state`.
    pub fn finish_last(&mut self, state: EntryState) {
        let Some(i) = self.entries.len().checked_sub(1) else { return };
        if self.entries[i].state != EntryState::Streaming {
            return;
        }
        self.entries[i].state = state;
        if let Some(thinking) = self.entries[i].thinking.as_mut() {
            thinking.live = false;
        }
        self.invalidate(i);
        self.collect_code(i);
    }

    fn collect_code(&mut self, i: usize) {
        for block in markdown::split_blocks(&self.entries[i].content) {
            if let Block::Code { lang, code, .. } = block {
                let number = self.code_blocks.len() + 1;
                self.code_blocks.push(CodeBlock { number, lang, code });
            }
        }
    }

    /// Removes entries from `index` on (for /retry and /edit), renumbering nothing before it.
    pub fn truncate(&mut self, index: usize) {
        if index >= self.entries.len() {
            return;
        }
        let first_removed = self.entries[index].first_block;
        self.entries.truncate(index);
        self.cache.borrow_mut().truncate(index);
        self.code_blocks.truncate(first_removed.saturating_sub(1));
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.cache.borrow_mut().clear();
        self.code_blocks.clear();
    }

    fn invalidate(&self, i: usize) {
        if let Some(c) = self.cache.borrow_mut().get_mut(i) {
            c.valid = false;
        }
    }

    /// The rows of entry `i` at `width`, rendering only what changed since the last call.
    pub fn rows(&self, i: usize, width: u16) -> EntryRows {
        let empty = || EntryRows { stable: Rc::default(), tail: Rc::default() };
        let Some(entry) = self.entries.get(i) else { return empty() };
        let mut caches = self.cache.borrow_mut();
        let Some(cache) = caches.get_mut(i) else { return empty() };
        let opts = RenderOptions { width: width.max(1), color: self.color };
        let streaming = entry.state == EntryState::Streaming;
        if !cache.valid || cache.width != width || cache.stable_bytes > entry.content.len() {
            *cache = Cached { width, valid: true, rendered_len: usize::MAX, ..Cached::default() };
            let mut first = vec![header(entry, self.color)];
            if let Some(thinking) = &entry.thinking {
                let answered = !entry.content.trim().is_empty();
                let rows = thinking_rows(thinking, answered, usize::from(opts.width), self.color);
                cache.thinking_rows = rows.len();
                first.extend(rows);
            }
            cache.stable = Rc::new(first);
        }
        if cache.rendered_len == entry.content.len() {
            return EntryRows { stable: Rc::clone(&cache.stable), tail: Rc::clone(&cache.tail) };
        }
        let rest = &entry.content[cache.stable_bytes..];
        let blocks = markdown::split_blocks_raw(rest);
        // While streaming, the last block may still change; everything before it is final.
        let final_count = if streaming { blocks.len().saturating_sub(1) } else { blocks.len() };
        let mut next_code = entry.first_block + cache.stable_code;
        let stable = Rc::make_mut(&mut cache.stable);
        for (block, raw) in &blocks[..final_count] {
            stable.extend(render_block(block, &mut next_code, opts));
            cache.stable_bytes += raw;
            if matches!(block, Block::Code { .. }) {
                cache.stable_code += 1;
            }
        }
        let mut tail = Vec::new();
        for (block, _) in &blocks[final_count..] {
            let mut n = next_code;
            tail.extend(render_block(block, &mut n, opts));
        }
        if !streaming {
            if let EntryState::Failed(reason) = &entry.state {
                let st = colored(self.color, theme::ENTRY_ERROR);
                let text = crate::render::sanitize(reason).into_owned();
                stable.extend(crate::render::wrap::wrap_spans(
                    &[Span::styled(text, st)],
                    usize::from(opts.width),
                    &[],
                    &[],
                ));
            }
            // A blank row between entries.
            stable.push(Line::default());
        }
        cache.tail = Rc::new(tail);
        cache.rendered_len = entry.content.len();
        EntryRows { stable: Rc::clone(&cache.stable), tail: Rc::clone(&cache.tail) }
    }

    /// The rows of entry `i`'s thinking section at `width` (the label is the first), if any.
    pub fn thinking_rows(&self, i: usize, width: u16) -> Option<std::ops::Range<usize>> {
        self.entries.get(i)?.thinking.as_ref()?;
        self.rows(i, width);
        let n = self.cache.borrow().get(i).map_or(0, |c| c.thinking_rows);
        Some(1..1 + n)
    }

    /// The entry and row of that entry shown at row `y` of a view of `height` rows (the same
    /// walk as [`visible`](Self::visible)).
    pub fn position_at(&self, width: u16, height: usize, scroll: Scroll, y: usize) -> Option<(usize, usize)> {
        if y >= height || self.entries.is_empty() {
            return None;
        }
        if let Scroll::Anchor { entry, row } = scroll {
            // The view starts at the anchor when the rows below it fill the view.
            let mut below = 0;
            let mut found = None;
            let (mut i, mut r) = (entry, row);
            while i < self.entries.len() && below < height {
                let h = self.height(i, width);
                while r < h && below < height {
                    if below == y {
                        found = Some((i, r));
                    }
                    below += 1;
                    r += 1;
                }
                i += 1;
                r = 0;
            }
            if below == height {
                return found;
            }
        }
        // From the bottom.
        let mut total = 0;
        let mut i = self.entries.len();
        while i > 0 && total < height {
            i -= 1;
            total += self.height(i, width);
        }
        // Row `y` of the view is row `skip + y` counted from the top of entry `i`.
        let mut at = total.saturating_sub(height) + y;
        while i < self.entries.len() {
            let h = self.height(i, width);
            if at < h {
                return Some((i, at));
            }
            at -= h;
            i += 1;
        }
        None
    }

    /// Row count of entry `i` at `width`.
    pub fn height(&self, i: usize, width: u16) -> usize {
        self.rows(i, width).len()
    }

    /// The rows to show in a view of `height` rows, and the scroll state corrected for the end.
    pub fn visible(&self, width: u16, height: usize, scroll: Scroll) -> Vec<Line<'static>> {
        if height == 0 || self.entries.is_empty() {
            return Vec::new();
        }
        let from_top = match scroll {
            Scroll::Anchor { entry, row } if entry < self.entries.len() => {
                let mut out = Vec::with_capacity(height);
                let mut i = entry;
                let mut r = row;
                while out.len() < height && i < self.entries.len() {
                    let rows = self.rows(i, width);
                    while r < rows.len() && out.len() < height {
                        if let Some(line) = rows.get(r) {
                            out.push(line.clone());
                        }
                        r += 1;
                    }
                    i += 1;
                    r = 0;
                }
                (out.len() == height).then_some(out)
            }
            Scroll::Anchor { .. } | Scroll::Follow => None,
        };
        if let Some(out) = from_top {
            return out;
        }
        // From the bottom.
        let mut chunks: Vec<EntryRows> = Vec::new();
        let mut total = 0;
        for i in (0..self.entries.len()).rev() {
            let rows = self.rows(i, width);
            total += rows.len();
            chunks.push(rows);
            if total >= height {
                break;
            }
        }
        // Copy only the rows on screen: the top entry can be far taller than the view (a long
        // reply, a pasted file), and copying a row allocates each of its spans.
        let mut skip = total.saturating_sub(height);
        let mut out: Vec<Line<'static>> = Vec::with_capacity(total.min(height));
        for rows in chunks.iter().rev() {
            let first = skip.min(rows.len());
            skip -= first;
            out.extend((first..rows.len()).filter_map(|r| rows.get(r).cloned()));
        }
        out
    }

    /// Scrolls up by `n` rows from `scroll` in a view of `height` rows.
    pub fn scroll_up(&self, scroll: Scroll, n: usize, width: u16, height: usize) -> Scroll {
        let (mut entry, mut row) = match scroll {
            Scroll::Anchor { entry, row } => (entry, row),
            Scroll::Follow => match self.top_of_bottom_view(width, height) {
                Some(top) => top,
                None => return Scroll::Follow,
            },
        };
        let mut left = n;
        while left > 0 {
            if row >= left {
                row -= left;
                left = 0;
            } else {
                left -= row;
                if entry == 0 {
                    row = 0;
                    break;
                }
                entry -= 1;
                row = self.height(entry, width);
            }
        }
        Scroll::Anchor { entry, row }
    }

    /// Scrolls down by `n` rows; reaching the end switches back to following.
    pub fn scroll_down(&self, scroll: Scroll, n: usize, width: u16, height: usize) -> Scroll {
        let Scroll::Anchor { mut entry, mut row } = scroll else { return Scroll::Follow };
        let mut left = n;
        while left > 0 && entry < self.entries.len() {
            let h = self.height(entry, width);
            // After a resize an anchor may point past its entry's end.
            row = row.min(h);
            if row + left < h {
                row += left;
                left = 0;
            } else {
                left -= h - row;
                entry += 1;
                row = 0;
            }
        }
        // At the end if fewer than `height` rows remain below the anchor.
        let mut below = 0;
        let mut i = entry;
        let mut r = row;
        while i < self.entries.len() && below <= height {
            below += self.height(i, width).saturating_sub(r);
            r = 0;
            i += 1;
        }
        if below <= height {
            Scroll::Follow
        } else {
            Scroll::Anchor { entry, row }
        }
    }

    /// The (entry, row) at the top of a view that shows the end.
    fn top_of_bottom_view(&self, width: u16, height: usize) -> Option<(usize, usize)> {
        let mut total = 0;
        for i in (0..self.entries.len()).rev() {
            let h = self.height(i, width);
            total += h;
            if total >= height {
                return Some((i, total - height));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
    }

    fn sample(n: usize) -> Transcript {
        let mut t = Transcript::new(false);
        for i in 0..n {
            t.push(Author::User, format!("question {i}"), EntryState::Complete);
        }
        t
    }

    #[test]
    fn follow_shows_the_end() {
        let t = sample(5);
        // Each entry: header, text, blank = 3 rows.
        assert_eq!(text(&t.visible(30, 4, Scroll::Follow)), vec!["", "▍you", "question 4", ""]);
    }

    #[test]
    fn follow_shows_the_last_rows_of_a_tall_entry_and_a_streaming_tail() {
        let mut t = sample(0);
        let long: String = (0..30).map(|i| format!("paragraph {i}\n\n")).collect();
        t.push(Author::Assistant, long, EntryState::Complete);
        t.push(Author::User, "q", EntryState::Complete);
        t.push(Author::Assistant, "", EntryState::Streaming);
        t.append("done.\n\nstill typing");
        let all: Vec<String> = (0..t.len())
            .flat_map(|i| {
                let rows = t.rows(i, 30);
                [text(&rows.stable), text(&rows.tail)].concat()
            })
            .collect();
        assert!(!t.rows(2, 30).tail.is_empty(), "the last paragraph is still live");
        // Every height, so the view's top falls in each entry, on and off their edges.
        for height in 1..all.len() + 3 {
            let want = &all[all.len().saturating_sub(height)..];
            assert_eq!(text(&t.visible(30, height, Scroll::Follow)), want, "height {height}");
        }
    }

    #[test]
    fn scrolling_up_and_back_down_returns_to_follow() {
        let t = sample(5);
        let up = t.scroll_up(Scroll::Follow, 3, 30, 4);
        assert_eq!(text(&t.visible(30, 4, up)), vec!["", "▍you", "question 3", ""]);
        let top = t.scroll_up(up, 100, 30, 4);
        assert_eq!(top, Scroll::Anchor { entry: 0, row: 0 });
        assert_eq!(text(&t.visible(30, 2, top)), vec!["▍you", "question 0"]);
        assert_eq!(t.scroll_down(top, 100, 30, 4), Scroll::Follow);
    }

    #[test]
    fn streaming_reply_keeps_finished_blocks_and_numbers_code() {
        let mut t = sample(0);
        t.push(Author::Assistant, "```py\nx = 1\n```\n", EntryState::Complete);
        t.push(Author::Assistant, "", EntryState::Streaming);
        t.append("Para one.\n\n```rust\nfn a");
        let rows = t.rows(1, 40);
        assert!(text(&rows.stable).contains(&"Para one.".to_string()));
        assert!(text(&rows.tail)[0].starts_with("╭─ [2] rust"));
        let stable_before = Rc::clone(&rows.stable);
        t.append("() {}\n```\n");
        let rows = t.rows(1, 40);
        assert!(Rc::ptr_eq(&stable_before, &rows.stable) || rows.stable.len() >= stable_before.len());
        t.finish_last(EntryState::Complete);
        assert_eq!(t.code_blocks().len(), 2);
        assert_eq!(t.code_blocks()[1], CodeBlock { number: 2, lang: "rust".into(), code: "fn a() {}\n".into() });
    }

    #[test]
    fn truncate_drops_later_code_blocks() {
        let mut t = sample(0);
        t.push(Author::Assistant, "```\na\n```", EntryState::Complete);
        t.push(Author::User, "q", EntryState::Complete);
        t.push(Author::Assistant, "```\nb\n```", EntryState::Complete);
        assert_eq!(t.code_blocks().len(), 2);
        t.truncate(2);
        assert_eq!(t.code_blocks().len(), 1);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn stored_thinking_shows_folded_and_unfolds() {
        let mut t = sample(1);
        t.push(Author::Assistant, "Four.", EntryState::Complete);
        t.set_stored_thinking(1, "Two and two\nmake four.");
        t.set_stored_thinking(0, "  \n");
        assert!(t.entries()[0].thinking.is_none(), "empty reasoning shows nothing");
        assert_eq!(text(&t.rows(1, 40).stable), vec!["▍ember", "▸ thought · 5 words", "Four.", ""]);
        assert_eq!(t.thinking_rows(1, 40), Some(1..2));
        assert!(t.toggle_thinking(1));
        assert_eq!(
            text(&t.rows(1, 40).stable),
            vec!["▍ember", "▾ thought · 5 words", "┊ Two and two", "┊ make four.", "", "Four.", ""]
        );
        assert_eq!(t.thinking_rows(1, 40), Some(1..5));
        assert!(!t.toggle_thinking(0), "a message without reasoning");
        assert!(t.code_blocks().is_empty());
    }

    #[test]
    fn position_at_finds_the_row_drawn_there() {
        let mut t = sample(3);
        t.push(Author::Assistant, "", EntryState::Streaming);
        t.append_thinking("a long thought that wraps over several rows of a narrow view", Duration::ZERO);
        t.append("answer\n\nmore");
        for height in 1..20 {
            for scroll in [Scroll::Follow, Scroll::Anchor { entry: 1, row: 1 }, Scroll::Anchor { entry: 3, row: 0 }] {
                let shown = text(&t.visible(16, height, scroll));
                for (y, want) in shown.iter().enumerate() {
                    let (i, r) = t.position_at(16, height, scroll, y).expect("a row is drawn there");
                    let rows = t.rows(i, 16);
                    assert_eq!(&text(&[rows.get(r).cloned().unwrap()])[0], want, "{height} {scroll:?} {y}");
                }
                assert_eq!(t.position_at(16, height, scroll, shown.len()), None);
            }
        }
    }

    #[test]
    fn width_change_rewraps() {
        let mut t = sample(0);
        t.push(Author::User, "one two three four", EntryState::Complete);
        assert_eq!(t.height(0, 40), 3);
        assert_eq!(t.height(0, 8), 5);
    }
}
