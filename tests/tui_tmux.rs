//! End to end in a real terminal: the real binary and the real default model inside tmux.
//! Ask for code, watch it stream highlighted into the transcript and the code pane, copy it
//! (OSC 52 into tmux's buffer), save it, quit, and check the terminal left the alternate screen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::hostile::{all_fixtures, escape_fixtures, hostile_history};
use common::tmux::Tmux;
use ember::store::{NewConversation, NewMessage, Store, StoredRole};

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

/// The ember command line for a test: its own data folder, the default model, greedy.
fn ember_command(data: &std::path::Path, args: &str) -> String {
    format!(
        "XDG_DATA_HOME='{}' EMBER_MODELS_DIR=/nonexistent {} --model '{}' -t 0 --seed 1 {args}",
        data.display(),
        env!("CARGO_BIN_EXE_ember"),
        common::default_model().display()
    )
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

// ---------------------------------------------------------------------------------------------
// Hostile text through the real TUI on a real terminal

/// The pane title the hostile tests set before ember starts: an OSC 0 or 2 that reached tmux
/// would replace it.
const PANE_TITLE: &str = "ember-test-title";

/// Starts `command` in tmux (`width` x `height`) with every byte the pane writes logged to
/// `log` from the very first: the pane waits for a file the test creates once the log runs.
fn start_logged(command: &str, dir: &Path, log: &Path, (width, height): (u16, u16)) -> Tmux {
    let go = log.with_extension("go");
    let tmux = Tmux::start(&format!("while [ ! -e '{}' ]; do sleep 0.05; done; {command}", go.display()), dir);
    let (w, h) = (width.to_string(), height.to_string());
    assert!(tmux.run(&["resize-window", "-t", "e2e", "-x", &w, "-y", &h]).status().unwrap().success());
    assert!(tmux.run(&["select-pane", "-t", "e2e", "-T", PANE_TITLE]).status().unwrap().success());
    tmux.log_output(log);
    std::fs::write(&go, "").unwrap();
    tmux
}

/// Waits until `ok` holds on two screens taken 300 ms apart: one capture can catch a frame
/// half drawn (a new transcript line with the old status line).
fn wait_settled(tmux: &Tmux, what: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
    let start = std::time::Instant::now();
    loop {
        let left = timeout.saturating_sub(start.elapsed()).max(Duration::from_millis(1));
        tmux.wait_for(what, left, &ok);
        std::thread::sleep(Duration::from_millis(300));
        let screen = tmux.screen();
        if ok(&screen) {
            return screen;
        }
    }
}

/// Asserts that every string of `expected` is on `screen`.
fn assert_shown(screen: &str, expected: &[&str], what: &str) {
    for e in expected {
        assert!(screen.contains(e), "{what}: {e:?} is not on the screen:\n{screen}");
    }
}

/// Asserts that every string of `expected` is in the transcript, the left `columns` of `screen`:
/// it reflows Markdown paragraphs, so a line of a message can wrap anywhere. Whitespace is
/// ignored on both sides.
fn assert_in_transcript(screen: &str, columns: usize, expected: &[&str], what: &str) {
    let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let text: String = screen.lines().map(|l| squash(&l.chars().take(columns).collect::<String>())).collect();
    for e in expected {
        assert!(text.contains(&squash(e)), "{what}: {e:?} is not in the transcript:\n{screen}");
    }
}

/// The visible form of every fixture: what the screen must show wherever the fixtures are.
fn fixtures_shown() -> Vec<&'static str> {
    escape_fixtures().into_iter().flat_map(|(_, _, shown)| shown.iter().copied()).collect()
}

