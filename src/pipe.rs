//! One-shot / filter mode: answer once, stream to stdout, exit.
//!
//! This is the one place that writes an answer to stdout, through an explicit writer. To a
//! terminal, the answer is sanitized and its code highlighted; to anything else it is written
//! exactly as generated.

use std::io::Write;
use std::path::Path;

use crate::engine::{
    EngineError, EngineEvent, EngineHandle, Message, Role, SamplingParams, StopReason, TurnRequest, TurnStats,
};
use crate::render::fence::{Chunk, FenceTracker};
use crate::render::highlight::CodeHighlighter;
use crate::render::sanitize;

/// What went wrong, mapped to an exit status.
#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("writing the answer: {0}")]
    Output(std::io::Error),
}

impl PipeError {
    /// 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            PipeError::Usage(_) => 2,
            PipeError::Input(_) | PipeError::Engine(_) | PipeError::Output(_) => 1,
        }
    }
}

/// A piece of input attached to the prompt: piped stdin or a `--file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub label: String,
    pub text: String,
}

/// Decodes input bytes as text. NUL bytes mean binary input, which is refused; other invalid
/// UTF-8 is decoded lossily (U+FFFD) and reported in the returned warning.
pub fn decode_input(label: &str, bytes: Vec<u8>) -> Result<(Attachment, Option<String>), PipeError> {
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(PipeError::Input(format!(
            "{label} looks binary (a NUL byte at offset {at}); ember reads text only"
        )));
    }
    let (text, warning) = match String::from_utf8(bytes) {
        Ok(text) => (text, None),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            (text, Some(format!("{label} is not valid UTF-8 (first bad byte at offset {at}); invalid bytes were replaced with U+FFFD")))
        }
    };
    Ok((Attachment { label: label.to_string(), text }, warning))
}

/// Reads a `--file`.
pub fn read_file(path: &Path) -> Result<(Attachment, Option<String>), PipeError> {
    let bytes = std::fs::read(path).map_err(|e| PipeError::Input(format!("cannot read {}: {e}", path.display())))?;
    decode_input(&path.display().to_string(), bytes)
}

/// A language tag for a file name, so the model (and the highlighter) know what it is.
fn fence_lang(label: &str) -> &str {
    let ext = Path::new(label).extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "rs" => "rust",
        "py" => "python",
        "js" | "mjs" | "cjs" => "javascript",
        "ts" | "tsx" => "typescript",
        "sh" | "bash" => "bash",
        "md" => "markdown",
        "yml" => "yaml",
        "h" => "c",
        "hpp" | "cc" | "cxx" => "cpp",
        "diff" | "patch" => "diff",
        other => other,
    }
}

/// The user message: each attachment as a fenced block labelled with its name, then the prompt.
pub fn user_message(prompt: Option<&str>, attachments: &[Attachment]) -> String {
    let mut out = String::new();
    for a in attachments {
        // A fence longer than any backtick run inside, so the content cannot close it.
        let longest = a.text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        out.push_str(&format!("{}:\n{fence}{}\n", a.label, fence_lang(&a.label)));
        out.push_str(&a.text);
        if !a.text.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&fence);
        out.push_str("\n\n");
    }
    if let Some(prompt) = prompt {
        out.push_str(prompt);
    } else {
        // Nothing asked: keep the input as the whole message.
        while out.ends_with('\n') {
            out.pop();
        }
    }
    out
}

/// How the answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// Exactly the bytes generated (stdout is not a terminal).
    Raw,
    /// Sanitized; code highlighted when `color`.
    Terminal { color: bool },
    /// Only the contents of code blocks; sanitized when `terminal`.
    CodeOnly { terminal: bool },
}

/// Writes an answer as it streams in.
pub struct AnswerPrinter<W: Write> {
    out: W,
    mode: OutputMode,
    fence: FenceTracker,
    highlighter: Option<CodeHighlighter>,
    answer: String,
    blocks: usize,
}

impl<W: Write> AnswerPrinter<W> {
    pub fn new(out: W, mode: OutputMode) -> Self {
        AnswerPrinter { out, mode, fence: FenceTracker::default(), highlighter: None, answer: String::new(), blocks: 0 }
    }

    /// The answer so far, as generated.
    pub fn answer(&self) -> &str {
        &self.answer
    }

