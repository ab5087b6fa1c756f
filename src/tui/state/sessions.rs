//! The session picker (Ctrl-O, /sessions) and the history thread's answers: lists, versions,
//! a conversation opened, exported, renamed or deleted.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{
    transcript_area, update, AppEvent, AppState, Composer, Effect, Overlay, Picker, Query, Reply, Scroll, StatusMessage,
};

/// A search hit the picker is opening: the message to show, and the words searched for.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub message: i64,
    pub words: Vec<String>,
}

impl AppState {
    pub(super) fn open_picker(&mut self) -> Vec<Effect> {
        if !self.session.saving {
            self.error("history is off (--no-history, or the database could not be opened)");
            return Vec::new();
        }
        let picker = Picker {
            filter: Composer::default(),
            items: Vec::new(),
            selected: 0,
            generation: 1,
            confirm_delete: false,
            renaming: None,
        };
        self.ui.overlay = Some(Overlay::Sessions(picker));
        vec![Effect::Query(Query::List { filter: String::new(), generation: 1 })]
    }

    pub(super) fn on_history(&mut self, reply: Reply) -> Vec<Effect> {
        match reply {
            Reply::Recorded(result) => return update(self, AppEvent::Recorded(result)),
            Reply::Listed { generation, result } => {
                if let Some(Overlay::Sessions(p)) = &mut self.ui.overlay {
                    if p.generation == generation {
                        match result {
                            Ok(items) => {
                                p.selected = p.selected.min(items.len().saturating_sub(1));
                                p.items = items;
                            }
                            Err(e) => self.ui.status = Some(StatusMessage { text: e, error: true, about_load: false }),
                        }
                    }
                }
            }
            Reply::Versions(at, of) => {
                if let Some(i) = self.last_recorded_entry() {
                    self.transcript.set_versions(i, Some((at, of)));
                }
            }
            Reply::Opened(Ok(conversation)) => return self.on_opened(&conversation),
            Reply::Opened(Err(e)) => {
                self.ui.hit = None;
                self.error(e);
            }
            Reply::Exported(Ok(path)) => self.info(format!("exported to {}", path.display())),
            Reply::Exported(Err(e)) => self.error(e),
            Reply::Undone(Ok(done)) => self.info(done),
            Reply::Undone(Err(e)) => self.error(e),
            Reply::Changed(result) => {
                if let Err(e) = result {
                    self.error(e);
                }
                if let Some(Overlay::Sessions(p)) = &mut self.ui.overlay {
                    p.generation += 1;
                    return vec![Effect::Query(Query::List {
                        filter: p.filter.text().to_string(),
                        generation: p.generation,
                    })];
                }
                self.info("renamed");
            }
        }
        Vec::new()
    }
    /// A conversation was opened (the picker, a version switch): it replaces the transcript,
    /// shown at the search hit it was opened for, else at the end.
    fn on_opened(&mut self, conversation: &crate::store::Conversation) -> Vec<Effect> {
        let mut effects = Vec::new();
        if let Some(turn) = self.turns.generating.take() {
            effects.push(Effect::Cancel(turn));
        }
        // Another branch of the same conversation keeps the engine's context: the shared
        // prefix is reused as it is.
        let same = self.session.conversation_id == Some(conversation.summary.id);
        if let (Some(old), false) = (self.session.conversation_id, same) {
            effects.push(Effect::SaveContext(old));
        }
        self.ui.overlay = None;
        self.transcript.clear();
        self.attachments.clear();
        self.ui.scroll = Scroll::Follow;
        self.turns.dropped_messages = 0;
        if !same {
            // Another version keeps the engine's context: its size stays as it was.
            self.turns.context_used = 0;
            self.turns.last_stats = None;
        }
        self.resume(conversation);
        if same {
            self.info("showing another version: new messages continue from here");
        }
        if let Some(hit) = self.ui.hit.take() {
            self.show_hit(conversation, hit);
        }
        if !same {
            effects.push(Effect::LoadContext(conversation.summary.id));
            effects.extend(self.count_conversation());
        }
        effects
    }

