//! The `ember` binary: parse the command line, choose a front end, map errors to exit codes.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use ember::cli::{Cli, Command};
use ember::config::file::ContextPolicy;
use ember::config::{Effective, Paths, Settings};
use ember::engine::llama::{self, EngineOptions, TemplateChoice};
use ember::engine::remote::{self, RemoteOptions};
use ember::engine::{EngineHandle, SamplingParams, StopReason};
use ember::models::{self, discover::Roots};
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

/// Pipe mode's notices go to stderr; the question is saved once the answer begins; the
/// model's reasoning goes to stderr (dim on a terminal) or nowhere, never to stdout.
struct PipeNotices<'a> {
    recorder: &'a mut Option<Recorder>,
    question: &'a str,
    question_saved: bool,
    reasoning: ReasoningOut,
    /// The last reasoning shown did not end its line.
    reasoning_line_open: bool,
    /// The reasoning so far, saved with the answer.
    thought: String,
}

/// Where pipe mode shows the model's reasoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReasoningOut {
    Hidden,
    /// On stderr: a terminal (sanitized, `dim` when colours are wanted), or raw to a file.
    Stderr {
        terminal: bool,
        dim: bool,
    },
}

impl ReasoningOut {
    /// On a terminal the reasoning is shown unless hidden; piped, only when asked for.
    fn choose(cli: &Cli, stdout_tty: bool) -> Self {
        let show = !cli.hide_reasoning && (cli.show_reasoning || stdout_tty);
        let terminal = std::io::stderr().is_terminal();
        if show {
            ReasoningOut::Stderr { terminal, dim: terminal && color_wanted() }
        } else {
            ReasoningOut::Hidden
        }
    }
}

impl pipe::Notices for PipeNotices<'_> {
    fn notice(&mut self, text: &str) {
        self.end_reasoning();
        say("note: ", text);
    }

    fn output_began(&mut self, model: Option<&str>) {
        self.save_question(model);
    }

    fn answer_began(&mut self) {
        self.end_reasoning();
    }

    fn reasoning(&mut self, text: &str) {
        self.thought.push_str(text);
        let ReasoningOut::Stderr { terminal, dim } = self.reasoning else { return };
        let shown = if terminal { sanitize(text) } else { text.into() };
        let mut err = std::io::stderr().lock();
        let _ = if dim { write!(err, "\x1b[2m{shown}\x1b[0m") } else { write!(err, "{shown}") };
        let _ = err.flush();
        self.reasoning_line_open = !text.ends_with('\n');
    }
}

impl PipeNotices<'_> {
    fn new<'a>(recorder: &'a mut Option<Recorder>, question: &'a str, reasoning: ReasoningOut) -> PipeNotices<'a> {
        PipeNotices {
            recorder,
            question,
            question_saved: false,
            reasoning,
            reasoning_line_open: false,
            thought: String::new(),
        }
    }

    /// Ends the line the reasoning left open, so what follows on stderr starts on its own.
    fn end_reasoning(&mut self) {
        if std::mem::take(&mut self.reasoning_line_open) {
            let _ = writeln!(std::io::stderr().lock());
        }
    }

    /// Saves the question (once), the conversation labelled with the model that answers (a
    /// server's own name).
    fn save_question(&mut self, model: Option<&str>) {
        if self.question_saved {
            return;
        }
        self.question_saved = true;
        if let (Some(recorder), Some(model)) = (self.recorder.as_mut(), model) {
            let _ = recorder.apply(RecordOp::NameModel(model.to_string()));
        }
        record(self.recorder, StoredRole::User, self.question, MessageState::Complete, None, None);
    }
}

/// Saves a message; a failure turns history off with a warning, never stops the answer.
fn record(
    recorder: &mut Option<Recorder>,
    role: StoredRole,
    content: &str,
    state: MessageState,
    stats: Option<RecordStats>,
    reasoning: Option<String>,
) {
    if let Some(r) = recorder.as_mut() {
        let keep = r.branch_len();
        if let Err(e) = r.apply(RecordOp::Append { keep, role, content: content.to_string(), state, stats, reasoning })
        {
            say("warning: ", &format!("{e}; this conversation is not saved"));
            *recorder = None;
        }
    }
}

/// Exits with clap's message for a command line it refused. When the bad value came from an
/// `EMBER_*` variable rather than the command line, says so: the user may not know it is set.
fn exit_usage(e: clap::Error) -> ! {
    use clap::error::{ContextKind, ContextValue};
    let from_env = match (e.get(ContextKind::InvalidArg), e.get(ContextKind::InvalidValue)) {
        (Some(ContextValue::String(arg)), Some(ContextValue::String(value))) => env_source(arg, value),
        _ => None,
    };
    let Some(var) = from_env else { e.exit() };
    let text = e.render().to_string();
    let (first, rest) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{first}\n  The value comes from the environment variable {var}: unset or fix it.\n{rest}");
    std::process::exit(2);
}

