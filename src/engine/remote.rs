//! The remote backend: an OpenAI-compatible chat-completions server (llama.cpp's llama-server,
//! vLLM, Ollama, a hosted API) behind the same [`Backend`] trait and thread shape as llama.cpp.
//!
//! The engine thread owns a small tokio runtime (one worker, for the connections' tasks) and an
//! HTTP client. A turn is
//! one streamed `POST {base}/chat/completions`; the reply arrives as server-sent events. Between
//! chunks, and while waiting for one, the thread watches the cancel floor, so a cancel closes the
//! stream within a few milliseconds even when the server has stalled.
//!
//! The API key is read from the environment variable the options name, kept in a type whose
//! `Debug` hides it, sent only in the `Authorization` header, and cut out of any server message
//! before that message becomes an error. It is never logged, stored nor shown.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

use super::fit::{self, Fitted, Window};
use super::message::Message;
use super::reasoning::{ReasoningFormat, ReasoningParser, SegmentKind, TagFormat, ThinkTags};
use super::sse::{SseEvent, SseParser};
use super::{
    Backend, CancelFloor, Command, EngineError, EngineEvent, ModelInfo, Reasoning, SamplingParams, StopReason,
    TurnRequest, TurnSink, TurnStats,
};

/// The context budget when the server reports none and none is configured.
pub const DEFAULT_CTX: u32 = 8192;
/// The longest a Retry-After is honoured; a longer one fails the turn instead.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);
/// How often a waiting turn looks at the cancel floor.
const CANCEL_POLL: Duration = Duration::from_millis(20);
/// Server messages are cut to this many characters in errors.
const MAX_MESSAGE: usize = 400;

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
        }
    }

    /// What to call this engine before it is ready (history, status line): the model, else the URL.
    pub fn label(&self) -> String {
        self.model.clone().unwrap_or_else(|| self.base_url.clone())
    }
}

/// Everything that can go wrong talking to a server, in words a user can act on. No variant
/// ever holds the API key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RemoteError {
    #[error("invalid endpoint {url:?}: {reason}\n  Give the API's base URL, e.g. --endpoint http://127.0.0.1:8080/v1")]
    BadUrl { url: String, reason: String },
    #[error("cannot connect to {url}: connection refused.\n  Is the server running there? Start it (e.g. `llama-server -m MODEL.gguf --port 8080`) or fix --endpoint.")]
    Refused { url: String },
    #[error(
        "cannot find the server {url}: the host name does not resolve ({reason}).\n  Check the host in --endpoint."
    )]
    Dns { url: String, reason: String },
    #[error("cannot connect to {url}: {reason}\n  Check --endpoint and that the server is reachable from here.")]
    Connect { url: String, reason: String },
    #[error(
        "{url} sent nothing for {secs} s.\n  The server is overloaded or stuck; try again, or raise the read timeout (`read_timeout` in the config's [remote] section)."
    )]
    Timeout { url: String, secs: u64 },
    #[error(
        "{url} stopped sending mid-reply: nothing arrived for {secs} s; the answer above is incomplete.\n  The server is overloaded or stuck; try again, or raise the read timeout (`read_timeout` in the config's [remote] section)."
    )]
    StalledMidReply { url: String, secs: u64 },
    #[error("the environment variable {name} (named by --api-key-env) is not set.\n  Export the API key in it; ember reads it from there and never stores it.")]
    KeyMissing { name: String },
    #[error("the server refused the request ({status}): {message}\n  Check the API key: put it in an environment variable and name that with --api-key-env.")]
    Auth { status: u16, message: String },
    #[error("the server has no model {model:?}{}\n  List its models with `ember models --endpoint URL`; choose one with --model NAME.", available_list(.available, .detail))]
    UnknownModel { model: String, available: Vec<String>, detail: String },
    #[error("the server is rate limiting (429) and still was after {attempts} tries: {message}\n  Wait a while and try again.")]
    RateLimited { attempts: u32, message: String },
    #[error("the server failed ({status}) after {attempts} tries: {message}")]
    ServerFailed { status: u16, attempts: u32, message: String },
    #[error("the server rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("the server sent a malformed stream: {0}")]
    Malformed(String),
    #[error("the server reported an error: {0}")]
    ServerError(String),
    #[error("the server closed the connection mid-reply ({reason}); the answer above is incomplete.")]
    ClosedMidReply { reason: String },
    #[error("cannot start the HTTP client: {0}")]
    Client(String),
}

fn available_list(available: &[String], detail: &str) -> String {
    let mut out = String::new();
    if !detail.is_empty() {
        out.push_str(&format!(" ({detail})"));
    }
    if !available.is_empty() {
        out.push_str(&format!("; it has: {}", available.join(", ")));
    }
    out.push('.');
    out
}

