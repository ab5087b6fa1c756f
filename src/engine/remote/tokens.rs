//! Counting a conversation's prompt tokens on a server, as exactly as it allows.

use serde_json::{json, Value};

use super::RemoteSession;
use crate::engine::message::Message;

/// How the backend counts prompt tokens, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Counting {
    /// llama-server's `/v1/chat/completions/input_tokens`: the exact prompt, template included.
    ChatInputTokens,
    /// llama-server's `/tokenize`, message by message, plus a few tokens per message.
    Tokenize,
    /// Characters / 4.
    Estimate,
}

/// Tokens a chat template adds around each message (role markers), when counting by message.
const PER_MESSAGE_TOKENS: usize = 4;

/// Counts characters / 4, rounded up: a rough but safe estimate for English text and code.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4)
}

impl RemoteSession {
    /// Prompt tokens of `messages`, counted as well as the server allows.
    pub(super) fn count(&mut self, messages: &[Message]) -> usize {
        if self.counting == Counting::ChatInputTokens {
            let url = format!("{}/chat/completions/input_tokens", self.http.base);
            let body = json!({"model": self.model, "messages": Self::messages_json(messages, self.llama_server)});
            let answer = self.http.runtime.block_on(self.http.json(reqwest::Method::POST, &url, Some(&body)));
            match answer.ok().flatten().and_then(|v| v.get("input_tokens").and_then(Value::as_u64)) {
                Some(n) => return n as usize,
                None => self.counting = Counting::Tokenize,
            }
        }
        let mut total = 3;
        for m in messages {
            total += PER_MESSAGE_TOKENS + self.count_text(&m.content);
        }
        total
    }

    pub(super) fn count_text(&mut self, text: &str) -> usize {
        if self.counting != Counting::Tokenize {
            return estimate_tokens(text);
        }
        if let Some(&n) = self.counts.get(text) {
            return n;
        }
        let url = format!("{}/tokenize", self.http.root);
        let body = json!({"content": text});
        let answer = self.http.runtime.block_on(self.http.json(reqwest::Method::POST, &url, Some(&body)));
        match answer.ok().flatten().and_then(|v| v.get("tokens").and_then(Value::as_array).map(Vec::len)) {
            Some(n) => {
                self.counts.insert(text.to_string(), n);
                n
            }
            None => {
                self.counting = Counting::Estimate;
                estimate_tokens(text)
            }
        }
    }
}
