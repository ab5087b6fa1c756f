//! Edits ember made to the user's files, kept with the conversation so that `/undo` works after
//! a restart: the file's text before (none when the edit created it) and after.

use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};

use super::{now_ms, Store, StoreError};

/// An edit to record: the file written (absolute) and its text before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    pub path: PathBuf,
    /// `None`: the edit created the file.
    pub before: Option<String>,
    pub after: String,
}

impl Store {
    /// Records an edit made from conversation `conversation`.
    pub fn add_edit(&self, conversation: i64, edit: &FileEdit) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO edits (conversation_id, path, before, after, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![conversation, edit.path.to_string_lossy(), edit.before, edit.after, now_ms()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The conversation's latest edit not undone yet, with its id.
    pub fn last_edit(&self, conversation: i64) -> Result<Option<(i64, FileEdit)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, path, before, after FROM edits WHERE conversation_id = ?1 AND undone = 0
                 ORDER BY id DESC LIMIT 1",
                [conversation],
                |r| {
                    let path: String = r.get(1)?;
                    Ok((r.get(0)?, FileEdit { path: PathBuf::from(path), before: r.get(2)?, after: r.get(3)? }))
                },
            )
            .optional()?)
    }

    /// Undoes the conversation's latest edit: the file gets its text back (or is removed, when
    /// the edit created it), if it still holds what the edit wrote. Returns what was done, in
    /// words; an error says why nothing was.
    pub fn undo_last_edit(&self, conversation: i64) -> Result<String, String> {
        let Some((id, edit)) = self.last_edit(conversation).map_err(|e| e.to_string())? else {
            return Err("nothing to undo: ember has not changed a file in this conversation".into());
        };
        crate::edit::restore(&edit.path, edit.before.as_deref(), &edit.after).map_err(|e| e.to_string())?;
        self.conn.execute("UPDATE edits SET undone = 1 WHERE id = ?1", [id]).map_err(|e| e.to_string())?;
        Ok(match edit.before {
            Some(_) => format!("restored {}", shown(&edit.path)),
            None => format!("removed {} (the edit created it)", shown(&edit.path)),
        })
    }
}

/// A path as the status line shows it: relative to the working directory when inside it.
fn shown(path: &Path) -> String {
    let cwd = std::env::current_dir().ok().and_then(|d| d.canonicalize().ok());
    let relative = cwd.as_deref().and_then(|d| path.strip_prefix(d).ok()).unwrap_or(path);
    crate::render::sanitize(&relative.to_string_lossy()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewConversation;

    #[test]
    fn undo_restores_the_latest_edit_then_the_one_before_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let (db, file) = (dir.path().join("h.db"), dir.path().join("a.txt"));
        let store = Store::open(&db).unwrap();
        let c = store.create_conversation(&NewConversation::default()).unwrap();
        std::fs::write(&file, "one\n").unwrap();
        store.add_edit(c, &FileEdit { path: file.clone(), before: None, after: "one\n".into() }).unwrap();
        std::fs::write(&file, "two\n").unwrap();
        store
            .add_edit(c, &FileEdit { path: file.clone(), before: Some("one\n".into()), after: "two\n".into() })
            .unwrap();
        drop(store);

        let store = Store::open(&db).unwrap();
        assert!(store.undo_last_edit(c).unwrap().starts_with("restored "));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "one\n");
        assert!(store.undo_last_edit(c).unwrap().contains("(the edit created it)"));
        assert!(!file.exists());
        assert_eq!(
            store.undo_last_edit(c).unwrap_err(),
            "nothing to undo: ember has not changed a file in this conversation"
        );
    }

    #[test]
    fn an_edit_is_not_undone_over_later_changes_and_stays_to_undo() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        let store = Store::open_in_memory().unwrap();
        let c = store.create_conversation(&NewConversation::default()).unwrap();
        store
            .add_edit(c, &FileEdit { path: file.clone(), before: Some("old\n".into()), after: "new\n".into() })
            .unwrap();
        std::fs::write(&file, "new, then edited by hand\n").unwrap();
        assert!(store.undo_last_edit(c).unwrap_err().contains("was changed after ember wrote it"));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new, then edited by hand\n");
        std::fs::write(&file, "new\n").unwrap();
        assert!(store.undo_last_edit(c).is_ok(), "the refused undo is still there to do");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "old\n");
    }
}