/// The API key. Its `Debug` never shows it.
#[derive(Clone)]
struct ApiKey(String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<hidden>)")
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

/// An HTTP client bound to one server, with a runtime to drive it from plain threads.
struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    /// The API base, without a trailing slash: `http://host:8080/v1`.
    base: String,
    /// The server root (the base without `/v1`), where llama-server's own endpoints live.
    root: String,
    key: Option<ApiKey>,
    read_timeout: Duration,
}

impl Http {
    fn new(options: &RemoteOptions) -> Result<Http, RemoteError> {
        let base = options.base_url.trim().trim_end_matches('/').to_string();
        let parsed =
            reqwest::Url::parse(&base).map_err(|e| RemoteError::BadUrl { url: base.clone(), reason: e.to_string() })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(RemoteError::BadUrl { url: base, reason: "expected an http:// or https:// URL".into() });
        }
        let root = base.strip_suffix("/v1").unwrap_or(&base).to_string();
        let key = match &options.api_key_env {
            None => None,
            Some(name) => match std::env::var(name) {
                Ok(key) if !key.trim().is_empty() => Some(ApiKey(key.trim().to_string())),
                _ => return Err(RemoteError::KeyMissing { name: name.clone() }),
            },
        };
        // One worker thread runs the connections' own tasks at all times. With a current-thread
        // runtime they ran only inside `block_on`, so the connection of a cancelled reply stayed
        // open (and the server kept generating) until the next turn.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ember-http")
            .enable_all()
            .build()
            .map_err(|e| RemoteError::Client(e.to_string()))?;
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("ember/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RemoteError::Client(e.to_string()))?;
        Ok(Http { runtime, client, base, root, key, read_timeout: options.read_timeout })
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, url);
        match &self.key {
            Some(key) => request.bearer_auth(&key.0),
            None => request,
        }
    }

    /// A server message, shortened, with the key cut out should the server echo it.
    fn clean(&self, message: &str) -> String {
        let mut text = message.trim().to_string();
        if let Some(key) = &self.key {
            text = text.replace(&key.0, "<api key>");
        }
        if text.chars().count() > MAX_MESSAGE {
            text = text.chars().take(MAX_MESSAGE).collect::<String>() + "…";
        }
        text
    }

    /// GETs or POSTs JSON; `Ok(None)` when the server has no such endpoint (404/405/501).
    async fn json(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, RemoteError> {
        let mut request = self.request(method, url).timeout(self.read_timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| classify(&e, url, self.read_timeout))?;
        let status = response.status().as_u16();
        if matches!(status, 404 | 405 | 501) {
            return Ok(None);
        }
        let text = response.text().await.map_err(|e| classify(&e, url, self.read_timeout))?;
        if !(200..300).contains(&status) {
            return Err(status_error(status, &self.clean(&error_message(&text)), 1, None));
        }
        serde_json::from_str(&text).map(Some).map_err(|e| {
            RemoteError::Malformed(format!(
                "{url} answered with something that is not JSON ({e}): {}",
                self.clean(&text)
            ))
        })
    }

    async fn models(&self) -> Result<Option<Vec<RemoteModel>>, RemoteError> {
        let url = format!("{}/models", self.base);
        let Some(body) = self.json(reqwest::Method::GET, &url, None).await? else { return Ok(None) };
        Ok(Some(parse_models(&body)))
    }

    /// llama-server's `/props`: its context size per slot, if this is llama-server.
    async fn props_n_ctx(&self) -> Option<usize> {
        let url = format!("{}/props", self.root);
        let body = self.json(reqwest::Method::GET, &url, None).await.ok().flatten()?;
        body.pointer("/default_generation_settings/n_ctx").and_then(Value::as_u64).map(|n| n as usize)
    }
}

/// Turns a transport error into words, walking its causes for the real reason.
fn classify(error: &reqwest::Error, url: &str, read_timeout: Duration) -> RemoteError {
    let mut causes = Vec::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    let mut refused = false;
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        causes.push(e.to_string());
        source = e.source();
    }
    // reqwest's own message repeats the URL; the innermost cause is the useful one.
    let reason = causes.last().cloned().unwrap_or_default();
    let all = causes.join(": ").to_lowercase();
    let url = url.to_string();
    if error.is_timeout() {
        RemoteError::Timeout { url, secs: read_timeout.as_secs() }
    } else if refused || all.contains("connection refused") {
        RemoteError::Refused { url }
    } else if all.contains("dns error") || all.contains("failed to lookup") || all.contains("name or service not known")
    {
        RemoteError::Dns { url, reason }
    } else if error.is_connect() {
        RemoteError::Connect { url, reason }
    } else {
        RemoteError::ClosedMidReply { reason }
    }
}

