//! The llama.cpp backend: one thread owns the backend, the model and the context (which is not
//! `Send`), and serves turns from a channel.

use std::num::NonZeroU32;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::token::LlamaToken;

use super::fit::{self, Window};
use super::message::Message;
use super::reasoning::{self, ReasoningFormat, ReasoningParser, SegmentKind};
use super::template::{self, JinjaTemplate, Reasoning, Segment};
use super::utf8::Utf8Stream;
use super::{
    Backend, CancelFloor, Command, EngineError, EngineEvent, ModelInfo, StopReason, TurnRequest, TurnSink, TurnStats,
};
use crate::engine::Role;
use crate::models;

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
            mmap: false,
        }
    }
}

/// Physical cores: the most threads the default uses (see `cpu_load` for the default itself). On a 2-core machine llama.cpp's default of 4 threads
/// generated ~4x slower than 2.
pub fn default_threads() -> usize {
    num_cpus::get_physical().max(1)
}

/// Tokens at the end of a prompt that a prefill leaves for the turn: the word being typed and
/// the chat template's end of message and start of reply.
const PREFILL_HOLD: usize = 8;

/// Tokens a prefill evaluates between two looks at whether a command is waiting.
const PREFILL_STEP: usize = 32;

/// The most threads llama.cpp supports (ggml's GGML_MAX_N_THREADS); far more crashed it.
pub const MAX_THREADS: usize = 512;

/// The process-wide llama.cpp backend (it may be initialised only once per process).
fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::Crashed(format!("llama.cpp backend: {e}")))
}

/// A compute device llama.cpp can use, as `ember doctor` shows it.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub name: String,
    pub description: String,
    /// The ggml backend: CPU, CUDA, Metal, Vulkan...
    pub backend: String,
    /// cpu, gpu, integrated gpu or accelerator.
    pub kind: &'static str,
    pub memory_total: usize,
    pub memory_free: usize,
}

/// Every device llama.cpp sees, with its memory (the backend is initialised first).
pub fn device_report() -> Result<Vec<DeviceInfo>, EngineError> {
    use llama_cpp_2::LlamaBackendDeviceType as T;
    backend()?;
    Ok(llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .map(|d| DeviceInfo {
            kind: match d.device_type {
                T::Cpu => "cpu",
                T::Gpu => "gpu",
                T::IntegratedGpu => "integrated gpu",
                T::Accelerator => "accelerator",
                _ => "other",
            },
            name: d.name,
            description: d.description,
            backend: d.backend,
            memory_total: d.memory_total,
            memory_free: d.memory_free,
        })
        .collect())
}

/// Names of the compute devices llama.cpp can use, e.g. "CPU", "CUDA0 (NVIDIA H200)".
pub fn devices() -> Vec<String> {
    llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .map(|d| if d.description.is_empty() { d.name } else { format!("{} ({})", d.name, d.description) })
        .collect()
}

fn has_gpu() -> bool {
    use llama_cpp_2::LlamaBackendDeviceType as T;
    llama_cpp_2::list_llama_ggml_backend_devices()
        .iter()
        .any(|d| matches!(d.device_type, T::Gpu | T::IntegratedGpu | T::Accelerator))
}

/// llama.cpp's own explanation of the last failure, from its log.
fn llama_reason(fallback: &str) -> String {
    let lines = crate::logging::llama_errors();
    let picked: Vec<&String> = lines.iter().rev().take(3).collect();
    if picked.is_empty() {
        return fallback.to_string();
    }
    picked.into_iter().rev().map(|l| l.as_str()).collect::<Vec<_>>().join("; ")
}

/// Checks that `path` is a readable, complete GGUF header, turning each failure into the error a
/// user can act on. llama.cpp checks the tensor data itself when it loads.
pub fn check_model_file(path: &Path) -> Result<models::gguf::GgufHeader, EngineError> {
    if !path.exists() {
        return Err(EngineError::ModelNotFound { path: path.to_path_buf() });
    }
    models::gguf::read_header(path).map_err(|e| match e {
        models::gguf::GgufError::Io(reason) => EngineError::ModelUnreadable { path: path.to_path_buf(), reason },
        models::gguf::GgufError::NotGguf(reason) => EngineError::NotGguf { path: path.to_path_buf(), reason },
        models::gguf::GgufError::Corrupt(reason) => EngineError::CorruptModel { path: path.to_path_buf(), reason },
    })
}

/// Loads a model (vocabulary only when `vocab_only`), turning every failure into a clear error.
pub fn load_model(
    options: &EngineOptions,
    vocab_only: bool,
    progress: Option<Box<dyn FnMut(f32) -> bool>>,
) -> Result<LlamaModel, EngineError> {
    let path = &options.model_path;
    check_model_file(path)?;
    if !vocab_only {
        // The default thread count looks at how busy the CPUs are while the model loads.
        super::cpu_load::mark();
    }
    let backend = backend()?;
    let gpu_layers = match options.gpu_layers {
        GpuLayers::Auto if has_gpu() => 999,
        GpuLayers::Auto => 0,
        GpuLayers::All => 999,
        GpuLayers::Count(n) => n,
    };
    // By default, read the weights into memory instead of mapping the file: with a mapping, a
    // model file overwritten or truncated in place while ember runs (`cp new.gguf model.gguf`,
    // a download over it) kills the process with SIGBUS/SIGSEGV at the next token. Read, it
    // cannot. `--mmap` chooses the mapping (large models start faster and share the page cache).
    let mut params = LlamaModelParams::default()
        .with_n_gpu_layers(gpu_layers)
        .with_vocab_only(vocab_only)
        .with_use_mmap(options.mmap);
    if let Some(progress) = progress {
        params = params.with_progress_callback(progress);
    }
    crate::logging::clear_llama_errors();
    LlamaModel::load_from_file(backend, path, &params).map_err(|e| {
        let reason = llama_reason(&e.to_string());
        let damaged = ["bounds", "corrupt", "incomplete", "truncat", "failed to read", "tensor"]
            .iter()
            .any(|w| reason.to_lowercase().contains(w));
        if damaged {
            EngineError::CorruptModel { path: path.clone(), reason }
        } else {
            EngineError::LoadFailed { path: path.clone(), reason }
        }
    })
}

