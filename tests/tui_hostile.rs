//! Hostile text through the real TUI on a real terminal: escape sequences in files, titles and
//! history reach the screen inert (the real binary and default model in tmux, every byte logged).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::hostile::{all_fixtures, hostile_history};
use common::tui::*;

#[test]
fn a_hostile_file_attached_in_the_tui_reaches_the_terminal_inert() {
    let dir = tempfile::tempdir().unwrap();
    // The name holds escapes too, in the extension as well (it becomes the fence's language).
    let file = dir.path().join("evil\x1b]0;named\x07\u{9b}2J\u{202E}txt.e\x1b[2Jxe");
    std::fs::write(&file, all_fixtures()).unwrap();
    let name_shown = "evil␛]0;named␇<U+009B>2J<U+202E>txt.e␛[2Jxe";
    let log = dir.path().join("terminal.log");
    let command = format!("{}; echo EXIT=$?; sleep 60", ember_command(dir.path(), "--no-history --max-tokens 12"));
    let tmux = start_logged(&command, dir.path(), &log, (250, 60));
    tmux.wait_loaded();

    // Typed keys would turn the name's ESC and BEL into Escape and Ctrl-G: it is pasted.
    let typed = dir.path().join("typed.txt");
    std::fs::write(&typed, format!("/file {}", file.display())).unwrap();
    assert!(tmux.run(&["load-buffer", "-b", "path"]).arg(&typed).status().unwrap().success());
    assert!(tmux.run(&["paste-buffer", "-d", "-p", "-b", "path", "-t", "e2e"]).status().unwrap().success());
    tmux.wait_for("the command in the composer", Duration::from_secs(20), |s| s.contains(name_shown));
    tmux.keys(&["Enter"]);
    let attached = tmux.wait_for("the file to be attached", Duration::from_secs(20), |s| s.contains("attached: "));
    let label = format!("attached: {}", dir.path().join(name_shown).display());
    assert_shown(&attached, &[label.as_str()], "attached");

    tmux.keys(&["What does this file say?", "Enter"]);
    let screen =
        wait_settled(&tmux, "the answer", Duration::from_secs(120), |s| s.contains("▍ember") && s.contains("○ idle"));
    let mut expected = fixtures_shown();
    expected.push(name_shown);
    // The code block's header: its language is the name's extension (unnumbered: the user's
    // file is not among the model's code blocks).
    expected.push("╭─ e␛[2Jxe ─");
    assert_shown(&screen, &expected, "the attached file in the transcript");
    quit(&tmux, "hostile file");
    assert_terminal_untouched(&tmux, &log, "hostile file");
}

#[test]
fn a_hostile_conversation_opened_from_history_reaches_the_terminal_inert() {
    let dir = tempfile::tempdir().unwrap();
    let id = hostile_history(dir.path());
    let listed = ["title ␛]0;pwned␇ <U+009B>2J <U+202E>txt.exe", "model␛]0;evil␇<U+202E>", "/tmp/␛[2Jdir"];
    for how in ["--session", "the picker"] {
        let log = dir.path().join(format!("terminal-{}.log", how.trim_start_matches('-').replace(' ', "-")));
        let args = if how == "--session" { format!("--session {id}") } else { String::new() };
        let command = format!("{}; echo EXIT=$?; sleep 60", ember_command(dir.path(), &args));
        let tmux = start_logged(&command, dir.path(), &log, (250, 70));
        tmux.wait_for("ember to start", Duration::from_secs(60), |s| s.contains("○ idle"));
        if how == "the picker" {
            tmux.keys(&["C-o"]);
            let picker =
                tmux.wait_for("the session picker", Duration::from_secs(20), |s| s.contains(&format!("{id:>4}  ")));
            assert_shown(&picker, &listed, "the picker's list");
            // A search shows snippets of the messages.
            tmux.keys(&["hostile"]);
            let found = tmux.wait_for("the search", Duration::from_secs(20), |s| s.contains("[hostile]"));
            assert_shown(&found, &listed[..1], "the picker's search");
            tmux.keys(&["Enter"]);
        }
        let screen = wait_settled(&tmux, "the conversation", Duration::from_secs(60), |s| {
            s.contains("hostile answer") && s.contains("ctx ")
        });
        let mut expected = fixtures_shown();
        expected.extend(["hostile question", "hostile answer"]);
        // 250 columns: the code pane takes 56 of them.
        assert_in_transcript(&screen, 250 - 56, &expected, how);
        // Opened with --session, the status names the conversation (its hostile title inert);
        // opened from a search hit, it says where the match is.
        let status = if how == "--session" {
            format!("continuing conversation {id}: {}", listed[0])
        } else {
            "opened at the match, message 1 of 2".to_string()
        };
        assert_shown(&screen, &[&status], how);
        quit(&tmux, how);
        assert_terminal_untouched(&tmux, &log, how);
    }
}
