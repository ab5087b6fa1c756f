//! The full-screen chat: one loop owns the terminal and selects over terminal input, engine
//! events, effect results and a frame timer. `update` changes the state; `view` draws it.

pub mod commands;
pub mod composer;
pub mod launch;
pub mod state;
pub mod terminal;
pub mod transcript;
pub mod view;
pub mod widgets;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream};
use futures_util::StreamExt;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::engine::llama::EngineOptions;
use crate::engine::remote::RemoteOptions;
use crate::engine::{EngineEvent, EngineHandle, SamplingParams};
use state::{update, AppEvent, AppState, Effect, SaveError};

/// At most ~60 frames a second, however fast tokens arrive...
const FRAME: Duration = Duration::from_millis(16);
/// ...and ~30 while a reply streams, leaving the CPU to llama.cpp (text needs no more).
const STREAMING_FRAME: Duration = Duration::from_millis(33);
/// A pause in typing this long has the engine evaluate the conversation and the message so far,
/// so Enter finds it in the cache: the first token then costs about the same at turn 30 as at
/// turn 2, and a pasted file is read while the question about it is typed.
const PREFILL_AFTER: Duration = Duration::from_millis(300);

/// What the TUI starts with.
pub struct TuiOptions {
    pub engine: EngineOptions,
    /// Chat with this server instead (`--endpoint`); `/model NAME` then picks a server model.
    pub remote: Option<RemoteOptions>,
    pub sampling: SamplingParams,
    pub system_prompt: Option<String>,
    /// The roles `/role` switches among.
    pub roles: RoleSwitch,
    pub color: bool,
    /// Where conversations are saved; `None` with --no-history.
    pub history: Option<HistorySetup>,
}

/// What `/role NAME` needs: the roles, and the sampling settings a role's values apply between.
#[derive(Debug, Clone, Default)]
pub struct RoleSwitch {
    pub roles: Vec<crate::roles::Role>,
    /// The role in use.
    pub current: String,
    /// Defaults with the config file's values.
    pub base: SamplingParams,
    /// The flags' values, which beat a role's.
    pub flags: crate::roles::SamplingOverrides,
    /// `--var` values.
    pub vars: std::collections::BTreeMap<String, String>,
}

/// Saving conversations: the database, the facts of a new conversation, or one to continue.
pub struct HistorySetup {
    pub path: PathBuf,
    /// Where saved model contexts live (instant resume).
    pub kv_dir: PathBuf,
    pub new: crate::store::NewConversation,
    pub resume: Option<crate::store::Conversation>,
}

/// Why the TUI ended badly.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// How the TUI ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Quit,
    /// SIGTERM or SIGHUP.
    Signal(i32),
}

/// Runs the chat until the user quits. The terminal is restored however it ends.
pub async fn run(options: TuiOptions) -> Result<Exit, TuiError> {
    let mut term = terminal::enter()?;
    let result = run_loop(&mut term, options).await;
    terminal::restore();
    result
}

