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
