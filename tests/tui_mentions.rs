//! `@` mentions and `!command` in a real terminal (tmux) with the real binary and model: the
//! finder completes a path and the model is sent the file (read back from the saved
//! conversation), a command's output goes with the next message, Esc and quitting kill what a
//! command started, and hostile file names and output never reach the terminal raw.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::terminal::tui_stream_problems;
use common::tmux::Tmux;

/// ember in `dir`, history in `dir/data`, short greedy answers; the pane reports its exit.
fn start(dir: &Path) -> Tmux {
    let command = format!(
        "XDG_DATA_HOME='{}' EMBER_MODELS_DIR=/nonexistent {} --model '{}' -t 0 --seed 1 --max-tokens 8; echo EXIT=$?; sleep 60",
        dir.join("data").display(),
        env!("CARGO_BIN_EXE_ember"),
        common::default_model().display()
    );
    let tmux = Tmux::start(&command, dir);
    tmux.wait_loaded();
    tmux
}

fn wait_answered(tmux: &Tmux) {
    tmux.wait_for("the answer", Duration::from_secs(120), |s| s.contains("○ idle") && s.contains("tok/s"));
}

fn quit(tmux: &Tmux) {
    tmux.keys(&["C-d"]);
    let end = tmux.wait_for("ember to exit", Duration::from_secs(20), |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");
}

/// The first message of saved conversation 1, as the model was sent it.
fn first_message(dir: &Path) -> String {
    let json = common::history_export(&dir.join("data"), 1);
    json["messages"][0]["content"].as_str().unwrap().to_string()
}

/// Waits for `file` to hold a line (a pid a command wrote) and returns it.
fn read_pid(tmux: &Tmux, file: &Path) -> String {
    tmux.wait_for("the command to start", Duration::from_secs(20), |_| {
        std::fs::read_to_string(file).is_ok_and(|p| p.ends_with('\n'))
    });
    std::fs::read_to_string(file).unwrap().trim().to_string()
}

/// Whether process `pid` is gone (or a zombie about to be): waits up to ten seconds.
fn gone(pid: &str) -> bool {
    (0..100).any(|_| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
        let gone = stat.map_or(true, |s| s.rsplit(") ").next().is_some_and(|rest| rest.starts_with('Z')));
        if !gone {
            std::thread::sleep(Duration::from_millis(100));
        }
        gone
    })
}

#[test]
fn at_completes_a_path_and_the_model_is_sent_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src/tui")).unwrap();
    std::fs::write(dir.path().join("src/main.rs"), "fn marker_7731() {}\n").unwrap();
    std::fs::write(dir.path().join("src/tui/mod.rs"), "mod x;\n").unwrap();
    std::fs::write(dir.path().join("README.md"), "# readme\n").unwrap();
    let tmux = start(dir.path());

    tmux.keys(&["what is in @src/ma"]);
    let screen =
        tmux.wait_for("the finder", Duration::from_secs(20), |s| s.contains("@ file ·") && s.contains("src/main.rs"));
    assert!(!screen.contains("src/tui/mod.rs"), "only matches are listed: {screen}");
    tmux.keys(&["Tab"]);
    let screen = tmux
        .wait_for("the completed mention", Duration::from_secs(10), |s| s.contains("@src/main.rs (about 7 tokens)"));
    assert!(screen.contains("what is in @src/main.rs"), "{screen}");
    tmux.keys(&["?", "Enter"]);
    wait_answered(&tmux);
    quit(&tmux);
    assert_eq!(
        first_message(dir.path()),
        "src/main.rs:\n```rust\nfn marker_7731() {}\n```\n\nwhat is in @src/main.rs ?"
    );
}

#[test]
fn a_line_range_sends_only_those_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "one\ntwo\nthree\nfour\n").unwrap();
    let tmux = start(dir.path());
    tmux.keys(&["summarize @notes.txt#L2-3", "Enter"]);
    wait_answered(&tmux);
    quit(&tmux);
    assert_eq!(first_message(dir.path()), "notes.txt#L2-3:\n```txt\ntwo\nthree\n```\n\nsummarize @notes.txt#L2-3");
}

#[test]
fn a_command_s_output_goes_with_the_next_message_and_esc_or_quitting_kills_it() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = start(dir.path());

    tmux.keys(&["!echo hi", "Enter"]);
    let screen = tmux.wait_for("the output", Duration::from_secs(20), |s| s.contains("output attached"));
    assert!(screen.contains("attached: $ echo hi (exit 0)"), "{screen}");
    tmux.keys(&["what did it print?", "Enter"]);
    wait_answered(&tmux);

    // Esc kills the command's whole process group.
    tmux.keys(&["!echo $$ > one.pid; exec sleep 300", "Enter"]);
    let pid = read_pid(&tmux, &dir.path().join("one.pid"));
    tmux.wait_for("the running command", Duration::from_secs(10), |s| s.contains("running !echo"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the command to stop", Duration::from_secs(10), |s| s.contains("stopped by Esc"));
    assert!(gone(&pid), "Esc left the command running");

    // Quitting leaves nothing running either.
    tmux.keys(&["!echo $$ > two.pid; exec sleep 300", "Enter"]);
    let pid = read_pid(&tmux, &dir.path().join("two.pid"));
    quit(&tmux);
    assert!(gone(&pid), "quitting left the command running");

    assert_eq!(first_message(dir.path()), "$ echo hi (exit 0):\n```text\nhi\n```\n\nwhat did it print?");
}

#[test]
fn hostile_file_names_and_command_output_never_reach_the_terminal_raw() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("evil\x1b]0;pwned\x07\u{202e}.rs"), "fn f() {}\n").unwrap();
    let tmux = start(dir.path());
    let log = dir.path().join("terminal.log");
    tmux.log_output(&log);

    tmux.keys(&["@evil"]);
    tmux.wait_for("the hostile name in the finder", Duration::from_secs(20), |s| {
        s.contains("evil␛]0;pwned␇<U+202E>.rs")
    });
    tmux.keys(&["Tab", "C-u"]);
    tmux.keys(&["-l", r"!printf 'x\033]0;pwned\007\033[2Jy\rz\n'"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the output", Duration::from_secs(20), |s| s.contains("output attached"));
    tmux.keys(&["-l", "what is @evil"]);
    tmux.keys(&["Tab", "Enter"]);
    wait_answered(&tmux);
    let screen = tmux.screen();
    assert!(screen.contains("xy␍z"), "the output, escapes removed and controls shown: {screen}");
    assert!(screen.contains("evil␛]0;pwned␇<U+202E>.rs:"), "the label, shown: {screen}");
    quit(&tmux);
    std::thread::sleep(Duration::from_millis(300));
    let problems = tui_stream_problems(&std::fs::read(&log).unwrap(), false);
    assert!(problems.is_empty(), "{problems:?}");
    let sent = first_message(dir.path());
    assert!(sent.contains("$ printf") && sent.contains("xy␍z"), "{sent}");
    assert!(sent.contains("evil\x1b]0;pwned\x07\u{202e}.rs:\n```rust\nfn f() {}"), "the file itself is sent: {sent}");
}
