//! The remote backend: an OpenAI-compatible chat-completions server (llama.cpp's llama-server,
//! vLLM, Ollama, a hosted API) behind the same [`Backend`] trait and thread shape as llama.cpp.
//!
//! The engine thread owns a small tokio runtime (one worker, for the connections' tasks) and an
//! HTTP client. A turn is one streamed `POST {base}/chat/completions`; the reply arrives as
//! server-sent events. Between chunks, and while waiting for one, the thread watches the cancel
//! floor, so a cancel closes the stream within a few milliseconds even when the server has
//! stalled.
//!
//! The API key is read from the environment variable the options name, kept in a type whose
//! `Debug` hides it, sent only in the `Authorization` header, and cut out of any server message
//! before that message becomes an error. It is never logged, stored nor shown.
//!
//! This file holds the session and the request; `http` reaches the server (client, connect,
//! model list), `tokens` counts prompts, `stream` runs one streamed turn, and `error` says what
//! went wrong.

mod error;
mod http;
mod stream;
#[cfg(test)]
mod tests;
mod tokens;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::constraint::{Constraint, ConstraintKind};
use super::fit::{self, DropPoint, Fitted, Window};
use super::message::Message;
use super::{
    Backend, CancelFloor, Command, Countable, EngineError, EngineEvent, Reasoning, SamplingParams, StopReason,
    TurnRequest, TurnSink, TurnStats,
};
pub use error::RemoteError;
pub use http::list_models;
use http::Http;
use stream::stats_from;
pub use tokens::estimate_tokens;
use tokens::Counting;

/// The context budget when the server reports none and none is configured.
pub const DEFAULT_CTX: u32 = 8192;

/// Where and how to reach the server. Filled from `--endpoint` and friends, or from a config
/// file's `[remote]` section (every field has a plain type and [`RemoteOptions::new`] defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteOptions {
    /// The API's base URL, with its version path: `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// The server's model name; `None` takes the first model the server lists.
    pub model: Option<String>,
    /// The name of the environment variable that holds the API key (never the key itself).
    pub api_key_env: Option<String>,
    pub connect_timeout: Duration,
    /// The longest wait for the next bytes of an answer (or for its first byte).
    pub read_timeout: Duration,
    /// The context budget when the server does not report its context size.
    pub ctx_size: Option<u32>,
    /// Retries after a 429 or 5xx answer (only before any text has streamed).
    pub max_retries: u32,
    /// The share of the context a cut brings the prompt down to when turns must leave
    /// (`context_drop_to`, see [`fit::DropPoint`]).
    pub drop_to: f32,
}

impl RemoteOptions {
    /// Options for `base_url` with the defaults: first listed model, no key, 10 s to connect,
    /// 300 s between bytes, 3 retries.
    pub fn new(base_url: impl Into<String>) -> Self {
        RemoteOptions {
            base_url: base_url.into(),
            model: None,
            api_key_env: None,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(300),
            ctx_size: None,
            max_retries: 3,
            drop_to: fit::DEFAULT_DROP_TO,
        }
    }

    /// What to call this engine before it is ready (history, status line): the model, else the URL.
    pub fn label(&self) -> String {
        self.model.clone().unwrap_or_else(|| self.base_url.clone())
    }
}

/// A model the server offers.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteModel {
    pub id: String,
    /// The context size the server reports for it (vLLM's `max_model_len`), if any.
    pub n_ctx: Option<usize>,
    /// The model's training context (llama-server's `meta.n_ctx_train`), if reported.
    pub n_ctx_train: Option<usize>,
    pub owned_by: Option<String>,
}

impl RemoteModel {
    /// Whether `name` chooses this model: its id, or its short name.
    pub fn answers_to(&self, name: &str) -> bool {
        self.id == name || short_name(&self.id) == name
    }
}

/// A model's name for people: llama-server names a model by its file path
/// (`/models/SmolLM2-135M-Instruct.Q4_1.gguf`); that is shown, and accepted, as the file's name
/// without `.gguf`. Other ids (`llama3.2`, `Qwen/Qwen2.5-1.5B-Instruct`) are kept as they are.
pub fn short_name(id: &str) -> String {
    match id.strip_suffix(".gguf") {
        Some(_) => crate::models::display_name(std::path::Path::new(id)),
        None => id.to_string(),
    }
}

