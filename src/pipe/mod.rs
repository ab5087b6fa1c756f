//! One-shot / filter mode: answer once, stream to stdout, exit.
//!
//! This is the one place that writes an answer to stdout, through an explicit writer
//! ([`printer`]). To a terminal, the answer is sanitized and its code highlighted; to anything
//! else it is written exactly as generated. Notices and the model's reasoning go to stderr
//! ([`notices`]); the question and answer are saved to history as they happen.

pub mod answer;
pub mod diff;
pub mod notices;
pub mod printer;

use std::io::Write;
use std::time::Duration;

pub use answer::{answer, Notices, Outcome};
pub use printer::{stats_line, AnswerPrinter, OutputMode};

use crate::cli::Cli;
use crate::config::{Effective, Paths};
use crate::conversation::{self, attach, say, setup, AppError, EngineChoice, SavedContexts};
use crate::engine::constraint::{Constraint, ConstraintKind};
use crate::engine::{llama, remote, Message, SamplingParams, StopReason};
use crate::render::{earliest_messages, sanitize};
use crate::store::recorder::{RecordStats, Recorder};
use crate::store::{Conversation, MessageState, NewConversation, StoredRole};
use notices::{record, PipeNotices, ReasoningOut};

/// Exit status for an interrupted run (128 + SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Answers the question the command line and stdin ask, then exits with the status it returns.
pub fn run(cli: &Cli, effective: &Effective, paths: &Paths, stdout_tty: bool) -> Result<u8, AppError> {
    let prompt = cli.prompt_text();
    let attachments = attach::gather(&cli.files)?;
    if prompt.is_none() && attachments.is_empty() {
        return Err(AppError::Usage(
            "nothing to answer: give a prompt, --file PATH, or input on stdin (see ember --help)".into(),
        ));
    }
    // --print-prompt saves nothing, but shows a continued conversation's earlier turns.
    let (store, resume) = setup::history_and_resume(cli, effective, paths, !cli.print_prompt)?;
    let system = setup::system_prompt(cli, effective, resume.as_ref())?;
    let user = question(effective, prompt.as_deref(), &attachments)?;
    let messages = conversation::messages(system.as_deref(), resume.as_ref(), user.clone());
    let engine = EngineChoice::from_config(cli, effective, paths)?;
    let sampling = setup::sampling(effective);
    if cli.print_prompt {
        return print_prompt(cli, &engine, &messages, &sampling, stdout_tty);
    }
    let recorder = store.map(|store| {
        let new = NewConversation { model: engine.label(), system_prompt: system, cwd: setup::cwd() };
        Recorder::new(store, new, resume.as_ref().map(resumed_ids))
    });
    // --diff prints no answer, only the diff made from it once it is complete.
    let mode = match (cli.code, stdout_tty && !cli.diff) {
        (true, terminal) => OutputMode::CodeOnly { terminal },
        (false, true) => OutputMode::Terminal { color: setup::color_wanted() },
        (false, false) => OutputMode::Raw,
    };
    let saved = SavedContexts::new(paths.kv_dir(), engine.model_path().to_path_buf());
    let ask = Ask {
        cli,
        engine,
        saved,
        resumed: resume.map(|c| c.summary.id),
        recorder,
        user,
        messages,
        sampling,
        mode,
        reasoning: ReasoningOut::choose(cli, stdout_tty),
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AppError::Input(format!("cannot start the async runtime: {e}")))?
        .block_on(ask.run())
}

/// A continued conversation's id and its messages' ids, for the recorder.
fn resumed_ids(conversation: &Conversation) -> (i64, Vec<i64>) {
    (conversation.summary.id, conversation.messages.iter().map(|m| m.id).collect())
}

/// The user's message: the attachments and the prompt, shaped by a role that takes the input.
fn question(
    effective: &Effective,
    prompt: Option<&str>,
    attachments: &[attach::Attachment],
) -> Result<String, AppError> {
    let user = attach::user_message(prompt, attachments);
    if !effective.role.takes_input() {
        return Ok(user);
    }
    let applied = effective.role.apply(&effective.vars, Some(&user)).map_err(|e| AppError::Usage(e.to_string()))?;
    Ok(applied.user.unwrap_or(user))
}

