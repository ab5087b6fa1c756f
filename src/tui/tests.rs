//! update() and whole-screen tests with a scripted engine: events in, state and effects out.

use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::state::{update, AppEvent, AppState, EditorPurpose, Effect, Focus, ModelStatus, Overlay, SaveError};
use super::transcript::EntryState;
use super::view;
use crate::engine::{EngineError, EngineEvent, ModelInfo, Role, SamplingParams, StopReason, TurnStats};
use crate::store::recorder::RecordOp;
use crate::store::MessageState;

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
fn ctrl_c_cancels_then_clears_then_quits_twice() {
    let mut s = ready_state();
    let t = ask(&mut s, "q", "a");
    assert_eq!(update(&mut s, ctrl('c')), vec![Effect::Cancel(t)]);
    done(&mut s, t, StopReason::Cancelled);
    type_text(&mut s, "draft");
    assert!(update(&mut s, ctrl('c')).is_empty());
    assert!(s.composer.is_empty(), "Ctrl-C clears a draft");
    assert!(update(&mut s, ctrl('c')).is_empty());
    assert!(!s.ui.should_quit, "one Ctrl-C on an empty composer only arms");
    assert_eq!(update(&mut s, ctrl('c')), vec![Effect::Quit]);
    assert!(s.ui.should_quit);
}

#[test]
fn ctrl_d_quits_only_on_an_empty_composer() {
    let mut s = ready_state();
    type_text(&mut s, "x");
    assert!(update(&mut s, ctrl('d')).is_empty());
    update(&mut s, key(KeyCode::Backspace));
    assert_eq!(update(&mut s, ctrl('d')), vec![Effect::Quit]);
}

#[test]
fn newline_keys_do_not_send() {
    let mut s = ready_state();
    type_text(&mut s, "a");
    update(&mut s, AppEvent::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT)));
    update(&mut s, AppEvent::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::SHIFT)));
    update(&mut s, ctrl('j'));
    type_text(&mut s, "b");
    assert_eq!(s.composer.text(), "a\n\n\nb");
    assert!(s.turns.generating.is_none());
}

#[test]
fn paste_is_inserted_whole() {
    let mut s = ready_state();
    let big = "line\n".repeat(20_000);
    update(&mut s, AppEvent::Paste(big.clone()));
    assert_eq!(s.composer.text(), big);
    assert!(s.turns.generating.is_none(), "a pasted newline does not send");
}

#[test]
fn code_pane_copies_saves_and_opens_exact_code() {
    let mut s = ready_state();
    let t = ask(&mut s, "Write is_prime", ANSWER);
    done(&mut s, t, StopReason::EndOfText);
    let code = "def is_prime(n):\n    if n < 2:\n        return False\n    return all(n % d for d in range(2, int(n ** 0.5) + 1))\n";
    assert_eq!(s.transcript.code_blocks()[0].code, code);
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.ui.focus, Focus::CodePane);
    assert_eq!(update(&mut s, key(KeyCode::Char('c'))), vec![Effect::Copy { number: 1, text: code.into() }]);
    assert_eq!(
        update(&mut s, key(KeyCode::Char('e'))),
        vec![Effect::OpenEditor { text: code.into(), purpose: EditorPurpose::ViewCode, extension: "py".into() }]
    );
    update(&mut s, key(KeyCode::Char('s')));
    assert!(matches!(&s.ui.overlay, Some(Overlay::SavePrompt { path, .. }) if path.text() == "block1.py"));
    for _ in 0..9 {
        update(&mut s, key(KeyCode::Backspace));
    }
    type_text(&mut s, "prime.py");
    let effects = update(&mut s, key(KeyCode::Enter));
    assert_eq!(effects, vec![Effect::Save { path: "prime.py".into(), content: code.into(), overwrite: false }]);
    update(&mut s, AppEvent::Saved { path: "prime.py".into(), result: Err(SaveError::Exists) });
    let effects = update(&mut s, key(KeyCode::Enter));
    assert_eq!(effects, vec![Effect::Save { path: "prime.py".into(), content: code.into(), overwrite: true }]);
    update(&mut s, AppEvent::Saved { path: "prime.py".into(), result: Ok(code.len()) });
    assert!(s.ui.overlay.is_none());
    assert!(s.ui.status.as_ref().is_some_and(|m| m.text.contains("saved")));
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
    let notices =
        |s: &AppState| s.transcript.entries().iter().filter(|e| e.author == super::transcript::Author::Notice).count();
    assert_eq!(notices(&s), 1);
    assert!(s.transcript.entries().last().unwrap().content.contains("4 earliest messages"));
    let t = ask(&mut s, "q2", "a2");
    update(&mut s, AppEvent::Engine(EngineEvent::Done { turn: t, stats: full, stop: StopReason::EndOfText }));
    assert_eq!(notices(&s), 1, "the same loss is not announced again");
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
    }
}

