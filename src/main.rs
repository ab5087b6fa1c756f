//! The `ember` binary: parse the command line, choose a front end, map errors to exit codes.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use clap::Parser;

use ember::cli::Cli;
use ember::config::Paths;
use ember::engine::llama::{self, EngineOptions, GpuLayers, TemplateChoice};
use ember::engine::remote::{self, RemoteOptions};
use ember::engine::{EngineHandle, SamplingParams, StopReason};
use ember::pipe::{self, AnswerPrinter, Attachment, OutputMode, PipeError};
use ember::render::sanitize;
use ember::store::recorder::{RecordOp, RecordStats, Recorder};
use ember::store::{kv, Conversation, MessageState, NewConversation, Store, StoredRole};

/// Exit status for an interrupted run (128 + SIGINT).
const EXIT_INTERRUPTED: u8 = 130;

/// The system prompt for `--code` when none is given: small models need to be told.
const CODE_SYSTEM: &str =
    "You write code. Answer with one fenced code block containing the complete code, and nothing else.";

/// Writes a message to stderr, sanitized: paths and model text may carry escape sequences.
fn say(prefix: &str, text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "ember: {prefix}{}", sanitize(text));
}

struct StderrNotices;

impl pipe::Notices for StderrNotices {
    fn notice(&mut self, text: &str) {
        say("note: ", text);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let paths = Paths::discover();
    ember::logging::init(&paths.log_file());
    tracing::debug!(?cli, "starting");
    if let Some(ember::cli::Command::History { action }) = &cli.command {
        return history(action, &paths);
    }
    if let Some(ember::cli::Command::Models) = &cli.command {
        return models(&cli);
    }
    match run(cli, &paths) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            say("error: ", &e.to_string());
            ExitCode::from(e.exit_code())
        }
    }
}

fn history(action: &ember::cli::HistoryAction, paths: &Paths) -> ExitCode {
    let result = Store::open(&paths.history_db()).map_err(ember::history::HistoryError::from).and_then(|store| {
        let stdout = std::io::stdout();
        let terminal = stdout.is_terminal();
        ember::history::run(&store, action, &mut stdout.lock(), terminal)
    });
    if let (Ok(()), ember::cli::HistoryAction::Rm { id }) = (&result, action) {
        kv::remove_for(&paths.kv_dir(), *id);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(ember::history::HistoryError::Write(e)) if e.contains("Broken pipe") => ExitCode::SUCCESS,
        Err(e) => {
            say("error: ", &e.to_string());
            ExitCode::from(1)
        }
    }
}

/// The server to chat with instead of a local model (`--endpoint`), if any.
fn remote_options(cli: &Cli) -> Option<RemoteOptions> {
    let base = cli.endpoint.as_deref().map(str::trim).filter(|e| !e.is_empty())?;
    let mut options = RemoteOptions::new(base);
    options.model = cli.model.clone();
    options.api_key_env = cli.api_key_env.clone();
    options.ctx_size = cli.ctx;
    Some(options)
}

/// Starts the engine: the server's when `remote` is set (no local model is loaded), else llama.cpp.
fn spawn_engine(
    options: EngineOptions,
    remote: Option<RemoteOptions>,
) -> (EngineHandle, tokio::sync::mpsc::UnboundedReceiver<ember::engine::EngineEvent>) {
    match remote {
        Some(remote) => EngineHandle::spawn_remote(remote),
        None => EngineHandle::spawn_llama(options),
    }
}

/// The model's name for history: the server's model, or the local file's name.
fn model_label(options: &EngineOptions, remote: Option<&RemoteOptions>) -> String {
    remote.map_or_else(|| ember::models::display_name(&options.model_path), RemoteOptions::label)
}

