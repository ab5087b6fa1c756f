//! End to end in a real terminal: the real binary and the real default model inside tmux.
//! Ask for code, watch it stream highlighted into the transcript and the code pane, copy it
//! (OSC 52 into tmux's buffer), save it, quit, and check the terminal left the alternate screen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::tmux::Tmux;
use common::tui::*;

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
    tmux.wait_loaded();

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
    tmux.wait_for("the copy", Duration::from_secs(10), |s| s.contains("code block 1 sent to tmux and the terminal"));
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
        tmux.wait_loaded();
        assert!(tmux.alternate_on());
        let pid = tmux.child_pid().expect("ember's pid not found");
        assert!(Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap().success());
        let end = tmux.wait_for("ember to exit", Duration::from_secs(20), |s| s.contains("EXIT="));
        let code = if signal == "TERM" { "EXIT=143" } else { "EXIT=129" };
        assert!(end.contains(code), "SIG{signal}: {end}");
        assert!(!tmux.alternate_on(), "SIG{signal}");
    }
}

#[test]
fn a_resize_storm_while_streaming_and_a_1_mb_paste() {
    let dir = tempfile::tempdir().unwrap();
    let command = format!("{}; echo EXIT=$?; sleep 60", ember_command(dir.path(), "--no-history --max-tokens 150"));
    let tmux = Tmux::start(&command, dir.path());
    tmux.wait_loaded();
    tmux.keys(&["Write a long story about a dragon and a knight.", "Enter"]);
    tmux.wait_for("the answer to stream", Duration::from_secs(60), |s| s.contains("● answering"));
    let sizes = [(120, 35), (40, 10), (200, 60), (15, 5), (80, 24), (1, 1), (100, 30), (3, 40)];
    for (i, (w, h)) in sizes.iter().cycle().take(80).enumerate() {
        let (w, h) = (w.to_string(), h.to_string());
        assert!(tmux.run(&["resize-window", "-t", "e2e", "-x", &w, "-y", &h]).status().unwrap().success());
        if i % 8 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(tmux.run(&["resize-window", "-t", "e2e", "-x", "120", "-y", "35"]).status().unwrap().success());
    assert!(tmux.child_pid().is_some(), "ember died in the resize storm:\n{}", tmux.screen());
    let screen = tmux.wait_for("the answer to end", Duration::from_secs(180), |s| s.contains("○ idle"));
    assert!(screen.contains("▍ember") && screen.contains("ctx "), "{screen}");

    // 1 MB in one bracketed paste lands in the composer; the chat stays responsive.
    let paste = dir.path().join("paste.txt");
    let mut text = "let x = 1; // some pasted code that goes on for a while\n".repeat(18_000);
    text.push_str("PASTE-END");
    assert!(text.len() > 1_000_000);
    std::fs::write(&paste, &text).unwrap();
    assert!(tmux.run(&["load-buffer", "-b", "big"]).arg(&paste).status().unwrap().success());
    let started = std::time::Instant::now();
    assert!(tmux.run(&["paste-buffer", "-p", "-b", "big", "-t", "e2e"]).status().unwrap().success());
    tmux.wait_for("the paste in the composer", Duration::from_secs(60), |s| s.contains("PASTE-END"));
    eprintln!("1 MB paste shown after {:.1} s", started.elapsed().as_secs_f64());
    tmux.keys(&["C-c"]);
    tmux.wait_for("Ctrl-C to clear the draft", Duration::from_secs(20), |s| !s.contains("PASTE-END"));
    tmux.keys(&["C-d"]);
    let end = tmux.wait_for("ember to exit", Duration::from_secs(20), |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");
    assert!(!tmux.alternate_on());
}

/// Opens a FIFO for writing on drop, from a thread of its own, so that a reader blocked opening
/// it (ember's loader) goes on, and the test never waits for one that is not there.
struct ReleaseFifo(std::path::PathBuf);

impl Drop for ReleaseFifo {
    fn drop(&mut self) {
        let path = self.0.clone();
        std::thread::spawn(move || std::fs::OpenOptions::new().write(true).open(path));
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn ctrl_c_while_loading_quits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    // The model is a FIFO nobody writes to: the loader opens it to read the GGUF header and waits
    // there, so the model is loading, deterministically, for as long as the test needs.
    let model = dir.path().join("model.gguf");
    assert!(Command::new("mkfifo").arg(&model).status().unwrap().success());
    let _release = ReleaseFifo(model.clone());
    let command = format!(
        "XDG_DATA_HOME='{}' EMBER_MODELS_DIR=/nonexistent {} --model '{}' --no-history; echo EXIT=$?; sleep 60",
        dir.path().display(),
        env!("CARGO_BIN_EXE_ember"),
        model.display()
    );
    let tmux = Tmux::start(&command, dir.path());
    let loading = |s: &str| s.contains("loading 0%") && s.contains("Loading the model") && !s.contains("ctx ");
    tmux.wait_for("ember to show the model loading", Duration::from_secs(30), loading);
    // The first Ctrl-C arms quitting, the second quits: both while the model loads.
    tmux.keys(&["C-c"]);
    let armed = tmux.wait_for("the first Ctrl-C", Duration::from_secs(20), |s| s.contains("press Ctrl-C again"));
    assert!(loading(&armed), "the model was not loading when the first Ctrl-C arrived:\n{armed}");
    tmux.keys(&["C-c"]);
    let start = std::time::Instant::now();
    while !tmux.screen().contains("EXIT=") {
        let engine = tmux.child_pid().map(|pid| threads_of(&pid)).unwrap_or_default();
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "ember did not exit within 30 s of the second Ctrl-C while the model was loading; \
             its threads: {engine}\nscreen:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let end = tmux.screen();
    assert!(end.contains("EXIT=0"), "{end}");
    assert!(!tmux.alternate_on());
}

/// The threads of process `pid` and where each waits in the kernel, for failure messages.
fn threads_of(pid: &str) -> String {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return String::new() };
    tasks
        .filter_map(Result::ok)
        .map(|t| {
            let read = |f: &str| std::fs::read_to_string(t.path().join(f)).unwrap_or_default().trim().to_string();
            format!("{} in {}", read("comm"), read("wchan"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn ctrl_c_while_answering_then_sigkill_then_continue() {
    let dir = tempfile::tempdir().unwrap();
    let ember = ember_command(dir.path(), "--max-tokens 400");
    let command = format!("{ember}; echo EXIT=$?; {ember} -c; echo EXIT2=$?; sleep 60");
    let tmux = Tmux::start(&command, dir.path());
    tmux.wait_loaded();
    tmux.keys(&["Tell me a long story about a red dragon.", "Enter"]);
    tmux.wait_for("the answer to stream", Duration::from_secs(60), |s| s.contains("● answering"));
    std::thread::sleep(Duration::from_millis(500));
    tmux.keys(&["C-c"]);
    let stopped = tmux.wait_for("the answer to stop", Duration::from_secs(20), |s| s.contains("○ idle"));
    assert!(stopped.contains("[stopped]"), "{stopped}");
    tmux.keys(&["Now a story about a blue whale.", "Enter"]);
    tmux.wait_for("the second answer to stream", Duration::from_secs(60), |s| s.contains("● answering"));
    let pid = tmux.child_pid().expect("ember's pid");
    assert!(Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    // The second ember continues the conversation: both questions and the stopped answer are there.
    let resumed = tmux.wait_for("the conversation to continue", Duration::from_secs(60), |s| {
        s.contains("continuing conversation") && s.contains("○ idle")
    });
    assert!(resumed.contains("red dragon") && resumed.contains("blue whale"), "{resumed}");
    assert!(resumed.contains("[stopped]"), "{resumed}");
    tmux.keys(&["C-d"]);
    let end = tmux.wait_for("ember to exit", Duration::from_secs(20), |s| s.contains("EXIT2="));
    assert!(end.contains("EXIT2=0"), "{end}");
    let show = Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(["history", "show", "1"])
        .env("XDG_DATA_HOME", dir.path())
        .output()
        .unwrap();
    let show = String::from_utf8_lossy(&show.stdout);
    assert!(show.contains("red dragon") && show.contains("[stopped]") && show.contains("blue whale"), "{show}");
}

#[test]
fn the_model_file_overwritten_while_the_chat_answers() {
    let dir = tempfile::tempdir().unwrap();
    // A copy of the model that the test then overwrites in place, as `cp` or a download would.
    let model = dir.path().join("m.gguf");
    std::fs::copy(common::default_model(), &model).unwrap();
    let command = format!(
        "XDG_DATA_HOME='{}' EMBER_MODELS_DIR=/nonexistent {} --model '{}' -t 0 --seed 1 --no-history --max-tokens 200; echo EXIT=$?; sleep 60",
        dir.path().display(),
        env!("CARGO_BIN_EXE_ember"),
        model.display()
    );
    let tmux = Tmux::start(&command, dir.path());
    tmux.wait_loaded();
    tmux.keys(&["Write a long story about a dragon and a knight.", "Enter"]);
    tmux.wait_for("the answer to stream", Duration::from_secs(60), |s| s.contains("● answering"));
    std::fs::File::options().write(true).open(&model).unwrap().set_len(0).unwrap();
    std::fs::write(&model, b"GGUF but not really a model any more").unwrap();
    let screen = tmux.wait_for("the answer to end", Duration::from_secs(180), |s| s.contains("○ idle"));
    assert!(tmux.child_pid().is_some(), "ember died when its model file was overwritten:\n{screen}");
    // The chat goes on with the model it loaded.
    tmux.keys(&["And then?", "Enter"]);
    tmux.wait_for("a second answer", Duration::from_secs(60), |s| s.contains("● answering"));
    tmux.wait_for("the second answer to end", Duration::from_secs(180), |s| s.contains("○ idle"));
    tmux.keys(&["C-d"]);
    let end = tmux.wait_for("ember to exit", Duration::from_secs(20), |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");
}

#[test]
fn a_pause_in_typing_evaluates_the_message_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let command = format!(
        "XDG_STATE_HOME='{}' EMBER_LOG=ember=debug {} --no-history --max-tokens 20; echo EXIT=$?; sleep 60",
        dir.path().display(),
        ember_command(dir.path(), "")
    );
    let tmux = Tmux::start(&command, dir.path());
    tmux.wait_loaded();
    let log = dir.path().join("ember").join("ember.log");
    let prefills = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains("evaluated ahead"))
            .filter_map(|l| l.split("Ok(").nth(1)?.split(')').next()?.parse::<usize>().ok())
            .collect::<Vec<_>>()
    };
    // Typed without a pause, then a pause: the message so far is evaluated while the user waits.
    tmux.keys(&["Tell me about the history of Rome and its first emperors"]);
    let start = std::time::Instant::now();
    while prefills().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no prefill after a pause; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(prefills().iter().any(|&n| n >= 10), "{:?}", prefills());
    tmux.keys(&["Enter"]);
    // The answer comes as usual (20 tokens: the status line says it was cut there).
    tmux.wait_for("the answer to end", Duration::from_secs(120), |s| {
        s.contains("○ idle") && (s.contains("cached") || s.contains("token limit"))
    });
    tmux.keys(&["C-d"]);
    let end = tmux.wait_for("ember to exit", Duration::from_secs(20), |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");
}