/// The `message` of an OpenAI-style error body, else the body itself.
fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message")
            .or_else(|| v.get("error").filter(|e| e.is_string()))
            .or_else(|| v.get("message"))
            .or_else(|| v.get("detail"))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    match message {
        Some(m) => m,
        None if body.trim().is_empty() => "no details".into(),
        None => body.to_string(),
    }
}

/// The error for an HTTP status that is not success. `model` is the requested model, for 404s.
fn status_error(status: u16, message: &str, attempts: u32, model: Option<&str>) -> RemoteError {
    let message = message.to_string();
    match status {
        401 | 403 => RemoteError::Auth { status, message },
        404 if model.is_some() => RemoteError::UnknownModel {
            model: model.unwrap_or_default().to_string(),
            available: Vec::new(),
            detail: message,
        },
        429 => RemoteError::RateLimited { attempts, message },
        500..=599 => RemoteError::ServerFailed { status, attempts, message },
        _ => RemoteError::Rejected { status, message },
    }
}

/// The models of a `/v1/models` answer (`{"data": [...]}`, or Ollama-style `{"models": [...]}`).
fn parse_models(body: &Value) -> Vec<RemoteModel> {
    let list = body.get("data").or_else(|| body.get("models")).and_then(Value::as_array);
    let number = |v: &Value, pointer: &str| v.pointer(pointer).and_then(Value::as_u64).map(|n| n as usize);
    list.into_iter()
        .flatten()
        .filter_map(|m| {
            let id = m.get("id").or_else(|| m.get("name")).or_else(|| m.get("model")).and_then(Value::as_str)?;
            Some(RemoteModel {
                id: id.to_string(),
                n_ctx: number(m, "/max_model_len").or_else(|| number(m, "/context_length")),
                n_ctx_train: number(m, "/meta/n_ctx_train"),
                owned_by: m.get("owned_by").and_then(Value::as_str).map(str::to_string),
            })
        })
        .collect()
}

/// Lists the server's models (`ember models --endpoint URL`). Call it from a plain thread, not
/// from inside an async runtime: it drives its own.
pub fn list_models(options: &RemoteOptions) -> Result<Vec<RemoteModel>, RemoteError> {
    let http = Http::new(options)?;
    let (models, props_n_ctx) = http.runtime.block_on(async { (http.models().await, http.props_n_ctx().await) });
    let mut models = models?.ok_or_else(|| RemoteError::Rejected {
        status: 404,
        message: format!("{}/models does not exist: is {} an OpenAI-compatible API base?", http.base, http.base),
    })?;
    // llama-server serving one model reports its context size in /props, not in the list.
    if let ([only], Some(n)) = (models.as_mut_slice(), props_n_ctx) {
        only.n_ctx = only.n_ctx.or(Some(n));
    }
    Ok(models)
}

/// How the backend counts prompt tokens, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counting {
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
}

/// What one streamed reply brought.
#[derive(Debug, Default)]
struct Streamed {
    stop: Option<StopReason>,
    finish_reason: Option<String>,
    usage: Option<Value>,
    timings: Option<Value>,
    /// The first chunk of reasoning or answer.
    first_token: Option<Instant>,
    /// The first chunk of reasoning, and of the answer.
    first_reasoning: Option<Instant>,
    first_answer: Option<Instant>,
    /// Chunks with text (reasoning or answer): a rough count of tokens when the server gives none.
    chunks: usize,
    /// Of those, chunks the server sent as reasoning (`reasoning_content`).
    reasoning_chunks: usize,
    /// Splits `<think>` blocks out of `content` when the server leaves them there (llama-server
    /// with `--reasoning-format none`, vLLM without a reasoning parser). Made at the first content.
    tags: Option<ReasoningParser>,
}

impl Streamed {
    /// Chunks of reasoning: those the server marked, and content chunks the tags made reasoning.
    fn reasoning_chunks(&self) -> usize {
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
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64)
}

