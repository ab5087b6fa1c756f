//! What a conversation starts from, read off the command line and the config: which engine
//! answers (a local model or a server), the sampling settings, the system prompt, and the saved
//! conversation to continue. Pipe mode and the TUI both start here.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc::UnboundedReceiver;

use super::{say, AppError};
use crate::cli::Cli;
use crate::config::file::ContextPolicy;
use crate::config::{Effective, Paths};
use crate::engine::llama::{EngineOptions, TemplateChoice};
use crate::engine::remote::RemoteOptions;
use crate::engine::{EngineEvent, EngineHandle, SamplingParams};
use crate::store::{Conversation, Store};

/// The system prompt for `--code` when none is given: small models need to be told.
const CODE_SYSTEM: &str =
    "You write code. Answer with one fenced code block containing the complete code, and nothing else.";

/// Which engine answers: llama.cpp with a local model, or a server when `remote` is set (then
/// no local model is loaded and `local.model_path` is only the server model's name, if given).
#[derive(Debug, Clone)]
pub struct EngineChoice {
    pub local: EngineOptions,
    pub remote: Option<RemoteOptions>,
    /// ember's models folder, where `/model NAME` looks first (as `--model` does).
    pub models_dir: PathBuf,
}

/// What `/model` or `/ctx` changes in the engine in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineChange {
    /// Another model: a local file resolved by [`EngineChoice::resolve_model`], or a server's
    /// model name.
    Model(PathBuf),
    /// Another context size, in tokens.
    Ctx(u32),
}

impl EngineChoice {
    /// The engine the command line and config ask for.
    pub fn from_config(cli: &Cli, effective: &Effective, paths: &Paths) -> Result<Self, AppError> {
        let remote = remote_options(cli, effective);
        let local = engine_options(cli, effective, paths, remote.is_some())?;
        Ok(EngineChoice { local, remote, models_dir: paths.models_dir.clone() })
    }

    /// Starts the chosen engine's thread.
    pub fn spawn(&self) -> (EngineHandle, UnboundedReceiver<EngineEvent>) {
        match &self.remote {
            Some(remote) => EngineHandle::spawn_remote(remote.clone()),
            None => EngineHandle::spawn_llama(self.local.clone()),
        }
    }

    /// The model's name for history: the server's model, or the local file's name.
    pub fn label(&self) -> String {
        self.remote.as_ref().map_or_else(|| crate::models::display_name(&self.local.model_path), RemoteOptions::label)
    }

    /// What the status bar shows: the server's model, or the local file.
    pub fn shown_model(&self) -> PathBuf {
        self.remote.as_ref().map_or_else(|| self.local.model_path.clone(), |r| PathBuf::from(r.label()))
    }

    /// The model saved contexts belong to.
    pub fn model_path(&self) -> &Path {
        &self.local.model_path
    }

    /// What `/model NAME` names, found as `--model NAME` is: a path, a file in the models
    /// folder, or a fragment of a model's name found on this machine. A server's model name is
    /// kept as it is: the server's list decides when the engine connects. Reads the file system.
    pub fn resolve_model(&self, name: &str) -> Result<PathBuf, String> {
        if self.remote.is_some() {
            return Ok(PathBuf::from(name));
        }
        let roots = crate::models::discover::Roots::from_env(&self.models_dir);
        crate::models::resolve_in(name, &roots).map_err(|e| match e {
            crate::models::ResolveError::NotFound { name, .. } => {
                let found: Vec<String> = crate::models::discover::find(&roots).into_iter().map(|f| f.name).collect();
                match found.as_slice() {
                    [] => format!("no model matches \"{name}\", and none was found on this machine; /model PATH loads a GGUF file"),
                    _ => format!("no model matches \"{name}\"; the models found: {}", found.join(", ")),
                }
            }
            crate::models::ResolveError::Ambiguous { name, candidates } => format!(
                "\"{name}\" matches {} models; give more of the name: {}",
                candidates.len(),
                candidates.iter().filter_map(|c| c.split("  ").next()).collect::<Vec<_>>().join(", ")
            ),
        })
    }

    /// This choice with `change` applied. A server sets its own context size, so `/ctx` is
    /// refused for one.
    pub fn changed(&self, change: &EngineChange) -> Result<EngineChoice, String> {
        let mut next = self.clone();
        match (change, next.remote.as_mut()) {
            (EngineChange::Model(model), Some(remote)) => remote.model = Some(model.to_string_lossy().into_owned()),
            (EngineChange::Model(model), None) => next.local.model_path = model.clone(),
            (EngineChange::Ctx(_), Some(_)) => {
                return Err("the server sets the context size; it cannot be changed from here".into())
            }
            (EngineChange::Ctx(n), None) => next.local.n_ctx = Some(*n),
        }
        Ok(next)
    }
}

/// The server to use: `--endpoint` (or `EMBER_ENDPOINT`), else the config's `[remote]` section;
/// flags override the file's values.
pub fn remote_options(cli: &Cli, effective: &Effective) -> Option<RemoteOptions> {
    let file = &effective.remote;
    let base = cli.endpoint.as_deref().or(file.endpoint.as_deref()).map(str::trim).filter(|e| !e.is_empty())?;
    let mut options = RemoteOptions::new(base);
    options.model = cli.model.clone().or_else(|| file.model.clone());
    options.api_key_env = cli.api_key_env.clone().or_else(|| file.api_key_env.clone());
    options.ctx_size = cli.ctx.or(file.ctx);
    options.drop_to = effective.context_drop_to;
    if let Some(secs) = file.connect_timeout {
        options.connect_timeout = std::time::Duration::from_secs(secs.max(1));
    }
    if let Some(secs) = file.read_timeout {
        options.read_timeout = std::time::Duration::from_secs(secs.max(1));
    }
    Some(options)
}

