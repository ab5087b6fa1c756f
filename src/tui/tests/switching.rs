//! `/model NAME` and `/ctx N` start a new engine beside the one in use, which answers until the
//! new one is ready and stays when it fails.

use super::*;
use crate::conversation::EngineChange;
use crate::tui::state::SwitchEvent;

fn gemma() -> ModelInfo {
    ModelInfo {
        path: PathBuf::from("/models/gemma-3-270m-q4_k_m.gguf"),
        name: "gemma-3-270m-q4_k_m".into(),
        n_ctx: 8192,
        n_ctx_train: 32768,
        ..info()
    }
}

fn command(s: &mut AppState, text: &str) -> Vec<Effect> {
    type_text(s, text);
    update(s, key(KeyCode::Enter))
}

/// `/model NAME`, found at `path`: the effects of the resolution.
fn resolve(s: &mut AppState, name: &str, path: &str) -> Vec<Effect> {
    assert_eq!(command(s, &format!("/model {name}")), vec![Effect::ResolveModel(name.into())]);
    update(s, AppEvent::ModelResolved { name: name.into(), result: Ok(PathBuf::from(path)) })
}

fn model_name(s: &AppState) -> String {
    match &s.session.model {
        ModelStatus::Ready(info) => info.name.clone(),
        other => panic!("no model ready: {other:?}"),
    }
}

#[test]
fn a_model_is_found_then_loaded_beside_the_one_in_use_which_answers_meanwhile() {
    let mut s = ready_state();
    s.session.saving = true;
    let effects = resolve(&mut s, "gemma", "/models/gemma-3-270m-q4_k_m.gguf");
    let path = PathBuf::from("/models/gemma-3-270m-q4_k_m.gguf");
    assert_eq!(effects, vec![Effect::Restart(EngineChange::Model(path))]);
    update(&mut s, AppEvent::Switch(SwitchEvent::Loading(0.5)));
    assert_eq!(status(&s), ("loading gemma-3-270m-q4_k_m (50%)…".into(), false));
    // The model in use still answers while the new one loads.
    assert_eq!(model_name(&s), "SmolLM2-135M-Instruct.Q4_1");
    let t = ask(&mut s, "q1", "a1");
    done(&mut s, t, StopReason::EndOfText);

    let effects = update(&mut s, AppEvent::Switch(SwitchEvent::Ready(gemma())));
    assert_eq!(model_name(&s), "gemma-3-270m-q4_k_m");
    assert_eq!(s.session.model_path, PathBuf::from("/models/gemma-3-270m-q4_k_m.gguf"));
    assert_eq!(status(&s), ("loaded gemma-3-270m-q4_k_m · ctx 8192".into(), false));
    // The conversation is measured again with the new model's tokenizer, for the ctx meter.
    let conversation = vec![Message::new(Role::User, "q1"), Message::new(Role::Assistant, "a1")];
    let count = Effect::Count(1, Countable::Prompt(conversation));
    assert_eq!(effects, vec![Effect::Record(RecordOp::NameModel("gemma-3-270m-q4_k_m".into())), count]);
    update(&mut s, AppEvent::Engine(EngineEvent::Counted { id: 1, tokens: Ok(37) }));
    assert_eq!(s.turns.context_used, 37);
    assert!(screen(&s, 120, 30).contains("gemma-3-270m-q4_k_m"));
    assert!(screen(&s, 120, 30).contains("ctx 37/8192"), "{}", screen(&s, 120, 30));
}

#[test]
fn a_count_that_arrives_after_a_turn_measured_the_context_is_ignored() {
    let mut s = ready_state();
    let t = ask(&mut s, "q1", "a1");
    done(&mut s, t, StopReason::EndOfText);
    let effects = update(&mut s, AppEvent::Switch(SwitchEvent::Ready(gemma())));
    assert!(effects.contains(&Effect::Count(1, Countable::Prompt(s.conversation()))), "{effects:?}");
    let t = ask(&mut s, "q2", "a2");
    update(
        &mut s,
        AppEvent::Engine(EngineEvent::Done {
            turn: t,
            stats: TurnStats { prompt_tokens: 60, generated_tokens: 4, ..TurnStats::default() },
            stop: StopReason::EndOfText,
        }),
    );
    // The count of the conversation before q2 arrives late (the engine answered q2 first).
    update(&mut s, AppEvent::Engine(EngineEvent::Counted { id: 1, tokens: Ok(5) }));
    assert_eq!(s.turns.context_used, 64, "the turn's own figures");
}

