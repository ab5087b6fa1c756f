//! What pipe mode says on stderr while an answer streams (notices, the model's reasoning), and
//! how it saves the question and the answer to history as they happen.

use std::io::{IsTerminal, Write};

use super::answer::Notices;
use crate::cli::Cli;
use crate::conversation::{say, setup};
use crate::render::{sanitize, theme};
use crate::store::recorder::{RecordOp, RecordStats, Recorder};
use crate::store::{MessageState, StoredRole};

/// Pipe mode's notices go to stderr; the question is saved once the answer begins; the
/// model's reasoning goes to stderr (dim on a terminal) or nowhere, never to stdout.
pub struct PipeNotices<'a> {
    recorder: &'a mut Option<Recorder>,
    question: &'a str,
    question_saved: bool,
    reasoning: ReasoningOut,
    /// The last reasoning shown did not end its line.
    reasoning_line_open: bool,
    /// The reasoning so far, saved with the answer.
    thought: String,
    /// A long prompt's progress is shown on stderr (a terminal), one line rewritten in place.
    progress: ProgressLine,
}

/// The line on stderr that says how far a long prompt has been read: only on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProgressLine {
    Off,
    Hidden,
    Shown,
}

impl ProgressLine {
    fn new() -> Self {
        if std::io::stderr().is_terminal() {
            ProgressLine::Hidden
        } else {
            ProgressLine::Off
        }
    }
}

/// Where pipe mode shows the model's reasoning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningOut {
    Hidden,
    /// On stderr: a terminal (sanitized, `dim` when colours are wanted), or raw to a file.
    Stderr {
        terminal: bool,
        dim: bool,
    },
}

impl ReasoningOut {
    /// On a terminal the reasoning is shown unless hidden; piped, only when asked for.
    pub fn choose(cli: &Cli, stdout_tty: bool) -> Self {
        let show = !cli.hide_reasoning && (cli.show_reasoning || stdout_tty);
        let terminal = std::io::stderr().is_terminal();
        if show {
            ReasoningOut::Stderr { terminal, dim: terminal && setup::color_wanted() }
        } else {
            ReasoningOut::Hidden
        }
    }
}

impl Notices for PipeNotices<'_> {
    fn notice(&mut self, text: &str) {
        self.progress_end();
        self.end_reasoning();
        say("note: ", text);
    }

    fn output_began(&mut self, model: Option<&str>) {
        self.progress_end();
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
        let _ = write!(err, "{}", theme::ansi_dim(&shown, dim));
        let _ = err.flush();
        self.reasoning_line_open = !text.ends_with('\n');
    }

    fn progress(&mut self, done: usize, total: usize, elapsed: std::time::Duration) {
        if self.progress == ProgressLine::Off {
            return;
        }
        self.progress = ProgressLine::Shown;
        let line = crate::conversation::progress::reading_line(done, total, elapsed);
        let mut err = std::io::stderr().lock();
        // Rewritten in place: back to the line's start, cleared, written again.
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }

    fn progress_end(&mut self) {
        if self.progress == ProgressLine::Shown {
            self.progress = ProgressLine::Hidden;
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

impl PipeNotices<'_> {
    pub fn new<'a>(recorder: &'a mut Option<Recorder>, question: &'a str, reasoning: ReasoningOut) -> PipeNotices<'a> {
        PipeNotices {
            recorder,
            question,
            question_saved: false,
            reasoning,
            reasoning_line_open: false,
            thought: String::new(),
            progress: ProgressLine::new(),
        }
    }

    /// Ends the line the reasoning left open, so what follows on stderr starts on its own.
    pub fn end_reasoning(&mut self) {
        if std::mem::take(&mut self.reasoning_line_open) {
            let _ = writeln!(std::io::stderr().lock());
        }
    }

    /// Saves the question (once), the conversation labelled with the model that answers (a
    /// server's own name).
    pub fn save_question(&mut self, model: Option<&str>) {
        if self.question_saved {
            return;
        }
        self.question_saved = true;
        if let (Some(recorder), Some(model)) = (self.recorder.as_mut(), model) {
            let _ = recorder.apply(RecordOp::NameModel(model.to_string()));
        }
        record(self.recorder, StoredRole::User, self.question, MessageState::Complete, None, None);
    }

    /// The reasoning shown or kept so far, for saving with the answer (`None` when there was none).
    pub fn take_thought(&mut self) -> Option<String> {
        let thought = std::mem::take(&mut self.thought);
        (!thought.trim().is_empty()).then_some(thought)
    }
}

/// Saves a message; a failure turns history off with a warning, never stops the answer.
pub fn record(
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
