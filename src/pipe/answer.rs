//! One answer in pipe mode: ask the engine, stream the reply into the printer, and say how the
//! turn ended.

use std::io::Write;

use super::printer::AnswerPrinter;
use crate::conversation::AppError;
use crate::engine::{
    EngineError, EngineEvent, EngineHandle, Message, ModelInfo, Reasoning, SamplingParams, StopReason, TurnId,
    TurnRequest, TurnStats,
};

/// How a one-shot run ended.
#[derive(Debug)]
pub struct Outcome {
    pub stats: TurnStats,
    pub stop: StopReason,
    pub interrupted: bool,
    /// `--code` found no code block.
    pub no_code: bool,
    /// stdout was closed by the reader (`| head`).
    pub broken_pipe: bool,
    /// The model was loaded and the turn ran (false when interrupted while loading).
    pub started: bool,
    /// The threads llama.cpp ran on (0 for a server).
    pub threads: usize,
    /// The model's name as the engine reported it (a server's model when none was named).
    pub model: Option<String>,
    /// The answer failed after some of it was printed (a server gone mid-answer): what was
    /// printed is the answer, kept as stopped, and this is the error to report.
    pub failed: Option<EngineError>,
}

/// What pipe mode's caller hears while the answer streams.
pub trait Notices {
    /// Something the user should hear about on stderr.
    fn notice(&mut self, text: &str);
    /// The engine's first output (answer or reasoning) is about to be shown: it took the
    /// question. `model` is the name the engine reported. (Pipe mode saves the question here, so
    /// a run killed mid-answer, or while the model thinks, keeps it; one SQLite write, without
    /// fsync in WAL mode.)
    fn output_began(&mut self, _model: Option<&str>) {}
    /// The answer's first text is about to be printed (after any reasoning).
    fn answer_began(&mut self) {}
    /// More of the model's reasoning: never on stdout; the caller shows it apart or drops it.
    fn reasoning(&mut self, _text: &str) {}
    /// A long prompt is being read: `done` of `total` tokens, for `elapsed` so far.
    fn progress(&mut self, _done: usize, _total: usize, _elapsed: std::time::Duration) {}
    /// The prompt has been read (or the turn ended): whatever showed its progress goes.
    fn progress_end(&mut self) {}
}

impl Outcome {
    /// A turn that ended without its answer's figures: interrupted while loading, or failed.
    fn cut(interrupted: bool, broken_pipe: bool, started: bool, threads: usize, failed: Option<EngineError>) -> Self {
        Outcome {
            stats: TurnStats::default(),
            stop: StopReason::Cancelled,
            interrupted,
            no_code: false,
            broken_pipe,
            started,
            threads,
            model: None,
            failed,
        }
    }
}

/// Asks for one answer to `messages` and streams it into `printer`.
/// `interrupt` resolves on Ctrl-C (or another reason to stop).
pub async fn answer<W: Write>(
    engine: &mut EngineHandle,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<EngineEvent>,
    messages: Vec<Message>,
    sampling: SamplingParams,
    printer: &mut AnswerPrinter<W>,
    notices: &mut dyn Notices,
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<Outcome, AppError> {
    let turn = engine.next_turn();
    let mut listener = Listener::new(turn, sampling.reasoning, printer, notices);
    // If the thread has already stopped (a failed load), its last events say why: read on.
    let _ = engine.generate(TurnRequest { turn, messages, sampling });
    let mut interrupt = std::pin::pin!(interrupt);
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else {
                    return Err(EngineError::Crashed("the engine thread has exited".into()).into());
                };
                if let Some(outcome) = listener.on_event(event, engine)? {
                    return Ok(outcome);
                }
            }
            () = &mut interrupt, if !listener.interrupted => {
                listener.interrupted = true;
                engine.cancel(turn);
                if !listener.ready {
                    // Still loading: nothing to flush; dropping the handle aborts the load.
                    return Ok(Outcome::cut(true, listener.broken_pipe, false, listener.threads, None));
                }
            }
        }
    }
}

/// What one answer has seen so far, and where its text goes.
struct Listener<'a, W: Write> {
    turn: TurnId,
    reasoning_setting: Reasoning,
    printer: &'a mut AnswerPrinter<W>,
    notices: &'a mut dyn Notices,
    interrupted: bool,
    /// The model is loaded.
    ready: bool,
    threads: usize,
    model: Option<String>,
    /// stdout's reader went away: the rest of the answer is not printed.
    broken_pipe: bool,
    /// The first output (reasoning or answer) came.
    began: bool,
    /// The answer's first text came.
    answering: bool,
    /// When the engine began reading a long prompt.
    reading_since: Option<std::time::Instant>,
}