/// How prompts are formatted for one model.
pub enum PromptFormat {
    Jinja(Box<JinjaTemplate>),
    Builtin { name: String, template: LlamaChatTemplate },
    Plain,
}

impl PromptFormat {
    /// Chooses the format for `model`; the notice says when there is no template.
    pub fn for_model(
        model: &LlamaModel,
        choice: &TemplateChoice,
    ) -> Result<(PromptFormat, String, Option<String>), EngineError> {
        let token_text =
            |t: LlamaToken| String::from_utf8_lossy(&model.vocab().token_to_piece(t, true, None)).into_owned();
        let vocab = model.vocab();
        let bos = (vocab.bos().0 >= 0).then(|| token_text(vocab.bos()));
        let eos = (vocab.eos().0 >= 0).then(|| token_text(vocab.eos()));
        let jinja = |source: &str| {
            JinjaTemplate::new(source, bos.as_deref(), eos.as_deref())
                .map(|t| PromptFormat::Jinja(Box::new(t)))
                .map_err(EngineError::Template)
        };
        match choice {
            TemplateChoice::File(path) => {
                let source = std::fs::read_to_string(path).map_err(|e| {
                    EngineError::Template(format!("cannot read template file {}: {e}", path.display()))
                })?;
                Ok((jinja(&source)?, format!("template file {}", path.display()), None))
            }
            TemplateChoice::Builtin(name) => {
                let template = LlamaChatTemplate::new(name)
                    .map_err(|_| EngineError::Template(format!("invalid template name {name:?}")))?;
                let format = PromptFormat::Builtin { name: name.clone(), template };
                // Fail now, not at the first turn, if llama.cpp does not know the name.
                format
                    .render_raw(model, &[Message::new(super::Role::User, "hi")], true, Reasoning::Auto)
                    .map_err(EngineError::Template)?;
                Ok((format, format!("llama.cpp template {name}"), None))
            }
            TemplateChoice::Model => match model.chat_template(None) {
                Ok(t) => {
                    let source = t.to_string().map_err(|e| EngineError::Template(e.to_string()))?;
                    Ok((jinja(&source)?, "the model's chat template".into(), None))
                }
                Err(_) => Ok((
                    PromptFormat::Plain,
                    "plain User:/Assistant: completion".into(),
                    Some("this model has no chat template (a base model?); using a plain User:/Assistant: format. Choose one with --template NAME or --template-file PATH.".into()),
                )),
            },
        }
    }

    fn render_raw(
        &self,
        model: &LlamaModel,
        messages: &[Message],
        add_generation_prompt: bool,
        reasoning: Reasoning,
    ) -> Result<String, String> {
        match self {
            PromptFormat::Jinja(template) => template.render_with(messages, add_generation_prompt, reasoning),
            PromptFormat::Builtin { name, template } => {
                let chat = messages
                    .iter()
                    .map(|m| LlamaChatMessage::new(m.role.as_str().to_string(), m.content.clone()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("message text cannot contain NUL: {e}"))?;
                model.apply_chat_template(template, &chat, add_generation_prompt).map_err(|e| {
                    format!(
                        "llama.cpp has no built-in template {name:?} ({e}); known names include chatml, llama2, llama3, mistral-v7, phi3, phi4, gemma, deepseek3, command-r, vicuna, zephyr"
                    )
                })
            }
            PromptFormat::Plain => Ok(template::render_plain(messages, add_generation_prompt)),
        }
    }

    /// Renders and segments the conversation for generation. When a template rejects the system
    /// role (Gemma, some Mistral), the system prompt is folded into the first user message.
    pub fn segments(&self, model: &LlamaModel, messages: &[Message]) -> Result<(String, Vec<Segment>), EngineError> {
        self.segments_with(model, messages, Reasoning::Auto)
    }

    /// [`PromptFormat::segments`] with a reasoning setting passed to the template.
    pub fn segments_with(
        &self,
        model: &LlamaModel,
        messages: &[Message],
        reasoning: Reasoning,
    ) -> Result<(String, Vec<Segment>), EngineError> {
        let render = |m: &[Message]| self.render_raw(model, m, true, reasoning);
        match self {
            PromptFormat::Jinja(_) => template::segment_folding_system(messages, &render),
            PromptFormat::Builtin { .. } | PromptFormat::Plain => template::segment(messages, &render),
        }
        .map_err(EngineError::Template)
    }

    fn stops(&self) -> &'static [&'static str] {
        match self {
            PromptFormat::Plain => template::PLAIN_STOPS,
            PromptFormat::Jinja(_) | PromptFormat::Builtin { .. } => &[],
        }
    }
}

/// Tokenizes a segmented prompt: control tokens are parsed only in template text.
pub fn tokenize(model: &LlamaModel, full: &str, segments: &[Segment]) -> Vec<LlamaToken> {
    let vocab = model.vocab();
    let mut tokens = Vec::with_capacity(full.len() / 3 + 8);
    let bos = vocab.bos();
    let bos_text = String::from_utf8_lossy(&vocab.token_to_piece(bos, true, None)).into_owned();
    if vocab.should_add_bos() && bos.0 >= 0 && (bos_text.is_empty() || !full.starts_with(&bos_text)) {
        tokens.push(bos);
    }
    for segment in segments {
        tokens.extend(vocab.tokenize(segment.text.as_bytes(), false, segment.special));
    }
    tokens
}

