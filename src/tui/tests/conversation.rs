//! Turns: what Enter sends, what is saved and when, stale and failed answers, /new, /model, /pin.

use super::*;

#[test]
fn enter_sends_the_whole_conversation() {
    let mut s = ready_state();
    s.session.system_prompt = Some("Be brief.".into());
    let t1 = ask(&mut s, "hi", "Hello!");
    done(&mut s, t1, StopReason::EndOfText);
    type_text(&mut s, "again");
    let effects = update(&mut s, key(KeyCode::Enter));
    let Some(Effect::Generate(req)) = effects.first() else { panic!("{effects:?}") };
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, vec![Role::System, Role::User, Role::Assistant, Role::User]);
    assert_eq!(req.messages[2].content, "Hello!");
    assert!(req.turn > t1, "turn ids only grow");
    assert!(s.composer.is_empty());
}

#[test]
fn stale_events_of_a_cancelled_turn_are_dropped() {
    let mut s = ready_state();
    let t1 = ask(&mut s, "long story", "Once upon");
    let effects = update(&mut s, key(KeyCode::Esc));
    assert_eq!(effects, vec![Effect::Cancel(t1)]);
    done(&mut s, t1, StopReason::Cancelled);
    assert_eq!(s.transcript.entries()[1].state, EntryState::Stopped);
    assert_eq!(s.transcript.entries()[1].content, "Once upon", "the partial answer stays");
    let t2 = ask(&mut s, "short", "");
    // A late delta of the first turn must not land in the second answer.
    update(&mut s, AppEvent::Engine(EngineEvent::Delta { turn: t1, text: " a time".into() }));
    update(&mut s, AppEvent::Engine(EngineEvent::Delta { turn: t2, text: "ok".into() }));
    assert_eq!(s.transcript.entries()[3].content, "ok");
    assert_eq!(s.turns.generating, Some(t2));
}

#[test]
fn slash_commands() {
    let mut s = ready_state();
    let t = ask(&mut s, "q", ANSWER);
    done(&mut s, t, StopReason::EndOfText);
    type_text(&mut s, "/copy 1");
    assert!(matches!(update(&mut s, key(KeyCode::Enter)).as_slice(), [Effect::Copy { number: 1, .. }]));
    type_text(&mut s, "/copy 9");
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
    assert!(s.ui.status.as_ref().is_some_and(|m| m.error && m.text.contains("no code block 9")));
    type_text(&mut s, "/save 1 out.py");
    assert!(matches!(update(&mut s, key(KeyCode::Enter)).as_slice(), [Effect::Save { path, .. }] if path == "out.py"));
    // /retry regenerates the last answer from the same conversation.
    type_text(&mut s, "/retry");
    let effects = update(&mut s, key(KeyCode::Enter));
    let Some(Effect::Generate(req)) = effects.first() else { panic!("{effects:?}") };
    assert_eq!(req.messages.last().map(|m| m.role), Some(Role::User));
    assert_eq!(s.transcript.len(), 2);
    assert_ne!(req.sampling.seed, s.session.sampling.seed.wrapping_add(t as u32), "a retry samples with another seed");
    done(&mut s, req.turn, StopReason::EndOfText);
    // /edit puts the last message back in the composer and removes it.
    type_text(&mut s, "/edit");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.composer.text(), "q");
    assert_eq!(s.transcript.len(), 0);
    s.composer.clear();
    type_text(&mut s, "/file notes.txt");
    assert_eq!(update(&mut s, key(KeyCode::Enter)), vec![Effect::ReadFile("notes.txt".into())]);
    type_text(&mut s, "/system Be terse.");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.session.system_prompt.as_deref(), Some("Be terse."));
    type_text(&mut s, "/bogus");
    update(&mut s, key(KeyCode::Enter));
    assert!(s.ui.status.as_ref().is_some_and(|m| m.error));
    type_text(&mut s, "/quit");
    assert_eq!(update(&mut s, key(KeyCode::Enter)), vec![Effect::Quit]);
}

