//! Engine events: loading, the model's facts, saved states, and a turn's text, reasoning and end.

use crate::engine::{EngineError, EngineEvent, ModelInfo, StateOp, StopReason, TurnStats};
use crate::render::earliest_messages;
use crate::store::recorder::{RecordOp, RecordStats};
use crate::store::{MessageState, StoredRole};
use crate::tui::transcript::{Author, EntryState};

use super::{AppState, Effect, ModelStatus};

/// Applies one engine event.
pub(super) fn on_engine(state: &mut AppState, event: EngineEvent) -> Vec<Effect> {
    // Events of a superseded turn are dropped by id, not by timing.
    if event.turn().is_some_and(|turn| Some(turn) != state.turns.generating) {
        return Vec::new();
    }
    match event {
        EngineEvent::Loading { progress } => {
            if !matches!(state.session.model, ModelStatus::Ready(_)) {
                state.session.model = ModelStatus::Loading(progress);
            }
            Vec::new()
        }
        EngineEvent::Ready(info) => {
            // A model loads: an error about loading one no longer holds (other errors stay).
            if state.ui.status.as_ref().is_some_and(|s| s.about_load) {
                state.ui.status = None;
            }
            state.on_ready(info)
        }
        EngineEvent::LoadFailed(error) => {
            state.on_load_failed(&error);
            Vec::new()
        }
        EngineEvent::State { op, result } => {
            state.on_state(op, result);
            Vec::new()
        }
        EngineEvent::Progress { done, total, context, .. } => {
            if let Some(live) = &mut state.turns.live {
                live.on_progress(done, total, context);
            }
            Vec::new()
        }
        EngineEvent::Delta { text, .. } => {
            let now = (state.clock)();
            state.on_piece(now);
            state.on_delta(&text, now);
            Vec::new()
        }
        // Shown apart from the answer, never part of it (nor of its code blocks).
        EngineEvent::Reasoning { text, .. } => {
            let now = (state.clock)();
            state.on_piece(now);
            let started = *state.turns.reasoning_started.get_or_insert(now);
            state.transcript.append_thinking(&text, now.saturating_duration_since(started));
            Vec::new()
        }
        EngineEvent::Counted { id, tokens } => {
            state.on_counted(id, tokens);
            Vec::new()
        }
        EngineEvent::Done { stats, stop, .. } => state.on_done(stats, stop),
        EngineEvent::Failed { error, .. } => state.on_failed(&error),
    }
}

impl AppState {
    pub(super) fn on_ready(&mut self, info: ModelInfo) -> Vec<Effect> {
        if let Some(notice) = &info.notice {
            self.transcript.push_before_streaming(Author::Notice, notice.clone());
        }
        let name = info.name.clone();
        self.session.model = ModelStatus::Ready(info);
        if let Some(notice) = self.reasoning_notice() {
            self.info(notice);
        }
        if self.session.saving {
            return vec![Effect::Record(RecordOp::NameModel(name))];
        }
        Vec::new()
    }

    fn on_load_failed(&mut self, error: &EngineError) {
        let text = error.to_string();
        if self.turns.generating.take().is_some() {
            self.transcript.finish_last(EntryState::Failed("no model".into()));
        }
        self.transcript.push(
            Author::Notice,
            format!(
                "The model could not be loaded.\n\n{}\n\nLoad another with /model PATH.",
                text.replace("\n  ", "\n\n")
            ),
            EntryState::Complete,
        );
        self.session.model = ModelStatus::Failed(text);
    }

    /// The engine's count `id`: the conversation's prompt for the ctx meter, or an attachment.
    fn on_counted(&mut self, id: u64, tokens: Result<usize, String>) {
        if self.turns.meter_count == Some(id) {
            self.turns.meter_count = None;
            if let (Ok(n), None) = (tokens, self.turns.generating) {
                self.turns.context_used = n;
            }
        } else if let Some(index) = self.attachments.counted_by(id) {
            self.on_attachment_counted(index, tokens);
        }
    }

    /// Asks the engine how much of the context the conversation takes, for the ctx meter when
    /// no turn has measured it with this model (a switch, a conversation opened).
    pub(super) fn count_conversation(&mut self) -> Vec<Effect> {
        let messages = self.conversation();
        if messages.iter().all(|m| m.role == crate::engine::Role::System) {
            self.turns.meter_count = None;
            return Vec::new();
        }
        let id = self.turns.next_count();
        self.turns.meter_count = Some(id);
        vec![Effect::Count(id, crate::engine::Countable::Prompt(messages))]
    }