#[test]
fn session_picker_lists_filters_opens_renames_and_deletes() {
    use crate::store::recorder::{Query, Reply};
    let mut s = ready_state();
    assert!(update(&mut s, ctrl('o')).is_empty(), "history off: no picker");
    s.session.saving = true;
    s.session.conversation_id = Some(7);
    assert_eq!(update(&mut s, ctrl('o')), vec![Effect::Query(Query::List { filter: String::new(), generation: 1 })]);
    let items = vec![picker_item(9, "Rust lifetimes"), picker_item(7, "Lists in Python")];
    update(&mut s, AppEvent::History(Reply::Listed { generation: 1, result: Ok(items.clone()) }));
    type_text(&mut s, "ru");
    let Some(Overlay::Sessions(p)) = &s.ui.overlay else { panic!() };
    assert_eq!((p.filter.text(), p.generation), ("ru", 3));
    // An answer for an older filter is dropped.
    update(&mut s, AppEvent::History(Reply::Listed { generation: 2, result: Ok(vec![]) }));
    let Some(Overlay::Sessions(p)) = &s.ui.overlay else { panic!() };
    assert_eq!(p.items.len(), 2);
    update(&mut s, AppEvent::History(Reply::Listed { generation: 3, result: Ok(items[..1].to_vec()) }));
    assert_eq!(update(&mut s, ctrl('d')), vec![]);
    assert_eq!(update(&mut s, ctrl('d')), vec![Effect::Query(Query::Delete(9))]);
    update(&mut s, ctrl('r'));
    for _ in 0.."Rust lifetimes".len() {
        update(&mut s, key(KeyCode::Backspace));
    }
    type_text(&mut s, "Borrowing");
    assert_eq!(update(&mut s, key(KeyCode::Enter)), vec![Effect::Query(Query::Rename(9, "Borrowing".into()))]);
    assert_eq!(update(&mut s, key(KeyCode::Enter)), vec![Effect::Query(Query::Open(9))]);
    let conversation = crate::store::Conversation {
        summary: items[0].summary.clone(),
        system_prompt: None,
        messages: vec![crate::store::StoredMessage {
            id: 1,
            parent_id: None,
            role: crate::store::StoredRole::User,
            content: "What is a lifetime?".into(),
            state: crate::store::MessageState::Complete,
            tokens: None,
            created_at: 0,
            sibling: (1, 1),
            pinned: false,
            reasoning: None,
        }],
    };
    let effects = update(&mut s, AppEvent::History(Reply::Opened(Ok(conversation))));
    assert_eq!(effects, vec![Effect::SaveContext(7), Effect::LoadContext(9)]);
    assert!(s.ui.overlay.is_none());
    assert_eq!(s.session.conversation_id, Some(9));
    assert_eq!(s.transcript.entries()[0].content, "What is a lifetime?");
}

