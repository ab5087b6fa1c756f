use super::*;

fn files(paths: &[&str]) -> Vec<(String, u64)> {
    paths.iter().map(|p| (p.to_string(), 0)).collect()
}

fn ranked<'a>(query: &str, paths: &[&'a str]) -> Vec<&'a str> {
    best(query, &files(paths), 10).into_iter().map(|i| paths[i]).collect()
}

#[test]
fn only_subsequences_match_and_case_is_ignored() {
    assert!(score("smr", "src/main.rs").is_some());
    assert!(score("SRC/MA", "src/main.rs").is_some());
    assert!(score("rsm", "src/main.rs").is_none(), "letters must come in order");
    assert!(score("", "src/main.rs").is_none());
    assert_eq!(ranked("zz", &["src/main.rs"]), Vec::<&str>::new());
}

#[test]
fn letters_in_a_row_at_a_segment_start_rank_first() {
    let paths = ["src/tui/mod.rs", "src/domain/maintenance.rs", "src/main.rs", "docs/summary_main.md"];
    assert_eq!(ranked("src/ma", &paths)[0], "src/main.rs");
    assert_eq!(ranked("main", &paths)[0], "src/main.rs", "the shorter path with the name at a segment start");
    assert_eq!(ranked("tmod", &paths), vec!["src/tui/mod.rs"]);
}

#[test]
fn an_empty_query_keeps_the_listing_order() {
    let paths = ["b", "a", "c"];
    assert_eq!(ranked("", &paths), vec!["b", "a", "c"]);
    assert_eq!(best("", &files(&paths), 2), vec![0, 1]);
}

#[test]
fn a_plain_walk_skips_hidden_entries_and_lists_nearest_first() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("src/deep")).unwrap();
    std::fs::create_dir_all(root.join(".hidden")).unwrap();
    for f in ["top.md", "src/main.rs", "src/deep/x.rs", ".hidden/secret", ".env"] {
        std::fs::write(root.join(f), "x").unwrap();
    }
    let list = walk(root);
    let names: Vec<&str> = list.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec!["src/deep/x.rs", "src/main.rs", "top.md"]);
    assert_eq!(list.files[0].1, 1, "sizes are kept");
    assert!(!list.capped);
}

#[test]
fn git_lists_untracked_files_and_honours_gitignore() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let git = |args: &[&str]| Command::new("git").args(args).current_dir(root).output().map(|o| o.status.success());
    if git(&["init", "-q"]).ok() != Some(true) {
        panic!("git is needed for this test");
    }
    std::fs::create_dir_all(root.join("target")).unwrap();
    std::fs::write(root.join(".gitignore"), "target/\n*.log\n").unwrap();
    for f in ["kept.rs", "target/out.bin", "debug.log"] {
        std::fs::write(root.join(f), "x").unwrap();
    }
    let list = list_files(root);
    let names: Vec<&str> = list.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, vec![".gitignore", "kept.rs"]);
}
