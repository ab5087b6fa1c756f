//! An entry's rows: its header, its thinking, its answer as markdown, each cached per width.

use std::rc::Rc;

use ratatui::text::{Line, Span};

use super::{Author, Cached, Entry, EntryRows, EntryState, Fold, Thinking, Transcript};
use crate::render::markdown::{self, Block, RenderOptions};
use crate::render::theme::{self, colored};

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

/// Which block that can fold `block` is: a model's code block takes the next number (counted in
/// `next_code`), a code block of the user's message the next place among that message's
/// (`next_own`); prose and a notice's code are neither.
fn fold_id(block: &Block, author: Author, next_code: &mut usize, next_own: &mut usize) -> Option<Fold> {
    let next = |counter: &mut usize| {
        *counter += 1;
        *counter - 1
    };
    match (block, author) {
        (Block::Prose(_), _) | (_, Author::Notice) => None,
        (Block::Code { .. }, Author::Assistant) => Some(Fold::Block(next(next_code))),
        (Block::Code { .. }, Author::User) => Some(Fold::Own(next(next_own))),
    }
}

/// Renders a block; only the model's code blocks are numbered. `fold` says whether the block
/// `at` is drawn folded.
fn render_block(
    block: &Block,
    at: Option<Fold>,
    fold: &dyn Fn(Fold, &str) -> bool,
    opts: RenderOptions,
) -> Vec<Line<'static>> {
    match block {
        Block::Prose(text) => markdown::render_prose(text, opts),
        Block::Code { lang, code, .. } => {
            let number = match at {
                Some(Fold::Block(n)) => Some(n),
                Some(Fold::Own(_)) | None => None,
            };
            if at.is_some_and(|f| fold(f, code)) {
                super::fold::render_folded(number, lang, code, opts)
            } else {
                markdown::render_code(number, lang, code, opts)
            }
        }
    }
}

impl Transcript {
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
        let (mut next_code, mut next_own) = (entry.first_block + cache.stable_code, cache.stable_own);
        // Code arrives unfolded; a finished reply's long blocks fold (see `fold.rs`).
        let fold = |f: Fold, code: &str| !streaming && self.draws_folded(i, f, code);
        let stable = Rc::make_mut(&mut cache.stable);
        for (block, raw) in &blocks[..final_count] {
            let at = fold_id(block, entry.author, &mut next_code, &mut next_own);
            let rows = render_block(block, at, &fold, opts);
            if let (Some(f), Block::Code { code, .. }) = (at, block) {
                match f {
                    Fold::Block(_) => cache.stable_code += 1,
                    Fold::Own(_) => cache.stable_own += 1,
                }
                if !streaming && super::foldable(code) {
                    // The header toggles the block; so does the marker, second to last. (Not
                    // while the reply streams: its blocks are not listed until it ends.)
                    cache.fold_rows.push((stable.len(), f));
                    if fold(f, code) {
                        cache.fold_rows.push((stable.len() + rows.len() - 2, f));
                    }
                }
            }
            stable.extend(rows);
            cache.stable_bytes += raw;
        }
        let mut tail = Vec::new();
        for (block, _) in &blocks[final_count..] {
            let (mut n, mut k) = (next_code, next_own);
            let at = fold_id(block, entry.author, &mut n, &mut k);
            tail.extend(render_block(block, at, &fold, opts));
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
            if let Some(words) = self.found_words(i) {
                // Not the header: "you" or "ember" searched for marks the message's text.
                // Nor the thinking, which the search does not look in.
                let from = 1 + cache.thinking_rows;
                cache.found_row = super::found::mark(&mut stable[from..], words, self.color).map(|r| r + from);
            }
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

    /// Row count of entry `i` at `width`.
    pub fn height(&self, i: usize, width: u16) -> usize {
        self.rows(i, width).len()
    }
}