#[test]
fn versions_of_an_answer_are_shown_and_switched() {
    use crate::store::recorder::{Query, Reply};
    let mut s = ready_state();
    s.session.saving = true;
    s.session.conversation_id = Some(5);
    let t = ask(&mut s, "q", "first");
    done(&mut s, t, StopReason::EndOfText);
    type_text(&mut s, "/retry");
    let t = turn_of(&update(&mut s, key(KeyCode::Enter)));
    update(&mut s, AppEvent::Engine(EngineEvent::Delta { turn: t, text: "second".into() }));
    done(&mut s, t, StopReason::EndOfText);
    update(&mut s, AppEvent::History(Reply::Versions(2, 2)));
    assert_eq!(s.transcript.entries()[1].versions, Some((2, 2)));
    assert!(screen(&s, 100, 12).contains("‹ 2/2 ›"));
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.ui.focus, Focus::Transcript);
    assert_eq!(update(&mut s, key(KeyCode::Left)), vec![Effect::Query(Query::Sibling { keep: 1, forward: false })]);
    let mut summary = picker_item(5, "q").summary;
    summary.messages = 3;
    let msg = |id, role, content: &str, sibling| crate::store::StoredMessage {
        id,
        parent_id: None,
        role,
        content: content.into(),
        state: crate::store::MessageState::Complete,
        tokens: None,
        created_at: 0,
        sibling,
        pinned: false,
        reasoning: None,
    };
    let conversation = crate::store::Conversation {
        summary,
        system_prompt: None,
        messages: vec![
            msg(1, crate::store::StoredRole::User, "q", (1, 1)),
            msg(2, crate::store::StoredRole::Assistant, "first", (1, 2)),
        ],
    };
    let effects = update(&mut s, AppEvent::History(Reply::Opened(Ok(conversation))));
    assert!(effects.is_empty(), "same conversation: the engine context stays: {effects:?}");
    assert_eq!(s.transcript.entries()[1].content, "first");
    assert_eq!(s.transcript.entries()[1].versions, Some((1, 2)));
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
fn a_notice_arriving_while_streaming_does_not_take_the_reply() {
    let mut s = AppState::new(PathBuf::from("/m.gguf"), None, SamplingParams::default(), false);
    type_text(&mut s, "hi");
    let turn = turn_of(&update(&mut s, key(KeyCode::Enter)));
    let base = ModelInfo { notice: Some("no chat template".into()), ..info() };
    update(&mut s, AppEvent::Engine(EngineEvent::Ready(base)));
    update(&mut s, AppEvent::Engine(EngineEvent::Delta { turn, text: "hello".into() }));
    done(&mut s, turn, StopReason::EndOfText);
    let e = s.transcript.entries();
    assert_eq!(e[1].author, super::transcript::Author::Notice);
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
    update(&mut s, AppEvent::Engine(EngineEvent::Ready(info())));
    type_text(&mut s, "q3");
    let effects = update(&mut s, key(KeyCode::Enter));
    // Saved so far: q1, a1, q2 (the cut answer was never saved): q3 follows at position 3.
    assert!(matches!(&effects[0], Effect::Record(RecordOp::Append { keep: 3, .. })), "{effects:?}");
}

#[test]
fn tab_completes_commands() {
    let mut s = ready_state();
    type_text(&mut s, "/he");
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.composer.text(), "/help");
    assert_eq!(s.ui.focus, Focus::Composer);
}

