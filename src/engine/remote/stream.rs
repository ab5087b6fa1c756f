//! One streamed turn: the request (retried on 429/5xx as the server asks), the server-sent
//! events read into the sink, every wait raced against the cancel floor, and the turn's figures.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;

use super::error::{classify, error_message, status_error};
use super::{RemoteError, RemoteSession};
use crate::engine::reasoning::{ReasoningFormat, ReasoningParser, SegmentKind, TagFormat, ThinkTags};
use crate::engine::sse::{SseEvent, SseParser};
use crate::engine::{StopReason, TurnSink, TurnStats};

/// The longest a Retry-After is honoured; a longer one fails the turn instead.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);
/// How often a waiting turn looks at the cancel floor.
const CANCEL_POLL: Duration = Duration::from_millis(20);

/// What one streamed reply brought.
#[derive(Debug, Default)]
pub(super) struct Streamed {
    pub(super) stop: Option<StopReason>,
    pub(super) finish_reason: Option<String>,
    pub(super) usage: Option<Value>,
    pub(super) timings: Option<Value>,
    /// The first chunk of reasoning or answer.
    pub(super) first_token: Option<Instant>,
    /// The first chunk of reasoning, and of the answer.
    pub(super) first_reasoning: Option<Instant>,
    pub(super) first_answer: Option<Instant>,
    /// Chunks with text (reasoning or answer): a rough count of tokens when the server gives none.
    pub(super) chunks: usize,
    /// Of those, chunks the server sent as reasoning (`reasoning_content`).
    pub(super) reasoning_chunks: usize,
    /// Splits `<think>` blocks out of `content` when the server leaves them there (llama-server
    /// with `--reasoning-format none`, vLLM without a reasoning parser). Made at the first content.
    pub(super) tags: Option<ReasoningParser>,
}

impl Streamed {
    /// A reply cancelled before any of it came.
    fn cancelled() -> Self {
        Streamed { stop: Some(StopReason::Cancelled), ..Streamed::default() }
    }

    /// The error for a reply that sent nothing for `limit`: nothing yet (a long prompt fill
    /// behind headers sent at once, as vLLM does) is a plain timeout; a stall after some of the
    /// reply is a stall mid-reply.
    fn stalled(&self, url: &str, limit: Duration) -> RemoteError {
        let (url, secs) = (url.to_string(), limit.as_secs());
        if self.first_answer.is_some() || self.first_reasoning.is_some() {
            RemoteError::StalledMidReply { url, secs }
        } else {
            RemoteError::Timeout { url, secs }
        }
    }

    /// Chunks of reasoning: those the server marked, and content chunks the tags made reasoning.
    pub(super) fn reasoning_chunks(&self) -> usize {
        self.reasoning_chunks + self.tags.as_ref().map_or(0, ReasoningParser::reasoning_tokens)
    }

    /// Sends classified text on: reasoning (and anything addressed to a tool) is never answer.
    fn emit(&mut self, kind: SegmentKind, text: &str, sink: &mut dyn TurnSink) -> std::ops::ControlFlow<()> {
        let now = Instant::now();
        match kind {
            SegmentKind::Answer => {
                self.first_answer.get_or_insert(now);
                sink.text(text)
            }
            SegmentKind::Reasoning | SegmentKind::ToolCall => {
                self.first_reasoning.get_or_insert(now);
                sink.reasoning(text)
            }
        }
    }

    /// Runs `content` through the tag parser and on to the sink.
    fn content(&mut self, content: &str, sink: &mut dyn TurnSink) -> std::ops::ControlFlow<()> {
        let parser = self.tags.get_or_insert_with(|| {
            ReasoningParser::new(ReasoningFormat::Tags(TagFormat::new(ThinkTags::Think, false)))
        });
        let mut pieces: Vec<(SegmentKind, String)> = Vec::new();
        parser.push_with(-1, content, |kind, text| pieces.push((kind, text.to_string())));
        self.emit_all(pieces, sink)
    }

    /// The stream ended: text the tag parser held back (a possible start of a tag) goes out.
    fn finish(&mut self, sink: &mut dyn TurnSink) -> std::ops::ControlFlow<()> {
        let mut pieces: Vec<(SegmentKind, String)> = Vec::new();
        if let Some(parser) = self.tags.as_mut() {
            parser.finish_with(|kind, text| pieces.push((kind, text.to_string())));
        }
        self.emit_all(pieces, sink)
    }