/// The id of `text` when the vocabulary has it as one token (a control or added token).
fn single_token(model: &LlamaModel, text: &str) -> Option<i32> {
    match model.vocab().tokenize(text.as_bytes(), false, true).as_slice() {
        [one] => Some(one.0),
        _ => None,
    }
}

/// Turns a reply's generated tokens into its text on the sink: assembles UTF-8 across tokens,
/// drops the reply's leading whitespace, splits reasoning from the answer (the parser) and ends
/// the answer at a stop string of the prompt format.
struct ReplyText {
    utf8: Utf8Stream,
    /// No text yet: a reply's leading whitespace (" " after "Assistant:") carries nothing.
    leading: bool,
    parser: ReasoningParser,
    stop_matcher: StopMatcher,
    stops: &'static [&'static str],
    segments: SegmentTimes,
}

impl ReplyText {
    fn new(parser: ReasoningParser, stops: &'static [&'static str]) -> Self {
        ReplyText {
            utf8: Utf8Stream::default(),
            leading: true,
            parser,
            stop_matcher: StopMatcher::default(),
            stops,
            segments: SegmentTimes::default(),
        }
    }

    /// One generated token's bytes. Returns why the reply must end here, if it must: the sink
    /// stopped it (cancelled), or a stop string appeared.
    fn push(&mut self, token: i32, piece: &[u8], sink: &mut dyn TurnSink) -> Option<StopReason> {
        let mut text = self.utf8.push(piece);
        if self.leading {
            let trimmed = text.trim_start();
            self.leading = trimmed.is_empty();
            text = trimmed.to_string();
        }
        let (mut flow, mut hit_stop) = (ControlFlow::Continue(()), false);
        let (segments, stop_matcher, stops) = (&mut self.segments, &mut self.stop_matcher, self.stops);
        self.parser.push_with(token, &text, |kind, text| {
            segments.saw(kind);
            if flow.is_break() || hit_stop {
                return;
            }
            flow = match kind {
                SegmentKind::Answer => {
                    let (out, hit) = stop_matcher.push(text, stops);
                    hit_stop = hit;
                    if out.is_empty() {
                        ControlFlow::Continue(())
                    } else {
                        sink.text(&out)
                    }
                }
                SegmentKind::Reasoning | SegmentKind::ToolCall => sink.reasoning(text),
            };
        });
        if flow.is_break() {
            Some(StopReason::Cancelled)
        } else if hit_stop {
            Some(StopReason::StopString)
        } else {
            None
        }
    }

    /// The reply ended (`stop`): sends what the UTF-8 stream and the parser still hold (a turn
    /// cut inside its reasoning keeps that reasoning), the answer's part through the stop
    /// matcher as above. Returns the reasoning's tokens and time.
    fn finish(mut self, stop: StopReason, sink: &mut dyn TurnSink) -> (usize, std::time::Duration) {
        if stop != StopReason::StopString && stop != StopReason::Cancelled {
            let tail = self.utf8.finish();
            let tail = if self.leading { tail.trim_start().to_string() } else { tail };
            let mut rest = Vec::new();
            if !tail.is_empty() {
                self.parser.push(-1, &tail, &mut rest);
            }
            self.parser.finish(&mut rest);
            let mut answer = String::new();
            for delta in rest {
                self.segments.saw(delta.kind);
                match delta.kind {
                    SegmentKind::Answer => answer.push_str(&self.stop_matcher.push(&delta.text, self.stops).0),
                    SegmentKind::Reasoning | SegmentKind::ToolCall => {
                        let _ = sink.reasoning(&delta.text);
                    }
                }
            }
            answer.push_str(&self.stop_matcher.finish());
            if !answer.is_empty() {
                let _ = sink.text(&answer);
            }
        }
        (self.parser.reasoning_tokens(), self.segments.reasoning_time())
    }
}

/// When a turn's reasoning began and when its answer began, for `TurnStats::reasoning_time`.
#[derive(Default)]
struct SegmentTimes {
    reasoning: Option<Instant>,
    answer: Option<Instant>,
}

impl SegmentTimes {
    fn saw(&mut self, kind: SegmentKind) {
        match kind {
            SegmentKind::Reasoning | SegmentKind::ToolCall => {
                self.reasoning.get_or_insert_with(Instant::now);
            }
            SegmentKind::Answer => {
                self.answer.get_or_insert_with(Instant::now);
            }
        }
    }

    fn reasoning_time(&self) -> std::time::Duration {
        match (self.reasoning, self.answer) {
            (Some(r), Some(a)) if a > r => a - r,
            (Some(r), None) => r.elapsed(),
            _ => std::time::Duration::ZERO,
        }
    }
}

/// Holds back text that may be the start of a stop string, and reports when one appears.
#[derive(Default)]
struct StopMatcher {
    held: String,
}