#[test]
fn load_failure_is_shown_with_what_to_do() {
    let mut s = AppState::new(PathBuf::from("/x.gguf"), None, SamplingParams::default(), false);
    update(&mut s, AppEvent::Engine(EngineEvent::LoadFailed(EngineError::ModelNotFound { path: "/x.gguf".into() })));
    assert!(matches!(s.session.model, ModelStatus::Failed(_)));
    assert!(s.transcript.entries()[0].content.contains("/model PATH"));
    type_text(&mut s, "hello");
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
    assert!(s.ui.status.as_ref().is_some_and(|m| m.error));
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

// Whole-screen snapshots of the main states.

#[test]
fn snapshot_empty() {
    let s = ready_state();
    insta::assert_snapshot!(screen(&s, 100, 14));
}

#[test]
fn snapshot_streaming() {
    let mut s = ready_state();
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
    update(&mut s, AppEvent::Engine(EngineEvent::LoadFailed(EngineError::ModelNotFound { path: "/x.gguf".into() })));
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
fn versions_switch_on_the_message_in_view_not_only_the_latest() {
    use crate::store::recorder::Query;
    let mut s = ready_state();
    for (q, a) in [("q1", "a1"), ("q2", "a2"), ("q3", "a3")] {
        let t = ask(&mut s, q, a);
        done(&mut s, t, StopReason::EndOfText);
    }
    // Answers 1 and 3 have other versions.
    s.transcript.set_versions(1, Some((2, 2)));
    s.transcript.set_versions(5, Some((1, 3)));
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.ui.focus, Focus::Transcript);
    // Following the end: the latest.
    assert_eq!(update(&mut s, key(KeyCode::Right)), vec![Effect::Query(Query::Sibling { keep: 5, forward: true })]);
    // Scrolled back to the top: the first one in view.
    s.ui.scroll = crate::tui::transcript::Scroll::Anchor { entry: 0, row: 0 };
    assert_eq!(update(&mut s, key(KeyCode::Left)), vec![Effect::Query(Query::Sibling { keep: 1, forward: false })]);
    // Scrolled to the second exchange: the next one from there.
    s.ui.scroll = crate::tui::transcript::Scroll::Anchor { entry: 2, row: 0 };
    assert_eq!(update(&mut s, key(KeyCode::Left)), vec![Effect::Query(Query::Sibling { keep: 5, forward: false })]);
}

#[test]
fn the_help_scrolls_on_a_short_terminal_and_any_other_key_closes_it() {
    let mut s = ready_state();
    update(&mut s, key(KeyCode::F(1)));
    let top = screen(&s, 100, 24);
    assert!(top.contains("↑↓ scroll") && top.contains("Keys") && !top.contains("/quit"), "{top}");
    for _ in 0..40 {
        update(&mut s, key(KeyCode::Down));
    }
    let bottom = screen(&s, 100, 24);
    assert!(bottom.contains("/quit") && !bottom.contains("Keys"), "{bottom}");
    update(&mut s, key(KeyCode::Char('x')));
    assert!(s.ui.overlay.is_none());
    assert_eq!(s.ui.help_scroll, 0);
    // Tall enough: no scrolling is offered.
    update(&mut s, key(KeyCode::F(1)));
    assert!(screen(&s, 100, 50).contains("any key closes"));
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

// The type-ahead pause, timed by a clock the test moves.

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
    assert_eq!(due, manual_clock() + super::state::PREFILL_AFTER);
    advance(super::state::PREFILL_AFTER - Duration::from_millis(1));
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
    advance(super::state::PREFILL_AFTER);
    assert_eq!(prefills(&update(&mut s, AppEvent::Tick)).len(), 1);
    update(&mut s, key(KeyCode::Left));
    update(&mut s, key(KeyCode::Right));
    assert!(s.next_deadline().is_some(), "any key restarts the pause");
    advance(super::state::PREFILL_AFTER);
    assert!(update(&mut s, AppEvent::Tick).is_empty(), "the same messages are not sent again");
    type_text(&mut s, "!");
    advance(super::state::PREFILL_AFTER);
    assert_eq!(prefills(&update(&mut s, AppEvent::Tick)).len(), 1, "a changed message is");
}

#[test]
fn no_prefill_is_sent_while_an_answer_streams() {
    let mut s = manual_clock_state();
    let turn = ask(&mut s, "Hi", "Hel");
    type_text(&mut s, "And then?");
    advance(super::state::PREFILL_AFTER);
    assert!(update(&mut s, AppEvent::Tick).is_empty(), "not while answering");
    done(&mut s, turn, StopReason::EndOfText);
    assert!(s.next_deadline().is_some(), "the answer's end restarts the pause");
    advance(super::state::PREFILL_AFTER);
    let effects = update(&mut s, AppEvent::Tick);
    let sent = prefills(&effects);
    assert_eq!(sent.len(), 1, "{effects:?}");
    assert_eq!(sent[0].messages.len(), 3, "the question, the answer, and the message typed meanwhile");
}

// Reasoning models: thinking shown apart from the answer.

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

#[test]
fn reasoning_streams_dim_apart_then_folds_to_one_line_when_the_answer_begins() {
    let mut s = reasoning_state();
    let turn = ask_and_think(&mut s, "is_prime in Rust?");
    let entry = &s.transcript.entries()[1];
    assert_eq!(entry.content, "", "reasoning is never part of the answer");
    let thinking = entry.thinking.as_ref().expect("the reasoning is kept apart");
    assert_eq!((thinking.text.as_str(), thinking.live, thinking.folded), (THOUGHT, true, false));
    let shown = screen(&s, 100, 24);
    // Six pieces, 100 ms apart: the last came 0.5 s after the first.
    assert!(shown.contains("▾ thinking… 0.5 s · 6 tokens"), "{shown}");
    assert!(shown.contains("┊ The user wants a prime check.") && shown.contains("┊ def p(n): return n > 1"), "{shown}");
    assert!(!shown.contains("[1] python"), "reasoning is plain text, not markdown: {shown}");

    answer(&mut s, turn, RUST_ANSWER);
    let shown = screen(&s, 100, 24);
    assert!(shown.contains("▸ thought for 0.6 s · 6 tokens"), "folded while the answer streams: {shown}");
    assert!(!shown.contains("The user wants"), "{shown}");
    assert!(shown.contains("[1] rust"), "{shown}");

    update(&mut s, AppEvent::Engine(EngineEvent::Done { turn, stats: thought_stats(), stop: StopReason::EndOfText }));
    let shown = screen(&s, 100, 24);
    assert!(shown.contains("▸ thought for 4.2 s · 312 tokens"), "the engine's figures: {shown}");
    assert_eq!(count(&shown, "thought for"), 1, "{shown}");
    assert_eq!(s.transcript.entries()[1].content, RUST_ANSWER);
    let sent: Vec<_> = s.conversation().iter().map(|m| m.content.clone()).collect();
    assert!(sent.iter().all(|m| !m.contains("prime check")), "the reasoning is not sent back: {sent:?}");
}

#[test]
fn t_and_a_click_unfold_and_fold_the_reasoning() {
    let mut s = reasoning_state();
    let turn = ask_and_think(&mut s, "q");
    answer(&mut s, turn, "Yes.");
    update(&mut s, AppEvent::Engine(EngineEvent::Done { turn, stats: thought_stats(), stop: StopReason::EndOfText }));
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.ui.focus, Focus::Transcript);
    update(&mut s, key(KeyCode::Char('t')));
    assert!(s.composer.is_empty(), "t in the transcript is not typed");
    let shown = screen(&s, 100, 24);
    assert!(shown.contains("▾ thought for 4.2 s · 312 tokens") && shown.contains("┊ No, write it in Rust."), "{shown}");
    update(&mut s, key(KeyCode::Char('t')));
    assert!(s.transcript.entries()[1].thinking.as_ref().is_some_and(|t| t.folded));

    // A click on the folded line unfolds it; a click elsewhere does nothing.
    let click = |s: &mut AppState, row: u16| {
        use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
        let mouse =
            MouseEvent { kind: MouseEventKind::Down(MouseButton::Left), column: 5, row, modifiers: KeyModifiers::NONE };
        update(s, AppEvent::Mouse(mouse));
    };
    s.ui.size = (100, 24);
    let shown = screen(&s, 100, 24);
    let row = shown.lines().position(|l| l.contains("▸ thought for")).expect("the folded line") as u16;
    click(&mut s, row + 1);
    assert!(s.transcript.entries()[1].thinking.as_ref().is_some_and(|t| t.folded), "the answer's row");
    click(&mut s, row);
    assert!(s.transcript.entries()[1].thinking.as_ref().is_some_and(|t| !t.folded), "{shown}");
    click(&mut s, row + 2);
    assert!(s.transcript.entries()[1].thinking.as_ref().is_some_and(|t| t.folded), "a click in the text folds it");
}

