use super::*;

#[test]
fn writes_atomically_and_keeps_the_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.sh");
    std::fs::write(&path, "old\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o751)).unwrap();
    write_atomic(&path, "new\n").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o751);
    // No temporary file is left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn binary_and_non_utf8_files_are_refused_and_a_missing_one_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let (bin, latin) = (dir.path().join("a.bin"), dir.path().join("l.txt"));
    std::fs::write(&bin, b"ab\0cd").unwrap();
    std::fs::write(&latin, b"caf\xe9\n").unwrap();
    assert_eq!(read_text(&bin, "a.bin"), Err(EditError::Binary("a.bin".into())));
    assert_eq!(read_text(&latin, "l.txt"), Err(EditError::NotUtf8("l.txt".into())));
    assert_eq!(read_text(&dir.path().join("none"), "none"), Ok(None));
    assert_eq!(
        read_text(&latin, "l.txt").unwrap_err().to_string(),
        "l.txt is not UTF-8 text: ember edits UTF-8 text files only"
    );
}

#[test]
fn a_link_out_of_the_working_tree_is_told_apart_and_written_through() {
    let tree = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("secret.txt");
    std::fs::write(&target, "x\n").unwrap();
    std::os::unix::fs::symlink(&target, tree.path().join("link.txt")).unwrap();
    std::fs::write(tree.path().join("plain.txt"), "y\n").unwrap();

    let link = resolve(Path::new("link.txt"), tree.path()).unwrap();
    assert_eq!(link.outside, Some(target.canonicalize().unwrap()));
    assert_eq!(link.real, target.canonicalize().unwrap(), "the link's file is written, not the link replaced");
    let plain = resolve(Path::new("./sub/../plain.txt"), tree.path()).unwrap();
    assert_eq!((plain.real, plain.outside), (tree.path().canonicalize().unwrap().join("plain.txt"), None));
    let new = resolve(Path::new("new.txt"), tree.path()).unwrap();
    assert_eq!(new.outside, None);
    // A path named outside the tree on purpose is not a link leading out.
    assert_eq!(resolve(&target, tree.path()).unwrap().outside, None);
    assert!(resolve(Path::new("no/such/dir/f"), tree.path()).is_err());
}

#[test]
fn restore_puts_back_or_removes_and_refuses_a_file_changed_since() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.txt");
    std::fs::write(&path, "after\n").unwrap();
    restore(&path, Some("before\n"), "after\n").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "before\n");
    assert!(matches!(restore(&path, Some("x"), "after\n"), Err(EditError::Edited { .. })));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "before\n", "a refused undo changes nothing");
    restore(&path, None, "before\n").unwrap();
    assert!(!path.exists(), "undoing the creation of a file removes it");
}