/// Asserts that nothing ember wrote could command the terminal: the raw bytes hold only the
/// drawing a TUI needs, the pane's title is the one the test set, and no OSC 52 reached tmux's
/// paste buffers (set-clipboard is on).
fn assert_terminal_untouched(tmux: &Tmux, log: &Path, what: &str) {
    // pipe-pane forwards asynchronously: give the last bytes a moment.
    std::thread::sleep(Duration::from_millis(500));
    let raw = std::fs::read(log).unwrap();
    // The log runs from ember's start (entering the alternate screen) to its end (leaving it).
    let has = |seq: &[u8]| raw.windows(seq.len()).any(|w| w == seq);
    assert!(has(b"\x1b[?1049h") && has(b"\x1b[?1049l"), "{what}: the log misses ember's start or end");
    let problems = common::terminal::tui_stream_problems(&raw, false);
    assert!(problems.is_empty(), "{what}: the terminal received {problems:#?}");
    let title = tmux.out(&["display-message", "-p", "-t", "e2e", "#{pane_title}"]);
    assert_eq!(title.trim(), PANE_TITLE, "{what}: the pane's title was changed");
    let buffers = tmux.out(&["list-buffers"]);
    assert!(buffers.trim().is_empty(), "{what}: a paste buffer appeared (OSC 52): {buffers}");
}

/// Quits with Ctrl-D on the empty composer; ember exits 0 and leaves the alternate screen.
fn quit(tmux: &Tmux, what: &str) {
    tmux.keys(&["C-d"]);
    let end = tmux.wait_for("ember to exit", Duration::from_secs(30), |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{what}: {end}");
    assert!(!tmux.alternate_on(), "{what}: still on the alternate screen");
}

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
        assert_shown(&screen, &[&format!("continuing conversation {id}: {}", listed[0])], how);
        quit(&tmux, how);
        assert_terminal_untouched(&tmux, &log, how);
    }
}

// ---------------------------------------------------------------------------------------------
// Versions (/retry, /edit) and resuming, with history on