/// `--print-prompt`: the exact prompt the model would read (for a server, the request body,
/// which holds no key), and nothing asked.
fn print_prompt(
    cli: &Cli,
    engine: &EngineChoice,
    messages: &[Message],
    sampling: &SamplingParams,
    stdout_tty: bool,
) -> Result<u8, AppError> {
    let (text, tokens) = match &engine.remote {
        Some(remote) => {
            let answered = crate::engine::template::without_unanswered(messages);
            let body = remote::request_body(&remote.label(), &answered, sampling, false);
            (serde_json::to_string_pretty(&body).unwrap_or_default() + "\n", None)
        }
        None => {
            let (text, tokens, notice) = llama::print_prompt(&engine.local, messages, sampling.reasoning)?;
            if let Some(notice) = notice {
                say("note: ", &notice);
            }
            (text, Some(tokens))
        }
    };
    let mut out = std::io::stdout().lock();
    let shown = if stdout_tty { sanitize(&text) } else { text.as_str().into() };
    out.write_all(shown.as_bytes()).map_err(AppError::Output)?;
    out.flush().map_err(AppError::Output)?;
    if let (true, Some(tokens)) = (cli.stats, tokens) {
        say("", &format!("{tokens} prompt tokens"));
    }
    Ok(0)
}

/// One question, ready to ask.
struct Ask<'a> {
    cli: &'a Cli,
    engine: EngineChoice,
    saved: SavedContexts,
    /// The continued conversation, whose saved context is loaded first.
    resumed: Option<i64>,
    recorder: Option<Recorder>,
    user: String,
    messages: Vec<Message>,
    sampling: SamplingParams,
    mode: OutputMode,
    reasoning: ReasoningOut,
}

impl Ask<'_> {
    /// Streams the answer, saves the question and answer, keeps the context for the next `-c`,
    /// and says how it ended.
    async fn run(mut self) -> Result<u8, AppError> {
        let (mut engine, mut events) = self.engine.spawn();
        if let Some(id) = self.resumed {
            // The saved context of the conversation, if any: the answer then starts at once.
            self.saved.resume(&engine, id);
        }
        let constraint = self.sampling.constraint.clone();
        // With --diff the answer is kept, not printed: the diff is printed once it is complete.
        let out: Box<dyn Write> = if self.cli.diff { Box::new(std::io::sink()) } else { Box::new(std::io::stdout()) };
        let mut printer = AnswerPrinter::new(out, self.mode);
        if constraint.is_some() {
            printer = printer.held();
        }
        let max_tokens = self.sampling.max_tokens;
        let mut notices = PipeNotices::new(&mut self.recorder, &self.user, self.reasoning);
        let outcome =
            answer(&mut engine, &mut events, self.messages, self.sampling, &mut printer, &mut notices, interrupt())
                .await?;
        notices.end_reasoning();
        if !outcome.started {
            // Interrupted while the model loaded: nothing was asked, nothing to keep.
            return Ok(EXIT_INTERRUPTED);
        }
        // The question was saved when the answer began (a run killed mid-answer keeps it), or is
        // saved now, with whatever answer came (none, when stopped before its first token). A
        // question the engine refused (too long) never got here and leaves no trace.
        notices.save_question(outcome.model.as_deref());
        let thought = notices.take_thought();
        let incomplete = constraint.is_some() && outcome.stop != StopReason::EndOfText;
        let state = if outcome.interrupted || outcome.broken_pipe || outcome.failed.is_some() || incomplete {
            MessageState::Stopped
        } else {
            MessageState::Complete
        };
        let stats = RecordStats::from(&outcome.stats);
        record(&mut self.recorder, StoredRole::Assistant, printer.answer(), state, Some(stats), thought);
        if let Some(error) = outcome.failed {
            // What was printed is saved (a later -c carries it); the failure is still the exit status.
            return Err(error.into());
        }
        if let Some(id) = self.recorder.as_ref().and_then(Recorder::conversation) {
            // Keep the evaluated context for the next `-c`.
            if let Some(Err(e)) = self.saved.save(&engine, &mut events, id, Duration::from_secs(30)).await {
                tracing::warn!(error = %e, "saving the context failed");
            }
        }
        if let Some(constraint) = &constraint {
            return constrained_end(self.cli, &outcome, &mut printer, constraint, max_tokens);
        }
        report(self.cli, &outcome, printer.answer(), self.reasoning, max_tokens);
        if outcome.interrupted {
            return Ok(EXIT_INTERRUPTED);
        }
        if self.cli.diff {
            print_diff(printer.answer(), &self.cli.files)?;
        }
        Ok(0)
    }
}

