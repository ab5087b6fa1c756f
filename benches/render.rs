//! Frame time with a short, a 500- and a 5,000-message transcript: while a reply streams, and a
//! static frame (following the end, and scrolled back to the middle). The per-frame cost must
//! follow what is visible, not the transcript's length: the figures for each case should be close.
//! Building each state through `update` is timed too and printed before the benchmarks.
//!
//! cargo bench --bench render
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ember::engine::{EngineEvent, ModelInfo, SamplingParams, StopReason, TurnStats};
use ember::tui::state::{update, AppEvent, AppState, Effect};
use ember::tui::transcript::Scroll;
use ember::tui::view;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const ANSWER: &str = "Here is a function:\n\n```python\ndef is_prime(n):\n    if n < 2:\n        return False\n    return all(n % d for d in range(2, int(n ** 0.5) + 1))\n```\n\nIt checks **divisors** up to the square root, so it runs in `O(sqrt n)`.\n\n- fast\n- simple\n";

/// Transcript lengths: a short one, then 1x and 10x.
const SIZES: [usize; 3] = [20, 500, 5000];

fn send(state: &mut AppState, text: &str) -> u64 {
    for c in text.chars() {
        update(state, AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)));
    }
    let effects = update(state, AppEvent::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Generate(r) => Some(r.turn),
            _ => None,
        })
        .unwrap_or_default()
}

/// A state with `messages` finished messages (half questions, half answers with code), then,
/// when `streaming`, a reply being streamed. Prints how long building it through `update` took.
fn state_with(messages: usize, streaming: bool) -> (AppState, u64) {
    let started = Instant::now();
    let mut state = AppState::new(PathBuf::from("m.gguf"), None, SamplingParams::default(), true);
    state.ui.size = (120, 40);
    let info = ModelInfo {
        path: PathBuf::from("m.gguf"),
        name: "m".into(),
        n_ctx: 8192,
        n_ctx_train: 8192,
        threads: 2,
        gpu_layers: 0,
        prompt_format: "chatml".into(),
        devices: vec![],
        notice: None,
        reasoning_format: "none".into(),
        reasoning_switch: false,
    };
    update(&mut state, AppEvent::Engine(EngineEvent::Ready(info)));
    for i in 0..messages / 2 {
        let turn = send(&mut state, &format!("Question {i}: write is_prime"));
        update(&mut state, AppEvent::Engine(EngineEvent::Delta { turn, text: ANSWER.into() }));
        update(
            &mut state,
            AppEvent::Engine(EngineEvent::Done { turn, stats: TurnStats::default(), stop: StopReason::EndOfText }),
        );
    }
    let turn = if streaming { send(&mut state, "And now a long answer please") } else { 0 };
    eprintln!(
        "setup: {messages} messages{} built in {:?}",
        if streaming { " + a reply" } else { "" },
        started.elapsed()
    );
    (state, turn)
}

fn terminal() -> Terminal<TestBackend> {
    Terminal::new(TestBackend::new(120, 40)).unwrap_or_else(|e| panic!("{e}"))
}

fn draw(terminal: &mut Terminal<TestBackend>, state: &AppState) {
    terminal.draw(|f| view::draw(f, state)).map(|_| ()).unwrap_or_else(|e| panic!("{e}"));
}

/// Tokens in each streamed reply before it is finished and retried (untimed), so every size is
/// measured over the same mix of reply lengths and the transcript keeps its length.
const REPLY_TOKENS: u64 = 400;

fn frames_while_streaming(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_while_streaming");
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for messages in SIZES {
        let (mut state, mut turn) = state_with(messages, true);
        let mut terminal = terminal();
        let mut n = 0u64;
        group.bench_function(format!("{messages}_messages"), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    n += 1;
                    if n % REPLY_TOKENS == 0 {
                        let done = EngineEvent::Done { turn, stats: TurnStats::default(), stop: StopReason::EndOfText };
                        update(&mut state, AppEvent::Engine(done));
                        turn = send(&mut state, "/retry");
                        assert_ne!(turn, 0, "/retry starts a new reply");
                    }
                    // A token, with a paragraph break now and then as real answers have.
                    let text = if n % 40 == 0 { "done.\n\n".to_string() } else { format!("word{n} ") };
                    let started = Instant::now();
                    update(&mut state, AppEvent::Engine(EngineEvent::Delta { turn, text }));
                    draw(&mut terminal, &state);
                    spent += started.elapsed();
                }
                spent
            })
        });
    }
    group.finish();
}

/// One long reply streaming at the end of a 500-message transcript, already 50 or 500 paragraphs
/// long (about 2,000 or 20,000 tokens, like a long listing or a pasted file): a frame shows only
/// its last rows, so its cost should not follow the reply's length either.
fn frames_long_reply(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_long_reply");
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for paragraphs in [50, 500] {
        let (mut state, turn) = state_with(500, true);
        let paragraph = format!("{}done.\n\n", "word ".repeat(39));
        update(&mut state, AppEvent::Engine(EngineEvent::Delta { turn, text: paragraph.repeat(paragraphs) }));
        let mut terminal = terminal();
        draw(&mut terminal, &state);
        let (width, _) = ember::tui::state::transcript_area(&state);
        let rows = state.transcript.height(state.transcript.len() - 1, width);
        eprintln!("setup: a reply of {paragraphs} paragraphs is {rows} rows");
        let mut n = 0u64;
        group.bench_function(format!("{paragraphs}_paragraphs"), |b| {
            b.iter(|| {
                n += 1;
                let text = if n % 40 == 0 { "done.\n\n".to_string() } else { format!("word{n} ") };
                update(&mut state, AppEvent::Engine(EngineEvent::Delta { turn, text }));
                draw(&mut terminal, &state);
            })
        });
    }
    group.finish();
}

/// An idle frame (nothing streams), following the end and scrolled back to the middle: the
/// transcript's rows come from its cache, so what is left is finding the visible entries.
fn frames_static(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_static");
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for messages in SIZES {
        let (mut state, _) = state_with(messages, false);
        let mut terminal = terminal();
        group.bench_function(format!("bottom_{messages}_messages"), |b| b.iter(|| draw(&mut terminal, &state)));
        state.ui.scroll = Scroll::Anchor { entry: messages / 2, row: 0 };
        group.bench_function(format!("middle_{messages}_messages"), |b| b.iter(|| draw(&mut terminal, &state)));
    }
    group.finish();
}

criterion_group!(benches, frames_while_streaming, frames_long_reply, frames_static);
criterion_main!(benches);