impl<'a, W: Write> Listener<'a, W> {
    fn new(
        turn: TurnId,
        reasoning_setting: Reasoning,
        printer: &'a mut AnswerPrinter<W>,
        notices: &'a mut dyn Notices,
    ) -> Self {
        Listener {
            turn,
            reasoning_setting,
            printer,
            notices,
            interrupted: false,
            ready: false,
            threads: 0,
            model: None,
            broken_pipe: false,
            began: false,
            answering: false,
            reading_since: None,
        }
    }

    /// Takes one engine event; `Some` once the turn has ended.
    fn on_event(&mut self, event: EngineEvent, engine: &EngineHandle) -> Result<Option<Outcome>, AppError> {
        if event.turn().is_some_and(|t| t != self.turn) {
            return Ok(None);
        }
        match event {
            // Pipe mode asks for no counts.
            EngineEvent::Loading { .. } | EngineEvent::Counted { .. } => {}
            EngineEvent::State { op, result } => {
                if let Err(e) = result {
                    tracing::info!(?op, error = %e, "no saved context used");
                }
            }
            EngineEvent::Ready(info) => self.on_ready(&info),
            EngineEvent::LoadFailed(error) => return Err(error.into()),
            EngineEvent::Reasoning { text, .. } => {
                self.begin();
                self.notices.reasoning(&text);
            }
            EngineEvent::Progress { done, total, .. } => self.on_progress(done, total),
            EngineEvent::Delta { text, .. } => self.on_delta(&text, engine)?,
            EngineEvent::Done { stats, stop, .. } => {
                self.notices.progress_end();
                return self.on_done(stats, stop).map(Some);
            }
            EngineEvent::Failed { error, .. } => {
                self.notices.progress_end();
                let _ = self.printer.finish();
                if self.printer.answer().trim().is_empty() {
                    return Err(error.into());
                }
                let cut = Outcome::cut(self.interrupted, self.broken_pipe, true, self.threads, Some(error));
                return Ok(Some(Outcome { model: self.model.take(), ..cut }));
            }
        }
        Ok(None)
    }

    fn on_ready(&mut self, info: &ModelInfo) {
        self.ready = true;
        self.threads = info.threads;
        self.model = Some(info.name.clone());
        if let Some(notice) = &info.notice {
            self.notices.notice(notice);
        }
        // Said when it matters: the model reasons, or the user asked it to. (Off for a model
        // that never reasons needs no word.)
        let setting = self.reasoning_setting;
        let asks_to_reason = !matches!(setting, Reasoning::Auto | Reasoning::Off);
        let reasons = info.reasoning_format != "none";
        if setting != Reasoning::Auto && !info.reasoning_switch && (reasons || asks_to_reason) {
            self.notices.notice(&format!(
                "this model's chat template has no reasoning switch: --reasoning {} changes nothing",
                setting.as_str()
            ));
        }
    }

    /// Before the first output is shown: whoever sees the answer begin can count on the
    /// question being kept.
    fn begin(&mut self) {
        if !self.began {
            self.began = true;
            self.notices.output_began(self.model.as_deref());
        }
    }

    /// A long prompt's progress goes to the notices; its end clears what they showed.
    fn on_progress(&mut self, done: usize, total: usize) {
        if done < total {
            let since = *self.reading_since.get_or_insert_with(std::time::Instant::now);
            self.notices.progress(done, total, since.elapsed());
        } else if self.reading_since.take().is_some() {
            self.notices.progress_end();
        }
    }

    fn on_delta(&mut self, text: &str, engine: &EngineHandle) -> Result<(), AppError> {
        self.begin();
        if !self.answering {
            self.answering = true;
            self.notices.answer_began();
        }
        if self.broken_pipe {
            return Ok(());
        }
        if let Err(e) = self.printer.push(text) {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(AppError::Output(e));
            }
            self.broken_pipe = true;
            engine.cancel(self.turn);
        }
        Ok(())
    }

    fn on_done(&mut self, stats: TurnStats, stop: StopReason) -> Result<Outcome, AppError> {
        let no_code = if self.broken_pipe {
            false
        } else {
            match self.printer.finish() {
                Ok(no_code) => no_code,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    self.broken_pipe = true;
                    false
                }
                Err(e) => return Err(AppError::Output(e)),
            }
        };
        Ok(Outcome {
            stats,
            stop,
            interrupted: self.interrupted,
            no_code,
            broken_pipe: self.broken_pipe,
            started: true,
            threads: self.threads,
            model: self.model.take(),
            failed: None,
        })
    }
}