/// `--diff`: the answer's block as a diff against its `--file`, on stdout (a note on stderr when
/// it changes nothing).
fn print_diff(answer: &str, files: &[std::path::PathBuf]) -> Result<(), AppError> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let diff = diff::diff_of_answer(answer, files, &cwd)?;
    if diff.is_empty() {
        say("note: ", "the answer's code block is the file as it is: no changes");
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    // The model's text: made inert on a terminal, exact for git apply.
    let diff = if std::io::IsTerminal::is_terminal(&out) { sanitize(&diff).into_owned() } else { diff };
    out.write_all(diff.as_bytes()).and_then(|()| out.flush()).map_err(AppError::Output)
}

/// The end of a constrained answer: printed whole if the grammar completed, else nothing
/// printed and exit status 1 with "output incomplete", so a script never reads half a document.
fn constrained_end(
    cli: &Cli,
    outcome: &Outcome,
    printer: &mut AnswerPrinter<Box<dyn Write>>,
    constraint: &Constraint,
    max_tokens: usize,
) -> Result<u8, AppError> {
    if cli.stats {
        say("", &stats_line(&outcome.stats));
    }
    let why = match outcome.stop {
        StopReason::EndOfText => {
            let json = !matches!(constraint.kind, ConstraintKind::Grammar);
            if json && serde_json::from_str::<serde_json::Value>(printer.answer()).is_err() {
                // Only a server that ignored `response_format` gets here.
                return Err(AppError::Input(format!(
                    "the answer is not JSON: the server did not apply {}; nothing was printed",
                    constraint.label
                )));
            }
            printer.release(json).map_err(AppError::Output)?;
            return Ok(0);
        }
        StopReason::Cancelled => return Ok(EXIT_INTERRUPTED),
        StopReason::MaxTokens => format!("it reached --max-tokens {max_tokens}; raise it"),
        StopReason::ContextFull => "the context is full; raise it with --ctx N".to_string(),
        StopReason::StopString => "the model wrote its prompt format's stop string".to_string(),
    };
    Err(AppError::Input(format!(
        "output incomplete: the answer stopped before it matched {} ({why}); nothing was printed",
        constraint.label
    )))
}

/// Resolves on Ctrl-C; a second Ctrl-C quits at once.
async fn interrupt() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
    tokio::spawn(async {
        let _ = tokio::signal::ctrl_c().await;
        let _ = std::io::stdout().flush();
        std::process::exit(i32::from(EXIT_INTERRUPTED));
    });
}

/// What the user should hear once the answer is printed: context dropped, nothing but
/// reasoning, no code for `--code`, `--stats`, an answer cut short.
fn report(cli: &Cli, outcome: &Outcome, answer: &str, reasoning: ReasoningOut, max_tokens: usize) {
    let stats = &outcome.stats;
    if stats.dropped_messages > 0 {
        let how = if stats.summarized { "replaced by a summary" } else { "left out" };
        let which = earliest_messages(stats.dropped_messages);
        say("note: ", &format!("the conversation is longer than the context: {which} {how}"));
    }
    if stats.reasoning_tokens > 0 && answer.trim().is_empty() && !outcome.interrupted {
        let hint = if reasoning == ReasoningOut::Hidden { "; --show-reasoning shows it" } else { "" };
        say(
            "note: ",
            &format!("the model gave no answer beyond its reasoning ({} tokens){hint}", stats.reasoning_tokens),
        );
    } else if outcome.no_code {
        say("warning: ", "the answer had no fenced code block; printed it whole");
    }
    if cli.stats {
        let threads = match outcome.threads {
            0 => String::new(),
            n => format!(" | {n} thread{}", if n == 1 { "" } else { "s" }),
        };
        say("", &format!("{}{threads}", stats_line(stats)));
    }
    match outcome.stop {
        StopReason::MaxTokens => say("note: ", &format!("the answer was cut at --max-tokens {max_tokens}")),
        StopReason::ContextFull => say("note: ", "the answer was cut: the context is full (raise it with --ctx N)"),
        StopReason::EndOfText | StopReason::StopString | StopReason::Cancelled => {}
    }
}
