//! End to end in a real terminal: the real binary and the real default model inside tmux.
//! Ask for code, watch it stream highlighted into the transcript and the code pane, copy it
//! (OSC 52 into tmux's buffer), save it, quit, and check the terminal left the alternate screen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::tmux::Tmux;

#[test]
fn ask_for_code_copy_save_and_quit_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_ember");
    let model = common::default_model();
    let command = format!(
        "XDG_DATA_HOME='{}' EMBER_MODELS_DIR=/nonexistent NO_COLOR= {bin} --model '{}' -t 0 --seed 1 --max-tokens 200; echo EXIT=$?; sleep 60",
        dir.path().display(),
        model.display()
    );
    let tmux = Tmux::start(&command, dir.path());
    tmux.wait_for("the model to load", Duration::from_secs(60), |s| s.contains("○ idle") && s.contains("ctx 0/"));

    tmux.keys(&["Write a Python function is_prime(n)", "Enter"]);
    let screen = tmux.wait_for("a finished answer with code", Duration::from_secs(120), |s| {
        s.contains("[1] python") && s.contains("○ idle") && s.contains("tok/s")
    });
    assert!(screen.contains("def is_prime"), "{screen}");

    // The code is highlighted: colour escapes in the code lines of the transcript.
    let coloured = tmux.out(&["capture-pane", "-p", "-e", "-t", "e2e"]);
    let code_line = coloured.lines().find(|l| l.contains("is_prime") && l.contains('│')).unwrap_or_default();
    assert!(code_line.contains("\x1b[38;2;") || code_line.contains("\x1b[38;5;"), "not highlighted: {code_line:?}");

    // Copy from the code pane: OSC 52 lands in tmux's buffer.
    tmux.keys(&["Tab", "Tab"]);
    tmux.wait_for("the code pane to take focus", Duration::from_secs(10), |s| s.contains("c copy"));
    tmux.keys(&["c"]);
    tmux.wait_for("the copy", Duration::from_secs(10), |s| s.contains("copied code block 1"));
    let copied = tmux.out(&["show-buffer"]);
    assert!(copied.starts_with("def is_prime"), "clipboard holds {copied:?}");

    // Save it: the file holds exactly what was copied.
    tmux.keys(&["s"]);
    tmux.wait_for("the save prompt", Duration::from_secs(10), |s| s.contains("block1.py"));
    tmux.keys(&["C-u", "prime.py", "Enter"]);
    tmux.wait_for("the save", Duration::from_secs(10), |s| s.contains("saved"));
    let saved = std::fs::read(dir.path().join("prime.py")).unwrap();
    assert_eq!(saved, copied.as_bytes(), "saved file differs from the copied code");
    assert!(!saved.contains(&0x1b), "escape bytes in the saved code");

    // Quit with Ctrl-D on the empty composer; the terminal leaves the alternate screen.
    // (Escape and Ctrl-D sent together would read as Alt-Ctrl-D: wait for the focus change.)
    tmux.keys(&["Escape"]);
    tmux.wait_for("focus back on the message", Duration::from_secs(10), |s| !s.contains("c copy"));
    tmux.keys(&["C-d"]);
    let end = tmux.wait_for("ember to exit", Duration::from_secs(20), |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");
    assert!(!tmux.alternate_on());

    // The conversation was saved as it went.
    let list = Command::new(bin).args(["history", "list"]).env("XDG_DATA_HOME", dir.path()).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains("Write a Python function is_prime(n)") && list.contains("2 msgs"), "{list}");
}

#[test]
fn sigterm_and_sighup_restore_the_terminal() {
    for signal in ["TERM", "HUP"] {
        let dir = tempfile::tempdir().unwrap();
        let bin = env!("CARGO_BIN_EXE_ember");
        let command =
            format!("{bin} --no-history --model '{}'; echo EXIT=$?; sleep 60", common::default_model().display());
        let tmux = Tmux::start(&command, dir.path());
        tmux.wait_for("the model to load", Duration::from_secs(60), |s| s.contains("○ idle"));
        assert!(tmux.alternate_on());
        let pid = tmux.child_pid().expect("ember's pid not found");
        assert!(Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap().success());
        let end = tmux.wait_for("ember to exit", Duration::from_secs(20), |s| s.contains("EXIT="));
        let code = if signal == "TERM" { "EXIT=143" } else { "EXIT=129" };
        assert!(end.contains(code), "SIG{signal}: {end}");
        assert!(!tmux.alternate_on(), "SIG{signal}");
    }
}