#[test]
fn code_in_the_reasoning_never_enters_the_code_pane_or_the_numbered_blocks() {
    let mut s = reasoning_state();
    let turn = ask_and_think(&mut s, "q");
    answer(&mut s, turn, RUST_ANSWER);
    update(&mut s, AppEvent::Engine(EngineEvent::Done { turn, stats: thought_stats(), stop: StopReason::EndOfText }));
    let blocks = s.transcript.code_blocks();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert_eq!((blocks[0].number, blocks[0].lang.as_str()), (1, "rust"));
    // Unfolded, the reasoning's code is shown as text, still not numbered.
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Char('t')));
    let shown = screen(&s, 120, 30);
    assert!(shown.contains("┊ def p(n): return n > 1") && shown.contains("[1] rust"), "{shown}");
    assert!(!shown.contains("[2]") && !shown.contains("] python"), "{shown}");
    type_text(&mut s, "/copy 1");
    update(&mut s, key(KeyCode::Esc));
    let effects = update(&mut s, key(KeyCode::Enter));
    assert_eq!(effects, vec![Effect::Copy { number: 1, text: "fn is_prime(n: u64) -> bool { n > 1 }\n".into() }]);

    // Only reasoning, with code: the code pane stays empty.
    let turn = ask_and_think(&mut s, "again");
    done(&mut s, turn, StopReason::MaxTokens);
    assert_eq!(s.transcript.code_blocks().len(), 1);
}