fn export_when(data: &Path, id: i64, what: &str, ok: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
    let start = std::time::Instant::now();
    loop {
        let json = common::history_export(data, id);
        let messages = json["messages"].as_array().cloned().unwrap_or_default();
        if ok(&messages) {
            return messages;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{what}: the saved conversation is {json:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A stored message's id and its version ("branch": [at, of]).
fn version(m: &serde_json::Value) -> (i64, (u64, u64)) {
    (m["id"].as_i64().unwrap(), (m["branch"][0].as_u64().unwrap(), m["branch"][1].as_u64().unwrap()))
}

#[test]
fn retry_and_edit_versions_are_saved_switched_and_shown_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let ember = ember_command(data, "--max-tokens 16");
    let command = format!("{ember}; echo EXIT=$?; {ember} -c; echo EXIT2=$?; sleep 60");
    let tmux = Tmux::start(&command, data);
    tmux.wait_loaded();
    let idle_with_answer = |s: &str| s.contains("▍ember") && s.contains("○ idle");

    // A question and its answer.
    tmux.keys(&["What is the capital of France?", "Enter"]);
    wait_settled(&tmux, "the first answer", Duration::from_secs(120), idle_with_answer);
    let first = export_when(data, 1, "the first answer", |m| m.len() == 2);
    let (q1, _) = version(&first[0]);
    let (a1, _) = version(&first[1]);

    // /retry: a second version of the answer, the first kept.
    tmux.keys(&["/retry", "Enter"]);
    let retried = wait_settled(&tmux, "the retried answer", Duration::from_secs(120), |s| {
        idle_with_answer(s) && s.contains("‹ 2/2 ›")
    });
    assert!(retried.contains("France"), "{retried}");
    let after_retry = export_when(data, 1, "the retried answer", |m| m.len() == 2 && m[1]["id"] != a1);
    let (a1b, v) = version(&after_retry[1]);
    assert_eq!((version(&after_retry[0]), v), ((q1, (1, 1)), (2, 2)), "{after_retry:#?}");

    // /edit: the question comes back into the composer; a changed one is a second version of it.
    tmux.keys(&["/edit", "Enter"]);
    tmux.wait_for("the question in the composer", Duration::from_secs(20), |s| {
        s.contains("edit the message") && s.contains("What is the capital of France?") && !s.contains("▍you")
    });
    tmux.keys(&["C-u"]);
    tmux.wait_for("the composer to clear", Duration::from_secs(20), |s| !s.contains("capital of France"));
    tmux.keys(&["What is the capital of Italy?", "Enter"]);
    let edited = wait_settled(&tmux, "the edited question's answer", Duration::from_secs(120), |s| {
        idle_with_answer(s) && s.contains("Italy") && s.contains("‹ 2/2 ›")
    });
    assert!(!edited.contains("France?"), "{edited}");
    let after_edit = export_when(data, 1, "the edited question", |m| m.len() == 2 && m[0]["id"] != q1);
    let (q2, v) = version(&after_edit[0]);
    let (a2, _) = version(&after_edit[1]);
    assert_eq!(v, (2, 2), "{after_edit:#?}");
    assert!(after_edit[0]["content"].as_str().unwrap().contains("Italy"), "{after_edit:#?}");

    // ← with the transcript focused: the latest message with versions (the question) goes back
    // to the first; its answer is the newest under it (the retried one).
    tmux.keys(&["Tab"]);
    tmux.keys(&["Left"]);
    let back = wait_settled(&tmux, "the first question again", Duration::from_secs(20), |s| {
        s.contains("France?") && !s.contains("Italy") && s.contains("‹ 1/2 ›") && s.contains("‹ 2/2 ›")
    });
    assert!(back.contains("showing another version"), "{back}");
    let m = export_when(data, 1, "the first question again", |m| m.len() == 2 && m[0]["id"] == q1);
    assert_eq!((version(&m[0]), version(&m[1])), ((q1, (1, 2)), (a1b, (2, 2))), "{m:#?}");
    // ← again: now the answer is the latest message with versions; back to its first version.
    tmux.keys(&["Left"]);
    wait_settled(&tmux, "the first answer again", Duration::from_secs(20), |s| {
        s.contains("France?") && s.matches("‹ 1/2 ›").count() == 2 && !s.contains("‹ 2/2 ›")
    });
    let m = export_when(data, 1, "the first answer again", |m| m.len() == 2 && m[1]["id"] == a1);
    assert_eq!((version(&m[0]), version(&m[1])), ((q1, (1, 2)), (a1, (1, 2))), "{m:#?}");

    // Quit (typing in the transcript goes to the composer) and continue with -c.
    tmux.keys(&["/quit", "Enter"]);
    let resumed = wait_settled(&tmux, "the conversation to continue", Duration::from_secs(60), |s| {
        (s.contains("continuing conversation 1") || s.contains("resumed with")) && s.contains("○ idle")
    });
    // The version left on is shown: the first question and its first answer, each "1 of 2".
    assert!(resumed.contains("France?") && !resumed.contains("Italy"), "{resumed}");
    assert_eq!(resumed.matches("‹ 1/2 ›").count(), 2, "{resumed}");
    assert!(!resumed.contains("‹ 2/2 ›"), "{resumed}");
    let answer_start: String = m[1]["content"].as_str().unwrap().chars().take(20).collect();
    assert!(resumed.contains(answer_start.trim()), "{answer_start:?} not shown:\n{resumed}");

    // The other versions are reachable: → shows the retried answer...
    tmux.keys(&["Tab"]);
    tmux.keys(&["Right"]);
    wait_settled(&tmux, "the retried answer after the restart", Duration::from_secs(20), |s| {
        s.contains("France?") && s.contains("‹ 1/2 ›") && s.contains("‹ 2/2 ›")
    });
    let m = export_when(data, 1, "the retried answer after the restart", |m| m.len() == 2 && m[1]["id"] == a1b);
    assert_eq!((version(&m[0]), version(&m[1])), ((q1, (1, 2)), (a1b, (2, 2))), "{m:#?}");
    // ...and, scrolled back so that the question is the first message with versions in view
    // (a small window: the transcript no longer fits), → shows the edited question.
    assert!(tmux.run(&["resize-window", "-t", "e2e", "-x", "50", "-y", "10"]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(500));
    tmux.keys(&["Home"]);
    tmux.keys(&["Right"]);
    let italy = wait_settled(&tmux, "the edited question after the restart", Duration::from_secs(20), |s| {
        s.contains("Italy") && s.contains("‹ 2/2 ›")
    });
    let m = export_when(data, 1, "the edited question after the restart", |m| m.len() == 2 && m[0]["id"] == q2);
    assert_eq!((version(&m[0]), version(&m[1])), ((q2, (2, 2)), (a2, (1, 1))), "{m:#?}\n{italy}");
    assert!(tmux.run(&["resize-window", "-t", "e2e", "-x", "120", "-y", "35"]).status().unwrap().success());
    tmux.keys(&["/quit", "Enter"]);
    let end = tmux.wait_for("ember to exit", Duration::from_secs(30), |s| s.contains("EXIT2="));
    assert!(end.contains("EXIT=0") && end.contains("EXIT2=0"), "{end}");
    assert!(!tmux.alternate_on());
    // The export follows the branch left on.
    let last = common::history_export(data, 1);
    assert_eq!(last["messages"].as_array().map(Vec::len), Some(2), "{last:#}");
    assert_eq!(version(&last["messages"][0]), (q2, (2, 2)), "{last:#}");
    assert_eq!(version(&last["messages"][1]).0, a2, "{last:#}");
}

/// One finished turn as the debug log records it ("turn done").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LoggedTurn {
    prompt: usize,
    reused: usize,
    evaluated: usize,
    generated: usize,
}

/// Every turn in the debug log at `log`, in order.
fn logged_turns(log: &Path) -> Vec<LoggedTurn> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let field = |line: &str, name: &str| -> usize {
        let at = line.find(&format!("{name}: ")).unwrap_or_else(|| panic!("no {name} in {line}"));
        let rest = &line[at + name.len() + 2..];
        rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())].parse().unwrap()
    };
    text.lines()
        .filter(|l| l.contains("turn done"))
        .map(|l| LoggedTurn {
            prompt: field(l, "prompt_tokens"),
            reused: field(l, "reused_tokens"),
            evaluated: field(l, "evaluated_tokens"),
            generated: field(l, "generated_tokens"),
        })
        .collect()
}

