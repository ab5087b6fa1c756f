use super::*;

fn store_with_chat() -> (Store, i64, Vec<i64>) {
    let mut s = Store::open_in_memory().unwrap();
    let c = s
        .create_conversation(&NewConversation {
            model: "smol".into(),
            system_prompt: Some("Be brief.".into()),
            cwd: "/src".into(),
        })
        .unwrap();
    let u1 = s.add_message(c, None, &NewMessage::new(StoredRole::User, "How do I reverse a list in Python?")).unwrap();
    let a1 = s
        .add_message(c, Some(u1), &NewMessage::new(StoredRole::Assistant, "Use `reversed(xs)` or `xs[::-1]`."))
        .unwrap();
    (s, c, vec![u1, a1])
}

#[test]
fn round_trip_keeps_order_text_and_title() {
    let (s, c, ids) = store_with_chat();
    let conv = s.load(c).unwrap();
    assert_eq!(conv.summary.title, "How do I reverse a list in Python?");
    assert_eq!(conv.system_prompt.as_deref(), Some("Be brief."));
    assert_eq!(conv.messages.iter().map(|m| m.id).collect::<Vec<_>>(), ids);
    assert_eq!(conv.messages[1].content, "Use `reversed(xs)` or `xs[::-1]`.");
    assert_eq!(conv.summary.messages, 2);
    assert_eq!(s.latest_in("/src").unwrap(), Some(c));
    assert_eq!(s.latest_in("/elsewhere").unwrap(), None);
}

#[test]
fn stopped_replies_and_stats_are_kept() {
    let (mut s, c, ids) = store_with_chat();
    let msg = NewMessage {
        state: MessageState::Stopped,
        tokens: Some(12),
        time_to_first_token_ms: Some(70),
        tokens_per_second: Some(110.5),
        ..NewMessage::new(StoredRole::Assistant, "partial answ")
    };
    let u2 = s.add_message(c, Some(ids[1]), &NewMessage::new(StoredRole::User, "more")).unwrap();
    s.add_message(c, Some(u2), &msg).unwrap();
    let last = s.load(c).unwrap().messages.pop().unwrap();
    assert_eq!((last.state, last.tokens, last.content.as_str()), (MessageState::Stopped, Some(12), "partial answ"));
}

#[test]
fn retries_become_branches() {
    let (mut s, c, ids) = store_with_chat();
    // /retry: a second answer to the same question, as a sibling.
    let a2 = s.add_message(c, Some(ids[0]), &NewMessage::new(StoredRole::Assistant, "Call xs.reverse().")).unwrap();
    let conv = s.load(c).unwrap();
    assert_eq!(conv.messages.last().map(|m| (m.id, m.sibling)), Some((a2, (2, 2))));
    assert_eq!(s.siblings(a2).unwrap(), vec![ids[1], a2]);
    // Switch back to the first answer: the branch follows it.
    s.set_leaf(c, Some(s.newest_leaf_under(ids[1]).unwrap())).unwrap();
    let conv = s.load(c).unwrap();
    assert_eq!(conv.messages.last().map(|m| (m.id, m.sibling)), Some((ids[1], (1, 2))));
}

#[test]
fn search_finds_ranks_and_snippets() {
    let (mut s, _, _) = store_with_chat();
    let c2 = s.create_conversation(&NewConversation::default()).unwrap();
    let u = s.add_message(c2, None, &NewMessage::new(StoredRole::User, "Explain Rust lifetimes")).unwrap();
    s.add_message(
        c2,
        Some(u),
        &NewMessage::new(StoredRole::Assistant, "Lifetimes name how long references live. Lifetimes lifetimes."),
    )
    .unwrap();
    let hits = s.search("lifetime", 10).unwrap();
    assert_eq!(hits.len(), 2, "prefix search matches both messages");
    assert!(hits[0].snippet.contains("[Lifetimes]"), "{:?}", hits[0].snippet);
    assert_eq!(hits[0].role, StoredRole::Assistant, "more matches rank first");
    assert_eq!(s.search("reverse python", 10).unwrap().len(), 1, "all words required");
    assert!(s.search("\"unbalanced AND (", 10).is_ok(), "syntax characters are not errors");
    assert!(s.search("   ", 10).unwrap().is_empty());
}

