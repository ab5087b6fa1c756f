//! The `summarize` context policy: turns that leave the context are summarised by the model,
//! and the summary joins the system prompt.

use std::time::Instant;

use super::session::LlamaSession;
use crate::engine::fit::message_hash;
use crate::engine::message::{Message, Role};
use crate::engine::{EngineError, Reasoning, StopReason, TurnRequest, TurnSink, TurnStats};

/// Most tokens a summary of dropped turns may take.
pub(super) const SUMMARY_TOKENS: usize = 160;

/// The instruction for summarising dropped turns.
const SUMMARY_PROMPT: &str = "Summarise the conversation below in at most five sentences. Keep every fact, \
name, number, file name, code identifier and decision; leave out greetings. Write only the summary.";

/// Collects a generated summary.
struct SummarySink<'a> {
    text: String,
    outer: &'a dyn TurnSink,
}

impl TurnSink for SummarySink<'_> {
    fn text(&mut self, text: &str) -> std::ops::ControlFlow<()> {
        self.text.push_str(text);
        std::ops::ControlFlow::Continue(())
    }
    fn cancelled(&self) -> bool {
        self.outer.cancelled()
    }
}

/// What became of the summary of the dropped turns.
enum Summary {
    /// The summary to give the model.
    Ready(String),
    /// The turn was cancelled while it was written.
    Cancelled,
    /// None could be written: the turns are dropped unsummarised.
    Skipped,
}

impl LlamaSession<'_> {
    /// The `summarize` policy: when turns must leave the context, the model summarises them
    /// (extending the previous summary when the dropped turns only grew), and the summary joins
    /// the system prompt. Turns that still fit are answered as usual.
    pub(super) fn generate_summarizing(
        &mut self,
        req: &TurnRequest,
        sink: &mut dyn TurnSink,
    ) -> Result<(TurnStats, StopReason), EngineError> {
        let started = Instant::now();
        // Leave room for the summary itself.
        let room = self.reply_room(req.sampling.max_tokens, true);
        let (tokens, kept) = self.fit(&req.messages, room)?;
        if kept.len() == req.messages.len() {
            // Everything fits with room for a summary to spare, so also without: the prompt is
            // the one just tokenized.
            return self.generate_tokens(req, tokens, kept.len(), started, sink);
        }
        let dropped: Vec<&Message> =
            req.messages.iter().enumerate().filter(|(i, _)| !kept.contains(i)).map(|(_, m)| m).collect();
        let summary = match self.summary_of(req, &dropped, &*sink) {
            Summary::Ready(text) => text,
            Summary::Cancelled => return Ok((TurnStats::default(), StopReason::Cancelled)),
            Summary::Skipped => return self.generate_inner(req, sink),
        };
        let messages = with_summary(&req.messages, &kept, &summary);
        // The cut made above is the one to remember, not one of the summarised conversation.
        let point = self.drop_point.clone();
        let answered = self.generate_inner(&TurnRequest { messages, ..req.clone() }, sink);
        self.drop_point = point;
        let (mut stats, stop) = answered?;
        stats.dropped_messages += dropped.len();
        stats.summarized = true;
        Ok((stats, stop))
    }

    /// The `kept` messages with the summary of the others, when that summary is already written
    /// (for a prefill, which writes none).
    pub(super) fn with_known_summary(&self, messages: &[Message], kept: &[usize]) -> Option<Vec<Message>> {
        let hashes: Vec<u64> =
            messages.iter().enumerate().filter(|(i, _)| !kept.contains(i)).map(|(_, m)| message_hash(m)).collect();
        match &self.summary {
            Some((covered, text)) if *covered == hashes => Some(with_summary(messages, kept, text)),
            _ => None,
        }
    }

    /// The summary of the `dropped` messages: the one kept from an earlier turn when they are
    /// the same, else one the model writes now (and that is kept).
    fn summary_of(&mut self, req: &TurnRequest, dropped: &[&Message], sink: &dyn TurnSink) -> Summary {
        let hashes: Vec<u64> = dropped.iter().map(|m| message_hash(m)).collect();
        // Extend the previous summary when the dropped turns only grew; else start over.
        let (earlier, new) = match &self.summary {
            Some((covered, text)) if *covered == hashes => return Summary::Ready(text.clone()),
            Some((covered, text)) if hashes.starts_with(covered) => (Some(text.as_str()), &dropped[covered.len()..]),
            _ => (None, dropped),
        };
        let summary_req = summary_request(req, transcript(earlier, new));
        let mut collect = SummarySink { text: String::new(), outer: sink };
        match self.generate_inner(&summary_req, &mut collect) {
            Ok((_, StopReason::Cancelled)) => Summary::Cancelled,
            Ok(_) if !collect.text.trim().is_empty() => {
                let text = collect.text.trim().to_string();
                self.summary = Some((hashes, text.clone()));
                Summary::Ready(text)
            }
            Ok(_) => {
                // Nothing written (all of it was reasoning): drop the turns unsummarised.
                tracing::warn!("the summary of the dropped turns came out empty");
                Summary::Skipped
            }
            Err(e) => {
                // The turns are still dropped, just not summarised.
                tracing::warn!(error = %e, "summarising the dropped turns failed");
                Summary::Skipped
            }
        }
    }
}

