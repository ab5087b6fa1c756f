//! A tidy screen and the small things: code-block frames at every size, popups over a clean
//! background, Tab completion, Ctrl-C and Ctrl-U on text being written, /copy and its report,
//! the code pane holding only the model's code.

use super::*;

fn answered() -> AppState {
    let mut s = ready_state();
    let t = ask(&mut s, "Write a Python function is_prime(n)", ANSWER);
    done(&mut s, t, StopReason::EndOfText);
    s
}

fn sized(mut s: AppState, w: u16, h: u16) -> String {
    s.ui.size = (w, h);
    screen(&s, w, h)
}

#[test]
fn snapshot_code_frame_80x24() {
    insta::assert_snapshot!(sized(answered(), 80, 24));
}

#[test]
fn snapshot_code_frame_120x40() {
    insta::assert_snapshot!(sized(answered(), 120, 40));
}

#[test]
fn snapshot_code_frame_200x50() {
    insta::assert_snapshot!(sized(answered(), 200, 50));
}

#[test]
fn snapshot_help_at_80x24_leaves_the_status_line() {
    let mut s = answered();
    s.ui.size = (80, 24);
    let before = screen(&s, 80, 24);
    update(&mut s, key(KeyCode::F(1)));
    let help = screen(&s, 80, 24);
    assert_eq!(help.lines().last(), before.lines().last(), "the status line stays in view");
    insta::assert_snapshot!(help);
}

#[test]
fn snapshot_completion_popup_over_a_clean_background() {
    let mut s = answered();
    s.ui.size = (80, 24);
    type_text(&mut s, "/re");
    insta::assert_snapshot!(screen(&s, 80, 24));
}

#[test]
fn tab_offers_each_of_several_commands_in_turn() {
    // One match completes (keys.rs); "/re" is /rename or /retry, with nothing more in common.
    let mut s = ready_state();
    type_text(&mut s, "/re");
    for shown in ["/rename ", "/retry", "/rename "] {
        update(&mut s, key(KeyCode::Tab));
        assert_eq!((s.composer.text(), s.ui.focus), (shown, Focus::Composer), "Tab completed: the focus stays");
    }
    s.composer.clear();
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.ui.focus, Focus::Transcript, "nothing to complete: Tab moves the focus");
}

#[test]
fn ctrl_c_clears_a_draft_that_up_brings_back_and_a_second_quits() {
    let mut s = ready_state();
    type_text(&mut s, "a long draft");
    assert!(update(&mut s, ctrl('c')).is_empty());
    assert!(s.composer.is_empty());
    assert!(s.ui.status.as_ref().is_some_and(|m| m.text.contains("Up brings it back")));
    update(&mut s, key(KeyCode::Up));
    assert_eq!(s.composer.text(), "a long draft");
    update(&mut s, ctrl('c'));
    assert_eq!(update(&mut s, ctrl('c')), vec![Effect::Quit]);
}

#[test]
fn ctrl_u_clears_the_rename_box() {
    use crate::store::recorder::{Query, Reply};
    let mut s = ready_state();
    s.session.saving = true;
    update(&mut s, ctrl('o'));
    update(&mut s, AppEvent::History(Reply::Listed { generation: 1, result: Ok(vec![picker_item(9, "Old name")]) }));
    update(&mut s, ctrl('r'));
    update(&mut s, ctrl('u'));
    type_text(&mut s, "New");
    assert_eq!(update(&mut s, key(KeyCode::Enter)), vec![Effect::Query(Query::Rename(9, "New".into()))]);
}

#[test]
fn copy_without_a_number_copies_the_last_block() {
    let mut s = ready_state();
    type_text(&mut s, "/copy");
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
    assert!(s.ui.status.as_ref().is_some_and(|m| m.error && m.text.contains("no code block yet")));
    let t = ask(&mut s, "two", "```sh\nfirst\n```\n\n```sh\nsecond\n```\n");
    done(&mut s, t, StopReason::EndOfText);
    type_text(&mut s, "/copy");
    let effects = update(&mut s, key(KeyCode::Enter));
    assert_eq!(effects, vec![Effect::Copy { number: 2, text: "second\n".into() }]);
}

#[test]
fn the_status_says_how_a_copy_went() {
    let mut s = answered();
    update(&mut s, AppEvent::Copied { number: 1, result: Ok("copied with xclip".into()) });
    assert_eq!(
        s.ui.status.as_ref().map(|m| (m.text.as_str(), m.error)),
        Some(("code block 1 copied with xclip", false))
    );
    update(&mut s, AppEvent::Copied { number: 1, result: Err("sent as OSC 52, but …".into()) });
    assert!(s.ui.status.as_ref().is_some_and(|m| m.error && m.text.starts_with("code block 1 sent as OSC 52")));
}

#[test]
fn attachments_are_not_listed_among_the_models_code() {
    let mut s = ready_state();
    let attachment = crate::conversation::Attachment { label: "big.rs".into(), text: "fn main() {}\n".into() };
    update(&mut s, AppEvent::FileRead { path: "big.rs".into(), result: Ok((attachment, None)) });
    let t = ask(&mut s, "explain", "It prints:\n\n```rust\nprintln!(\"hi\");\n```\n");
    done(&mut s, t, StopReason::EndOfText);
    let blocks = s.transcript.code_blocks();
    assert_eq!(blocks.len(), 1, "{blocks:?}");
    assert_eq!((blocks[0].number, blocks[0].code.as_str()), (1, "println!(\"hi\");\n"));
    let text = screen(&s, 120, 30);
    assert!(text.contains("╭─ [1] rust"), "{text}");
    assert!(!text.contains("[2]"), "{text}");
}
