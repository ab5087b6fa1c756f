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
    /// `reasoning`: a reasoning model's thinking before the answer, stored apart from it.
    Append {
        keep: usize,
        role: StoredRole,
        content: String,
        state: MessageState,
        stats: Option<RecordStats>,
        reasoning: Option<String>,
    },
    /// The model's name, known once the engine is ready (a server's model when none was named):
    /// the label of a conversation not created yet. A conversation that exists keeps its own.
    NameModel(String),
    /// Pins (or unpins) the message at this position of the current branch.
    Pin { index: usize, pinned: bool },
    /// ember wrote a file from this conversation (`/apply`): kept for `/undo`.
    Edit(super::edits::FileEdit),
}

/// A question for the history thread from the session picker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// Conversations newest first, or those matching `filter` (full text). `generation` pairs
    /// the answer with the filter it was for.
    List {
        filter: String,
        generation: u64,
    },
    /// Continue conversation `id`: it becomes the one recorded into.
    Open(i64),
    /// Continue `conversation` at the version that holds `message` (a search hit).
    OpenAt {
        conversation: i64,
        message: i64,
    },
    Delete(i64),
    Rename(i64, String),
    /// Write the current conversation to `path` as Markdown (or JSON when `json`).
    Export {
        path: PathBuf,
        json: bool,
    },
    /// Show another version of the message at position `keep` of the current branch (an
    /// earlier or later /retry or /edit): `forward` picks the next sibling, else the previous.
    Sibling {
        keep: usize,
        forward: bool,
    },
    /// Undo the current conversation's latest edit to a file.
    Undo,
}

/// One line of the session picker.
#[derive(Debug, Clone, PartialEq)]
pub struct PickerItem {
    pub summary: super::ConversationSummary,
    /// The best matching text when filtering.
    pub snippet: Option<String>,
    /// The message that text is from.
    pub message: Option<i64>,
}

/// What the history thread says back.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A write was done (the conversation id) or failed (history is then off).
    Recorded(Result<Option<i64>, String>),
    Listed {
        generation: u64,
        result: Result<Vec<PickerItem>, String>,
    },
    Opened(Result<super::Conversation, String>),
    /// A delete or rename was done.
    Changed(Result<(), String>),
    /// The message just recorded has siblings: it is version `.0` of `.1`.
    Versions(usize, usize),
    /// The conversation was exported (the path written).
    Exported(Result<PathBuf, String>),
    /// `/undo` was done (what, in words) or not (why).
    Undone(Result<String, String>),
}

/// Everything the history thread takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Record(RecordOp),
    Query(Query),
}

/// Figures stored with a reply.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordStats {
    pub tokens: i64,
    pub time_to_first_token_ms: i64,
    pub tokens_per_second: Option<f64>,
}

impl From<&crate::engine::TurnStats> for RecordStats {
    fn from(stats: &crate::engine::TurnStats) -> Self {
        RecordStats {
            tokens: stats.generated_tokens as i64,
            time_to_first_token_ms: stats.time_to_first_token.as_millis() as i64,
            tokens_per_second: stats.generation_tps(),
        }
    }
}