impl StopMatcher {
    /// Returns the text safe to emit, and whether a stop string was found (text before it is emitted).
    fn push(&mut self, text: &str, stops: &[&str]) -> (String, bool) {
        if stops.is_empty() {
            return (text.to_string(), false);
        }
        self.held.push_str(text);
        if let Some(pos) = stops.iter().filter_map(|s| self.held.find(s)).min() {
            let out = self.held[..pos].to_string();
            self.held.clear();
            return (out, true);
        }
        // Keep the longest suffix that is a prefix of some stop string.
        let keep = stops
            .iter()
            .flat_map(|s| (1..s.len()).filter(|&n| s.is_char_boundary(n)).map(move |n| &s[..n]))
            .filter(|prefix| self.held.ends_with(prefix))
            .map(str::len)
            .max()
            .unwrap_or(0);
        let emit_to = self.held.len() - keep;
        let out = self.held[..emit_to].to_string();
        self.held.drain(..emit_to);
        (out, false)
    }
    fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

/// A loaded model and its context, with the tokens whose KV cache the context holds.
pub struct LlamaSession<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    format: PromptFormat,
    /// Tokens in sequence 0 of the KV cache, in order.
    cached: Vec<LlamaToken>,
    batch: LlamaBatch<'static>,
    n_batch: usize,
    /// Summarise turns that leave the context (`context_policy = "summarize"`).
    summarize_dropped: bool,
    /// The summary of the turns dropped so far, and the hashes of the messages it covers.
    summary: Option<(Vec<u64>, String)>,
    /// The chat template's source, which says how the model reasons (none for other formats).
    template_source: Option<String>,
    /// The reasoning setting of the turn being rendered (the request's, set when it starts).
    reasoning: Reasoning,
    /// The reasoning format found for each setting (by `Reasoning::ALL` order), once.
    reasoning_formats: [Option<ReasoningFormat>; 6],
}

/// Most tokens a summary of dropped turns may take.
const SUMMARY_TOKENS: usize = 160;

/// The instruction for summarising dropped turns.
const SUMMARY_PROMPT: &str = "Summarise the conversation below in at most five sentences. Keep every fact, \
name, number, file name, code identifier and decision; leave out greetings. Write only the summary.";

fn message_hash(m: &Message) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    m.role.as_str().hash(&mut h);
    m.content.hash(&mut h);
    h.finish()
}

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

