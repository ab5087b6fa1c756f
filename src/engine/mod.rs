//! The engine: a language model behind a thread, driven by commands, reporting by events.
//!
//! The front ends (pipe mode, the TUI) never touch llama.cpp. They hold an [`EngineHandle`],
//! send it turns, and read [`EngineEvent`]s. Each turn has a [`TurnId`]; cancelling is
//! "cancel every turn up to this id", a monotonic floor, so a cancel can never be lost or hit a
//! later turn, and events of a superseded turn can be dropped by id.

pub mod constraint;
pub mod cpu_load;
pub mod fit;
pub mod llama;
pub mod message;
pub mod reasoning;
pub mod remote;
pub mod sampling;
mod sse;
pub mod template;
mod utf8;

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use message::{Message, Role};
pub use sampling::{SamplingParams, Speculate};
pub use template::Reasoning;

/// Identifies one generation request. Ids only grow.
pub type TurnId = u64;

/// Everything that can go wrong in the engine, in words a user can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The model file is missing, unreadable, or not a whole GGUF file.
    #[error(transparent)]
    ModelFile(#[from] crate::models::ModelFileError),
    #[error("llama.cpp could not load {}: {reason}", path.display())]
    LoadFailed { path: PathBuf, reason: String },
    #[error("could not create a context of {n_ctx} tokens: {reason}\n  Try a smaller context with --ctx N.")]
    ContextFailed { n_ctx: u32, reason: String },
    #[error("the prompt is {prompt_tokens} tokens but the context holds {n_ctx}.\n  Shorten the input, or raise the context with --ctx N (this model was trained on up to {n_ctx_train}).")]
    PromptTooLong { prompt_tokens: usize, n_ctx: usize, n_ctx_train: usize },
    #[error("chat template: {0}")]
    Template(String),
    #[error("llama.cpp failed while evaluating: {0}")]
    Decode(String),
    #[error("the engine stopped unexpectedly: {0}")]
    Crashed(String),
    /// llama.cpp could not start at all (no CPU backend for this CPU in a portable build).
    #[error("llama.cpp could not start: {0}")]
    Backend(String),
    #[error("this request needs a loaded model, but only its vocabulary was loaded")]
    VocabOnly,
    /// llama.cpp refused an output constraint's grammar, or the grammar allows no next token.
    #[error("{0}")]
    Grammar(String),
    /// Talking to a remote server failed.
    #[error(transparent)]
    Remote(#[from] remote::RemoteError),
}

/// Why a reply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model said it was done.
    EndOfText,
    /// `max_tokens` were generated.
    MaxTokens,
    /// The context window is full.
    ContextFull,
    /// A stop string of the prompt format appeared.
    StopString,
    /// The turn was cancelled.
    Cancelled,
}

/// Figures about one turn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TurnStats {
    /// Tokens in the whole rendered prompt.
    pub prompt_tokens: usize,
    /// Earlier messages left out because the conversation no longer fits in the context.
    pub dropped_messages: usize,
    /// Of those, tokens whose KV cache was reused from the previous turn.
    pub reused_tokens: usize,
    /// Of the reused tokens, those whose cache was moved to earlier positions because turns
    /// before them left the context (context shifting).
    pub shifted_tokens: usize,
    /// Of those, tokens evaluated for this turn.
    pub evaluated_tokens: usize,
    /// Tokens generated (the end-of-text token not counted).
    pub generated_tokens: usize,
    /// From receiving the request to the first generated token.
    pub time_to_first_token: Duration,
    /// Time spent evaluating the prompt.
    pub prompt_time: Duration,
    /// Time spent generating after the first token.
    pub generation_time: Duration,
    /// llama.cpp's own measure of its token-by-token decoding this turn: (tokens, time).
    /// Against `generation_tps` it shows what ember adds per token.
    pub llama_eval: Option<(usize, Duration)>,
    /// The dropped messages were replaced by a summary (`context_policy = "summarize"`).
    pub summarized: bool,
    /// Of the generated tokens, those of the reasoning (thinking) before the answer.
    pub reasoning_tokens: usize,
    /// From the first reasoning token to the first answer token (or the end, when the answer
    /// never began).
    pub reasoning_time: Duration,
    /// An output constraint's part, when the turn had one: tokens chosen within its grammar,
    /// and the time choosing them took (ember's sampler and the grammar together).
    pub grammar: Option<(usize, Duration)>,
    /// Speculative decoding, when the turn used it: tokens drafted, of those accepted, and the
    /// decodes generation took (each gives one token more than it accepts).
    pub speculation: Option<(usize, usize, usize)>,
}