    /// Scrolls to the message a search hit is in (its first match near the top of the view,
    /// else its start) and marks the words searched for.
    fn show_hit(&mut self, conversation: &crate::store::Conversation, hit: Hit) {
        let Some(i) = conversation.messages.iter().position(|m| m.id == hit.message) else { return };
        // The match may lie in a long block's hidden lines: the hit's message opens unfolded.
        for n in self.transcript.foldable_blocks(i) {
            self.transcript.set_fold(n, false);
        }
        self.transcript.set_own_folds(i, false);
        self.transcript.mark_found(i, hit.words);
        let (width, height) = transcript_area(self);
        let found = self.transcript.found_row(i, width).unwrap_or(0);
        let row = if found + 2 < height { 0 } else { found.saturating_sub(2) };
        self.ui.scroll = Scroll::Anchor { entry: i, row };
        self.info(format!(
            "opened at the match, message {} of {}: End (in the transcript) goes to the end",
            i + 1,
            conversation.messages.len()
        ));
    }
}

/// A key in the session picker: move, filter, open, rename (Ctrl-R), delete (Ctrl-D twice).
pub(super) fn on_picker_key(state: &mut AppState, mut p: Picker, key: KeyEvent) -> Vec<Effect> {
    let control = key.modifiers.contains(KeyModifiers::CONTROL);
    let selected_id = p.items.get(p.selected).map(|i| i.summary.id);
    if let Some(name) = p.renaming.take() {
        return on_rename_key(state, p, name, key, selected_id);
    }
    let was_confirming = std::mem::take(&mut p.confirm_delete);
    let mut refilter = false;
    let mut effects = Vec::new();
    match key.code {
        KeyCode::Esc => {
            state.ui.overlay = None;
            return Vec::new();
        }
        KeyCode::Enter => effects.extend(open_selected(state, &p)),
        KeyCode::Up => p.selected = p.selected.saturating_sub(1),
        KeyCode::Down => p.selected = (p.selected + 1).min(p.items.len().saturating_sub(1)),
        KeyCode::PageUp => p.selected = p.selected.saturating_sub(10),
        KeyCode::PageDown => p.selected = (p.selected + 10).min(p.items.len().saturating_sub(1)),
        KeyCode::Char('d') if control => effects.extend(delete_key(state, &mut p, selected_id, was_confirming)),
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

/// A key while renaming the selected conversation: Enter renames it, Esc gives up.
fn on_rename_key(
    state: &mut AppState,
    mut p: Picker,
    mut name: Composer,
    key: KeyEvent,
    selected_id: Option<i64>,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    match key.code {
        KeyCode::Esc => {}
        KeyCode::Enter => {
            if let Some(id) = selected_id {
                effects.push(Effect::Query(Query::Rename(id, name.text().trim().to_string())));
            }
        }
        KeyCode::Char(ch) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            name.insert_char(ch);
            p.renaming = Some(name);
        }
        KeyCode::Char('u') => {
            name.clear();
            p.renaming = Some(name);
        }
        KeyCode::Backspace => {
            name.backspace();
            p.renaming = Some(name);
        }
        _ => p.renaming = Some(name),
    }
    state.ui.overlay = Some(Overlay::Sessions(p));
    effects
}

/// Ctrl-D: the first press asks, the second deletes the selected conversation.
fn delete_key(state: &mut AppState, p: &mut Picker, selected_id: Option<i64>, was_confirming: bool) -> Option<Effect> {
    match (selected_id, was_confirming) {
        (Some(id), true) => {
            if state.session.conversation_id == Some(id) {
                // What is on screen goes on as a new conversation.
                state.session.conversation_id = None;
            }
            Some(Effect::Query(Query::Delete(id)))
        }
        (Some(_), false) => {
            p.confirm_delete = true;
            state.error("Ctrl-D again deletes this conversation");
            None
        }
        (None, _) => None,
    }
}

/// Enter: opens the selected conversation, at its best match when the list is a search's.
fn open_selected(state: &mut AppState, p: &Picker) -> Option<Effect> {
    let item = p.items.get(p.selected)?;
    let conversation = item.summary.id;
    let words: Vec<String> = p.filter.text().split_whitespace().map(String::from).collect();
    match item.message {
        Some(message) if !words.is_empty() => {
            state.ui.hit = Some(Hit { message, words });
            Some(Effect::Query(Query::OpenAt { conversation, message }))
        }
        _ => {
            state.ui.hit = None;
            Some(Effect::Query(Query::Open(conversation)))
        }
    }
}