impl<'m> LlamaSession<'m> {
    /// The text of the tokens the context holds, control tokens written out: what the model was
    /// given (and answered) last. For `--print-prompt`-like checks of what a turn really sent.
    pub fn context_text(&self) -> String {
        let vocab = self.model.vocab();
        let bytes: Vec<u8> = self.cached.iter().flat_map(|&t| vocab.token_to_piece(t, true, None)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Keeps the longest common prefix of the KV cache and `tokens`, at most `limit` tokens, and
    /// drops the rest of the cache; returns how many tokens are kept.
    fn reuse_prefix(&mut self, tokens: &[LlamaToken], limit: usize) -> usize {
        let mut reuse = self.cached.iter().zip(tokens).take_while(|(a, b)| a == b).count().min(limit);
        if reuse < self.cached.len() {
            let trimmed = matches!(self.ctx.clear_kv_cache_seq(Some(0), Some(reuse as u32), None), Ok(true));
            if !trimmed {
                // This model's memory cannot drop a range (recurrent models): start over.
                self.ctx.clear_kv_cache();
                reuse = 0;
            }
            self.cached.truncate(reuse);
        }
        reuse
    }

    /// Evaluates ahead the prompt of a turn whose last message is still being typed: all of it
    /// but its last `PREFILL_HOLD` tokens (the word being typed and the template's end), in small
    /// steps so that a command sent meanwhile waits at most one step. Does nothing (and keeps the
    /// cache) when the prompt would not fit whole (turns would leave the context, and the prompt
    /// changes with them) or cannot be built, or when the model's memory cannot drop the part of
    /// the cache that no longer matches (recurrent models: a restart is not worth it).
    fn prefill_prompt(&mut self, req: &TurnRequest, sink: &dyn TurnSink) -> Result<usize, EngineError> {
        if sink.cancelled() {
            return Ok(0);
        }
        let room = self.reply_room(req.sampling.max_tokens, self.summarize_dropped);
        let Ok(tokens) = self.prompt_tokens(&req.messages) else { return Ok(0) };
        if tokens.len() + room > self.ctx.n_ctx() as usize {
            return Ok(0);
        }
        let target = tokens.len().saturating_sub(PREFILL_HOLD);
        let common = self.cached.iter().zip(&tokens).take_while(|(a, b)| a == b).count();
        if common >= target {
            return Ok(0);
        }
        if common < self.cached.len() {
            if !matches!(self.ctx.clear_kv_cache_seq(Some(0), Some(common as u32), None), Ok(true)) {
                return Ok(0);
            }
            self.cached.truncate(common);
        }
        let mut evaluated = 0;
        for chunk in tokens[common..target].chunks(PREFILL_STEP) {
            if sink.cancelled() || !self.decode_prompt(chunk, self.cached.len(), sink)? {
                break;
            }
            evaluated += chunk.len();
        }
        Ok(evaluated)
    }

    fn decode_prompt(&mut self, tokens: &[LlamaToken], start: usize, sink: &dyn TurnSink) -> Result<bool, EngineError> {
        // Never hand llama.cpp more than n_batch tokens at once: a larger decode aborts it.
        let mut pos = start;
        for chunk in tokens.chunks(self.n_batch.max(1)) {
            if sink.cancelled() {
                return Ok(false);
            }
            self.batch.clear();
            for (i, &token) in chunk.iter().enumerate() {
                let last = pos + i + 1 == start + tokens.len();
                self.batch.add(token, (pos + i) as i32, &[0], last).map_err(|e| EngineError::Decode(e.to_string()))?;
            }
            self.ctx.decode(&mut self.batch).map_err(|e| EngineError::Decode(e.to_string()))?;
            self.cached.extend_from_slice(chunk);
            pos += chunk.len();
        }
        Ok(true)
    }

    /// How this turn's output splits into reasoning and answer: the template's family, and
    /// whether its generation prompt (with this turn's reasoning setting) opens the reasoning.
    fn reasoning_format(&mut self) -> ReasoningFormat {
        let slot = Reasoning::ALL.iter().position(|&r| r == self.reasoning).unwrap_or(0);
        if let Some(format) = self.reasoning_formats[slot] {
            return format;
        }
        let format = self.detect_reasoning_format();
        self.reasoning_formats[slot] = Some(format);
        format
    }

    fn detect_reasoning_format(&self) -> ReasoningFormat {
        let Some(source) = self.template_source.as_deref() else { return ReasoningFormat::None };
        // The generation prompt alone: what the template writes after a one-word question.
        let probe = [Message::new(Role::User, "\u{F8F0}")];
        let tail = self
            .format
            .render_raw(self.model, &probe, true, self.reasoning)
            .ok()
            .and_then(|text| text.rsplit_once('\u{F8F0}').map(|(_, tail)| tail.to_string()))
            .unwrap_or_default();
        reasoning::detect(Some(source), &tail, |text| single_token(self.model, text))
    }

    /// The prompt for `messages`, all of them, as tokens.
    fn prompt_tokens(&self, messages: &[Message]) -> Result<Vec<LlamaToken>, EngineError> {
        let (full, segments) = self.format.segments_with(self.model, messages, self.reasoning)?;
        let tokens = tokenize(self.model, &full, &segments);
        if tokens.is_empty() {
            return Err(EngineError::Template("the prompt is empty".into()));
        }
        Ok(tokens)
    }

    /// Tokens kept free for the reply (see [`fit::reply_room`]); with `summary`, room for a
    /// summary of dropped turns as well.
    fn reply_room(&self, max_tokens: usize, summary: bool) -> usize {
        let room = fit::reply_room(max_tokens, self.ctx.n_ctx() as usize);
        if summary {
            room + SUMMARY_TOKENS
        } else {
            room
        }
    }

    /// Tokenizes the conversation, leaving out its oldest unpinned turns until it fits in the
    /// context with `room` tokens to spare for a reply (see [`fit::fit`]). Returns the tokens and
    /// the indices of the messages kept.
    fn fit(&self, messages: &[Message], room: usize) -> Result<(Vec<LlamaToken>, Vec<usize>), EngineError> {
        let window = Window { n_ctx: self.ctx.n_ctx() as usize, room, n_ctx_train: self.model.n_ctx_train() as usize };
        let fitted = fit::fit(messages, window, |messages| {
            let tokens = self.prompt_tokens(messages)?;
            let n = tokens.len();
            Ok((tokens, n))
        })?;
        Ok((fitted.prompt, fitted.kept))
    }

    /// The `summarize` policy: when turns must leave the context, the model summarises them
    /// (extending the previous summary when the dropped turns only grew), and the summary joins
    /// the system prompt. Turns that still fit are answered as usual.
    fn generate_summarizing(
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
        let hashes: Vec<u64> = dropped.iter().map(|m| message_hash(m)).collect();
        let summary = match &self.summary {
            Some((covered, text)) if *covered == hashes => text.clone(),
            previous => {
                // Extend the previous summary when the dropped turns only grew; else start over.
                let (earlier, new) = match previous {
                    Some((covered, text)) if hashes.starts_with(covered) => {
                        (Some(text.clone()), &dropped[covered.len()..])
                    }
                    _ => (None, &dropped[..]),
                };
                let mut transcript = String::new();
                if let Some(earlier) = earlier {
                    transcript.push_str(&format!("(Summary of what came before: {earlier})\n\n"));
                }
                for m in new {
                    let who = if m.role == Role::User { "User" } else { "Assistant" };
                    transcript.push_str(&format!("{who}: {}\n\n", m.content.trim()));
                }
                let summary_req = TurnRequest {
                    turn: req.turn,
                    messages: vec![Message::new(Role::System, SUMMARY_PROMPT), Message::new(Role::User, transcript)],
                    sampling: crate::engine::SamplingParams {
                        temperature: 0.0,
                        max_tokens: SUMMARY_TOKENS,
                        // A reasoning model would spend the summary's tokens thinking.
                        reasoning: Reasoning::Off,
                        ..req.sampling.clone()
                    },
                };
                let mut collect = SummarySink { text: String::new(), outer: &*sink };
                match self.generate_inner(&summary_req, &mut collect) {
                    Ok((_, StopReason::Cancelled)) => return Ok((TurnStats::default(), StopReason::Cancelled)),
                    Ok(_) if !collect.text.trim().is_empty() => {
                        let text = collect.text.trim().to_string();
                        self.summary = Some((hashes, text.clone()));
                        text
                    }
                    Ok(_) => {
                        // Nothing written (all of it was reasoning): drop the turns unsummarised.
                        tracing::warn!("the summary of the dropped turns came out empty");
                        return self.generate_inner(req, sink);
                    }
                    Err(e) => {
                        // The turns are still dropped, just not summarised.
                        tracing::warn!(error = %e, "summarising the dropped turns failed");
                        return self.generate_inner(req, sink);
                    }
                }
            }
        };
        let note = format!("Summary of the earlier part of this conversation: {summary}");
        let mut messages: Vec<Message> = kept.iter().map(|&i| req.messages[i].clone()).collect();
        match messages.first_mut() {
            Some(first) if first.role == Role::System => {
                first.content = format!("{}\n\n{note}", first.content);
            }
            _ => messages.insert(0, Message::new(Role::System, note)),
        }
        let (mut stats, stop) = self.generate_inner(&TurnRequest { messages, ..req.clone() }, sink)?;
        stats.dropped_messages += dropped.len();
        stats.summarized = true;
        Ok((stats, stop))
    }

    fn generate_inner(
        &mut self,
        req: &TurnRequest,
        sink: &mut dyn TurnSink,
    ) -> Result<(TurnStats, StopReason), EngineError> {
        let started = Instant::now();
        self.reasoning = req.sampling.reasoning;
        let room = self.reply_room(req.sampling.max_tokens, false);
        let (tokens, kept) = self.fit(&req.messages, room)?;
        self.generate_tokens(req, tokens, kept.len(), started, sink)
    }

    /// Answers `req` whose prompt, fitted to the context, is `tokens`, made of `kept` of its
    /// messages. `started` is when the turn began (the first token's time counts from it).
    fn generate_tokens(
        &mut self,
        req: &TurnRequest,
        tokens: Vec<LlamaToken>,
        kept: usize,
        started: Instant,
        sink: &mut dyn TurnSink,
    ) -> Result<(TurnStats, StopReason), EngineError> {
        let n_ctx = self.ctx.n_ctx() as usize;
        let dropped_messages = req.messages.len() - kept;
        // At least one token must be evaluated to get logits for the first reply token.
        let reuse = self.reuse_prefix(&tokens, tokens.len() - 1);
        let mut stats =
            TurnStats { prompt_tokens: tokens.len(), reused_tokens: reuse, dropped_messages, ..TurnStats::default() };
        self.ctx.reset_timings();
        let prompt_started = Instant::now();
        if !self.decode_prompt(&tokens[reuse..], reuse, sink)? {
            return Ok((stats, StopReason::Cancelled));
        }
        // llama_decode may return before a GPU has finished: the prompt's time includes its work.
        self.ctx.synchronize();
        stats.evaluated_tokens = tokens.len() - reuse;
        stats.prompt_time = prompt_started.elapsed();

        let vocab = self.model.vocab();
        let n_vocab = self.model.n_vocab();
        let banned: Vec<i32> = if req.sampling.ignore_eos {
            (0..n_vocab).filter(|&t| vocab.is_eog(LlamaToken(t))).collect()
        } else {
            Vec::new()
        };
        let mut sampler = req.sampling.sampler(&banned);
        let mut reply = ReplyText::new(ReasoningParser::new(self.reasoning_format()), self.format.stops());
        let mut logits_index = self.batch.n_tokens() - 1;
        let mut piece = Vec::with_capacity(32);
        let gen_started = Instant::now();
        let stop = loop {
            let token = LlamaToken(sampler.sample(self.ctx.get_logits_ith(logits_index)));
            if stats.generated_tokens == 0 {
                stats.time_to_first_token = started.elapsed();
            }
            if vocab.is_eog(token) {
                break StopReason::EndOfText;
            }
            stats.generated_tokens += 1;
            piece.clear();
            vocab.token_to_piece_into(token, &mut piece, false, None);
            if let Some(stop) = reply.push(token.0, &piece, sink) {
                break stop;
            }
            if stats.generated_tokens >= req.sampling.max_tokens {
                break StopReason::MaxTokens;
            }
            if self.cached.len() + 1 >= n_ctx {
                break StopReason::ContextFull;
            }
            if sink.cancelled() {
                break StopReason::Cancelled;
            }
            self.batch.clear();
            self.batch
                .add(token, self.cached.len() as i32, &[0], true)
                .map_err(|e| EngineError::Decode(e.to_string()))?;
            self.ctx.decode(&mut self.batch).map_err(|e| EngineError::Decode(e.to_string()))?;
            self.cached.push(token);
            logits_index = 0;
        };
        let (reasoning_tokens, reasoning_time) = reply.finish(stop, sink);
        // (The tail is not a token of its own.)
        stats.reasoning_tokens = reasoning_tokens.min(stats.generated_tokens);
        stats.reasoning_time = reasoning_time;
        stats.generation_time = gen_started.elapsed();
        let timings = self.ctx.timings();
        let n_eval = usize::try_from(timings.n_eval()).unwrap_or(0);
        if n_eval > 0 && timings.t_eval_ms() > 0.0 {
            stats.llama_eval = Some((n_eval, std::time::Duration::from_secs_f64(timings.t_eval_ms() / 1000.0)));
        }
        tracing::debug!(?stats, "turn done");
        Ok((stats, stop))
    }
}

impl Backend for LlamaSession<'_> {
    fn generate(&mut self, req: &TurnRequest, sink: &mut dyn TurnSink) -> Result<(TurnStats, StopReason), EngineError> {
        self.reasoning = req.sampling.reasoning;
        let answered;
        let req = match template::without_unanswered(&req.messages) {
            std::borrow::Cow::Borrowed(_) => req,
            std::borrow::Cow::Owned(messages) => {
                answered = TurnRequest { turn: req.turn, messages, sampling: req.sampling.clone() };
                &answered
            }
        };
        let result =
            if self.summarize_dropped { self.generate_summarizing(req, sink) } else { self.generate_inner(req, sink) };
        if result.is_err() {
            // The cache may hold a half-evaluated prompt: forget it rather than trust it.
            self.ctx.clear_kv_cache();
            self.cached.clear();
        }
        result
    }

    fn save_state(&mut self, path: &std::path::Path) -> Result<usize, String> {
        if self.cached.is_empty() {
            return Err("nothing evaluated yet".into());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        // Write to a temporary name and rename, so a crash never leaves a half-written state.
        let part = path.with_extension("part");
        let bytes = self.ctx.state_seq_save_file(&part, 0, &self.cached).map_err(|e| e.to_string())?;
        std::fs::rename(&part, path).map_err(|e| e.to_string())?;
        Ok(bytes)
    }

    fn prefill(&mut self, req: &TurnRequest, sink: &mut dyn TurnSink) -> Result<usize, EngineError> {
        self.reasoning = req.sampling.reasoning;
        let result = self.prefill_prompt(req, sink);
        if result.is_err() {
            // Only a failed decode gets here: the cache may hold a half-evaluated step.
            self.ctx.clear_kv_cache();
            self.cached.clear();
        }
        result
    }

    fn load_state(&mut self, path: &std::path::Path) -> Result<usize, String> {
        self.ctx.clear_kv_cache();
        self.cached.clear();
        let capacity = self.ctx.n_ctx() as usize;
        match self.ctx.state_seq_load_file(path, 0, capacity) {
            Ok((tokens, _)) => {
                self.cached = tokens;
                Ok(self.cached.len())
            }
            Err(e) => {
                // A failed load may leave part of a state behind: start clean.
                self.ctx.clear_kv_cache();
                Err(e.to_string())
            }
        }
    }
}

/// The exact prompt for `messages` and its token count.
pub fn render_prompt(
    model: &LlamaModel,
    format: &PromptFormat,
    messages: &[Message],
    reasoning: Reasoning,
) -> Result<(String, usize), EngineError> {
    let (full, segments) = format.segments_with(model, messages, reasoning)?;
    let tokens = tokenize(model, &full, &segments).len();
    Ok((full, tokens))
}

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
        !progress_cancel.is_cancelled(super::TurnId::MAX)
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
    super::serve(&mut session, commands, events, &cancel);
}

fn gpu_offload(layers: GpuLayers) -> bool {
    match layers {
        GpuLayers::Auto => has_gpu(),
        GpuLayers::All => true,
        GpuLayers::Count(n) => n > 0,
    }
}

/// Bytes of KV cache one token takes (keys and values, f16, every layer).
fn kv_bytes_per_token(model: &LlamaModel) -> u64 {
    let n_embd = u64::try_from(model.n_embd()).unwrap_or(0);
    let (heads, kv_heads) = (u64::from(model.n_head().max(1)), u64::from(model.n_head_kv().max(1)));
    2 * 2 * u64::from(model.n_layer()) * n_embd * kv_heads / heads
}

/// Memory the system can still give (Linux `MemAvailable`), when known.
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
}