    /// Writes more of the answer and flushes it.
    pub fn push(&mut self, text: &str) -> std::io::Result<()> {
        self.answer.push_str(text);
        if self.mode == OutputMode::Raw {
            self.out.write_all(text.as_bytes())?;
            return self.out.flush();
        }
        let mut pending = String::new();
        let mut fence = std::mem::take(&mut self.fence);
        fence.push(text, &mut |chunk| self.render(chunk, &mut pending));
        self.fence = fence;
        self.out.write_all(pending.as_bytes())?;
        self.out.flush()
    }

    /// Ends the answer: flushes what is pending and ends the last line.
    /// Returns true if `--code` found no code block (and printed the whole answer instead).
    pub fn finish(&mut self) -> std::io::Result<bool> {
        let mut pending = String::new();
        if self.mode != OutputMode::Raw {
            let mut fence = std::mem::take(&mut self.fence);
            fence.finish(&mut |chunk| self.render(chunk, &mut pending));
        }
        let mut no_code = false;
        if let OutputMode::CodeOnly { terminal } = self.mode {
            if self.blocks == 0 && !self.answer.trim().is_empty() {
                no_code = true;
                let whole = self.answer.trim();
                pending.push_str(&if terminal { sanitize(whole) } else { whole.into() });
            }
        }
        let written_ends_line = match self.mode {
            // No code and no answer (all of it was reasoning): nothing to end.
            OutputMode::CodeOnly { .. } if !no_code => {
                pending.ends_with('\n') || (pending.is_empty() && (self.blocks > 0 || self.answer.trim().is_empty()))
            }
            OutputMode::CodeOnly { .. } => pending.ends_with('\n'),
            OutputMode::Raw | OutputMode::Terminal { .. } => self.answer.ends_with('\n') || self.answer.is_empty(),
        };
        if !written_ends_line {
            pending.push('\n');
        }
        self.out.write_all(pending.as_bytes())?;
        self.out.flush()?;
        Ok(no_code)
    }

    fn render(&mut self, chunk: Chunk<'_>, out: &mut String) {
        match (self.mode, chunk) {
            (OutputMode::Raw, _) => {}
            (OutputMode::CodeOnly { .. }, Chunk::Text(_) | Chunk::FenceClose { .. }) => {}
            (OutputMode::CodeOnly { .. }, Chunk::FenceOpen { .. }) => {
                if self.blocks > 0 {
                    out.push('\n');
                }
                self.blocks += 1;
            }
            (OutputMode::CodeOnly { terminal }, Chunk::CodeLine(line)) => {
                out.push_str(&if terminal { sanitize(line) } else { line.into() });
            }
            (OutputMode::Terminal { .. }, Chunk::Text(text)) => out.push_str(&sanitize(text)),
            (OutputMode::Terminal { color }, Chunk::FenceOpen { lang, line }) => {
                self.blocks += 1;
                self.highlighter = color.then(|| CodeHighlighter::new(lang));
                push_dim(out, line, color);
            }
            (OutputMode::Terminal { .. }, Chunk::CodeLine(line)) => match self.highlighter.as_mut() {
                Some(h) => out.push_str(&h.terminal_line(line)),
                None => out.push_str(&sanitize(line)),
            },
            (OutputMode::Terminal { color }, Chunk::FenceClose { line }) => {
                self.highlighter = None;
                if !line.is_empty() {
                    push_dim(out, line, color);
                }
            }
        }
    }
}

fn push_dim(out: &mut String, line: &str, color: bool) {
    let text = sanitize(line);
    if color {
        let body = text.trim_end_matches('\n');
        out.push_str("\x1b[2m");
        out.push_str(body);
        out.push_str("\x1b[0m");
        out.push_str(&text[body.len()..]);
    } else {
        out.push_str(&text);
    }
}