impl TurnStats {
    /// Prompt evaluation speed, tokens per second.
    pub fn prompt_tps(&self) -> Option<f64> {
        rate(self.evaluated_tokens, self.prompt_time)
    }
    /// Generation speed, tokens per second.
    pub fn generation_tps(&self) -> Option<f64> {
        rate(self.generated_tokens, self.generation_time)
    }
    /// Of the drafted tokens, the share accepted (0 to 1), when the turn speculated and drafted.
    pub fn acceptance(&self) -> Option<f64> {
        self.speculation.filter(|&(drafted, _, _)| drafted > 0).map(|(d, a, _)| a as f64 / d as f64)
    }
    /// Generated tokens per decode, counting the prompt's last decode (which gives the first
    /// token): 1 without speculation, more the more drafts were accepted.
    pub fn tokens_per_decode(&self) -> Option<f64> {
        self.speculation.map(|(_, _, decodes)| self.generated_tokens as f64 / (decodes + 1) as f64)
    }
    /// llama.cpp's decoding speed alone, tokens per second.
    pub fn llama_eval_tps(&self) -> Option<f64> {
        self.llama_eval.and_then(|(n, d)| rate(n, d))
    }
}

fn rate(n: usize, d: Duration) -> Option<f64> {
    (n > 0 && !d.is_zero()).then(|| n as f64 / d.as_secs_f64())
}

/// One generation request: the whole conversation so far, to be answered by the assistant.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnRequest {
    pub turn: TurnId,
    pub messages: Vec<Message>,
    pub sampling: SamplingParams,
}

/// What a loaded model is, for display.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub name: String,
    pub n_ctx: usize,
    pub n_ctx_train: usize,
    pub threads: usize,
    pub gpu_layers: u32,
    /// How prompts are formatted: "the model's template", "llama.cpp template chatml", ...
    pub prompt_format: String,
    /// Compute devices llama.cpp found, e.g. "CPU", "CUDA0 (NVIDIA H200)".
    pub devices: Vec<String>,
    /// Something the user should know about the model (e.g. it has no chat template).
    pub notice: Option<String>,
    /// How the model's reasoning is told apart from its answer ("none", "<think> tags",
    /// "harmony channels", ...), from its template and vocabulary.
    pub reasoning_format: String,
    /// Whether the template reads a reasoning setting (`enable_thinking`, `reasoning_effort`):
    /// without one, `--reasoning` changes nothing, and the user is told so.
    pub reasoning_switch: bool,
}

/// Events from the engine thread.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// Model loading progress, 0.0 to 1.0.
    Loading { progress: f32 },
    /// The model is loaded and the engine takes turns.
    Ready(ModelInfo),
    /// The model could not be loaded; the engine has stopped.
    LoadFailed(EngineError),
    /// More of the reply's answer.
    Delta { turn: TurnId, text: String },
    /// More of the reply's reasoning (a reasoning model's thinking, or a message to a tool):
    /// never part of the answer.
    Reasoning { turn: TurnId, text: String },
    /// How far the prompt's evaluation has got: `done` of `total` tokens to evaluate (those
    /// reused from the cache not counted), `context` tokens now in the context. A long prompt
    /// reports before its first batch and after each; a short one once, when it is evaluated.
    Progress { turn: TurnId, done: usize, total: usize, context: usize },
    /// The reply is complete.
    Done { turn: TurnId, stats: TurnStats, stop: StopReason },
    /// The turn failed; the engine takes further turns.
    Failed { turn: TurnId, error: EngineError },
    /// A KV-state file was saved (bytes) or loaded (tokens now cached), or that failed; or a
    /// message being typed was evaluated ahead (tokens evaluated).
    State { op: StateOp, result: Result<usize, String> },
    /// The tokens of what [`Command::Count`] `id` asked about, as this model counts them.
    Counted { id: u64, tokens: Result<usize, String> },
}

