use super::*;
use crate::edit::diff::unified;

fn one(diff: &str) -> FilePatch {
    let mut files = parse(diff).unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    files.remove(0)
}

const FILE: &str = "fn a() {}\n\nfn b() {\n    1\n}\n\nfn c() {}\n";

#[test]
fn hunks_that_apply_where_they_say() {
    let diff = "--- a/src/x.rs\n+++ b/src/x.rs\n@@ -3,3 +3,3 @@\n fn b() {\n-    1\n+    2\n }\n";
    let patch = one(diff);
    assert_eq!(patch.target().as_deref(), Some("src/x.rs"));
    assert_eq!(apply(FILE, &patch).unwrap(), FILE.replace("    1", "    2"));
}

#[test]
fn hunks_offset_by_a_few_lines_still_apply() {
    let shifted = format!("// one\n// two\n// three\n{FILE}");
    let diff = "@@ -3,3 +3,4 @@\n fn b() {\n-    1\n+    2\n+    3\n }\n@@ -7,1 +8,1 @@\n-fn c() {}\n+fn c() { b() }\n";
    let got = apply(&shifted, &one(diff)).unwrap();
    assert_eq!(got, "// one\n// two\n// three\nfn a() {}\n\nfn b() {\n    2\n    3\n}\n\nfn c() { b() }\n");
}

#[test]
fn a_conflicting_hunk_is_refused_whole_and_shown() {
    let diff = "@@ -1,1 +1,1 @@\n-fn a() {}\n+fn a() { }\n@@ -4,1 +4,1 @@\n-    42\n+    43\n";
    let err = apply(FILE, &one(diff)).unwrap_err();
    assert_eq!(err, PatchError::HunkFailed { number: 2, total: 2, shown: "@@ -4,1 +4,1 @@\n-    42\n+    43".into() });
    assert!(err.to_string().starts_with("hunk 2 of 2 does not apply: its lines are not in the file\n@@ -4,1"));
}

#[test]
fn a_crlf_file_stays_crlf() {
    let crlf = FILE.replace('\n', "\r\n");
    let diff = "@@ -4 +4 @@\n-    1\n+    2\n";
    assert_eq!(apply(&crlf, &one(diff)).unwrap(), FILE.replace("    1", "    2").replace('\n', "\r\n"));
    // A diff of the CRLF file itself (CRLF lines) applies too.
    let new = crlf.replace("    1", "    2");
    assert_eq!(apply(&crlf, &one(&unified(Some(&crlf), &new, "f"))).unwrap(), new);
}

#[test]
fn no_trailing_newline_is_kept_added_or_removed_as_the_diff_says() {
    let open = "a\nb";
    assert_eq!(apply(open, &one("@@ -1 +1 @@\n-a\n+A\n")).unwrap(), "A\nb", "kept");
    for (old, new) in [("a\nb", "a\nc\n"), ("a\nb\n", "a\nc"), ("a\nb", "a\nc"), ("", "x\ny")] {
        let diff = unified(Some(old), new, "f");
        assert_eq!(apply(old, &one(&diff)).unwrap(), new, "{diff}");
    }
}

#[test]
fn round_trips_through_the_diff_of_two_texts() {
    let new = "fn a() {}\n\nfn b() {\n    2\n}\n\nfn c() {}\nfn d() {}\n";
    assert_eq!(apply(FILE, &one(&unified(Some(FILE), new, "x.rs"))).unwrap(), new);
}

#[test]
fn model_written_diffs_are_read_leniently() {
    // Wrong counts, a blank context line without its space, trailing spaces dropped, prose after.
    let diff = "```\n@@ -1,9 +1,9 @@\n fn a() {}\n\n fn b() {\n-    1\n+    2\n }\nThat is all.\n";
    let file = FILE.replace("    1", "    1 ");
    assert_eq!(apply(&file, &one(diff)).unwrap(), FILE.replace("    1", "    2"));
}

#[test]
fn what_is_a_diff_and_what_is_not() {
    assert!(is_diff("--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"));
    assert!(is_diff("@@ -1 +1 @@\n-a\n+b\n"));
    assert!(is_diff("diff --git a/x b/x\n@@ -1 +1 @@\n-a\n+b\n"));
    assert!(!is_diff("print('@@ -1 +1 @@')\n"));
    assert!(!is_diff("--- a title in markdown\n"));
    assert_eq!(parse("no hunks here\n"), Err(PatchError::NoHunks));
    let two = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/y b/y\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n";
    let files = parse(two).unwrap();
    assert_eq!(files.iter().map(FilePatch::target).collect::<Vec<_>>(), [Some("x".into()), Some("y".into())]);
}

#[test]
fn a_removed_line_that_looks_like_a_header_is_a_removed_line() {
    let file = "a\n-- b\n";
    let diff = "--- a/f\n+++ b/f\n@@ -1,2 +1,1 @@\n a\n--- b\n";
    assert_eq!(apply(file, &one(diff)).unwrap(), "a\n");
}
