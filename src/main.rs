//! The `ember` binary: parse the command line and the config, then hand over to a subcommand,
//! the TUI (`ember::tui`) or pipe mode (`ember::pipe`), and map how it ended to an exit status.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use ember::cli::{Cli, Subcommand};
use ember::config::{Effective, Paths, Settings};
use ember::conversation::{say, setup, AppError};
use ember::engine::remote::{self, RemoteOptions};
use ember::models::{self, discover::Roots};
use ember::render::sanitize;
use ember::store::{kv, Store};

fn main() -> ExitCode {
    let process_start = std::time::Instant::now();
    let matches = Cli::command().try_get_matches().unwrap_or_else(|e| exit_usage(e));
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let mut paths = Paths::discover();
    let config_path = cli.config.clone().unwrap_or_else(|| paths.config_file());
    if let Some(code) = config_free_subcommand(&cli, &config_path) {
        return code;
    }
    let (settings, effective) = match load_config(&cli, &matches, &config_path, &mut paths) {
        Ok(loaded) => loaded,
        Err(message) => {
            say("error: ", &message);
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
    if let Some(code) = subcommand(&cli, &effective, &paths, &config_path, process_start) {
        return code;
    }
    let stdout_tty = std::io::stdout().is_terminal();
    let interactive = std::io::stdin().is_terminal()
        && stdout_tty
        && cli.prompt_text().is_none()
        && !cli.print
        && cli.files.is_empty()
        && !cli.print_prompt;
    let result = if interactive {
        ember::tui::launch::launch(&cli, &effective, &paths)
    } else {
        ember::pipe::run(&cli, &effective, &paths, stdout_tty)
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            say("error: ", &e.to_string());
            ExitCode::from(e.exit_code())
        }
    }
}

/// The subcommands that work whatever state the config file is in: they are how one finds and
/// fixes it.
fn config_free_subcommand(cli: &Cli, config_path: &std::path::Path) -> Option<ExitCode> {
    match &cli.command {
        Some(Subcommand::Config { path: true, .. }) => Some(print_out(&format!("{}\n", config_path.display()))),
        Some(Subcommand::Config { default: true, .. }) => Some(print_out(ember::config::file::DEFAULT_CONFIG)),
        Some(Subcommand::Completions { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "ember", &mut out);
            Some(print_out(&String::from_utf8_lossy(&out)))
        }
        Some(Subcommand::Man) => {
            let mut out = Vec::new();
            if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut out) {
                say("error: ", &format!("cannot render the man page: {e}"));
                return Some(ExitCode::from(1));
            }
            Some(print_out(&String::from_utf8_lossy(&out)))
        }
        _ => None,
    }
}

/// The config file and what it, the environment and the flags add up to; the message says
/// what is wrong with them.
fn load_config(
    cli: &Cli,
    matches: &clap::ArgMatches,
    config_path: &std::path::Path,
    paths: &mut Paths,
) -> Result<(Settings, Effective), String> {
    if cli.config.is_some() && !config_path.exists() {
        return Err(format!("no config file at {} (given with --config or EMBER_CONFIG)", config_path.display()));
    }
    let settings = Settings::load(config_path).map_err(|e| e.to_string())?;
    paths.use_models_dir(settings.models_dir.as_deref());
    let effective =
        Effective::resolve(cli, matches, &settings, config_path, &paths.roles_dir()).map_err(|e| e.to_string())?;
    Ok((settings, effective))
}

/// Runs the subcommand asked for, if any: its exit status.
fn subcommand(
    cli: &Cli,
    effective: &Effective,
    paths: &Paths,
    config_path: &std::path::Path,
    process_start: std::time::Instant,
) -> Option<ExitCode> {
    let models_dir = &paths.models_dir;
    Some(match cli.command.as_ref()? {
        Subcommand::History { action } => history(action, paths),
        Subcommand::Roles => match ember::info::roles(&paths.roles_dir(), std::io::stdout().is_terminal()) {
            Ok(text) => print_out(&text),
            Err(e) => failed(&e.to_string(), 2),
        },
        Subcommand::Config { .. } => print_out(&ember::info::config_report(config_path, effective)),
        Subcommand::Doctor => match models::resolve(effective.model.as_deref(), models_dir) {
            Ok(model) => print_out(&ember::info::doctor(paths, config_path, effective, &model)),
            Err(e) => failed(&e.to_string(), 1),
        },
        Subcommand::Models { json } => match setup::remote_options(cli, effective) {
            Some(options) => remote_models(&options),
            None => models::cmd::run_models(&Roots::from_env(models_dir), *json),
        },
        Subcommand::Show { model, json } => {
            let model = model.as_deref().or(effective.model.as_deref());
            models::cmd::run_show(model, &Roots::from_env(models_dir), *json)
        }
        Subcommand::Pull { url, sha256, name } => {
            models::cmd::run_pull(url.as_deref(), sha256.as_deref(), name.as_deref(), models_dir)
        }
        Subcommand::Bench { context_shift: true, .. } => shift_bench_run(cli, effective, paths),
        Subcommand::Bench { prompt_tokens, gen_tokens, reps, no_conversation, json, .. } => {
            let bench = ember::bench::BenchOptions {
                prompt_tokens: *prompt_tokens,
                gen_tokens: *gen_tokens,
                reps: *reps as usize,
                conversation: !no_conversation,
            };
            bench_run(cli, effective, paths, &bench, *json, process_start)
        }
        Subcommand::Completions { .. } | Subcommand::Man => return None,
    })
}

/// `ember bench`: the local model's speed, as a table or JSON.
fn bench_run(
    cli: &Cli,
    effective: &Effective,
    paths: &Paths,
    bench: &ember::bench::BenchOptions,
    json: bool,
    process_start: std::time::Instant,
) -> ExitCode {
    let options = match setup::engine_options(cli, effective, paths, false) {
        Ok(o) => o,
        Err(e) => return failed(&e.to_string(), AppError::exit_code(&e)),
    };
    match ember::bench::run(&options, bench, process_start) {
        Ok(report) if json => print_out(&format!("{}\n", serde_json::to_string_pretty(&report).unwrap_or_default())),
        Ok(report) => print_out(&ember::bench::render(&report)),
        Err(e) => failed(&e.to_string(), 1),
    }
}

/// `ember bench --context-shift`: how often replies after a cut agree with a fresh evaluation.
fn shift_bench_run(cli: &Cli, effective: &Effective, paths: &Paths) -> ExitCode {
    let mut options = match setup::engine_options(cli, effective, paths, false) {
        Ok(o) => o,
        Err(e) => return failed(&e.to_string(), AppError::exit_code(&e)),
    };
    options.n_ctx = options.n_ctx.or(Some(1024));
    match ember::bench::shift::agreement(&options, 30) {
        Ok(report) => print_out(&ember::bench::shift::render(&report)),
        Err(e) => failed(&e.to_string(), 1),
    }
}

/// Says what failed and gives the exit status.
fn failed(message: &str, code: u8) -> ExitCode {
    say("error: ", message);
    ExitCode::from(code)
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
