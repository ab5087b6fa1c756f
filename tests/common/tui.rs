//! The real binary in tmux: command lines, waits and checks the TUI end-to-end tests share.

use std::path::Path;
use std::time::Duration;

use super::hostile::escape_fixtures;
use super::tmux::Tmux;

/// The pane title the hostile tests set before ember starts: an OSC 0 or 2 that reached tmux
/// would replace it.
const PANE_TITLE: &str = "ember-test-title";

/// The ember command line for a test: its own data folder, the default model, greedy.
pub fn ember_command(data: &std::path::Path, args: &str) -> String {
    format!(
        "XDG_DATA_HOME='{}' EMBER_MODELS_DIR=/nonexistent {} --model '{}' -t 0 --seed 1 {args}",
        data.display(),
        env!("CARGO_BIN_EXE_ember"),
        super::default_model().display()
    )
}

/// Starts `command` in tmux (`width` x `height`) with every byte the pane writes logged to
/// `log` from the very first: the pane waits for a file the test creates once the log runs.
pub fn start_logged(command: &str, dir: &Path, log: &Path, (width, height): (u16, u16)) -> Tmux {
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
pub fn wait_settled(tmux: &Tmux, what: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
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
pub fn assert_shown(screen: &str, expected: &[&str], what: &str) {
    for e in expected {
        assert!(screen.contains(e), "{what}: {e:?} is not on the screen:\n{screen}");
    }
}

/// Asserts that every string of `expected` is in the transcript, the left `columns` of `screen`:
/// it reflows Markdown paragraphs, so a line of a message can wrap anywhere. Whitespace is
/// ignored on both sides.
pub fn assert_in_transcript(screen: &str, columns: usize, expected: &[&str], what: &str) {
    let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let text: String = screen.lines().map(|l| squash(&l.chars().take(columns).collect::<String>())).collect();
    for e in expected {
        assert!(text.contains(&squash(e)), "{what}: {e:?} is not in the transcript:\n{screen}");
    }
}

/// The visible form of every fixture: what the screen must show wherever the fixtures are.
pub fn fixtures_shown() -> Vec<&'static str> {
    escape_fixtures().into_iter().flat_map(|(_, _, shown)| shown.iter().copied()).collect()
}

/// Asserts that nothing ember wrote could command the terminal: the raw bytes hold only the
/// drawing a TUI needs, the pane's title is the one the test set, and no OSC 52 reached tmux's
/// paste buffers (set-clipboard is on).
pub fn assert_terminal_untouched(tmux: &Tmux, log: &Path, what: &str) {
    // pipe-pane forwards asynchronously: give the last bytes a moment.
    std::thread::sleep(Duration::from_millis(500));
    let raw = std::fs::read(log).unwrap();
    // The log runs from ember's start (entering the alternate screen) to its end (leaving it).
    let has = |seq: &[u8]| raw.windows(seq.len()).any(|w| w == seq);
    assert!(has(b"\x1b[?1049h") && has(b"\x1b[?1049l"), "{what}: the log misses ember's start or end");
    let problems = super::terminal::tui_stream_problems(&raw, false);
    assert!(problems.is_empty(), "{what}: the terminal received {problems:#?}");
    let title = tmux.out(&["display-message", "-p", "-t", "e2e", "#{pane_title}"]);
    assert_eq!(title.trim(), PANE_TITLE, "{what}: the pane's title was changed");
    let buffers = tmux.out(&["list-buffers"]);
    assert!(buffers.trim().is_empty(), "{what}: a paste buffer appeared (OSC 52): {buffers}");
}

/// Quits with Ctrl-D on the empty composer; ember exits 0 and leaves the alternate screen.
pub fn quit(tmux: &Tmux, what: &str) {
    tmux.keys(&["C-d"]);
    let end = tmux.wait_for("ember to exit", Duration::from_secs(30), |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{what}: {end}");
    assert!(!tmux.alternate_on(), "{what}: still on the alternate screen");
}

/// The ember command line with the real models folder, so `/model` finds both test models by a
/// part of their names, as `--model` would.
pub fn ember_with_models(data: &Path, args: &str) -> String {
    let models = super::base_model().parent().unwrap().to_path_buf();
    format!(
        "XDG_DATA_HOME='{}' EMBER_MODELS_DIR='{}' {} --model '{}' -t 0 --seed 1 --no-history {args}; echo EXIT=$?; sleep 60",
        data.display(),
        models.display(),
        env!("CARGO_BIN_EXE_ember"),
        super::default_model().display()
    )
}

/// The status line: the screen's last line.
pub fn status_line(screen: &str) -> &str {
    screen.trim_end().lines().last().unwrap_or_default()
}
