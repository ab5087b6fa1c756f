//! Reaching the server: the HTTP client bound to it (the API key kept in its header only),
//! connecting a session (model, context size, llama-server or not), and listing its models.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::error::{classify, error_message, status_error};
use super::tokens::Counting;
use super::{short_name, RemoteError, RemoteModel, RemoteOptions, RemoteSession, DEFAULT_CTX};
use crate::engine::ModelInfo;

/// Server messages are cut to this many characters in errors.
const MAX_MESSAGE: usize = 400;

/// The API key. Its `Debug` never shows it.
#[derive(Clone)]
pub(super) struct ApiKey(pub(super) String);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<hidden>)")
    }
}

/// An HTTP client bound to one server, with a runtime to drive it from plain threads.
pub(super) struct Http {
    pub(super) runtime: tokio::runtime::Runtime,
    pub(super) client: reqwest::Client,
    /// The API base, without a trailing slash: `http://host:8080/v1`.
    pub(super) base: String,
    /// The server root (the base without `/v1`), where llama-server's own endpoints live.
    pub(super) root: String,
    pub(super) key: Option<ApiKey>,
    pub(super) read_timeout: Duration,
}

impl Http {
    pub(super) fn new(options: &RemoteOptions) -> Result<Http, RemoteError> {
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

    pub(super) fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, url);
        match &self.key {
            Some(key) => request.bearer_auth(&key.0),
            None => request,
        }
    }

    /// A server message, shortened, with the key cut out should the server echo it.
    pub(super) fn clean(&self, message: &str) -> String {
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
    pub(super) async fn json(
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

    pub(super) async fn models(&self) -> Result<Option<Vec<RemoteModel>>, RemoteError> {
        let url = format!("{}/models", self.base);
        let Some(body) = self.json(reqwest::Method::GET, &url, None).await? else { return Ok(None) };
        Ok(Some(parse_models(&body)))
    }

    /// llama-server's `/props`: its context size per slot, if this is llama-server.
    pub(super) async fn props_n_ctx(&self) -> Option<usize> {
        let url = format!("{}/props", self.root);
        let body = self.json(reqwest::Method::GET, &url, None).await.ok().flatten()?;
        body.pointer("/default_generation_settings/n_ctx").and_then(Value::as_u64).map(|n| n as usize)
    }
}

/// The models of a `/v1/models` answer (`{"data": [...]}`, or Ollama-style `{"models": [...]}`).
pub(super) fn parse_models(body: &Value) -> Vec<RemoteModel> {
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

/// The model of the server's list that `name` chooses: its id or short name, else the one model
/// whose short name holds `name` (any case), as `--model` finds a local file by a part of its name.
pub(super) fn pick_model(models: &[RemoteModel], name: &str) -> Result<String, RemoteError> {
    if let Some(m) = models.iter().find(|m| m.answers_to(name)) {
        return Ok(m.id.clone());
    }
    let part = name.to_lowercase();
    let hits: Vec<&RemoteModel> = models.iter().filter(|m| short_name(&m.id).to_lowercase().contains(&part)).collect();
    match hits.as_slice() {
        [one] => Ok(one.id.clone()),
        _ => Err(RemoteError::UnknownModel {
            model: name.to_string(),
            available: models.iter().map(|m| short_name(&m.id)).collect(),
            detail: if hits.is_empty() {
                String::new()
            } else {
                format!("{} match; give more of the name", hits.len())
            },
        }),
    }
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
            (Some(name), _) => pick_model(&models, name)?,
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
            drop_point: crate::engine::fit::DropPoint::new(options.drop_to),
        };
        Ok((session, info))
    }
}
