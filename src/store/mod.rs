//! Conversations in SQLite: schema and migrations, saving messages as they complete, listing,
//! full-text search, branches.
//!
//! One file in the XDG data dir, in WAL mode with a busy timeout, so two ember processes can use
//! it at once. Every write is its own transaction: a process killed mid-reply loses at most that
//! reply. Messages form a tree (`parent_id`): /retry and /edit add siblings instead of deleting,
//! and a conversation remembers which leaf is current.
//!
//! [`export`] writes a conversation as Markdown or JSON; [`cmd`] is the `ember history` command.

pub mod cmd;
pub mod edits;
pub mod export;
pub mod kv;
pub mod recorder;
mod schema;
mod search;

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

pub use schema::SCHEMA_VERSION;

/// Why the store failed, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the history database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("cannot create the folder {path} for the history database: {reason}")]
    Folder { path: String, reason: String },
    #[error("the history database {path} is locked by another program (another ember, or a tool holding it open) and stayed locked for 5 s; close it or try again")]
    Locked { path: String },
    #[error("the history database {path} is damaged ({reason}).\n  Move it aside (mv '{path}' '{path}.bad') and ember starts a new one; nothing is deleted.")]
    Corrupt { path: String, reason: String },
    #[error(
        "the history database was written by a newer ember (schema {found}, this one knows {known}); upgrade ember"
    )]
    TooNew { found: i64, known: i64 },
    #[error("the history database is busy (another ember is writing); try again")]
    Busy,
    #[error("no conversation {0}")]
    NoConversation(i64),
    #[error("history: {0}")]
    Sql(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => StoreError::Busy,
            _ => StoreError::Sql(e.to_string()),
        }
    }
}

/// Who wrote a stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredRole {
    System,
    User,
    Assistant,
}

impl StoredRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StoredRole::System => "system",
            StoredRole::User => "user",
            StoredRole::Assistant => "assistant",
        }
    }
    fn parse(s: &str) -> StoredRole {
        match s {
            "system" => StoredRole::System,
            "assistant" => StoredRole::Assistant,
            _ => StoredRole::User,
        }
    }
}

/// How a stored message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    Complete,
    /// Cancelled while generating: the partial text is kept.
    Stopped,
}

impl MessageState {
    fn as_str(self) -> &'static str {
        match self {
            MessageState::Complete => "complete",
            MessageState::Stopped => "stopped",
        }
    }
    fn parse(s: &str) -> MessageState {
        if s == "stopped" {
            MessageState::Stopped
        } else {
            MessageState::Complete
        }
    }
}

/// A message to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage<'a> {
    pub role: StoredRole,
    pub content: &'a str,
    pub state: MessageState,
    /// Tokens of this message (the reply's generated tokens), when known.
    pub tokens: Option<i64>,
    pub time_to_first_token_ms: Option<i64>,
    pub tokens_per_second: Option<f64>,
    /// A reasoning model's thinking before the answer (never searched); empty is none.
    pub reasoning: Option<&'a str>,
}

impl<'a> NewMessage<'a> {
    pub fn new(role: StoredRole, content: &'a str) -> Self {
        NewMessage {
            role,
            content,
            state: MessageState::Complete,
            tokens: None,
            time_to_first_token_ms: None,
            tokens_per_second: None,
            reasoning: None,
        }
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub role: StoredRole,
    pub content: String,
    pub state: MessageState,
    pub tokens: Option<i64>,
    pub created_at: i64,
    /// Position among its siblings (1-based) and how many there are: "2/3".
    pub sibling: (usize, usize),
    /// Kept in the context when older turns leave it.
    pub pinned: bool,
    /// A reasoning model's thinking before the answer, if it thought.
    pub reasoning: Option<String>,
}

/// What starts a conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewConversation {
    pub model: String,
    pub system_prompt: Option<String>,
    pub cwd: String,
}

/// One line of the conversation list.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationSummary {
    pub id: i64,
    pub title: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub model: String,
    pub messages: i64,
    pub cwd: String,
}

