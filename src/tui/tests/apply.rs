//! Applying a code block to a file: the target, the diff overlay, confirmation, /undo.

use super::*;
use crate::edit::{DiffStat, PreparedEdit, Proposal, TargetSource};
use crate::store::edits::FileEdit;
use crate::store::recorder::Query;

const ANSWER: &str = "Here:\n```python src/add.py\ndef add(a, b):\n    return a + b\n```\n\nAnd:\n```text\nhi\n```\n";

fn answered() -> AppState {
    let mut s = ready_state();
    let t = ask(&mut s, "add docs", ANSWER);
    done(&mut s, t, StopReason::EndOfText);
    s
}

/// Types a slash command and sends it.
fn cmd(s: &mut AppState, text: &str) -> Vec<Effect> {
    type_text(s, text);
    update(s, key(KeyCode::Enter))
}

fn prepared(outside: Option<&str>) -> Box<PreparedEdit> {
    let diff = "--- a/src/add.py\n+++ b/src/add.py\n@@ -1 +1,2 @@\n def add(a, b):\n+    return a + b\n";
    Box::new(PreparedEdit {
        shown: "src/add.py".into(),
        source: TargetSource::Fence,
        real: "/w/src/add.py".into(),
        outside: outside.map(Into::into),
        before: Some("def add(a, b):\n".into()),
        after: "def add(a, b):\n    return a + b\n".into(),
        diff: diff.into(),
        stat: DiffStat::of(diff),
    })
}

#[test]
fn apply_takes_the_file_the_fence_names_or_the_one_given() {
    let mut s = answered();
    let proposal = Proposal::of_block("python src/add.py", "def add(a, b):\n    return a + b\n", &[]).unwrap();
    let by_fence = Effect::PrepareEdit { shown: "src/add.py".into(), source: TargetSource::Fence, proposal };
    assert_eq!(cmd(&mut s, "/apply 1"), vec![by_fence.clone()]);
    let effects = cmd(&mut s, "/apply 1 other.py");
    assert!(
        matches!(&effects[..], [Effect::PrepareEdit { shown, source: TargetSource::Named, .. }] if shown == "other.py")
    );
    // The code pane's `a` on the selected block.
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Tab));
    update(&mut s, key(KeyCode::Home));
    assert_eq!(update(&mut s, key(KeyCode::Char('a'))), vec![by_fence]);
}

#[test]
fn a_block_that_names_no_file_asks_for_one() {
    let mut s = answered();
    assert!(cmd(&mut s, "/apply 2").is_empty());
    assert_eq!(status(&s), ("code block 2 names no file: type its path".into(), false));
    assert!(matches!(&s.ui.overlay, Some(Overlay::ApplyPrompt { index: 1, .. })));
    insta::assert_snapshot!(screen(&s, 80, 12));
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
    assert_eq!(status(&s), ("type a file name".into(), true));
    let effects = cmd(&mut s, "hi.txt");
    assert!(
        matches!(&effects[..], [Effect::PrepareEdit { shown, source: TargetSource::Named, .. }] if shown == "hi.txt")
    );
    assert!(s.ui.overlay.is_none());
    cmd(&mut s, "/apply 2");
    update(&mut s, key(KeyCode::Esc));
    assert!(s.ui.overlay.is_none(), "Esc gives up");
    assert!(cmd(&mut s, "/apply 3").is_empty());
    assert_eq!(status(&s), ("no code block 3: there are 2".into(), true));
}

#[test]
fn the_diff_is_shown_and_written_only_on_y() {
    let mut s = answered();
    update(&mut s, AppEvent::EditPrepared(Ok(prepared(None))));
    assert!(matches!(&s.ui.overlay, Some(Overlay::Diff(v)) if v.scroll == 0));
    update(&mut s, key(KeyCode::Down));
    assert!(matches!(&s.ui.overlay, Some(Overlay::Diff(v)) if v.scroll == 1));
    assert_eq!(update(&mut s, key(KeyCode::Char('n'))), vec![]);
    assert!(s.ui.overlay.is_none());
    assert_eq!(status(&s), ("not applied".into(), false));

    update(&mut s, AppEvent::EditPrepared(Ok(prepared(None))));
    assert_eq!(update(&mut s, key(KeyCode::Char('y'))), vec![Effect::WriteEdit(prepared(None))]);
    assert!(s.ui.overlay.is_none());
}

#[test]
fn a_link_out_of_the_tree_takes_a_second_y() {
    let mut s = answered();
    update(&mut s, AppEvent::EditPrepared(Ok(prepared(Some("/etc/x.py")))));
    assert_eq!(update(&mut s, key(KeyCode::Char('y'))), vec![]);
    assert_eq!(status(&s), ("src/add.py leads outside this folder, to /etc/x.py: y again writes there".into(), true));
    assert_eq!(update(&mut s, key(KeyCode::Char('y'))), vec![Effect::WriteEdit(prepared(Some("/etc/x.py")))]);
}

#[test]
fn a_written_edit_is_recorded_for_undo_when_history_is_on() {
    let mut s = answered();
    s.session.saving = true;
    s.session.conversation_id = Some(4);
    let effects = update(&mut s, AppEvent::EditWritten(Ok(prepared(None))));
    let edit = FileEdit {
        path: "/w/src/add.py".into(),
        before: Some("def add(a, b):\n".into()),
        after: "def add(a, b):\n    return a + b\n".into(),
    };
    assert_eq!(effects, vec![Effect::Record(RecordOp::Edit(edit))]);
    assert_eq!(status(&s), ("applied to src/add.py (1 hunk · +1 −0); /undo puts it back".into(), false));
    assert_eq!(cmd(&mut s, "/undo"), vec![Effect::Query(Query::Undo)]);
    update(&mut s, AppEvent::History(crate::store::recorder::Reply::Undone(Ok("restored src/add.py".into()))));
    assert_eq!(status(&s), ("restored src/add.py".into(), false));
}

#[test]
fn without_history_the_edit_is_written_and_undo_says_why_it_cannot() {
    let mut s = answered();
    assert!(update(&mut s, AppEvent::EditWritten(Ok(prepared(None)))).is_empty());
    assert!(status(&s).0.ends_with("history is off, so /undo cannot restore it"));
    assert!(cmd(&mut s, "/undo").is_empty());
    assert_eq!(status(&s), ("/undo needs history, which is off in this session".into(), true));
    update(&mut s, AppEvent::EditWritten(Err("not applied: src/add.py changed since the diff was shown".into())));
    assert!(status(&s).1, "an error");
}

#[test]
fn no_change_needs_no_overlay() {
    let mut s = answered();
    let mut same = prepared(None);
    same.diff.clear();
    update(&mut s, AppEvent::EditPrepared(Ok(same)));
    assert!(s.ui.overlay.is_none());
    assert_eq!(status(&s), ("src/add.py already holds this code: nothing to apply".into(), false));
}
