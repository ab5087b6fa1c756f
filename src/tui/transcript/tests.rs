//! The transcript's rows, scrolling and caching, without a terminal.

use super::*;

fn text(lines: &[Line<'_>]) -> Vec<String> {
    lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
}

fn sample(n: usize) -> Transcript {
    let mut t = Transcript::new(false);
    for i in 0..n {
        t.push(Author::User, format!("question {i}"), EntryState::Complete);
    }
    t
}

#[test]
fn follow_shows_the_end() {
    let t = sample(5);
    // Each entry: header, text, blank = 3 rows.
    assert_eq!(text(&t.visible(30, 4, Scroll::Follow)), vec!["", "▍you", "question 4", ""]);
}

#[test]
fn follow_shows_the_last_rows_of_a_tall_entry_and_a_streaming_tail() {
    let mut t = sample(0);
    let long: String = (0..30).map(|i| format!("paragraph {i}\n\n")).collect();
    t.push(Author::Assistant, long, EntryState::Complete);
    t.push(Author::User, "q", EntryState::Complete);
    t.push(Author::Assistant, "", EntryState::Streaming);
    t.append("done.\n\nstill typing");
    let all: Vec<String> = (0..t.len())
        .flat_map(|i| {
            let rows = t.rows(i, 30);
            [text(&rows.stable), text(&rows.tail)].concat()
        })
        .collect();
    assert!(!t.rows(2, 30).tail.is_empty(), "the last paragraph is still live");
    // Every height, so the view's top falls in each entry, on and off their edges.
    for height in 1..all.len() + 3 {
        let want = &all[all.len().saturating_sub(height)..];
        assert_eq!(text(&t.visible(30, height, Scroll::Follow)), want, "height {height}");
    }
}

#[test]
fn scrolling_up_and_back_down_returns_to_follow() {
    let t = sample(5);
    let up = t.scroll_up(Scroll::Follow, 3, 30, 4);
    assert_eq!(text(&t.visible(30, 4, up)), vec!["", "▍you", "question 3", ""]);
    let top = t.scroll_up(up, 100, 30, 4);
    assert_eq!(top, Scroll::Anchor { entry: 0, row: 0 });
    assert_eq!(text(&t.visible(30, 2, top)), vec!["▍you", "question 0"]);
    assert_eq!(t.scroll_down(top, 100, 30, 4), Scroll::Follow);
}

#[test]
fn streaming_reply_keeps_finished_blocks_and_numbers_code() {
    let mut t = sample(0);
    t.push(Author::Assistant, "```py\nx = 1\n```\n", EntryState::Complete);
    t.push(Author::Assistant, "", EntryState::Streaming);
    t.append("Para one.\n\n```rust\nfn a");
    let rows = t.rows(1, 40);
    assert!(text(&rows.stable).contains(&"Para one.".to_string()));
    assert!(text(&rows.tail)[0].starts_with("╭─ [2] rust"));
    let stable_before = Rc::clone(&rows.stable);
    t.append("() {}\n```\n");
    let rows = t.rows(1, 40);
    assert!(Rc::ptr_eq(&stable_before, &rows.stable) || rows.stable.len() >= stable_before.len());
    t.finish_last(EntryState::Complete);
    assert_eq!(t.code_blocks().len(), 2);
    assert_eq!(
        t.code_blocks()[1],
        CodeBlock {
            number: 2,
            lang: "rust".into(),
            code: "fn a() {}\n".into(),
            info: "rust".into(),
            attached: Vec::new()
        }
    );
}

#[test]
fn truncate_drops_later_code_blocks() {
    let mut t = sample(0);
    t.push(Author::Assistant, "```\na\n```", EntryState::Complete);
    t.push(Author::User, "q", EntryState::Complete);
    t.push(Author::Assistant, "```\nb\n```", EntryState::Complete);
    assert_eq!(t.code_blocks().len(), 2);
    t.truncate(2);
    assert_eq!(t.code_blocks().len(), 1);
    assert_eq!(t.len(), 2);
}

#[test]
fn stored_thinking_shows_folded_and_unfolds() {
    let mut t = sample(1);
    t.push(Author::Assistant, "Four.", EntryState::Complete);
    t.set_stored_thinking(1, "Two and two\nmake four.");
    t.set_stored_thinking(0, "  \n");
    assert!(t.entries()[0].thinking.is_none(), "empty reasoning shows nothing");
    assert_eq!(text(&t.rows(1, 40).stable), vec!["▍ember", "▸ thought · 5 words", "Four.", ""]);
    assert_eq!(t.thinking_rows(1, 40), Some(1..2));
    assert!(t.toggle_thinking(1));
    assert_eq!(
        text(&t.rows(1, 40).stable),
        vec!["▍ember", "▾ thought · 5 words", "┊ Two and two", "┊ make four.", "", "Four.", ""]
    );
    assert_eq!(t.thinking_rows(1, 40), Some(1..5));
    assert!(!t.toggle_thinking(0), "a message without reasoning");
    assert!(t.code_blocks().is_empty());
}

#[test]
fn position_at_finds_the_row_drawn_there() {
    let mut t = sample(3);
    t.push(Author::Assistant, "", EntryState::Streaming);
    t.append_thinking("a long thought that wraps over several rows of a narrow view", Duration::ZERO);
    t.append("answer\n\nmore");
    for height in 1..20 {
        for scroll in [Scroll::Follow, Scroll::Anchor { entry: 1, row: 1 }, Scroll::Anchor { entry: 3, row: 0 }] {
            let shown = text(&t.visible(16, height, scroll));
            for (y, want) in shown.iter().enumerate() {
                let (i, r) = t.position_at(16, height, scroll, y).expect("a row is drawn there");
                let rows = t.rows(i, 16);
                assert_eq!(&text(&[rows.get(r).cloned().unwrap()])[0], want, "{height} {scroll:?} {y}");
            }
            assert_eq!(t.position_at(16, height, scroll, shown.len()), None);
        }
    }
}

#[test]
fn width_change_rewraps() {
    let mut t = sample(0);
    t.push(Author::User, "one two three four", EntryState::Complete);
    assert_eq!(t.height(0, 40), 3);
    assert_eq!(t.height(0, 8), 5);
}

/// A reply with a code block of `lines` numbered lines between two paragraphs.
fn reply_with_block(lines: usize) -> String {
    let code: String = (1..=lines).map(|i| format!("line {i}\n")).collect();
    format!("Here:\n\n```rust src/lib.rs\n{code}```\n\nDone.")
}

#[test]
fn a_long_block_streams_whole_then_folds_and_unfolds() {
    let mut t = sample(1);
    t.push(Author::Assistant, "", EntryState::Streaming);
    t.append(&reply_with_block(40));
    let streaming = text(&t.visible(40, 200, Scroll::Follow));
    assert!(streaming.iter().any(|r| r.contains("line 40")), "code arrives unfolded: {streaming:?}");
    assert!(!streaming.iter().any(|r| r.contains("more lines")));
    let header = text(&t.rows(1, 40).stable).iter().position(|r| r.starts_with("╭─ [1] rust")).expect("drawn");
    assert_eq!(t.fold_at(1, header, 40), None, "no click folds a block still streaming");
    t.finish_last(EntryState::Complete);
    let folded = text(&t.rows(1, 40).stable);
    assert!(folded.iter().any(|r| r.starts_with("│ line 10 ")), "{folded:?}");
    assert!(!folded.iter().any(|r| r.contains("line 11")), "{folded:?}");
    let marker = folded.iter().position(|r| r.contains("more lines")).expect("a marker row");
    assert_eq!(folded[marker], format!("│ {:<37}│", "… 30 more lines (z unfolds)"));
    assert_eq!(folded[marker].chars().count(), folded[marker - 1].chars().count(), "as wide as a code row");
    assert!(folded[marker + 1].starts_with('╰'), "the marker is inside the frame");
    assert_eq!(folded.last().map(String::as_str), Some(""));
    assert!(folded.contains(&"Done.".to_string()));
    // The block itself stays whole: the code pane, copy, save and /apply read it.
    let whole: String = (1..=40).map(|i| format!("line {i}\n")).collect();
    assert_eq!(t.code_blocks()[0].code, whole);
    assert_eq!(t.folded(1), Some(true));
    assert_eq!(t.toggle_fold(1), Some(false));
    let unfolded = text(&t.rows(1, 40).stable);
    assert!(unfolded.iter().any(|r| r.starts_with("│ line 40 ")));
    assert!(!unfolded.iter().any(|r| r.contains("more lines")));
    assert_eq!(unfolded.len(), folded.len() + 30 - 1);
    assert_eq!(t.toggle_fold(1), Some(true));
    assert_eq!(text(&t.rows(1, 40).stable), folded);
    assert_eq!(t.toggle_fold(2), None, "no such block");
}

#[test]
fn short_blocks_never_fold() {
    let mut t = sample(0);
    t.push(Author::Assistant, reply_with_block(30), EntryState::Complete);
    assert_eq!(t.folded(1), None);
    assert_eq!(t.toggle_fold(1), None);
    assert!(text(&t.rows(0, 40).stable).iter().any(|r| r.starts_with("│ line 30 ")));
    assert!(t.foldable_blocks(0).is_empty());
}

#[test]
fn a_click_row_folds_the_block_under_it() {
    let mut t = sample(1);
    t.push(Author::Assistant, reply_with_block(31), EntryState::Complete);
    let rows = text(&t.rows(1, 40).stable);
    let header = rows.iter().position(|r| r.starts_with("╭─ [1] rust")).unwrap();
    let marker = rows.iter().position(|r| r.contains("… 21 more lines")).unwrap();
    assert_eq!(t.fold_at(1, header, 40), Some(Fold::Block(1)));
    assert_eq!(t.fold_at(1, marker, 40), Some(Fold::Block(1)));
    assert_eq!(t.fold_at(1, header + 1, 40), None);
    assert_eq!(t.fold_at(0, header, 40), None);
    assert_eq!(t.foldable_blocks(1), vec![1]);
}

#[test]
fn folds_are_forgotten_with_the_blocks_they_were_for() {
    let mut t = sample(0);
    t.push(Author::Assistant, reply_with_block(40), EntryState::Complete);
    t.push(Author::User, "again", EntryState::Complete);
    t.push(Author::Assistant, reply_with_block(40), EntryState::Complete);
    assert_eq!(t.toggle_fold(2), Some(false));
    t.truncate(2);
    t.push(Author::Assistant, reply_with_block(40), EntryState::Complete);
    assert_eq!(t.folded(2), Some(true), "a new block 2 starts folded");
    assert_eq!(t.folded(1), Some(true));
}

#[test]
fn a_folded_block_shows_no_control_characters() {
    let mut t = sample(0);
    let code: String = (0..40).map(|i| format!("\x1b]52;c;aGk=\x07 \x1b[2J{i}\u{202e}\n")).collect();
    t.push(Author::Assistant, format!("```\x1b[31mrust evil\x1b[0m.rs\n{code}```\n"), EntryState::Complete);
    assert_eq!(t.folded(1), Some(true));
    for row in text(&t.rows(0, 60).stable) {
        assert!(!row.chars().any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)), "{row:?}");
    }
}

