//! `ember bench`: speed through ember's own engine path (template, tokenizer, sampler chain,
//! KV reuse) on a given model, in the figures llama.cpp's llama-bench reports, plus what only a
//! chat tool has: time to first token, cold and warm, and as a conversation grows.

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use serde::Serialize;

pub mod shift;

use crate::engine::llama::{self, EngineOptions};
use crate::engine::{Backend, EngineError, Message, Role, SamplingParams, TurnRequest, TurnSink};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Prompt tokens for the prompt-processing figure (llama-bench's `-p`).
    pub prompt_tokens: usize,
    /// Tokens to generate for the generation figure (llama-bench's `-n`).
    pub gen_tokens: usize,
    /// Repetitions of each figure (llama-bench's `-r`).
    pub reps: usize,
    /// Measure time to first token at turns 2, 10 and 30 of a scripted conversation.
    pub conversation: bool,
}

/// A median and the spread around it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Figure {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Figure {
    fn of(mut values: Vec<f64>) -> Figure {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = match n {
            0 => 0.0,
            _ if n % 2 == 1 => values[n / 2],
            _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
        };
        Figure { median, min: values.first().copied().unwrap_or(0.0), max: values.last().copied().unwrap_or(0.0) }
    }
}

/// The results.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub model: String,
    pub threads: usize,
    pub reps: usize,
    /// Prompt processing, tokens per second, over `prompt_tokens` evaluated tokens.
    pub pp_tokens: usize,
    /// The context size prompt processing and generation were measured in.
    pub pp_ctx: usize,
    pub tg_ctx: usize,
    pub pp_tps: Figure,
    /// Generation, tokens per second, over `tg_tokens` generated tokens.
    pub tg_tokens: usize,
    pub tg_tps: Figure,
    /// llama.cpp's own decode rate during those generations (its timings): what ember's loop
    /// (sampling, detokenizing, streaming) costs is the difference.
    pub tg_llama_decode_tps: Figure,
    /// From process start to a short prompt's first token, model load included (ms).
    pub ttft_cold_ms: f64,
    /// A short prompt's first token in a warm session (ms).
    pub ttft_warm_ms: Figure,
    /// First token at turns 2, 10 and 30 of a scripted conversation (ms), when measured.
    pub ttft_turns_ms: Option<[f64; 3]>,
    /// At those turns: the prompt's tokens, and how many of them were evaluated (the rest came
    /// from the KV cache). The difference is the depth llama.cpp attends over.
    pub turns_prompt_tokens: Option<[usize; 3]>,
    pub turns_evaluated_tokens: Option<[usize; 3]>,
    /// Turn 31, its question evaluated ahead as the TUI does while it is typed (all but its last
    /// word): first token (ms) and the tokens left to evaluate at the turn.
    pub ttft_turn31_typed_ahead_ms: Option<f64>,
    pub turn31_evaluated_tokens: Option<usize>,
    /// Peak resident memory of the process (MiB), when the platform tells.
    pub peak_rss_mib: Option<f64>,
}

/// Collects a reply's text (benchmarks need the text, not the stream).
pub struct Sink(pub String);

impl TurnSink for Sink {
    fn text(&mut self, text: &str) -> ControlFlow<()> {
        self.0.push_str(text);
        ControlFlow::Continue(())
    }
    fn cancelled(&self) -> bool {
        false
    }
}