/// The environment variable an argument (as clap names it: "--ctx <N>") took `value` from,
/// when the command line does not give that argument.
fn env_source(arg: &str, value: &str) -> Option<String> {
    let long = arg.strip_prefix("--")?;
    let long = &long[..long.find(|c: char| !c.is_ascii_alphanumeric() && c != '-').unwrap_or(long.len())];
    let command = Cli::command();
    let spec = command.get_arguments().find(|a| a.get_long() == Some(long))?;
    let var = spec.get_env()?.to_string_lossy().into_owned();
    let on_command_line = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).any(|a| {
        a == format!("--{long}")
            || a.starts_with(&format!("--{long}="))
            || spec.get_short().is_some_and(|s| a.starts_with(&format!("-{s}")) && !a.starts_with("--"))
    });
    let set_to_it = std::env::var(&var).is_ok_and(|v| v == value);
    (set_to_it && !on_command_line).then_some(var)
}

fn main() -> ExitCode {
    let process_start = std::time::Instant::now();
    let matches = Cli::command().try_get_matches().unwrap_or_else(|e| exit_usage(e));
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let mut paths = Paths::discover();
    let config_path = cli.config.clone().unwrap_or_else(|| paths.config_file());
    // These work whatever state the config file is in: they are how one finds and fixes it.
    match &cli.command {
        Some(Command::Config { path: true, .. }) => return print_out(&format!("{}\n", config_path.display())),
        Some(Command::Config { default: true, .. }) => return print_out(ember::config::file::DEFAULT_CONFIG),
        Some(Command::Completions { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "ember", &mut out);
            return print_out(&String::from_utf8_lossy(&out));
        }
        Some(Command::Man) => {
            let mut out = Vec::new();
            if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut out) {
                say("error: ", &format!("cannot render the man page: {e}"));
                return ExitCode::from(1);
            }
            return print_out(&String::from_utf8_lossy(&out));
        }
        _ => {}
    }
    if cli.config.is_some() && !config_path.exists() {
        say("error: ", &format!("no config file at {} (given with --config or EMBER_CONFIG)", config_path.display()));
        return ExitCode::from(2);
    }
    let settings = match Settings::load(&config_path) {
        Ok(s) => s,
        Err(e) => {
            say("error: ", &e.to_string());
            return ExitCode::from(2);
        }
    };
    paths.use_models_dir(settings.models_dir.as_deref());
    let effective = match Effective::resolve(&cli, &matches, &settings, &config_path, &paths.roles_dir()) {
        Ok(e) => e,
        Err(e) => {
            say("error: ", &e.to_string());
            return ExitCode::from(2);
        }
    };
    ember::logging::init(&paths.log_file(), settings.log_level.as_deref());
    tracing::debug!(?cli, "starting");
    if let Some(theme) = &effective.theme {
        if let Err(e) = ember::render::highlight::set_theme(theme) {
            say("error: ", &e);
            return ExitCode::from(2);
        }
    }
    match &cli.command {
        Some(Command::History { action }) => return history(action, &paths),
        Some(Command::Roles) => {
            return match ember::info::roles(&paths.roles_dir(), std::io::stdout().is_terminal()) {
                Ok(text) => print_out(&text),
                Err(e) => {
                    say("error: ", &e.to_string());
                    ExitCode::from(2)
                }
            };
        }
        Some(Command::Config { .. }) => return print_out(&ember::info::config_report(&config_path, &effective)),
        Some(Command::Doctor) => {
            return match models::resolve(effective.model.as_deref(), &paths.models_dir) {
                Ok(model) => print_out(&ember::info::doctor(&paths, &config_path, &effective, &model)),
                Err(e) => {
                    say("error: ", &e.to_string());
                    ExitCode::from(1)
                }
            };
        }
        Some(Command::Models { json }) => {
            return match remote_options(&cli, &effective) {
                Some(options) => remote_models(&options),
                None => models::cmd::run_models(&Roots::from_env(&paths.models_dir), *json),
            };
        }
        Some(Command::Show { model, json }) => {
            let model = model.as_deref().or(effective.model.as_deref());
            return models::cmd::run_show(model, &Roots::from_env(&paths.models_dir), *json);
        }
        Some(Command::Pull { url, sha256, name }) => {
            return models::cmd::run_pull(url.as_deref(), sha256.as_deref(), name.as_deref(), &paths.models_dir)
        }
        Some(Command::Bench { prompt_tokens, gen_tokens, reps, no_conversation, json }) => {
            let bench = ember::bench::BenchOptions {
                prompt_tokens: *prompt_tokens,
                gen_tokens: *gen_tokens,
                reps: *reps as usize,
                conversation: !no_conversation,
            };
            let options = match engine_options(&cli, &effective, &paths, false) {
                Ok(o) => o,
                Err(e) => {
                    say("error: ", &e.to_string());
                    return ExitCode::from(e.exit_code());
                }
            };
            return match ember::bench::run(&options, &bench, process_start) {
                Ok(report) if *json => {
                    print_out(&format!("{}\n", serde_json::to_string_pretty(&report).unwrap_or_default()))
                }
                Ok(report) => print_out(&ember::bench::render(&report)),
                Err(e) => {
                    say("error: ", &e.to_string());
                    ExitCode::from(1)
                }
            };
        }
        Some(Command::Completions { .. } | Command::Man) | None => {}
    }
    match run(cli, &effective, &paths) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            say("error: ", &e.to_string());
            ExitCode::from(e.exit_code())
        }
    }
}