#[test]
fn a_turn_cut_while_reasoning_keeps_its_reasoning_shown_once() {
    let mut s = reasoning_state();
    s.session.saving = true;
    let turn = ask_and_think(&mut s, "q");
    assert_eq!(update(&mut s, key(KeyCode::Esc)), vec![Effect::Cancel(turn)]);
    let effects = update(
        &mut s,
        AppEvent::Engine(EngineEvent::Done { turn, stats: thought_stats(), stop: StopReason::Cancelled }),
    );
    let entry = &s.transcript.entries()[1];
    assert_eq!(entry.state, EntryState::Stopped);
    let thinking = entry.thinking.as_ref().unwrap();
    assert_eq!((thinking.text.as_str(), thinking.live, thinking.folded), (THOUGHT, false, false));
    let shown = screen(&s, 100, 24);
    assert!(shown.contains("▾ thought for 4.2 s · 312 tokens") && shown.contains("[stopped]"), "{shown}");
    assert_eq!(count(&shown, "The user wants a prime check."), 1, "{shown}");
    assert!(
        matches!(&effects[..], [Effect::Record(RecordOp::Append { content, state: MessageState::Stopped, reasoning: Some(r), .. })] if content.is_empty() && r == THOUGHT),
        "the reasoning is saved apart from the answer: {effects:?}"
    );

    // Cut at the token limit while thinking: shown too, with the figures counted here.
    let turn = ask_and_think(&mut s, "q2");
    done(&mut s, turn, StopReason::MaxTokens);
    let shown = screen(&s, 100, 24);
    assert!(shown.contains("▾ thought for 0.5 s · 6 tokens"), "{shown}");
    assert!(s.ui.status.as_ref().is_some_and(|m| m.text.contains("token limit")));

    // A failure while thinking: the reasoning stays, no longer "thinking…".
    let turn = ask_and_think(&mut s, "q3");
    update(&mut s, AppEvent::Engine(EngineEvent::Failed { turn, error: EngineError::Decode("gone".into()) }));
    let entry = s.transcript.entries().last().unwrap();
    assert!(matches!(entry.state, EntryState::Failed(_)));
    assert!(entry.thinking.as_ref().is_some_and(|t| !t.live && t.text == THOUGHT));
    assert!(!screen(&s, 100, 24).contains("thinking…"));
}

#[test]
fn reasoning_of_a_superseded_turn_is_dropped() {
    let mut s = reasoning_state();
    let t1 = ask_and_think(&mut s, "q");
    update(&mut s, key(KeyCode::Esc));
    done(&mut s, t1, StopReason::Cancelled);
    type_text(&mut s, "q2");
    let t2 = turn_of(&update(&mut s, key(KeyCode::Enter)));
    reason(&mut s, t1, "late thought of the first turn");
    assert!(s.transcript.entries()[3].thinking.is_none(), "a late piece of turn 1 is dropped");
    reason(&mut s, t2, "mine");
    assert_eq!(s.transcript.entries()[3].thinking.as_ref().map(|t| t.text.as_str()), Some("mine"));
    assert_eq!(s.transcript.entries()[1].thinking.as_ref().map(|t| t.text.as_str()), Some(THOUGHT));
}