/// The recorder's state: the conversation and its current branch.
pub struct Recorder {
    store: Store,
    /// Where saved contexts live, to delete them with their conversation.
    kv_dir: Option<PathBuf>,
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
        Recorder { store, kv_dir: None, pending, conversation, branch }
    }

    /// Deletes saved contexts under `dir` along with their conversations.
    pub fn with_kv_dir(mut self, dir: PathBuf) -> Self {
        self.kv_dir = Some(dir);
        self
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
            RecordOp::Append { keep, role, content, state, stats, reasoning } => {
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
                    reasoning: reasoning.as_deref(),
                };
                let id = self.store.add_message(conversation, self.branch.last().copied(), &message)?;
                self.branch.push(id);
            }
            RecordOp::Pin { index, pinned } => {
                if let Some(&id) = self.branch.get(index) {
                    self.store.set_pinned(id, pinned)?;
                }
            }
            RecordOp::NameModel(name) => self.pending.model = name,
            RecordOp::Edit(edit) => {
                // The front end sends edits only once the conversation is saved.
                if let Some(c) = self.conversation {
                    self.store.add_edit(c, &edit)?;
                }
            }
        }
        Ok(self.conversation)
    }

    /// Answers a picker question.
    pub fn query(&mut self, query: Query) -> Reply {
        match query {
            Query::List { filter, generation } => {
                let result = self.list(&filter).map_err(|e| e.to_string());
                Reply::Listed { generation, result }
            }
            Query::Open(id) => Reply::Opened(
                self.store
                    .load(id)
                    .inspect(|c| {
                        self.conversation = Some(id);
                        self.branch = c.messages.iter().map(|m| m.id).collect();
                    })
                    .map_err(|e| e.to_string()),
            ),
            Query::OpenAt { conversation, message } => {
                Reply::Opened(self.open_at(conversation, message).map_err(|e| e.to_string()))
            }
            Query::Delete(id) => {
                if self.conversation == Some(id) {
                    self.conversation = None;
                    self.branch.clear();
                }
                let result = self.store.delete(id).map_err(|e| e.to_string());
                if let (Ok(()), Some(dir)) = (&result, &self.kv_dir) {
                    super::kv::remove_for(dir, id);
                }
                Reply::Changed(result)
            }
            Query::Rename(id, title) => Reply::Changed(self.store.rename(id, &title).map_err(|e| e.to_string())),
            Query::Export { path, json } => Reply::Exported(self.export(path, json)),
            Query::Sibling { keep, forward } => Reply::Opened(self.sibling(keep, forward).map_err(|e| e.to_string())),
            Query::Undo => Reply::Undone(match self.conversation {
                Some(c) => self.store.undo_last_edit(c),
                None => Err("nothing to undo: this conversation is not saved yet".into()),
            }),
        }
    }

    /// Loads `conversation` along the version that holds `message`: a search hit in an
    /// earlier answer (before a /retry) makes that version the current one.
    fn open_at(&mut self, conversation: i64, message: i64) -> Result<super::Conversation, StoreError> {
        let mut loaded = self.store.load(conversation)?;
        if !loaded.messages.iter().any(|m| m.id == message) {
            let leaf = self.store.newest_leaf_under(message)?;
            self.store.set_leaf(conversation, Some(leaf))?;
            loaded = self.store.load(conversation)?;
        }
        self.conversation = Some(conversation);
        self.branch = loaded.messages.iter().map(|m| m.id).collect();
        Ok(loaded)
    }

    fn sibling(&mut self, keep: usize, forward: bool) -> Result<super::Conversation, StoreError> {
        let (Some(conversation), Some(&id)) = (self.conversation, self.branch.get(keep)) else {
            return Err(StoreError::Sql("that message is not saved".into()));
        };
        let siblings = self.store.siblings(id)?;
        let at = siblings.iter().position(|&s| s == id).unwrap_or(0);
        let target = if forward { siblings.get(at + 1) } else { at.checked_sub(1).and_then(|i| siblings.get(i)) };
        let Some(&target) = target else {
            return Err(StoreError::Sql(format!("no {} version", if forward { "later" } else { "earlier" })));
        };
        let leaf = self.store.newest_leaf_under(target)?;
        self.store.set_leaf(conversation, Some(leaf))?;
        let loaded = self.store.load(conversation)?;
        self.branch = loaded.messages.iter().map(|m| m.id).collect();
        Ok(loaded)
    }

    fn export(&self, path: PathBuf, json: bool) -> Result<PathBuf, String> {
        let id = self.conversation.ok_or("nothing saved yet to export")?;
        let conversation = self.store.load(id).map_err(|e| e.to_string())?;
        let text = if json { super::export::json(&conversation) } else { super::export::markdown(&conversation) };
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }

    /// Versions of the last recorded message, when it has siblings.
    fn versions_of_last(&self) -> Option<(usize, usize)> {
        let id = *self.branch.last()?;
        let siblings = self.store.siblings(id).ok()?;
        let at = siblings.iter().position(|&s| s == id)?;
        (siblings.len() > 1).then_some((at + 1, siblings.len()))
    }

    fn list(&self, filter: &str) -> Result<Vec<PickerItem>, StoreError> {
        if filter.trim().is_empty() {
            return Ok(self
                .store
                .list(200)?
                .into_iter()
                .map(|summary| PickerItem { summary, snippet: None, message: None })
                .collect());
        }
        // Best hit per conversation, in rank order.
        let mut seen = std::collections::HashSet::new();
        let mut items = Vec::new();
        for hit in self.store.search(filter, 200)? {
            if !seen.insert(hit.conversation_id) {
                continue;
            }
            let summary = self.store.summary(hit.conversation_id)?;
            items.push(PickerItem { summary, snippet: Some(hit.snippet), message: Some(hit.message_id) });
        }
        Ok(items)
    }
}

