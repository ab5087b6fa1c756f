//! `ember bench --context-shift`: how much context shifting changes the replies.
//!
//! A scripted conversation (questions with scripted answers, so every run sees the same history)
//! runs past the context. From the first cut on, each question is answered three ways, greedy:
//! with shifting (the kept turns' cache moved into place at a cut), without it (the kept turns
//! evaluated again at a cut), and fresh (a new session that evaluates the whole prompt). Both
//! are compared with the fresh reply. The unshifted run is the control: it differs from the fresh
//! one only where llama.cpp's kernels for a batch and for one token disagree at a near tie.

use std::fmt::Write as _;

use super::{greedy, Sink};
use crate::engine::llama::{self, EngineOptions};
use crate::engine::{Backend, EngineError, Message, Role, TurnRequest, TurnStats};

/// Tokens of each compared reply.
const REPLY: usize = 32;

/// How one way of answering compares with the fresh evaluation, over the turns measured.
#[derive(Debug, Clone, Default)]
pub struct Agreement {
    /// Turns whose reply starts with the fresh one's first word.
    pub first_word: usize,
    /// Turns whose whole reply is the fresh one's.
    pub identical: usize,
    /// The share of the fresh reply's characters, from the start, that the reply repeats,
    /// summed over the turns.
    pub prefix_share: f64,
    /// Tokens evaluated, and tokens moved by shifting, summed over the turns.
    pub evaluated: usize,
    pub shifted: usize,
}

/// What `--context-shift` measured.
#[derive(Debug, Clone)]
pub struct ShiftReport {
    pub model: String,
    pub n_ctx: usize,
    /// The turn of the first cut (1-based), the turns measured from it, and the cuts among them.
    pub first_cut: usize,
    pub turns: usize,
    pub cuts: usize,
    /// Whether the model's cache can be shifted at all (if not, both runs are the same).
    pub shifting: bool,
    pub shifted: Agreement,
    pub unshifted: Agreement,
}

/// The `n`th scripted question and its scripted answer.
fn exchange(n: usize) -> (String, String) {
    let parity = if n % 2 == 0 { "even" } else { "odd" };
    let question = format!("Question {n}: what can you tell me about the number {n}, its square and its neighbours?");
    let answer = format!(
        "{n} is an {parity} number. Its square is {}, and its neighbours are {} and {}. In binary it is {n:b}.",
        n * n,
        n - 1,
        n + 1
    );
    (question, answer)
}

/// Runs the conversation until `turns` turns have been measured from the first cut.
pub fn agreement(options: &EngineOptions, turns: usize) -> Result<ShiftReport, EngineError> {
    let model = llama::load_model(options, false, None)?;
    let shift_opts = EngineOptions { context_shift: true, ..options.clone() };
    let plain_opts = EngineOptions { context_shift: false, ..options.clone() };
    let (mut shifted, info) = llama::open_session(&model, &shift_opts)?;
    let (mut unshifted, _) = llama::open_session(&model, &plain_opts)?;
    let mut report = ShiftReport {
        model: info.name,
        n_ctx: info.n_ctx,
        first_cut: 0,
        turns: 0,
        cuts: 0,
        shifting: false,
        shifted: Agreement::default(),
        unshifted: Agreement::default(),
    };
    let mut convo = vec![Message::new(Role::System, "You are a helpful assistant. Answer in one or two sentences.")];
    let mut last_dropped = 0;
    for n in 1..=400 {
        let (question, answer) = exchange(n);
        convo.push(Message::new(Role::User, question));
        let (a, a_stats) = reply(&mut shifted, n, &convo)?;
        let (b, b_stats) = reply(&mut unshifted, n, &convo)?;
        if a_stats.dropped_messages > 0 && report.first_cut == 0 {
            report.first_cut = n;
        }
        if report.first_cut > 0 {
            // A fresh session: the whole prompt evaluated at once, nothing reused.
            let (mut fresh, _) = llama::open_session(&model, &plain_opts)?;
            let (f, _) = reply(&mut fresh, n, &convo)?;
            compare(&mut report.shifted, &a, &f, &a_stats);
            compare(&mut report.unshifted, &b, &f, &b_stats);
            report.cuts += usize::from(a_stats.dropped_messages != last_dropped);
            report.shifting |= a_stats.shifted_tokens > 0;
            report.turns += 1;
        }
        last_dropped = a_stats.dropped_messages;
        convo.push(Message::new(Role::Assistant, answer));
        if report.turns >= turns {
            return Ok(report);
        }
    }
    Err(EngineError::Template("the conversation never outgrew the context: use a smaller --ctx".into()))
}