/// A conversation along its current branch.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub summary: ConversationSummary,
    pub system_prompt: Option<String>,
    /// From the root to the current leaf.
    pub messages: Vec<StoredMessage>,
}

/// A search result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub conversation_id: i64,
    pub title: String,
    pub message_id: i64,
    pub role: StoredRole,
    /// The matching text with matches between `[` and `]`.
    pub snippet: String,
    pub updated_at: i64,
    /// How many other messages of the conversation match too.
    pub more: usize,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A title from the first user message: the first line of its question, at most 60
/// characters. Attached files and piped input (`label:` then a fenced block, as the front ends
/// attach them) are passed over; a message that is nothing but attachments is titled by the
/// first line of their contents.
pub fn title_from(text: &str) -> String {
    let question = after_attachments(text);
    let only_attachments = question.trim().is_empty();
    let source = if only_attachments { text } else { question };
    let line = source
        .lines()
        .map(str::trim)
        .find(|l| !(l.is_empty() || l.starts_with("```") || (only_attachments && is_attachment_label(l))))
        .unwrap_or("");
    let mut title: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        title.push('…');
    }
    title
}

/// A line that labels an attachment: a name followed by `:` (the fence comes next).
fn is_attachment_label(line: &str) -> bool {
    line.ends_with(':') && !line.contains(' ')
}

/// What follows the attachments a message starts with (each `label:`, then a block fenced with
/// three or more backticks).
fn after_attachments(text: &str) -> &str {
    let mut rest = text.trim_start_matches('\n');
    loop {
        let mut lines = rest.split_inclusive('\n');
        let (Some(label), Some(open)) = (lines.next(), lines.next()) else { return rest };
        let fence: String = open.chars().take_while(|&c| c == '`').collect();
        if !label.trim_end().ends_with(':') || fence.len() < 3 {
            return rest;
        }
        let mut used = label.len() + open.len();
        let mut closed = false;
        for line in lines {
            used += line.len();
            if line.trim_end() == fence {
                closed = true;
                break;
            }
        }
        if !closed {
            return "";
        }
        rest = rest[used..].trim_start_matches('\n');
    }
}