/// Refuses, before llama.cpp tries (slowly, touching memory), a context whose cache alone
/// cannot fit in the memory available, and suggests a size that does.
fn check_context_fits(model: &LlamaModel, n_ctx: u32, available: Option<u64>) -> Result<(), EngineError> {
    let (Some(available), per_token) = (available, kv_bytes_per_token(model)) else { return Ok(()) };
    let need = per_token.saturating_mul(u64::from(n_ctx));
    if per_token == 0 || need <= available {
        return Ok(());
    }
    // Half of what is free, as a power of two: room for the weights and everything else.
    let fits = (available / 2 / per_token).max(16);
    let suggest = (1u64 << (63 - fits.leading_zeros())).min(u64::from(model.n_ctx_train().max(16)));
    let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
    Err(EngineError::ContextFailed {
        n_ctx,
        reason: format!(
            "its cache alone needs {:.1} GiB and {:.1} GiB of memory is available (--ctx {suggest} would fit)",
            gib(need),
            gib(available)
        ),
    })
}

/// llama.cpp's flash-attention setting (-1 auto, 0 off, 1 on). On the CPU, llama.cpp's automatic
/// choice turns it on, and its CPU flash-attention kernel slows down as the context fills:
/// measured on SmolLM2-135M with 2 threads, the first token at turn 30 of a conversation took
/// 873 ms with it and 96 ms without, and a 4,000-token conversation's next turn 1.7 s against
/// 0.14 s. So ember turns it off unless layers run on a GPU, where llama.cpp decides.
fn flash_attention_policy(choice: Option<bool>, gpu: bool) -> i32 {
    match (choice, gpu) {
        (Some(true), _) => 1,
        (Some(false), _) | (None, false) => 0,
        (None, true) => -1,
    }
}