    /// A saved context loaded or saved, or the message being typed evaluated ahead.
    fn on_state(&mut self, op: StateOp, result: Result<usize, String>) {
        match (op, result) {
            (StateOp::Load, Ok(tokens)) => {
                self.turns.context_used = tokens;
                self.info(format!("resumed with {tokens} tokens of context already evaluated"));
            }
            (StateOp::Load, Err(_)) => {}
            (StateOp::Save, result) => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, "saving the context failed");
                }
            }
            (StateOp::Prefill, result) => {
                tracing::debug!(?result, "the message being typed evaluated ahead")
            }
        }
    }

    /// A piece of the answer or its reasoning: the live meter and speed move.
    fn on_piece(&mut self, now: std::time::Instant) {
        if let Some(live) = &mut self.turns.live {
            live.on_piece(now);
        }
    }

    fn on_delta(&mut self, text: &str, now: std::time::Instant) {
        let thinking = self.transcript.entries().last().and_then(|e| e.thinking.as_ref());
        if thinking.is_some_and(|t| t.live) && !text.trim().is_empty() {
            // The answer begins: the thinking folds to one line.
            let time = self.turns.reasoning_started.map(|t| now.saturating_duration_since(t));
            self.transcript.end_thinking(time.unwrap_or_default());
        }
        self.transcript.append(text);
    }

    fn on_done(&mut self, stats: TurnStats, stop: StopReason) -> Vec<Effect> {
        self.turns.generating = None;
        self.turns.live = None;
        // The turn measured the context: an older count must not replace it.
        self.turns.meter_count = None;
        self.turns.reasoning_started = None;
        let figures = (stats.reasoning_tokens > 0).then_some((stats.reasoning_tokens, stats.reasoning_time));
        self.transcript.finish_thinking(figures);
        let (entry_state, stored) = if stop == StopReason::Cancelled {
            (EntryState::Stopped, MessageState::Stopped)
        } else {
            (EntryState::Complete, MessageState::Complete)
        };
        self.transcript.finish_last(entry_state);
        if stats.prompt_tokens > 0 {
            // (A turn cancelled before it began reports nothing: the context is as it was.)
            self.turns.context_used = stats.prompt_tokens + stats.generated_tokens;
        }
        let newly_dropped = stats.dropped_messages > self.turns.dropped_messages;
        self.turns.dropped_messages = stats.dropped_messages;
        let record = RecordStats::from(&stats);
        let effects: Vec<Effect> = self.record_last(StoredRole::Assistant, stored, Some(record)).into_iter().collect();
        self.say_why_it_stopped(stop);
        if newly_dropped {
            self.say_context_dropped(&stats);
        }
        self.turns.last_stats = Some(stats);
        effects
    }

    /// The status line after an answer: why it stopped, unless it simply ended.
    fn say_why_it_stopped(&mut self, stop: StopReason) {
        match stop {
            StopReason::MaxTokens => self.info("the answer was cut at the token limit"),
            StopReason::ContextFull => self.error("the context is full: /new starts afresh"),
            StopReason::Cancelled => self.info("stopped"),
            StopReason::EndOfText | StopReason::StopString => {
                if self.ui.status.as_ref().is_some_and(|s| !s.error) {
                    self.ui.status = None;
                }
            }
        }
    }

    /// Never forget silently: say when earlier turns leave the model's view.
    fn say_context_dropped(&mut self, stats: &TurnStats) {
        self.transcript.push(
            Author::Notice,
            if stats.summarized {
                format!(
                    "The context is full: {} replaced by a summary the model wrote (they stay in the transcript and in history). /new starts afresh.",
                    earliest_messages(stats.dropped_messages)
                )
            } else {
                format!(
                    "The context is full: {} left out of the model's view (they stay in the transcript and in history). /pin keeps a turn; /new starts afresh.",
                    earliest_messages(stats.dropped_messages)
                )
            },
            EntryState::Complete,
        );
    }

    fn on_failed(&mut self, error: &EngineError) -> Vec<Effect> {
        self.turns.generating = None;
        self.turns.live = None;
        self.turns.reasoning_started = None;
        self.transcript.finish_thinking(None);
        let partial = self.transcript.entries().last().is_some_and(|e| !e.content.trim().is_empty());
        if !partial {
            self.transcript.finish_last(EntryState::Failed(error.to_string()));
            self.error("the answer failed: see the transcript");
            return Vec::new();
        }
        // What streamed before the failure (a server that went away mid-answer) is kept and
        // saved, as a stopped answer is; the error follows it.
        self.transcript.finish_last(EntryState::Stopped);
        let effects: Vec<Effect> =
            self.record_last(StoredRole::Assistant, MessageState::Stopped, None).into_iter().collect();
        self.transcript.push(Author::Notice, format!("the answer was cut: {error}"), EntryState::Complete);
        self.error("the answer was cut: see the transcript");
        effects
    }
}
