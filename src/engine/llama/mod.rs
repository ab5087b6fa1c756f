//! The llama.cpp backend: one thread owns the backend, the model and the context (which is not
//! `Send`), and serves turns from a channel.
//!
//! `load` reads the model and creates its context, `format` turns a conversation into the
//! model's prompt, `session` evaluates prompts and generates (reusing the KV cache's common
//! prefix), `summarize` replaces turns that leave the context with a summary, `reply` turns
//! generated tokens into the reply's text, and `speculate` drafts tokens from the context and
//! checks them in one decode.

mod cpu_backend;
mod format;
mod grammar;
mod load;
mod reply;
mod session;
mod shift;
mod speculate;
mod summarize;

use std::path::PathBuf;
use std::sync::Arc;

use super::{CancelFloor, Command, EngineEvent};
pub use cpu_backend::{cpu_backend, no_cpu_backend, CpuBackend};
pub use format::{print_prompt, render_prompt, tokenize, PromptFormat};
pub use load::{device_report, devices, load_model, open_session, DeviceInfo};
pub use session::LlamaSession;

/// How many layers to offload to a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuLayers {
    /// Every layer when a GPU backend is present, none otherwise.
    Auto,
    /// Every layer.
    All,
    Count(u32),
}

/// How to format prompts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TemplateChoice {
    /// The model's own chat template (plain completion if it has none).
    #[default]
    Model,
    /// One of llama.cpp's built-in templates by name (`chatml`, `llama3`, `gemma`, ...).
    Builtin(String),
    /// A Jinja template from a file.
    File(PathBuf),
}

/// Whether context shifting is on unless the config says otherwise (`context_shift`).
pub const DEFAULT_CONTEXT_SHIFT: bool = true;

/// What the engine thread needs to start.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub model_path: PathBuf,
    /// Context size; `None` means the model's training context capped at `ctx_cap`.
    pub n_ctx: Option<u32>,
    pub ctx_cap: u32,
    /// Threads; `None` means one per physical core that other programs leave free (`cpu_load`).
    pub threads: Option<usize>,
    pub gpu_layers: GpuLayers,
    pub template: TemplateChoice,
    /// Flash attention: `None` chooses (off on CPU, llama.cpp's choice with a GPU).
    pub flash_attention: Option<bool>,
    /// When turns leave the context, replace them with a summary the model writes.
    pub summarize_dropped: bool,
    /// The share of the context a cut brings the prompt down to when turns must leave
    /// (`context_drop_to`, see [`crate::engine::fit::DropPoint`]).
    pub drop_to: f32,
    /// Move the kept turns' cache into place after a cut instead of evaluating them again, where
    /// the model allows it (`context_shift`, see the `shift` module).
    pub context_shift: bool,
    /// Map the model file instead of reading it (`--mmap`): faster to start and shared with the
    /// page cache for large models, but a file overwritten in place then kills the process.
    pub mmap: bool,
}

impl EngineOptions {
    pub fn new(model_path: PathBuf) -> Self {
        EngineOptions {
            model_path,
            n_ctx: None,
            ctx_cap: 8192,
            threads: None,
            gpu_layers: GpuLayers::Auto,
            template: TemplateChoice::Model,
            flash_attention: None,
            summarize_dropped: false,
            drop_to: crate::engine::fit::DEFAULT_DROP_TO,
            context_shift: DEFAULT_CONTEXT_SHIFT,
            mmap: false,
        }
    }
}

/// Physical cores: the most threads the default uses (see `cpu_load` for the default itself). On a 2-core machine llama.cpp's default of 4 threads
/// generated ~4x slower than 2.
pub fn default_threads() -> usize {
    num_cpus::get_physical().max(1)
}

/// The most threads llama.cpp supports (ggml's GGML_MAX_N_THREADS); far more crashed it.
pub const MAX_THREADS: usize = 512;

/// The engine thread's body: load, then serve turns until shutdown.
pub(crate) fn run(
    options: EngineOptions,
    commands: &std::sync::mpsc::Receiver<Command>,
    events: &tokio::sync::mpsc::UnboundedSender<EngineEvent>,
    cancel: Arc<CancelFloor>,
) {
    let progress_events = events.clone();
    let progress_cancel = Arc::clone(&cancel);
    let progress: Box<dyn FnMut(f32) -> bool> = Box::new(move |progress| {
        let _ = progress_events.send(EngineEvent::Loading { progress });
        // Returning false aborts the load, so shutting down during a long load is quick.
        !progress_cancel.is_cancelled(crate::engine::TurnId::MAX)
    });
    let model = match load_model(&options, false, Some(progress)) {
        Ok(model) => model,
        Err(error) => {
            let _ = events.send(EngineEvent::LoadFailed(error));
            return;
        }
    };
    let (mut session, info) = match open_session(&model, &options) {
        Ok(opened) => opened,
        Err(error) => {
            let _ = events.send(EngineEvent::LoadFailed(error));
            return;
        }
    };
    tracing::info!(model = %info.name, n_ctx = info.n_ctx, threads = info.threads, format = %info.prompt_format, devices = ?info.devices, "model ready");
    if events.send(EngineEvent::Ready(info)).is_err() {
        return;
    }
    crate::engine::serve(&mut session, commands, events, &cancel);
}
