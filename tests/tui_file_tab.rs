//! Tab completes `/file`'s path in a real terminal (tmux) with the real binary: the folder is
//! listed by the loop, off `update`, and its answer reaches the composer (the common start,
//! each candidate in turn, "no file" when none), the focus staying on the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::tmux::Tmux;

/// The screen's line that shows `/file `: the composer's (the transcript holds no command).
fn composer_line(screen: &str) -> String {
    screen.lines().find(|l| l.contains("/file ")).unwrap_or_default().to_string()
}

#[test]
fn tab_completes_a_file_path_and_the_file_is_attached() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alpha.rs"), "fn alpha() {}\n").unwrap();
    std::fs::create_dir(dir.path().join("alps")).unwrap();
    std::fs::write(dir.path().join("beta.txt"), "").unwrap();
    let command = format!(
        "{} --no-history --model '{}' -t 0 --seed 1 --max-tokens 8; echo EXIT=$?; sleep 60",
        env!("CARGO_BIN_EXE_ember"),
        common::default_model().display()
    );
    let tmux = Tmux::start(&command, dir.path());
    tmux.wait_loaded();

    tmux.keys(&["/file a", "Tab"]);
    tmux.wait_for("the common start", Duration::from_secs(10), |s| composer_line(s).contains("/file alp "));
    tmux.keys(&["Tab"]);
    tmux.wait_for("the first candidate", Duration::from_secs(10), |s| composer_line(s).contains("/file alpha.rs"));
    tmux.keys(&["Tab"]);
    tmux.wait_for("the next candidate", Duration::from_secs(10), |s| composer_line(s).contains("/file alps/"));
    tmux.keys(&["C-u", "/file zz", "Tab"]);
    let screen =
        tmux.wait_for("no candidates", Duration::from_secs(10), |s| s.contains("no file or folder starts with that"));
    assert!(composer_line(&screen).contains("/file zz"), "the text stays: {screen}");

    // The focus stayed on the message through every Tab: Enter attaches the completed file.
    tmux.keys(&["C-u", "/file alpha", "Tab"]);
    tmux.wait_for("the one candidate", Duration::from_secs(10), |s| composer_line(s).contains("/file alpha.rs"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the file attached", Duration::from_secs(20), |s| s.contains("attached: alpha.rs"));

    tmux.keys(&["C-d"]);
    let end = tmux.wait_for("ember to exit", Duration::from_secs(20), |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");
}
