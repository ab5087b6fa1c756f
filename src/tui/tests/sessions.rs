//! The session picker and versions of an answer.

use super::*;
use crate::tui::transcript::Scroll;

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
    // The ctx meter waits for the engine's count of the conversation opened.
    let count = Effect::Count(1, Countable::Prompt(vec![Message::new(Role::User, "What is a lifetime?")]));
    assert_eq!(effects, vec![Effect::SaveContext(7), Effect::LoadContext(9), count]);
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
    assert_eq!(s.turns.context_used, 70, "the meter keeps the context's size, not 0");
    assert_eq!(s.transcript.entries()[1].content, "first");
    assert_eq!(s.transcript.entries()[1].versions, Some((1, 2)));
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

/// A stored conversation of `n` messages, questions and answers in turn; message `i` has id
/// `100 + i`, and message 13 talks about a walrus.
fn long_conversation(n: usize) -> crate::store::Conversation {
    use crate::store::{StoredMessage, StoredRole};
    let messages = (0..n)
        .map(|i| StoredMessage {
            id: 100 + i as i64,
            parent_id: i.checked_sub(1).map(|p| 100 + p as i64),
            role: if i % 2 == 0 { StoredRole::User } else { StoredRole::Assistant },
            content: if i == 13 { "The Walrus lives in the Arctic.".into() } else { format!("message {i}") },
            state: MessageState::Complete,
            tokens: None,
            created_at: 0,
            sibling: (1, 1),
            pinned: false,
            reasoning: None,
        })
        .collect();
    crate::store::Conversation { summary: picker_item(9, "Animals").summary, system_prompt: None, messages }
}

/// The picker searched for "walrus" and Enter opened the hit (message 13 of 40).
fn opened_at_hit() -> AppState {
    opened_at_hit_in(long_conversation(40))
}

/// The same search, opening `conversation` (its message 113 holds the hit).
fn opened_at_hit_in(conversation: crate::store::Conversation) -> AppState {
    use crate::store::recorder::{Query, Reply};
    let mut s = ready_state();
    s.session.saving = true;
    update(&mut s, ctrl('o'));
    type_text(&mut s, "walrus");
    let hit = crate::store::recorder::PickerItem {
        snippet: Some("The [Walrus] lives".into()),
        message: Some(113),
        ..picker_item(9, "Animals")
    };
    update(&mut s, AppEvent::History(Reply::Listed { generation: 7, result: Ok(vec![hit]) }));
    let effects = update(&mut s, key(KeyCode::Enter));
    assert_eq!(effects, vec![Effect::Query(Query::OpenAt { conversation: 9, message: 113 })]);
    update(&mut s, AppEvent::History(Reply::Opened(Ok(conversation))));
    s
}

#[test]
fn a_search_hit_opens_the_conversation_at_its_message_with_the_words_marked() {
    use ratatui::style::Modifier;
    let s = opened_at_hit();
    assert_eq!(s.ui.scroll, Scroll::Anchor { entry: 13, row: 0 });
    assert_eq!(status(&s).0, "opened at the match, message 14 of 40: End (in the transcript) goes to the end");
    let rows = s.transcript.rows(13, 120);
    let marked: Vec<&str> = rows
        .stable
        .iter()
        .flat_map(|l| &l.spans)
        .filter(|sp| sp.style.add_modifier.contains(Modifier::REVERSED))
        .map(|sp| sp.content.as_ref())
        .collect();
    assert_eq!(marked, ["Walrus"]);
    assert_eq!(s.transcript.found_row(13, 120), Some(1));
    assert_eq!(s.transcript.found_row(12, 120), None, "only the hit is marked");
}

#[test]
fn a_hit_in_the_hidden_lines_of_a_long_block_opens_it_unfolded_at_the_match() {
    let code: String =
        (1..=40).map(|i| if i == 35 { "walrus = 35\n".to_string() } else { format!("x = {i}\n") }).collect();
    for (index, author) in [(13, "the model's reply"), (12, "the user's message")] {
        let mut conversation = long_conversation(40);
        conversation.messages[13].content = "message 13".into();
        conversation.messages[index].content = format!("```python\n{code}```\n");
        conversation.messages[index].id = 113;
        conversation.messages[13].id = if index == 13 { 113 } else { 213 };
        let s = opened_at_hit_in(conversation);
        let row = s.transcript.found_row(index, 120);
        assert!(row.is_some_and(|r| r > 30), "{author}: the match in line 35 is shown and marked: {row:?}");
        assert_eq!(s.ui.scroll, Scroll::Anchor { entry: index, row: row.unwrap_or(0) - 2 }, "{author}");
    }
}

#[test]
fn opening_without_a_search_shows_the_end() {
    use crate::store::recorder::{Query, Reply};
    let mut s = ready_state();
    s.session.saving = true;
    update(&mut s, ctrl('o'));
    let item = crate::store::recorder::PickerItem { message: None, ..picker_item(9, "Animals") };
    update(&mut s, AppEvent::History(Reply::Listed { generation: 1, result: Ok(vec![item]) }));
    assert_eq!(update(&mut s, key(KeyCode::Enter)), vec![Effect::Query(Query::Open(9))]);
    update(&mut s, AppEvent::History(Reply::Opened(Ok(long_conversation(40)))));
    assert_eq!(s.ui.scroll, Scroll::Follow);
    assert_eq!(s.transcript.found_row(13, 120), None);
}

#[test]
fn snapshot_opened_at_a_search_hit() {
    insta::assert_snapshot!(screen(&opened_at_hit(), 100, 16));
}
