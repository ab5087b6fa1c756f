//! Keys, pastes and the mouse: what each does in each focus and overlay.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use super::{slash_table, AppState, Composer, EditorPurpose, Effect, Focus, Overlay, Picker, Query, Scroll};

pub(super) fn ctrl(key: &KeyEvent, c: char) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char(c)
}

/// A paste goes whole into the composer, or its first line into a prompt's field.
pub(super) fn on_paste(state: &mut AppState, text: &str) -> Vec<Effect> {
    match &mut state.ui.overlay {
        Some(Overlay::SavePrompt { path, .. }) => path.insert_str(text.lines().next().unwrap_or("")),
        Some(Overlay::Sessions(p)) => {
            p.filter.insert_str(text.lines().next().unwrap_or(""));
            p.generation += 1;
            let query = Query::List { filter: p.filter.text().to_string(), generation: p.generation };
            return vec![Effect::Query(query)];
        }
        Some(Overlay::Help | Overlay::CodeView { .. }) => {}
        None => {
            state.ui.focus = Focus::Composer;
            state.composer.insert_str(text);
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

pub(super) fn on_key(state: &mut AppState, key: KeyEvent) -> Vec<Effect> {
    let chord = std::mem::take(&mut state.ui.chord);
    if !ctrl(&key, 'c') {
        state.ui.quit_armed = false;
    }
    // Keys every state understands first.
    if ctrl(&key, 'c') {
        if state.turns.generating.is_some() {
            return state.cancel();
        }
        if state.ui.overlay.take().is_some() {
            return Vec::new();
        }
        if !state.composer.is_empty() {
            state.composer.clear();
            return Vec::new();
        }
        if state.ui.quit_armed {
            return state.quit();
        }
        state.ui.quit_armed = true;
        state.info("press Ctrl-C again to quit");
        return Vec::new();
    }
    if let Some(overlay) = state.ui.overlay.clone() {
        return on_overlay_key(state, overlay, key);
    }
    if ctrl(&key, 'o') {
        return state.open_picker();
    }
    match key.code {
        KeyCode::Esc => {
            if state.turns.generating.is_some() {
                return state.cancel();
            }
            state.ui.focus = Focus::Composer;
            return Vec::new();
        }
        KeyCode::F(1) => {
            state.ui.overlay = Some(Overlay::Help);
            return Vec::new();
        }
        KeyCode::PageUp => {
            let page = state.page();
            state.scroll_by(true, page);
            return Vec::new();
        }
        KeyCode::PageDown => {
            let page = state.page();
            state.scroll_by(false, page);
            return Vec::new();
        }
        KeyCode::Tab | KeyCode::BackTab => {
            if key.code == KeyCode::Tab && state.ui.focus == Focus::Composer {
                if let Some(done) = slash_table::complete(state.composer.text()) {
                    state.composer.set_text(done);
                    return Vec::new();
                }
            }
            let forward = key.code == KeyCode::Tab && !key.modifiers.contains(KeyModifiers::SHIFT);
            state.ui.focus = match (state.ui.focus, forward) {
                (Focus::Composer, true) | (Focus::CodePane, false) => Focus::Transcript,
                (Focus::Transcript, true) | (Focus::Composer, false) => Focus::CodePane,
                (Focus::CodePane, true) | (Focus::Transcript, false) => Focus::Composer,
            };
            return Vec::new();
        }
        _ => {}
    }
    match state.ui.focus {
        Focus::Composer => on_composer_key(state, key, chord),
        Focus::Transcript => {
            match key.code {
                KeyCode::Up | KeyCode::Char('k') => state.scroll_by(true, 1),
                KeyCode::Down | KeyCode::Char('j') => state.scroll_by(false, 1),
                KeyCode::Home | KeyCode::Char('g') => state.scroll_by(true, usize::MAX / 2),
                KeyCode::End | KeyCode::Char('G') => state.ui.scroll = Scroll::Follow,
                KeyCode::Left => return state.switch_version(false),
                KeyCode::Right => return state.switch_version(true),
                KeyCode::Char('t') => state.toggle_thinking(),
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
        Focus::CodePane => on_code_pane_key(state, key),
    }
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
        KeyCode::Char('e') => return state.open_in_editor(i),
        KeyCode::Enter | KeyCode::Char('v') => state.ui.overlay = Some(Overlay::CodeView { index: i, scroll: 0 }),
        KeyCode::Char('?') => state.ui.overlay = Some(Overlay::Help),
        _ => {}
    }
    Vec::new()
}

fn on_picker_key(state: &mut AppState, mut p: Picker, key: KeyEvent) -> Vec<Effect> {
    let control = key.modifiers.contains(KeyModifiers::CONTROL);
    let selected_id = p.items.get(p.selected).map(|i| i.summary.id);
    if let Some(mut name) = p.renaming.take() {
        let mut effects = Vec::new();
        match key.code {
            KeyCode::Esc => {}
            KeyCode::Enter => {
                if let Some(id) = selected_id {
                    effects.push(Effect::Query(Query::Rename(id, name.text().trim().to_string())));
                }
            }
            KeyCode::Char(ch) if !control => {
                name.insert_char(ch);
                p.renaming = Some(name);
            }
            KeyCode::Backspace => {
                name.backspace();
                p.renaming = Some(name);
            }
            _ => p.renaming = Some(name),
        }
        state.ui.overlay = Some(Overlay::Sessions(p));
        return effects;
    }
    let was_confirming = std::mem::take(&mut p.confirm_delete);
    let mut refilter = false;
    let mut effects = Vec::new();
    match key.code {
        KeyCode::Esc => {
            state.ui.overlay = None;
            return Vec::new();
        }
        KeyCode::Enter => {
            if let Some(id) = selected_id {
                effects.push(Effect::Query(Query::Open(id)));
            }
        }
        KeyCode::Up => p.selected = p.selected.saturating_sub(1),
        KeyCode::Down => p.selected = (p.selected + 1).min(p.items.len().saturating_sub(1)),
        KeyCode::PageUp => p.selected = p.selected.saturating_sub(10),
        KeyCode::PageDown => p.selected = (p.selected + 10).min(p.items.len().saturating_sub(1)),
        KeyCode::Char('d') if control => match (selected_id, was_confirming) {
            (Some(id), true) => {
                if state.session.conversation_id == Some(id) {
                    // What is on screen goes on as a new conversation.
                    state.session.conversation_id = None;
                }
                effects.push(Effect::Query(Query::Delete(id)));
            }
            (Some(_), false) => {
                p.confirm_delete = true;
                state.error("Ctrl-D again deletes this conversation");
            }
            (None, _) => {}
        },
        KeyCode::Char('r') if control => {
            if let Some(item) = p.items.get(p.selected) {
                let mut name = Composer::default();
                name.set_text(item.summary.title.clone());
                p.renaming = Some(name);
            }
        }
        KeyCode::Char(ch) if !control => {
            p.filter.insert_char(ch);
            refilter = true;
        }
        KeyCode::Backspace => {
            p.filter.backspace();
            refilter = true;
        }
        _ => {}
    }
    if refilter {
        p.generation += 1;
        p.selected = 0;
        effects.push(Effect::Query(Query::List { filter: p.filter.text().to_string(), generation: p.generation }));
    }
    state.ui.overlay = Some(Overlay::Sessions(p));
    effects
}

fn on_overlay_key(state: &mut AppState, overlay: Overlay, key: KeyEvent) -> Vec<Effect> {
    match overlay {
        Overlay::Sessions(picker) => on_picker_key(state, picker, key),
        Overlay::Help => {
            // On a short terminal the help scrolls; any other key closes it.
            let max = u16::try_from(crate::tui::widgets::help::help_lines().len()).unwrap_or(u16::MAX);
            match key.code {
                KeyCode::Down | KeyCode::Char('j') => state.ui.help_scroll = (state.ui.help_scroll + 1).min(max),
                KeyCode::Up | KeyCode::Char('k') => state.ui.help_scroll = state.ui.help_scroll.saturating_sub(1),
                KeyCode::PageDown => state.ui.help_scroll = (state.ui.help_scroll + 10).min(max),
                KeyCode::PageUp => state.ui.help_scroll = state.ui.help_scroll.saturating_sub(10),
                _ => {
                    state.ui.help_scroll = 0;
                    state.ui.overlay = None;
                    return Vec::new();
                }
            }
            state.ui.overlay = Some(Overlay::Help);
            Vec::new()
        }
        Overlay::CodeView { index, scroll } => {
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
        Overlay::SavePrompt { index, mut path, confirm_overwrite } => {
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
            // Editing the name asks again before overwriting.
            state.ui.overlay = Some(Overlay::SavePrompt { index, path, confirm_overwrite: false });
            Vec::new()
        }
    }
}
