//! `/schema`: the output constraint of the next answers.

use super::*;
use crate::engine::constraint::{Constraint, ConstraintKind};

/// Types `command` and sends it; the effects.
fn run(s: &mut AppState, command: &str) -> Vec<Effect> {
    type_text(s, command);
    update(s, key(KeyCode::Enter))
}

/// The constraint the next question's request carries, by its label.
fn next_request_constraint(s: &mut AppState) -> Option<String> {
    type_text(s, "next question");
    let effects = update(s, key(KeyCode::Enter));
    effects.iter().find_map(|e| match e {
        Effect::Generate(r) => Some(r.sampling.constraint.as_ref().map(|c| c.label.clone())),
        _ => None,
    })?
}

#[test]
fn schema_json_and_inline_schemas_constrain_the_next_answers_and_off_frees_them() {
    let mut s = ready_state();
    assert!(run(&mut s, "/schema json").is_empty());
    assert!(status(&s).0.starts_with("answers follow JSON from the next one"), "{:?}", status(&s));
    assert_eq!(next_request_constraint(&mut s).as_deref(), Some("JSON"));

    let mut s = ready_state();
    run(&mut s, r#"/schema {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}"#);
    let constraint = s.session.sampling.constraint.clone().unwrap();
    assert!(matches!(constraint.kind, ConstraintKind::Schema(_)), "{constraint:?}");
    run(&mut s, "/schema");
    assert_eq!(status(&s).0, "answers follow the schema · /schema off frees them");
    run(&mut s, "/schema off");
    assert_eq!(status(&s), ("answers are free text from the next one".to_string(), false));
    assert_eq!(next_request_constraint(&mut s), None);
}

#[test]
fn a_schema_file_is_read_by_an_effect_and_a_bad_one_changes_nothing() {
    let mut s = ready_state();
    assert_eq!(run(&mut s, "/schema ~/changes.json"), vec![Effect::LoadSchema("~/changes.json".into())]);
    update(&mut s, AppEvent::SchemaLoaded(Ok(Constraint::json())));
    assert_eq!(s.session.sampling.constraint.as_ref().map(|c| c.label.as_str()), Some("JSON"));

    run(&mut s, r#"/schema {"type": "string", "pattern": "^a"}"#);
    let (text, error) = status(&s);
    assert!(error, "{text}");
    assert_eq!(
        text,
        "the schema cannot be used: the keyword `pattern` is not supported here; the answers stay as they were"
    );
    update(&mut s, AppEvent::SchemaLoaded(Err("cannot read /x.json: No such file".into())));
    assert_eq!(s.session.sampling.constraint.as_ref().map(|c| c.label.as_str()), Some("JSON"), "unchanged");
}