/// Prints a subcommand's text to stdout (sanitized where it is a terminal); a closed pipe is fine.
fn print_out(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let shown = if std::io::stdout().is_terminal() { sanitize(text) } else { text.into() };
    match out.write_all(shown.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            say("error: ", &format!("cannot write to stdout: {e}"));
            ExitCode::from(1)
        }
    }
}

fn history(action: &ember::cli::HistoryAction, paths: &Paths) -> ExitCode {
    let result = Store::open(&paths.history_db()).map_err(ember::store::cmd::CmdError::from).and_then(|store| {
        let stdout = std::io::stdout();
        let terminal = stdout.is_terminal();
        ember::store::cmd::run(&store, action, &mut stdout.lock(), terminal)
    });
    if let (Ok(()), ember::cli::HistoryAction::Rm { id }) = (&result, action) {
        kv::remove_for(&paths.kv_dir(), *id);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(ember::store::cmd::CmdError::Write(e)) if e.contains("Broken pipe") => ExitCode::SUCCESS,
        Err(e) => {
            say("error: ", &e.to_string());
            ExitCode::from(1)
        }
    }
}

/// The server to chat with instead of a local model (`--endpoint`), if any.
/// The server to use: `--endpoint` (or `EMBER_ENDPOINT`), else the config's `[remote]` section;
/// flags override the file's values.
fn remote_options(cli: &Cli, effective: &Effective) -> Option<RemoteOptions> {
    let file = &effective.remote;
    let base = cli.endpoint.as_deref().or(file.endpoint.as_deref()).map(str::trim).filter(|e| !e.is_empty())?;
    let mut options = RemoteOptions::new(base);
    options.model = cli.model.clone().or_else(|| file.model.clone());
    options.api_key_env = cli.api_key_env.clone().or_else(|| file.api_key_env.clone());
    options.ctx_size = cli.ctx.or(file.ctx);
    if let Some(secs) = file.connect_timeout {
        options.connect_timeout = std::time::Duration::from_secs(secs.max(1));
    }
    if let Some(secs) = file.read_timeout {
        options.read_timeout = std::time::Duration::from_secs(secs.max(1));
    }
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
fn remote_models(options: &RemoteOptions) -> ExitCode {
    let list = match remote::list_models(options) {
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
fn open_history(cli: &Cli, effective: &Effective, paths: &Paths) -> Result<Option<Store>, PipeError> {
    if !effective.history {
        if cli.continue_last || cli.session.is_some() {
            return Err(PipeError::Usage("history is off (--no-history, EMBER_NO_HISTORY or the config's `history = false`): there is no saved conversation to continue".into()));
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

/// The local engine's options. With a server (`remote`), `--model` names the server's model and
/// no local file is looked for.
fn engine_options(cli: &Cli, effective: &Effective, paths: &Paths, remote: bool) -> Result<EngineOptions, PipeError> {
    let path = if remote {
        std::path::PathBuf::from(effective.model.clone().unwrap_or_default())
    } else {
        models::resolve(effective.model.as_deref(), &paths.models_dir)?
    };
    let mut options = EngineOptions::new(path);
    options.n_ctx = effective.ctx;
    options.threads = effective.threads.map(usize::from);
    options.gpu_layers = effective.gpu_layers;
    options.flash_attention = effective.flash_attention;
    options.summarize_dropped = effective.context_policy == ContextPolicy::Summarize;
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
fn sampling(effective: &Effective) -> SamplingParams {
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
fn system_prompt(
    cli: &Cli,
    effective: &Effective,
    resumed: Option<&Conversation>,
) -> Result<Option<String>, PipeError> {
    let role = || {
        if effective.role.takes_input() {
            // The role shapes the user's message instead.
            return Ok(None);
        }
        effective.role.apply(&effective.vars, None).map(|a| a.system).map_err(|e| PipeError::Usage(e.to_string()))
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
fn run_tui(cli: &Cli, effective: &Effective, paths: &Paths) -> Result<u8, PipeError> {
    // One thread is plenty for the UI, and leaves the cores to llama.cpp.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PipeError::Input(format!("cannot start the async runtime: {e}")))?;
    let remote = remote_options(cli, effective);
    let engine = engine_options(cli, effective, paths, remote.is_some())?;
    let store = open_history(cli, effective, paths)?;
    let resume = match &store {
        Some(store) => conversation_to_continue(cli, store)?,
        None => None,
    };
    // The recorder thread opens its own connection.
    drop(store);
    if effective.role.takes_input() {
        return Err(PipeError::Usage(format!(
            "role {:?} is a template for one question ({{{{input}}}}): use it with a prompt or piped input",
            effective.role.name
        )));
    }
    let system = system_prompt(cli, effective, resume.as_ref())?;
    let history = effective.history.then(|| ember::tui::HistorySetup {
        path: paths.history_db(),
        kv_dir: paths.kv_dir(),
        new: NewConversation {
            model: model_label(&engine, remote.as_ref()),
            system_prompt: system.clone(),
            cwd: cwd(),
        },
        resume,
    });
    let roles = ember::roles::load_all(&paths.roles_dir()).map_err(|e| PipeError::Usage(e.to_string()))?;
    let options = ember::tui::TuiOptions {
        engine,
        remote,
        sampling: sampling(effective),
        system_prompt: system,
        roles: ember::tui::RoleSwitch {
            roles,
            current: effective.role.name.clone(),
            base: effective.base_sampling.clone(),
            flags: effective.flag_sampling.clone(),
            vars: effective.vars.clone(),
        },
        color: color_wanted(),
        history,
    };
    match runtime.block_on(ember::tui::run(options)) {
        Ok(ember::tui::Exit::Quit) => Ok(0),
        Ok(ember::tui::Exit::Signal(n)) => Ok(128 + n as u8),
        Err(e) => Err(PipeError::Input(e.to_string())),
    }
}

fn run(cli: Cli, effective: &Effective, paths: &Paths) -> Result<u8, PipeError> {
    let stdout_tty = std::io::stdout().is_terminal();
    let stdin_tty = std::io::stdin().is_terminal();
    let prompt = cli.prompt_text();
    let interactive =
        stdin_tty && stdout_tty && prompt.is_none() && !cli.print && cli.files.is_empty() && !cli.print_prompt;
    if interactive {
        return run_tui(&cli, effective, paths);
    }
    let attachments = attachments(&cli)?;
    if prompt.is_none() && attachments.is_empty() {
        return Err(PipeError::Usage(
            "nothing to answer: give a prompt, --file PATH, or input on stdin (see ember --help)".into(),
        ));
    }
    // --print-prompt saves nothing, but shows a continued conversation's earlier turns.
    let continuing = cli.continue_last || cli.session.is_some();
    let store = if cli.print_prompt && !continuing { None } else { open_history(&cli, effective, paths)? };
    let resume = match &store {
        Some(store) => conversation_to_continue(&cli, store)?,
        None => None,
    };
    let system = system_prompt(&cli, effective, resume.as_ref())?;
    let mut user = pipe::user_message(prompt.as_deref(), &attachments);
    if effective.role.takes_input() {
        let applied =
            effective.role.apply(&effective.vars, Some(&user)).map_err(|e| PipeError::Usage(e.to_string()))?;
        user = applied.user.unwrap_or(user);
    }
    let mut messages = pipe::messages(system.as_deref(), user.clone());
    if let Some(conversation) = &resume {
        // Earlier turns go between the system prompt and the new question.
        let at = usize::from(system.is_some());
        let earlier = conversation.messages.iter().filter(|m| m.role != StoredRole::System).map(|m| {
            let role =
                if m.role == StoredRole::User { ember::engine::Role::User } else { ember::engine::Role::Assistant };
            ember::engine::Message::new(role, m.content.clone()).with_reasoning(m.reasoning.clone()).with_pin(m.pinned)
        });
        messages.splice(at..at, earlier);
    }
    let remote = remote_options(&cli, effective);
    let options = engine_options(&cli, effective, paths, remote.is_some())?;
    let mut recorder = store.map(|store| {
        let new = NewConversation {
            model: model_label(&options, remote.as_ref()),
            system_prompt: system.clone(),
            cwd: cwd(),
        };
        let resume = resume.as_ref().map(|c| (c.summary.id, c.messages.iter().map(|m| m.id).collect::<Vec<_>>()));
        Recorder::new(store, new, resume)
    });
    let kv_dir = paths.kv_dir();
    let model_path = options.model_path.clone();
    let resumed_id = resume.as_ref().map(|c| c.summary.id);

    if let (true, Some(remote)) = (cli.print_prompt, &remote) {
        // The server formats the prompt: show the exact request instead (it holds no key).
        let answered = ember::engine::template::without_unanswered(&messages);
        let body = remote::request_body(&remote.label(), &answered, &sampling(effective), false);
        let text = serde_json::to_string_pretty(&body).unwrap_or_default() + "\n";
        let shown = if stdout_tty { sanitize(&text) } else { text.as_str().into() };
        std::io::stdout().lock().write_all(shown.as_bytes()).map_err(PipeError::Output)?;
        return Ok(0);
    }
    if cli.print_prompt {
        let (text, tokens, notice) = llama::print_prompt(&options, &messages, sampling(effective).reasoning)?;
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

    let reasoning_out = ReasoningOut::choose(&cli, stdout_tty);
    let mode = match (cli.code, stdout_tty) {
        (true, terminal) => OutputMode::CodeOnly { terminal },
        (false, true) => OutputMode::Terminal { color: color_wanted() },
        (false, false) => OutputMode::Raw,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PipeError::Input(format!("cannot start the async runtime: {e}")))?;
    let sampling = sampling(effective);
    let max_tokens = sampling.max_tokens;
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
        let mut notices = PipeNotices::new(&mut recorder, &user, reasoning_out);
        let outcome =
            pipe::answer(&mut engine, &mut events, messages, sampling, &mut printer, &mut notices, interrupt).await?;
        notices.end_reasoning();
        let state = if outcome.interrupted || outcome.broken_pipe || outcome.failed.is_some() {
            MessageState::Stopped
        } else {
            MessageState::Complete
        };
        let stats = RecordStats::from(&outcome.stats);
        if !outcome.started {
            // Interrupted while the model loaded: nothing was asked, nothing to keep.
            return Ok(EXIT_INTERRUPTED);
        }
        // The question was saved when the answer began (a run killed mid-answer keeps it), or is
        // saved now, with whatever answer came (none, when stopped before its first token). A
        // question the engine refused (too long) never got here and leaves no trace.
        notices.save_question(outcome.model.as_deref());
        let thought = std::mem::take(&mut notices.thought);
        let thought = (!thought.trim().is_empty()).then_some(thought);
        record(&mut recorder, StoredRole::Assistant, printer.answer(), state, Some(stats), thought);
        if let Some(error) = outcome.failed {
            // What was printed is saved (a later -c carries it); the failure is still the exit status.
            return Err(error.into());
        }
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
                    "the conversation is longer than the context: its {} earliest messages were {}",
                    outcome.stats.dropped_messages,
                    if outcome.stats.summarized { "replaced by a summary" } else { "left out" }
                ),
            );
        }
        if outcome.stats.reasoning_tokens > 0 && printer.answer().trim().is_empty() && !outcome.interrupted {
            let hint = if reasoning_out == ReasoningOut::Hidden { "; --show-reasoning shows it" } else { "" };
            say(
                "note: ",
                &format!(
                    "the model gave no answer beyond its reasoning ({} tokens){hint}",
                    outcome.stats.reasoning_tokens
                ),
            );
        } else if outcome.no_code {
            say("warning: ", "the answer had no fenced code block; printed it whole");
        }
        if cli.stats {
            let threads = match outcome.threads {
                0 => String::new(),
                n => format!(" | {n} thread{}", if n == 1 { "" } else { "s" }),
            };
            say("", &format!("{}{threads}", pipe::stats_line(&outcome.stats)));
        }
        match outcome.stop {
            StopReason::MaxTokens => say("note: ", &format!("the answer was cut at --max-tokens {max_tokens}")),
            StopReason::ContextFull => say("note: ", "the answer was cut: the context is full (raise it with --ctx N)"),
            StopReason::EndOfText | StopReason::StopString | StopReason::Cancelled => {}
        }
        Ok(if outcome.interrupted { EXIT_INTERRUPTED } else { 0 })
    })
}