#[test]
fn a_name_that_matches_no_model_keeps_the_model_in_use() {
    let mut s = ready_state();
    command(&mut s, "/model missing");
    let reason = "no model matches \"missing\"; the models found: SmolLM2-135M-Instruct.Q4_1".to_string();
    let effects = update(&mut s, AppEvent::ModelResolved { name: "missing".into(), result: Err(reason) });
    assert!(effects.is_empty(), "nothing is started: {effects:?}");
    let (text, error) = status(&s);
    assert!(error && text == "no model matches \"missing\" · still using SmolLM2-135M-Instruct.Q4_1", "{text}");
    let notice = &s.transcript.entries().last().unwrap().content;
    assert!(notice.contains("the models found: SmolLM2-135M-Instruct.Q4_1"), "{notice}");
    assert_eq!(model_name(&s), "SmolLM2-135M-Instruct.Q4_1");
    let t = ask(&mut s, "still there?", "yes");
    done(&mut s, t, StopReason::EndOfText);
}

#[test]
fn a_model_that_fails_to_load_keeps_the_model_in_use_and_says_why_in_chat_words() {
    let mut s = ready_state();
    resolve(&mut s, "/m/broken.gguf", "/m/broken.gguf");
    let error = EngineError::ModelFile(crate::models::ModelFileError::NotFound { path: "/m/broken.gguf".into() });
    update(&mut s, AppEvent::Switch(SwitchEvent::Failed(error.to_string())));
    assert_eq!(model_name(&s), "SmolLM2-135M-Instruct.Q4_1");
    let (text, is_error) = status(&s);
    assert!(is_error && text == "could not load broken: still using SmolLM2-135M-Instruct.Q4_1 · ctx 8192", "{text}");
    let notice = &s.transcript.entries().last().unwrap().content;
    assert!(notice.contains("model file not found: /m/broken.gguf"), "{notice}");
    assert!(!notice.contains("--"), "no command-line flags inside the chat: {notice}");
    let effects = command(&mut s, "hello");
    turn_of(&effects);
}

#[test]
fn a_switch_that_completes_mid_answer_stops_that_answer() {
    let mut s = ready_state();
    resolve(&mut s, "gemma", "/models/gemma-3-270m-q4_k_m.gguf");
    let t = ask(&mut s, "q", "partial");
    update(&mut s, AppEvent::Switch(SwitchEvent::Ready(gemma())));
    assert_eq!(s.turns.generating, None);
    assert_eq!(
        s.transcript.entries().last().unwrap().state,
        EntryState::Failed("stopped: the model was switched".into())
    );
    // The old engine's events for that turn are dropped.
    update(&mut s, AppEvent::Engine(EngineEvent::Delta { turn: t, text: "late".into() }));
    assert!(!s.transcript.entries().last().unwrap().content.contains("late"));
}

#[test]
fn ctx_shows_changes_and_refuses_what_is_not_a_size() {
    let mut s = ready_state();
    assert!(command(&mut s, "/ctx").is_empty());
    assert!(status(&s).0.starts_with("context: 8192 tokens, 0 in use"), "{:?}", status(&s));
    for bad in ["/ctx lots", "/ctx 0", "/ctx 100", "/ctx -4096", "/ctx 99999999999"] {
        assert!(command(&mut s, bad).is_empty(), "{bad}");
        let (text, error) = status(&s);
        assert!(error && text.starts_with("usage: /ctx N, a number of tokens from 256"), "{bad}: {text}");
    }
    assert!(command(&mut s, "/ctx 8192").is_empty(), "the size already in use");
    assert_eq!(command(&mut s, "/ctx 16_384"), vec![Effect::Restart(EngineChange::Ctx(16384))]);
    assert_eq!(status(&s), ("loading SmolLM2-135M-Instruct.Q4_1 with 16384 tokens of context…".into(), false));
    update(
        &mut s,
        AppEvent::Switch(SwitchEvent::Failed(
            "could not create a context of 16384 tokens: no memory\n  Try a smaller context with --ctx N.".into(),
        )),
    );
    let notice = &s.transcript.entries().last().unwrap().content;
    assert!(
        notice.contains("could not create a context of 16384 tokens")
            && notice.contains("still using SmolLM2-135M-Instruct.Q4_1 · ctx 8192"),
        "{notice}"
    );
    assert_eq!(command(&mut s, "/ctx 2048"), vec![Effect::Restart(EngineChange::Ctx(2048))]);
    update(&mut s, AppEvent::Switch(SwitchEvent::Ready(ModelInfo { n_ctx: 2048, ..info() })));
    assert_eq!(status(&s), ("loaded SmolLM2-135M-Instruct.Q4_1 · ctx 2048".into(), false));
    assert!(screen(&s, 120, 30).contains("/2048"));
}