/// One line of figures for `--stats`.
pub fn stats_line(stats: &TurnStats) -> String {
    let tps = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
    let dropped = if stats.dropped_messages > 0 {
        format!(" | {} earlier messages left out of the context", stats.dropped_messages)
    } else {
        String::new()
    };
    let llama = stats.llama_eval_tps().map_or_else(String::new, |v| format!(" (llama.cpp decode alone: {v:.1})"));
    let reasoning = if stats.reasoning_tokens > 0 {
        format!(
            " | thought for {:.1} s, {} of the reply's tokens",
            stats.reasoning_time.as_secs_f64(),
            stats.reasoning_tokens
        )
    } else {
        String::new()
    };
    format!(
        "prompt: {} tokens ({} reused, {} evaluated) at {} tok/s | reply: {} tokens at {} tok/s{llama}{reasoning} | first token after {:.3} s{dropped}",
        stats.prompt_tokens,
        stats.reused_tokens,
        stats.evaluated_tokens,
        tps(stats.prompt_tps()),
        stats.generated_tokens,
        tps(stats.generation_tps()),
        stats.time_to_first_token.as_secs_f64(),
    )
}

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
) -> Result<Outcome, PipeError> {
    let turn = engine.next_turn();
    let reasoning_setting = sampling.reasoning;
    // If the thread has already stopped (a failed load), its last events say why: read on.
    let _ = engine.generate(TurnRequest { turn, messages, sampling });
    let mut interrupt = std::pin::pin!(interrupt);
    let mut interrupted = false;
    let mut ready = false;
    let mut threads = 0;
    let mut model = None;
    let mut broken_pipe = false;
    let mut began = false;
    let mut answering = false;
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else {
                    return Err(EngineError::Crashed("the engine thread has exited".into()).into());
                };
                match event {
                    EngineEvent::Loading { .. } => {}
                    EngineEvent::State { op, result } => {
                        if let Err(e) = result {
                            tracing::info!(?op, error = %e, "no saved context used");
                        }
                    }
                    EngineEvent::Ready(info) => {
                        ready = true;
                        threads = info.threads;
                        model = Some(info.name.clone());
                        if let Some(notice) = info.notice {
                            notices.notice(&notice);
                        }
                        // Said when it matters: the model reasons, or the user asked it to. (Off
                        // for a model that never reasons needs no word.)
                        let asks_to_reason =
                            !matches!(reasoning_setting, crate::engine::Reasoning::Auto | crate::engine::Reasoning::Off);
                        let reasons = info.reasoning_format != "none";
                        if reasoning_setting != crate::engine::Reasoning::Auto
                            && !info.reasoning_switch
                            && (reasons || asks_to_reason)
                        {
                            notices.notice(&format!(
                                "this model's chat template has no reasoning switch: --reasoning {} changes nothing",
                                reasoning_setting.as_str()
                            ));
                        }
                    }
                    EngineEvent::LoadFailed(error) => return Err(error.into()),
                    EngineEvent::Delta { turn: t, .. } | EngineEvent::Reasoning { turn: t, .. } | EngineEvent::Done { turn: t, .. } | EngineEvent::Failed { turn: t, .. } if t != turn => {}
                    EngineEvent::Reasoning { text, .. } => {
                        if !began {
                            began = true;
                            notices.output_began(model.as_deref());
                        }
                        notices.reasoning(&text);
                    }
                    EngineEvent::Delta { text, .. } => {
                        if !began {
                            // Before the first text is printed: whoever sees the answer begin can
                            // count on the question being kept.
                            began = true;
                            notices.output_began(model.as_deref());
                        }
                        if !answering {
                            answering = true;
                            notices.answer_began();
                        }
                        if broken_pipe {
                            continue;
                        }
                        if let Err(e) = printer.push(&text) {
                            if e.kind() != std::io::ErrorKind::BrokenPipe {
                                return Err(PipeError::Output(e));
                            }
                            broken_pipe = true;
                            engine.cancel(turn);
                        }
                    }
                    EngineEvent::Done { stats, stop, .. } => {
                        let no_code = if broken_pipe {
                            false
                        } else {
                            match printer.finish() {
                                Ok(no_code) => no_code,
                                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                                    broken_pipe = true;
                                    false
                                }
                                Err(e) => return Err(PipeError::Output(e)),
                            }
                        };
                        return Ok(Outcome {
                            stats,
                            stop,
                            interrupted,
                            no_code,
                            broken_pipe,
                            started: true,
                            threads,
                            model,
                            failed: None,
                        });
                    }
                    EngineEvent::Failed { error, .. } => {
                        let _ = printer.finish();
                        if printer.answer().trim().is_empty() {
                            return Err(error.into());
                        }
                        return Ok(Outcome { model, ..Outcome::cut(interrupted, broken_pipe, true, threads, Some(error)) });
                    }
                }
            }
            () = &mut interrupt, if !interrupted => {
                interrupted = true;
                engine.cancel(turn);
                if !ready {
                    // Still loading: nothing to flush; dropping the handle aborts the load.
                    return Ok(Outcome::cut(interrupted, broken_pipe, false, threads, None));
                }
            }
        }
    }
}