impl RemoteSession {
    /// Reaches the server, chooses the model and learns the context size.
    pub fn connect(options: &RemoteOptions) -> Result<(RemoteSession, ModelInfo), RemoteError> {
        let http = Http::new(options)?;
        let (models, props_n_ctx) = http.runtime.block_on(async {
            let models = http.models().await?;
            Ok::<_, RemoteError>((models, http.props_n_ctx().await))
        })?;
        let models = models.unwrap_or_default();
        let model = match (&options.model, models.first()) {
            (Some(name), _) if models.is_empty() => name.clone(),
            (Some(name), _) if models.iter().any(|m| m.answers_to(name)) => {
                models.iter().find(|m| m.answers_to(name)).map_or_else(|| name.clone(), |m| m.id.clone())
            }
            (Some(name), _) => {
                return Err(RemoteError::UnknownModel {
                    model: name.clone(),
                    available: models.iter().map(|m| short_name(&m.id)).collect(),
                    detail: String::new(),
                })
            }
            (None, Some(first)) => first.id.clone(),
            (None, None) => {
                return Err(RemoteError::Rejected {
                    status: 200,
                    message: "the server lists no models; name one with --model NAME".into(),
                })
            }
        };
        let listed = models.iter().find(|m| m.id == model);
        let reported = props_n_ctx.or_else(|| listed.and_then(|m| m.n_ctx));
        let n_ctx = reported.unwrap_or(options.ctx_size.unwrap_or(DEFAULT_CTX) as usize).max(16);
        if reported.is_none() {
            tracing::info!(n_ctx, "the server reports no context size; budgeting with the configured one");
        }
        let n_ctx_train = listed.and_then(|m| m.n_ctx_train).unwrap_or(n_ctx);
        let others: Vec<String> = models.iter().map(|m| short_name(&m.id)).collect();
        let info = ModelInfo {
            path: PathBuf::from(&http.base),
            name: short_name(&model),
            n_ctx,
            n_ctx_train,
            threads: 0,
            gpu_layers: 0,
            prompt_format: if others.is_empty() {
                "the server's chat template".into()
            } else {
                format!("the server's chat template; server models: {}", others.join(", "))
            },
            devices: vec![format!("remote {}", http.base)],
            notice: None,
            reasoning_format: "the server's".into(),
            // Only llama-server is sent the setting (chat_template_kwargs).
            reasoning_switch: props_n_ctx.is_some(),
        };
        tracing::info!(base = %http.base, model = %model, n_ctx, llama_server = props_n_ctx.is_some(), "remote server ready");
        let session = RemoteSession {
            http,
            model,
            n_ctx,
            llama_server: props_n_ctx.is_some(),
            counting: if props_n_ctx.is_some() { Counting::ChatInputTokens } else { Counting::Estimate },
            counts: HashMap::new(),
            max_retries: options.max_retries,
        };
        Ok((session, info))
    }

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

    /// Prompt tokens of `messages`, counted as well as the server allows.
    fn count(&mut self, messages: &[Message]) -> usize {
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

    fn count_text(&mut self, text: &str) -> usize {
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

    /// Leaves out the oldest turns (never the system prompt nor the question) until the
    /// conversation fits with room for a reply, as the local engine does (see [`fit::fit`]).
    fn fit<'a>(&mut self, messages: &'a [Message], max_tokens: usize) -> Result<Fitted<'a, ()>, EngineError> {
        let window =
            Window { n_ctx: self.n_ctx, room: fit::reply_room(max_tokens, self.n_ctx), n_ctx_train: self.n_ctx };
        fit::fit(messages, window, |messages| Ok(((), self.count(messages))))
    }

