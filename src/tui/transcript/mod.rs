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
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

mod fold;
mod found;
mod render;
mod scroll;

pub use fold::{foldable, Fold, FOLD_OVER, FOLD_SHOWN};

use ratatui::text::Line;

use crate::render::markdown::{self, Block};

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
    /// The fence's whole info string (`rust src/main.rs`): it may name the block's file.
    pub info: String,
    /// The files attached to the question the block answers (`/apply` may be for one of them).
    pub attached: Vec<String>,
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
    /// Code blocks numbered so far in `stable`, and unnumbered ones (a message's own).
    stable_code: usize,
    stable_own: usize,
    /// Rows of the unfinished last block (streaming only).
    tail: Rc<Vec<Line<'static>>>,
    /// The content length `tail` was rendered for.
    rendered_len: usize,
    /// Rows of the thinking section (after the header row).
    thinking_rows: usize,
    /// Rows a click folds or unfolds a long code block on (its header, its fold marker), with
    /// the block.
    fold_rows: Vec<(usize, Fold)>,
    /// The first row with a marked search match (the entry is the search hit).
    found_row: Option<usize>,
    valid: bool,
}

/// The conversation as shown.
#[derive(Debug, Default)]
pub struct Transcript {
    entries: Vec<Entry>,
    cache: RefCell<Vec<Cached>>,
    color: bool,
    code_blocks: Vec<CodeBlock>,
    /// Long code blocks folded (`true`) or unfolded by the user, by number; the others are
    /// folded once their reply is finished.
    folds: HashMap<usize, bool>,
    /// The same for the long code blocks of the user's own messages (attached files, pasted
    /// code), which have no number: by entry and their order in it.
    own_folds: HashMap<(usize, usize), bool>,
    /// The entry a search in the session picker opened the conversation at, and the words
    /// searched for (lower case), marked in it.
    found: Option<(usize, Vec<String>)>,
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

    /// The code blocks of the model's finished answers, in order.
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

    /// Lists entry `i`'s code blocks when the model wrote them: what the user sent (an attached
    /// file, pasted code) is not the model's code.
    fn collect_code(&mut self, i: usize) {
        if self.entries[i].author != Author::Assistant {
            return;
        }
        let question = self.entries[..i].iter().rfind(|e| e.author == Author::User);
        let attached = question.map(|q| crate::edit::target::attached_files(&q.content)).unwrap_or_default();
        for block in markdown::split_blocks(&self.entries[i].content) {
            if let Block::Code { lang, info, code, .. } = block {
                let number = self.code_blocks.len() + 1;
                self.code_blocks.push(CodeBlock { number, lang, code, info, attached: attached.clone() });
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
        self.folds.retain(|&n, _| n < first_removed);
        self.own_folds.retain(|&(i, _), _| i < index);
        self.found = self.found.take().filter(|(i, _)| *i < index);
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.cache.borrow_mut().clear();
        self.code_blocks.clear();
        self.folds.clear();
        self.own_folds.clear();
        self.found = None;
    }

    fn invalidate(&self, i: usize) {
        if let Some(c) = self.cache.borrow_mut().get_mut(i) {
            c.valid = false;
        }
    }
}

#[cfg(test)]
mod tests;
