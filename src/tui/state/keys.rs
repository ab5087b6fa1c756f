//! Keys, pastes and the mouse: what each does in each focus and overlay.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::sessions::on_picker_key;
use super::{slash_table, AppState, Composer, EditorPurpose, Effect, Focus, Overlay, Query, Scroll};

pub(super) fn ctrl(key: &KeyEvent, c: char) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char(c)
}

/// A paste goes whole into the composer, or its first line into a prompt's field.
pub(super) fn on_paste(state: &mut AppState, text: &str) -> Vec<Effect> {
    match &mut state.ui.overlay {
        Some(Overlay::SavePrompt { path, .. } | Overlay::ApplyPrompt { path, .. }) => {
            path.insert_str(text.lines().next().unwrap_or(""))
        }
        Some(Overlay::Sessions(p)) => {
            p.filter.insert_str(text.lines().next().unwrap_or(""));
            p.generation += 1;
            let query = Query::List { filter: p.filter.text().to_string(), generation: p.generation };
            return vec![Effect::Query(query)];
        }
        Some(Overlay::Help | Overlay::CodeView { .. } | Overlay::Diff(_)) => {}
        None => {
            state.ui.focus = Focus::Composer;
            state.composer.insert_str(text);
            return state.after_composer_edit();
        }
    }
    Vec::new()
}

/// The wheel scrolls the transcript; a click may fold or unfold a reply's thinking.
pub(super) fn on_mouse(state: &mut AppState, mouse: MouseEvent) {
    match mouse.kind {
        MouseEventKind::ScrollUp => state.scroll_by(true, 3),
        MouseEventKind::ScrollDown => state.scroll_by(false, 3),
        MouseEventKind::Down(MouseButton::Left) => state.click(mouse.column, mouse.row),
        _ => {}
    }
}

/// A key: Ctrl-C first, then the overlay's keys, then keys every pane shares, then the focused
/// pane's.
pub(super) fn on_key(state: &mut AppState, key: KeyEvent) -> Vec<Effect> {
    let chord = std::mem::take(&mut state.ui.chord);
    if !ctrl(&key, 'c') {
        state.ui.quit_armed = false;
    }
    // Keys every state understands first.
    if ctrl(&key, 'c') {
        return on_ctrl_c(state);
    }
    if let Some(overlay) = state.ui.overlay.clone() {
        return on_overlay_key(state, overlay, key);
    }
    if ctrl(&key, 'o') {
        return state.open_picker();
    }
    if let Some(effects) = state.on_finder_key(key) {
        return effects;
    }
    if let Some(effects) = on_shared_key(state, key) {
        return effects;
    }
    match state.ui.focus {
        Focus::Composer => {
            let mut effects = on_composer_key(state, key, chord);
            effects.extend(state.after_composer_edit());
            effects
        }
        Focus::Transcript => on_transcript_key(state, key),
        Focus::CodePane => on_code_pane_key(state, key),
    }
}

/// Ctrl-C stops an answer, else closes an overlay, else clears the composer (Up brings the
/// message back) and arms quitting, else (twice) quits.
fn on_ctrl_c(state: &mut AppState) -> Vec<Effect> {
    if state.turns.generating.is_some() {
        return state.cancel();
    }
    if state.ui.overlay.take().is_some() {
        return Vec::new();
    }
    if !state.composer.is_empty() {
        // Kept among the messages Up recalls, so a stray Ctrl-C loses nothing.
        state.composer.take();
        state.ui.quit_armed = true;
        state.info("message cleared: Up brings it back; Ctrl-C again quits");
        return Vec::new();
    }
    if state.ui.quit_armed {
        return state.quit();
    }
    state.ui.quit_armed = true;
    state.info("press Ctrl-C again to quit");
    Vec::new()
}