/// `ember models --endpoint URL`: the server's models, one a line (id, then its context size).
fn models(cli: &Cli) -> ExitCode {
    let Some(options) = remote_options(cli) else {
        say("error: ", "`ember models` lists a server's models: give --endpoint URL (or set EMBER_ENDPOINT)");
        return ExitCode::from(2);
    };
    let list = match remote::list_models(&options) {
        Ok(list) => list,
        Err(e) => {
            say("error: ", &e.to_string());
            return ExitCode::from(1);
        }
    };
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let mut out = stdout.lock();
    for model in list {
        let line = match (model.n_ctx, model.n_ctx_train) {
            (Some(n), _) => format!("{}\tctx {n}\n", remote::short_name(&model.id)),
            (None, Some(n)) => format!("{}\ttrained on {n}\n", remote::short_name(&model.id)),
            (None, None) => format!("{}\n", remote::short_name(&model.id)),
        };
        let shown = if terminal { sanitize(&line) } else { line.as_str().into() };
        if out.write_all(shown.as_bytes()).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}

fn cwd() -> String {
    std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default()
}

/// The stored conversation `-c` or `--session` asks to continue.
fn conversation_to_continue(cli: &Cli, store: &Store) -> Result<Option<Conversation>, PipeError> {
    let id = match (cli.session, cli.continue_last) {
        (Some(id), _) => Some(id),
        (None, true) => {
            Some(store.latest_in(&cwd()).map_err(|e| PipeError::Input(e.to_string()))?.ok_or_else(|| {
                PipeError::Usage("no saved conversation started in this directory to continue".into())
            })?)
        }
        (None, false) => None,
    };
    id.map(|id| store.load(id).map_err(|e| PipeError::Input(e.to_string()))).transpose()
}

/// Opens the history database, or says why history is off (never fatal: the chat goes on).
fn open_history(cli: &Cli, paths: &Paths) -> Result<Option<Store>, PipeError> {
    if cli.no_history {
        if cli.continue_last || cli.session.is_some() {
            return Err(PipeError::Usage("--no-history cannot continue a saved conversation".into()));
        }
        return Ok(None);
    }
    match Store::open(&paths.history_db()) {
        Ok(store) => Ok(Some(store)),
        Err(e) if cli.continue_last || cli.session.is_some() => Err(PipeError::Input(e.to_string())),
        Err(e) => {
            say(
                "warning: ",
                &format!(
                    "{e}
  This conversation will not be saved."
                ),
            );
            Ok(None)
        }
    }
}

fn engine_options(cli: &Cli, paths: &Paths) -> EngineOptions {
    let mut options = EngineOptions::new(ember::models::resolve(cli.model.as_deref(), &paths.models_dir));
    options.n_ctx = cli.ctx;
    options.threads = cli.threads.map(usize::from);
    options.gpu_layers = cli.gpu_layers.unwrap_or(GpuLayers::Auto);
    options.flash_attention = cli.flash_attn.0;
    options.template = match (&cli.template, &cli.template_file) {
        (Some(name), _) => TemplateChoice::Builtin(name.clone()),
        (None, Some(path)) => TemplateChoice::File(path.clone()),
        (None, None) => TemplateChoice::Model,
    };
    options
}

fn sampling(cli: &Cli) -> SamplingParams {
    let defaults = SamplingParams::default();
    SamplingParams {
        temperature: cli.temperature,
        top_k: cli.top_k,
        top_p: cli.top_p,
        min_p: cli.min_p,
        repeat_penalty: cli.repeat_penalty,
        seed: cli.seed.unwrap_or_else(|| {
            // No seed asked for: a different answer each run, as users expect from sampling.
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos() ^ d.as_secs() as u32)
                .unwrap_or(defaults.seed)
        }),
        max_tokens: cli.max_tokens.max(1),
        ..defaults
    }
}

/// Gathers piped stdin and `--file`s. stdin is read only when it is not a terminal, so ember
/// never waits on a terminal.
fn attachments(cli: &Cli) -> Result<Vec<Attachment>, PipeError> {
    let mut out = Vec::new();
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut bytes = Vec::new();
        stdin.lock().read_to_end(&mut bytes).map_err(|e| PipeError::Input(format!("cannot read stdin: {e}")))?;
        if !bytes.is_empty() {
            let (attachment, warning) = pipe::decode_input("stdin", bytes)?;
            if let Some(w) = warning {
                say("warning: ", &w);
            }
            out.push(attachment);
        }
    }
    for path in &cli.files {
        let (attachment, warning) = pipe::read_file(path)?;
        if let Some(w) = warning {
            say("warning: ", &w);
        }
        out.push(attachment);
    }
    Ok(out)
}

