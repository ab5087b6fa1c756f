//! The parser for harmony (gpt-oss): channels and recipients read from control tokens.

use super::{HarmonyTokens, SegmentKind, Sink};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HarmonyState {
    /// Before any header, or between messages: stray text is taken for answer.
    Outside,
    /// After `<|start|>`: the role header (`assistant`, `assistant to=functions.x`).
    Role,
    /// After `<|channel|>`: the channel header (`analysis`, `commentary to=functions.x json`).
    Channel,
    /// After `<|message|>`: the message body.
    Message(SegmentKind),
}

/// The parser for harmony (gpt-oss), driven by control-token ids.
#[derive(Debug, Clone)]
pub(super) struct HarmonyParser {
    tokens: HarmonyTokens,
    state: HarmonyState,
    role: String,
    channel: String,
}

impl HarmonyParser {
    pub(super) fn new(tokens: HarmonyTokens) -> Self {
        HarmonyParser { tokens, state: HarmonyState::Outside, role: String::new(), channel: String::new() }
    }

    pub(super) fn kind(&self) -> SegmentKind {
        match self.state {
            HarmonyState::Outside => SegmentKind::Answer,
            HarmonyState::Role | HarmonyState::Channel => self.header().0,
            HarmonyState::Message(kind) => kind,
        }
    }

    pub(super) fn push(&mut self, token: i32, piece: &str, sink: &mut Sink) {
        let t = self.tokens;
        let is = |id: Option<i32>| id == Some(token);
        if is(t.start) {
            self.role.clear();
            self.channel.clear();
            self.state = HarmonyState::Role;
        } else if token == t.channel {
            self.channel.clear();
            self.state = HarmonyState::Channel;
        } else if token == t.message {
            let (kind, recipient, content_type) = self.header();
            sink.attribute(kind);
            if kind == SegmentKind::ToolCall {
                sink.start_tool_call(recipient.unwrap_or_default(), content_type);
            }
            self.state = HarmonyState::Message(kind);
        } else if is(t.end) || is(t.return_) || is(t.call) {
            sink.attribute(self.kind());
            self.state = HarmonyState::Outside;
        } else if is(t.constrain) {
            // `…to=functions.x<|constrain|>json`: keep the content type a word of its own.
            self.header_text(" ");
        } else {
            match self.state {
                HarmonyState::Outside => {
                    if !piece.is_empty() {
                        sink.attribute(SegmentKind::Answer);
                    }
                    sink.emit(SegmentKind::Answer, piece);
                }
                HarmonyState::Role | HarmonyState::Channel => self.header_text(piece),
                HarmonyState::Message(kind) => {
                    if !piece.is_empty() {
                        sink.attribute(kind);
                    }
                    sink.emit(kind, piece);
                }
            }
        }
    }

    fn header_text(&mut self, text: &str) {
        match self.state {
            HarmonyState::Role => self.role.push_str(text),
            HarmonyState::Channel => self.channel.push_str(text),
            HarmonyState::Outside | HarmonyState::Message(_) => {}
        }
    }

    pub(super) fn finish(&mut self, sink: &mut Sink) {
        // A header cut short is dropped: headers are never text.
        sink.attribute(self.kind());
    }

    /// What the headers read so far make of the message: its kind, its recipient, and the
    /// declared type of its content.
    fn header(&self) -> (SegmentKind, Option<String>, Option<String>) {
        let recipient = recipient(&self.channel).or_else(|| recipient(&self.role));
        let mut words = self.channel.split_whitespace().filter(|w| !w.starts_with("to="));
        let channel = words.next().unwrap_or("");
        let content_type = words.next().map(str::to_string);
        let kind = match (&recipient, channel) {
            (Some(_), _) => SegmentKind::ToolCall,
            (None, "final" | "") => SegmentKind::Answer,
            (None, _) => SegmentKind::Reasoning,
        };
        (kind, recipient, content_type)
    }
}

/// The recipient named by `to=` in a harmony header; a message to the assistant is not a call.
fn recipient(header: &str) -> Option<String> {
    header
        .split_whitespace()
        .find_map(|w| w.strip_prefix("to="))
        .filter(|r| !r.is_empty() && *r != "assistant")
        .map(str::to_string)
}