/// Keys that do the same in every pane: Esc, F1, paging, Tab. `None` for any other key.
fn on_shared_key(state: &mut AppState, key: KeyEvent) -> Option<Vec<Effect>> {
    match key.code {
        KeyCode::Esc => {
            if state.turns.generating.is_some() {
                return Some(state.cancel());
            }
            if let Some(effects) = state.stop_command() {
                return Some(effects);
            }
            state.ui.focus = Focus::Composer;
        }
        KeyCode::F(1) => state.ui.overlay = Some(Overlay::Help),
        KeyCode::PageUp => {
            let page = state.page();
            state.scroll_by(true, page);
        }
        KeyCode::PageDown => {
            let page = state.page();
            state.scroll_by(false, page);
        }
        KeyCode::Tab | KeyCode::BackTab => return Some(on_tab(state, key)),
        _ => return None,
    }
    Some(Vec::new())
}

/// Tab completes a slash command or `/file`'s path in the composer; else Tab and Shift-Tab move
/// the focus.
fn on_tab(state: &mut AppState, key: KeyEvent) -> Vec<Effect> {
    if key.code == KeyCode::Tab && state.ui.focus == Focus::Composer {
        if let Some(effects) = complete(state) {
            return effects;
        }
    }
    let forward = key.code == KeyCode::Tab && !key.modifiers.contains(KeyModifiers::SHIFT);
    state.ui.focus = match (state.ui.focus, forward) {
        (Focus::Composer, true) | (Focus::CodePane, false) => Focus::Transcript,
        (Focus::Transcript, true) | (Focus::Composer, false) => Focus::CodePane,
        (Focus::CodePane, true) | (Focus::Transcript, false) => Focus::Composer,
    };
    Vec::new()
}

/// Tab in the composer: the next candidate offered, else a command name's completion, else for
/// `/file PATH` a listing of its folder, which the loop runs ([`on_paths_completed`] applies
/// it). `None` when nothing is being completed, so Tab moves the focus.
fn complete(state: &mut AppState) -> Option<Vec<Effect>> {
    if state.composer.next_offer() {
        return Some(Vec::new());
    }
    let text = state.composer.text().to_string();
    if text.starts_with("/file ") {
        // A folder on a network mount may take long to read: never in update. Tab keeps the
        // focus while the listing is on its way, and asks for it once.
        if state.ui.completing.as_ref() == Some(&text) {
            return Some(Vec::new());
        }
        state.ui.completing = Some(text.clone());
        return Some(vec![Effect::CompletePath { typed: text }]);
    }
    let candidates: Vec<String> = slash_table::completions(&text).iter().map(|c| slash_table::completed(c)).collect();
    if candidates.is_empty() {
        return None;
    }
    apply_candidates(state, &text, candidates);
    Some(Vec::new())
}

/// `/file`'s completions of composer text `typed`, listed by the loop: applied only while the
/// composer still holds that text (an answer to text typed on since is dropped).
pub(super) fn on_paths_completed(state: &mut AppState, typed: &str, candidates: Vec<String>) {
    if state.ui.completing.as_deref() == Some(typed) {
        state.ui.completing = None;
    }
    if state.composer.text() != typed {
        return;
    }
    if candidates.is_empty() {
        state.info("no file or folder starts with that");
        return;
    }
    apply_candidates(state, typed, candidates);
}

/// Tab's candidates for `text`: the one candidate, else their common start, else (when they
/// share nothing more than what was typed) each in turn, one per Tab.
fn apply_candidates(state: &mut AppState, text: &str, candidates: Vec<String>) {
    match candidates.as_slice() {
        [] => {}
        [one] => state.composer.set_text(one.clone()),
        many => {
            let common = slash_table::common_start(many);
            if common.len() > text.len() {
                state.composer.set_text(common);
            } else {
                state.composer.offer(candidates);
            }
        }
    }
}

fn on_transcript_key(state: &mut AppState, key: KeyEvent) -> Vec<Effect> {
    match key.code {
        KeyCode::Up | KeyCode::Char('k') => state.scroll_by(true, 1),
        KeyCode::Down | KeyCode::Char('j') => state.scroll_by(false, 1),
        KeyCode::Home | KeyCode::Char('g') => state.scroll_by(true, usize::MAX / 2),
        KeyCode::End | KeyCode::Char('G') => state.ui.scroll = Scroll::Follow,
        KeyCode::Left => return state.switch_version(false),
        KeyCode::Right => return state.switch_version(true),
        KeyCode::Char('t') => state.toggle_thinking(),
        KeyCode::Char('z') => state.toggle_folds_in_view(),
        KeyCode::Char('?') => state.ui.overlay = Some(Overlay::Help),
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            // Typing goes to the composer.
            state.ui.focus = Focus::Composer;
            state.composer.insert_char(c);
        }
        _ => {}
    }
    Vec::new()
}

