//! While a turn runs: the prompt's reading progress, the live context meter and speed; and how
//! long status messages stay.

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::*;
use crate::tui::state::{StatusMessage, SwitchEvent, STATUS_FOR};

thread_local! {
    /// How far the test clock has been moved on.
    static OFFSET: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

/// A clock that stands still until `advance` moves it.
fn manual_clock() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now) + OFFSET.with(Cell::get)
}

fn advance(d: Duration) {
    OFFSET.with(|o| o.set(o.get() + d));
}

fn clocked_state() -> AppState {
    let mut s = ready_state();
    s.clock = manual_clock;
    s
}

fn status_text(s: &AppState) -> Option<String> {
    s.ui.status.as_ref().map(|m| m.text.clone())
}

fn progress(s: &mut AppState, turn: u64, done: usize, total: usize, context: usize) {
    update(s, AppEvent::Engine(EngineEvent::Progress { turn, done, total, context }));
}

fn delta(s: &mut AppState, turn: u64, text: &str) {
    update(s, AppEvent::Engine(EngineEvent::Delta { turn, text: text.into() }));
}

/// The last row of a 120-column screen: the status line.
fn status_row(s: &AppState) -> String {
    screen(s, 120, 30).lines().last().unwrap_or_default().to_string()
}

#[test]
fn an_info_message_expires_by_the_clock() {
    let mut s = clocked_state();
    update(&mut s, AppEvent::Engine(EngineEvent::State { op: crate::engine::StateOp::Load, result: Ok(42) }));
    assert_eq!(status_text(&s).as_deref(), Some("resumed with 42 tokens of context already evaluated"));
    assert_eq!(s.next_deadline(), Some(manual_clock() + STATUS_FOR), "the loop wakes when it expires");
    advance(STATUS_FOR - Duration::from_millis(1));
    update(&mut s, AppEvent::Tick);
    assert!(s.ui.status.is_some(), "not yet");
    advance(Duration::from_millis(1));
    update(&mut s, AppEvent::Tick);
    assert_eq!(s.ui.status, None);
    assert_eq!(s.next_deadline(), None, "nothing left to wake for");
}

#[test]
fn an_error_stays_until_the_next_key() {
    let mut s = clocked_state();
    let t = ask(&mut s, "q", "a");
    type_text(&mut s, "x");
    update(&mut s, key(KeyCode::Enter));
    assert!(status_text(&s).is_some_and(|t| t.starts_with("still answering")));
    advance(Duration::from_secs(60));
    update(&mut s, AppEvent::Tick);
    assert!(s.ui.status.as_ref().is_some_and(|m| m.error), "an error is not timed out unseen");
    update(&mut s, key(KeyCode::Backspace));
    assert_eq!(s.ui.status, None);
    done(&mut s, t, StopReason::EndOfText);
}

#[test]
fn esc_clears_the_overwrite_question() {
    let mut s = clocked_state();
    let t = ask(&mut s, "q", ANSWER);
    done(&mut s, t, StopReason::EndOfText);
    s.ui.overlay = Some(Overlay::SavePrompt { index: 0, path: Default::default(), confirm_overwrite: false });
    update(&mut s, AppEvent::Saved { path: "block1.py".into(), result: Err(SaveError::Exists) });
    assert!(status_text(&s).is_some_and(|t| t.contains("block1.py exists: Enter again to overwrite")));
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.ui.overlay, None);
    assert_eq!(s.ui.status, None, "the question went with the prompt");
}

#[test]
fn a_load_error_clears_once_a_model_loads() {
    let mut s = clocked_state();
    // /model with a file that is no model: the switch fails, and says so.
    s.session.switching = Some("broken.gguf".into());
    update(&mut s, AppEvent::Switch(SwitchEvent::Failed("not a GGUF file".into())));
    assert!(s.ui.status.as_ref().is_some_and(|m| m.error && m.text.starts_with("could not load broken.gguf")));
    update(&mut s, AppEvent::Engine(EngineEvent::Ready(info())));
    assert_eq!(s.ui.status, None);
    // An error about something else the user did while the model loaded stays until a key,
    // whatever its words (the history's errors can begin "could not load" too).
    for text in ["nothing to undo in this conversation", "could not load the conversations: database is locked"] {
        let other = StatusMessage { text: text.into(), error: true, about_load: false };
        s.ui.status = Some(other.clone());
        update(&mut s, AppEvent::Engine(EngineEvent::Ready(info())));
        assert_eq!(s.ui.status, Some(other));
    }
}