/// The text to summarise: the summary of what came before, if any, then the `new` messages.
fn transcript(earlier: Option<&str>, new: &[&Message]) -> String {
    let mut transcript = String::new();
    if let Some(earlier) = earlier {
        transcript.push_str(&format!("(Summary of what came before: {earlier})\n\n"));
    }
    for m in new {
        let who = if m.role == Role::User { "User" } else { "Assistant" };
        transcript.push_str(&format!("{who}: {}\n\n", m.content.trim()));
    }
    transcript
}

/// The request that asks for a summary of `transcript`, within the turn `req`.
fn summary_request(req: &TurnRequest, transcript: String) -> TurnRequest {
    TurnRequest {
        turn: req.turn,
        messages: vec![Message::new(Role::System, SUMMARY_PROMPT), Message::new(Role::User, transcript)],
        sampling: crate::engine::SamplingParams {
            temperature: 0.0,
            max_tokens: SUMMARY_TOKENS,
            // A reasoning model would spend the summary's tokens thinking.
            reasoning: Reasoning::Off,
            ..req.sampling.clone()
        },
    }
}

/// The `kept` messages with `summary` added to the system prompt (or as one, when there is none).
fn with_summary(messages: &[Message], kept: &[usize], summary: &str) -> Vec<Message> {
    let note = format!("Summary of the earlier part of this conversation: {summary}");
    let mut out: Vec<Message> = kept.iter().map(|&i| messages[i].clone()).collect();
    match out.first_mut() {
        Some(first) if first.role == Role::System => {
            first.content = format!("{}\n\n{note}", first.content);
        }
        _ => out.insert(0, Message::new(Role::System, note)),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_joins_the_system_prompt_or_becomes_one() {
        let convo = [Message::new(Role::System, "s"), Message::new(Role::User, "q1"), Message::new(Role::User, "q2")];
        let joined = with_summary(&convo, &[0, 2], "S");
        let texts: Vec<&str> = joined.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(texts, ["s\n\nSummary of the earlier part of this conversation: S", "q2"]);
        let alone = with_summary(&convo[1..], &[1], "S");
        assert_eq!(alone[0], Message::new(Role::System, "Summary of the earlier part of this conversation: S"));
        assert_eq!(alone.len(), 2);
    }

    #[test]
    fn the_transcript_starts_from_the_earlier_summary() {
        let (q, a) = (Message::new(Role::User, " q "), Message::new(Role::Assistant, "a"));
        assert_eq!(transcript(None, &[&q, &a]), "User: q\n\nAssistant: a\n\n");
        assert_eq!(transcript(Some("e"), &[&q]), "(Summary of what came before: e)\n\nUser: q\n\n");
    }
}