/// The history thread: send it requests; dropping it waits for the writes already sent, so a
/// message completed just before quitting is not lost.
pub struct HistoryThread {
    requests: Option<std::sync::mpsc::Sender<Request>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HistoryThread {
    /// Sends a request; false when the thread has stopped (after an error it reported).
    pub fn send(&self, request: Request) -> bool {
        self.requests.as_ref().is_some_and(|tx| tx.send(request).is_ok())
    }
}

impl Drop for HistoryThread {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether a later request in `queued` makes `request` pointless: a picker list whose filter
/// the user has already typed past (each key asks again; at 10,000 conversations a common word
/// costs ~20 ms, so answering every key in turn left the last answer behind the stale ones).
fn superseded(request: &Request, queued: &std::collections::VecDeque<Request>) -> bool {
    matches!(request, Request::Query(Query::List { .. }))
        && queued.iter().any(|r| matches!(r, Request::Query(Query::List { .. })))
}

/// Runs a recorder on its own thread; what it says back goes to `report`.
pub fn spawn(
    path: PathBuf,
    kv_dir: PathBuf,
    pending: NewConversation,
    resume: Option<(i64, Vec<i64>)>,
    report: impl Fn(Reply) + Send + 'static,
) -> HistoryThread {
    let (tx, rx) = std::sync::mpsc::channel::<Request>();
    let spawned = std::thread::Builder::new().name("ember-history".into()).spawn(move || {
        let mut recorder = match Store::open(&path) {
            Ok(store) => Recorder::new(store, pending, resume).with_kv_dir(kv_dir),
            Err(e) => {
                report(Reply::Recorded(Err(e.to_string())));
                return;
            }
        };
        // Requests not yet handled, oldest first: what arrived while the last one ran.
        let mut queued = std::collections::VecDeque::new();
        loop {
            let request = match queued.pop_front() {
                Some(request) => request,
                None => match rx.recv() {
                    Ok(request) => request,
                    Err(_) => break,
                },
            };
            queued.extend(rx.try_iter());
            if superseded(&request, &queued) {
                continue;
            }
            match request {
                Request::Record(op) => {
                    let appended = matches!(op, RecordOp::Append { .. });
                    let result = recorder.apply(op).map_err(|e| e.to_string());
                    let failed = result.is_err();
                    report(Reply::Recorded(result));
                    if let (false, true, Some((at, of))) = (failed, appended, recorder.versions_of_last()) {
                        report(Reply::Versions(at, of));
                    }
                    if failed {
                        // Keep the conversation going without history rather than fail every message.
                        return;
                    }
                }
                Request::Query(query) => report(recorder.query(query)),
            }
        }
    });
    let thread = match spawned {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the history thread");
            None
        }
    };
    HistoryThread { requests: Some(tx), thread }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(keep: usize, role: StoredRole, content: &str) -> RecordOp {
        RecordOp::Append {
            keep,
            role,
            content: content.into(),
            state: MessageState::Complete,
            stats: None,
            reasoning: None,
        }
    }