fn on_composer_key(state: &mut AppState, key: KeyEvent, chord: bool) -> Vec<Effect> {
    let c = &mut state.composer;
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    if chord && ctrl(&key, 'e') || ctrl(&key, 'g') {
        return vec![Effect::OpenEditor {
            text: c.text().to_string(),
            purpose: EditorPurpose::Compose,
            extension: "md".into(),
        }];
    }
    if ctrl(&key, 'x') {
        state.ui.chord = true;
        return Vec::new();
    }
    if ctrl(&key, 'd') {
        if c.is_empty() && state.turns.generating.is_none() {
            return state.quit();
        }
        c.delete();
        return Vec::new();
    }
    match key.code {
        KeyCode::Enter if alt || shift => c.insert_char('\n'),
        KeyCode::Enter => return state.send(),
        KeyCode::Char('j') if key.modifiers.contains(KeyModifiers::CONTROL) => c.insert_char('\n'),
        KeyCode::Char('a') if key.modifiers.contains(KeyModifiers::CONTROL) => c.home(),
        KeyCode::Char('e') if key.modifiers.contains(KeyModifiers::CONTROL) => c.end(),
        KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => c.kill_line_before(),
        KeyCode::Char('w') if key.modifiers.contains(KeyModifiers::CONTROL) => c.kill_word_before(),
        KeyCode::Char('?') if c.is_empty() => state.ui.overlay = Some(Overlay::Help),
        KeyCode::Char(ch) if !key.modifiers.contains(KeyModifiers::CONTROL) => c.insert_char(ch),
        KeyCode::Backspace => c.backspace(),
        KeyCode::Delete => c.delete(),
        KeyCode::Left => c.left(),
        KeyCode::Right => c.right(),
        KeyCode::Up => c.up(),
        KeyCode::Down => c.down(),
        KeyCode::Home => c.home(),
        KeyCode::End => c.end(),
        _ => {}
    }
    Vec::new()
}

fn on_code_pane_key(state: &mut AppState, key: KeyEvent) -> Vec<Effect> {
    let count = state.transcript.code_blocks().len();
    if count == 0 {
        if let KeyCode::Char(ch) = key.code {
            if ch != '?' {
                state.ui.focus = Focus::Composer;
                state.composer.insert_char(ch);
            } else {
                state.ui.overlay = Some(Overlay::Help);
            }
        }
        return Vec::new();
    }
    state.ui.code_selected = state.ui.code_selected.min(count - 1);
    let i = state.ui.code_selected;
    match key.code {
        KeyCode::Up | KeyCode::Char('k') => state.ui.code_selected = i.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => state.ui.code_selected = (i + 1).min(count - 1),
        KeyCode::Home => state.ui.code_selected = 0,
        KeyCode::End => state.ui.code_selected = count - 1,
        KeyCode::Char('c') | KeyCode::Char('y') => return state.copy(i),
        KeyCode::Char('s') => state.ask_save(i),
        KeyCode::Char('a') => return state.apply_block(i, None),
        KeyCode::Char('e') => return state.open_in_editor(i),
        KeyCode::Char('z') => state.toggle_fold(i),
        KeyCode::Enter | KeyCode::Char('v') => state.ui.overlay = Some(Overlay::CodeView { index: i, scroll: 0 }),
        KeyCode::Char('?') => state.ui.overlay = Some(Overlay::Help),
        _ => {}
    }
    Vec::new()
}

fn on_overlay_key(state: &mut AppState, overlay: Overlay, key: KeyEvent) -> Vec<Effect> {
    match overlay {
        Overlay::Sessions(picker) => on_picker_key(state, picker, key),
        Overlay::Help => {
            on_help_key(state, key);
            Vec::new()
        }
        Overlay::CodeView { index, scroll } => on_code_view_key(state, index, scroll, key),
        Overlay::SavePrompt { index, path, confirm_overwrite } => {
            on_save_prompt_key(state, index, path, confirm_overwrite, key)
        }
        Overlay::Diff(view) => super::apply::on_diff_key(state, view, key),
        Overlay::ApplyPrompt { index, path } => super::apply::on_apply_prompt_key(state, index, path, key),
    }
}

