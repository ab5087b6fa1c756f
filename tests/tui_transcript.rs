//! The transcript in the real TUI (the real binary and default model in tmux): a long code
//! block folds and unfolds while copy and save still give it whole, byte-exact; a search hit in
//! the session picker opens its conversation at the matching message, not at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::tui::*;
use ember::store::{NewConversation, NewMessage, Store, StoredRole};

/// The long block's code: 45 numbered lines.
fn long_code() -> String {
    (1..=45).map(|i| format!("print({i})  # line {i}\n")).collect()
}

/// A saved conversation: a question whose answer mentions a walrus, twenty more turns, then a
/// question answered with the long block (so the conversation ends with it).
fn seed(data: &std::path::Path, cwd: &std::path::Path) {
    std::fs::create_dir_all(data.join("ember")).unwrap();
    let mut store = Store::open(&data.join("ember/history.db")).unwrap();
    let model = common::default_model().display().to_string();
    let id = store
        .create_conversation(&NewConversation { model, system_prompt: None, cwd: cwd.display().to_string() })
        .unwrap();
    let mut parent = None;
    let mut say = |role, text: &str| {
        parent = Some(store.add_message(id, parent, &NewMessage::new(role, text)).unwrap());
    };
    say(StoredRole::User, "Which animal has tusks and lives on sea ice?");
    say(StoredRole::Assistant, "The walrus: it lives on the Arctic sea ice.");
    for i in 0..20 {
        say(StoredRole::User, &format!("filler question {i}"));
        say(StoredRole::Assistant, &format!("filler answer {i}"));
    }
    say(StoredRole::User, "Print forty-five numbers");
    say(StoredRole::Assistant, &format!("Here:\n\n```python\n{}```\n\nThat is all.", long_code()));
}

#[test]
fn a_search_hit_opens_at_its_message_and_a_long_block_folds_but_stays_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    seed(data, data);
    let ember = ember_command(data, "");
    let tmux = Tmux::start(&format!("{ember}; echo EXIT=$?; sleep 60"), data);
    tmux.wait_loaded();

    // Ctrl-O, a word from an early answer, Enter: the conversation opens at that message.
    tmux.keys(&["C-o"]);
    tmux.wait_for("the picker", Duration::from_secs(20), |s| s.contains("Which animal"));
    tmux.keys(&["-l", "walrus"]);
    tmux.wait_for("the search hit", Duration::from_secs(20), |s| s.contains("[walrus]"));
    tmux.keys(&["Enter"]);
    let opened = wait_settled(&tmux, "the conversation opened at the hit", Duration::from_secs(20), |s| {
        s.contains("opened at the match")
    });
    assert_in_transcript(&opened, 78, &["The walrus: it lives on the Arctic sea ice."], "opened at the hit");
    assert!(!opened.contains("That is all."), "the end is not shown:\n{opened}");

    // End in the transcript: the end, where the long block is folded.
    tmux.keys(&["Tab", "End"]);
    let folded = wait_settled(&tmux, "the folded block", Duration::from_secs(20), |s| s.contains("That is all."));
    assert_shown(&folded, &["print(10)  # line 10", "… 35 more lines (z unfolds)"], "folded");
    assert!(!folded.contains("line 11"), "folded:\n{folded}");

    // z unfolds it, z folds it again.
    tmux.keys(&["z"]);
    let unfolded = wait_settled(&tmux, "the unfolded block", Duration::from_secs(20), |s| s.contains("line 45"));
    assert!(!unfolded.contains("more lines"), "unfolded:\n{unfolded}");
    tmux.keys(&["z"]);
    wait_settled(&tmux, "folded again", Duration::from_secs(20), |s| {
        s.contains("35 more lines") && !s.contains("line 45")
    });

    // The code pane copies and saves the whole block, byte-exact, while it is folded.
    tmux.keys(&["Tab", "c"]);
    tmux.wait_for("the copy", Duration::from_secs(20), |s| s.contains("code block 1 sent to tmux"));
    assert_eq!(tmux.out(&["show-buffer"]), long_code(), "the copy is the whole block");
    tmux.keys(&["s"]);
    tmux.wait_for("the save prompt", Duration::from_secs(20), |s| s.contains("block1.py"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the save", Duration::from_secs(20), |s| s.contains("saved 927 bytes"));
    assert_eq!(std::fs::read_to_string(data.join("block1.py")).unwrap(), long_code(), "the file is the whole block");
    tmux.keys(&["Escape"]);
    quit(&tmux, "quitting");
}