    fn emit_all(&mut self, pieces: Vec<(SegmentKind, String)>, sink: &mut dyn TurnSink) -> std::ops::ControlFlow<()> {
        for (kind, text) in pieces {
            self.emit(kind, &text, sink)?;
        }
        std::ops::ControlFlow::Continue(())
    }
}

enum Next<T> {
    Item(T),
    Cancelled,
    TimedOut,
}

/// Waits for `future`, unless the turn is cancelled or `limit` passes first.
async fn watch<T>(future: impl std::future::Future<Output = T>, sink: &dyn TurnSink, limit: Duration) -> Next<T> {
    let cancelled = async {
        while !sink.cancelled() {
            tokio::time::sleep(CANCEL_POLL).await;
        }
    };
    tokio::select! {
        item = future => Next::Item(item),
        () = cancelled => Next::Cancelled,
        () = tokio::time::sleep(limit) => Next::TimedOut,
    }
}

/// Seconds from a Retry-After header (the HTTP-date form is not honoured: a default applies).
pub(super) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

impl RemoteSession {
    /// Streams one reply into `sink`. Retries 429/5xx answers (before any text, by nature).
    pub(super) async fn stream(&self, body: &Value, sink: &mut dyn TurnSink) -> Result<Streamed, RemoteError> {
        let url = format!("{}/chat/completions", self.http.base);
        match self.send(&url, body, &*sink).await? {
            Some(response) => self.read_reply(response, &url, sink).await,
            None => Ok(Streamed::cancelled()),
        }
    }