/// The history database.
pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Folder { path: dir.display().to_string(), reason: e.to_string() })?;
        }
        let conn =
            Connection::open(path).map_err(|e| StoreError::Open { path: shown.clone(), reason: e.to_string() })?;
        Store::setup(conn, &shown)
    }

    /// A private in-memory database (tests, `--no-history` is handled by not opening one).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory()
            .map_err(|e| StoreError::Open { path: ":memory:".into(), reason: e.to_string() })?;
        Store::setup(conn, ":memory:")
    }

    fn setup(conn: Connection, shown: &str) -> Result<Store, StoreError> {
        let corrupt = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                StoreError::Corrupt { path: shown.to_string(), reason: e.to_string() }
            }
            _ => StoreError::from(e),
        };
        conn.busy_timeout(Duration::from_secs(5)).map_err(corrupt)?;
        let mut store = Store { conn };
        // Two processes opening a new database at once can get SQLITE_BUSY without the busy
        // handler being consulted (switching to WAL needs an exclusive lock): retry, bounded.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            match store.prepare(shown, &corrupt) {
                Err(StoreError::Busy) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(StoreError::Busy) => return Err(StoreError::Locked { path: shown.to_string() }),
                done => return done.map(|()| store),
            }
        }
    }

    /// Journal mode, pragmas and migrations: everything `setup` needs before first use.
    fn prepare(&mut self, shown: &str, corrupt: &dyn Fn(rusqlite::Error) -> StoreError) -> Result<(), StoreError> {
        // WAL lets readers and one writer work at once; NORMAL sync is safe in WAL mode.
        self.conn.pragma_update(None, "journal_mode", "WAL").map_err(corrupt)?;
        self.conn.pragma_update(None, "synchronous", "NORMAL").map_err(corrupt)?;
        self.conn.pragma_update(None, "foreign_keys", "ON").map_err(corrupt)?;
        schema::migrate(&mut self.conn).map_err(|e| match e {
            StoreError::Sql(reason) if reason.contains("malformed") => {
                StoreError::Corrupt { path: shown.to_string(), reason }
            }
            other => other,
        })
    }

    /// Starts a conversation and returns its id.
    pub fn create_conversation(&self, new: &NewConversation) -> Result<i64, StoreError> {
        let now = now_ms();
        self.conn.execute(
            "INSERT INTO conversations (title, created_at, updated_at, model, system_prompt, cwd) VALUES ('', ?1, ?1, ?2, ?3, ?4)",
            params![now, new.model, new.system_prompt, new.cwd],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Adds a message under `parent` (None: a first message) and makes it the current leaf.
    /// The first user message also names the conversation.
    pub fn add_message(
        &mut self,
        conversation: i64,
        parent: Option<i64>,
        message: &NewMessage<'_>,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        // Immediate: take the write lock first. A deferred transaction that reads, then writes
        // after another process committed, fails at once with SQLITE_BUSY (no busy wait).
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let exists: Option<String> =
            tx.query_row("SELECT title FROM conversations WHERE id = ?1", [conversation], |r| r.get(0)).optional()?;
        let Some(title) = exists else { return Err(StoreError::NoConversation(conversation)) };
        tx.execute(
            "INSERT INTO messages (conversation_id, parent_id, role, content, state, tokens, ttft_ms, tps, created_at, reasoning)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                conversation,
                parent,
                message.role.as_str(),
                message.content,
                message.state.as_str(),
                message.tokens,
                message.time_to_first_token_ms,
                message.tokens_per_second,
                now,
                message.reasoning.filter(|r| !r.is_empty()),
            ],
        )?;
        let id = tx.last_insert_rowid();
        let new_title =
            if title.is_empty() && message.role == StoredRole::User { title_from(message.content) } else { title };
        tx.execute(
            "UPDATE conversations SET current_leaf = ?1, updated_at = ?2, title = ?3 WHERE id = ?4",
            params![id, now, new_title, conversation],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Makes `leaf` (a message of the conversation, or None for "before the first message")
    /// the current end of the conversation: switching branches, or /retry and /edit before they
    /// add a sibling.
    pub fn set_leaf(&self, conversation: i64, leaf: Option<i64>) -> Result<(), StoreError> {
        self.conn.execute("UPDATE conversations SET current_leaf = ?1 WHERE id = ?2", params![leaf, conversation])?;
        Ok(())
    }

    /// The deepest descendant of `message` along its newest children (to switch to a branch).
    pub fn newest_leaf_under(&self, message: i64) -> Result<i64, StoreError> {
        let mut current = message;
        loop {
            let child: Option<i64> = self
                .conn
                .query_row("SELECT id FROM messages WHERE parent_id = ?1 ORDER BY id DESC LIMIT 1", [current], |r| {
                    r.get(0)
                })
                .optional()?;
            match child {
                Some(c) => current = c,
                None => return Ok(current),
            }
        }
    }

    /// Pins or unpins a message.
    pub fn set_pinned(&self, message: i64, pinned: bool) -> Result<(), StoreError> {
        self.conn.execute("UPDATE messages SET pinned = ?1 WHERE id = ?2", params![pinned, message])?;
        Ok(())
    }

    /// Renames a conversation.
    pub fn rename(&self, conversation: i64, title: &str) -> Result<(), StoreError> {
        let n = self.conn.execute("UPDATE conversations SET title = ?1 WHERE id = ?2", params![title, conversation])?;
        if n == 0 {
            return Err(StoreError::NoConversation(conversation));
        }
        Ok(())
    }

    /// Deletes a conversation and its messages.
    pub fn delete(&self, conversation: i64) -> Result<(), StoreError> {
        let n = self.conn.execute("DELETE FROM conversations WHERE id = ?1", [conversation])?;
        if n == 0 {
            return Err(StoreError::NoConversation(conversation));
        }
        Ok(())
    }

    fn summary_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConversationSummary> {
        Ok(ConversationSummary {
            id: r.get(0)?,
            title: r.get(1)?,
            created_at: r.get(2)?,
            updated_at: r.get(3)?,
            model: r.get(4)?,
            messages: r.get(5)?,
            cwd: r.get(6)?,
        })
    }

    const SUMMARY: &'static str = "SELECT c.id, c.title, c.created_at, c.updated_at, c.model,
            (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id), c.cwd FROM conversations c";

    /// Conversations, newest first.
    pub fn list(&self, limit: usize) -> Result<Vec<ConversationSummary>, StoreError> {
        let mut stmt =
            self.conn.prepare_cached(&format!("{} ORDER BY c.updated_at DESC, c.id DESC LIMIT ?1", Self::SUMMARY))?;
        let rows = stmt.query_map([limit as i64], Self::summary_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One conversation's summary.
    pub fn summary(&self, conversation: i64) -> Result<ConversationSummary, StoreError> {
        // Cached: the session picker asks for one per conversation it lists while filtering.
        let mut stmt = self.conn.prepare_cached(&format!("{} WHERE c.id = ?1", Self::SUMMARY))?;
        stmt.query_row([conversation], Self::summary_row).optional()?.ok_or(StoreError::NoConversation(conversation))
    }

    /// The newest conversation started in `cwd`.
    pub fn latest_in(&self, cwd: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM conversations WHERE cwd = ?1 ORDER BY updated_at DESC, id DESC LIMIT 1",
                [cwd],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// A conversation along its current branch.
    pub fn load(&self, conversation: i64) -> Result<Conversation, StoreError> {
        let summary = self.summary(conversation)?;
        let (system_prompt, leaf): (Option<String>, Option<i64>) = self.conn.query_row(
            "SELECT system_prompt, current_leaf FROM conversations WHERE id = ?1",
            [conversation],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        // Walk from the leaf to the root.
        let mut stmt = self.conn.prepare_cached(
            "WITH RECURSIVE branch(id) AS (SELECT ?1 UNION ALL SELECT m.parent_id FROM messages m JOIN branch b ON m.id = b.id WHERE m.parent_id IS NOT NULL)
             SELECT m.id, m.parent_id, m.role, m.content, m.state, m.tokens, m.created_at, m.pinned, m.reasoning,
                    (SELECT count(*) FROM messages s WHERE s.conversation_id = m.conversation_id AND s.parent_id IS m.parent_id AND s.id <= m.id),
                    (SELECT count(*) FROM messages s WHERE s.conversation_id = m.conversation_id AND s.parent_id IS m.parent_id)
             FROM messages m JOIN branch b ON m.id = b.id ORDER BY m.id",
        )?;
        let messages = match leaf {
            None => Vec::new(),
            Some(leaf) => stmt
                .query_map([leaf], |r| {
                    Ok(StoredMessage {
                        id: r.get(0)?,
                        parent_id: r.get(1)?,
                        role: StoredRole::parse(&r.get::<_, String>(2)?),
                        content: r.get(3)?,
                        state: MessageState::parse(&r.get::<_, String>(4)?),
                        tokens: r.get(5)?,
                        created_at: r.get(6)?,
                        pinned: r.get(7)?,
                        reasoning: r.get(8)?,
                        sibling: (r.get::<_, i64>(9)? as usize, r.get::<_, i64>(10)? as usize),
                    })
                })?
                .collect::<Result<_, _>>()?,
        };
        Ok(Conversation { summary, system_prompt, messages })
    }

    /// The ids of `message`'s siblings (itself included), oldest first.
    pub fn siblings(&self, message: i64) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.id FROM messages s JOIN messages m ON m.id = ?1
             WHERE s.conversation_id = m.conversation_id AND s.parent_id IS m.parent_id ORDER BY s.id",
        )?;
        let rows = stmt.query_map([message], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests;