/// The backend: one server, one model.
pub struct RemoteSession {
    http: Http,
    model: String,
    n_ctx: usize,
    /// The server is llama-server (it answered `/props`): it takes its extra sampling fields.
    llama_server: bool,
    counting: Counting,
    /// Token counts of message texts, for `Counting::Tokenize`.
    counts: HashMap<String, usize>,
    max_retries: u32,
    /// Where the conversation was last cut, so that the server's prompt cache stays valid.
    drop_point: DropPoint,
}

impl RemoteSession {
    /// The messages on the wire. llama-server also gets earlier reasoning (`reasoning_content`,
    /// which its template reads); other servers only the standard fields.
    fn messages_json(messages: &[Message], llama_server: bool) -> Value {
        Value::Array(
            messages
                .iter()
                .map(|m| match (&m.reasoning, llama_server) {
                    (Some(r), true) => json!({"role": m.role.as_str(), "content": m.content, "reasoning_content": r}),
                    _ => json!({"role": m.role.as_str(), "content": m.content}),
                })
                .collect(),
        )
    }

    /// The request body for a streamed reply.
    pub fn request_body(&self, messages: &[Message], sampling: &SamplingParams) -> Value {
        request_body(&self.model, messages, sampling, self.llama_server)
    }

    /// Leaves out the oldest turns (never the system prompt nor the question) when the
    /// conversation does not fit with room for a reply, as the local engine does (see
    /// [`fit::fit`]): at the last cut while it fits, else down to `drop_to` of the context, so
    /// that the server's prompt cache is broken once per many turns rather than every turn.
    fn fit<'a>(&mut self, messages: &'a [Message], max_tokens: usize) -> Result<Fitted<'a, ()>, EngineError> {
        let window =
            Window { n_ctx: self.n_ctx, room: fit::reply_room(max_tokens, self.n_ctx), n_ctx_train: self.n_ctx };
        let mut point = std::mem::take(&mut self.drop_point);
        let fitted = fit::fit(messages, window, &mut point, |messages| Ok(((), self.count(messages))), |_| 0);
        self.drop_point = point;
        fitted
    }
}

/// The request body for a streamed chat completion. Standard OpenAI fields only, unless the
/// server is llama-server, which also takes top-k, min-p and the repeat penalty.
pub fn request_body(model: &str, messages: &[Message], sampling: &SamplingParams, llama_server: bool) -> Value {
    let mut body = json!({
        "model": model,
        "messages": RemoteSession::messages_json(messages, llama_server),
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_tokens": sampling.max_tokens,
        "temperature": decimal(sampling.temperature),
        "top_p": decimal(sampling.top_p),
        "seed": sampling.seed,
    });
    if llama_server {
        body["top_k"] = json!(sampling.top_k);
        // Progress of a long prompt's evaluation, streamed before the first token.
        body["return_progress"] = json!(true);
        body["min_p"] = json!(decimal(sampling.min_p));
        body["repeat_penalty"] = json!(decimal(sampling.repeat_penalty));
        // The figures ember shows next to its own.
        body["timings_per_token"] = json!(false);
    }
    add_reasoning(&mut body, sampling.reasoning, llama_server);
    if let Some(constraint) = sampling.constraint.as_deref() {
        add_constraint(&mut body, constraint, llama_server);
    }
    body
}

/// An output constraint on the wire: OpenAI's `response_format` (llama-server, vLLM, Ollama
/// and OpenAI take it; a server that ignores it answers unconstrained, and pipe mode then
/// refuses an answer that is not JSON), or llama-server's own `grammar` for a GBNF grammar,
/// which [`RemoteSession::generate`] refuses for any other server.
fn add_constraint(body: &mut Value, constraint: &Constraint, llama_server: bool) {
    match &constraint.kind {
        ConstraintKind::Json => body["response_format"] = json!({"type": "json_object"}),
        ConstraintKind::Schema(schema) => {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": "answer", "strict": true, "schema": schema},
            });
        }
        ConstraintKind::Grammar if llama_server => body["grammar"] = json!(constraint.grammar),
        ConstraintKind::Grammar => {}
    }
}

