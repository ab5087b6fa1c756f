//! `!command`: runs a shell command the user typed (`$SHELL -c`, else `sh`) in the working
//! directory, in its own process group, on its own thread. Its output (stdout and stderr as they
//! come) is kept up to [`OUTPUT_CAP`] with a note of what was cut, escape sequences removed and
//! other control characters made visible. Stopping it (Esc, the timeout, ember quitting) kills
//! the whole group, so nothing it started is left running.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{kill_process_group, Pid, Signal};

/// Output kept from one command: the rest is counted and left out.
pub const OUTPUT_CAP: usize = 64 * 1024;
/// A command still running after this long is stopped.
pub const TIMEOUT: Duration = Duration::from_secs(300);
/// After the shell exits, how long what it left in the background may keep writing.
const GRACE: Duration = Duration::from_millis(500);

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Exit(i32),
    Signal(i32),
    /// Stopped by the user (Esc).
    Stopped,
    TimedOut(Duration),
    /// The shell could not be started.
    NotStarted(String),
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Exit(code) => write!(f, "exit {code}"),
            Ending::Signal(n) => write!(f, "killed by signal {n}"),
            Ending::Stopped => write!(f, "stopped by Esc"),
            Ending::TimedOut(after) => write!(f, "stopped after {} s", after.as_secs()),
            Ending::NotStarted(why) => write!(f, "could not start: {why}"),
        }
    }
}

/// What a command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// The output, made safe for a terminal and a prompt, with a note when it was cut.
    pub text: String,
    pub ending: Ending,
    /// Bytes left out past [`OUTPUT_CAP`].
    pub cut: usize,
}

/// A command started by [`start`]: [`Running::stop`] ends it, and so does dropping it (the
/// runner is dropped when ember quits).
pub struct Running {
    stop: Sender<()>,
    group: Arc<Mutex<Option<Pid>>>,
}

impl Running {
    /// Asks the command to stop: its process group is killed and its output so far reported.
    pub fn stop(&self) {
        let _ = self.stop.send(());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        kill_group(&self.group);
    }
}

/// Kills the group, if it is still there (the worker clears it once it has reaped the shell).
fn kill_group(group: &Mutex<Option<Pid>>) {
    if let Some(pid) = group.lock().unwrap_or_else(PoisonError::into_inner).take() {
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

/// The user's shell: `$SHELL`, else `sh`.
fn shell() -> String {
    std::env::var("SHELL").ok().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "sh".to_string())
}

/// Starts `command` on a thread of its own; `done` gets its output once it has ended.
pub fn start(command: &str, timeout: Duration, done: impl FnOnce(CommandOutput) + Send + 'static) -> Running {
    let (stop, stopped) = mpsc::channel();
    let group = Arc::new(Mutex::new(None));
    let spawned = Command::new(shell())
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn();
    match spawned {
        Ok(child) => {
            *group.lock().unwrap_or_else(PoisonError::into_inner) =
                i32::try_from(child.id()).ok().and_then(Pid::from_raw);
            let group = Arc::clone(&group);
            std::thread::spawn(move || done(watch(child, &group, &stopped, timeout)));
        }
        Err(e) => {
            let ending = Ending::NotStarted(format!("{}: {e}", shell()));
            done(CommandOutput { text: String::new(), ending, cut: 0 });
        }
    }
    Running { stop, group }
}

/// Runs `command` to its end on this thread (for tests and callers without a UI).
pub fn run(command: &str, timeout: Duration) -> CommandOutput {
    let (tx, rx) = mpsc::channel();
    let _running = start(command, timeout, move |out| {
        let _ = tx.send(out);
    });
    rx.recv().unwrap_or(CommandOutput { text: String::new(), ending: Ending::Stopped, cut: 0 })
}

/// Reads a pipe in chunks onto `chunks` until it closes.
fn pump(mut pipe: impl Read + Send + 'static, chunks: Sender<Vec<u8>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            if chunks.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
}

/// Collects the output until the command ends, is stopped or times out; kills its group.
fn watch(mut child: Child, group: &Mutex<Option<Pid>>, stopped: &Receiver<()>, timeout: Duration) -> CommandOutput {
    let (tx, chunks) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        pump(out, tx.clone());
    }
    if let Some(err) = child.stderr.take() {
        pump(err, tx);
    }
    let deadline = Instant::now() + timeout;
    let mut kept = Vec::new();
    let mut cut = 0;
    let mut ending = None;
    let mut exited_at: Option<Instant> = None;
    loop {
        match chunks.recv_timeout(Duration::from_millis(20)) {
            Ok(chunk) => {
                let room = OUTPUT_CAP.saturating_sub(kept.len()).min(chunk.len());
                kept.extend_from_slice(&chunk[..room]);
                cut += chunk.len() - room;
                continue;
            }
            // Both pipes closed: nothing more can come.
            Err(RecvTimeoutError::Disconnected) if exited_at.is_some() => break,
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(20)),
            Err(RecvTimeoutError::Timeout) => {}
        }
        if exited_at.is_some_and(|at| at.elapsed() > GRACE) {
            break;
        }
        if ending.is_none() {
            if stopped.try_recv().is_ok() {
                ending = Some(Ending::Stopped);
            } else if Instant::now() >= deadline {
                ending = Some(Ending::TimedOut(timeout));
            }
            if ending.is_some() {
                kill_group(group);
                // The shell itself, should its group be gone already.
                let _ = child.kill();
            }
        }
        if exited_at.is_none() {
            if let Ok(Some(status)) = child.try_wait() {
                use std::os::unix::process::ExitStatusExt;
                let code = status.code().map(Ending::Exit).or(status.signal().map(Ending::Signal));
                ending = ending.or(code);
                exited_at = Some(Instant::now());
            }
        }
    }
    // Whatever the shell left running in its group goes with it.
    kill_group(group);
    let _ = child.wait();
    let ending = ending.unwrap_or(Ending::Stopped);
    CommandOutput { text: output_text(&kept, cut), ending, cut }
}

/// The output as text for the prompt: escape sequences removed, other controls made visible,
/// and a note of what was cut.
fn output_text(kept: &[u8], cut: usize) -> String {
    let text = String::from_utf8_lossy(kept).replace("\r\n", "\n");
    let mut text = crate::render::sanitize(&strip_escapes(&text)).into_owned();
    if text.trim().is_empty() {
        text = "(no output)".to_string();
    }
    if cut > 0 {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("[ember: output cut at {} KiB; {cut} more bytes left out]", OUTPUT_CAP / 1024));
    }
    text
}

/// Removes terminal escape sequences (colours, cursor moves, titles): CSI `ESC [ … final`, OSC
/// `ESC ] … BEL or ESC \`, and two-character escapes. A lone ESC at the end stays (and is then
/// made visible).
pub fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' || chars.peek().is_none() {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                // Parameters and intermediates, then one final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']' | 'P' | '_' | '^') => {
                while let Some(c) = chars.next() {
                    if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            Some(_) | None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests;