/// Creates the context for `model` and describes it.
pub fn open_session<'m>(
    model: &'m LlamaModel,
    options: &EngineOptions,
) -> Result<(LlamaSession<'m>, ModelInfo), EngineError> {
    let backend = backend()?;
    let n_ctx_train = model.n_ctx_train().max(1);
    let n_ctx = options.n_ctx.unwrap_or_else(|| n_ctx_train.min(options.ctx_cap)).max(16);
    let threads = match options.threads {
        Some(n) => n,
        None => {
            let (n, others) = super::cpu_load::default_threads(default_threads());
            if let Some(others) = others.filter(|_| n < default_threads()) {
                tracing::info!(threads = n, others_busy = others, "fewer threads: other programs keep cores busy");
            }
            n
        }
    }
    .clamp(1, MAX_THREADS);
    let threads_i32 = i32::try_from(threads).unwrap_or(i32::MAX);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_threads(threads_i32)
        .with_n_threads_batch(threads_i32)
        // Keep llama.cpp's own timings: --stats shows them next to ember's.
        .with_no_perf(false)
        .with_flash_attention_policy(flash_attention_policy(options.flash_attention, gpu_offload(options.gpu_layers)));
    if !gpu_offload(options.gpu_layers) {
        check_context_fits(model, n_ctx, available_memory())?;
    }
    crate::logging::clear_llama_errors();
    let ctx = model
        .new_context(backend, params)
        .map_err(|e| EngineError::ContextFailed { n_ctx, reason: llama_reason(&e.to_string()) })?;
    let n_batch = ctx.n_batch() as usize;
    let (format, prompt_format, notice) = PromptFormat::for_model(model, &options.template)?;
    let template_source = match &format {
        PromptFormat::Jinja(t) => t.source(),
        PromptFormat::Builtin { .. } | PromptFormat::Plain => None,
    };
    let reasoning_format = reasoning::detect(template_source.as_deref(), "", |text| single_token(model, text));
    let gpu_layers = match options.gpu_layers {
        GpuLayers::Auto if has_gpu() => model.n_layer() + 1,
        GpuLayers::Auto => 0,
        GpuLayers::All => model.n_layer() + 1,
        GpuLayers::Count(n) => n.min(model.n_layer() + 1),
    };
    let info = ModelInfo {
        path: options.model_path.clone(),
        name: models::display_name(&options.model_path),
        n_ctx: ctx.n_ctx() as usize,
        n_ctx_train: n_ctx_train as usize,
        threads,
        gpu_layers,
        prompt_format,
        devices: devices(),
        notice,
        reasoning_format: reasoning_format.name().to_string(),
        reasoning_switch: template_source.as_deref().is_some_and(Reasoning::has_switch),
    };
    let session = LlamaSession {
        model,
        ctx,
        format,
        cached: Vec::new(),
        batch: LlamaBatch::new(n_batch.max(1), 1),
        n_batch: n_batch.max(1),
        summarize_dropped: options.summarize_dropped,
        summary: None,
        template_source,
        reasoning: Reasoning::Auto,
        reasoning_formats: [None; 6],
    };
    Ok((session, info))
}