    /// Streams one reply into `sink`. Retries 429/5xx answers (before any text, by nature).
    async fn stream(&self, body: &Value, sink: &mut dyn TurnSink) -> Result<Streamed, RemoteError> {
        let url = format!("{}/chat/completions", self.http.base);
        let limit = self.http.read_timeout;
        let mut attempt = 0;
        let response = loop {
            attempt += 1;
            let send = self.http.request(reqwest::Method::POST, &url).json(body).send();
            let response = match watch(send, &*sink, limit).await {
                Next::Item(result) => result.map_err(|e| classify(&e, &url, limit))?,
                Next::Cancelled => return Ok(Streamed { stop: Some(StopReason::Cancelled), ..Streamed::default() }),
                Next::TimedOut => return Err(RemoteError::Timeout { url, secs: limit.as_secs() }),
            };
            let status = response.status().as_u16();
            if (200..300).contains(&status) {
                break response;
            }
            let wait = retry_after(response.headers());
            let text = match watch(response.text(), &*sink, limit).await {
                Next::Item(text) => text.unwrap_or_default(),
                Next::Cancelled => return Ok(Streamed { stop: Some(StopReason::Cancelled), ..Streamed::default() }),
                Next::TimedOut => String::new(),
            };
            let message = self.http.clean(&error_message(&text));
            let retryable = status == 429 || (500..=599).contains(&status);
            let wait = wait.unwrap_or(Duration::from_millis(500 << attempt.min(6)));
            if !retryable || attempt > self.max_retries || wait > MAX_RETRY_WAIT {
                return Err(status_error(status, &message, attempt, Some(&self.model)));
            }
            tracing::warn!(status, attempt, wait_ms = wait.as_millis() as u64, %message, "retrying the request");
            if let Next::Cancelled = watch(tokio::time::sleep(wait), &*sink, wait + limit).await {
                return Ok(Streamed { stop: Some(StopReason::Cancelled), ..Streamed::default() });
            }
        };
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
                    // Nothing yet (a long prompt fill behind headers sent at once, as vLLM does)
                    // is a plain timeout; a stall after some of the reply is a stall mid-reply.
                    let secs = limit.as_secs();
                    return Err(if out.first_answer.is_some() || out.first_reasoning.is_some() {
                        RemoteError::StalledMidReply { url, secs }
                    } else {
                        RemoteError::Timeout { url, secs }
                    });
                }
                Next::Item(chunk) => chunk,
            };
            match chunk {
                Some(Ok(data)) => parser.push(&data, &mut events),
                Some(Err(e)) => {
                    let _ = out.finish(sink);
                    return Err(RemoteError::ClosedMidReply { reason: classify(&e, &url, limit).to_string() });
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
        body["min_p"] = json!(decimal(sampling.min_p));
        body["repeat_penalty"] = json!(decimal(sampling.repeat_penalty));
        // The figures ember shows next to its own.
        body["timings_per_token"] = json!(false);
    }
    add_reasoning(&mut body, sampling.reasoning, llama_server);
    body
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

fn number(v: Option<&Value>, key: &str) -> Option<f64> {
    v.and_then(|v| v.get(key)).and_then(Value::as_f64)
}

/// Turns what the server reported into ember's figures.
fn stats_from(streamed: &Streamed, started: Instant, estimated_prompt: usize, dropped: usize) -> TurnStats {
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
        evaluated_tokens: prompt_n.unwrap_or(prompt_tokens),
        generated_tokens,
        time_to_first_token: ttft,
        prompt_time: ms(number(timings, "prompt_ms")).unwrap_or(ttft),
        generation_time: streamed.first_token.map(|t| t.elapsed()).unwrap_or_default(),
        llama_eval: predicted.filter(|(n, d)| *n > 0 && !d.is_zero()),
        summarized: false,
        reasoning_tokens,
        reasoning_time,
    }
}

