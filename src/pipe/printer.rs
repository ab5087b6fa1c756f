//! Writing an answer to stdout as it streams: to a terminal sanitized, its code highlighted; to
//! anything else exactly as generated; with `--code`, only the code.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::engine::TurnStats;
use crate::render::fence::{Chunk, FenceTracker};
use crate::render::highlight::CodeHighlighter;
use crate::render::{sanitize, theme};

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

/// How long a highlighted code line may be held for its newline before what there is of it is
/// shown plain: a model writing one long line must not freeze the output.
pub const PARTIAL_LINE_AFTER: Duration = Duration::from_millis(800);

/// Writes an answer as it streams in.
pub struct AnswerPrinter<W: Write> {
    out: W,
    mode: OutputMode,
    fence: FenceTracker,
    highlighter: Option<CodeHighlighter>,
    answer: String,
    blocks: usize,
    /// How much of the code line being written is already shown (plain, before its newline).
    shown: usize,
    /// When the code line being written was first seen.
    line_since: Option<Instant>,
    partial_after: Duration,
    /// Nothing is written until [`release`](Self::release): a constrained answer is printed
    /// whole once it is known to be complete, never a truncated document.
    held: bool,
}

impl<W: Write> AnswerPrinter<W> {
    pub fn new(out: W, mode: OutputMode) -> Self {
        AnswerPrinter {
            out,
            mode,
            fence: FenceTracker::default(),
            highlighter: None,
            answer: String::new(),
            blocks: 0,
            shown: 0,
            line_since: None,
            partial_after: PARTIAL_LINE_AFTER,
            held: false,
        }
    }

    /// Holds the answer back until [`release`](Self::release).
    pub fn held(mut self) -> Self {
        self.held = true;
        self
    }

    /// Writes a held answer whole (sanitized for a terminal), ending its line. With
    /// `trim_end`, whitespace after it is left out (JSON's trailing whitespace means nothing).
    pub fn release(&mut self, trim_end: bool) -> std::io::Result<()> {
        let answer = if trim_end { self.answer.trim_end() } else { &self.answer };
        let text = match self.mode {
            OutputMode::Raw => answer.into(),
            OutputMode::Terminal { .. } | OutputMode::CodeOnly { .. } => sanitize(answer),
        };
        self.out.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            self.out.write_all(b"\n")?;
        }
        self.out.flush()
    }

    /// Sets how long a highlighted code line waits for its newline before it is shown plain.
    pub fn partial_line_after(mut self, wait: Duration) -> Self {
        self.partial_after = wait;
        self
    }

    /// The answer so far, as generated.
    pub fn answer(&self) -> &str {
        &self.answer
    }

    /// Writes more of the answer and flushes it.
    pub fn push(&mut self, text: &str) -> std::io::Result<()> {
        self.answer.push_str(text);
        if self.held {
            return Ok(());
        }
        if self.mode == OutputMode::Raw {
            self.out.write_all(text.as_bytes())?;
            return self.out.flush();
        }
        let mut pending = String::new();
        let mut fence = std::mem::take(&mut self.fence);
        fence.push(text, &mut |chunk| self.render(chunk, &mut pending));
        self.fence = fence;
        self.show_open_line(&mut pending);
        self.out.write_all(pending.as_bytes())?;
        self.out.flush()
    }

    /// Shows the code line being written without waiting for its newline: at once where code is
    /// not highlighted, else once it has waited `partial_after` (the rest of it then comes plain).
    fn show_open_line(&mut self, out: &mut String) {
        let Some(line) = self.fence.open_code_line() else { return };
        let now = Instant::now();
        let since = *self.line_since.get_or_insert(now);
        let highlighted = matches!(self.mode, OutputMode::Terminal { .. }) && self.highlighter.is_some();
        if highlighted && self.shown == 0 && now.duration_since(since) < self.partial_after {
            return;
        }
        out.push_str(&self.plain(&line[self.shown..]));
        self.shown = line.len();
    }

    /// Code as written unhighlighted: sanitized for a terminal, exact otherwise.
    fn plain<'t>(&self, code: &'t str) -> std::borrow::Cow<'t, str> {
        match self.mode {
            OutputMode::CodeOnly { terminal: false } | OutputMode::Raw => code.into(),
            OutputMode::CodeOnly { terminal: true } | OutputMode::Terminal { .. } => sanitize(code),
        }
    }

    /// A code line ended: how much of it was already shown.
    fn line_done(&mut self) -> usize {
        self.line_since = None;
        std::mem::take(&mut self.shown)
    }

    /// Ends the answer: flushes what is pending and ends the last line.
    /// Returns true if `--code` found no code block (and printed the whole answer instead).
    pub fn finish(&mut self) -> std::io::Result<bool> {
        if self.held {
            return Ok(false);
        }
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
            (OutputMode::CodeOnly { .. }, Chunk::CodeLine(line)) => {
                let shown = self.line_done();
                out.push_str(&self.plain(&line[shown..]));
            }
            (OutputMode::Terminal { .. }, Chunk::Text(text)) => out.push_str(&sanitize(text)),
            (OutputMode::Terminal { color }, Chunk::FenceOpen { lang, line }) => {
                self.blocks += 1;
                self.highlighter = color.then(|| CodeHighlighter::new(lang));
                push_dim(out, line, color);
            }
            (OutputMode::Terminal { .. }, Chunk::CodeLine(line)) => {
                let shown = self.line_done();
                // The highlighter reads every line, so the lines after one shown plain are right.
                let highlighted = self.highlighter.as_mut().map(|h| h.terminal_line(line));
                match highlighted {
                    Some(line) if shown == 0 => out.push_str(&line),
                    _ => out.push_str(&sanitize(&line[shown..])),
                }
            }
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
    out.push_str(&theme::ansi_dim(&sanitize(line), color));
}