#[test]
fn conversation_search_lists_each_conversation_once() {
    let (mut s, _, _) = store_with_chat();
    let c2 = s.create_conversation(&NewConversation::default()).unwrap();
    let u = s.add_message(c2, None, &NewMessage::new(StoredRole::User, "Explain Rust lifetimes")).unwrap();
    s.add_message(c2, Some(u), &NewMessage::new(StoredRole::Assistant, "Lifetimes lifetimes lifetimes.")).unwrap();
    let c3 = s.create_conversation(&NewConversation::default()).unwrap();
    s.add_message(c3, None, &NewMessage::new(StoredRole::User, "A lifetime issue")).unwrap();
    let hits = s.search_conversations("lifetime", 10).unwrap();
    assert_eq!(
        hits.iter().map(|h| (h.conversation_id, h.more)).collect::<Vec<_>>(),
        vec![(c2, 1), (c3, 0)],
        "{hits:?}"
    );
    assert!(hits[0].snippet.contains("[Lifetimes]"), "the best message's snippet: {:?}", hits[0].snippet);
    assert_eq!(hits[0].role, StoredRole::Assistant);
    assert_eq!(s.search_conversations("lifetime", 1).unwrap().len(), 1, "the limit counts conversations");
    assert!(s.search_conversations("is", 10).unwrap().is_empty(), "a short word matches whole words only");
    assert_eq!(s.search_conversations("iss", 10).unwrap().len(), 1, "a longer one is a prefix");
    assert!(s.search_conversations("zzz", 10).unwrap().is_empty());
}

#[test]
fn delete_and_rename() {
    let (s, c, _) = store_with_chat();
    assert_eq!(s.summary(c).unwrap().title, "How do I reverse a list in Python?");
    s.rename(c, "Lists").unwrap();
    assert_eq!(s.list(10).unwrap()[0].title, "Lists");
    assert_eq!(s.summary(c).unwrap(), s.list(10).unwrap()[0], "the cached statement reads the rename");
    s.delete(c).unwrap();
    assert!(s.list(10).unwrap().is_empty());
    assert!(s.search("reverse", 10).unwrap().is_empty(), "the index forgets deleted messages");
    assert!(matches!(s.delete(c), Err(StoreError::NoConversation(_))));
    assert!(matches!(s.summary(c), Err(StoreError::NoConversation(_))));
    assert!(matches!(s.load(c), Err(StoreError::NoConversation(_))));
}

#[test]
fn titles_take_the_first_real_line() {
    assert_eq!(title_from("\n\n  Fix this bug  \nmore"), "Fix this bug");
    assert_eq!(title_from("```rust\nfn a() {}\n```"), "fn a() {}");
    assert_eq!(title_from(&"x".repeat(100)).chars().count(), 61);
    // The question, not the attachments' labels (as the front ends attach files and stdin).
    assert_eq!(title_from("stdin:\n```\nlet x = 1;\n```\n\nexplain this"), "explain this");
    assert_eq!(
        title_from("src/a.rs:\n````rust\nlet s = \"```\";\n````\n\nb.py:\n```python\nx\n```\n\nWhy?\nmore"),
        "Why?"
    );
    // Nothing but an attachment: its first line.
    assert_eq!(title_from("big.rs:\n```rust\n\nfn main() {}\n```"), "fn main() {}");
}

#[test]
fn migrates_an_empty_file_and_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    std::fs::write(&path, b"").unwrap();
    Store::open(&path).unwrap();
    let v: i64 = Connection::open(&path).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    // Reopening is a no-op.
    Store::open(&path).unwrap();
    Connection::open(&path).unwrap().pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    assert!(matches!(Store::open(&path), Err(StoreError::TooNew { .. })));
}

#[test]
fn a_version_1_database_migrates_and_keeps_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    // A database as the first release wrote it: schema 1, with a conversation in it.
    {
        let mut conn = Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, 1).unwrap();
        conn.execute_batch(
            "INSERT INTO conversations (id, title, created_at, updated_at, model, cwd, current_leaf)
                 VALUES (1, 'old chat', 10, 20, 'smol', '/src', 2);
             INSERT INTO messages (id, conversation_id, parent_id, role, content, state, created_at)
                 VALUES (1, 1, NULL, 'user', 'What is a lifetime?', 'complete', 10),
                        (2, 1, 1, 'assistant', 'A scope for references.', 'complete', 11);",
        )
        .unwrap();
        let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(v, 1);
    }
    let s = Store::open(&path).unwrap();
    let v: i64 = Connection::open(&path).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let c = s.load(1).unwrap();
    assert_eq!(c.summary.title, "old chat");
    let texts: Vec<_> = c.messages.iter().map(|m| (m.content.as_str(), m.pinned)).collect();
    assert_eq!(texts, [("What is a lifetime?", false), ("A scope for references.", false)]);
    assert_eq!(s.search("lifetime", 5).unwrap().len(), 1, "the full-text index came through");
    // The new column works on the old rows.
    s.set_pinned(1, true).unwrap();
    assert!(s.load(1).unwrap().messages[0].pinned);
}

#[test]
fn a_damaged_file_is_reported_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    std::fs::write(&path, b"this is not a database, just some text that is long enough to look like a header....")
        .unwrap();
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("Move it aside"));
    assert!(path.exists(), "never deleted");
}