async fn run_loop(term: &mut terminal::Term, options: TuiOptions) -> Result<Exit, TuiError> {
    let mut engine_options = options.engine;
    let mut remote = options.remote;
    let (mut engine, mut engine_events) = spawn_engine(&engine_options, remote.as_ref());
    let shown_model = remote.as_ref().map_or_else(|| engine_options.model_path.clone(), |r| PathBuf::from(r.label()));
    let mut state = AppState::new(shown_model, options.system_prompt, options.sampling, options.color);
    state.roles = options.roles;
    let size = term.size()?;
    state.size = (size.width, size.height);
    let (side_tx, mut side_rx) = unbounded_channel::<AppEvent>();
    let kv_dir = options.history.as_ref().map(|h| h.kv_dir.clone());
    let recorder = options.history.map(|setup| {
        state.history = true;
        state.cwd = setup.new.cwd.clone();
        let resume = setup.resume.map(|conversation| {
            state.resume(&conversation);
            (conversation.summary.id, conversation.messages.iter().map(|m| m.id).collect())
        });
        let report_tx = side_tx.clone();
        crate::store::recorder::spawn(setup.path, setup.kv_dir, setup.new, resume, move |reply| {
            let event = match reply {
                crate::store::recorder::Reply::Recorded(result) => AppEvent::Recorded(result),
                other => AppEvent::History(other),
            };
            let _ = report_tx.send(event);
        })
    });
    if let (Some(id), Some(dir)) = (state.conversation_id, &kv_dir) {
        // Continuing a conversation: its saved context makes the first answer start at once.
        let path = crate::store::kv::state_path(dir, id, &engine_options.model_path);
        if path.exists() {
            crate::store::kv::touch(&path);
            let _ = engine.load_state(path);
        }
    }
    let mut input = EventStream::new();
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut dirty = true;
    // A resize may leave the terminal's content other than ratatui's last frame (the terminal
    // reflows or clears it, and sizes can come back to the last drawn one between two frames):
    // the next frame is then drawn whole, not as a difference from the last.
    let mut resized = false;
    let mut last_draw = Instant::now() - FRAME;
    let mut prefill_at: Option<Instant> = None;
    // The messages last evaluated ahead: keys that change nothing (arrows, scrolling) send no
    // new prefill.
    let mut prefilled: Option<Vec<crate::engine::Message>> = None;
    loop {
        let frame = if state.generating.is_some() { STREAMING_FRAME } else { FRAME };
        if dirty && last_draw.elapsed() >= frame {
            if std::mem::take(&mut resized) {
                // Clears and forgets the last frame. (Not `clear()`: it asks the terminal for the
                // cursor position, and the input reader would take the answer.)
                let size = term.size()?;
                term.resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))?;
            }
            term.draw(|frame| view::draw(frame, &state))?;
            last_draw = Instant::now();
            dirty = false;
        }
        let wait = if dirty { frame.saturating_sub(last_draw.elapsed()) } else { Duration::from_secs(3600) };
        let event = tokio::select! {
            input_event = input.next() => match input_event {
                Some(Ok(ev)) => match to_app_event(ev) {
                    Some(ev) => ev,
                    None => continue,
                },
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(Exit::Quit),
            },
            Some(ev) = engine_events.recv() => AppEvent::Engine(ev),
            Some(ev) = side_rx.recv() => ev,
            _ = sigterm.recv() => {
                save_context(&engine, &mut engine_events, &state, kv_dir.as_deref(), &engine_options.model_path).await;
                return Ok(Exit::Signal(15));
            }
            _ = sighup.recv() => {
                save_context(&engine, &mut engine_events, &state, kv_dir.as_deref(), &engine_options.model_path).await;
                return Ok(Exit::Signal(1));
            }
            () = tokio::time::sleep(wait), if dirty => continue,
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(prefill_at.unwrap_or(far_future()))), if prefill_at.is_some() => {
                prefill_at = None;
                if let Some(req) = state.prefill_request() {
                    if prefilled.as_ref() != Some(&req.messages) {
                        prefilled = Some(req.messages.clone());
                        let _ = engine.prefill(req);
                    }
                }
                continue;
            }
        };
        // Typing, or an answer ending while a message is already typed.
        if matches!(event, AppEvent::Key(_) | AppEvent::Paste(_) | AppEvent::Engine(EngineEvent::Done { .. })) {
            prefill_at = Some(Instant::now() + PREFILL_AFTER);
        }
        dirty = true;
        resized |= matches!(event, AppEvent::Resize(..));
        let effects = update(&mut state, event);
        for effect in effects {
            match effect {
                Effect::Quit => {}
                Effect::OpenEditor { text, purpose, extension } => {
                    // The input reader must not steal the editor's keys: stop it while it runs.
                    drop(input);
                    let result = terminal::suspend(term, || edit_in_editor(&text, &extension))?;
                    input = EventStream::new();
                    let _ = side_tx.send(AppEvent::EditorDone { purpose, result });
                }
                Effect::SwitchModel(path) => {
                    engine.shutdown();
                    match remote.as_mut() {
                        // With a server, /model NAME picks one of its models.
                        Some(remote) => remote.model = Some(path.to_string_lossy().into_owned()),
                        // Later saved contexts belong to the new model.
                        None => engine_options.model_path = path,
                    }
                    (engine, engine_events) = spawn_engine(&engine_options, remote.as_ref());
                }
                Effect::Record(op) => {
                    if let Some(recorder) = &recorder {
                        if !recorder.send(crate::store::recorder::Request::Record(op)) {
                            // The history thread stopped after an error it already reported.
                            state.history = false;
                        }
                    }
                }
                Effect::Query(query) => {
                    let sent = recorder.as_ref().is_some_and(|r| r.send(crate::store::recorder::Request::Query(query)));
                    if !sent {
                        update(
                            &mut state,
                            AppEvent::History(crate::store::recorder::Reply::Changed(Err("history is off".into()))),
                        );
                    }
                }
                Effect::SaveContext(id) => {
                    if let Some(dir) = &kv_dir {
                        let _ = engine.save_state(crate::store::kv::state_path(dir, id, &engine_options.model_path));
                    }
                }
                Effect::LoadContext(id) => {
                    if let Some(dir) = &kv_dir {
                        let path = crate::store::kv::state_path(dir, id, &engine_options.model_path);
                        if path.exists() {
                            crate::store::kv::touch(&path);
                            let _ = engine.load_state(path);
                        }
                    }
                }
                other => run_effect(other, &engine, &side_tx, term),
            }
        }
        if state.should_quit {
            save_context(&engine, &mut engine_events, &state, kv_dir.as_deref(), &engine_options.model_path).await;
            return Ok(Exit::Quit);
        }
    }
}