impl Backend for RemoteSession {
    fn generate(&mut self, req: &TurnRequest, sink: &mut dyn TurnSink) -> Result<(TurnStats, StopReason), EngineError> {
        let started = Instant::now();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Role;

    #[test]
    fn error_bodies_give_their_message() {
        assert_eq!(error_message(r#"{"error":{"message":"model not found","type":"x"}}"#), "model not found");
        assert_eq!(error_message(r#"{"error":"bad"}"#), "bad");
        assert_eq!(error_message(r#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(error_message("plain text"), "plain text");
        assert_eq!(error_message(""), "no details");
    }

    #[test]
    fn statuses_map_to_errors() {
        assert!(matches!(status_error(401, "m", 1, None), RemoteError::Auth { status: 401, .. }));
        assert!(matches!(status_error(403, "m", 1, None), RemoteError::Auth { status: 403, .. }));
        assert!(matches!(status_error(404, "m", 1, Some("x")), RemoteError::UnknownModel { .. }));
        assert!(matches!(status_error(429, "m", 4, None), RemoteError::RateLimited { attempts: 4, .. }));
        assert!(matches!(status_error(503, "m", 4, None), RemoteError::ServerFailed { status: 503, .. }));
        assert!(matches!(status_error(400, "m", 1, None), RemoteError::Rejected { status: 400, .. }));
    }

    #[test]
    fn models_from_openai_vllm_llama_server_and_ollama_shapes() {
        let body = json!({"object":"list","data":[
            {"id":"a","owned_by":"me","max_model_len":4096},
            {"id":"b","meta":{"n_ctx_train":2048}}]});
        let models = parse_models(&body);
        assert_eq!(models.len(), 2);
        assert_eq!(models[0].n_ctx, Some(4096));
        assert_eq!(models[0].owned_by.as_deref(), Some("me"));
        assert_eq!(models[1].n_ctx_train, Some(2048));
        assert_eq!(parse_models(&json!({"models":[{"name":"llama3:8b"}]}))[0].id, "llama3:8b");
        assert!(parse_models(&json!({"unexpected":true})).is_empty());
    }

    #[test]
    fn the_key_never_shows() {
        let key = ApiKey("sk-secret".into());
        assert!(!format!("{key:?}").contains("secret"));
        std::env::set_var("EMBER_TEST_KEY_NEVER_SHOWS", "sk-secret");
        let mut options = RemoteOptions::new("http://127.0.0.1:9/v1");
        options.api_key_env = Some("EMBER_TEST_KEY_NEVER_SHOWS".into());
        let http = Http::new(&options).unwrap();
        assert_eq!(http.clean("bad key sk-secret given"), "bad key <api key> given");
        assert!(!format!("{:?}", http.key).contains("secret"));
        options.api_key_env = Some("EMBER_TEST_KEY_UNSET_XYZ".into());
        let err = Http::new(&options).err().unwrap();
        assert!(err.to_string().contains("EMBER_TEST_KEY_UNSET_XYZ"));
    }

    #[test]
    fn bad_urls_are_refused_early() {
        assert!(matches!(Http::new(&RemoteOptions::new("127.0.0.1:8080")).err(), Some(RemoteError::BadUrl { .. })));
        assert!(matches!(Http::new(&RemoteOptions::new("ftp://host/v1")).err(), Some(RemoteError::BadUrl { .. })));
        let http = Http::new(&RemoteOptions::new("http://h:1/v1/")).unwrap();
        assert_eq!((http.base.as_str(), http.root.as_str()), ("http://h:1/v1", "http://h:1"));
    }

    #[test]
    fn request_bodies_are_standard_unless_llama_server() {
        let messages = [Message::new(Role::System, "s"), Message::new(Role::User, "hi")];
        let sampling = SamplingParams::default();
        let body = request_body("m", &messages, &sampling, false);
        assert_eq!(body["messages"][1], json!({"role":"user","content":"hi"}));
        assert_eq!(body["stream"], json!(true));
        assert_eq!(body["temperature"], json!(0.7), "no f32 noise on the wire");
        assert!(body.get("top_k").is_none());
        assert!(request_body("m", &messages, &sampling, true).get("top_k").is_some());
    }

    #[test]
    fn stats_prefer_what_the_server_reports() {
        let started = Instant::now();
        let streamed = Streamed {
            usage: Some(json!({"prompt_tokens": 30, "completion_tokens": 12})),
            timings: Some(
                json!({"cache_n": 10, "prompt_n": 20, "prompt_ms": 40.0, "predicted_n": 12, "predicted_ms": 120.0}),
            ),
            first_token: Some(started),
            chunks: 11,
            ..Streamed::default()
        };
        let stats = stats_from(&streamed, started, 99, 1);
        assert_eq!((stats.prompt_tokens, stats.reused_tokens, stats.evaluated_tokens), (30, 10, 20));
        assert_eq!(stats.generated_tokens, 12);
        assert_eq!(stats.llama_eval, Some((12, Duration::from_millis(120))));
        assert_eq!(stats.dropped_messages, 1);
        let bare = stats_from(&Streamed { chunks: 5, ..Streamed::default() }, started, 42, 0);
        assert_eq!((bare.prompt_tokens, bare.generated_tokens, bare.llama_eval), (42, 5, None));
    }

    #[test]
    fn retry_after_in_seconds() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(reqwest::header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    /// A canned-answer HTTP server for the paths a real server cannot be made to take on demand
    /// (429/503 with Retry-After, a malformed stream, a stall). The real-server tests are in
    /// tests/remote.rs. Each connection gets the next answer; the pause is before closing.
    fn fake_server(answers: Vec<(&'static str, Duration)>) -> (String, std::thread::JoinHandle<usize>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        let thread = std::thread::spawn(move || {
            let mut served = 0;
            for (answer, pause) in answers {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Headers, then the body its Content-Length announces.
                while let Ok(n) = stream.read(&mut buf) {
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                let _ = stream.write_all(answer.as_bytes());
                let _ = stream.flush();
                std::thread::sleep(pause);
                served += 1;
            }
            served
        });
        (base, thread)
    }

    /// Collects text and reasoning apart; cancels itself once it has `cancel_after` pieces of text.
    struct TestSink {
        text: String,
        reasoning: String,
        pieces: usize,
        cancel_after: usize,
    }

    impl TurnSink for TestSink {
        fn text(&mut self, text: &str) -> std::ops::ControlFlow<()> {
            self.text.push_str(text);
            self.pieces += 1;
            std::ops::ControlFlow::Continue(())
        }
        fn reasoning(&mut self, text: &str) -> std::ops::ControlFlow<()> {
            self.reasoning.push_str(text);
            std::ops::ControlFlow::Continue(())
        }
        fn cancelled(&self) -> bool {
            self.pieces >= self.cancel_after
        }
    }

    fn session(base: &str) -> RemoteSession {
        RemoteSession {
            http: Http::new(&RemoteOptions::new(base)).unwrap(),
            model: "m".into(),
            n_ctx: 2048,
            llama_server: false,
            counting: Counting::Estimate,
            counts: HashMap::new(),
            max_retries: 2,
        }
    }

    fn ask(base: &str, cancel_after: usize) -> (Result<(TurnStats, StopReason), EngineError>, TestSink) {
        let mut sink = TestSink { text: String::new(), reasoning: String::new(), pieces: 0, cancel_after };
        let req = TurnRequest {
            turn: 1,
            messages: vec![Message::new(Role::User, "hi")],
            sampling: SamplingParams::default(),
        };
        (session(base).generate(&req, &mut sink), sink)
    }

    const SSE_OK: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n\
        data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n\
        data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}}\n\n\
        data: [DONE]\n\n";

    #[test]
    fn rate_limits_and_server_errors_are_retried_honouring_retry_after() {
        let limited = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 28\r\nConnection: close\r\n\r\n{\"error\":{\"message\":\"slow\"}}";
        let failed =
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let (base, server) =
            fake_server(vec![(limited, Duration::ZERO), (failed, Duration::ZERO), (SSE_OK, Duration::ZERO)]);
        let started = Instant::now();
        let (result, sink) = ask(&base, usize::MAX);
        let (stats, stop) = result.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was not honoured");
        assert_eq!((sink.text.as_str(), stop), ("Hello", StopReason::EndOfText));
        assert_eq!((stats.prompt_tokens, stats.generated_tokens), (9, 2));
        assert_eq!(server.join().unwrap(), 3);

        let (base, server) = fake_server(vec![(failed, Duration::ZERO); 3]);
        let (result, _) = ask(&base, usize::MAX);
        let error = result.unwrap_err().to_string();
        assert!(error.contains("failed (503) after 3 tries"), "{error}");
        assert_eq!(server.join().unwrap(), 3, "bounded: the first try and max_retries more");
    }

    #[test]
    fn a_malformed_stream_is_an_error() {
        let bad = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\ndata: {not json\n\n";
        let (base, _server) = fake_server(vec![(bad, Duration::ZERO)]);
        let error = ask(&base, usize::MAX).0.unwrap_err().to_string();
        assert!(error.contains("malformed stream") && error.contains("{not json"), "{error}");
    }

    #[test]
    fn a_stream_cut_mid_reply_keeps_the_text_and_fails() {
        let cut = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n\
            data: {\"choices\":[{\"delta\":{\"content\":\"partial\"}}]}\n\n";
        let (base, _server) = fake_server(vec![(cut, Duration::ZERO)]);
        let (result, sink) = ask(&base, usize::MAX);
        assert_eq!(sink.text, "partial");
        assert!(result.unwrap_err().to_string().contains("closed the connection mid-reply"));
    }

    #[test]
    fn cancel_does_not_wait_for_a_stalled_server() {
        let stall = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n\
            data: {\"choices\":[{\"delta\":{\"content\":\"one\"}}]}\n\n";
        let (base, _server) = fake_server(vec![(stall, Duration::from_secs(5))]);
        let started = Instant::now();
        let (result, sink) = ask(&base, 1);
        assert_eq!(result.unwrap().1, StopReason::Cancelled);
        assert_eq!(sink.text, "one");
        assert!(started.elapsed() < Duration::from_secs(2), "cancel waited {:?}", started.elapsed());
    }

    /// An SSE answer of `deltas` (each a `delta` object), then a stop and `[DONE]`.
    fn sse_answer(deltas: &[Value]) -> &'static str {
        let mut answer =
            String::from("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n");
        for delta in deltas {
            answer.push_str(&format!("data: {}\n\n", json!({"choices": [{"delta": delta}]})));
        }
        answer.push_str("data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
        Box::leak(answer.into_boxed_str())
    }

    #[test]
    fn reasoning_content_is_reasoning_and_never_answer() {
        // llama-server (--reasoning-format deepseek) and vLLM's older field, then vLLM's newer one.
        let answer = sse_answer(&[
            json!({"role": "assistant", "content": null}),
            json!({"reasoning_content": "Two and two"}),
            json!({"reasoning": " make four."}),
            json!({"content": "The answer"}),
            json!({"content": " is 4."}),
        ]);
        let (base, _server) = fake_server(vec![(answer, Duration::ZERO)]);
        let (result, sink) = ask(&base, usize::MAX);
        let (stats, stop) = result.unwrap();
        assert_eq!((sink.reasoning.as_str(), sink.text.as_str()), ("Two and two make four.", "The answer is 4."));
        assert_eq!(stop, StopReason::EndOfText);
        assert_eq!((stats.generated_tokens, stats.reasoning_tokens), (4, 2), "chunks, roughly");
    }

    #[test]
    fn think_tags_left_in_the_content_are_reasoning() {
        // llama-server with --reasoning-format none: the tags in the content, split across chunks
        // as the tokenizer split them.
        let answer = sse_answer(&[
            json!({"content": "<think>\nTwo"}),
            json!({"content": " and two.\n<"}),
            json!({"content": "/"}),
            json!({"content": "think"}),
            json!({"content": ">\n\nThe answer"}),
            json!({"content": " is 4."}),
        ]);
        let (base, _server) = fake_server(vec![(answer, Duration::ZERO)]);
        let (result, sink) = ask(&base, usize::MAX);
        let (stats, _) = result.unwrap();
        assert_eq!(sink.text, "The answer is 4.");
        assert_eq!(sink.reasoning.trim_end(), "Two and two.");
        assert!(stats.reasoning_tokens >= 4 && stats.reasoning_tokens < stats.generated_tokens, "{stats:?}");

        // An answer that only mentions the tag later is all answer.
        let answer = sse_answer(&[json!({"content": "Use "}), json!({"content": "<think> tags."})]);
        let (base, _server) = fake_server(vec![(answer, Duration::ZERO)]);
        let (result, sink) = ask(&base, usize::MAX);
        assert_eq!((sink.text.as_str(), sink.reasoning.as_str()), ("Use <think> tags.", ""));
        assert_eq!(result.unwrap().0.reasoning_tokens, 0);

        // A stream that ends on what could have been the start of a tag keeps that text.
        let answer = sse_answer(&[json!({"content": "<thi"})]);
        let (base, _server) = fake_server(vec![(answer, Duration::ZERO)]);
        assert_eq!(ask(&base, usize::MAX).1.text, "<thi");
    }

    #[test]
    fn the_reasoning_setting_reaches_the_chat_template_and_auto_sends_nothing() {
        let messages = [Message::new(Role::User, "hi")];
        let with = |reasoning: Reasoning| {
            request_body("m", &messages, &SamplingParams { reasoning, ..SamplingParams::default() }, true)
        };
        let auto = with(Reasoning::Auto);
        assert!(auto.get("chat_template_kwargs").is_none() && auto.get("reasoning_effort").is_none(), "{auto}");
        let off = with(Reasoning::Off);
        assert_eq!(off["chat_template_kwargs"]["enable_thinking"], json!(false), "{off}");
        assert!(off.get("reasoning_effort").is_none(), "{off}");
        let on = with(Reasoning::On);
        assert_eq!(on["chat_template_kwargs"]["enable_thinking"], json!(true), "{on}");
        assert!(on.get("reasoning_effort").is_none(), "{on}");
        for (setting, effort) in [(Reasoning::Low, "low"), (Reasoning::Medium, "medium"), (Reasoning::High, "high")] {
            let body = with(setting);
            assert_eq!(body["chat_template_kwargs"]["enable_thinking"], json!(true), "{body}");
            assert_eq!(body["chat_template_kwargs"]["reasoning_effort"], json!(effort), "{body}");
            assert_eq!(body["reasoning_effort"], json!(effort), "{body}");
        }
        // Earlier reasoning goes to llama-server's template, not to other servers.
        let convo = [
            Message::new(Role::User, "q"),
            Message::new(Role::Assistant, "a").with_reasoning(Some("because".into())),
            Message::new(Role::User, "q2"),
        ];
        let to = |llama_server| request_body("m", &convo, &SamplingParams::default(), llama_server);
        assert_eq!(to(true)["messages"][1]["reasoning_content"], json!("because"));
        assert!(to(false)["messages"][1].get("reasoning_content").is_none());
        // Other servers (hosted APIs refuse unknown fields): only an explicit effort.
        let other = |reasoning: Reasoning| {
            request_body("m", &messages, &SamplingParams { reasoning, ..SamplingParams::default() }, false)
        };
        let off = other(Reasoning::Off);
        assert!(off.get("chat_template_kwargs").is_none() && off.get("reasoning_effort").is_none(), "{off}");
        let high = other(Reasoning::High);
        assert!(high.get("chat_template_kwargs").is_none(), "{high}");
        assert_eq!(high["reasoning_effort"], json!("high"), "{high}");
    }

    #[test]
    fn gguf_paths_are_shortened_and_answer_to_both_names() {
        assert_eq!(short_name("/m/SmolLM2-135M-Instruct.Q4_1.gguf"), "SmolLM2-135M-Instruct.Q4_1");
        assert_eq!(short_name("Qwen/Qwen2.5-1.5B-Instruct"), "Qwen/Qwen2.5-1.5B-Instruct");
        let m = RemoteModel { id: "/m/a.gguf".into(), n_ctx: None, n_ctx_train: None, owned_by: None };
        assert!(m.answers_to("a") && m.answers_to("/m/a.gguf") && !m.answers_to("b"));
    }

    #[test]
    fn estimates_round_up() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcde"), 2);
    }
}