fn color_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The full-screen chat.
fn run_tui(cli: &Cli, paths: &Paths) -> Result<u8, PipeError> {
    // One thread is plenty for the UI, and leaves the cores to llama.cpp.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PipeError::Input(format!("cannot start the async runtime: {e}")))?;
    let engine = engine_options(cli, paths);
    let remote = remote_options(cli);
    let store = open_history(cli, paths)?;
    let resume = match &store {
        Some(store) => conversation_to_continue(cli, store)?,
        None => None,
    };
    // The recorder thread opens its own connection.
    drop(store);
    let history = (!cli.no_history).then(|| ember::tui::HistorySetup {
        path: paths.history_db(),
        kv_dir: paths.kv_dir(),
        new: NewConversation {
            model: model_label(&engine, remote.as_ref()),
            system_prompt: cli.system.clone(),
            cwd: cwd(),
        },
        resume,
    });
    let options = ember::tui::TuiOptions {
        engine,
        remote,
        sampling: sampling(cli),
        system_prompt: cli.system.clone(),
        color: color_wanted(),
        history,
    };
    match runtime.block_on(ember::tui::run(options)) {
        Ok(ember::tui::Exit::Quit) => Ok(0),
        Ok(ember::tui::Exit::Signal(n)) => Ok(128 + n as u8),
        Err(e) => Err(PipeError::Input(e.to_string())),
    }
}

