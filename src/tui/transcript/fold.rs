//! Long code blocks folded in the transcript: a model's block of more than [`FOLD_OVER`] lines
//! shows its first [`FOLD_SHOWN`] lines and a row saying how many more there are, once its reply
//! is finished (while the reply streams, code is shown as it arrives). Folding is a view only:
//! the code block list (code pane, copy, save, $EDITOR, /apply) keeps every block whole.
//!
//! Long blocks start folded in finished replies, and in conversations opened from history:
//! a long block otherwise pushes the question and the explanation around it off the screen,
//! and the code pane (Enter) shows the whole block anyway.

use ratatui::text::{Line, Span};

use super::Transcript;
use crate::render::markdown::{render_code, RenderOptions};
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
    pub fn fold_at(&self, i: usize, row: usize, width: u16) -> Option<usize> {
        self.rows(i, width);
        let caches = self.cache.borrow();
        caches.get(i)?.fold_rows.iter().find(|(r, _)| *r == row).map(|(_, n)| *n)
    }
}

/// Code block `number` drawn folded: its frame's header, its first [`FOLD_SHOWN`] lines, a row
/// with how many lines are hidden, and the frame's bottom. The marker holds only figures.
pub(super) fn render_folded(number: usize, lang: &str, code: &str, opts: RenderOptions) -> Vec<Line<'static>> {
    let shown: usize = code.split_inclusive('\n').take(FOLD_SHOWN).map(str::len).sum();
    let hidden = line_count(code).saturating_sub(FOLD_SHOWN);
    let mut rows = render_code(Some(number), lang, &code[..shown], opts);
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
