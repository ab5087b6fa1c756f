//! Long code blocks folded in the transcript: a model's block of more than [`FOLD_OVER`] lines
//! shows its first [`FOLD_SHOWN`] lines and a row saying how many more there are, once its reply
//! is finished (while the reply streams, code is shown as it arrives). Folding is a view only:
//! the code block list (code pane, copy, save, $EDITOR, /apply) keeps every block whole.
//!
//! Long blocks start folded in finished replies, and in conversations opened from history:
//! a long block otherwise pushes the question and the explanation around it off the screen,
//! and the code pane (Enter) shows the whole block anyway.
//!
//! The user's own messages fold the same way: an attached file or pasted code of more than
//! [`FOLD_OVER`] lines shows its first lines only (the user has the file; the conversation is
//! what they came to read). Those blocks have no number (the code pane lists the model's), so
//! they are known by their entry and their order in it ([`Fold::Own`]).

use ratatui::text::{Line, Span};

use super::Transcript;
use crate::render::markdown::{self, render_code, Block, RenderOptions};
use crate::render::theme::{self, colored};
use crate::render::wrap::str_width;

/// Blocks of more lines than this fold.
pub const FOLD_OVER: usize = 30;
/// Lines a folded block still shows.
pub const FOLD_SHOWN: usize = 10;

/// Lines of `code`, counted as the code view counts them.
fn line_count(code: &str) -> usize {
    code.lines().count()
}

/// Whether `code` is long enough to fold.
pub fn foldable(code: &str) -> bool {
    line_count(code) > FOLD_OVER
}

/// A long code block that folds: a model's, by its number, or the `.0`-th unnumbered block of
/// the user's message it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    Block(usize),
    Own(usize),
}

impl Transcript {
    /// Whether code block `number` (its code `code`) is drawn folded, in a finished reply.
    pub(super) fn is_folded(&self, number: usize, code: &str) -> bool {
        foldable(code) && self.folds.get(&number).copied().unwrap_or(true)
    }

    /// Whether code block `number` is folded now; `None` when it is too short to fold or there
    /// is no such block.
    pub fn folded(&self, number: usize) -> Option<bool> {
        let block = self.code_blocks.get(number.checked_sub(1)?)?;
        foldable(&block.code).then(|| self.is_folded(number, &block.code))
    }

    /// Folds or unfolds code block `number`: its new state (true: folded), or `None` when it is
    /// too short to fold or there is no such block.
    pub fn toggle_fold(&mut self, number: usize) -> Option<bool> {
        let folded = !self.folded(number)?;
        self.set_fold(number, folded);
        Some(folded)
    }

    /// Folds (`true`) or unfolds code block `number`, redrawing only its entry.
    pub fn set_fold(&mut self, number: usize, folded: bool) {
        self.folds.insert(number, folded);
        if let Some(i) = self.entry_of_block(number) {
            self.invalidate(i);
        }
    }

    /// The entry that holds code block `number` (entries are in block order).
    fn entry_of_block(&self, number: usize) -> Option<usize> {
        self.entries.partition_point(|e| e.first_block <= number).checked_sub(1)
    }

    /// The numbers of entry `i`'s code blocks that can fold.
    pub fn foldable_blocks(&self, i: usize) -> Vec<usize> {
        let Some(entry) = self.entries.get(i) else { return Vec::new() };
        let end = self.entries.get(i + 1).map_or(self.code_blocks.len() + 1, |e| e.first_block);
        (entry.first_block..end).filter(|n| self.code_blocks.get(n - 1).is_some_and(|b| foldable(&b.code))).collect()
    }

    /// The code block a click on row `row` of entry `i` folds or unfolds: a long block's header
    /// or its fold marker.
    pub fn fold_at(&self, i: usize, row: usize, width: u16) -> Option<Fold> {
        self.rows(i, width);
        let caches = self.cache.borrow();
        caches.get(i)?.fold_rows.iter().find(|(r, _)| *r == row).map(|(_, n)| *n)
    }