    #[test]
    fn a_newer_list_query_replaces_an_older_one_and_nothing_else_does() {
        let list = |generation| Request::Query(Query::List { filter: "f".into(), generation });
        let queued: std::collections::VecDeque<_> = [Request::Record(append(0, StoredRole::User, "x")), list(2)].into();
        assert!(superseded(&list(1), &queued));
        assert!(!superseded(&list(3), &std::collections::VecDeque::new()));
        assert!(!superseded(&Request::Query(Query::Open(1)), &queued), "only lists are replaced");
        assert!(!superseded(&Request::Record(append(0, StoredRole::User, "y")), &queued), "writes never are");
    }

    #[test]
    fn typing_fast_in_the_picker_ends_with_the_last_filter_answered() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread =
            spawn(dir.path().join("h.db"), dir.path().join("kv"), NewConversation::default(), None, move |r| {
                let _ = tx.send(r);
            });
        for (generation, filter) in ["f", "fu", "fun", "func"].iter().enumerate() {
            assert!(
                thread.send(Request::Query(Query::List { filter: (*filter).into(), generation: generation as u64 }))
            );
        }
        let mut last = None;
        while let Ok(reply) = rx.recv_timeout(std::time::Duration::from_secs(5)) {
            if let Reply::Listed { generation, .. } = reply {
                last = Some(generation);
                if generation == 3 {
                    break;
                }
            }
        }
        assert_eq!(last, Some(3));
    }

    #[test]
    fn the_model_named_when_ready_labels_only_a_conversation_not_yet_created() {
        let store = Store::open_in_memory().unwrap();
        let pending = NewConversation { model: "http://127.0.0.1:8080/v1".into(), ..NewConversation::default() };
        let mut r = Recorder::new(store, pending, None);
        r.apply(RecordOp::NameModel("qwen3-8b".into())).unwrap();
        let id = r.apply(append(0, StoredRole::User, "hi")).unwrap().unwrap();
        assert_eq!(r.store.summary(id).unwrap().model, "qwen3-8b");
        r.apply(RecordOp::NameModel("other".into())).unwrap();
        r.apply(append(1, StoredRole::Assistant, "hello")).unwrap();
        assert_eq!(r.store.summary(id).unwrap().model, "qwen3-8b", "an existing conversation keeps its label");
    }

    #[test]
    fn a_search_hit_in_an_earlier_version_opens_that_version() {
        let mut r = Recorder::new(Store::open_in_memory().unwrap(), NewConversation::default(), None);
        let c = r.apply(append(0, StoredRole::User, "name a striped animal")).unwrap().unwrap();
        r.apply(append(1, StoredRole::Assistant, "a zebra")).unwrap();
        // /retry: a second answer beside the first becomes the current version.
        r.apply(append(1, StoredRole::Assistant, "a tiger")).unwrap();
        let Reply::Listed { result: Ok(found), .. } = r.query(Query::List { filter: "zebra".into(), generation: 1 })
        else {
            panic!()
        };
        let message = found[0].message.unwrap();
        let Reply::Opened(Ok(opened)) = r.query(Query::OpenAt { conversation: c, message }) else { panic!() };
        assert_eq!(
            opened.messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
            ["name a striped animal", "a zebra"]
        );
        assert_eq!(opened.messages[1].id, message);
        // Recording continues from the version shown.
        r.apply(append(2, StoredRole::User, "and its colours?")).unwrap();
        assert_eq!(r.store.load(c).unwrap().messages[1].content, "a zebra");
    }