/// Starts the server's engine when there is one, else llama.cpp's.
fn spawn_engine(
    local: &EngineOptions,
    remote: Option<&RemoteOptions>,
) -> (EngineHandle, UnboundedReceiver<EngineEvent>) {
    match remote {
        Some(remote) => EngineHandle::spawn_remote(remote.clone()),
        None => EngineHandle::spawn_llama(local.clone()),
    }
}

/// Saves the conversation's evaluated context for an instant resume (bounded wait).
async fn save_context(
    engine: &EngineHandle,
    events: &mut UnboundedReceiver<EngineEvent>,
    state: &AppState,
    kv_dir: Option<&Path>,
    model: &Path,
) {
    let (Some(id), Some(dir), true) = (state.conversation_id, kv_dir, state.history) else { return };
    if engine.save_state(crate::store::kv::state_path(dir, id, model)).is_ok() {
        let _ = crate::conversation::saved::wait_state(events, Duration::from_secs(10)).await;
        crate::store::kv::prune(dir, crate::store::kv::DEFAULT_CAP_BYTES);
    }
}

fn to_app_event(event: Event) -> Option<AppEvent> {
    match event {
        Event::Key(k) => Some(AppEvent::Key(k)),
        Event::Paste(text) => Some(AppEvent::Paste(text)),
        Event::Mouse(m) => Some(AppEvent::Mouse(m)),
        Event::Resize(w, h) => Some(AppEvent::Resize(w, h)),
        Event::FocusGained | Event::FocusLost => None,
    }
}

/// Runs an effect that needs no terminal suspension; results come back on `side`.
fn run_effect(effect: Effect, engine: &EngineHandle, side: &UnboundedSender<AppEvent>, term: &mut terminal::Term) {
    match effect {
        Effect::Generate(req) => {
            // A send error means the thread is gone; its last event (LoadFailed) says why.
            let _ = engine.generate(req);
        }
        Effect::Cancel(turn) => engine.cancel(turn),
        Effect::Copy { number, text } => {
            let osc = terminal::osc52_copy(term.backend_mut(), &text).map_err(|e| e.to_string());
            copy_with_system_tool(&text);
            let _ = side.send(AppEvent::Copied { number, result: osc });
        }
        Effect::Save { path, content, overwrite } => {
            let side = side.clone();
            tokio::task::spawn_blocking(move || {
                let result = save(&path, &content, overwrite);
                let _ = side.send(AppEvent::Saved { path, result });
            });
        }
        Effect::ReadFile(path) => {
            let side = side.clone();
            tokio::task::spawn_blocking(move || {
                let result = crate::conversation::attach::read_file(&expand_home(&path)).map_err(|e| e.to_string());
                let _ = side.send(AppEvent::FileRead { path, result });
            });
        }
        Effect::Quit
        | Effect::OpenEditor { .. }
        | Effect::SwitchModel(_)
        | Effect::Record(_)
        | Effect::Query(_)
        | Effect::SaveContext(_)
        | Effect::LoadContext(_) => {}
    }
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// Writes `content` byte-exact to `path`; refuses to replace a file unless `overwrite`.
fn save(path: &str, content: &str, overwrite: bool) -> Result<usize, SaveError> {
    use std::io::Write;
    let target = expand_home(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(&target).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => SaveError::Exists,
        _ => SaveError::Other(e.to_string()),
    })?;
    file.write_all(content.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| SaveError::Other(e.to_string()))?;
    Ok(content.len())
}

/// Also hands the text to a system clipboard tool when one is there (OSC 52 does not work
/// everywhere). Best effort: a missing tool is not an error.
fn copy_with_system_tool(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let candidates: &[(&str, &[&str], &str)] = &[
        ("wl-copy", &[], "WAYLAND_DISPLAY"),
        ("xclip", &["-selection", "clipboard"], "DISPLAY"),
        ("xsel", &["--clipboard", "--input"], "DISPLAY"),
        ("pbcopy", &[], ""),
    ];
    for (tool, args, env) in candidates {
        if !env.is_empty() && std::env::var_os(env).is_none() {
            continue;
        }
        let Ok(mut child) =
            Command::new(tool).args(*args).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn()
        else {
            continue;
        };
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(text.as_bytes());
        }
        // Reap it in the background so no zombie is left.
        std::thread::spawn(move || child.wait());
        return;
    }
}

/// Opens `text` in $VISUAL / $EDITOR (vi if neither) and returns what was saved.
fn edit_in_editor(text: &str, extension: &str) -> Result<String, String> {
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| std::env::var("EDITOR").ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_string());
    let dir = tempfile::Builder::new().prefix("ember-").tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join(format!("ember.{extension}"));
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    // $EDITOR may carry arguments ("code -w"): let the shell split it.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status()
        .map_err(|e| format!("cannot run {editor}: {e}"))?;
    if !status.success() {
        return Err(format!("{editor} exited with {status}"));
    }
    std::fs::read_to_string(&path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;

/// An instant that never comes (for a timer that is off).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}
