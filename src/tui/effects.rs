//! Running effects: every [`Effect`] that `update` returns runs here, and what it yields comes
//! back as an [`AppEvent`] on the side channel. The runner owns what effects act on: the engine,
//! the history thread and the folder of saved contexts.

use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::shell;
use super::state::{AppEvent, AppState, EditorPurpose, Effect, MentionRead, SaveError, SwitchEvent};
use super::terminal::{self, Input, Term};
use super::TuiError;
use crate::config::resolve::expand_tilde;
use crate::conversation::{EngineChange, EngineChoice, SavedContexts};
use crate::edit::{PreparedEdit, Proposal, TargetSource};
use crate::engine::constraint::Constraint;
use crate::engine::{EngineEvent, EngineHandle};
use crate::store::recorder::{HistoryThread, Reply, Request};

/// Runs effects against the engine, the history thread, the terminal and the file system.
pub(super) struct EffectRunner {
    engine: EngineHandle,
    engine_events: UnboundedReceiver<EngineEvent>,
    /// The local model or the server, as `/model` leaves it.
    choice: EngineChoice,
    /// `None` with history off.
    recorder: Option<HistoryThread>,
    /// Where results go back to the loop.
    side: UnboundedSender<AppEvent>,
    /// Saved model contexts; `None` with history off.
    saved: Option<SavedContexts>,
    /// The engine `/model` or `/ctx` started; the one in use answers until it is ready.
    candidate: Option<Candidate>,
    /// The `!command` running and its id; dropping it (ember quitting) kills it.
    command: Option<(u64, shell::Running)>,
}

/// An engine being started to replace the one in use.
struct Candidate {
    choice: EngineChoice,
    engine: EngineHandle,
    events: UnboundedReceiver<EngineEvent>,
}

impl EffectRunner {
    /// A runner for an engine already started from `choice`.
    pub fn new(
        (engine, engine_events): (EngineHandle, UnboundedReceiver<EngineEvent>),
        choice: EngineChoice,
        recorder: Option<HistoryThread>,
        side: UnboundedSender<AppEvent>,
        saved: Option<SavedContexts>,
    ) -> Self {
        EffectRunner { engine, engine_events, choice, recorder, side, saved, candidate: None, command: None }
    }

    /// The next event of the engine in use (`AppEvent::Engine`) or of the one starting to
    /// replace it (`AppEvent::Switch`); `None` once the engine in use has stopped for good.
    pub async fn next_engine_event(&mut self) -> Option<AppEvent> {
        loop {
            let candidate = async {
                match self.candidate.as_mut() {
                    Some(c) => c.events.recv().await,
                    None => std::future::pending().await,
                }
            };
            let from_candidate = tokio::select! {
                event = self.engine_events.recv() => return event.map(AppEvent::Engine),
                Some(event) = candidate => event,
            };
            if let Some(event) = self.on_candidate(from_candidate) {
                return Some(AppEvent::Switch(event));
            }
        }
    }

    /// Once ready, the candidate replaces the engine in use (saved contexts follow its model);
    /// when it fails, it is dropped and the engine in use stays.
    fn on_candidate(&mut self, event: EngineEvent) -> Option<SwitchEvent> {
        match event {
            EngineEvent::Loading { progress } => Some(SwitchEvent::Loading(progress)),
            EngineEvent::Ready(info) => {
                let next = self.candidate.take()?;
                let mut old = std::mem::replace(&mut self.engine, next.engine);
                self.engine_events = next.events;
                self.choice = next.choice;
                old.shutdown();
                if let Some(saved) = &mut self.saved {
                    saved.set_model(self.choice.model_path().to_path_buf());
                }
                Some(SwitchEvent::Ready(info))
            }
            EngineEvent::LoadFailed(error) => {
                self.candidate = None;
                Some(SwitchEvent::Failed(error.to_string()))
            }
            // A new engine says nothing else before it is ready.
            _ => None,
        }
    }