#[test]
fn a_conversation_resumed_in_the_tui_answers_as_it_would_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = dir.path().join("state");
    // One thread, in the chat and in the run from scratch alike.
    let flags = "--threads 1 --max-tokens 24";
    let command = format!(
        "XDG_STATE_HOME='{}' EMBER_LOG=ember=debug {}; echo EXIT=$?; sleep 60",
        state.display(),
        ember_command(&data, flags)
    );
    let tmux = Tmux::start(&command, dir.path());
    tmux.wait_loaded();
    let question = "What is the capital of France?";
    let follow_up = "What is its population?";

    // Conversation A, then a new conversation B: leaving A saves its evaluated context.
    tmux.keys(&[question, "Enter"]);
    wait_settled(&tmux, "A's answer", Duration::from_secs(120), |s| s.contains("▍ember") && s.contains("○ idle"));
    tmux.keys(&["/new", "Enter"]);
    tmux.wait_for("a new conversation", Duration::from_secs(20), |s| s.contains("new conversation"));
    let kv = data.join("ember/kv");
    let saved = || std::fs::read_dir(&kv).map(|d| d.filter_map(Result::ok).count()).unwrap_or(0);
    let start = std::time::Instant::now();
    while saved() == 0 {
        assert!(start.elapsed() < Duration::from_secs(20), "A's context was not saved in {}", kv.display());
        std::thread::sleep(Duration::from_millis(100));
    }
    tmux.keys(&["Name three colours.", "Enter"]);
    wait_settled(&tmux, "B's answer", Duration::from_secs(120), |s| {
        s.contains("colours") && s.contains("▍ember") && s.contains("○ idle")
    });

    // Back to A through the picker: its saved context is loaded, then the follow-up is asked.
    tmux.keys(&["C-o"]);
    tmux.wait_for("the picker", Duration::from_secs(20), |s| s.matches(" msgs ").count() == 2);
    tmux.keys(&["France"]);
    tmux.wait_for("the search", Duration::from_secs(20), |s| s.contains("[France]"));
    tmux.keys(&["Enter"]);
    let resumed = tmux.wait_for("A's context to load", Duration::from_secs(30), |s| s.contains("resumed with"));
    assert!(resumed.contains(question) && !resumed.contains("colours"), "{resumed}");
    tmux.keys(&[follow_up, "Enter"]);
    wait_settled(&tmux, "the follow-up's answer", Duration::from_secs(120), |s| {
        s.contains(follow_up) && s.matches("▍ember").count() == 2 && s.contains("○ idle")
    });
    quit(&tmux, "resumed conversation");

    let a = common::history_export(&data, 1);
    let messages = a["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4, "{a:#}");
    assert_eq!(messages[2]["content"], follow_up, "{a:#}");
    let resumed_answer = messages[3]["content"].as_str().unwrap().to_string();

    // The saved context was used: the follow-up reused more than A's whole first prompt (from
    // B's context only the start of the template would have matched).
    let turns = logged_turns(&state.join("ember/ember.log"));
    assert_eq!(turns.len(), 3, "{turns:?}");
    let (first, follow) = (turns[0], turns[2]);
    assert!(follow.reused > first.prompt, "the saved context was not used: {turns:?}");
    assert_eq!(follow.reused + follow.evaluated, follow.prompt, "{turns:?}");

    // The same conversation from scratch: a fresh data folder (no saved contexts) holding A's
    // first question and answer, continued in pipe mode with the same follow-up.
    let fresh = dir.path().join("fresh");
    let fresh_state = dir.path().join("fresh-state");
    let id = {
        let mut store = Store::open(&fresh.join("ember/history.db")).unwrap();
        let id = store
            .create_conversation(&NewConversation {
                model: a["model"].as_str().unwrap().into(),
                system_prompt: a["system_prompt"].as_str().map(String::from),
                cwd: dir.path().display().to_string(),
            })
            .unwrap();
        let text = |i: usize| messages[i]["content"].as_str().unwrap();
        let q = store.add_message(id, None, &NewMessage::new(StoredRole::User, text(0))).unwrap();
        store.add_message(id, Some(q), &NewMessage::new(StoredRole::Assistant, text(1))).unwrap();
        id
    };
    let out = Command::new(env!("CARGO_BIN_EXE_ember"))
        .arg("--model")
        .arg(common::default_model())
        .args(["-t", "0", "--seed", "1", "--threads", "1", "--max-tokens", "24", "--session", &id.to_string()])
        .args(["-p", follow_up])
        .env("XDG_DATA_HOME", &fresh)
        .env("XDG_STATE_HOME", &fresh_state)
        .env("EMBER_LOG", "ember=debug")
        .env("EMBER_MODELS_DIR", "/nonexistent")
        .env_remove("EMBER_NO_HISTORY")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let scratch = logged_turns(&fresh_state.join("ember/ember.log"));
    assert_eq!(scratch.len(), 1, "{scratch:?}");
    assert_eq!(scratch[0].reused, 0, "not from scratch: {scratch:?}");
    assert_eq!(scratch[0].prompt, follow.prompt, "not the same conversation: {scratch:?} against {follow:?}");
    let from_scratch = common::history_export(&fresh, id)["messages"][3]["content"].as_str().unwrap().to_string();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), from_scratch.trim_end());
    eprintln!("resumed ({follow:?}): {resumed_answer:?}\nfrom scratch ({:?}): {from_scratch:?}", scratch[0]);
    assert_eq!(resumed_answer, from_scratch, "the resumed conversation answered differently");
    assert_eq!(follow.generated, scratch[0].generated);
}