/// What [`Command::Count`] counts.
#[derive(Debug, Clone, PartialEq)]
pub enum Countable {
    /// Text as it goes inside a message (an attachment's block): no template around it.
    Text(String),
    /// A conversation's whole prompt, template included: how much of the context it takes.
    Prompt(Vec<Message>),
}

/// What a state command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateOp {
    Save,
    Load,
    Prefill,
}

impl EngineEvent {
    /// The turn an event belongs to, if any.
    pub fn turn(&self) -> Option<TurnId> {
        match self {
            EngineEvent::Loading { .. }
            | EngineEvent::Ready(_)
            | EngineEvent::LoadFailed(_)
            | EngineEvent::State { .. }
            | EngineEvent::Counted { .. } => None,
            EngineEvent::Delta { turn, .. }
            | EngineEvent::Progress { turn, .. }
            | EngineEvent::Reasoning { turn, .. }
            | EngineEvent::Done { turn, .. }
            | EngineEvent::Failed { turn, .. } => Some(*turn),
        }
    }
}

/// Commands to the engine thread.
#[derive(Debug)]
pub enum Command {
    Generate(TurnRequest),
    /// Save the evaluated context (KV cache and its tokens) to a file, for an instant resume.
    SaveState(PathBuf),
    /// Load a saved context; the next turn reuses whatever prefix of it still matches.
    LoadState(PathBuf),
    /// Evaluate ahead the conversation with the message being typed, so the turn that sends it
    /// finds most of its prompt in the cache. Gives way to any command sent after it (`u64`:
    /// its place in the order of commands).
    Prefill(TurnRequest, u64),
    /// Count the tokens of a text or a prompt with this model's tokenizer (`u64`: the asker's
    /// id, echoed in [`EngineEvent::Counted`]).
    Count(u64, Countable),
    Shutdown,
}

/// Where a backend sends the reply as it is generated.
pub trait TurnSink {
    /// More of the answer. `Break` stops the turn.
    fn text(&mut self, text: &str) -> ControlFlow<()>;
    /// More of the reasoning (never part of the answer). Ignored unless a sink wants it.
    fn reasoning(&mut self, _text: &str) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    /// How far the prompt's evaluation has got: `done` of `total` tokens to evaluate, `context`
    /// in the context now. Ignored unless a sink wants it.
    fn progress(&mut self, _done: usize, _total: usize, _context: usize) {}
    /// Has this turn been cancelled? Checked before each evaluation step.
    fn cancelled(&self) -> bool;
}

/// The seam every backend implements. It runs on the engine thread.
pub trait Backend {
    /// Answers the conversation in `turn`, streaming the reply into `sink`.
    fn generate(&mut self, turn: &TurnRequest, sink: &mut dyn TurnSink)
        -> Result<(TurnStats, StopReason), EngineError>;
    /// Saves the evaluated context to `path`; returns the bytes written.
    fn save_state(&mut self, path: &std::path::Path) -> Result<usize, String>;
    /// Loads a saved context from `path`; returns the tokens now cached.
    fn load_state(&mut self, path: &std::path::Path) -> Result<usize, String>;
    /// Evaluates most of `turn`'s prompt ahead of the turn, stopping when `sink` says it is
    /// cancelled; returns the tokens evaluated. Backends without a cache of their own do nothing.
    fn prefill(&mut self, _turn: &TurnRequest, _sink: &mut dyn TurnSink) -> Result<usize, EngineError> {
        Ok(0)
    }
    /// The tokens `what` takes, counted as exactly as this backend can.
    fn count(&mut self, _what: &Countable) -> Result<usize, String> {
        Err("this engine cannot count tokens".into())
    }
}

