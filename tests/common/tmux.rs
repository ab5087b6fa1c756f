//! A tmux server of its own for a test: start a command in a pane, send keys, read the screen.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One tmux server (its own socket) with one session, `e2e`, killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    pub fn start(command: &str, cwd: &Path) -> Tmux {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let socket = format!("ember-test-{}-{n}", std::process::id());
        let t = Tmux { socket };
        t.run(&["-f", "/dev/null", "new-session", "-d", "-s", "e2e", "-x", "120", "-y", "35", "-c"])
            .arg(cwd)
            .arg(command)
            .status()
            .map(|s| assert!(s.success(), "tmux did not start"))
            .unwrap();
        assert!(t.run(&["set-option", "-g", "set-clipboard", "on"]).status().unwrap().success());
        t
    }

    pub fn run(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-L").arg(&self.socket).args(args).env("TERM", "xterm-256color").env_remove("TMUX");
        cmd
    }

    pub fn out(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.run(args).output().unwrap().stdout).into_owned()
    }

    pub fn screen(&self) -> String {
        self.out(&["capture-pane", "-p", "-t", "e2e"])
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status().unwrap().success());
    }

    /// Waits until the model is loaded: the status line shows its context (while loading it
    /// shows "loading N%", idle too), so a prompt typed now is answered by the model.
    pub fn wait_loaded(&self) -> String {
        self.wait_for("the model to load", Duration::from_secs(60), |s| s.contains("○ idle") && s.contains("ctx 0/"))
    }

    pub fn wait_for(&self, what: &str, timeout: Duration, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(start.elapsed() < timeout, "timed out waiting for {what}; screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]).status();
    }
}

impl Tmux {
    /// The pid of the program the pane's shell started (ember), if it runs.
    pub fn child_pid(&self) -> Option<String> {
        let shell = self.out(&["display-message", "-p", "-t", "e2e", "#{pane_pid}"]);
        let children = Command::new("pgrep").args(["-P", shell.trim()]).output().ok()?;
        String::from_utf8_lossy(&children.stdout).lines().next().map(str::to_string)
    }

    /// Appends every byte the pane's program writes to the terminal to `log`, raw.
    pub fn log_output(&self, log: &Path) {
        let command = format!("cat >> '{}'", log.display());
        assert!(self.run(&["pipe-pane", "-o", "-t", "e2e", &command]).status().unwrap().success());
    }

    /// Whether the pane is on the alternate screen (a full-screen program runs).
    pub fn alternate_on(&self) -> bool {
        self.out(&["display-message", "-p", "-t", "e2e", "#{alternate_on}"]).trim() == "1"
    }
}