    /// Runs one effect. Only a terminal that cannot be taken back after $EDITOR is an error.
    pub fn run(&mut self, effect: Effect, term: &mut Term, input: &mut Input) -> Result<(), TuiError> {
        match effect {
            Effect::Generate(req) => {
                // A send error means the thread is gone; its last event (LoadFailed) says why.
                let _ = self.engine.generate(req);
            }
            Effect::Prefill(req) => {
                let _ = self.engine.prefill(req);
            }
            Effect::Count(id, what) => {
                let _ = self.engine.count(id, what);
            }
            Effect::Cancel(turn) => self.engine.cancel(turn),
            Effect::Copy { number, text } => {
                let osc = terminal::osc52_copy(term.backend_mut(), &text).map_err(|e| e.to_string());
                // A system tool is waited for, so that the report is true: off the render path.
                let side = self.side.clone();
                tokio::task::spawn_blocking(move || {
                    let result = super::clipboard::copy(&text, osc);
                    let _ = side.send(AppEvent::Copied { number, result });
                });
            }
            Effect::Save { path, content, overwrite } => self.save(path, content, overwrite),
            Effect::ReadFile(path) => self.read_file(path),
            Effect::ListFiles => list_files(self.side.clone()),
            Effect::CompletePath { typed } => complete_path(self.side.clone(), typed),
            Effect::ReadMentions { text, tokens } => read_mentions(self.side.clone(), text, tokens),
            Effect::RunCommand { id, command } => {
                let side = self.side.clone();
                let running = shell::start(&command, shell::TIMEOUT, move |output| {
                    let _ = side.send(AppEvent::CommandDone { id, output });
                });
                self.command = Some((id, running));
            }
            Effect::StopCommand(id) => {
                if let Some((_, running)) = self.command.as_ref().filter(|(running, _)| *running == id) {
                    running.stop();
                }
            }
            Effect::PrepareEdit { shown, source, proposal } => self.prepare_edit(shown, source, proposal),
            Effect::WriteEdit(edit) => self.write_edit(edit),
            Effect::LoadSchema(path) => self.load_schema(path),
            Effect::OpenEditor { text, purpose, extension } => {
                self.open_editor(&text, purpose, &extension, term, input)?
            }
            Effect::ResolveModel(name) => self.resolve_model(name),
            Effect::Restart(change) => self.restart(&change),
            Effect::Record(op) => self.record(Request::Record(op)),
            Effect::Query(query) => self.query(Request::Query(query)),
            Effect::SaveContext(id) => {
                if let Some(saved) = &self.saved {
                    saved.request_save(&self.engine, id);
                }
            }
            Effect::LoadContext(id) => self.load_context(id),
            Effect::Quit => {}
        }
        Ok(())
    }

    /// Continuing a conversation: its saved context makes the first answer start at once.
    pub fn resume_context(&self, state: &AppState) {
        if let Some(id) = state.session.conversation_id {
            self.load_context(id);
        }
    }

    /// Loads the saved context of conversation `id`, when there is one.
    fn load_context(&self, id: i64) {
        if let Some(saved) = &self.saved {
            saved.resume(&self.engine, id);
        }
    }

    /// Saves the conversation's evaluated context before quitting (bounded wait).
    pub async fn save_context(&mut self, state: &AppState) {
        let (Some(saved), Some(id), true) = (&self.saved, state.session.conversation_id, state.session.saving) else {
            return;
        };
        let _ = saved.save(&self.engine, &mut self.engine_events, id, Duration::from_secs(10)).await;
    }

    fn save(&self, path: String, content: String, overwrite: bool) {
        let side = self.side.clone();
        tokio::task::spawn_blocking(move || {
            let result = save(&path, &content, overwrite);
            let _ = side.send(AppEvent::Saved { path, result });
        });
    }

    fn read_file(&self, path: String) {
        let side = self.side.clone();
        tokio::task::spawn_blocking(move || {
            let result =
                crate::conversation::attach::read_file(&expand_tilde(Path::new(&path))).map_err(|e| e.to_string());
            let _ = side.send(AppEvent::FileRead { path, result });
        });
    }

    /// Works out a code block's edit of a file, off the render path (it reads the file).
    fn prepare_edit(&self, shown: String, source: TargetSource, proposal: Proposal) {
        let side = self.side.clone();
        tokio::task::spawn_blocking(move || {
            let root = std::env::current_dir().unwrap_or_default();
            let path = expand_tilde(Path::new(&shown));
            let result = crate::edit::prepare(&shown, &path, source, &proposal, &root)
                .map(Box::new)
                .map_err(|e| format!("cannot apply to {shown}: {e}"));
            let _ = side.send(AppEvent::EditPrepared(result));
        });
    }

    /// Writes a confirmed edit (atomically, and only over the text its diff was made from).
    fn write_edit(&self, edit: Box<PreparedEdit>) {
        let side = self.side.clone();
        tokio::task::spawn_blocking(move || {
            let result = crate::edit::write(&edit).map(|()| edit).map_err(|e| format!("not applied: {e}"));
            let _ = side.send(AppEvent::EditWritten(result));
        });
    }