/// The cancel floor shared by the handle and the thread: every turn <= floor is cancelled.
/// It also counts the commands sent, so a prefill can give way to whatever follows it.
#[derive(Debug, Default)]
pub struct CancelFloor {
    floor: AtomicU64,
    sent: AtomicU64,
    /// The thread has its model and serves commands (a cancel now reaches it within a step).
    serving: std::sync::atomic::AtomicBool,
}

impl CancelFloor {
    /// Counts one more command sent; returns its number.
    fn sent(&self) -> u64 {
        self.sent.fetch_add(1, Ordering::SeqCst) + 1
    }
    /// The number of the last command sent.
    fn last_sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
    fn mark_serving(&self) {
        self.serving.store(true, Ordering::SeqCst);
    }
    fn is_serving(&self) -> bool {
        self.serving.load(Ordering::SeqCst)
    }
    pub fn cancel_through(&self, turn: TurnId) {
        self.floor.fetch_max(turn, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self, turn: TurnId) -> bool {
        turn <= self.floor.load(Ordering::SeqCst)
    }
}

/// A sink that forwards text as events and reads the cancel floor.
pub(crate) struct ChannelSink<'a> {
    pub turn: TurnId,
    pub events: &'a tokio::sync::mpsc::UnboundedSender<EngineEvent>,
    pub cancel: &'a CancelFloor,
}

impl ChannelSink<'_> {
    fn send(&mut self, event: EngineEvent) -> ControlFlow<()> {
        if self.cancelled() {
            return ControlFlow::Break(());
        }
        match self.events.send(event) {
            Ok(()) => ControlFlow::Continue(()),
            // Nobody is listening any more: stop generating.
            Err(_) => ControlFlow::Break(()),
        }
    }
}

impl TurnSink for ChannelSink<'_> {
    fn text(&mut self, text: &str) -> ControlFlow<()> {
        self.send(EngineEvent::Delta { turn: self.turn, text: text.to_string() })
    }
    fn reasoning(&mut self, text: &str) -> ControlFlow<()> {
        self.send(EngineEvent::Reasoning { turn: self.turn, text: text.to_string() })
    }
    fn progress(&mut self, done: usize, total: usize, context: usize) {
        let _ = self.send(EngineEvent::Progress { turn: self.turn, done, total, context });
    }
    fn cancelled(&self) -> bool {
        self.cancel.is_cancelled(self.turn) || self.events.is_closed()
    }
}

/// A prefill's sink: cancelled as soon as another command has been sent.
struct PrefillSink<'a> {
    cancel: &'a CancelFloor,
    seq: u64,
}

impl TurnSink for PrefillSink<'_> {
    fn text(&mut self, _text: &str) -> ControlFlow<()> {
        ControlFlow::Break(())
    }
    fn cancelled(&self) -> bool {
        self.cancel.last_sent() != self.seq
    }
}

/// Serves commands with `backend` until shutdown. Shared by every backend's thread.
pub(crate) fn serve(
    backend: &mut dyn Backend,
    commands: &std::sync::mpsc::Receiver<Command>,
    events: &tokio::sync::mpsc::UnboundedSender<EngineEvent>,
    cancel: &CancelFloor,
) {
    cancel.mark_serving();
    while let Ok(command) = commands.recv() {
        let event = match command {
            Command::Shutdown => return,
            Command::SaveState(path) => EngineEvent::State { op: StateOp::Save, result: backend.save_state(&path) },
            Command::LoadState(path) => EngineEvent::State { op: StateOp::Load, result: backend.load_state(&path) },
            Command::Prefill(_, seq) if cancel.last_sent() != seq => continue,
            Command::Count(id, what) => EngineEvent::Counted { id, tokens: backend.count(&what) },
            Command::Prefill(req, seq) => {
                let result = backend.prefill(&req, &mut PrefillSink { cancel, seq }).map_err(|e| e.to_string());
                EngineEvent::State { op: StateOp::Prefill, result }
            }
            Command::Generate(req) if cancel.is_cancelled(req.turn) => {
                EngineEvent::Done { turn: req.turn, stats: TurnStats::default(), stop: StopReason::Cancelled }
            }
            Command::Generate(req) => {
                let mut sink = ChannelSink { turn: req.turn, events, cancel };
                match backend.generate(&req, &mut sink) {
                    Ok((stats, stop)) => EngineEvent::Done { turn: req.turn, stats, stop },
                    Err(error) => EngineEvent::Failed { turn: req.turn, error },
                }
            }
        };
        if events.send(event).is_err() {
            return;
        }
    }
}