#[test]
fn think_sets_the_requests_reasoning_and_says_when_the_model_has_no_switch() {
    use crate::engine::Reasoning;
    let mut s = reasoning_state();
    type_text(&mut s, "/th");
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.composer.text(), "/think ");
    type_text(&mut s, "high");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.session.sampling.reasoning, Reasoning::High);
    assert!(s.ui.status.as_ref().is_some_and(|m| m.text == "reasoning high from the next answer"), "{:?}", s.ui.status);
    type_text(&mut s, "hello");
    assert_eq!(s.prefill_request().map(|r| r.sampling.reasoning), Some(Reasoning::High));
    let effects = update(&mut s, key(KeyCode::Enter));
    let Some(Effect::Generate(req)) = effects.first() else { panic!("{effects:?}") };
    assert_eq!(req.sampling.reasoning, Reasoning::High);
    done(&mut s, req.turn, StopReason::EndOfText);
    type_text(&mut s, "/think");
    update(&mut s, key(KeyCode::Enter));
    let text = s.ui.status.as_ref().map(|m| m.text.clone()).unwrap_or_default();
    assert!(text.contains("reasoning high") && text.contains("<think> tags"), "{text}");
    type_text(&mut s, "/think lots");
    update(&mut s, key(KeyCode::Enter));
    assert!(s.ui.status.as_ref().is_some_and(|m| m.error && m.text.contains("usage: /think")));
    assert_eq!(s.session.sampling.reasoning, Reasoning::High, "a bad setting changes nothing");

    // A model whose template reads no setting: said, not silent.
    update(&mut s, AppEvent::Engine(EngineEvent::Ready(info())));
    assert!(s.ui.status.as_ref().is_some_and(|m| m.text.contains("no reasoning switch")), "{:?}", s.ui.status);
    type_text(&mut s, "/think off");
    update(&mut s, key(KeyCode::Enter));
    let text = s.ui.status.as_ref().map(|m| m.text.clone()).unwrap_or_default();
    assert!(text.contains("no reasoning switch") && text.contains("reasoning off changes nothing"), "{text}");
    type_text(&mut s, "/think");
    update(&mut s, key(KeyCode::Enter));
    assert!(s.ui.status.as_ref().is_some_and(|m| m.text.contains("no reasoning switch")), "{:?}", s.ui.status);
    type_text(&mut s, "/think auto");
    update(&mut s, key(KeyCode::Enter));
    assert!(s.ui.status.as_ref().is_some_and(|m| !m.text.contains("no reasoning switch")), "auto needs no switch");
}