/// A greedy reply of `REPLY` tokens to `convo`, and its figures.
fn reply(session: &mut impl Backend, turn: usize, convo: &[Message]) -> Result<(String, TurnStats), EngineError> {
    let mut sink = Sink(String::new());
    let req = TurnRequest { turn: turn as u64, messages: convo.to_vec(), sampling: greedy(REPLY) };
    let (stats, _) = session.generate(&req, &mut sink)?;
    Ok((sink.0, stats))
}

/// Adds one turn's comparison of `reply` with the fresh reply.
fn compare(into: &mut Agreement, reply: &str, fresh: &str, stats: &TurnStats) {
    let common = reply.chars().zip(fresh.chars()).take_while(|(a, b)| a == b).count();
    let fresh_len = fresh.chars().count().max(1);
    let first_word = |s: &str| s.split_whitespace().next().map(str::to_string);
    into.first_word += usize::from(first_word(reply) == first_word(fresh));
    into.identical += usize::from(reply == fresh);
    into.prefix_share += common as f64 / fresh_len as f64;
    into.evaluated += stats.evaluated_tokens;
    into.shifted += stats.shifted_tokens;
}

/// The report as text, with a `key=value` summary at the end for scripts.
pub fn render(r: &ShiftReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "model: {} · context {} · first cut at turn {} · {} turns measured from it, {} cuts",
        r.model, r.n_ctx, r.first_cut, r.turns, r.cuts
    );
    if !r.shifting {
        let _ = writeln!(out, "this model's cache is not shifted (context_shift has no effect on it)");
    }
    let n = r.turns.max(1);
    for (name, a) in [("shifted", &r.shifted), ("not shifted", &r.unshifted)] {
        let _ = writeln!(
            out,
            "{name:>11} vs fresh: first word {}/{n} · replies identical {}/{n} · agreeing start {:.0}% · evaluated {:.0} tokens a turn, shifted {:.0}",
            a.first_word,
            a.identical,
            100.0 * a.prefix_share / n as f64,
            a.evaluated as f64 / n as f64,
            a.shifted as f64 / n as f64,
        );
    }
    let share = |v: usize| v as f64 / n as f64;
    let _ = writeln!(out, "shift_identical={:.2}", share(r.shifted.identical));
    let _ = writeln!(out, "control_identical={:.2}", share(r.unshifted.identical));
    let _ = writeln!(out, "shift_first_word={:.2}", share(r.shifted.first_word));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_compared_from_their_start() {
        let mut a = Agreement::default();
        let stats = TurnStats { evaluated_tokens: 30, shifted_tokens: 200, ..TurnStats::default() };
        compare(&mut a, "Seven is odd, and prime.", "Seven is odd, and prime.", &stats);
        compare(&mut a, "Seven is a prime number.", "Seven is odd, and prime.", &stats);
        compare(&mut a, "It is odd.", "Seven is odd.", &stats);
        assert_eq!((a.first_word, a.identical, a.evaluated, a.shifted), (2, 1, 90, 600));
        // "Seven is " of 24 characters, then nothing of the third.
        assert!((a.prefix_share - (1.0 + 9.0 / 24.0)).abs() < 1e-9, "{}", a.prefix_share);
    }

    #[test]
    fn the_report_ends_with_figures_for_scripts() {
        let agreement = |identical| Agreement { first_word: 30, identical, prefix_share: 15.0, ..Agreement::default() };
        let report = ShiftReport {
            model: "m".into(),
            n_ctx: 1024,
            first_cut: 16,
            turns: 30,
            cuts: 5,
            shifting: false,
            shifted: agreement(11),
            unshifted: agreement(23),
        };
        let text = render(&report);
        assert!(text.contains("not shifted"), "{text}");
        assert!(text.contains("replies identical 11/30 · agreeing start 50%"), "{text}");
        assert!(text.ends_with("shift_identical=0.37\ncontrol_identical=0.77\nshift_first_word=1.00\n"), "{text}");
    }
}