    /// Reads a JSON Schema file for `/schema`, off the render path.
    fn load_schema(&self, path: String) {
        let side = self.side.clone();
        tokio::task::spawn_blocking(move || {
            let path = expand_tilde(Path::new(&path));
            let result = Constraint::schema(&path.to_string_lossy()).map_err(|e| e.to_string());
            let _ = side.send(AppEvent::SchemaLoaded(result));
        });
    }

    fn open_editor(
        &self,
        text: &str,
        purpose: EditorPurpose,
        extension: &str,
        term: &mut Term,
        input: &mut Input,
    ) -> Result<(), TuiError> {
        let result = input.suspend(term, || edit_in_editor(text, extension))?;
        let _ = self.side.send(AppEvent::EditorDone { purpose, result });
        Ok(())
    }

    /// Finds the model `/model NAME` names, off the render path (it reads the file system).
    fn resolve_model(&self, name: String) {
        let side = self.side.clone();
        let choice = self.choice.clone();
        tokio::task::spawn_blocking(move || {
            let result = choice.resolve_model(&name);
            let _ = side.send(AppEvent::ModelResolved { name, result });
        });
    }

    /// Starts an engine with `change` beside the one in use (a candidate started earlier is
    /// dropped); see [`Self::on_candidate`].
    fn restart(&mut self, change: &EngineChange) {
        self.candidate = None;
        match self.choice.changed(change) {
            Ok(choice) => {
                let (engine, events) = choice.spawn();
                self.candidate = Some(Candidate { choice, engine, events });
            }
            Err(reason) => {
                let _ = self.side.send(AppEvent::Switch(SwitchEvent::Failed(reason)));
            }
        }
    }

    fn record(&self, request: Request) {
        if let Some(recorder) = &self.recorder {
            if !recorder.send(request) {
                // The history thread stopped after an error it already reported.
                let _ = self.side.send(AppEvent::HistoryStopped);
            }
        }
    }

    fn query(&self, request: Request) {
        let sent = self.recorder.as_ref().is_some_and(|r| r.send(request));
        if !sent {
            let _ = self.side.send(AppEvent::QueryFailed("history is off".into()));
        }
    }
}

/// Lists the working directory's files for the `@` finder, off the render path.
fn list_files(side: UnboundedSender<AppEvent>) {
    tokio::task::spawn_blocking(move || {
        let _ = side.send(AppEvent::FilesListed(super::finder::list_files(Path::new("."))));
    });
}

/// Lists the folder a `/file PATH` line names for Tab, off the render path: a network mount
/// or a huge folder may take long, and the screen goes on meanwhile.
fn complete_path(side: UnboundedSender<AppEvent>, typed: String) {
    tokio::task::spawn_blocking(move || {
        let candidates = super::slash_table::complete_file_line(&typed);
        let _ = side.send(AppEvent::PathsCompleted { typed, candidates });
    });
}

/// Reads the files a message mentions, off the render path; a name that is no file is `None`.
fn read_mentions(side: UnboundedSender<AppEvent>, text: String, tokens: Vec<String>) {
    tokio::task::spawn_blocking(move || {
        let read = |token: &str| -> MentionRead {
            let path = crate::conversation::mention::parse(token).map(|m| expand_tilde(Path::new(&m.path)));
            if path.is_ok_and(|p| !p.exists()) {
                return Ok(None);
            }
            crate::conversation::attach::read_mention(token).map(Some).map_err(|e| e.to_string())
        };
        let results = tokens.into_iter().map(|t| (t.clone(), read(&t))).collect();
        let _ = side.send(AppEvent::MentionsRead { text, results });
    });
}

/// Starts the history thread; what it says comes back on `side`.
pub(super) fn spawn_recorder(
    setup: super::HistorySetup,
    resume: Option<(i64, Vec<i64>)>,
    side: UnboundedSender<AppEvent>,
) -> HistoryThread {
    crate::store::recorder::spawn(setup.path, setup.kv_dir, setup.new, resume, move |reply| {
        let event = match reply {
            Reply::Recorded(result) => AppEvent::Recorded(result),
            other => AppEvent::History(other),
        };
        let _ = side.send(event);
    })
}

/// Writes `content` byte-exact to `path`; refuses to replace a file unless `overwrite`.
fn save(path: &str, content: &str, overwrite: bool) -> Result<usize, SaveError> {
    use std::io::Write;
    let target = expand_tilde(Path::new(path));
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