/// The reasoning setting on the wire: `chat_template_kwargs` reach llama-server's chat template
/// (with `--jinja`) as the local engine passes them to its own; other servers get only
/// `reasoning_effort`, OpenAI's field, for an explicit effort (hosted APIs refuse fields they do
/// not know). `Auto` adds nothing: the server's default.
fn add_reasoning(body: &mut Value, reasoning: Reasoning, llama_server: bool) {
    if reasoning == Reasoning::Auto {
        return;
    }
    if matches!(reasoning, Reasoning::Low | Reasoning::Medium | Reasoning::High) {
        body["reasoning_effort"] = json!(reasoning.as_str());
    }
    if !llama_server {
        return;
    }
    let kwargs: serde_json::Map<String, Value> = reasoning
        .template_vars()
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_string(), serde_json::to_value(value).ok()?)))
        .collect();
    body["chat_template_kwargs"] = Value::Object(kwargs);
}

/// An f32 setting as the decimal the user wrote (0.7, not 0.699999988079071).
fn decimal(x: f32) -> f64 {
    (f64::from(x) * 1e6).round() / 1e6
}

impl Backend for RemoteSession {
    fn generate(&mut self, req: &TurnRequest, sink: &mut dyn TurnSink) -> Result<(TurnStats, StopReason), EngineError> {
        let started = Instant::now();
        if let Some(c) = req.sampling.constraint.as_deref().filter(|c| c.kind == ConstraintKind::Grammar) {
            if !self.llama_server {
                return Err(EngineError::Grammar(format!(
                    "this server takes no GBNF grammar, so {} cannot be applied (llama-server and \
                     the local engine can); a JSON Schema (--json-schema) works with most servers",
                    c.label
                )));
            }
        }
        let answered = super::template::without_unanswered(&req.messages);
        let fitted = self.fit(&answered, req.sampling.max_tokens)?;
        let body = self.request_body(&fitted.messages, &req.sampling);
        let streamed = self.http.runtime.block_on(self.stream(&body, sink))?;
        let stats = stats_from(&streamed, started, fitted.tokens, fitted.dropped);
        let stop = match (streamed.stop, streamed.finish_reason.as_deref()) {
            (Some(stop), _) => stop,
            (None, Some("length")) if stats.generated_tokens >= req.sampling.max_tokens => StopReason::MaxTokens,
            (None, Some("length")) => StopReason::ContextFull,
            (None, _) => StopReason::EndOfText,
        };
        tracing::debug!(?stats, ?stop, "remote turn done");
        Ok((stats, stop))
    }

    fn save_state(&mut self, _path: &std::path::Path) -> Result<usize, String> {
        Err("a remote server keeps its own context; nothing to save".into())
    }

    fn load_state(&mut self, _path: &std::path::Path) -> Result<usize, String> {
        Err("a remote server keeps its own context; nothing to load".into())
    }

    fn count(&mut self, what: &Countable) -> Result<usize, String> {
        Ok(match what {
            Countable::Text(text) => self.count_text(text),
            Countable::Prompt(messages) => self.count(messages),
        })
    }
}

/// The engine thread's body: reach the server, then serve turns until shutdown.
pub(crate) fn run(
    options: RemoteOptions,
    commands: &std::sync::mpsc::Receiver<Command>,
    events: &tokio::sync::mpsc::UnboundedSender<EngineEvent>,
    cancel: Arc<CancelFloor>,
) {
    let (mut session, info) = match RemoteSession::connect(&options) {
        Ok(connected) => connected,
        Err(error) => {
            let _ = events.send(EngineEvent::LoadFailed(error.into()));
            return;
        }
    };
    if events.send(EngineEvent::Ready(info)).is_err() {
        return;
    }
    super::serve(&mut session, commands, events, &cancel);
}
