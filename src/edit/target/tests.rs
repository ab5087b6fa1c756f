use super::*;

#[test]
fn the_fence_names_the_file_first() {
    assert_eq!(path_in_info("rust src/main.rs").as_deref(), Some("src/main.rs"));
    assert_eq!(path_in_info("rust:src/main.rs").as_deref(), Some("src/main.rs"));
    assert_eq!(path_in_info("Makefile.am").as_deref(), Some("Makefile.am"));
    assert_eq!(path_in_info("python title=\"app/x.py\"").as_deref(), Some("app/x.py"));
    assert_eq!(path_in_info("rust"), None);
    assert_eq!(path_in_info("rust {.numberLines}"), None);
    assert_eq!(path_in_info("c++"), None);
    assert_eq!(path_in_info("sh $(rm.x)"), None, "nothing a shell would read");
    let p = Proposal::of_block("rust src/a.rs", "// path: src/b.rs\nfn a() {}\n", &["src/c.rs".into()]).unwrap();
    assert_eq!(p.target, Some(("src/a.rs".into(), TargetSource::Fence)));
}

#[test]
fn then_a_path_comment_which_is_taken_out_of_the_text() {
    assert_eq!(path_comment("// path: src/b.rs\nfn a() {}\n"), Some(("src/b.rs".into(), 18)));
    assert_eq!(path_comment("# File: tools/x.py\n").map(|p| p.0).as_deref(), Some("tools/x.py"));
    assert_eq!(path_comment("<!-- path: web/index.html -->\n").map(|p| p.0).as_deref(), Some("web/index.html"));
    assert_eq!(path_comment("/* path: a.c */").map(|p| p.0).as_deref(), Some("a.c"));
    assert_eq!(path_comment("// the path: is long\n"), None);
    let p = Proposal::of_block("rust", "// path: src/b.rs\nfn a() {}\n", &["src/c.rs".into()]).unwrap();
    assert_eq!(p.target, Some(("src/b.rs".into(), TargetSource::Comment)));
    assert_eq!(p.content, ProposedContent::Whole("fn a() {}\n".into()));
}

#[test]
fn then_the_diff_header_then_the_one_attached_file() {
    let diff = "--- a/src/x.rs\n+++ b/src/x.rs\n@@ -1 +1 @@\n-a\n+b\n";
    let p = Proposal::of_block("diff", diff, &["src/c.rs".into()]).unwrap();
    assert_eq!(p.target, Some(("src/x.rs".into(), TargetSource::DiffHeader)));
    assert_eq!(p.new_text(Some("a\n")).unwrap(), "b\n");
    let bare = Proposal::of_block("diff", "@@ -1 +1 @@\n-a\n+b\n", &["src/c.rs".into()]).unwrap();
    assert_eq!(bare.target, Some(("src/c.rs".into(), TargetSource::Attachment)));
    let whole = Proposal::of_block("rust", "fn a() {}\n", &["a.rs".into(), "b.rs".into()]).unwrap();
    assert_eq!(whole.target, None, "two attached files: which one is not guessed");
    assert_eq!(whole.new_text(Some("old")).unwrap(), "fn a() {}\n");
}

#[test]
fn attached_files_are_read_from_the_message_labels() {
    // As conversation::attach::user_message writes them.
    let message = "src/lib.rs:\n```rust\nfn a() {}\n```\n\nstdin:\n```\nx\n```\n\nadd docs";
    assert_eq!(attached_files(message), ["src/lib.rs"]);
    assert!(attached_files("Example:\nsome text\n").is_empty());
}

#[test]
fn a_diff_of_two_files_is_refused() {
    let two = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n--- a/y\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n";
    assert_eq!(Proposal::of_block("diff", two, &[]), Err(PatchError::ManyFiles(2)));
}