    /// Sends the request, retrying 429 and 5xx answers after the pause the server asks for (or
    /// a growing default) while tries remain. `None` when the turn is cancelled meanwhile.
    async fn send(
        &self,
        url: &str,
        body: &Value,
        sink: &dyn TurnSink,
    ) -> Result<Option<reqwest::Response>, RemoteError> {
        let limit = self.http.read_timeout;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let send = self.http.request(reqwest::Method::POST, url).json(body).send();
            let response = match watch(send, sink, limit).await {
                Next::Item(result) => result.map_err(|e| classify(&e, url, limit))?,
                Next::Cancelled => return Ok(None),
                Next::TimedOut => return Err(RemoteError::Timeout { url: url.to_string(), secs: limit.as_secs() }),
            };
            let status = response.status().as_u16();
            if (200..300).contains(&status) {
                return Ok(Some(response));
            }
            let wait = retry_after(response.headers());
            let text = match watch(response.text(), sink, limit).await {
                Next::Item(text) => text.unwrap_or_default(),
                Next::Cancelled => return Ok(None),
                Next::TimedOut => String::new(),
            };
            let message = self.http.clean(&error_message(&text));
            let retryable = status == 429 || (500..=599).contains(&status);
            let wait = wait.unwrap_or(Duration::from_millis(500 << attempt.min(6)));
            if !retryable || attempt > self.max_retries || wait > MAX_RETRY_WAIT {
                return Err(status_error(status, &message, attempt, Some(&self.model)));
            }
            tracing::warn!(status, attempt, wait_ms = wait.as_millis() as u64, %message, "retrying the request");
            if let Next::Cancelled = watch(tokio::time::sleep(wait), sink, wait + limit).await {
                return Ok(None);
            }
        }
    }

    /// Reads the reply's events into `sink` until `[DONE]` (or the end of a stream that gave a
    /// finish reason), a cancel, a stall or an error. Text already sent stays sent.
    async fn read_reply(
        &self,
        response: reqwest::Response,
        url: &str,
        sink: &mut dyn TurnSink,
    ) -> Result<Streamed, RemoteError> {
        let limit = self.http.read_timeout;
        let mut bytes = response.bytes_stream();
        let mut parser = SseParser::default();
        let mut events = Vec::new();
        let mut out = Streamed::default();
        let mut done = false;
        let mut ended = false;
        while !done {
            let chunk = match watch(bytes.next(), &*sink, limit).await {
                Next::Cancelled => {
                    out.stop = Some(StopReason::Cancelled);
                    return Ok(out);
                }
                Next::TimedOut => {
                    let _ = out.finish(sink);
                    return Err(out.stalled(url, limit));
                }
                Next::Item(chunk) => chunk,
            };
            match chunk {
                Some(Ok(data)) => parser.push(&data, &mut events),
                Some(Err(e)) => {
                    let _ = out.finish(sink);
                    return Err(RemoteError::ClosedMidReply { reason: classify(&e, url, limit).to_string() });
                }
                None => {
                    parser.finish(&mut events);
                    ended = true;
                }
            }
            for event in events.drain(..) {
                match event {
                    SseEvent::Done => done = true,
                    SseEvent::Data(data) => {
                        if self.handle_event(&data, &mut out, sink)?.is_break() {
                            out.stop = Some(StopReason::Cancelled);
                            return Ok(out);
                        }
                    }
                }
            }
            if ended && !done {
                if out.finish_reason.is_none() {
                    let _ = out.finish(sink);
                    return Err(RemoteError::ClosedMidReply {
                        reason: "the stream ended without a finish reason or [DONE]".into(),
                    });
                }
                done = true;
            }
        }
        if out.finish(sink).is_break() {
            out.stop = Some(StopReason::Cancelled);
        }
        Ok(out)
    }

    /// Handles one event's JSON: text goes to the sink, figures are kept.
    fn handle_event(
        &self,
        data: &str,
        out: &mut Streamed,
        sink: &mut dyn TurnSink,
    ) -> Result<std::ops::ControlFlow<()>, RemoteError> {
        let value: Value = serde_json::from_str(data)
            .map_err(|e| RemoteError::Malformed(format!("an event is not JSON ({e}): {}", self.http.clean(data))))?;
        if let Some(error) = value.get("error") {
            let message =
                error.get("message").and_then(Value::as_str).map_or_else(|| error.to_string(), str::to_string);
            return Err(RemoteError::ServerError(self.http.clean(&message)));
        }
        if let Some(usage) = value.get("usage").filter(|u| u.is_object()) {
            out.usage = Some(usage.clone());
        }
        if let Some(timings) = value.get("timings").filter(|t| t.is_object()) {
            out.timings = Some(timings.clone());
        }
        if let Some(progress) = value.get("prompt_progress") {
            prompt_progress(progress, sink);
        }
        let choice = value.get("choices").and_then(Value::as_array).and_then(|c| c.first());
        let Some(choice) = choice else { return Ok(std::ops::ControlFlow::Continue(())) };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            out.finish_reason = Some(reason.to_string());
        }
        let text = |pointer: &str| choice.pointer(pointer).and_then(Value::as_str).filter(|t| !t.is_empty());
        // llama-server and vLLM's reasoning parsers send the thinking apart from the answer
        // (vLLM's newer releases call the field `reasoning`).
        let reasoning = text("/delta/reasoning_content").or_else(|| text("/delta/reasoning"));
        let content = text("/delta/content");
        if reasoning.is_some() || content.is_some() {
            out.chunks += 1;
            out.first_token.get_or_insert_with(Instant::now);
        }
        if let Some(reasoning) = reasoning {
            out.reasoning_chunks += 1;
            if out.emit(SegmentKind::Reasoning, reasoning, sink).is_break() {
                return Ok(std::ops::ControlFlow::Break(()));
            }
        }
        match content {
            Some(content) => Ok(out.content(content, sink)),
            None => Ok(std::ops::ControlFlow::Continue(())),
        }
    }
}

/// Prompts with more tokens than this to evaluate report their progress (as the local engine's).
const PROGRESS_FROM: usize = 256;

/// Passes on llama-server's `prompt_progress` (asked for with `return_progress`): `processed` of
/// `total` prompt tokens are in the context, of which `cache` were reused, not evaluated.
fn prompt_progress(progress: &Value, sink: &mut dyn TurnSink) {
    let field = |key: &str| progress.get(key).and_then(Value::as_u64).and_then(|n| usize::try_from(n).ok());
    let (Some(total), Some(processed)) = (field("total"), field("processed")) else { return };
    let cache = field("cache").unwrap_or(0).min(total);
    let processed = processed.min(total);
    let to_evaluate = total - cache;
    // As the local engine: a long prompt reports each step, a short one only its end.
    if to_evaluate > PROGRESS_FROM || processed == total {
        sink.progress(processed.saturating_sub(cache), to_evaluate, processed);
    }
}