#[test]
fn two_writers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    Store::open(&path).unwrap();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut s = Store::open(&path).unwrap();
                let c = s.create_conversation(&NewConversation::default()).unwrap();
                let mut parent = None;
                for i in 0..100 {
                    let text = format!("writer {w} message {i}");
                    parent = Some(s.add_message(c, parent, &NewMessage::new(StoredRole::User, &text)).unwrap());
                }
                c
            })
        })
        .collect();
    let ids: Vec<i64> = writers.into_iter().map(|t| t.join().unwrap()).collect();
    let s = Store::open(&path).unwrap();
    for c in ids {
        assert_eq!(s.load(c).unwrap().messages.len(), 100);
    }
}

#[test]
fn branches_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let (c, first, second) = {
        let mut s = Store::open(&path).unwrap();
        let c = s.create_conversation(&NewConversation::default()).unwrap();
        let q = s.add_message(c, None, &NewMessage::new(StoredRole::User, "q")).unwrap();
        let first = s.add_message(c, Some(q), &NewMessage::new(StoredRole::Assistant, "one")).unwrap();
        let second = s.add_message(c, Some(q), &NewMessage::new(StoredRole::Assistant, "two")).unwrap();
        (c, first, second)
    };
    let s = Store::open(&path).unwrap();
    let conv = s.load(c).unwrap();
    assert_eq!(conv.messages.last().map(|m| (m.id, m.sibling)), Some((second, (2, 2))));
    assert_eq!(s.siblings(second).unwrap(), vec![first, second]);
}

#[test]
fn reasoning_is_kept_apart_from_the_answer_and_never_searched() {
    let (mut s, c, ids) = store_with_chat();
    let thought = "The user wants a palindrome check; slicing is the idiom.";
    let msg =
        NewMessage { reasoning: Some(thought), ..NewMessage::new(StoredRole::Assistant, "Compare `s == s[::-1]`.") };
    let u2 = s.add_message(c, Some(ids[1]), &NewMessage::new(StoredRole::User, "And a palindrome?")).unwrap();
    let a2 = s.add_message(c, Some(u2), &msg).unwrap();
    let conv = s.load(c).unwrap();
    let last = conv.messages.last().unwrap();
    assert_eq!(
        (last.id, last.content.as_str(), last.reasoning.as_deref()),
        (a2, "Compare `s == s[::-1]`.", Some(thought))
    );
    assert_eq!(conv.messages[1].reasoning, None, "a reply without thinking has none");
    // Empty thinking is no thinking.
    let a3 =
        s.add_message(c, Some(u2), &NewMessage { reasoning: Some(""), ..NewMessage::new(StoredRole::Assistant, "x") });
    assert_eq!(s.load(c).unwrap().messages.last().map(|m| (m.id, m.reasoning.clone())), Some((a3.unwrap(), None)));
    // Search finds what was said, not what was thought.
    assert!(s.search("idiom", 10).unwrap().is_empty(), "a word only in the thinking is not found");
    assert!(s.search("slicing", 10).unwrap().is_empty());
    assert_eq!(s.search("palindrome", 10).unwrap().len(), 1, "only the question, not the thinking");
    // Deleting removes the thinking with the message (and the index stays consistent).
    s.delete(c).unwrap();
    assert!(s.search("palindrome", 10).unwrap().is_empty());
}

#[test]
fn a_version_2_database_migrates_and_its_messages_gain_no_reasoning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    // A database as the previous release wrote it: schema 2 (pins), no reasoning column.
    {
        let mut conn = Connection::open(&path).unwrap();
        schema::migrate_to(&mut conn, 2).unwrap();
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('messages')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(columns.contains(&"pinned".to_string()) && !columns.contains(&"reasoning".to_string()), "{columns:?}");
        conn.execute_batch(
            "INSERT INTO conversations (id, title, created_at, updated_at, model, cwd, current_leaf)
                 VALUES (1, 'old chat', 10, 20, 'smol', '/src', 2);
             INSERT INTO messages (id, conversation_id, parent_id, role, content, state, created_at, pinned)
                 VALUES (1, 1, NULL, 'user', 'What is a lifetime?', 'complete', 10, 1),
                        (2, 1, 1, 'assistant', 'A scope for references.', 'complete', 11, 0);",
        )
        .unwrap();
    }
    let mut s = Store::open(&path).unwrap();
    let v: i64 = Connection::open(&path).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let old = s.load(1).unwrap();
    let got: Vec<_> = old.messages.iter().map(|m| (m.content.as_str(), m.pinned, m.reasoning.clone())).collect();
    assert_eq!(got, [("What is a lifetime?", true, None), ("A scope for references.", false, None)]);
    assert_eq!(s.search("lifetime", 5).unwrap().len(), 1, "the full-text index came through");
    // New replies in the old conversation keep their thinking.
    let msg = NewMessage { reasoning: Some("borrowck"), ..NewMessage::new(StoredRole::Assistant, "More.") };
    s.add_message(1, Some(2), &msg).unwrap();
    assert_eq!(s.load(1).unwrap().messages[2].reasoning.as_deref(), Some("borrowck"));
    assert!(s.search("borrowck", 5).unwrap().is_empty());
}