// ---------------------------------------------------------------------------------------------
// Copy says how it copied

/// Inside tmux, a copy says how it went: with tmux's default `set-clipboard external` OSC 52
/// from ember does not reach the clipboard, and the status says so and how to turn it on; with
/// it on, the code reaches tmux's buffer and the status says it was sent there.
#[test]
fn copy_inside_tmux_reports_its_method() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("ember/history.db")).unwrap();
    let new = NewConversation { model: "m".into(), system_prompt: None, cwd: "/tmp".into() };
    let id = store.create_conversation(&new).unwrap();
    let user = store.add_message(id, None, &NewMessage::new(StoredRole::User, "code please")).unwrap();
    let answer = "Here:\n\n```sh\necho copied-by-ember\n```\n";
    store.add_message(id, Some(user), &NewMessage::new(StoredRole::Assistant, answer)).unwrap();
    drop(store);
    // No system clipboard tool: OSC 52 is the only way, as in the report of issue 22.
    let ember = ember_command(dir.path(), &format!("--session {id}"));
    let command = format!("env -u DISPLAY -u WAYLAND_DISPLAY {ember}; echo EXIT=$?; sleep 60");
    let tmux = Tmux::start(&command, dir.path());
    assert!(tmux.run(&["resize-window", "-t", "e2e", "-x", "220", "-y", "30"]).status().unwrap().success());
    assert!(tmux.run(&["set-option", "-g", "set-clipboard", "external"]).status().unwrap().success());
    tmux.wait_for("the conversation", Duration::from_secs(60), |s| s.contains("[1] sh") && s.contains("○ idle"));
    tmux.keys(&["Tab", "Tab"]);
    tmux.wait_for("the code pane to take focus", Duration::from_secs(10), |s| s.contains("c copy"));
    tmux.keys(&["c"]);
    let screen =
        tmux.wait_for("the copy's report", Duration::from_secs(10), |s| s.contains("code block 1 sent as OSC 52"));
    assert!(screen.contains("tmux's set-clipboard is external"), "{screen}");
    assert!(screen.contains("add `set -g set-clipboard on` to ~/.tmux.conf"), "{screen}");
    assert_eq!(tmux.out(&["list-buffers"]).trim(), "", "tmux took OSC 52 with set-clipboard external");

    assert!(tmux.run(&["set-option", "-g", "set-clipboard", "on"]).status().unwrap().success());
    tmux.keys(&["c"]);
    tmux.wait_for("the copy's report", Duration::from_secs(10), |s| {
        s.contains("code block 1 sent to tmux and the terminal (OSC 52)")
    });
    assert_eq!(tmux.out(&["show-buffer"]), "echo copied-by-ember\n");
    tmux.keys(&["Escape"]);
    tmux.wait_for("focus back on the message", Duration::from_secs(10), |s| !s.contains("c copy"));
    quit(&tmux, "copy report");
}