/// The front ends' handle on a running engine thread.
pub struct EngineHandle {
    commands: std::sync::mpsc::Sender<Command>,
    cancel: Arc<CancelFloor>,
    last_turn: TurnId,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EngineHandle {
    /// Starts the llama.cpp engine thread, which loads the model and then waits for turns.
    pub fn spawn_llama(
        options: llama::EngineOptions,
    ) -> (EngineHandle, tokio::sync::mpsc::UnboundedReceiver<EngineEvent>) {
        Self::spawn(move |commands, events, cancel| llama::run(options, commands, events, cancel))
    }

    /// Starts the remote engine thread, which reaches the server (no local model is loaded)
    /// and then waits for turns.
    pub fn spawn_remote(
        options: remote::RemoteOptions,
    ) -> (EngineHandle, tokio::sync::mpsc::UnboundedReceiver<EngineEvent>) {
        Self::spawn(move |commands, events, cancel| remote::run(options, commands, events, cancel))
    }

    /// Runs a backend's thread body; a panic in it becomes a `LoadFailed` event.
    fn spawn(
        body: impl FnOnce(
                &std::sync::mpsc::Receiver<Command>,
                &tokio::sync::mpsc::UnboundedSender<EngineEvent>,
                Arc<CancelFloor>,
            ) + Send
            + 'static,
    ) -> (EngineHandle, tokio::sync::mpsc::UnboundedReceiver<EngineEvent>) {
        let (commands, command_rx) = std::sync::mpsc::channel();
        let (event_tx, events) = tokio::sync::mpsc::unbounded_channel();
        let cancel = Arc::new(CancelFloor::default());
        let thread_cancel = Arc::clone(&cancel);
        let thread = std::thread::Builder::new().name("ember-engine".into()).spawn(move || {
            let crash_events = event_tx.clone();
            let run =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&command_rx, &event_tx, thread_cancel)));
            if let Err(panic) = run {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic in the engine thread".into());
                tracing::error!(%reason, "engine thread panicked");
                let _ = crash_events.send(EngineEvent::LoadFailed(EngineError::Crashed(reason)));
            }
        });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the engine thread");
                None
            }
        };
        (EngineHandle { commands, cancel, last_turn: 0, thread }, events)
    }

    /// A fresh turn id, larger than every earlier one.
    pub fn next_turn(&mut self) -> TurnId {
        self.last_turn += 1;
        self.last_turn
    }

    /// Asks for a reply. Events for it carry `req.turn`.
    pub fn generate(&self, req: TurnRequest) -> Result<(), EngineError> {
        self.send(Command::Generate(req))
    }

    /// Saves the evaluated context to `path` (answered by [`EngineEvent::State`]).
    pub fn save_state(&self, path: PathBuf) -> Result<(), EngineError> {
        self.send(Command::SaveState(path))
    }

    /// Loads a saved context from `path` (answered by [`EngineEvent::State`]).
    pub fn load_state(&self, path: PathBuf) -> Result<(), EngineError> {
        self.send(Command::LoadState(path))
    }

    /// Evaluates ahead the conversation in `req`, whose last message is still being typed
    /// (answered by [`EngineEvent::State`] with [`StateOp::Prefill`]). Any later command stops it.
    pub fn prefill(&self, req: TurnRequest) -> Result<(), EngineError> {
        let seq = self.cancel.sent();
        self.commands
            .send(Command::Prefill(req, seq))
            .map_err(|_| EngineError::Crashed("the engine thread has exited".into()))
    }

    /// Counts the tokens of `what` (answered by [`EngineEvent::Counted`] with `id`). It waits
    /// its turn behind a reply or a prefill being evaluated, and stops neither.
    pub fn count(&self, id: u64, what: Countable) -> Result<(), EngineError> {
        self.commands
            .send(Command::Count(id, what))
            .map_err(|_| EngineError::Crashed("the engine thread has exited".into()))
    }

    /// Cancels `turn` and every earlier one. The running turn stops within one token.
    pub fn cancel(&self, turn: TurnId) {
        self.cancel.cancel_through(turn);
    }

    fn send(&self, command: Command) -> Result<(), EngineError> {
        self.cancel.sent();
        self.commands.send(command).map_err(|_| EngineError::Crashed("the engine thread has exited".into()))
    }

    /// Stops the engine thread and waits for it (the current turn is cancelled first). A thread
    /// that serves commands stops within one evaluation step, and is waited for (llama.cpp must
    /// not be torn down under a running decode). One still loading its model is waited for at
    /// most [`SHUTDOWN_WAIT`]: blocked where no cancel reaches it (a model file that is a FIFO,
    /// a stalled network filesystem), it is left behind rather than hanging the quit.
    pub fn shutdown(&mut self) {
        self.cancel.cancel_through(TurnId::MAX);
        self.cancel.sent();
        let _ = self.commands.send(Command::Shutdown);
        if let Some(thread) = self.thread.take() {
            let started = std::time::Instant::now();
            while !thread.is_finished() && !self.cancel.is_serving() && started.elapsed() < SHUTDOWN_WAIT {
                std::thread::sleep(Duration::from_millis(5));
            }
            if thread.is_finished() || self.cancel.is_serving() {
                let _ = thread.join();
            } else {
                tracing::warn!("the engine thread is still loading its model (blocked?); leaving it");
            }
        }
    }
}

