//! Long code blocks folded in the transcript: `z` in the code pane and the transcript, `/fold`,
//! a click, and the screens folded and unfolded. Copy, save and $EDITOR still get the whole block.

use super::*;
use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};

/// Code of `lines` numbered lines.
fn long_code(lines: usize) -> String {
    (1..=lines).map(|i| format!("print({i})\n")).collect()
}

/// A ready state that asked for a long block (40 lines: block 1) and then a short one (block 2).
fn with_blocks() -> AppState {
    let mut s = ready_state();
    let turn = ask(&mut s, "Print forty numbers", &format!("Here:\n\n```python\n{}```\n\nDone.", long_code(40)));
    done(&mut s, turn, StopReason::EndOfText);
    let turn = ask(&mut s, "Write is_prime", ANSWER);
    done(&mut s, turn, StopReason::EndOfText);
    s
}

#[test]
fn z_in_the_code_pane_folds_the_selected_block_and_copy_gets_it_whole() {
    let mut s = with_blocks();
    s.ui.focus = Focus::CodePane;
    s.ui.code_selected = 0;
    assert_eq!(s.transcript.folded(1), Some(true), "a finished reply's long block starts folded");
    assert_eq!(update(&mut s, key(KeyCode::Char('c'))), vec![Effect::Copy { number: 1, text: long_code(40) }]);
    update(&mut s, key(KeyCode::Char('z')));
    assert_eq!(s.transcript.folded(1), Some(false));
    assert_eq!(status(&s), ("code block 1 unfolded: z or /fold 1 folds it".into(), false));
    update(&mut s, key(KeyCode::Char('z')));
    assert_eq!(s.transcript.folded(1), Some(true));
    let effects = update(&mut s, key(KeyCode::Char('e')));
    assert!(
        matches!(&effects[..], [Effect::OpenEditor { text, .. }] if *text == long_code(40)),
        "$EDITOR gets the whole block: {effects:?}"
    );
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::Char('z')));
    assert_eq!(status(&s), ("code block 2 is short: blocks of more than 30 lines fold".into(), false));
    assert_eq!(s.ui.focus, Focus::CodePane, "z is the code pane's, not typed");
}

#[test]
fn z_in_the_transcript_and_fold_commands() {
    let mut s = with_blocks();
    s.ui.focus = Focus::Transcript;
    // Following the end: the latest reply with a long block.
    update(&mut s, key(KeyCode::Char('z')));
    assert_eq!(s.transcript.folded(1), Some(false));
    assert_eq!(status(&s), ("code block 1 unfolded".into(), false));
    assert!(s.composer.is_empty(), "z is not typed into the message");
    update(&mut s, key(KeyCode::Char('z')));
    assert_eq!(s.transcript.folded(1), Some(true));
    s.ui.focus = Focus::Composer;
    type_text(&mut s, "/fold 1");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.transcript.folded(1), Some(false));
    type_text(&mut s, "/fold");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(s.transcript.folded(1), Some(true));
    type_text(&mut s, "/fold 9");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(status(&s), ("no code block 9: there are 2".into(), true));
    type_text(&mut s, "/fold x");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(status(&s).0, "usage: /fold [N] (a code block number; the reply in view without N)");
    let mut empty = ready_state();
    empty.ui.focus = Focus::Transcript;
    update(&mut empty, key(KeyCode::Char('z')));
    assert_eq!(status(&empty), ("no long code block to fold: blocks of more than 30 lines fold".into(), false));
}

#[test]
fn a_click_on_the_fold_marker_unfolds_and_on_the_header_folds() {
    let mut s = with_blocks();
    s.ui.size = (80, 90);
    let click = |s: &mut AppState, row: usize| {
        let at = MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: 3,
            row: row as u16,
            modifiers: KeyModifiers::NONE,
        };
        update(s, AppEvent::Mouse(at));
    };
    let shown = screen(&s, 80, 90);
    let marker = shown.lines().position(|l| l.contains("… 30 more lines (z unfolds)")).expect("folded");
    click(&mut s, marker);
    assert_eq!(s.transcript.folded(1), Some(false));
    let shown = screen(&s, 80, 90);
    let header = shown.lines().position(|l| l.contains("╭─ [1] python")).expect("on screen");
    click(&mut s, header);
    assert_eq!(s.transcript.folded(1), Some(true));
}

/// The screen after a long block was answered, folded or unfolded.
fn fold_screen(unfold: bool) -> String {
    let mut s = ready_state();
    let turn = ask(&mut s, "Print forty numbers", &format!("Here:\n\n```python\n{}```\n\nDone.", long_code(40)));
    done(&mut s, turn, StopReason::EndOfText);
    if unfold {
        s.ui.focus = Focus::Transcript;
        update(&mut s, key(KeyCode::Char('z')));
        // Scrolled to the top of the reply, so the unfolded block's start is on screen.
        update(&mut s, key(KeyCode::Home));
    }
    s.ui.status = None;
    screen(&s, 100, 24)
}

#[test]
fn snapshot_folded_block() {
    insta::assert_snapshot!(fold_screen(false));
}

#[test]
fn snapshot_unfolded_block() {
    insta::assert_snapshot!(fold_screen(true));
}

#[test]
fn the_users_own_long_code_folds_with_z_and_a_click() {
    let mut s = ready_state();
    s.ui.size = (80, 90);
    update(&mut s, AppEvent::Paste(format!("```python\n{}```\n\nWhat does this print?", long_code(40))));
    let effects = update(&mut s, key(KeyCode::Enter));
    done(&mut s, turn_of(&effects), StopReason::EndOfText);
    let shown = screen(&s, 80, 90);
    assert!(shown.contains("… 30 more lines (z unfolds)"), "the pasted code starts folded:\n{shown}");
    assert!(shown.contains("What does this print?"));
    assert_eq!(s.transcript.own_folds(0), vec![true]);
    s.ui.focus = Focus::Transcript;
    update(&mut s, key(KeyCode::Char('z')));
    assert_eq!(s.transcript.own_folds(0), vec![false]);
    assert_eq!(status(&s), ("the long code block of your message unfolded".into(), false));
    assert!(screen(&s, 80, 90).contains("print(40)"));
    update(&mut s, key(KeyCode::Char('z')));
    assert_eq!(s.transcript.own_folds(0), vec![true]);
    // A click on the marker unfolds it; the message sent was the whole code.
    let click =
        MouseEvent { kind: MouseEventKind::Down(MouseButton::Left), column: 3, row: 0, modifiers: KeyModifiers::NONE };
    let marker = screen(&s, 80, 90).lines().position(|l| l.contains("more lines")).expect("folded") as u16;
    update(&mut s, AppEvent::Mouse(MouseEvent { row: marker, ..click }));
    assert_eq!(s.transcript.own_folds(0), vec![false]);
    assert!(s.transcript.entries()[0].content.contains("print(40)"));
}