#[test]
fn a_long_prompt_shows_its_progress_and_the_meter_moves() {
    let mut s = clocked_state();
    type_text(&mut s, "explain");
    let t = turn_of(&update(&mut s, key(KeyCode::Enter)));
    assert!(s.reading_line().is_none(), "nothing to say before the engine has");
    progress(&mut s, t, 0, 1900, 100);
    assert_eq!(s.reading_line().as_deref(), Some("reading the prompt: 0 / 1,900 tokens · 0 s"));
    assert!(status_row(&s).contains("ctx 100/8192"), "{}", status_row(&s));
    advance(Duration::from_millis(4200));
    progress(&mut s, t, 1200, 1900, 1300);
    assert_eq!(s.reading_line().as_deref(), Some("reading the prompt: 1,200 / 1,900 tokens · 4 s"));
    assert!(screen(&s, 120, 30).contains("reading the prompt: 1,200 / 1,900 tokens · 4 s"));
    assert!(status_row(&s).contains("ctx 1300/8192"), "{}", status_row(&s));
    // The seconds move on by themselves: the loop is woken each second.
    update(&mut s, AppEvent::Tick);
    assert_eq!(s.next_deadline(), Some(manual_clock() + Duration::from_millis(800)));
    progress(&mut s, t, 1900, 1900, 2000);
    assert_eq!(s.reading_line(), None, "read: the line goes");
    for _ in 0..3 {
        delta(&mut s, t, "word ");
    }
    assert!(status_row(&s).contains("ctx 2003/8192"), "{}", status_row(&s));
    done(&mut s, t, StopReason::EndOfText);
    assert_eq!(s.turns.context_used, 70, "the engine's count once the turn is done");
}

#[test]
fn tok_s_while_answering_is_this_turns() {
    let mut s = clocked_state();
    let t = ask(&mut s, "q", "a");
    done(&mut s, t, StopReason::EndOfText);
    assert!(status_row(&s).contains("100.0 tok/s"), "{}", status_row(&s));
    type_text(&mut s, "again");
    let t = turn_of(&update(&mut s, key(KeyCode::Enter)));
    assert!(!status_row(&s).contains("tok/s"), "not the last turn's: {}", status_row(&s));
    advance(Duration::from_millis(500));
    delta(&mut s, t, "one");
    for _ in 0..10 {
        advance(Duration::from_millis(100));
        delta(&mut s, t, " more");
    }
    let row = status_row(&s);
    assert!(row.contains("10.0 tok/s") && row.contains("first 0.50s") && row.contains("● answering"), "{row}");
}

#[test]
fn a_turn_cancelled_before_it_began_keeps_the_meter() {
    let mut s = clocked_state();
    let t = ask(&mut s, "q", "a");
    done(&mut s, t, StopReason::EndOfText);
    type_text(&mut s, "again");
    let t = turn_of(&update(&mut s, key(KeyCode::Enter)));
    let stop = StopReason::Cancelled;
    update(&mut s, AppEvent::Engine(EngineEvent::Done { turn: t, stats: TurnStats::default(), stop }));
    assert_eq!(s.turns.context_used, 70);
}

/// A long prompt being read, at each size the issue names.
fn reading_screen(w: u16, h: u16) -> String {
    let mut s = clocked_state();
    s.ui.size = (w, h);
    let t = ask(&mut s, "what does this file do?", "");
    advance(Duration::from_secs(3));
    progress(&mut s, t, 768, 1900, 812);
    screen(&s, w, h)
}

#[test]
fn snapshot_reading_the_prompt_80x24() {
    insta::assert_snapshot!(reading_screen(80, 24));
}

#[test]
fn snapshot_reading_the_prompt_120x40() {
    insta::assert_snapshot!(reading_screen(120, 40));
}

#[test]
fn snapshot_reading_the_prompt_200x50() {
    insta::assert_snapshot!(reading_screen(200, 50));
}