/// A user's message: `lines` numbered lines of an attached file, then a question.
fn message_with_file(lines: usize) -> String {
    let code: String = (1..=lines).map(|i| format!("row {i}\n")).collect();
    format!("notes.txt:\n```text\n{code}```\n\nWhat is in it?")
}

#[test]
fn a_long_file_in_the_users_message_folds_and_unfolds() {
    let mut t = Transcript::new(false);
    t.push(Author::User, message_with_file(40), EntryState::Complete);
    t.push(Author::User, message_with_file(30), EntryState::Complete);
    t.push(Author::Notice, message_with_file(40), EntryState::Complete);
    let folded = text(&t.rows(0, 40).stable);
    assert!(folded.iter().any(|r| r.starts_with("│ row 10 ")), "{folded:?}");
    assert!(!folded.iter().any(|r| r.contains("row 11")), "{folded:?}");
    assert!(folded.iter().any(|r| r.contains("… 30 more lines (z unfolds)")), "{folded:?}");
    assert!(folded.contains(&"What is in it?".to_string()), "the question stays in view");
    assert!(t.code_blocks().is_empty(), "the user's blocks are not the model's numbered ones");
    assert_eq!(t.own_folds(0), vec![true]);
    assert!(t.own_folds(1).is_empty(), "30 lines do not fold");
    assert!(text(&t.rows(1, 40).stable).iter().any(|r| r.starts_with("│ row 30 ")));
    assert!(t.own_folds(2).is_empty(), "a notice's blocks do not fold");
    assert!(text(&t.rows(2, 40).stable).iter().any(|r| r.starts_with("│ row 40 ")));

    let header = folded.iter().position(|r| r.starts_with("╭─ text")).expect("the block's header");
    let marker = folded.iter().position(|r| r.contains("more lines")).expect("the marker");
    assert_eq!(t.fold_at(0, header, 40), Some(Fold::Own(0)));
    assert_eq!(t.fold_at(0, marker, 40), Some(Fold::Own(0)));
    assert_eq!(t.toggle_own_fold(0, 0), Some(false));
    let unfolded = text(&t.rows(0, 40).stable);
    assert!(unfolded.iter().any(|r| r.starts_with("│ row 40 ")), "{unfolded:?}");
    assert_eq!(unfolded.len(), folded.len() + 30 - 1);
    assert_eq!(t.own_folds(0), vec![false]);
    t.set_own_folds(0, true);
    assert_eq!(text(&t.rows(0, 40).stable), folded);
    assert_eq!(t.toggle_own_fold(1, 0), None, "too short");
    assert_eq!(t.toggle_own_fold(0, 1), None, "no such block");
}

#[test]
fn folds_of_the_users_blocks_are_forgotten_with_their_message() {
    let mut t = Transcript::new(false);
    t.push(Author::User, message_with_file(40), EntryState::Complete);
    t.push(Author::User, message_with_file(40), EntryState::Complete);
    assert_eq!(t.toggle_own_fold(0, 0), Some(false));
    assert_eq!(t.toggle_own_fold(1, 0), Some(false));
    t.truncate(1);
    t.push(Author::User, message_with_file(40), EntryState::Complete);
    assert_eq!(t.own_folds(0), vec![false], "kept: before the cut");
    assert_eq!(t.own_folds(1), vec![true], "a new message starts folded");
    t.clear();
    t.push(Author::User, message_with_file(40), EntryState::Complete);
    assert_eq!(t.own_folds(0), vec![true]);
}
