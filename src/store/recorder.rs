//! The recorder: a thread that owns the history database for a front end and writes each
//! message of the current conversation as soon as it is complete, off the render path.

use std::path::PathBuf;

use super::{MessageState, NewConversation, NewMessage, Store, StoreError, StoredRole};

/// A write for the recorder.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordOp {
    /// The next message starts a new conversation with these facts (none is created until then).
    NewConversation(NewConversation),
    /// Records a message after the first `keep` messages of the current branch. A `keep` shorter
    /// than the branch makes the message a sibling (/retry, /edit), keeping the old ones.
    Append { keep: usize, role: StoredRole, content: String, state: MessageState, stats: Option<RecordStats> },
}

/// Figures stored with a reply.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordStats {
    pub tokens: i64,
    pub time_to_first_token_ms: i64,
    pub tokens_per_second: Option<f64>,
}

/// The recorder's state: the conversation and its current branch.
pub struct Recorder {
    store: Store,
    pending: NewConversation,
    conversation: Option<i64>,
    branch: Vec<i64>,
}

impl Recorder {
    /// Records into `store`; `resume` continues a stored conversation along `branch`.
    pub fn new(store: Store, pending: NewConversation, resume: Option<(i64, Vec<i64>)>) -> Self {
        let (conversation, branch) = match resume {
            Some((id, branch)) => (Some(id), branch),
            None => (None, Vec::new()),
        };
        Recorder { store, pending, conversation, branch }
    }

    /// The conversation being recorded, once it exists.
    pub fn conversation(&self) -> Option<i64> {
        self.conversation
    }

    /// Messages on the current branch.
    pub fn branch_len(&self) -> usize {
        self.branch.len()
    }

    /// Applies one write. Returns the conversation id.
    pub fn apply(&mut self, op: RecordOp) -> Result<Option<i64>, StoreError> {
        match op {
            RecordOp::NewConversation(new) => {
                self.pending = new;
                self.conversation = None;
                self.branch.clear();
            }
            RecordOp::Append { keep, role, content, state, stats } => {
                let conversation = match self.conversation {
                    Some(c) => c,
                    None => {
                        let c = self.store.create_conversation(&self.pending)?;
                        self.conversation = Some(c);
                        c
                    }
                };
                self.branch.truncate(keep);
                let message = NewMessage {
                    role,
                    content: &content,
                    state,
                    tokens: stats.map(|s| s.tokens),
                    time_to_first_token_ms: stats.map(|s| s.time_to_first_token_ms),
                    tokens_per_second: stats.and_then(|s| s.tokens_per_second),
                };
                let id = self.store.add_message(conversation, self.branch.last().copied(), &message)?;
                self.branch.push(id);
            }
        }
        Ok(self.conversation)
    }
}

/// Runs a recorder on its own thread. Results (the conversation id, or an error) go to `report`.
pub fn spawn(
    path: PathBuf,
    pending: NewConversation,
    resume: Option<(i64, Vec<i64>)>,
    report: impl Fn(Result<Option<i64>, String>) + Send + 'static,
) -> std::sync::mpsc::Sender<RecordOp> {
    let (tx, rx) = std::sync::mpsc::channel::<RecordOp>();
    let spawned = std::thread::Builder::new().name("ember-history".into()).spawn(move || {
        let mut recorder = match Store::open(&path) {
            Ok(store) => Recorder::new(store, pending, resume),
            Err(e) => {
                report(Err(e.to_string()));
                return;
            }
        };
        while let Ok(op) = rx.recv() {
            let result = recorder.apply(op).map_err(|e| e.to_string());
            let failed = result.is_err();
            report(result);
            if failed {
                // Keep the conversation going without history rather than fail every message.
                return;
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the history thread");
    }
    tx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(keep: usize, role: StoredRole, content: &str) -> RecordOp {
        RecordOp::Append { keep, role, content: content.into(), state: MessageState::Complete, stats: None }
    }

    #[test]
    fn records_lazily_and_branches_on_retry() {
        let store = Store::open_in_memory().unwrap();
        let mut r = Recorder::new(store, NewConversation::default(), None);
        assert_eq!(r.conversation(), None);
        let c = r.apply(append(0, StoredRole::User, "q")).unwrap().unwrap();
        r.apply(append(1, StoredRole::Assistant, "a1")).unwrap();
        // /retry: a new answer after the first message.
        r.apply(append(1, StoredRole::Assistant, "a2")).unwrap();
        let conv = r.store.load(c).unwrap();
        let texts: Vec<&str> = conv.messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts, vec!["q", "a2"]);
        assert_eq!(conv.messages[1].sibling, (2, 2));
        assert_eq!(conv.summary.messages, 3, "the replaced answer is kept");
        // A new conversation starts fresh.
        r.apply(RecordOp::NewConversation(NewConversation::default())).unwrap();
        let c2 = r.apply(append(0, StoredRole::User, "other")).unwrap().unwrap();
        assert_ne!(c, c2);
    }
}