    #[test]
    fn picker_queries_list_search_open_and_delete() {
        let store = Store::open_in_memory().unwrap();
        let mut r = Recorder::new(store, NewConversation::default(), None);
        let c1 = r.apply(append(0, StoredRole::User, "rust borrow checker")).unwrap().unwrap();
        r.apply(RecordOp::NewConversation(NewConversation::default())).unwrap();
        let c2 = r.apply(append(0, StoredRole::User, "python lists")).unwrap().unwrap();
        let Reply::Listed { generation: 4, result: Ok(all) } =
            r.query(Query::List { filter: String::new(), generation: 4 })
        else {
            panic!()
        };
        assert_eq!(all.iter().map(|i| i.summary.id).collect::<Vec<_>>(), vec![c2, c1]);
        let Reply::Listed { result: Ok(found), .. } = r.query(Query::List { filter: "borr".into(), generation: 5 })
        else {
            panic!()
        };
        assert_eq!(found.len(), 1);
        assert!(found[0].snippet.as_deref().unwrap().contains("[borrow]"));
        // Opening switches recording to it: the next message continues that conversation.
        assert!(matches!(r.query(Query::Open(c1)), Reply::Opened(Ok(_))));
        r.apply(append(1, StoredRole::Assistant, "it checks borrows")).unwrap();
        assert_eq!(r.store.load(c1).unwrap().messages.len(), 2);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("c.md");
        assert_eq!(r.query(Query::Export { path: out.clone(), json: false }), Reply::Exported(Ok(out.clone())));
        assert!(std::fs::read_to_string(&out).unwrap().contains("it checks borrows"));
        assert_eq!(r.query(Query::Delete(c1)), Reply::Changed(Ok(())));
        assert_eq!(r.conversation(), None, "deleting the open conversation starts afresh");
    }

    #[test]
    fn siblings_switch_the_branch_and_follow_its_newest_leaf() {
        let store = Store::open_in_memory().unwrap();
        let mut r = Recorder::new(store, NewConversation::default(), None);
        r.apply(append(0, StoredRole::User, "q")).unwrap();
        r.apply(append(1, StoredRole::Assistant, "first answer")).unwrap();
        r.apply(append(2, StoredRole::User, "follow-up")).unwrap();
        r.apply(append(1, StoredRole::Assistant, "second answer")).unwrap();
        assert_eq!(r.versions_of_last(), Some((2, 2)));
        let Reply::Opened(Ok(back)) = r.query(Query::Sibling { keep: 1, forward: false }) else { panic!() };
        let texts: Vec<&str> = back.messages.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts, vec!["q", "first answer", "follow-up"], "the old branch comes back whole");
        assert_eq!(back.messages[1].sibling, (1, 2));
        assert!(matches!(r.query(Query::Sibling { keep: 1, forward: false }), Reply::Opened(Err(_))));
        let Reply::Opened(Ok(fwd)) = r.query(Query::Sibling { keep: 1, forward: true }) else { panic!() };
        assert_eq!(fwd.messages.last().unwrap().content, "second answer");
        // Recording continues on the branch now shown.
        r.apply(append(2, StoredRole::User, "next")).unwrap();
        let now = r.store.load(fwd.summary.id).unwrap();
        assert_eq!(
            now.messages.iter().map(|m| m.content.as_str()).collect::<Vec<_>>(),
            vec!["q", "second answer", "next"]
        );
    }

    #[test]
    fn an_answers_thinking_is_recorded_with_it() {
        let store = Store::open_in_memory().unwrap();
        let mut r = Recorder::new(store, NewConversation::default(), None);
        let c = r.apply(append(0, StoredRole::User, "q")).unwrap().unwrap();
        let op = RecordOp::Append {
            keep: 1,
            role: StoredRole::Assistant,
            content: "a".into(),
            state: MessageState::Complete,
            stats: None,
            reasoning: Some("thinking it over".into()),
        };
        r.apply(op).unwrap();
        let conv = r.store.load(c).unwrap();
        assert_eq!(conv.messages[1].reasoning.as_deref(), Some("thinking it over"));
        assert_eq!(conv.messages[0].reasoning, None);
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