/// How long quitting waits for an engine thread that is still loading its model (llama.cpp's
/// load checks for the abort often; opening the file may block where nothing can interrupt it).
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_floor_is_monotonic() {
        let floor = CancelFloor::default();
        assert!(!floor.is_cancelled(1));
        floor.cancel_through(5);
        floor.cancel_through(3);
        assert!(floor.is_cancelled(5));
        assert!(floor.is_cancelled(4));
        assert!(!floor.is_cancelled(6), "a later turn is never hit by an earlier cancel");
    }

    #[test]
    fn rates_need_time_and_tokens() {
        let stats = TurnStats {
            evaluated_tokens: 100,
            prompt_time: Duration::from_millis(500),
            generated_tokens: 10,
            generation_time: Duration::from_secs(1),
            ..TurnStats::default()
        };
        assert_eq!(stats.prompt_tps(), Some(200.0));
        assert_eq!(stats.generation_tps(), Some(10.0));
        assert_eq!(TurnStats::default().prompt_tps(), None);
    }

    #[test]
    fn speculation_figures() {
        // 40 tokens: the prompt's decode gave the first, 15 decodes the rest (24 accepted).
        let stats = TurnStats { generated_tokens: 40, speculation: Some((30, 24, 15)), ..TurnStats::default() };
        assert_eq!(stats.acceptance(), Some(0.8));
        assert_eq!(stats.tokens_per_decode(), Some(2.5));
        // Nothing drafted: no rate; one token per decode.
        let plain = TurnStats { generated_tokens: 40, speculation: Some((0, 0, 39)), ..TurnStats::default() };
        assert_eq!((plain.acceptance(), plain.tokens_per_decode()), (None, Some(1.0)));
        assert_eq!(TurnStats::default().tokens_per_decode(), None);
    }
}