/// The ember command line with the real models folder, so `/model` finds both test models by a
/// part of their names, as `--model` would.
fn ember_with_models(data: &Path, args: &str) -> String {
    let models = common::base_model().parent().unwrap().to_path_buf();
    format!(
        "XDG_DATA_HOME='{}' EMBER_MODELS_DIR='{}' {} --model '{}' -t 0 --seed 1 --no-history {args}; echo EXIT=$?; sleep 60",
        data.display(),
        models.display(),
        env!("CARGO_BIN_EXE_ember"),
        common::default_model().display()
    )
}

/// The status line: the screen's last line.
fn status_line(screen: &str) -> &str {
    screen.trim_end().lines().last().unwrap_or_default()
}

#[test]
fn model_switches_by_a_part_of_its_name_and_a_missing_one_keeps_the_model_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = Tmux::start(&ember_with_models(dir.path(), "--max-tokens 8"), dir.path());
    let screen = tmux.wait_loaded();
    assert!(status_line(&screen).contains("SmolLM2-135M-Instruct"), "{screen}");

    tmux.keys(&["/model missing", "Enter"]);
    let screen = tmux.wait_for("the refusal", Duration::from_secs(30), |s| s.contains("no model matches \"missing\""));
    assert!(status_line(&screen).contains("· still using SmolLM2-135M-Instruct"), "{screen}");
    assert_in_transcript(&screen, 78, &["the models found:", "gemma-3-270m-q4_k_m"], "the models found");
    assert!(status_line(&screen).trim_start().starts_with("SmolLM2-135M-Instruct"), "{screen}");
    // The model in use still answers.
    tmux.keys(&["Say hello.", "Enter"]);
    let screen = wait_settled(&tmux, "an answer from SmolLM2", Duration::from_secs(120), |s| {
        s.contains("▍ember") && s.contains("○ idle")
    });
    assert!(status_line(&screen).contains("SmolLM2-135M-Instruct"), "{screen}");

    // A file that fails to load: the engine in use stays and answers.
    tmux.keys(&["/model ./nope.gguf", "Enter"]);
    let screen = tmux.wait_for("the load failure", Duration::from_secs(60), |s| s.contains("could not load nope"));
    assert!(status_line(&screen).contains("still using SmolLM2-135M-Instruct.Q4_1 · ctx 8192"), "{screen}");
    let answers = screen.matches("▍ember").count();
    tmux.keys(&["Say hi.", "Enter"]);
    wait_settled(&tmux, "SmolLM2 still answering", Duration::from_secs(120), |s| {
        s.matches("▍ember").count() > answers && s.contains("○ idle")
    });

    tmux.keys(&["/model gemma", "Enter"]);
    let screen = tmux.wait_for("gemma to load", Duration::from_secs(120), |s| s.contains("loaded gemma-3-270m-q4_k_m"));
    assert!(status_line(&screen).contains("gemma-3-270m-q4_k_m"), "{screen}");
    assert!(!status_line(&screen).contains("SmolLM2"), "{screen}");
    // The new model answers (a base model: its notice comes first).
    let answers = screen.matches("▍ember").count();
    tmux.keys(&["Say hello.", "Enter"]);
    wait_settled(&tmux, "an answer from gemma", Duration::from_secs(120), |s| {
        s.matches("▍ember").count() > answers && s.contains("○ idle")
    });
    quit(&tmux, "model switch");
}