/// On a short terminal the help scrolls; any other key closes it.
fn on_help_key(state: &mut AppState, key: KeyEvent) {
    let max = u16::try_from(crate::tui::widgets::help::help_lines().len()).unwrap_or(u16::MAX);
    match key.code {
        KeyCode::Down | KeyCode::Char('j') => state.ui.help_scroll = (state.ui.help_scroll + 1).min(max),
        KeyCode::Up | KeyCode::Char('k') => state.ui.help_scroll = state.ui.help_scroll.saturating_sub(1),
        KeyCode::PageDown => state.ui.help_scroll = (state.ui.help_scroll + 10).min(max),
        KeyCode::PageUp => state.ui.help_scroll = state.ui.help_scroll.saturating_sub(10),
        _ => {
            state.ui.help_scroll = 0;
            state.ui.overlay = None;
            return;
        }
    }
    state.ui.overlay = Some(Overlay::Help);
}

/// A code block full-screen: scroll it, copy, save or open it.
fn on_code_view_key(state: &mut AppState, index: usize, scroll: usize, key: KeyEvent) -> Vec<Effect> {
    let lines = state.transcript.code_blocks().get(index).map_or(0, |b| b.code.lines().count());
    let page = usize::from(state.ui.size.1.saturating_sub(3)).max(1);
    let max = lines.saturating_sub(1);
    let scroll = match key.code {
        KeyCode::Esc | KeyCode::Char('q') => {
            state.ui.overlay = None;
            return Vec::new();
        }
        KeyCode::Char('c') | KeyCode::Char('y') => return state.copy(index),
        KeyCode::Char('s') => {
            state.ask_save(index);
            return Vec::new();
        }
        KeyCode::Char('e') => return state.open_in_editor(index),
        KeyCode::Char('a') => return state.apply_block(index, None),
        KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => (scroll + 1).min(max),
        KeyCode::PageUp => scroll.saturating_sub(page),
        KeyCode::PageDown | KeyCode::Char(' ') => (scroll + page).min(max),
        KeyCode::Home => 0,
        KeyCode::End => max,
        _ => scroll,
    };
    state.ui.overlay = Some(Overlay::CodeView { index, scroll });
    Vec::new()
}

/// The file name for saving a code block: Enter saves (again: overwrites), Esc gives up.
fn on_save_prompt_key(
    state: &mut AppState,
    index: usize,
    mut path: Composer,
    confirm_overwrite: bool,
    key: KeyEvent,
) -> Vec<Effect> {
    match key.code {
        KeyCode::Esc => {
            state.ui.overlay = None;
            return Vec::new();
        }
        KeyCode::Enter => {
            let target = path.text().trim().to_string();
            if target.is_empty() {
                state.error("type a file name");
                return Vec::new();
            }
            let Some(block) = state.transcript.code_blocks().get(index) else {
                state.ui.overlay = None;
                return Vec::new();
            };
            let content = block.code.clone();
            state.ui.overlay = Some(Overlay::SavePrompt { index, path, confirm_overwrite });
            return vec![Effect::Save { path: target, content, overwrite: confirm_overwrite }];
        }
        _ => edit_path(&mut path, key),
    }
    // Editing the name asks again before overwriting.
    state.ui.overlay = Some(Overlay::SavePrompt { index, path, confirm_overwrite: false });
    Vec::new()
}

/// Editing a prompt's file name: type, Ctrl-U clears, Backspace, Delete, arrows, Home, End.
pub(super) fn edit_path(path: &mut Composer, key: KeyEvent) {
    match key.code {
        KeyCode::Char(ch) if !key.modifiers.contains(KeyModifiers::CONTROL) => path.insert_char(ch),
        KeyCode::Char('u') => path.clear(),
        KeyCode::Backspace => path.backspace(),
        KeyCode::Delete => path.delete(),
        KeyCode::Left => path.left(),
        KeyCode::Right => path.right(),
        KeyCode::Home => path.home(),
        KeyCode::End => path.end(),
        _ => {}
    }
}
