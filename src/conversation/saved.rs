//! Saved contexts: a conversation's evaluated model context kept on disk (`store::kv`), so that
//! continuing it makes the first answer start at once instead of re-reading the whole chat.
//! Pipe mode and the TUI resume and save through here.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::engine::{EngineEvent, EngineHandle, StateOp};
use crate::store::kv;

/// The folder of saved contexts, and the model they are saved for.
#[derive(Debug, Clone)]
pub struct SavedContexts {
    dir: PathBuf,
    model: PathBuf,
}

impl SavedContexts {
    pub fn new(dir: PathBuf, model: PathBuf) -> Self {
        SavedContexts { dir, model }
    }

    /// Later contexts belong to this model (after `/model`).
    pub fn set_model(&mut self, model: PathBuf) {
        self.model = model;
    }

    fn path(&self, conversation: i64) -> PathBuf {
        kv::state_path(&self.dir, conversation, &self.model)
    }

    /// Has the engine load the conversation's saved context, if there is one. The engine answers
    /// with an `EngineEvent::State`; a stale or broken file costs only re-evaluation.
    pub fn resume(&self, engine: &EngineHandle, conversation: i64) {
        let path = self.path(conversation);
        if path.exists() {
            kv::touch(&path);
            let _ = engine.load_state(path);
        }
    }

    /// Asks the engine to save the context it holds for `conversation` (answered later by an
    /// `EngineEvent::State`). False when the engine thread is gone.
    pub fn request_save(&self, engine: &EngineHandle, conversation: i64) -> bool {
        engine.save_state(self.path(conversation)).is_ok()
    }

    /// Saves the context and waits (up to `limit`) for it to be written, then keeps the folder
    /// under its cap. `None` when the engine did not answer in time.
    pub async fn save(
        &self,
        engine: &EngineHandle,
        events: &mut UnboundedReceiver<EngineEvent>,
        conversation: i64,
        limit: Duration,
    ) -> Option<Result<usize, String>> {
        if !self.request_save(engine, conversation) {
            return None;
        }
        let result = wait_state(events, limit).await;
        kv::prune(&self.dir, kv::DEFAULT_CAP_BYTES);
        result
    }
}

/// Waits (up to `limit`) for the answer to a save-state command.
async fn wait_state(events: &mut UnboundedReceiver<EngineEvent>, limit: Duration) -> Option<Result<usize, String>> {
    let wait = async {
        while let Some(event) = events.recv().await {
            // Only the save's answer: a prefill still running when the user quit answers too.
            if let EngineEvent::State { op: StateOp::Save, result } = event {
                return Some(result);
            }
        }
        None
    };
    tokio::time::timeout(limit, wait).await.ok().flatten()
}
