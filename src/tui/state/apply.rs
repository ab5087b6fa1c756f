//! Applying a code block to a file (`/apply N [PATH]`, the code pane's `a`): the diff is worked
//! out off the render path, shown in an overlay, written on `y`, recorded for `/undo`.

use crossterm::event::{KeyCode, KeyEvent};

use super::{AppState, DiffView, Effect, Overlay};
use crate::edit::{PreparedEdit, Proposal, TargetSource};
use crate::render::sanitize;
use crate::store::edits::FileEdit;
use crate::store::recorder::{Query, RecordOp};
use crate::tui::composer::Composer;

impl AppState {
    /// Reads code block `index` as an edit of `path`, or of the file it names, and asks for
    /// its diff.
    pub(super) fn apply_block(&mut self, index: usize, path: Option<String>) -> Vec<Effect> {
        let Some(block) = self.transcript.code_blocks().get(index) else { return Vec::new() };
        let number = block.number;
        let proposal = match Proposal::of_block(&block.info, &block.code, &block.attached) {
            Ok(p) => p,
            Err(e) => {
                self.error(format!("code block {number}: {e}"));
                return Vec::new();
            }
        };
        let named = path.map(|p| (p, TargetSource::Named));
        let Some((shown, source)) = named.or_else(|| proposal.target.clone()) else {
            self.ui.overlay = Some(Overlay::ApplyPrompt { index, path: Composer::default() });
            self.info(format!("code block {number} names no file: type its path"));
            return Vec::new();
        };
        vec![Effect::PrepareEdit { shown, source, proposal }]
    }

    pub(super) fn on_edit_prepared(&mut self, result: Result<Box<PreparedEdit>, String>) {
        match result {
            Ok(edit) if edit.diff.is_empty() => {
                self.info(format!("{} already holds this code: nothing to apply", sanitize(&edit.shown)))
            }
            Ok(edit) => self.ui.overlay = Some(Overlay::Diff(DiffView { edit, scroll: 0, armed: false })),
            Err(e) => self.error(e),
        }
    }

    pub(super) fn on_edit_written(&mut self, result: Result<Box<PreparedEdit>, String>) -> Vec<Effect> {
        let edit = match result {
            Ok(edit) => edit,
            Err(e) => {
                self.error(e);
                return Vec::new();
            }
        };
        let what = format!("applied to {} ({})", sanitize(&edit.shown), edit.stat.describe());
        if !self.session.saving || self.session.conversation_id.is_none() {
            self.info(format!("{what}; history is off, so /undo cannot restore it"));
            return Vec::new();
        }
        self.info(format!("{what}; /undo puts it back"));
        let PreparedEdit { real, before, after, .. } = *edit;
        vec![Effect::Record(RecordOp::Edit(FileEdit { path: real, before, after }))]
    }

    /// `/undo`: the conversation's latest edit is undone on the history thread, which keeps it.
    pub(super) fn undo(&mut self) -> Vec<Effect> {
        if !self.session.saving {
            self.error("/undo needs history, which is off in this session");
            return Vec::new();
        }
        vec![Effect::Query(Query::Undo)]
    }
}

/// The file name for a block that names none: Enter shows the diff, Esc gives up.
pub(super) fn on_apply_prompt_key(
    state: &mut AppState,
    index: usize,
    mut path: Composer,
    key: KeyEvent,
) -> Vec<Effect> {
    let typed = path.text().trim().to_string();
    match key.code {
        KeyCode::Enter if !typed.is_empty() => {
            state.ui.overlay = None;
            return state.apply_block(index, Some(typed));
        }
        KeyCode::Enter => state.error("type a file name"),
        KeyCode::Esc => state.ui.overlay = None,
        _ => super::keys::edit_path(&mut path, key),
    }
    if key.code != KeyCode::Esc {
        state.ui.overlay = Some(Overlay::ApplyPrompt { index, path });
    }
    Vec::new()
}

/// The diff overlay: scroll it, `y` or Enter writes, `n` or Esc gives up. A symbolic link out of
/// the working tree takes a second `y`.
pub(super) fn on_diff_key(state: &mut AppState, mut view: DiffView, key: KeyEvent) -> Vec<Effect> {
    let page = usize::from(state.ui.size.1.saturating_sub(4)).max(1);
    let max = view.edit.diff.lines().count().saturating_sub(1);
    match key.code {
        KeyCode::Char('y') | KeyCode::Enter => {
            if let (Some(real), false) = (&view.edit.outside, view.armed) {
                let real = sanitize(&real.to_string_lossy()).into_owned();
                state.error(format!("{} leads outside this folder, to {real}: y again writes there", view.edit.shown));
                view.armed = true;
            } else {
                state.ui.overlay = None;
                return vec![Effect::WriteEdit(view.edit)];
            }
        }
        KeyCode::Char('n') | KeyCode::Char('q') | KeyCode::Esc => {
            state.ui.overlay = None;
            state.info("not applied");
            return Vec::new();
        }
        KeyCode::Up | KeyCode::Char('k') => view.scroll = view.scroll.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => view.scroll = (view.scroll + 1).min(max),
        KeyCode::PageUp => view.scroll = view.scroll.saturating_sub(page),
        KeyCode::PageDown | KeyCode::Char(' ') => view.scroll = (view.scroll + page).min(max),
        KeyCode::Home => view.scroll = 0,
        KeyCode::End => view.scroll = max,
        _ => {}
    }
    state.ui.overlay = Some(Overlay::Diff(view));
    Vec::new()
}
