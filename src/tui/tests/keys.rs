//! Keys, pastes and the code pane: what each does, and what reaches the clipboard or a file.

use super::*;

#[test]
fn ctrl_c_cancels_then_clears_then_quits_twice() {
    let mut s = ready_state();
    let t = ask(&mut s, "q", "a");
    assert_eq!(update(&mut s, ctrl('c')), vec![Effect::Cancel(t)]);
    done(&mut s, t, StopReason::Cancelled);
    type_text(&mut s, "draft");
    assert!(update(&mut s, ctrl('c')).is_empty());
    assert!(s.composer.is_empty(), "Ctrl-C clears a draft");
    update(&mut s, key(KeyCode::Esc));
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
fn tab_completes_commands() {
    let mut s = ready_state();
    type_text(&mut s, "/he");
    update(&mut s, key(KeyCode::Tab));
    assert_eq!(s.composer.text(), "/help");
    assert_eq!(s.ui.focus, Focus::Composer);
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
