//! What can go wrong talking to a server ([`RemoteError`]), and how HTTP answers and transport
//! failures become those errors.

use std::time::Duration;

use serde_json::Value;

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

/// Turns a transport error into words, walking its causes for the real reason.
pub(super) fn classify(error: &reqwest::Error, url: &str, read_timeout: Duration) -> RemoteError {
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
pub(super) fn error_message(body: &str) -> String {
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
pub(super) fn status_error(status: u16, message: &str, attempts: u32, model: Option<&str>) -> RemoteError {
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
