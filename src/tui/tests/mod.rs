//! update() and whole-screen tests with a scripted engine: events in, state and effects out.
//! This file holds the shared helpers and the whole-screen snapshots (their names follow this
//! module's path); the areas' tests are in the files beside it.

use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::state::{update, AppEvent, AppState, EditorPurpose, Effect, Focus, ModelStatus, Overlay, SaveError};
use super::transcript::EntryState;
use super::view;
use crate::engine::{
    Countable, EngineError, EngineEvent, Message, ModelInfo, Role, SamplingParams, StopReason, TurnStats,
};
use crate::store::recorder::RecordOp;
use crate::store::MessageState;

mod apply;
mod attach;
mod complete_path;
mod conversation;
mod fold;
mod keys;
mod live;
mod mentions;
mod reasoning;
mod schema;
mod sessions;
mod switching;
mod tidy;
mod type_ahead;

fn info() -> ModelInfo {
    ModelInfo {
        path: PathBuf::from("/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
        name: "SmolLM2-135M-Instruct.Q4_1".into(),
        n_ctx: 8192,
        n_ctx_train: 8192,
        threads: 2,
        gpu_layers: 0,
        prompt_format: "the model's chat template".into(),
        devices: vec!["CPU".into()],
        notice: None,
        reasoning_format: "none".into(),
        reasoning_switch: false,
    }
}

fn ready_state() -> AppState {
    let mut s = AppState::new(PathBuf::from("/models/m.gguf"), None, SamplingParams::default(), false);
    s.ui.size = (120, 30);
    update(&mut s, AppEvent::Engine(EngineEvent::Ready(info())));
    s
}

/// The status line's text, and whether it is an error.
fn status(s: &AppState) -> (String, bool) {
    s.ui.status.as_ref().map(|m| (m.text.clone(), m.error)).unwrap_or_default()
}

fn key(code: KeyCode) -> AppEvent {
    AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(c: char) -> AppEvent {
    AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn type_text(s: &mut AppState, text: &str) {
    for c in text.chars() {
        update(s, key(KeyCode::Char(c)));
    }
}

fn turn_of(effects: &[Effect]) -> u64 {
    match effects.iter().find_map(|e| match e {
        Effect::Generate(r) => Some(r.turn),
        _ => None,
    }) {
        Some(t) => t,
        None => panic!("no Generate in {effects:?}"),
    }
}

fn stats() -> TurnStats {
    TurnStats {
        prompt_tokens: 40,
        reused_tokens: 12,
        shifted_tokens: 0,
        evaluated_tokens: 28,
        generated_tokens: 30,
        time_to_first_token: Duration::from_millis(170),
        prompt_time: Duration::from_millis(100),
        generation_time: Duration::from_millis(300),
        llama_eval: None,
        dropped_messages: 0,
        summarized: false,
        reasoning_tokens: 0,
        reasoning_time: Duration::ZERO,
        grammar: None,
        speculation: None,
    }
}

const ANSWER: &str = "Here it is:\n\n```python\ndef is_prime(n):\n    if n < 2:\n        return False\n    return all(n % d for d in range(2, int(n ** 0.5) + 1))\n```\n\nIt checks divisors up to the square root.";

/// Sends a question and streams `answer` back for it.
fn ask(s: &mut AppState, question: &str, answer: &str) -> u64 {
    type_text(s, question);
    let effects = update(s, key(KeyCode::Enter));
    let turn = turn_of(&effects);
    for piece in answer.as_bytes().chunks(7) {
        let text = String::from_utf8_lossy(piece).into_owned();
        update(s, AppEvent::Engine(EngineEvent::Delta { turn, text }));
    }
    turn
}

fn done(s: &mut AppState, turn: u64, stop: StopReason) {
    update(s, AppEvent::Engine(EngineEvent::Done { turn, stats: stats(), stop }));
}

fn screen(s: &AppState, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| view::draw(f, s)).unwrap();
    t.backend().to_string()
}

fn picker_item(id: i64, title: &str) -> crate::store::recorder::PickerItem {
    crate::store::recorder::PickerItem {
        summary: crate::store::ConversationSummary {
            id,
            title: title.into(),
            created_at: 1_764_400_000_000,
            updated_at: 1_764_400_000_000,
            model: "SmolLM2".into(),
            messages: 4,
            cwd: "/home/me/project".into(),
        },
        snippet: None,
        message: None,
    }
}

#[test]
fn snapshot_session_picker() {
    use crate::store::recorder::Reply;
    let mut s = ready_state();
    s.session.saving = true;
    update(&mut s, ctrl('o'));
    let mut hit = picker_item(9, "Rust lifetimes");
    hit.snippet = Some("…how long [references] live…".into());
    type_text(&mut s, "refer");
    let generation = match &s.ui.overlay {
        Some(Overlay::Sessions(p)) => p.generation,
        _ => panic!(),
    };
    update(&mut s, AppEvent::History(Reply::Listed { generation, result: Ok(vec![hit, picker_item(3, "Lists")]) }));
    insta::assert_snapshot!(screen(&s, 100, 12));
}

#[test]
fn model_output_never_reaches_the_screen_as_escapes() {
    let mut s = ready_state();
    let t = ask(&mut s, "q", "evil \x1b]52;c;aGk=\x07 \x1b[2J \u{202e}txt\n```sh\nrm \x1b[31m\n```");
    done(&mut s, t, StopReason::EndOfText);
    let text = screen(&s, 120, 30);
    assert!(!text.contains('\x1b') && !text.contains('\u{202e}'), "{text}");
    assert!(text.contains("␛]52;c;aGk=␇"));
    assert_eq!(s.transcript.code_blocks()[0].code, "rm \x1b[31m\n", "copy stays byte-exact");
}

#[test]
fn tiny_terminals_render_without_panic() {
    let mut s = ready_state();
    let t = ask(&mut s, "q", ANSWER);
    done(&mut s, t, StopReason::EndOfText);
    for (w, h) in [(1, 1), (2, 3), (5, 5), (10, 4), (20, 6), (99, 10), (100, 10)] {
        s.ui.size = (w, h);
        for focus in [Focus::Composer, Focus::CodePane] {
            s.ui.focus = focus;
            screen(&s, w, h);
        }
    }
}

#[test]
fn snapshot_empty() {
    let s = ready_state();
    insta::assert_snapshot!(screen(&s, 100, 14));
}

#[test]
fn snapshot_streaming() {
    let mut s = ready_state();
    // The live figures (time to the first token) are timed by the test clock.
    s.clock = ticking_clock;
    type_text(&mut s, "Write a Python function is_prime(n)");
    let turn = turn_of(&update(&mut s, key(KeyCode::Enter)));
    update(&mut s, AppEvent::Engine(EngineEvent::Delta { turn, text: ANSWER[..70].to_string() }));
    insta::assert_snapshot!(screen(&s, 100, 16));
}

#[test]
fn snapshot_code_pane_focused() {
    let mut s = ready_state();
    let t = ask(&mut s, "Write a Python function is_prime(n)", ANSWER);
    done(&mut s, t, StopReason::EndOfText);
    s.ui.focus = Focus::CodePane;
    insta::assert_snapshot!(screen(&s, 110, 20));
}

#[test]
fn snapshot_help_overlay() {
    let mut s = ready_state();
    update(&mut s, key(KeyCode::F(1)));
    insta::assert_snapshot!(screen(&s, 100, 46));
}

#[test]
fn snapshot_load_error() {
    let mut s = AppState::new(PathBuf::from("/x.gguf"), None, SamplingParams::default(), false);
    update(
        &mut s,
        AppEvent::Engine(EngineEvent::LoadFailed(
            crate::models::ModelFileError::NotFound { path: "/x.gguf".into() }.into(),
        )),
    );
    insta::assert_snapshot!(screen(&s, 80, 14));
}

#[test]
fn snapshot_narrow_with_code_overlay() {
    let mut s = ready_state();
    s.ui.size = (60, 18);
    let t = ask(&mut s, "Write a Python function is_prime(n)", ANSWER);
    done(&mut s, t, StopReason::EndOfText);
    insta::assert_snapshot!("narrow_transcript", screen(&s, 60, 18));
    s.ui.focus = Focus::CodePane;
    insta::assert_snapshot!("narrow_code_overlay", screen(&s, 60, 18));
}

#[test]
fn snapshot_slash_completion() {
    let mut s = ready_state();
    type_text(&mut s, "/s");
    insta::assert_snapshot!(screen(&s, 100, 12));
}

thread_local! {
    /// Calls of the test clock so far: each call is 100 ms after the one before.
    static TICKS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A clock that advances 100 ms a call, from a fixed start.
fn ticking_clock() -> std::time::Instant {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let n = TICKS.with(|t| {
        let n = t.get();
        t.set(n + 1);
        n
    });
    *START.get_or_init(std::time::Instant::now) + Duration::from_millis(100) * n
}

/// A ready state whose model reads a reasoning setting, timed by the test clock.
fn reasoning_state() -> AppState {
    let mut s = AppState::new(PathBuf::from("/models/m.gguf"), None, SamplingParams::default(), false);
    s.ui.size = (120, 30);
    TICKS.with(|t| t.set(0));
    s.clock = ticking_clock;
    let model = ModelInfo { reasoning_format: "<think> tags".into(), reasoning_switch: true, ..info() };
    update(&mut s, AppEvent::Engine(EngineEvent::Ready(model)));
    s
}

fn reason(s: &mut AppState, turn: u64, text: &str) {
    update(s, AppEvent::Engine(EngineEvent::Reasoning { turn, text: text.into() }));
}

fn answer(s: &mut AppState, turn: u64, text: &str) {
    update(s, AppEvent::Engine(EngineEvent::Delta { turn, text: text.into() }));
}

fn thought_stats() -> TurnStats {
    TurnStats { reasoning_tokens: 312, reasoning_time: Duration::from_millis(4200), ..stats() }
}

const THOUGHT: &str =
    "The user wants a prime check.\nMaybe:\n```python\ndef p(n): return n > 1\n```\nNo, write it in Rust.";

const RUST_ANSWER: &str = "Here:\n\n```rust\nfn is_prime(n: u64) -> bool { n > 1 }\n```\n";

/// Asks, streams THOUGHT as reasoning in pieces, and returns the turn.
fn ask_and_think(s: &mut AppState, question: &str) -> u64 {
    type_text(s, question);
    let turn = turn_of(&update(s, key(KeyCode::Enter)));
    for line in THOUGHT.split_inclusive('\n') {
        reason(s, turn, line);
    }
    turn
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

fn reasoning_screen(stop: Option<StopReason>, unfold: bool) -> String {
    let mut s = reasoning_state();
    let turn = ask_and_think(&mut s, "Write is_prime in Rust");
    if let Some(stop) = stop {
        answer(&mut s, turn, RUST_ANSWER);
        update(&mut s, AppEvent::Engine(EngineEvent::Done { turn, stats: thought_stats(), stop }));
    }
    if unfold {
        update(&mut s, key(KeyCode::Tab));
        update(&mut s, key(KeyCode::Char('t')));
    }
    screen(&s, 100, 20)
}

#[test]
fn snapshot_reasoning_folded() {
    insta::assert_snapshot!(reasoning_screen(Some(StopReason::EndOfText), false));
}

#[test]
fn snapshot_reasoning_unfolded() {
    insta::assert_snapshot!(reasoning_screen(Some(StopReason::EndOfText), true));
}

#[test]
fn snapshot_reasoning_streaming() {
    insta::assert_snapshot!(reasoning_screen(None, false));
}
