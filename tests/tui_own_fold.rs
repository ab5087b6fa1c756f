//! The user's own long code in the real TUI (the real binary and default model in tmux): a file
//! of 40 lines attached with `/file` shows folded in the message, `z` unfolds and folds it, and
//! the model was sent the whole file (the saved message holds every line).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::tui::*;

#[test]
fn an_attached_long_file_shows_folded_and_z_unfolds_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let code: String = (1..=40).map(|i| format!("value_{i} = {i}\n")).collect();
    std::fs::write(data.join("values.py"), &code).unwrap();
    let ember = ember_command(data, "--max-tokens 4");
    let tmux = Tmux::start(&format!("{ember}; echo EXIT=$?; sleep 60"), data);
    tmux.wait_loaded();
    tmux.keys(&["/file values.py", "Enter"]);
    tmux.wait_for("the attachment", Duration::from_secs(30), |s| s.contains("values.py"));
    tmux.keys(&["What is value_40?", "Enter"]);
    let answered =
        wait_settled(&tmux, "an answer", Duration::from_secs(120), |s| s.contains("▍ember") && s.contains("○ idle"));
    assert!(answered.contains("… 30 more lines (z unfolds)"), "the file is folded:\n{answered}");
    assert!(answered.contains("value_10 = 10"), "its first lines show:\n{answered}");
    assert!(!answered.contains("value_40 = 40"), "the rest is folded away:\n{answered}");
    assert!(answered.contains("What is value_40?"), "the question stays in view:\n{answered}");

    // z in the transcript (Tab moves the focus there) unfolds the message's block, z again folds.
    tmux.keys(&["Tab", "z"]);
    let unfolded = tmux.wait_for("unfolded", Duration::from_secs(20), |s| s.contains("your message unfolded"));
    tmux.keys(&["Home"]);
    let top = tmux.wait_for("the top", Duration::from_secs(20), |s| s.contains("value_1 = 1"));
    assert!(!top.contains("more lines"), "nothing is folded now:\n{top}\n{unfolded}");
    tmux.keys(&["End", "z"]);
    tmux.wait_for("folded again", Duration::from_secs(20), |s| s.contains("your message folded"));
    // Shift-Tab: back to the composer, where Ctrl-D quits.
    tmux.keys(&["BTab"]);
    quit(&tmux, "ember");

    // What was sent and saved is the whole file, byte for byte.
    let db = rusqlite::Connection::open(data.join("ember/history.db")).unwrap();
    let sent: String =
        db.query_row("SELECT content FROM messages WHERE role = 'user' ORDER BY id LIMIT 1", [], |r| r.get(0)).unwrap();
    assert!(sent.contains(&code), "the message holds the whole file:\n{sent}");
}
