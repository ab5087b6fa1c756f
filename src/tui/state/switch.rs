//! Switching the model (`/model NAME`) or the context size (`/ctx N`) from the chat: the new
//! engine starts beside the one in use, which answers until the new one is ready and stays when
//! it fails.

use std::path::PathBuf;

use super::{AppState, Effect, ModelStatus, SwitchEvent};
use crate::conversation::EngineChange;
use crate::tui::transcript::{Author, EntryState};

/// The smallest context `/ctx` accepts: a system prompt, a question and an answer.
pub const MIN_CTX: u32 = 256;

impl AppState {
    /// `/model NAME`: find it first (off the render path), as `--model NAME` would.
    pub(super) fn switch_model(&mut self, name: String) -> Vec<Effect> {
        self.info(format!("looking for {name}…"));
        vec![Effect::ResolveModel(name)]
    }

    /// What `/model NAME` names: start it, or say why there is none (the model stays).
    pub(super) fn on_model_resolved(&mut self, name: &str, result: Result<PathBuf, String>) -> Vec<Effect> {
        match result {
            Ok(path) => self.restart(crate::models::display_name(&path), EngineChange::Model(path)),
            Err(reason) => {
                // The whole reason (the models found) in the transcript; its gist in the status.
                let model = self.model_name();
                let gist = reason.split(';').next().unwrap_or_default();
                self.transcript.push(
                    Author::Notice,
                    format!("{reason}.\n\nStill using {model}."),
                    EntryState::Complete,
                );
                self.error(format!("{gist} · still using {model}"));
                tracing::info!(name, "/model named no model");
                Vec::new()
            }
        }
    }

    /// `/ctx`: the context size; `/ctx N`: restart the engine with N tokens of context.
    pub(super) fn context_size(&mut self, size: Option<u32>) -> Vec<Effect> {
        let Some(n) = size else {
            let text = match &self.session.model {
                ModelStatus::Ready(info) => format!(
                    "context: {} tokens, {} in use (the model was trained on {}) · /ctx N changes it",
                    info.n_ctx, self.turns.context_used, info.n_ctx_train
                ),
                ModelStatus::Loading(_) | ModelStatus::Failed(_) => {
                    "the context size is known once a model is loaded".to_string()
                }
            };
            self.info(text);
            return Vec::new();
        };
        if let ModelStatus::Ready(info) = &self.session.model {
            if info.n_ctx == n as usize {
                self.info(format!("the context is already {n} tokens"));
                return Vec::new();
            }
        }
        self.restart(format!("{} with {n} tokens of context", self.model_name()), EngineChange::Ctx(n))
    }

    fn restart(&mut self, what: String, change: EngineChange) -> Vec<Effect> {
        self.info(format!("loading {what}…"));
        self.session.switching = Some(what);
        vec![Effect::Restart(change)]
    }

    /// The engine `/model` or `/ctx` started: loading, in use, or failed (the old one stays).
    pub(super) fn on_switch(&mut self, event: SwitchEvent) -> Vec<Effect> {
        match event {
            SwitchEvent::Loading(progress) => {
                if let Some(what) = &self.session.switching {
                    self.info(format!("loading {what} ({:.0}%)…", progress * 100.0));
                }
                Vec::new()
            }
            SwitchEvent::Ready(info) => {
                self.session.switching = None;
                if let Some(_turn) = self.turns.generating.take() {
                    // The engine that was answering has stopped: its Done never comes.
                    self.turns.reasoning_started = None;
                    self.transcript.finish_last(EntryState::Failed("stopped: the model was switched".into()));
                }
                let loaded = format!("loaded {} · ctx {}", info.name, info.n_ctx);
                self.session.model_path.clone_from(&info.path);
                let mut effects = self.on_ready(info);
                self.info(loaded);
                // The conversation's size with this model (its tokenizer may differ).
                effects.extend(self.count_conversation());
                effects
            }
            SwitchEvent::Failed(reason) => {
                let what = self.session.switching.take().unwrap_or_default();
                let reason = chat_words(reason.lines().next().unwrap_or_default());
                let still = match &self.session.model {
                    ModelStatus::Ready(info) => format!("still using {} · ctx {}", info.name, info.n_ctx),
                    ModelStatus::Loading(_) | ModelStatus::Failed(_) => "no model is loaded".to_string(),
                };
                self.transcript.push(
                    Author::Notice,
                    format!("Could not load {what}: {reason}\n\n{still}."),
                    EntryState::Complete,
                );
                self.load_error(format!("could not load {what}: {still}"));
                Vec::new()
            }
        }
    }
}

/// An engine error's advice, in words that work inside the chat: slash commands, not flags.
fn chat_words(text: &str) -> String {
    text.replace("--ctx", "/ctx").replace("--model", "/model")
}
