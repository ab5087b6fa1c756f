//! A turn from the composer to the engine and into history: the conversation as the model sees
//! it, sending, evaluating the message being typed ahead, saving messages, resuming.

use std::time::Instant;

use super::{AppEvent, AppState, Effect, ModelStatus, PREFILL_AFTER};
use crate::engine::{EngineEvent, Message, Role, SamplingParams, TurnRequest};
use crate::store::recorder::{RecordOp, RecordStats};
use crate::store::{MessageState, StoredRole};
use crate::tui::transcript::{Author, EntryState, Scroll};

impl AppState {
    /// Shows a stored conversation to continue it.
    pub fn resume(&mut self, conversation: &crate::store::Conversation) {
        self.session.conversation_id = Some(conversation.summary.id);
        if self.session.system_prompt.is_none() {
            self.session.system_prompt = conversation.system_prompt.clone();
        }
        for m in &conversation.messages {
            let (author, state) = match (m.role, m.state) {
                (StoredRole::User | StoredRole::System, _) => (Author::User, EntryState::Complete),
                (StoredRole::Assistant, MessageState::Complete) => (Author::Assistant, EntryState::Complete),
                (StoredRole::Assistant, MessageState::Stopped) => (Author::Assistant, EntryState::Stopped),
            };
            self.transcript.push(author, m.content.clone(), state);
            if let Some(reasoning) = &m.reasoning {
                // Shown folded, as a finished reply's thinking is.
                self.transcript.set_stored_thinking(self.transcript.len() - 1, reasoning);
            }
            if m.pinned {
                self.transcript.set_pinned(self.transcript.len() - 1, true);
            }
            if m.sibling.1 > 1 {
                self.transcript.set_versions(self.transcript.len() - 1, Some(m.sibling));
            }
        }
        let title = if conversation.summary.title.is_empty() { "untitled" } else { &conversation.summary.title };
        self.info(format!("continuing conversation {}: {title}", conversation.summary.id));
    }

    /// The index of the last entry that is saved in history.
    pub(super) fn last_recorded_entry(&self) -> Option<usize> {
        self.transcript.entries().iter().rposition(|e| {
            matches!(
                (e.author, &e.state),
                (Author::User, _) | (Author::Assistant, EntryState::Complete | EntryState::Stopped)
            )
        })
    }

    /// How many recorded messages (user, and finished assistant ones) precede entry `index`.
    pub(super) fn recorded_before(&self, index: usize) -> usize {
        self.transcript.entries()[..index.min(self.transcript.len())]
            .iter()
            .filter(|e| match (e.author, &e.state) {
                (Author::User, _) => true,
                (Author::Assistant, EntryState::Complete | EntryState::Stopped) => true,
                (Author::Assistant, EntryState::Streaming | EntryState::Failed(_)) | (Author::Notice, _) => false,
            })
            .count()
    }

    /// The effect that saves the last entry, when history is on.
    pub(super) fn record_last(
        &self,
        role: StoredRole,
        state: MessageState,
        stats: Option<RecordStats>,
    ) -> Option<Effect> {
        if !self.session.saving {
            return None;
        }
        let last = self.transcript.len().checked_sub(1)?;
        let entry = &self.transcript.entries()[last];
        let content = entry.content.clone();
        // The thinking is saved apart from the answer, never in it.
        let reasoning = entry.thinking.as_ref().map(|t| t.text.clone()).filter(|t| !t.trim().is_empty());
        Some(Effect::Record(RecordOp::Append {
            keep: self.recorded_before(last),
            role,
            content,
            state,
            stats,
            reasoning,
        }))
    }

    /// The conversation as the model sees it: system prompt, then finished user/assistant turns.
    pub fn conversation(&self) -> Vec<Message> {
        let mut out = Vec::with_capacity(self.transcript.len() + 1);
        if let Some(system) = self.session.system_prompt.as_ref().filter(|s| !s.trim().is_empty()) {
            out.push(Message::new(Role::System, system.clone()));
        }
        for entry in self.transcript.entries() {
            let role = match (entry.author, &entry.state) {
                (Author::User, _) => Role::User,
                (Author::Assistant, EntryState::Complete | EntryState::Stopped) => Role::Assistant,
                (Author::Assistant, EntryState::Streaming | EntryState::Failed(_)) | (Author::Notice, _) => continue,
            };
            let reasoning = entry.thinking.as_ref().map(|t| t.text.clone());
            out.push(Message::new(role, entry.content.clone()).with_reasoning(reasoning).with_pin(entry.pinned));
        }
        out
    }

