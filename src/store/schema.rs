//! The schema and its migrations, applied in order inside one transaction each, numbered by
//! SQLite's `user_version`.

use rusqlite::Connection;

use super::StoreError;

/// Each entry brings the schema from version i to i + 1.
const MIGRATIONS: &[&str] = &[
    // 1: conversations, messages as a tree, full-text index kept in sync by triggers.
    "CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        model TEXT NOT NULL DEFAULT '',
        system_prompt TEXT,
        cwd TEXT NOT NULL DEFAULT '',
        current_leaf INTEGER
    );
    CREATE INDEX conversations_updated ON conversations(updated_at DESC);
    CREATE INDEX conversations_cwd ON conversations(cwd, updated_at DESC);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'complete',
        tokens INTEGER,
        ttft_ms INTEGER,
        tps REAL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX messages_conversation ON messages(conversation_id, id);
    CREATE INDEX messages_parent ON messages(parent_id);
    CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages', content_rowid='id');
    CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END;
    CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
    END;
    CREATE TRIGGER messages_au AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content);
    END;",
    // 2: pinned messages stay in the context when older turns leave it.
    "ALTER TABLE messages ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;",
    // 3: a reasoning model's thinking, apart from its answer. Not in the full-text index: the
    // triggers above index `content` only, so a search finds what was said, not what was thought.
    "ALTER TABLE messages ADD COLUMN reasoning TEXT;",
    // 4: edits ember made to files from a conversation (/apply), so /undo survives a restart.
    // `before` is NULL when the edit created the file.
    "CREATE TABLE edits (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        before TEXT,
        after TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        undone INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX edits_conversation ON edits(conversation_id, id);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies the migrations the database has not seen yet.
/// Each step reads the version inside an immediate (write-locked) transaction, so two processes
/// starting at once never apply the same migration twice.
pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    migrate_to(conn, SCHEMA_VERSION)
}

/// Applies the migrations up to schema `target` (tests build older databases with it).
pub fn migrate_to(conn: &mut Connection, target: i64) -> Result<(), StoreError> {
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew { found: version, known: SCHEMA_VERSION });
        }
        let Some(sql) = MIGRATIONS.get(version as usize).filter(|_| version < target) else {
            tx.commit()?;
            return Ok(());
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}