fn run(cli: Cli, paths: &Paths) -> Result<u8, PipeError> {
    let stdout_tty = std::io::stdout().is_terminal();
    let stdin_tty = std::io::stdin().is_terminal();
    let prompt = cli.prompt_text();
    let interactive =
        stdin_tty && stdout_tty && prompt.is_none() && !cli.print && cli.files.is_empty() && !cli.print_prompt;
    if interactive {
        return run_tui(&cli, paths);
    }
    let attachments = attachments(&cli)?;
    if prompt.is_none() && attachments.is_empty() {
        return Err(PipeError::Usage(
            "nothing to answer: give a prompt, --file PATH, or input on stdin (see ember --help)".into(),
        ));
    }
    // --print-prompt saves nothing, but shows a continued conversation's earlier turns.
    let continuing = cli.continue_last || cli.session.is_some();
    let store = if cli.print_prompt && !continuing { None } else { open_history(&cli, paths)? };
    let resume = match &store {
        Some(store) => conversation_to_continue(&cli, store)?,
        None => None,
    };
    let system = cli
        .system
        .clone()
        .or_else(|| resume.as_ref().and_then(|c| c.system_prompt.clone()))
        .or_else(|| cli.code.then(|| CODE_SYSTEM.to_string()));
    let user = pipe::user_message(prompt.as_deref(), &attachments);
    let mut messages = pipe::messages(system.as_deref(), user.clone());
    if let Some(conversation) = &resume {
        // Earlier turns go between the system prompt and the new question.
        let at = usize::from(system.is_some());
        let earlier = conversation.messages.iter().filter(|m| m.role != StoredRole::System).map(|m| {
            let role =
                if m.role == StoredRole::User { ember::engine::Role::User } else { ember::engine::Role::Assistant };
            ember::engine::Message::new(role, m.content.clone())
        });
        messages.splice(at..at, earlier);
    }
    let options = engine_options(&cli, paths);
    let remote = remote_options(&cli);
    let mut recorder = store.map(|store| {
        let new = NewConversation {
            model: model_label(&options, remote.as_ref()),
            system_prompt: system.clone(),
            cwd: cwd(),
        };
        let resume = resume.as_ref().map(|c| (c.summary.id, c.messages.iter().map(|m| m.id).collect::<Vec<_>>()));
        Recorder::new(store, new, resume)
    });
    /// Saves a message; a failure turns history off with a warning, never stops the answer.
    fn record(
        recorder: &mut Option<Recorder>,
        role: StoredRole,
        content: &str,
        state: MessageState,
        stats: Option<RecordStats>,
    ) {
        if let Some(r) = recorder.as_mut() {
            let keep = r.branch_len();
            if let Err(e) = r.apply(RecordOp::Append { keep, role, content: content.to_string(), state, stats }) {
                say("warning: ", &format!("{e}; this conversation is not saved"));
                *recorder = None;
            }
        }
    }
    let kv_dir = paths.kv_dir();
    let model_path = options.model_path.clone();
    let resumed_id = resume.as_ref().map(|c| c.summary.id);

    if let (true, Some(remote)) = (cli.print_prompt, &remote) {
        // The server formats the prompt: show the exact request instead (it holds no key).
        let body = remote::request_body(&remote.label(), &messages, &sampling(&cli), false);
        let text = serde_json::to_string_pretty(&body).unwrap_or_default() + "\n";
        let shown = if stdout_tty { sanitize(&text) } else { text.as_str().into() };
        std::io::stdout().lock().write_all(shown.as_bytes()).map_err(PipeError::Output)?;
        return Ok(0);
    }
    if cli.print_prompt {
        let (text, tokens, notice) = llama::print_prompt(&options, &messages)?;
        if let Some(notice) = notice {
            say("note: ", &notice);
        }
        let mut out = std::io::stdout().lock();
        let shown = if stdout_tty { sanitize(&text) } else { text.as_str().into() };
        out.write_all(shown.as_bytes()).map_err(PipeError::Output)?;
        out.flush().map_err(PipeError::Output)?;
        if cli.stats {
            say("", &format!("{tokens} prompt tokens"));
        }
        return Ok(0);
    }

    let mode = match (cli.code, stdout_tty) {
        (true, terminal) => OutputMode::CodeOnly { terminal },
        (false, true) => OutputMode::Terminal { color: color_wanted() },
        (false, false) => OutputMode::Raw,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PipeError::Input(format!("cannot start the async runtime: {e}")))?;
    let sampling = sampling(&cli);
    runtime.block_on(async move {
        let (mut engine, mut events) = spawn_engine(options, remote);
        if let Some(id) = resumed_id {
            // The saved context of the conversation, if any: the answer then starts at once.
            let path = kv::state_path(&kv_dir, id, &model_path);
            if path.exists() {
                kv::touch(&path);
                let _ = engine.load_state(path);
            }
        }
        let mut printer = AnswerPrinter::new(std::io::stdout(), mode);
        let interrupt = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            // A second Ctrl-C quits at once.
            tokio::spawn(async {
                let _ = tokio::signal::ctrl_c().await;
                let _ = std::io::stdout().flush();
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            });
        };
        let outcome =
            pipe::answer(&mut engine, &mut events, messages, sampling, &mut printer, &mut StderrNotices, interrupt)
                .await?;
        let state =
            if outcome.interrupted || outcome.broken_pipe { MessageState::Stopped } else { MessageState::Complete };
        let stats = RecordStats::from(&outcome.stats);
        if !outcome.started {
            // Interrupted while the model loaded: nothing was asked, nothing to keep.
            return Ok(EXIT_INTERRUPTED);
        }
        // Saved once answered: a question the engine refused (too long) leaves no trace.
        record(&mut recorder, StoredRole::User, &user, MessageState::Complete, None);
        record(&mut recorder, StoredRole::Assistant, printer.answer(), state, Some(stats));
        if let Some(id) = recorder.as_ref().and_then(Recorder::conversation) {
            // Keep the evaluated context for the next `-c`.
            if engine.save_state(kv::state_path(&kv_dir, id, &model_path)).is_ok() {
                if let Some(Err(e)) = pipe::wait_state(&mut events, std::time::Duration::from_secs(30)).await {
                    tracing::warn!(error = %e, "saving the context failed");
                }
                kv::prune(&kv_dir, kv::DEFAULT_CAP_BYTES);
            }
        }
        if outcome.stats.dropped_messages > 0 {
            say(
                "note: ",
                &format!(
                    "the conversation is longer than the context: its {} earliest messages were left out",
                    outcome.stats.dropped_messages
                ),
            );
        }
        if outcome.no_code {
            say("warning: ", "the answer had no fenced code block; printed it whole");
        }
        if cli.stats {
            say("", &pipe::stats_line(&outcome.stats));
        }
        match outcome.stop {
            StopReason::MaxTokens => say("note: ", &format!("the answer was cut at --max-tokens {}", cli.max_tokens)),
            StopReason::ContextFull => say("note: ", "the answer was cut: the context is full (raise it with --ctx N)"),
            StopReason::EndOfText | StopReason::StopString | StopReason::Cancelled => {}
        }
        Ok(if outcome.interrupted { EXIT_INTERRUPTED } else { 0 })
    })
}
