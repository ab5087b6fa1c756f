//! What happens to the app ([`AppEvent`]) and the work with an outside effect that `update`
//! asks for ([`Effect`]); an effect's result comes back as an event.

use std::path::PathBuf;

use crossterm::event::{KeyEvent, MouseEvent};

use crate::engine::{EngineEvent, TurnId, TurnRequest};
use crate::pipe::Attachment;
use crate::store::recorder::{Query, RecordOp, Reply};

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
    EditorDone {
        purpose: EditorPurpose,
        result: Result<String, String>,
    },
    FileRead {
        path: String,
        result: Result<(Attachment, Option<String>), String>,
    },
    Saved {
        path: String,
        result: Result<usize, SaveError>,
    },
    Copied {
        number: usize,
        result: Result<(), String>,
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

/// Why saving failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveError {
    Exists,
    Other(String),
}

/// Work with an outside effect, run by the loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Generate(TurnRequest),
    /// Have the engine evaluate the conversation and the message being typed ahead of Enter.
    Prefill(TurnRequest),
    Cancel(TurnId),
    /// Copy to the clipboard (OSC 52, and a system tool when present).
    Copy {
        number: usize,
        text: String,
    },
    Save {
        path: String,
        content: String,
        overwrite: bool,
    },
    OpenEditor {
        text: String,
        purpose: EditorPurpose,
        extension: String,
    },
    ReadFile(String),
    SwitchModel(PathBuf),
    /// Save to the history database (on its own thread).
    Record(RecordOp),
    /// Ask the history thread (session picker).
    Query(Query),
    /// Save the model's evaluated context for conversation id (leaving it).
    SaveContext(i64),
    /// Load the saved context of conversation id (continuing it).
    LoadContext(i64),
    Quit,
}
