//! Pipe mode's `--diff` through the built binary and the real default model: the diff it prints
//! applies with `git apply` in a real git repository.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::ember;

const FILE: &str = "def add(a, b):\n    return a + b\n";

/// A scratch git repository holding `src/add.py`, committed.
fn scratch_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/add.py"), FILE).unwrap();
    for args in [&["init", "-q", "."][..], &["add", "src/add.py"], &["commit", "-qm", "start"]] {
        let ok = git(dir.path()).args(args).status().unwrap().success();
        assert!(ok, "git {args:?}");
    }
    dir
}

fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir).args(["-c", "user.name=t", "-c", "user.email=t@example.com"]);
    cmd
}

/// Runs `git apply ARGS` with `diff` on stdin; whether it succeeded, and what it said.
fn git_apply(dir: &Path, args: &[&str], diff: &[u8]) -> (bool, String) {
    use std::io::Write;
    let mut child = git(dir).arg("apply").args(args).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(diff).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `ember -f src/add.py --diff` in `repo`, asking for a rename, with at most `max_tokens`.
fn rename_with_diff(repo: &Path, max_tokens: &str) -> assert_cmd::assert::Assert {
    let question = "Rename the function to plus.";
    ember().current_dir(repo).args(["-f", "src/add.py", "--diff", "--max-tokens", max_tokens, question]).assert()
}

#[test]
fn the_diff_applies_with_git_apply_in_a_real_repository() {
    let repo = scratch_repo();
    let out = rename_with_diff(repo.path(), "150").success().get_output().clone();
    let diff = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(diff.starts_with("--- a/src/add.py\n+++ b/src/add.py\n@@ "), "not a diff of src/add.py: {diff:?}");
    assert!(diff.contains("\n+def plus(a, b):\n"), "the answer's change is not in the diff: {diff}");
    let (ok, said) = git_apply(repo.path(), &["--check"], &out.stdout);
    assert!(ok, "git apply --check refused the diff: {said}\n{diff}");
    let (ok, said) = git_apply(repo.path(), &[], &out.stdout);
    assert!(ok, "git apply: {said}");
    assert_eq!(std::fs::read_to_string(repo.path().join("src/add.py")).unwrap(), FILE.replace("add", "plus"));
}

#[test]
fn an_answer_without_a_usable_block_exits_1_with_a_message() {
    let repo = scratch_repo();
    // One token cannot hold a finished code block.
    let out = rename_with_diff(repo.path(), "1").code(1).get_output().clone();
    assert!(out.stdout.is_empty(), "stdout: {:?}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the answer holds no finished code block for src/add.py: no diff to print"), "{err}");
    assert_eq!(std::fs::read_to_string(repo.path().join("src/add.py")).unwrap(), FILE, "the file is untouched");
}

#[test]
fn diff_without_a_file_is_a_usage_error() {
    ember().args(["--diff", "hi"]).assert().code(2).stderr(predicates::str::contains("--file"));
}
