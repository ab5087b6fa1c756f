//! The type-ahead pause, timed by a clock the test moves: the message being typed is evaluated
//! ahead once typing pauses.

use super::*;

#[test]
fn the_message_being_typed_is_offered_for_evaluation_ahead_only_when_it_would_be_sent() {
    let mut s = ready_state();
    assert!(s.prefill_request().is_none(), "nothing typed");
    let turn = ask(&mut s, "Hi", "Hello!");
    done(&mut s, turn, StopReason::EndOfText);
    type_text(&mut s, "Tell me about Rom");
    let req = s.prefill_request().expect("idle, model ready, text typed");
    let messages: Vec<_> = req.messages.iter().map(|m| (m.role, m.content.as_str())).collect();
    assert_eq!(messages, [(Role::User, "Hi"), (Role::Assistant, "Hello!"), (Role::User, "Tell me about Rom")]);
    // What Enter then sends starts with the same messages.
    type_text(&mut s, "e");
    let sent = update(&mut s, key(KeyCode::Enter));
    let Some(Effect::Generate(real)) = sent.iter().find(|e| matches!(e, Effect::Generate(_))) else { panic!() };
    assert_eq!(real.messages[..2], req.messages[..2]);
    assert!(s.prefill_request().is_none(), "not while answering");
    let turn = turn_of(&sent);
    done(&mut s, turn, StopReason::EndOfText);
    type_text(&mut s, "/rename x");
    assert!(s.prefill_request().is_none(), "not for a command");
}

thread_local! {
    /// How far the test's manual clock has been moved.
    static MOVED: std::cell::Cell<Duration> = const { std::cell::Cell::new(Duration::ZERO) };
}

/// A clock that stands still until `advance` moves it.
fn manual_clock() -> std::time::Instant {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *START.get_or_init(std::time::Instant::now) + MOVED.with(|m| m.get())
}

fn advance(by: Duration) {
    MOVED.with(|m| m.set(m.get() + by));
}

/// The prefills among `effects`.
fn prefills(effects: &[Effect]) -> Vec<&crate::engine::TurnRequest> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Prefill(req) => Some(req),
            _ => None,
        })
        .collect()
}

fn manual_clock_state() -> AppState {
    let mut s = ready_state();
    s.clock = manual_clock;
    s
}

#[test]
fn a_pause_in_typing_sends_one_prefill_of_the_message_so_far() {
    let mut s = manual_clock_state();
    assert_eq!(s.next_deadline(), None, "nothing typed, nothing due");
    type_text(&mut s, "Tell me about Rome");
    let due = s.next_deadline().expect("typing starts the pause");
    assert_eq!(due, manual_clock() + crate::tui::state::PREFILL_AFTER);
    advance(crate::tui::state::PREFILL_AFTER - Duration::from_millis(1));
    assert!(update(&mut s, AppEvent::Tick).is_empty(), "not before the pause has lasted");
    advance(Duration::from_millis(1));
    let effects = update(&mut s, AppEvent::Tick);
    let sent = prefills(&effects);
    assert_eq!(sent.len(), 1, "{effects:?}");
    assert_eq!(sent[0].messages.last().map(|m| m.content.as_str()), Some("Tell me about Rome"));
    assert_eq!(s.next_deadline(), None, "one prefill per pause");
    assert!(update(&mut s, AppEvent::Tick).is_empty());
}

#[test]
fn keys_that_change_nothing_send_no_new_prefill() {
    let mut s = manual_clock_state();
    type_text(&mut s, "Tell me about Rome");
    advance(crate::tui::state::PREFILL_AFTER);
    assert_eq!(prefills(&update(&mut s, AppEvent::Tick)).len(), 1);
    update(&mut s, key(KeyCode::Left));
    update(&mut s, key(KeyCode::Right));
    assert!(s.next_deadline().is_some(), "any key restarts the pause");
    advance(crate::tui::state::PREFILL_AFTER);
    assert!(update(&mut s, AppEvent::Tick).is_empty(), "the same messages are not sent again");
    type_text(&mut s, "!");
    advance(crate::tui::state::PREFILL_AFTER);
    assert_eq!(prefills(&update(&mut s, AppEvent::Tick)).len(), 1, "a changed message is");
}

#[test]
fn no_prefill_is_sent_while_an_answer_streams() {
    let mut s = manual_clock_state();
    let turn = ask(&mut s, "Hi", "Hel");
    type_text(&mut s, "And then?");
    advance(crate::tui::state::PREFILL_AFTER);
    assert!(update(&mut s, AppEvent::Tick).is_empty(), "not while answering");
    done(&mut s, turn, StopReason::EndOfText);
    assert!(s.next_deadline().is_some(), "the answer's end restarts the pause");
    advance(crate::tui::state::PREFILL_AFTER);
    let effects = update(&mut s, AppEvent::Tick);
    let sent = prefills(&effects);
    assert_eq!(sent.len(), 1, "{effects:?}");
    assert_eq!(sent[0].messages.len(), 3, "the question, the answer, and the message typed meanwhile");
}