/// Renders the prompt for `messages` with only the model's vocabulary loaded (`--print-prompt`).
pub fn print_prompt(
    options: &EngineOptions,
    messages: &[Message],
    reasoning: Reasoning,
) -> Result<(String, usize, Option<String>), EngineError> {
    let model = load_model(options, true, None)?;
    let (format, _, notice) = PromptFormat::for_model(&model, &options.template)?;
    let messages = template::without_unanswered(messages);
    let (text, tokens) = render_prompt(&model, &format, &messages, reasoning)?;
    Ok((text, tokens, notice))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects what a reply sends.
    #[derive(Default)]
    struct Sent {
        answer: String,
        reasoning: String,
    }

    impl TurnSink for Sent {
        fn text(&mut self, text: &str) -> ControlFlow<()> {
            self.answer.push_str(text);
            ControlFlow::Continue(())
        }
        fn reasoning(&mut self, text: &str) -> ControlFlow<()> {
            self.reasoning.push_str(text);
            ControlFlow::Continue(())
        }
        fn cancelled(&self) -> bool {
            false
        }
    }

    fn think_tags(inside: bool) -> ReasoningParser {
        use super::reasoning::{TagFormat, ThinkTags};
        ReasoningParser::new(ReasoningFormat::Tags(TagFormat::new(ThinkTags::Think, inside)))
    }

    #[test]
    fn reply_text_splits_reasoning_from_the_answer_across_tokens() {
        let mut reply = ReplyText::new(think_tags(false), &[]);
        let mut sent = Sent::default();
        for piece in [" <th", "ink>", "plan it", "</thi", "nk>\n\nThe answer", "."] {
            assert_eq!(reply.push(-1, piece.as_bytes(), &mut sent), None);
        }
        let (tokens, _) = reply.finish(StopReason::EndOfText, &mut sent);
        assert_eq!((sent.reasoning.as_str(), sent.answer.as_str()), ("plan it", "The answer."));
        assert!(tokens >= 3, "{tokens}");
    }

    #[test]
    fn reply_text_stops_at_a_stop_string_split_across_tokens() {
        let mut reply = ReplyText::new(ReasoningParser::new(ReasoningFormat::None), template::PLAIN_STOPS);
        let mut sent = Sent::default();
        assert_eq!(reply.push(-1, b"Hello", &mut sent), None);
        assert_eq!(reply.push(-1, b"\nUs", &mut sent), None);
        assert_eq!(reply.push(-1, b"er: more", &mut sent), Some(StopReason::StopString));
        reply.finish(StopReason::StopString, &mut sent);
        assert_eq!(sent.answer, "Hello");
    }

    #[test]
    fn reply_text_ends_in_order_when_cut_inside_a_character() {
        // "\n" is held (it may begin "\nUser:"), then the reply is cut after half a character.
        let mut reply = ReplyText::new(ReasoningParser::new(ReasoningFormat::None), template::PLAIN_STOPS);
        let mut sent = Sent::default();
        let pieces: [&[u8]; 3] = [b"Hi", b"\n", &[0xE2, 0x82]];
        for piece in pieces {
            assert_eq!(reply.push(-1, piece, &mut sent), None);
        }
        reply.finish(StopReason::MaxTokens, &mut sent);
        assert_eq!(sent.answer, "Hi\n\u{FFFD}");
        // Cut inside its reasoning: the reasoning stays, nothing becomes answer.
        let mut reply = ReplyText::new(think_tags(true), &[]);
        let mut sent = Sent::default();
        reply.push(-1, b"still thinking <", &mut sent);
        reply.finish(StopReason::MaxTokens, &mut sent);
        assert_eq!((sent.reasoning.as_str(), sent.answer.as_str()), ("still thinking <", ""));
    }

    #[test]
    fn stop_strings_are_held_back_and_cut() {
        let stops = ["\nUser:"];
        let mut m = StopMatcher::default();
        assert_eq!(m.push("Hello", &stops), ("Hello".into(), false));
        assert_eq!(m.push(" there\nUs", &stops), (" there".into(), false));
        assert_eq!(m.push("er: more", &stops), (String::new(), true));
        let mut m = StopMatcher::default();
        assert_eq!(m.push("a\nUs", &stops), ("a".into(), false));
        assert_eq!(m.push("ually", &stops), ("\nUsually".into(), false));
        assert_eq!(m.finish(), "");
    }

    #[test]
    fn flash_attention_is_off_on_the_cpu_unless_asked() {
        assert_eq!(flash_attention_policy(None, false), 0);
        assert_eq!(flash_attention_policy(None, true), -1);
        assert_eq!(flash_attention_policy(Some(true), false), 1);
        assert_eq!(flash_attention_policy(Some(false), true), 0);
    }

    #[test]
    fn no_stops_pass_through() {
        let mut m = StopMatcher::default();
        assert_eq!(m.push("\nUser:", &[]), ("\nUser:".into(), false));
    }

    #[test]
    fn missing_file_is_named() {
        let err = check_model_file(Path::new("/nonexistent/m.gguf")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/m.gguf"));
        assert!(matches!(err, EngineError::ModelNotFound { .. }));
    }
}