/// The local engine's options. With a server (`remote`), `--model` names the server's model and
/// no local file is looked for.
pub fn engine_options(
    cli: &Cli,
    effective: &Effective,
    paths: &Paths,
    remote: bool,
) -> Result<EngineOptions, AppError> {
    let path = if remote {
        PathBuf::from(effective.model.clone().unwrap_or_default())
    } else {
        crate::models::resolve(effective.model.as_deref(), &paths.models_dir)?
    };
    let mut options = EngineOptions::new(path);
    options.n_ctx = effective.ctx;
    options.threads = effective.threads.map(usize::from);
    options.gpu_layers = effective.gpu_layers;
    options.flash_attention = effective.flash_attention;
    options.summarize_dropped = effective.context_policy == ContextPolicy::Summarize;
    options.drop_to = effective.context_drop_to;
    options.context_shift = effective.context_shift;
    options.mmap = effective.mmap;
    options.template = match (&cli.template, &cli.template_file) {
        (Some(name), _) => TemplateChoice::Builtin(name.clone()),
        (None, Some(path)) => TemplateChoice::File(path.clone()),
        (None, None) => TemplateChoice::Model,
    };
    Ok(options)
}

/// The run's sampling settings; with no seed set anywhere, a different one each run, as users
/// expect from sampling (a set seed, or temperature 0, gives the same answer every time).
pub fn sampling(effective: &Effective) -> SamplingParams {
    let mut params = effective.sampling.clone();
    if effective.seed.is_none() {
        if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            params.seed = d.subsec_nanos() ^ d.as_secs() as u32;
        }
    }
    params
}

/// The system prompt: --system, an explicitly chosen role, a continued conversation's own,
/// --code's, then the configured or default role.
pub fn system_prompt(
    cli: &Cli,
    effective: &Effective,
    resumed: Option<&Conversation>,
) -> Result<Option<String>, AppError> {
    let role = || {
        if effective.role.takes_input() {
            // The role shapes the user's message instead.
            return Ok(None);
        }
        effective.role.apply(&effective.vars, None).map(|a| a.system).map_err(|e| AppError::Usage(e.to_string()))
    };
    if let Some(system) = &cli.system {
        return Ok(Some(system.clone()));
    }
    if cli.role.is_some() {
        return role();
    }
    if let Some(system) = resumed.and_then(|c| c.system_prompt.clone()) {
        return Ok(Some(system));
    }
    if cli.code {
        return Ok(Some(CODE_SYSTEM.to_string()));
    }
    role()
}

/// The working directory, as conversations record it (`-c` continues the last one started here).
pub fn cwd() -> String {
    std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default()
}

/// Whether `-c`/`--session` asks to continue a saved conversation.
fn continuing(cli: &Cli) -> bool {
    cli.continue_last || cli.session.is_some()
}

/// The stored conversation `-c` or `--session` asks to continue.
pub fn conversation_to_continue(cli: &Cli, store: &Store) -> Result<Option<Conversation>, AppError> {
    let id = match (cli.session, cli.continue_last) {
        (Some(id), _) => Some(id),
        (None, true) => Some(
            store
                .latest_in(&cwd())
                .map_err(|e| AppError::Input(e.to_string()))?
                .ok_or_else(|| AppError::Usage("no saved conversation started in this directory to continue".into()))?,
        ),
        (None, false) => None,
    };
    id.map(|id| store.load(id).map_err(|e| AppError::Input(e.to_string()))).transpose()
}

/// Opens the history database, or says why history is off (never fatal: the chat goes on).
pub fn open_history(cli: &Cli, effective: &Effective, paths: &Paths) -> Result<Option<Store>, AppError> {
    if !effective.history {
        if continuing(cli) {
            return Err(AppError::Usage("history is off (--no-history, EMBER_NO_HISTORY or the config's `history = false`): there is no saved conversation to continue".into()));
        }
        return Ok(None);
    }
    match Store::open(&paths.history_db()) {
        Ok(store) => Ok(Some(store)),
        Err(e) if continuing(cli) => Err(AppError::Input(e.to_string())),
        Err(e) => {
            say("warning: ", &format!("{e}\n  This conversation will not be saved."));
            Ok(None)
        }
    }
}

/// Opens history (when asked for) and loads the conversation to continue, if any.
pub fn history_and_resume(
    cli: &Cli,
    effective: &Effective,
    paths: &Paths,
    wanted: bool,
) -> Result<(Option<Store>, Option<Conversation>), AppError> {
    let store = if wanted || continuing(cli) { open_history(cli, effective, paths)? } else { None };
    let resume = match &store {
        Some(store) => conversation_to_continue(cli, store)?,
        None => None,
    };
    Ok((store, resume))
}

/// Colours unless `NO_COLOR` is set (to anything but the empty string).
pub fn color_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
