//! `--diff`: the answer's code block as a unified diff against the `--file` it changes, ready for
//! `git apply`. The block may be the file's whole new text or a diff of its own (applied to the
//! file first, so what is printed always applies to the file as it is).

use std::path::{Path, PathBuf};

use crate::conversation::AppError;
use crate::edit::{self, Proposal};
use crate::render::markdown::{split_blocks, Block};

/// The diff `answer` makes to one of `files` (the `--file`s, as given), with paths relative to
/// `cwd`; an empty string when its block leaves the file as it is. The last finished code block
/// that is for one of the files counts (a block cut short by `--max-tokens` never does).
pub fn diff_of_answer(answer: &str, files: &[PathBuf], cwd: &Path) -> Result<String, AppError> {
    let names: Vec<String> = files.iter().map(|f| relative(f, cwd)).collect();
    let mut why_not = None;
    let chosen = split_blocks(answer).into_iter().rev().find_map(|block| {
        let Block::Code { info, code, closed: true, .. } = block else { return None };
        match Proposal::of_block(&info, &code, &names) {
            Ok(p) => {
                let (target, _) = p.target.clone()?;
                let at = names.iter().position(|n| *n == relative(Path::new(&target), cwd))?;
                Some((at, p))
            }
            Err(e) => {
                why_not.get_or_insert(e);
                None
            }
        }
    });
    let Some((at, proposal)) = chosen else {
        let files = names.join(", ");
        return Err(AppError::Input(match why_not {
            Some(e) => format!("the answer's diff cannot be used for {files}: {e}"),
            None => format!("the answer holds no finished code block for {files}: no diff to print"),
        }));
    };
    let old = edit::read_text(&files[at], &names[at]).map_err(|e| AppError::Input(e.to_string()))?;
    let new = proposal
        .new_text(old.as_deref())
        .map_err(|e| AppError::Input(format!("the answer's diff does not apply to {}: {e}", names[at])))?;
    Ok(edit::unified(old.as_deref(), &new, &names[at]))
}

/// `path` as a diff names it: relative to `cwd` when inside it, `/`-separated, no leading `./`.
fn relative(path: &Path, cwd: &Path) -> String {
    let inside = path.strip_prefix(cwd).unwrap_or(path);
    let text = inside.to_string_lossy().replace('\\', "/");
    let mut text = text.as_str();
    while let Some(rest) = text.strip_prefix("./") {
        text = rest;
    }
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "pub fn a() {}\n").unwrap();
        (dir, PathBuf::from("./src/lib.rs"))
    }

    fn diff(answer: &str) -> Result<String, AppError> {
        let (dir, file) = setup();
        diff_of_answer(answer, &[dir.path().join(&file)], dir.path())
    }

    #[test]
    fn a_whole_file_block_becomes_a_diff_against_the_file() {
        let answer = "Here:\n```rust\n/// Does a.\npub fn a() {}\n```\n";
        assert_eq!(
            diff(answer).unwrap(),
            "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1 +1,2 @@\n+/// Does a.\n pub fn a() {}\n"
        );
    }

    #[test]
    fn a_diff_block_is_applied_first_and_a_block_for_another_file_is_skipped() {
        let answer = "```diff\n@@ -1 +1 @@\n-pub fn a() {}\n+pub fn b() {}\n```\n\n```rust other.rs\nfn x() {}\n```\n";
        assert_eq!(
            diff(answer).unwrap(),
            "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1 +1 @@\n-pub fn a() {}\n+pub fn b() {}\n"
        );
    }

    #[test]
    fn no_usable_block_is_an_error_that_says_why() {
        let none = diff("Just words.").unwrap_err();
        assert_eq!(none.to_string(), "the answer holds no finished code block for src/lib.rs: no diff to print");
        assert_eq!(none.exit_code(), 1);
        assert!(diff("```rust\npub fn a() {\n").is_err(), "a block cut short is not used");
        let conflict = diff("```diff\n@@ -1 +1 @@\n-fn zzz() {}\n+fn b() {}\n```\n").unwrap_err();
        assert!(
            conflict.to_string().starts_with("the answer's diff does not apply to src/lib.rs: hunk 1 of 1"),
            "{conflict}"
        );
    }
}