fn greedy(max_tokens: usize) -> SamplingParams {
    SamplingParams { temperature: 0.0, seed: 1, max_tokens, ..SamplingParams::default() }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Peak resident memory (VmHWM), Linux only.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// A user message of about `tokens` tokens (varied by `salt`, so no cache is reused).
fn filler(tokens: usize, salt: usize) -> String {
    // About one token per word for this vocabulary of common words.
    let words = ["river", "stone", "light", "garden", "window", "paper", "music", "winter", "forest", "signal"];
    (0..tokens).map(|i| words[(i * 7 + salt) % words.len()]).collect::<Vec<_>>().join(" ")
}

/// The options for one measured test. Unless a context size was asked for, the context holds
/// what the test needs and little more (its tokens, padded to 256 as llama.cpp pads; llama-bench
/// sizes its contexts to its tests the same way, so pp542 gets 768 where its pp512 gets 512): llama.cpp's own
/// generation slows as the context grows (without flash attention it reads the V cache across
/// the whole context: 162 tok/s at 1,024 against 148 at 8,192 measured here), and that cost is
/// llama.cpp's, not ember's.
fn sized(options: &EngineOptions, tokens: usize) -> EngineOptions {
    let mut sized = options.clone();
    if sized.n_ctx.is_none() {
        // llama.cpp pads the attended part of the cache to 256 cells.
        let n = tokens.div_ceil(256) * 256;
        sized.n_ctx = Some(u32::try_from(n).unwrap_or(u32::MAX));
    }
    sized
}

/// Runs the benchmark.
/// `process_start` is when the process started: the cold first-token time counts from it.
pub fn run(options: &EngineOptions, bench: &BenchOptions, process_start: Instant) -> Result<BenchReport, EngineError> {
    let model = llama::load_model(options, false, None)?;
    let (mut session, info) = llama::open_session(&model, options)?;
    // Every measurement with the thread count the first session chose.
    let options = &EngineOptions { threads: Some(info.threads), ..options.clone() };
    let hello = vec![Message::new(Role::User, "Say hello.")];
    // One token asked for: the call returns right after the first one.
    session.generate(&TurnRequest { turn: 1, messages: hello, sampling: greedy(1) }, &mut Sink(String::new()))?;
    let ttft_cold_ms = ms(process_start.elapsed());
    let warm = warm_ttft(&mut session, bench.reps)?;
    let pp = prompt_processing(&model, options, bench)?;
    let (tg, tg_decode) = generation(&model, options, bench)?;
    let turns = if bench.conversation { Some(conversation_ttft(&model, options)?) } else { None };
    Ok(BenchReport {
        model: info.name,
        threads: info.threads,
        reps: bench.reps,
        pp_tokens: pp.tokens,
        pp_ctx: pp.ctx,
        tg_ctx: tg.ctx,
        pp_tps: Figure::of(pp.tps),
        tg_tokens: tg.tokens,
        tg_tps: Figure::of(tg.tps),
        tg_llama_decode_tps: Figure::of(tg_decode),
        ttft_cold_ms,
        ttft_warm_ms: Figure::of(warm),
        ttft_turns_ms: turns.map(|(t, _)| t.map(|(ms, _, _)| ms)),
        turns_prompt_tokens: turns.map(|(t, _)| t.map(|(_, prompt, _)| prompt)),
        turns_evaluated_tokens: turns.map(|(t, _)| t.map(|(_, _, evaluated)| evaluated)),
        ttft_turn31_typed_ahead_ms: turns.map(|(_, (ms, _, _))| ms),
        turn31_evaluated_tokens: turns.map(|(_, (_, _, evaluated))| evaluated),
        peak_rss_mib: peak_rss_mib(),
    })
}

/// First-token times (ms) of the same short question in a session that has answered before
/// (the template's prefix is in the cache; the question is evaluated again as a new turn would be).
fn warm_ttft(session: &mut impl Backend, reps: usize) -> Result<Vec<f64>, EngineError> {
    let mut warm = Vec::new();
    for rep in 0..reps {
        let messages = vec![Message::new(Role::User, format!("Say hello, number {rep}."))];
        let (stats, _) =
            session.generate(&TurnRequest { turn: 2, messages, sampling: greedy(1) }, &mut Sink(String::new()))?;
        warm.push(ms(stats.time_to_first_token));
    }
    Ok(warm)
}

/// Rates measured over fresh sessions: tokens per second, the tokens each run counted and the
/// context size it ran in.
struct Rates {
    tps: Vec<f64>,
    tokens: usize,
    ctx: usize,
}

/// Prompt processing: a fresh prompt each time, so nothing is reused.
fn prompt_processing(
    model: &llama_cpp_2::model::LlamaModel,
    options: &EngineOptions,
    bench: &BenchOptions,
) -> Result<Rates, EngineError> {
    let mut pp = Rates { tps: Vec::new(), tokens: 0, ctx: 0 };
    let pp_options = sized(options, bench.prompt_tokens + bench.prompt_tokens / 8 + 64);
    for rep in 0..bench.reps {
        let (mut s, info) = llama::open_session(model, &pp_options)?;
        pp.ctx = info.n_ctx;
        let messages = vec![Message::new(Role::User, filler(bench.prompt_tokens, rep))];
        let (stats, _) =
            s.generate(&TurnRequest { turn: 1, messages, sampling: greedy(1) }, &mut Sink(String::new()))?;
        pp.tokens = stats.evaluated_tokens;
        if let Some(tps) = stats.prompt_tps() {
            pp.tps.push(tps);
        }
    }
    Ok(pp)
}

/// Generation: a prompt that asks for a long answer; greedy, so every rep is the same. Returns
/// ember's rates and llama.cpp's own decode rates in those runs.
fn generation(
    model: &llama_cpp_2::model::LlamaModel,
    options: &EngineOptions,
    bench: &BenchOptions,
) -> Result<(Rates, Vec<f64>), EngineError> {
    let mut tg = Rates { tps: Vec::new(), tokens: 0, ctx: 0 };
    let mut tg_decode = Vec::new();
    let tg_options = sized(options, bench.gen_tokens + 128);
    for _ in 0..bench.reps {
        let (mut s, info) = llama::open_session(model, &tg_options)?;
        tg.ctx = info.n_ctx;
        let messages = vec![Message::new(Role::User, "Count from 1 to 400, separated by commas.")];
        // As llama-bench: exactly the tokens asked for, the end-of-text token masked.
        let sampling = SamplingParams { ignore_eos: true, ..greedy(bench.gen_tokens) };
        let (stats, _) = s.generate(&TurnRequest { turn: 1, messages, sampling }, &mut Sink(String::new()))?;
        tg.tokens = stats.generated_tokens;
        // The last token is sampled but never decoded: the rate is over the decoded ones, as
        // llama-bench's tg is over its decodes.
        let decoded = stats.generated_tokens.saturating_sub(1);
        if decoded > 0 && !stats.generation_time.is_zero() {
            tg.tps.push(decoded as f64 / stats.generation_time.as_secs_f64());
        }
        if let Some(tps) = stats.llama_eval_tps() {
            tg_decode.push(tps);
        }
    }
    Ok((tg, tg_decode))
}

/// One turn's first-token time (ms), prompt tokens and evaluated tokens.
type TurnFigures = (f64, usize, usize);

/// First-token time at turns 2, 10 and 30 of a conversation with short replies, and at turn 31
/// with its question evaluated ahead (all but its last word) as the TUI does while it is typed.
pub fn conversation_ttft(
    model: &llama_cpp_2::model::LlamaModel,
    options: &EngineOptions,
) -> Result<([TurnFigures; 3], TurnFigures), EngineError> {
    let (mut session, _) = llama::open_session(model, options)?;
    let mut convo = vec![Message::new(Role::System, "You are a helpful assistant. Answer in one short sentence.")];
    let mut at = [(0.0, 0, 0); 3];
    for turn in 1..=30u64 {
        convo.push(Message::new(Role::User, format!("Question {turn}: what is {turn} times {turn}, and is it even?")));
        let req = TurnRequest { turn, messages: convo.clone(), sampling: greedy(24) };
        let mut sink = Sink(String::new());
        let (stats, _) = session.generate(&req, &mut sink)?;
        convo.push(Message::new(Role::Assistant, sink.0));
        let figures = (ms(stats.time_to_first_token), stats.prompt_tokens, stats.evaluated_tokens);
        match turn {
            2 => at[0] = figures,
            10 => at[1] = figures,
            30 => at[2] = figures,
            _ => {}
        }
    }
    let question = "Question 31: what is 31 times 31, and is it even?";
    let mut typed = convo.clone();
    typed.push(Message::new(Role::User, question.trim_end_matches("even?")));
    session.prefill(&TurnRequest { turn: 31, messages: typed, sampling: greedy(24) }, &mut Sink(String::new()))?;
    convo.push(Message::new(Role::User, question));
    let req = TurnRequest { turn: 31, messages: convo, sampling: greedy(24) };
    let (stats, _) = session.generate(&req, &mut Sink(String::new()))?;
    Ok((at, (ms(stats.time_to_first_token), stats.prompt_tokens, stats.evaluated_tokens)))
}

/// The report as text, one figure a line.
pub fn render(r: &BenchReport) -> String {
    let fig = |f: &Figure, unit: &str| format!("{:.2} {unit} (min {:.2}, max {:.2})", f.median, f.min, f.max);
    let mut out = String::new();
    let _ = writeln!(out, "model: {} · threads {} · {} repetitions", r.model, r.threads, r.reps);
    let _ = writeln!(out, "pp{}: {} · context {}", r.pp_tokens, fig(&r.pp_tps, "tok/s"), r.pp_ctx);
    let _ = writeln!(out, "tg{}: {} · context {}", r.tg_tokens, fig(&r.tg_tps, "tok/s"), r.tg_ctx);
    let _ = writeln!(out, "  llama.cpp's decode alone in those runs: {}", fig(&r.tg_llama_decode_tps, "tok/s"));
    let _ = writeln!(out, "first token, cold (load included): {:.1} ms", r.ttft_cold_ms);
    let _ = writeln!(out, "first token, warm: {}", fig(&r.ttft_warm_ms, "ms"));
    if let Some([t2, t10, t30]) = r.ttft_turns_ms {
        let _ = writeln!(
            out,
            "first token at turns 2 / 10 / 30: {t2:.1} / {t10:.1} / {t30:.1} ms (turn30/turn2 = {:.2})",
            t30 / t2.max(f64::MIN_POSITIVE)
        );
    }
    if let (Some(prompt), Some(evaluated)) = (r.turns_prompt_tokens, r.turns_evaluated_tokens) {
        let _ = writeln!(
            out,
            "  prompts of {} / {} / {} tokens, of which {} / {} / {} evaluated (the rest from the cache)",
            prompt[0], prompt[1], prompt[2], evaluated[0], evaluated[1], evaluated[2]
        );
    }
    if let (Some(ms), Some(evaluated)) = (r.ttft_turn31_typed_ahead_ms, r.turn31_evaluated_tokens) {
        let _ = writeln!(
            out,
            "first token at turn 31, its question evaluated ahead while typed: {ms:.1} ms ({evaluated} tokens left)"
        );
    }
    if let Some(rss) = r.peak_rss_mib {
        let _ = writeln!(out, "peak RSS: {rss:.1} MiB");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_spreads() {
        let f = Figure::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((f.median, f.min, f.max), (2.0, 1.0, 3.0));
        assert_eq!(Figure::of(vec![4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert_eq!(Figure::of(Vec::new()).median, 0.0);
    }

    #[test]
    fn filler_varies_with_the_salt() {
        assert_ne!(filler(20, 0), filler(20, 1));
        assert_eq!(filler(20, 0).split(' ').count(), 20);
    }
}