/// One line of figures for `--stats`.
pub fn stats_line(stats: &TurnStats) -> String {
    let tps = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
    let mut dropped = if stats.dropped_messages > 0 {
        format!(" | {} earlier messages left out of the context", stats.dropped_messages)
    } else {
        String::new()
    };
    if stats.shifted_tokens > 0 {
        dropped.push_str(&format!(" | {} reused tokens shifted into place", stats.shifted_tokens));
    }
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
    let grammar = stats.grammar.map_or_else(String::new, |(n, time)| {
        let each = if n > 0 { time.as_secs_f64() * 1000.0 / n as f64 } else { 0.0 };
        format!(" | constrained: {n} tokens chosen within the grammar, {each:.2} ms each")
    });
    let speculation = match (stats.speculation, stats.tokens_per_decode()) {
        (Some((drafted, accepted, _)), Some(per)) => format!(
            " | speculation: {accepted} of {drafted} drafted tokens accepted ({}), {per:.2} tokens per decode",
            stats.acceptance().map_or_else(|| "-".to_string(), |a| format!("{:.0}%", a * 100.0))
        ),
        _ => String::new(),
    };
    format!(
        "prompt: {} tokens ({} reused, {} evaluated) at {} tok/s | reply: {} tokens at {} tok/s{llama}{reasoning}{grammar}{speculation} | first token after {:.3} s{dropped}",
        stats.prompt_tokens,
        stats.reused_tokens,
        stats.evaluated_tokens,
        tps(stats.prompt_tps()),
        stats.generated_tokens,
        tps(stats.generation_tps()),
        stats.time_to_first_token.as_secs_f64(),
    )
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

    #[test]
    fn stats_line_shows_speculation_when_the_turn_used_it() {
        let stats = TurnStats { generated_tokens: 40, speculation: Some((30, 24, 15)), ..TurnStats::default() };
        let line = stats_line(&stats);
        assert!(
            line.contains(" | speculation: 24 of 30 drafted tokens accepted (80%), 2.50 tokens per decode |"),
            "{line}"
        );
        assert!(!stats_line(&TurnStats::default()).contains("speculation"));
    }

    #[test]
    fn stats_line_says_what_left_the_context_and_what_was_shifted() {
        let stats = TurnStats { dropped_messages: 10, shifted_tokens: 161, ..TurnStats::default() };
        let line = stats_line(&stats);
        assert!(
            line.ends_with(" | 10 earlier messages left out of the context | 161 reused tokens shifted into place"),
            "{line}"
        );
        assert!(!stats_line(&TurnStats { dropped_messages: 10, ..TurnStats::default() }).contains("shifted"));
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

    /// What each push wrote, one entry per push.
    fn writes(printer_mode: OutputMode, wait: Duration, pieces: &[&str]) -> Vec<String> {
        let mut p = AnswerPrinter::new(Vec::new(), printer_mode).partial_line_after(wait);
        let mut seen = 0;
        let mut out = Vec::new();
        for piece in pieces {
            p.push(piece).unwrap();
            out.push(String::from_utf8_lossy(&p.out[seen..]).into_owned());
            seen = p.out.len();
        }
        p.finish().unwrap();
        out.push(String::from_utf8_lossy(&p.out[seen..]).into_owned());
        out
    }

    const LONG_LINE: &[&str] = &["```python\n", "x = [1, ", "2, ", "\x1b3]", "\n", "y = 1\n```\n"];

    #[test]
    fn a_code_line_streams_before_its_newline() {
        let plain = writes(OutputMode::CodeOnly { terminal: false }, PARTIAL_LINE_AFTER, LONG_LINE);
        assert_eq!(plain, ["", "x = [1, ", "2, ", "\x1b3]", "\n", "y = 1\n", ""]);
        let terminal = writes(OutputMode::Terminal { color: false }, PARTIAL_LINE_AFTER, LONG_LINE);
        assert_eq!(terminal[1..5], ["x = [1, ", "2, ", "␛3]", "\n"]);
        assert_eq!(terminal.concat(), format!("{}", LONG_LINE.concat().replace('\x1b', "␛")));
    }

    #[test]
    fn a_highlighted_code_line_waits_only_so_long_for_its_newline() {
        let mode = OutputMode::Terminal { color: true };
        let held = writes(mode, Duration::from_secs(3600), LONG_LINE);
        assert_eq!(held[1..4], ["", "", ""], "a line that ends soon is shown highlighted, whole");
        assert!(held[4].contains("\x1b[38;2;") && held[4].contains('␛'), "{:?}", held[4]);
        let shown = writes(mode, Duration::ZERO, LONG_LINE);
        assert_eq!(shown[1..5], ["x = [1, ", "2, ", "␛3]", "\n"], "then the rest of it comes plain");
        assert!(shown[5].starts_with("\x1b[38;2;"), "the next line is highlighted: {:?}", shown[5]);
    }

    #[test]
    fn code_mode_without_blocks_prints_the_answer() {
        let (out, no_code) = print_all(OutputMode::CodeOnly { terminal: false }, &["  x = 1  "]);
        assert_eq!(out, "x = 1\n");
        assert!(no_code);
    }
}
