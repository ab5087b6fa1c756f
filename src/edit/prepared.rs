//! An edit ready to be confirmed: the file's text now and after, and the diff between them.
//! The front end shows the diff, then [`write`] writes it if the file has not changed since.

use std::path::{Path, PathBuf};

use super::target::{Proposal, TargetSource};
use super::{file, DiffStat, EditError};

/// A code block applied to a file, not written yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedEdit {
    /// The path as named (relative to the working tree, or as typed).
    pub shown: String,
    /// Where the path came from.
    pub source: TargetSource,
    /// The file written (a symbolic link's target).
    pub real: PathBuf,
    /// Set when a symbolic link takes the path out of the working tree: the file it reaches.
    pub outside: Option<PathBuf>,
    /// The file's text now; `None` when it does not exist yet.
    pub before: Option<String>,
    pub after: String,
    /// The unified diff from `before` to `after` (empty: no change).
    pub diff: String,
    pub stat: DiffStat,
}

/// Reads the file `shown` names (relative to `root`, the working tree; `path` is it with `~`
/// expanded) and works out what `proposal` makes of it.
pub fn prepare(
    shown: &str,
    path: &Path,
    source: TargetSource,
    proposal: &Proposal,
    root: &Path,
) -> Result<PreparedEdit, EditError> {
    let resolved = file::resolve(path, root)?;
    let before = file::read_text(&resolved.real, shown)?;
    let after = proposal.new_text(before.as_deref())?;
    let label = shown.trim_start_matches("./");
    let diff = super::unified(before.as_deref(), &after, label);
    let stat = DiffStat::of(&diff);
    Ok(PreparedEdit {
        shown: shown.to_string(),
        source,
        real: resolved.real,
        outside: resolved.outside,
        before,
        after,
        diff,
        stat,
    })
}

/// Writes a prepared edit atomically, unless the file changed after it was prepared (then the
/// diff shown would not be what is written).
pub fn write(edit: &PreparedEdit) -> Result<(), EditError> {
    if file::read_text(&edit.real, &edit.shown)? != edit.before {
        return Err(EditError::Changed { path: edit.shown.clone() });
    }
    file::write_atomic(&edit.real, &edit.after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepares_a_diff_and_writes_it_only_over_the_text_it_was_made_from() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.py"), "x = 1\n").unwrap();
        let proposal = Proposal::of_block("python a.py", "x = 2\n", &[]).unwrap();
        let edit = prepare("a.py", Path::new("a.py"), TargetSource::Fence, &proposal, dir.path()).unwrap();
        assert_eq!(edit.diff, "--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n");
        assert_eq!(edit.stat, DiffStat { hunks: 1, added: 1, removed: 1 });
        std::fs::write(dir.path().join("a.py"), "x = 3\n").unwrap();
        assert_eq!(write(&edit), Err(EditError::Changed { path: "a.py".into() }));
        assert_eq!(std::fs::read_to_string(dir.path().join("a.py")).unwrap(), "x = 3\n");
        std::fs::write(dir.path().join("a.py"), "x = 1\n").unwrap();
        write(&edit).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("a.py")).unwrap(), "x = 2\n");
    }

    #[test]
    fn a_new_file_and_a_conflicting_patch() {
        let dir = tempfile::tempdir().unwrap();
        let whole = Proposal::of_block("text", "hi\n", &[]).unwrap();
        let new = prepare("n.txt", Path::new("n.txt"), TargetSource::Named, &whole, dir.path()).unwrap();
        assert_eq!((new.before.as_deref(), new.diff.starts_with("--- /dev/null\n")), (None, true));
        let patch = Proposal::of_block("diff", "@@ -1 +1 @@\n-nope\n+yes\n", &[]).unwrap();
        std::fs::write(dir.path().join("n.txt"), "hi\n").unwrap();
        let err = prepare("n.txt", Path::new("n.txt"), TargetSource::Named, &patch, dir.path()).unwrap_err();
        assert!(err.to_string().starts_with("hunk 1 of 1 does not apply"), "{err}");
    }
}