#[test]
fn the_startup_reasoning_setting_reaches_every_request() {
    use crate::engine::Reasoning;
    let sampling = SamplingParams { reasoning: Reasoning::Off, ..SamplingParams::default() };
    let mut s = AppState::new(PathBuf::from("/m.gguf"), None, sampling, false);
    update(&mut s, AppEvent::Engine(EngineEvent::Ready(info())));
    assert!(
        s.ui.status.as_ref().is_some_and(|m| m.text.contains("no reasoning switch: reasoning off changes nothing")),
        "{:?}",
        s.ui.status
    );
    type_text(&mut s, "hi");
    let effects = update(&mut s, key(KeyCode::Enter));
    let Some(Effect::Generate(req)) = effects.first() else { panic!("{effects:?}") };
    assert_eq!(req.sampling.reasoning, Reasoning::Off);
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

#[test]
fn reasoning_is_dim_on_screen() {
    let mut s = reasoning_state();
    s.ui.color = true;
    s.transcript = super::transcript::Transcript::new(true);
    let turn = ask_and_think(&mut s, "q");
    let mut t = Terminal::new(TestBackend::new(100, 20)).unwrap();
    t.draw(|f| view::draw(f, &s)).unwrap();
    let buffer = t.backend().buffer().clone();
    let cell = |text: &str| {
        let y = (0..20).find(|&y| (0..100).map(|x| buffer[(x, y)].symbol()).collect::<String>().contains(text));
        buffer[(2, y.unwrap_or_else(|| panic!("{text} not on screen")))].clone()
    };
    use ratatui::style::Modifier;
    assert!(cell("The user wants").modifier.contains(Modifier::DIM));
    assert!(cell("thinking…").modifier.contains(Modifier::DIM));
    answer(&mut s, turn, "The answer.");
    t.draw(|f| view::draw(f, &s)).unwrap();
    let buffer = t.backend().buffer().clone();
    let y = (0..20).find(|&y| (0..100).map(|x| buffer[(x, y)].symbol()).collect::<String>().contains("The answer."));
    assert!(!buffer[(0, y.unwrap())].modifier.contains(Modifier::DIM), "the answer is not dim");
}

#[test]
fn reasoning_is_saved_apart_and_shown_folded_when_the_conversation_is_loaded() {
    use crate::store::recorder::Reply;
    use crate::store::{Conversation, StoredMessage, StoredRole};
    let mut s = reasoning_state();
    s.session.saving = true;
    let turn = ask_and_think(&mut s, "q");
    answer(&mut s, turn, "Yes.");
    let effects = update(
        &mut s,
        AppEvent::Engine(EngineEvent::Done { turn, stats: thought_stats(), stop: StopReason::EndOfText }),
    );
    let saved = effects.iter().find_map(|e| match e {
        Effect::Record(RecordOp::Append { content, reasoning, .. }) => Some((content.clone(), reasoning.clone())),
        _ => None,
    });
    assert_eq!(saved, Some(("Yes.".to_string(), Some(THOUGHT.to_string()))), "{effects:?}");
    // A reply without reasoning saves none.
    let turn = ask(&mut s, "q2", "No.");
    let effects =
        update(&mut s, AppEvent::Engine(EngineEvent::Done { turn, stats: stats(), stop: StopReason::EndOfText }));
    assert!(matches!(&effects[..], [Effect::Record(RecordOp::Append { reasoning: None, .. })]), "{effects:?}");

    let msg = |id, role, content: &str, reasoning: Option<&str>| StoredMessage {
        id,
        parent_id: None,
        role,
        content: content.into(),
        state: MessageState::Complete,
        tokens: None,
        created_at: 0,
        sibling: (1, 1),
        pinned: false,
        reasoning: reasoning.map(String::from),
    };
    let conversation = Conversation {
        summary: picker_item(4, "primes").summary,
        system_prompt: None,
        messages: vec![
            msg(1, StoredRole::User, "Is 7 prime?", None),
            msg(2, StoredRole::Assistant, "Yes, 7 is prime.", Some("Seven has no divisors\nbut 1 and 7.")),
        ],
    };
    update(&mut s, AppEvent::History(Reply::Opened(Ok(conversation))));
    let shown = screen(&s, 100, 20);
    assert!(shown.contains("▸ thought · 8 words") && shown.contains("Yes, 7 is prime."), "{shown}");
    assert!(!shown.contains("Seven has no divisors"), "folded: {shown}");
    assert_eq!(s.conversation()[1].content, "Yes, 7 is prime.", "the reasoning is not sent back");
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Char('t')));
    assert!(screen(&s, 100, 20).contains("┊ Seven has no divisors"));
}

#[test]
fn reasoning_never_reaches_the_screen_as_escapes() {
    let mut s = reasoning_state();
    type_text(&mut s, "q");
    let turn = turn_of(&update(&mut s, key(KeyCode::Enter)));
    reason(&mut s, turn, "evil \x1b]52;c;aGk=\x07 \x1b[2J \u{202e}txt\r\nnext\tline");
    let text = screen(&s, 120, 30);
    assert!(!text.contains('\x1b') && !text.contains('\u{202e}') && !text.contains('\r'), "{text}");
    assert!(text.contains("┊ evil ␛]52;c;aGk=␇ ␛[2J <U+202E>txt"), "{text}");
    assert!(text.contains("┊ next    line"), "{text}");
}