    pub(super) fn start_turn(&mut self) -> Vec<Effect> {
        self.turns.last_turn += 1;
        let turn = self.turns.last_turn;
        let messages = self.conversation();
        self.transcript.push(Author::Assistant, "", EntryState::Streaming);
        self.turns.generating = Some(turn);
        self.turns.reasoning_started = None;
        self.turns.live = Some(super::LiveTurn::new((self.clock)()));
        self.ui.scroll = Scroll::Follow;
        // A different seed each turn, so /retry gives another answer (still reproducible for a
        // given --seed and sequence of turns).
        let sampling = SamplingParams {
            seed: self.session.sampling.seed.wrapping_add(turn as u32),
            ..self.session.sampling.clone()
        };
        vec![Effect::Generate(TurnRequest { turn, messages, sampling })]
    }

    /// The turn the composer's text would start, for the engine to evaluate ahead while the
    /// user is still typing; None when nothing would be sent now.
    pub fn prefill_request(&self) -> Option<TurnRequest> {
        let text = self.composer.text();
        let idle = self.turns.generating.is_none() && matches!(self.session.model, ModelStatus::Ready(_));
        if !idle || text.starts_with('/') || (text.trim().is_empty() && self.attachments.is_empty()) {
            return None;
        }
        let prompt = (!text.trim().is_empty()).then_some(text);
        let mut messages = self.conversation();
        messages.push(Message::new(
            Role::User,
            crate::conversation::attach::user_message(prompt, self.attachments.files()),
        ));
        Some(TurnRequest { turn: 0, messages, sampling: self.session.sampling.clone() })
    }

    /// When the loop should send [`AppEvent::Tick`] next, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.type_ahead.due, self.live_deadline()].into_iter().flatten().min()
    }

    /// Typing, or an answer ending while a message is already typed, restarts the pause.
    pub(super) fn restart_type_ahead_pause(&mut self, event: &AppEvent) {
        if matches!(event, AppEvent::Key(_) | AppEvent::Paste(_) | AppEvent::Engine(EngineEvent::Done { .. })) {
            self.type_ahead.due = Some((self.clock)() + PREFILL_AFTER);
        }
    }

    /// After the pause, the message being typed is evaluated ahead, unless it already was.
    pub(super) fn on_tick(&mut self) -> Vec<Effect> {
        let now = (self.clock)();
        if self.type_ahead.due.is_none_or(|due| now < due) {
            return Vec::new();
        }
        self.type_ahead.due = None;
        let Some(req) = self.prefill_request() else { return Vec::new() };
        if self.type_ahead.sent.as_ref() == Some(&req.messages) {
            return Vec::new();
        }
        self.type_ahead.sent = Some(req.messages.clone());
        vec![Effect::Prefill(req)]
    }

    pub(super) fn send(&mut self) -> Vec<Effect> {
        let text = self.composer.text().to_string();
        if text.trim().is_empty() && self.attachments.is_empty() {
            return Vec::new();
        }
        if text.starts_with('/') && self.attachments.is_empty() {
            self.composer.take();
            return self.command(&text);
        }
        if text.starts_with('!') {
            return self.run_command(&text);
        }
        if self.turns.generating.is_some() {
            self.error("still answering: wait, or press Esc to stop it");
            return Vec::new();
        }
        if let ModelStatus::Failed(_) = self.session.model {
            self.error("no model is loaded: /model PATH loads one");
            return Vec::new();
        }
        if let Some(effects) = self.read_mentions(&text) {
            return effects;
        }
        self.send_now(&text)
    }

    /// Sends `text` (the composer's) with the attachments: the message, its record, the turn.
    pub(super) fn send_now(&mut self, text: &str) -> Vec<Effect> {
        self.composer.take();
        let prompt = (!text.trim().is_empty()).then_some(text);
        let content = crate::conversation::attach::user_message(prompt, self.attachments.files());
        self.attachments.clear();
        self.transcript.push(Author::User, content, EntryState::Complete);
        self.ui.status = None;
        let mut effects: Vec<Effect> =
            self.record_last(StoredRole::User, MessageState::Complete, None).into_iter().collect();
        effects.extend(self.start_turn());
        effects
    }
}
