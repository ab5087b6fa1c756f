//! A unified diff between two texts, as `git apply` and `patch -p1` read it.

use similar::TextDiff;

/// How many lines of context surround each change (git's default).
const CONTEXT: usize = 3;

/// A diff's size: its hunks and the lines it adds and removes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiffStat {
    pub hunks: usize,
    pub added: usize,
    pub removed: usize,
}

impl DiffStat {
    /// Counts a unified diff's hunks and changed lines (headers are not changes).
    pub fn of(diff: &str) -> DiffStat {
        let mut stat = DiffStat::default();
        for line in diff.lines() {
            if line.starts_with("@@") {
                stat.hunks += 1;
            } else if stat.hunks > 0 && line.starts_with('+') {
                stat.added += 1;
            } else if stat.hunks > 0 && line.starts_with('-') {
                stat.removed += 1;
            }
        }
        stat
    }

    /// "2 hunks · +5 −3".
    pub fn describe(&self) -> String {
        format!("{} · +{} −{}", crate::render::count(self.hunks, "hunk"), self.added, self.removed)
    }
}

/// The unified diff that turns `old` into `new`, for the file at `path` (relative, `/`-separated):
/// headers `--- a/PATH` and `+++ b/PATH` (`/dev/null` for a file that does not exist yet,
/// `old` being `None`). Empty when nothing changes. Lines keep their own endings (a CRLF file's
/// diff has CRLF lines), and a last line without a newline is marked as git marks it.
pub fn unified(old: Option<&str>, new: &str, path: &str) -> String {
    let before = old.unwrap_or("");
    if old.is_some() && before == new {
        return String::new();
    }
    let from = if old.is_some() { format!("a/{path}") } else { "/dev/null".to_string() };
    let diff = TextDiff::from_lines(before, new);
    let mut out = diff.unified_diff();
    out.context_radius(CONTEXT).header(&from, &format!("b/{path}"));
    out.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_in_the_middle_has_one_hunk_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\n";
        let diff = unified(Some(old), new, "src/x.txt");
        assert_eq!(diff, "--- a/src/x.txt\n+++ b/src/x.txt\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n");
        assert_eq!(DiffStat::of(&diff), DiffStat { hunks: 1, added: 1, removed: 1 });
        assert_eq!(DiffStat::of(&diff).describe(), "1 hunk · +1 −1");
    }

    #[test]
    fn identical_texts_have_no_diff_and_a_new_file_comes_from_dev_null() {
        assert_eq!(unified(Some("x\n"), "x\n", "x"), "");
        let diff = unified(None, "x\n", "new.txt");
        assert!(diff.starts_with("--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+x\n"), "{diff}");
    }

    #[test]
    fn a_missing_last_newline_is_marked() {
        let diff = unified(Some("a\nb"), "a\nc", "f");
        assert!(diff.ends_with("-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"), "{diff:?}");
    }
}
