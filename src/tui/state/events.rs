//! What happens to the app ([`AppEvent`]) and the work with an outside effect that `update`
//! asks for ([`Effect`]); an effect's result comes back as an event.

use std::path::PathBuf;

use crossterm::event::{KeyEvent, MouseEvent};

use super::MentionRead;
use crate::conversation::{Attachment, EngineChange};
use crate::edit::{PreparedEdit, Proposal, TargetSource};
use crate::engine::constraint::Constraint;
use crate::engine::{Countable, EngineEvent, ModelInfo, TurnId, TurnRequest};
use crate::store::recorder::{Query, RecordOp, Reply};
use crate::tui::finder::FileList;
use crate::tui::shell::CommandOutput;

/// Why $EDITOR was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditorPurpose {
    /// Composing the message: the result replaces the composer's text.
    Compose,
    /// Viewing a code block: nothing comes back.
    ViewCode,
}

/// Everything that happens to the app.
#[derive(Debug, Clone)]
pub enum AppEvent {
    Key(KeyEvent),
    Paste(String),
    Mouse(MouseEvent),
    Resize(u16, u16),
    Engine(EngineEvent),
    /// What `/model NAME` names: a model file (or a server's model name), or why none.
    ModelResolved {
        name: String,
        result: Result<PathBuf, String>,
    },
    /// The engine started by `/model` or `/ctx`; the one in use answers until it is ready.
    Switch(SwitchEvent),
    EditorDone {
        purpose: EditorPurpose,
        result: Result<String, String>,
    },
    FileRead {
        path: String,
        result: Result<(Attachment, Option<String>), String>,
    },
    /// The working directory's files, for the `@` finder.
    FilesListed(FileList),
    /// What Tab completes composer text `typed` (`/file PATH`) to: the text with each path
    /// that completes it, sorted; none when nothing does.
    PathsCompleted {
        typed: String,
        candidates: Vec<String>,
    },
    /// The files a message mentions were read (each mention as written after its `@`).
    MentionsRead {
        text: String,
        results: Vec<(String, MentionRead)>,
    },
    /// A `!command` ended.
    CommandDone {
        id: u64,
        output: CommandOutput,
    },
    /// A schema file `/schema` named, read and turned into a constraint.
    SchemaLoaded(Result<Constraint, String>),
    Saved {
        path: String,
        result: Result<usize, SaveError>,
    },
    /// A code block's edit of a file was worked out (`/apply`), or why it cannot be.
    EditPrepared(Result<Box<PreparedEdit>, String>),
    /// A confirmed edit was written, or why not.
    EditWritten(Result<Box<PreparedEdit>, String>),
    /// A copy ended: `Ok` says how it was copied, `Err` why it may not have been.
    Copied {
        number: usize,
        result: Result<String, String>,
    },
    /// The history thread wrote (the conversation id) or failed.
    Recorded(Result<Option<i64>, String>),
    /// The history thread answered a picker question.
    History(Reply),
    /// A question for the history thread could not be sent: history is off, or its thread
    /// has stopped.
    QueryFailed(String),
    /// The history thread has stopped (after an error it already reported).
    HistoryStopped,
    /// A deadline the state asked for ([`AppState::next_deadline`]) may have come.
    Tick,
}

/// How the engine that `/model` or `/ctx` started is doing.
#[derive(Debug, Clone)]
pub enum SwitchEvent {
    /// Loading, from 0 to 1.
    Loading(f32),
    /// It has replaced the engine in use.
    Ready(ModelInfo),
    /// It could not start (said in one line); the engine in use stays.
    Failed(String),
}

/// Why saving failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveError {
    Exists,
    Other(String),
}

/// Work with an outside effect, run by the loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Start a turn; the engine answers with `AppEvent::Engine` (deltas, reasoning, then Done or
    /// Failed).
    Generate(TurnRequest),
    /// Have the engine evaluate the conversation and the message being typed ahead of Enter;
    /// `EngineEvent::State` (Prefill) reports it.
    Prefill(TurnRequest),
    /// Count tokens with the engine's tokenizer; `EngineEvent::Counted` with the id follows.
    Count(u64, Countable),
    /// Stop a turn; its Done (stopped) follows.
    Cancel(TurnId),
    /// Copy to the clipboard (OSC 52, and a system tool when present); `AppEvent::Copied` follows
    /// once the tool has exited.
    Copy { number: usize, text: String },
    /// Write a code block to a file; `AppEvent::Saved` follows.
    Save { path: String, content: String, overwrite: bool },
    /// Read the file a code block is for and work out the diff; `AppEvent::EditPrepared` follows.
    PrepareEdit { shown: String, source: TargetSource, proposal: Proposal },
    /// Write a confirmed edit; `AppEvent::EditWritten` follows.
    WriteEdit(Box<PreparedEdit>),
    /// Hand the terminal to $EDITOR; `AppEvent::EditorDone` follows.
    OpenEditor { text: String, purpose: EditorPurpose, extension: String },
    /// Attach a file to the next message; `AppEvent::FileRead` follows.
    ReadFile(String),
    /// List the working directory's files for the `@` finder; `AppEvent::FilesListed` follows.
    ListFiles,
    /// List the folder that composer text `typed` (`/file PATH`) names, for Tab;
    /// `AppEvent::PathsCompleted` follows.
    CompletePath { typed: String },
    /// Read the files message `text` mentions; `AppEvent::MentionsRead` follows.
    ReadMentions { text: String, tokens: Vec<String> },
    /// Run a `!command` in the shell; `AppEvent::CommandDone` follows.
    RunCommand { id: u64, command: String },
    /// Stop `!command` id (its process group); its `AppEvent::CommandDone` follows.
    StopCommand(u64),
    /// Read a JSON Schema file for `/schema`; `AppEvent::SchemaLoaded` follows.
    LoadSchema(String),
    /// Find the model `/model NAME` names; `AppEvent::ModelResolved` follows.
    ResolveModel(String),
    /// Start an engine with this change beside the one in use, which it replaces once ready;
    /// `AppEvent::Switch` follows (`Loading`, then `Ready` or `Failed`).
    Restart(EngineChange),
    /// Save to the history database (on its own thread); `AppEvent::Recorded` follows, or
    /// `HistoryStopped` when the thread has stopped.
    Record(RecordOp),
    /// Ask the history thread (session picker); `AppEvent::History` answers, or `QueryFailed`.
    Query(Query),
    /// Save the model's evaluated context for conversation id (leaving it).
    SaveContext(i64),
    /// Load the saved context of conversation id (continuing it); `EngineEvent::State` (Load)
    /// reports it.
    LoadContext(i64),
    /// The loop saves the context and ends once `update` has set `should_quit`.
    Quit,
}