#[test]
fn messages_are_recorded_as_they_complete_and_retries_branch() {
    use crate::store::recorder::RecordOp;
    use crate::store::{MessageState, StoredRole};
    let mut s = ready_state();
    s.session.saving = true;
    type_text(&mut s, "q");
    let effects = update(&mut s, key(KeyCode::Enter));
    let turn = turn_of(&effects);
    assert!(
        matches!(&effects[0], Effect::Record(RecordOp::Append { keep: 0, role: StoredRole::User, content, .. }) if content == "q")
    );
    update(&mut s, AppEvent::Engine(EngineEvent::Delta { turn, text: "a".into() }));
    let effects =
        update(&mut s, AppEvent::Engine(EngineEvent::Done { turn, stats: stats(), stop: StopReason::EndOfText }));
    assert!(
        matches!(&effects[..], [Effect::Record(RecordOp::Append { keep: 1, role: StoredRole::Assistant, state: MessageState::Complete, stats: Some(st), .. })] if st.tokens == 30)
    );
    type_text(&mut s, "/retry");
    let effects = update(&mut s, key(KeyCode::Enter));
    let turn = turn_of(&effects);
    let effects =
        update(&mut s, AppEvent::Engine(EngineEvent::Done { turn, stats: stats(), stop: StopReason::Cancelled }));
    assert!(
        matches!(&effects[..], [Effect::Record(RecordOp::Append { keep: 1, state: MessageState::Stopped, .. })]),
        "the retried answer is a sibling of the first: {effects:?}"
    );
    type_text(&mut s, "/new");
    assert!(matches!(update(&mut s, key(KeyCode::Enter)).as_slice(), [Effect::Record(RecordOp::NewConversation(_))]));
    update(&mut s, AppEvent::Recorded(Err("disk full".into())));
    assert!(!s.session.saving, "a failed write turns history off, the chat goes on");
    type_text(&mut s, "again");
    assert!(!update(&mut s, key(KeyCode::Enter)).iter().any(|e| matches!(e, Effect::Record(_))));
}

#[test]
fn dropped_context_is_said_in_the_transcript_once() {
    let mut s = ready_state();
    let t = ask(&mut s, "q", "a");
    let full = TurnStats { dropped_messages: 4, ..stats() };
    update(&mut s, AppEvent::Engine(EngineEvent::Done { turn: t, stats: full.clone(), stop: StopReason::EndOfText }));
    let notices = |s: &AppState| {
        s.transcript.entries().iter().filter(|e| e.author == crate::tui::transcript::Author::Notice).count()
    };
    assert_eq!(notices(&s), 1);
    assert!(s.transcript.entries().last().unwrap().content.contains("4 earliest messages"));
    let t = ask(&mut s, "q2", "a2");
    update(&mut s, AppEvent::Engine(EngineEvent::Done { turn: t, stats: full, stop: StopReason::EndOfText }));
    assert_eq!(notices(&s), 1, "the same loss is not announced again");
}

#[test]
fn a_notice_arriving_while_streaming_does_not_take_the_reply() {
    let mut s = AppState::new(PathBuf::from("/m.gguf"), None, SamplingParams::default(), false);
    type_text(&mut s, "hi");
    let turn = turn_of(&update(&mut s, key(KeyCode::Enter)));
    let base = ModelInfo { notice: Some("no chat template".into()), ..info() };
    update(&mut s, AppEvent::Engine(EngineEvent::Ready(base)));
    update(&mut s, AppEvent::Engine(EngineEvent::Delta { turn, text: "hello".into() }));
    done(&mut s, turn, StopReason::EndOfText);
    let e = s.transcript.entries();
    assert_eq!(e[1].author, crate::tui::transcript::Author::Notice);
    assert_eq!((e[2].content.as_str(), &e[2].state), ("hello", &EntryState::Complete));
}

#[test]
fn new_during_an_answer_starts_a_new_conversation() {
    use crate::store::recorder::RecordOp;
    let mut s = ready_state();
    s.session.saving = true;
    s.session.conversation_id = Some(3);
    let t = ask(&mut s, "q", "partial");
    type_text(&mut s, "/new");
    let effects = update(&mut s, key(KeyCode::Enter));
    assert_eq!(effects[0], Effect::Cancel(t));
    assert!(effects.contains(&Effect::SaveContext(3)));
    assert!(matches!(effects.last(), Some(Effect::Record(RecordOp::NewConversation(_)))));
    assert_eq!(s.session.conversation_id, None);
    assert!(s.transcript.is_empty());
}

#[test]
fn switching_models_mid_answer_keeps_history_positions_right() {
    use crate::store::recorder::RecordOp;
    let mut s = ready_state();
    s.session.saving = true;
    let t = ask(&mut s, "q1", "a1");
    done(&mut s, t, StopReason::EndOfText);
    ask(&mut s, "q2", "cut");
    type_text(&mut s, "/model /other.gguf");
    update(&mut s, key(KeyCode::Enter));
    let path = PathBuf::from("/other.gguf");
    update(&mut s, AppEvent::ModelResolved { name: "/other.gguf".into(), result: Ok(path) });
    update(&mut s, AppEvent::Switch(crate::tui::state::SwitchEvent::Ready(info())));
    type_text(&mut s, "q3");
    let effects = update(&mut s, key(KeyCode::Enter));
    // Saved so far: q1, a1, q2 (the cut answer was never saved): q3 follows at position 3.
    assert!(matches!(&effects[0], Effect::Record(RecordOp::Append { keep: 3, .. })), "{effects:?}");
}

