//! Frame time while streaming, with a short and a long transcript. The per-frame cost must follow
//! what is visible, not the transcript's length: the two figures should be close.
//!
//! cargo bench --bench render
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ember::engine::{EngineEvent, ModelInfo, SamplingParams, StopReason, TurnStats};
use ember::tui::state::{update, AppEvent, AppState, Effect};
use ember::tui::view;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const ANSWER: &str = "Here is a function:\n\n```python\ndef is_prime(n):\n    if n < 2:\n        return False\n    return all(n % d for d in range(2, int(n ** 0.5) + 1))\n```\n\nIt checks **divisors** up to the square root, so it runs in `O(sqrt n)`.\n\n- fast\n- simple\n";

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

/// A state with `messages` finished messages (half questions, half answers with code), then a
/// reply being streamed.
fn state_with(messages: usize) -> (AppState, u64) {
    let mut state = AppState::new(PathBuf::from("m.gguf"), None, SamplingParams::default(), true);
    state.size = (120, 40);
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
    let turn = send(&mut state, "And now a long answer please");
    (state, turn)
}

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_while_streaming");
    group.measurement_time(Duration::from_secs(5));
    for messages in [20, 2000] {
        let (mut state, turn) = state_with(messages);
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap_or_else(|e| panic!("{e}"));
        let mut n = 0u64;
        group.bench_function(format!("{messages}_messages"), |b| {
            b.iter(|| {
                n += 1;
                // A token, with a paragraph break now and then as real answers have.
                let text = if n % 40 == 0 { "done.\n\n".to_string() } else { format!("word{n} ") };
                update(&mut state, AppEvent::Engine(EngineEvent::Delta { turn, text }));
                terminal.draw(|f| view::draw(f, &state)).map(|_| ()).unwrap_or_else(|e| panic!("{e}"));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, frames);
criterion_main!(benches);
