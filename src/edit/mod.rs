//! Edits to the user's files: a unified diff of two texts ([`diff`]), a unified diff applied
//! with context matching ([`patch`]), which file a code block is for ([`target`]), and reading
//! and writing files safely with the record `/undo` needs ([`file`]).
//!
//! The TUI (`/apply`, the code pane's `a`, `/undo`) and pipe mode (`--diff`) call it alike; it
//! knows nothing of either and is tested without a terminal.

pub mod diff;
pub mod file;
pub mod patch;
pub mod prepared;
pub mod target;

pub use diff::{unified, DiffStat};
pub use file::{read_text, resolve, restore, write_atomic, Resolved};
pub use patch::{apply, parse, FilePatch, PatchError};
pub use prepared::{prepare, write, PreparedEdit};
pub use target::{Proposal, ProposedContent, TargetSource};

/// Why an edit could not be prepared, written or undone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("{0} is not a text file (it holds a NUL byte): ember edits text files only")]
    Binary(String),
    #[error("{0} is not UTF-8 text: ember edits UTF-8 text files only")]
    NotUtf8(String),
    #[error("{0}")]
    Patch(#[from] PatchError),
    #[error("{path} changed since the diff was shown: apply the block again to see the new diff")]
    Changed { path: String },
    #[error("{path} was changed after ember wrote it: nothing restored (undoing would lose those changes)")]
    Edited { path: String },
    #[error("cannot {what} {path}: {reason}")]
    Io { what: &'static str, path: String, reason: String },
}