#[test]
fn load_failure_is_shown_with_what_to_do() {
    let mut s = AppState::new(PathBuf::from("/x.gguf"), None, SamplingParams::default(), false);
    update(
        &mut s,
        AppEvent::Engine(EngineEvent::LoadFailed(
            crate::models::ModelFileError::NotFound { path: "/x.gguf".into() }.into(),
        )),
    );
    assert!(matches!(s.session.model, ModelStatus::Failed(_)));
    assert!(s.transcript.entries()[0].content.contains("/model PATH"));
    type_text(&mut s, "hello");
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
    assert!(s.ui.status.as_ref().is_some_and(|m| m.error));
}

#[test]
fn pin_keeps_the_last_question_in_context_and_is_saved() {
    use crate::store::recorder::RecordOp;
    let mut s = ready_state();
    type_text(&mut s, "/pin");
    update(&mut s, key(KeyCode::Enter));
    assert!(s.ui.status.as_ref().is_some_and(|m| m.error), "nothing to pin yet");
    let t = ask(&mut s, "remember: the code word is heron", "noted");
    done(&mut s, t, StopReason::EndOfText);
    let t = ask(&mut s, "second question", "second answer");
    done(&mut s, t, StopReason::EndOfText);
    s.session.saving = true;
    s.session.conversation_id = Some(3);
    type_text(&mut s, "/pin");
    let effects = update(&mut s, key(KeyCode::Enter));
    // The second question is the 3rd saved message of the branch.
    assert_eq!(effects, vec![Effect::Record(RecordOp::Pin { index: 2, pinned: true })]);
    let pinned: Vec<_> = s.conversation().iter().filter(|m| m.pinned).map(|m| m.content.clone()).collect();
    assert_eq!(pinned, ["second question"]);
    assert!(screen(&s, 100, 14).contains("[pinned]"));
    type_text(&mut s, "/unpin");
    let effects = update(&mut s, key(KeyCode::Enter));
    assert_eq!(effects, vec![Effect::Record(RecordOp::Pin { index: 2, pinned: false })]);
    assert!(s.conversation().iter().all(|m| !m.pinned));
}

#[test]
fn model_info_for_a_server_names_the_server_not_threads() {
    let mut s = AppState::new(PathBuf::from("http://127.0.0.1:8080/v1"), None, SamplingParams::default(), false);
    let server = ModelInfo {
        threads: 0,
        prompt_format: "the server's chat template".into(),
        devices: vec!["remote http://127.0.0.1:8080/v1".into()],
        ..info()
    };
    update(&mut s, AppEvent::Engine(EngineEvent::Ready(server)));
    type_text(&mut s, "/model");
    update(&mut s, key(KeyCode::Enter));
    let text = s.ui.status.as_ref().map(|m| m.text.clone()).unwrap_or_default();
    assert!(text.contains("remote http://127.0.0.1:8080/v1") && !text.contains("threads"), "{text}");
}

#[test]
fn an_answer_cut_by_a_failure_keeps_and_saves_what_streamed() {
    let mut s = ready_state();
    s.session.saving = true;
    let turn = ask(&mut s, "Explain borrowing", "Borrowing lets you");
    let effects = update(
        &mut s,
        AppEvent::Engine(EngineEvent::Failed {
            turn,
            error: EngineError::Decode("the server closed the stream".into()),
        }),
    );
    let saved = effects.iter().find_map(|e| match e {
        Effect::Record(RecordOp::Append { content, state, .. }) => Some((content.clone(), *state)),
        _ => None,
    });
    assert_eq!(saved, Some(("Borrowing lets you".to_string(), MessageState::Stopped)), "{effects:?}");
    let shown = screen(&s, 80, 20);
    assert!(shown.contains("Borrowing lets you") && shown.contains("the answer was cut: llama.cpp failed"), "{shown}");
    // The next question carries the partial answer, as it would after a resume.
    type_text(&mut s, "Go on");
    let effects = update(&mut s, key(KeyCode::Enter));
    let Some(Effect::Generate(req)) = effects.iter().find(|e| matches!(e, Effect::Generate(_))) else {
        panic!("{effects:?}")
    };
    let roles: Vec<_> = req.messages.iter().map(|m| (m.role, m.content.as_str())).collect();
    assert_eq!(
        roles,
        [(Role::User, "Explain borrowing"), (Role::Assistant, "Borrowing lets you"), (Role::User, "Go on")]
    );

    // A failure before any text keeps nothing and saves nothing.
    let turn = turn_of(&effects);
    let effects =
        update(&mut s, AppEvent::Engine(EngineEvent::Failed { turn, error: EngineError::Decode("down".into()) }));
    assert!(!effects.iter().any(|e| matches!(e, Effect::Record(_))), "{effects:?}");
}
