//! Saved model contexts (KV-cache states) for instant resume: one file per conversation and
//! model, kept in a bounded folder where the least recently used go first.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// The most the folder may hold before the least recently used states are deleted.
pub const DEFAULT_CAP_BYTES: u64 = 2 << 30;

/// A fingerprint of a model file (path, size, modification time): a state saved with one model
/// is never loaded into another, nor into a model file replaced since.
pub fn model_fingerprint(model: &Path) -> String {
    let meta = std::fs::metadata(model).ok();
    let size = meta.as_ref().map_or(0, |m| m.len());
    let modified = meta
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let canonical = std::fs::canonicalize(model).unwrap_or_else(|_| model.to_path_buf());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (canonical, size, modified).hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Where the state of `conversation` with `model` lives under `dir`.
pub fn state_path(dir: &Path, conversation: i64, model: &Path) -> PathBuf {
    dir.join(format!("conversation-{conversation}-{}.kv", model_fingerprint(model)))
}

/// Deletes every saved context of `conversation` (with any model), when it is deleted: the file
/// holds the conversation's tokens, and its id may be given to a new conversation.
pub fn remove_for(dir: &Path, conversation: i64) {
    let prefix = format!("conversation-{conversation}-");
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Marks a state as just used (so the cap evicts others first).
pub fn touch(path: &Path) {
    if let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
}

/// Deletes the least recently used states until the folder holds at most `cap` bytes.
/// Returns how many files were deleted.
pub fn prune(dir: &Path, cap: u64) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "kv"))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((meta.modified().ok()?, meta.len(), e.path()))
        })
        .collect();
    files.sort();
    let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
    let mut deleted = 0;
    for (_, len, path) in files {
        if total <= cap {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
            deleted += 1;
        }
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_changes_with_the_model_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.gguf");
        std::fs::write(&a, b"one").unwrap();
        let before = model_fingerprint(&a);
        assert_eq!(before, model_fingerprint(&a));
        std::fs::write(&a, b"other contents").unwrap();
        assert_ne!(before, model_fingerprint(&a));
        assert_ne!(state_path(dir.path(), 1, &a), state_path(dir.path(), 2, &a));
    }

    #[test]
    fn removing_a_conversation_removes_only_its_states() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["conversation-1-aa.kv", "conversation-1-bb.kv", "conversation-12-aa.kv"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        remove_for(dir.path(), 1);
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec!["conversation-12-aa.kv".to_string()]);
    }

    #[test]
    fn prune_evicts_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.kv");
        let new = dir.path().join("new.kv");
        std::fs::write(&old, vec![0u8; 100]).unwrap();
        std::fs::write(&new, vec![0u8; 100]).unwrap();
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options().append(true).open(&old).unwrap().set_modified(past).unwrap();
        assert_eq!(prune(dir.path(), 150), 1);
        assert!(!old.exists() && new.exists());
        assert_eq!(prune(dir.path(), 150), 0);
    }
}
