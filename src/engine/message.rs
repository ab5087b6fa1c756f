//! A conversation's messages: who said what, with the reasoning before an answer and a pin.
//!
//! Both engines take a conversation as `&[Message]`; the chat template reads a message through
//! its `Serialize` form (see [`Message`]'s fields), and pipe mode and the TUI build them.

use serde::Serialize;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// The role's name, as chat templates and servers spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// An assistant answer's reasoning, given to the template as the model families expect it:
    /// `reasoning_content` (Qwen3, DeepSeek, GLM) and `thinking` (gpt-oss) on the message, never
    /// glued into `content`. Templates decide whether to show it (most show only the reasoning
    /// after the last question).
    pub reasoning: Option<String>,
    /// Kept in the context when older turns have to leave it (/pin).
    pub pinned: bool,
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(if self.reasoning.is_some() { 4 } else { 2 }))?;
        map.serialize_entry("role", &self.role)?;
        map.serialize_entry("content", &self.content)?;
        if let Some(reasoning) = &self.reasoning {
            map.serialize_entry("reasoning_content", reasoning)?;
            map.serialize_entry("thinking", reasoning)?;
        }
        map.end()
    }
}

impl Message {
    /// A message with no reasoning, not pinned.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message { role, content: content.into(), reasoning: None, pinned: false }
    }

    /// The message with the reasoning that came before it (none when empty).
    pub fn with_reasoning(mut self, reasoning: Option<String>) -> Self {
        self.reasoning = reasoning.filter(|r| !r.trim().is_empty());
        self
    }

    /// The message, pinned or not.
    pub fn with_pin(mut self, pinned: bool) -> Self {
        self.pinned = pinned;
        self
    }
}
