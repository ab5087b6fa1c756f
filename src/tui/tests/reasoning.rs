//! Reasoning models: thinking shown apart from the answer, folded, timed, saved apart.

use super::*;

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

#[test]
fn reasoning_is_dim_on_screen() {
    let mut s = reasoning_state();
    s.ui.color = true;
    s.transcript = crate::tui::transcript::Transcript::new(true);
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