fn number(v: Option<&Value>, key: &str) -> Option<f64> {
    v.and_then(|v| v.get(key)).and_then(Value::as_f64)
}

/// Turns what the server reported into ember's figures.
pub(super) fn stats_from(streamed: &Streamed, started: Instant, estimated_prompt: usize, dropped: usize) -> TurnStats {
    let usage = streamed.usage.as_ref();
    let timings = streamed.timings.as_ref();
    let count = |v: Option<f64>| v.map(|n| n.max(0.0) as usize);
    let cache_n = count(number(timings, "cache_n"));
    let prompt_n = count(number(timings, "prompt_n"));
    let prompt_tokens = count(number(usage, "prompt_tokens"))
        .or_else(|| prompt_n.map(|n| n + cache_n.unwrap_or(0)))
        .unwrap_or(estimated_prompt);
    let generated_tokens = count(number(usage, "completion_tokens"))
        .or_else(|| count(number(timings, "predicted_n")))
        .unwrap_or(streamed.chunks);
    let ms = |v: Option<f64>| v.filter(|m| m.is_finite() && *m >= 0.0).map(|m| Duration::from_secs_f64(m / 1000.0));
    let ttft = streamed.first_token.map(|t| t.duration_since(started)).unwrap_or_default();
    let predicted = count(number(timings, "predicted_n")).zip(ms(number(timings, "predicted_ms")));
    // OpenAI and vLLM report the reasoning's tokens; otherwise one chunk is about one token.
    let reasoning_tokens = usage
        .and_then(|u| u.pointer("/completion_tokens_details/reasoning_tokens"))
        .and_then(Value::as_f64)
        .map(|n| n.max(0.0) as usize)
        .unwrap_or_else(|| streamed.reasoning_chunks().min(generated_tokens));
    let reasoning_time = match (streamed.first_reasoning, streamed.first_answer) {
        (Some(start), Some(answer)) => answer.saturating_duration_since(start),
        (Some(start), None) => start.elapsed(),
        (None, _) => Duration::ZERO,
    };
    TurnStats {
        prompt_tokens,
        dropped_messages: dropped,
        reused_tokens: cache_n.unwrap_or(0),
        // A server's cache reuse is its own business (llama-server's `--cache-reuse`).
        shifted_tokens: 0,
        evaluated_tokens: prompt_n.unwrap_or(prompt_tokens),
        generated_tokens,
        time_to_first_token: ttft,
        prompt_time: ms(number(timings, "prompt_ms")).unwrap_or(ttft),
        generation_time: streamed.first_token.map(|t| t.elapsed()).unwrap_or_default(),
        llama_eval: predicted.filter(|(n, d)| *n > 0 && !d.is_zero()),
        summarized: false,
        reasoning_tokens,
        reasoning_time,
        grammar: None,
        speculation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the progress reports.
    #[derive(Default)]
    struct Reports(Vec<(usize, usize, usize)>);

    impl TurnSink for Reports {
        fn text(&mut self, _text: &str) -> std::ops::ControlFlow<()> {
            std::ops::ControlFlow::Continue(())
        }
        fn progress(&mut self, done: usize, total: usize, context: usize) {
            self.0.push((done, total, context));
        }
        fn cancelled(&self) -> bool {
            false
        }
    }

    #[test]
    fn llama_servers_prompt_progress_counts_only_what_it_evaluates() {
        let mut sink = Reports::default();
        let at =
            |processed: u64| serde_json::json!({"total": 1900, "cache": 100, "processed": processed, "time_ms": 5});
        for processed in [100, 1124, 1900] {
            prompt_progress(&at(processed), &mut sink);
        }
        assert_eq!(sink.0, vec![(0, 1800, 100), (1024, 1800, 1124), (1800, 1800, 1900)]);
        // A short prompt: only its end (the context meter), never a reading line.
        let mut short = Reports::default();
        for processed in [10, 40] {
            prompt_progress(&serde_json::json!({"total": 40, "cache": 0, "processed": processed}), &mut short);
        }
        assert_eq!(short.0, vec![(40, 40, 40)]);
        prompt_progress(&serde_json::json!({"total": "x"}), &mut short);
        assert_eq!(short.0.len(), 1, "nonsense is ignored");
    }
}
