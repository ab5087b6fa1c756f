//! Full-text search over the history (SQLite FTS5, ranked by bm25): every message for the
//! session picker, or each conversation once for `ember history search`.

use rusqlite::params;

use super::{SearchHit, Store, StoreError, StoredRole};

impl Store {
    /// Full-text search over every message, best matches first.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError> {
        let fts_query = fts_query(query);
        if fts_query.is_empty() {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT m.conversation_id, c.title, m.id, m.role,
                    snippet(messages_fts, 0, '[', ']', '…', 12), c.updated_at
             FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid JOIN conversations c ON c.id = m.conversation_id
             WHERE messages_fts MATCH ?1 ORDER BY bm25(messages_fts), c.updated_at DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![fts_query, limit as i64], |r| {
            Ok(SearchHit {
                conversation_id: r.get(0)?,
                title: r.get(1)?,
                message_id: r.get(2)?,
                role: StoredRole::parse(&r.get::<_, String>(3)?),
                snippet: r.get(4)?,
                updated_at: r.get(5)?,
                more: 0,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The conversations that best match `query`, best first, each once: its best message's
    /// snippet, and how many of its other messages match (`ember history search`).
    pub fn search_conversations(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, StoreError> {
        let fts_query = fts_query(query);
        if fts_query.is_empty() {
            return Ok(Vec::new());
        }
        // The best match of each conversation, best conversations first; the other matches of a
        // conversation are counted, not listed. Ranking reads every match (bm25); the rows
        // read back are bounded, and only the kept ones get a snippet.
        let mut ranked = self.conn.prepare_cached(
            "SELECT m.conversation_id, m.id
             FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid JOIN conversations c ON c.id = m.conversation_id
             WHERE messages_fts MATCH ?1 ORDER BY bm25(messages_fts), c.updated_at DESC LIMIT ?2",
        )?;
        let scanned = (limit.max(1) * 20).max(500) as i64;
        let rows = ranked.query_map(params![fts_query, scanned], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
        // (conversation, its best message, how many more match), in rank order.
        let mut best: Vec<(i64, i64, usize)> = Vec::new();
        let mut at: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
        for row in rows {
            let (conversation, message) = row?;
            match at.get(&conversation) {
                Some(&i) => best[i].2 += 1,
                None => {
                    at.insert(conversation, best.len());
                    best.push((conversation, message, 0));
                }
            }
        }
        best.truncate(limit);
        if best.is_empty() {
            return Ok(Vec::new());
        }
        // One more pass for the kept messages' snippets (their ids are numbers: safe to inline).
        let ids = best.iter().map(|(_, m, _)| m.to_string()).collect::<Vec<_>>().join(",");
        let mut stmt = self.conn.prepare(&format!(
            "SELECT m.id, c.title, m.role, snippet(messages_fts, 0, '[', ']', '…', 12), c.updated_at
             FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid JOIN conversations c ON c.id = m.conversation_id
             WHERE messages_fts MATCH ?1 AND messages_fts.rowid IN ({ids})"
        ))?;
        let mut found: std::collections::HashMap<i64, SearchHit> = stmt
            .query_map(params![fts_query], |r| {
                Ok(SearchHit {
                    conversation_id: 0,
                    title: r.get(1)?,
                    message_id: r.get(0)?,
                    role: StoredRole::parse(&r.get::<_, String>(2)?),
                    snippet: r.get(3)?,
                    updated_at: r.get(4)?,
                    more: 0,
                })
            })?
            .map(|hit| hit.map(|h| (h.message_id, h)))
            .collect::<Result<_, _>>()?;
        Ok(best
            .into_iter()
            .filter_map(|(conversation_id, message_id, more)| {
                found.remove(&message_id).map(|hit| SearchHit { conversation_id, more, ..hit })
            })
            .collect())
    }
}

/// Turns what a user typed into an FTS5 query: each word a quoted term, all required; words of
/// three or more characters also match as prefixes (`pars` finds "parser"), shorter ones only
/// whole (`is` does not find "issue"). Quoting keeps FTS5 syntax characters from being errors.
fn fts_query(input: &str) -> String {
    input
        .split_whitespace()
        .map(|w| w.replace('"', "\"\""))
        .filter(|w| !w.is_empty())
        .map(|w| if w.chars().count() >= 3 { format!("\"{w}\"*") } else { format!("\"{w}\"") })
        .collect::<Vec<_>>()
        .join(" ")
}