#[test]
fn a_file_too_large_for_the_context_is_refused_when_attached_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.rs");
    let line = "let value = compute_something(with, several, arguments); // a line\n";
    // About 4,500 tokens: more than a context of 2048 holds, less than the 8192 trained.
    std::fs::write(&file, line.repeat(200)).unwrap();
    let tmux = Tmux::start(&ember_with_models(dir.path(), "--ctx 2048 --max-tokens 8"), dir.path());
    tmux.wait_loaded();
    tmux.keys(&["/file big.rs", "Enter"]);
    let refused = tmux.wait_for("the refusal", Duration::from_secs(30), |s| s.contains("not attached"));
    let screen = refused.as_str();
    assert!(status_line(screen).contains("not attached: too large for the context of 2048 · /ctx"), "{screen}");
    assert_in_transcript(
        screen,
        78,
        &["Not attached: big.rs is about", "would fit it, or attach a smaller file."],
        "refusal",
    );
    assert!(!screen.contains("compute_something"), "the file was echoed:\n{screen}");
    // Nothing goes with the next message: it is answered in the small context.
    tmux.keys(&["Say hello.", "Enter"]);
    let screen =
        wait_settled(&tmux, "an answer", Duration::from_secs(120), |s| s.contains("▍ember") && s.contains("○ idle"));
    assert!(!screen.contains("compute_something"), "the file went with the message:\n{screen}");
    // The advice works: /ctx N, then the file is attached.
    let advice = status_line(&refused).split("· ").nth(1).unwrap().trim().to_string();
    let size = advice.strip_prefix("/ctx ").and_then(|r| r.split_whitespace().next()).unwrap().to_string();
    tmux.keys(&[&format!("/ctx {size}"), "Enter"]);
    let screen = tmux.wait_for("the new context", Duration::from_secs(120), |s| s.contains(&format!("ctx {size}  ")));
    assert_shown(&screen, &[&format!("loaded SmolLM2-135M-Instruct.Q4_1 · ctx {size}")], "/ctx");
    tmux.keys(&["/file big.rs", "Enter"]);
    let screen = tmux.wait_for("the file attached", Duration::from_secs(30), |s| s.contains("attached big.rs (about"));
    assert!(!screen.contains("not attached"), "{screen}");
    quit(&tmux, "file too large");
}

#[test]
fn a_long_file_shows_how_far_the_prompt_has_been_read_before_the_first_token() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.rs");
    let body: String = (0..60).map(|i| format!("let value_{i} = compute({i}, \"item {i}\");\n")).collect();
    std::fs::write(&file, body).unwrap();
    let bin = env!("CARGO_BIN_EXE_ember");
    let command = format!(
        "{bin} --no-history --model '{}' -t 0 --seed 1 --threads 1 --max-tokens 3; echo EXIT=$?; sleep 60",
        common::default_model().display()
    );
    let tmux = Tmux::start(&command, dir.path());
    tmux.wait_loaded();
    tmux.keys(&[&format!("/file {}", file.display()), "Enter"]);
    tmux.wait_for("the attachment", Duration::from_secs(10), |s| s.contains("attached: "));
    tmux.keys(&["what is this?", "Enter"]);
    let screen =
        tmux.wait_for("the prompt's progress", Duration::from_secs(60), |s| s.contains("reading the prompt: "));
    assert!(screen.contains(" tokens · "), "{screen}");
    assert!(screen.contains("● answering"), "{screen}");
    let done = tmux.wait_for("the answer", Duration::from_secs(120), |s| s.contains("○ idle"));
    assert!(!done.contains("reading the prompt"), "the line goes once the prompt is read: {done}");
    assert!(!done.contains("ctx 0/"), "the meter counts the file: {done}");
}