    /// Whether block `f` of entry `i` (its code `code`) is drawn folded, once finished.
    pub(super) fn draws_folded(&self, i: usize, f: Fold, code: &str) -> bool {
        match f {
            Fold::Block(n) => self.is_folded(n, code),
            Fold::Own(k) => self.is_own_folded(i, k, code),
        }
    }

    /// Whether the `k`-th unnumbered code block of entry `i` (a user's message) is drawn folded.
    pub(super) fn is_own_folded(&self, i: usize, k: usize, code: &str) -> bool {
        foldable(code) && self.own_folds.get(&(i, k)).copied().unwrap_or(true)
    }

    /// The code blocks of entry `i` when it is a user's message (none for the others: the
    /// model's blocks are numbered, see [`Transcript::foldable_blocks`]).
    fn own_blocks(&self, i: usize) -> Vec<String> {
        let Some(entry) = self.entries.get(i).filter(|e| e.author == super::Author::User) else { return Vec::new() };
        let blocks = markdown::split_blocks_raw(&entry.content).into_iter();
        blocks
            .filter_map(|(block, _)| match block {
                Block::Code { code, .. } => Some(code),
                Block::Prose(_) => None,
            })
            .collect()
    }

    /// Whether each long code block of user message `i` is folded now, in order.
    pub fn own_folds(&self, i: usize) -> Vec<bool> {
        let blocks = self.own_blocks(i).into_iter().enumerate();
        blocks.filter(|(_, code)| foldable(code)).map(|(k, code)| self.is_own_folded(i, k, &code)).collect()
    }

    /// Folds or unfolds the `k`-th code block of user message `i`: its new state (true:
    /// folded), or `None` when it is too short to fold or there is no such block.
    pub fn toggle_own_fold(&mut self, i: usize, k: usize) -> Option<bool> {
        let code = self.own_blocks(i).into_iter().nth(k).filter(|code| foldable(code))?;
        let folded = !self.is_own_folded(i, k, &code);
        self.own_folds.insert((i, k), folded);
        self.invalidate(i);
        Some(folded)
    }

    /// Folds (`true`) or unfolds every long code block of user message `i`.
    pub fn set_own_folds(&mut self, i: usize, folded: bool) {
        for k in 0..self.own_blocks(i).len() {
            self.own_folds.insert((i, k), folded);
        }
        self.invalidate(i);
    }
}

/// A code block drawn folded (numbered: a model's): its frame's header, its first
/// [`FOLD_SHOWN`] lines, a row with how many lines are hidden, and the frame's bottom. The
/// marker holds only figures.
pub(super) fn render_folded(number: Option<usize>, lang: &str, code: &str, opts: RenderOptions) -> Vec<Line<'static>> {
    let shown: usize = code.split_inclusive('\n').take(FOLD_SHOWN).map(str::len).sum();
    let hidden = line_count(code).saturating_sub(FOLD_SHOWN);
    let mut rows = render_code(number, lang, &code[..shown], opts);
    let at = rows.len().saturating_sub(1);
    rows.insert(at, marker(hidden, opts));
    rows
}

/// The row that stands for a folded block's hidden lines, inside the frame when there is one
/// (as `render_code` draws it: `│ ` code, padding, ` │`).
fn marker(hidden: usize, opts: RenderOptions) -> Line<'static> {
    let width = usize::from(opts.width).max(1);
    let text = format!("… {hidden} more lines (z unfolds)");
    let muted = colored(opts.color, theme::MUTED);
    if width < 5 {
        return Line::from(Span::styled(text.chars().take(width).collect::<String>(), muted));
    }
    let border = colored(opts.color, theme::CODE_BORDER);
    let room = width - 4;
    let text: String = text.chars().take(room).collect();
    let pad = room - str_width(&text);
    Line::from(vec![
        Span::styled("│ ", border),
        Span::styled(text, muted),
        Span::raw(" ".repeat(pad + 1)),
        Span::styled("│", border),
    ])
}
