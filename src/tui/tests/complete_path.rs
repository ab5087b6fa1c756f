//! Tab on `/file PATH`: update asks the loop to list the folder (it never reads the disk
//! itself), keeps the focus meanwhile, and applies the answer only to the text it was for.

use super::*;
use crate::tui::slash_table;

/// The folder's listing for `typed` arrives from the loop.
fn listed(s: &mut AppState, typed: &str, candidates: &[&str]) -> Vec<Effect> {
    let candidates = candidates.iter().map(|c| c.to_string()).collect();
    update(s, AppEvent::PathsCompleted { typed: typed.into(), candidates })
}

/// What Tab on composer text `typed` asks the loop for.
fn asks(typed: &str) -> Vec<Effect> {
    vec![Effect::CompletePath { typed: typed.into() }]
}

/// Types `text`, presses Tab, which asks for the listing, and delivers `candidates` for it.
fn tab_listed(s: &mut AppState, text: &str, candidates: &[&str]) {
    type_text(s, text);
    assert_eq!(update(s, key(KeyCode::Tab)), asks(text));
    assert!(listed(s, text, candidates).is_empty());
}

/// Tab, run as the loop runs it: the effect's listing (from the disk) comes back as an event.
fn tab_through_the_loop(s: &mut AppState) {
    for effect in update(s, key(KeyCode::Tab)) {
        let Effect::CompletePath { typed } = effect else { panic!("unexpected {effect:?}") };
        let candidates = slash_table::complete_file_line(&typed);
        assert!(update(s, AppEvent::PathsCompleted { typed, candidates }).is_empty());
    }
}

#[test]
fn tab_on_file_asks_for_the_listing_and_changes_nothing_yet() {
    let mut s = ready_state();
    type_text(&mut s, "/file src/ma");
    assert_eq!(update(&mut s, key(KeyCode::Tab)), asks("/file src/ma"));
    assert_eq!((s.composer.text(), s.ui.focus), ("/file src/ma", Focus::Composer), "the focus stays");
    assert_eq!(s.ui.status, None);
    assert_eq!(update(&mut s, key(KeyCode::Tab)), vec![], "pending: Tab again asks nothing more");
    assert_eq!((s.composer.text(), s.ui.focus), ("/file src/ma", Focus::Composer), "and keeps the focus");
}

#[test]
fn one_candidate_replaces_the_path() {
    let mut s = ready_state();
    tab_listed(&mut s, "/file src/ma", &["/file src/main.rs"]);
    assert_eq!(s.composer.text(), "/file src/main.rs");
    assert_eq!(s.ui.focus, Focus::Composer);
}

#[test]
fn a_longer_common_start_replaces_the_path() {
    let mut s = ready_state();
    tab_listed(&mut s, "/file a", &["/file alpha.rs", "/file alps/"]);
    assert_eq!(s.composer.text(), "/file alp");
    assert_eq!(update(&mut s, key(KeyCode::Tab)), asks("/file alp"), "new text: Tab lists again");
}

#[test]
fn candidates_sharing_nothing_more_are_offered_in_turn() {
    let mut s = ready_state();
    tab_listed(&mut s, "/file alp", &["/file alpha.rs", "/file alps/"]);
    assert_eq!(s.composer.text(), "/file alpha.rs");
    for shown in ["/file alps/", "/file alpha.rs"] {
        assert_eq!(update(&mut s, key(KeyCode::Tab)), vec![], "the offer turns without reading again");
        assert_eq!((s.composer.text(), s.ui.focus), (shown, Focus::Composer));
    }
}

#[test]
fn a_listing_for_other_text_is_dropped_silently() {
    let mut s = ready_state();
    type_text(&mut s, "/file a");
    update(&mut s, key(KeyCode::Tab));
    type_text(&mut s, "l");
    assert_eq!(update(&mut s, key(KeyCode::Tab)), asks("/file al"));
    listed(&mut s, "/file a", &["/file alpha.rs"]);
    assert_eq!(s.composer.text(), "/file al", "typed on since: the old answer is dropped");
    listed(&mut s, "/file x", &[]);
    assert_eq!(s.ui.status, None, "silently");
    listed(&mut s, "/file al", &["/file alpha.rs"]);
    assert_eq!(s.composer.text(), "/file alpha.rs", "the answer for this text applies");
}

#[test]
fn no_candidates_says_so_and_keeps_the_text() {
    let mut s = ready_state();
    tab_listed(&mut s, "/file zz", &[]);
    assert_eq!(status(&s), ("no file or folder starts with that".into(), false));
    assert_eq!((s.composer.text(), s.ui.focus), ("/file zz", Focus::Composer));
    let again = update(&mut s, key(KeyCode::Tab));
    assert_eq!(again, asks("/file zz"), "answered: Tab asks again (the folder may have changed)");
}

#[test]
fn tab_completes_file_paths_from_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alpha.rs"), "").unwrap();
    std::fs::create_dir(dir.path().join("alps")).unwrap();
    std::fs::write(dir.path().join("beta.txt"), "").unwrap();
    std::fs::write(dir.path().join(".alpine"), "").unwrap();
    let base = dir.path().display().to_string();
    let mut s = ready_state();
    type_text(&mut s, &format!("/file {base}/a"));
    tab_through_the_loop(&mut s);
    assert_eq!(s.composer.text(), format!("/file {base}/alp"), "the common start");
    tab_through_the_loop(&mut s);
    assert_eq!(s.composer.text(), format!("/file {base}/alpha.rs"));
    tab_through_the_loop(&mut s);
    assert_eq!(s.composer.text(), format!("/file {base}/alps/"), "folders end in /");
    s.composer.clear();
    type_text(&mut s, &format!("/file {base}/b"));
    tab_through_the_loop(&mut s);
    assert_eq!(s.composer.text(), format!("/file {base}/beta.txt"));
    type_text(&mut s, "x");
    tab_through_the_loop(&mut s);
    assert_eq!(s.composer.text(), format!("/file {base}/beta.txtx"), "nothing matches: nothing changes");
    assert_eq!(s.ui.focus, Focus::Composer);
    assert!(s.ui.status.as_ref().is_some_and(|m| m.text.contains("no file")));
}