/// Waits (up to `limit`) for the answer to a save-state command.
pub async fn wait_state(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<EngineEvent>,
    limit: std::time::Duration,
) -> Option<Result<usize, String>> {
    let wait = async {
        while let Some(event) = events.recv().await {
            // Only the save's answer: a prefill still running when the user quit answers too.
            if let EngineEvent::State { op: crate::engine::StateOp::Save, result } = event {
                return Some(result);
            }
        }
        None
    };
    tokio::time::timeout(limit, wait).await.ok().flatten()
}

/// The messages for a one-shot question.
pub fn messages(system: Option<&str>, user: String) -> Vec<Message> {
    let mut out = Vec::with_capacity(2);
    if let Some(system) = system.filter(|s| !s.trim().is_empty()) {
        out.push(Message::new(Role::System, system));
    }
    out.push(Message::new(Role::User, user));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print_all(mode: OutputMode, pieces: &[&str]) -> (String, bool) {
        let mut buf = Vec::new();
        let no_code = {
            let mut p = AnswerPrinter::new(&mut buf, mode);
            for piece in pieces {
                p.push(piece).unwrap();
            }
            p.finish().unwrap()
        };
        (String::from_utf8(buf).unwrap(), no_code)
    }

    const ANSWER: &[&str] = &["Sure:\n``", "`python\ndef add(a, b):\n", "    return a + b\n```\nIt adds \x1b[31m.", ""];

    #[test]
    fn raw_mode_is_byte_exact_plus_final_newline() {
        let (out, _) = print_all(OutputMode::Raw, ANSWER);
        assert_eq!(out, format!("{}\n", ANSWER.concat()));
    }

    #[test]
    fn terminal_mode_without_color_is_sanitized_text() {
        let (out, _) = print_all(OutputMode::Terminal { color: false }, ANSWER);
        assert_eq!(out, format!("{}\n", ANSWER.concat().replace('\x1b', "␛")));
    }

    #[test]
    fn terminal_mode_with_color_highlights_code_only() {
        let (out, _) = print_all(OutputMode::Terminal { color: true }, ANSWER);
        assert!(out.starts_with("Sure:\n\x1b[2m```python\x1b[0m\n"));
        assert!(out.contains("\x1b[38;2;"));
        assert!(out.ends_with("It adds ␛[31m.\n"));
        assert!(!out.contains("\x1b[31m"));
    }

    #[test]
    fn code_mode_prints_only_code() {
        let (out, no_code) = print_all(OutputMode::CodeOnly { terminal: false }, ANSWER);
        assert_eq!(out, "def add(a, b):\n    return a + b\n");
        assert!(!no_code);
        let (two, _) = print_all(OutputMode::CodeOnly { terminal: false }, &["```\na\n```\ntext\n```sh\nb\n```"]);
        assert_eq!(two, "a\n\nb\n");
    }

    #[test]
    fn code_mode_without_blocks_prints_the_answer() {
        let (out, no_code) = print_all(OutputMode::CodeOnly { terminal: false }, &["  x = 1  "]);
        assert_eq!(out, "x = 1\n");
        assert!(no_code);
    }

    #[test]
    fn attachments_are_fenced_and_labelled() {
        let msg =
            user_message(Some("explain"), &[Attachment { label: "src/a.rs".into(), text: "let s = \"```\";".into() }]);
        assert_eq!(msg, "src/a.rs:\n````rust\nlet s = \"```\";\n````\n\nexplain");
    }

    #[test]
    fn binary_input_is_refused_and_bad_utf8_warned() {
        assert!(matches!(decode_input("stdin", b"ab\0c".to_vec()), Err(PipeError::Input(_))));
        let (a, warning) = decode_input("stdin", b"caf\xe9".to_vec()).unwrap();
        assert_eq!(a.text, "caf\u{FFFD}");
        assert!(warning.unwrap().contains("offset 3"));
    }
}
