//! The conversation layer both front ends share: what a conversation starts from ([`setup`]:
//! the engine, sampling, system prompt, the saved conversation to continue), the input attached
//! to a question ([`attach`]), the messages sent to the engine, saved contexts for an instant
//! resume ([`saved`]), and the error a run ends with ([`AppError`]). Pipe mode (`crate::pipe`)
//! and the TUI (`crate::tui`) call it; neither reaches into the other.

pub mod attach;
mod error;
pub mod mention;
pub mod progress;
pub mod saved;
pub mod setup;

use std::io::Write;

pub use attach::Attachment;
pub use error::AppError;
pub use saved::SavedContexts;
pub use setup::{EngineChange, EngineChoice};

use crate::engine::{Message, Role};
use crate::render::sanitize;
use crate::store::{Conversation, StoredRole};

/// Writes a line to stderr as `ember: {prefix}{text}`, sanitized: paths and model text may
/// carry escape sequences.
pub fn say(prefix: &str, text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "ember: {prefix}{}", sanitize(text));
}

/// The messages for one question: the system prompt (unless empty), a continued conversation's
/// earlier turns, then the question.
pub fn messages(system: Option<&str>, earlier: Option<&Conversation>, user: String) -> Vec<Message> {
    let mut out = Vec::with_capacity(2 + earlier.map_or(0, |c| c.messages.len()));
    if let Some(system) = system.filter(|s| !s.trim().is_empty()) {
        out.push(Message::new(Role::System, system));
    }
    if let Some(conversation) = earlier {
        out.extend(conversation.messages.iter().filter(|m| m.role != StoredRole::System).map(|m| {
            let role = if m.role == StoredRole::User { Role::User } else { Role::Assistant };
            Message::new(role, m.content.clone()).with_reasoning(m.reasoning.clone()).with_pin(m.pinned)
        }));
    }
    out.push(Message::new(Role::User, user));
    out
}
