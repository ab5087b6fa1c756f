//! Reading and writing the files edits change: UTF-8 text only, written atomically (a temporary
//! file beside the target, then a rename) with the file's mode kept, and a symbolic link that
//! leads out of the working tree told apart so the front end can ask first.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use super::EditError;

/// Where an edit of a path writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The file written: the path itself, or the file a symbolic link on it leads to (renaming
    /// over the link would replace the link, not change the file).
    pub real: PathBuf,
    /// Set when the path is inside the working tree but a symbolic link takes it outside: the
    /// file it reaches. The front end asks before writing there.
    pub outside: Option<PathBuf>,
}

/// Resolves `path` (relative to `root`, the working tree) to the file an edit writes. The
/// folder must exist; the file need not.
pub fn resolve(path: &Path, root: &Path) -> Result<Resolved, EditError> {
    let io =
        |e: std::io::Error| EditError::Io { what: "find", path: path.display().to_string(), reason: e.to_string() };
    let root = root.canonicalize().map_err(io)?;
    let named = lexical(&root.join(path));
    let real = match named.canonicalize() {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (Some(dir), Some(name)) = (named.parent(), named.file_name()) else { return Err(io(e)) };
            dir.canonicalize().map_err(io)?.join(name)
        }
        Err(e) => return Err(io(e)),
    };
    let outside = (named.starts_with(&root) && !real.starts_with(&root)).then(|| real.clone());
    Ok(Resolved { real, outside })
}

/// `path` with `.` and `..` taken out, without asking the file system (links stay links).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The text of the file at `path` (`shown` names it in errors); `None` when there is no such
/// file. A binary file (a NUL byte) or one that is not UTF-8 is refused.
pub fn read_text(path: &Path, shown: &str) -> Result<Option<String>, EditError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EditError::Io { what: "read", path: shown.to_string(), reason: e.to_string() }),
    };
    if bytes.contains(&0) {
        return Err(EditError::Binary(shown.to_string()));
    }
    String::from_utf8(bytes).map(Some).map_err(|_| EditError::NotUtf8(shown.to_string()))
}

/// Writes `content` to `path` atomically: a reader sees the old file or the new one, never
/// half of it. An existing file keeps its permissions; a new one gets the umask's.
pub fn write_atomic(path: &Path, content: &str) -> Result<(), EditError> {
    let fail =
        |e: std::io::Error| EditError::Io { what: "write", path: path.display().to_string(), reason: e.to_string() };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let kept = std::fs::metadata(path).ok().map(|m| m.permissions());
    let mut builder = tempfile::Builder::new();
    builder.prefix(".ember-edit-");
    if let Some(mode) = kept.clone().or_else(new_file_permissions) {
        builder.permissions(mode);
    }
    let mut temp = builder.tempfile_in(dir).map_err(fail)?;
    temp.write_all(content.as_bytes()).map_err(fail)?;
    if let Some(mode) = kept {
        // The mode given at creation was masked by the umask: an existing file's is set exactly.
        temp.as_file().set_permissions(mode).map_err(fail)?;
    }
    temp.as_file().sync_all().map_err(fail)?;
    temp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// A new file's permissions before the umask (read and write for all, as `touch` creates);
/// elsewhere than Unix, the temporary file's own.
fn new_file_permissions() -> Option<std::fs::Permissions> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Some(std::fs::Permissions::from_mode(0o666))
    }
    #[cfg(not(unix))]
    None
}

/// Puts back what an edit replaced, if the file still holds what the edit wrote: `before`
/// (`None`: the edit created the file, so it is removed).
pub fn restore(path: &Path, before: Option<&str>, after: &str) -> Result<(), EditError> {
    let shown = path.display().to_string();
    if read_text(path, &shown).ok().flatten().as_deref() != Some(after) {
        return Err(EditError::Edited { path: shown });
    }
    match before {
        Some(text) => write_atomic(path, text),
        None => {
            std::fs::remove_file(path).map_err(|e| EditError::Io { what: "remove", path: shown, reason: e.to_string() })
        }
    }
}

#[cfg(test)]
mod tests;
