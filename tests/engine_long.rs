//! Conversations longer than the context, on the real default model: a cut leaves headroom, the
//! model sees exactly the kept turns, later turns reuse the cut's evaluation (also from a saved
//! state, in a fresh session), a prefill does the cut's re-evaluation while the user types, and
//! with context shifting the cut moves the kept turns' cache instead (on a model that allows it;
//! one that does not re-evaluates, and nothing aborts).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use ember::bench::Sink;
use ember::engine::llama::{self, EngineOptions};
use ember::engine::{Backend, Message, Reasoning, Role, SamplingParams, TurnRequest, TurnStats};
use llama_cpp_2::model::LlamaModel;

/// The context of these tests, in tokens; a reply gets at most 16 of it.
const N_CTX: usize = 512;
const REPLY: usize = 16;

/// Options with context shifting off: a cut re-evaluates the kept turns (exact).
fn options(drop_to: f32) -> EngineOptions {
    let mut o = EngineOptions::new(common::default_model());
    o.n_ctx = Some(N_CTX as u32);
    o.drop_to = drop_to;
    o.context_shift = false;
    o
}

/// The same with context shifting on (the default).
fn shifting(drop_to: f32) -> EngineOptions {
    EngineOptions { context_shift: true, ..options(drop_to) }
}

/// The options and their model, loaded.
fn loaded(opts: EngineOptions) -> (EngineOptions, LlamaModel) {
    let model = llama::load_model(&opts, false, None).unwrap();
    (opts, model)
}

fn request(turn: u64, messages: &[Message]) -> TurnRequest {
    let sampling = SamplingParams { temperature: 0.0, seed: 7, max_tokens: REPLY, ..SamplingParams::default() };
    TurnRequest { turn, messages: messages.to_vec(), sampling }
}

/// The `n`th scripted question.
fn question(n: usize) -> Message {
    Message::new(Role::User, format!("Question {n}: what can you tell me about the number {n} and its neighbours?"))
}

/// Answers `convo` (which ends with a question) and appends the answer, as a front end does.
fn answer(session: &mut impl Backend, turn: u64, convo: &mut Vec<Message>) -> TurnStats {
    let mut out = Sink(String::new());
    let (stats, _) = session.generate(&request(turn, convo), &mut out).unwrap();
    convo.push(Message::new(Role::Assistant, out.0));
    stats
}

/// Runs the scripted conversation until a turn has to leave turns out; returns the conversation
/// (ending with that turn's answer) and that turn's stats.
fn until_the_first_cut(session: &mut impl Backend) -> (Vec<Message>, TurnStats) {
    let mut convo = vec![Message::new(Role::System, "You are brief.")];
    for n in 1..60 {
        convo.push(question(n));
        let stats = answer(session, n as u64, &mut convo);
        if stats.dropped_messages > 0 {
            return (convo, stats);
        }
    }
    panic!("the conversation never outgrew the context");
}

/// Checks that the context `session` holds is the system prompt and the turns `cut` kept of
/// `convo` (which ends with the cut turn's answer), rendered as the template renders them, then
/// the answer.
fn saw_the_kept_turns(opts: &EngineOptions, session: &llama::LlamaSession, convo: &[Message], cut: &TurnStats) {
    let mut kept = vec![convo[0].clone()];
    kept.extend_from_slice(&convo[1 + cut.dropped_messages..convo.len() - 1]);
    let (expected, tokens, _) = llama::print_prompt(opts, &kept, Reasoning::Auto).unwrap();
    assert_eq!(tokens, cut.prompt_tokens);
    let seen = session.context_text();
    assert!(seen.starts_with(&expected), "the model saw:\n{seen}\n\nnot the kept turns:\n{expected}");
}

#[test]
fn a_cut_leaves_headroom_and_the_next_turns_reuse_it() {
    let (opts, model) = loaded(options(0.5));
    let (mut session, _) = llama::open_session(&model, &opts).unwrap();
    let (mut convo, cut) = until_the_first_cut(&mut session);
    let dropped = cut.dropped_messages;
    assert!(dropped >= 4 && dropped % 2 == 0, "{cut:?}");
    // Turns left in a block of half the context, less what the new turn added: a third at least
    // is free for the turns to come.
    assert!(cut.prompt_tokens <= (N_CTX - REPLY) * 2 / 3, "no headroom: {cut:?}");
    // What the model was given: exactly the system prompt and the kept turns, rendered as the
    // template renders them (then its answer).
    saw_the_kept_turns(&opts, &session, &convo, &cut);
    // The turns that follow keep the cut, and so evaluate only what is new.
    let mut last = cut;
    for n in 0..3 {
        convo.push(question(100 + n));
        let stats = answer(&mut session, 100 + n as u64, &mut convo);
        assert_eq!(stats.dropped_messages, dropped, "the cut moved: {stats:?}");
        assert!(stats.reused_tokens >= last.prompt_tokens, "{stats:?} re-evaluated after {last:?}");
        last = stats;
    }
}

#[test]
fn a_resumed_conversation_past_a_cut_reuses_its_saved_state() {
    let (opts, model) = loaded(options(0.5));
    let (mut first, _) = llama::open_session(&model, &opts).unwrap();
    let (mut convo, cut) = until_the_first_cut(&mut first);
    convo.push(question(200));
    let before = answer(&mut first, 200, &mut convo);
    assert_eq!(before.dropped_messages, cut.dropped_messages);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.kv");
    first.save_state(&path).unwrap();
    drop(first);

    // A fresh session (a restart: no memory of the cut) resumes from the saved state.
    let (mut resumed, _) = llama::open_session(&model, &opts).unwrap();
    resumed.load_state(&path).unwrap();
    convo.push(question(201));
    let stats = answer(&mut resumed, 201, &mut convo);
    assert_eq!(stats.dropped_messages, cut.dropped_messages, "not the saved cut: {stats:?}");
    assert!(stats.reused_tokens >= before.prompt_tokens, "the saved state was not reused: {stats:?}");
}

#[test]
fn a_prefill_does_the_cut_while_the_question_is_typed() {
    let (opts, model) = loaded(options(0.5));
    let (mut scout, _) = llama::open_session(&model, &opts).unwrap();
    let (mut convo, _) = until_the_first_cut(&mut scout);
    drop(scout);
    // [system, q1, a1, ... qn, an]: turn n was the first cut. A fresh session answers up to
    // turn n - 1 (no cut), as the user saw it.
    let n = (convo.len() - 1) / 2;
    let (mut session, _) = llama::open_session(&model, &opts).unwrap();
    let uncut = session.generate(&request(1, &convo[..2 * n - 2]), &mut Sink(String::new())).unwrap().0;
    assert_eq!(uncut.dropped_messages, 0);
    convo.truncate(2 * n - 1);

    // The next question, longer than the one that crossed the boundary, typed but for its end.
    let full = format!("{} Please answer in one short sentence.", question(n).content.repeat(2));
    let mut typed = convo.clone();
    typed.push(Message::new(Role::User, full.trim_end_matches("sentence.")));
    let prefilled = session.prefill(&request(0, &typed), &mut Sink(String::new())).unwrap();
    convo.push(Message::new(Role::User, full));
    let stats = answer(&mut session, 2, &mut convo);
    assert!(stats.dropped_messages > 0, "this turn crossed the boundary: {stats:?}");
    assert!(prefilled >= stats.prompt_tokens / 2, "the cut was not evaluated ahead: {prefilled} of {stats:?}");
    assert!(stats.evaluated_tokens <= 16, "more than the end was left to the turn: {stats:?}");
}

#[test]
fn the_summarize_policy_writes_one_summary_per_cut() {
    let (opts, model) = loaded(EngineOptions { summarize_dropped: true, ..options(0.5) });
    let (mut session, _) = llama::open_session(&model, &opts).unwrap();
    let (mut convo, cut) = until_the_first_cut(&mut session);
    assert!(cut.summarized, "{cut:?}");
    // The next turns keep the cut and its summary: nothing before their new text is evaluated
    // again, so no summary is written again.
    let dropped = cut.dropped_messages;
    let mut last = cut;
    for n in 0..2 {
        convo.push(question(300 + n));
        let stats = answer(&mut session, 300 + n as u64, &mut convo);
        assert!(stats.summarized && stats.dropped_messages == dropped, "{stats:?}");
        assert!(stats.reused_tokens >= last.prompt_tokens, "{stats:?} after {last:?}");
        last = stats;
    }
}

#[test]
fn a_cut_with_shifting_moves_the_kept_turns_instead_of_reading_them_again() {
    let (opts, model) = loaded(shifting(0.5));
    let (mut session, _) = llama::open_session(&model, &opts).unwrap();
    let (convo, cut) = until_the_first_cut(&mut session);
    // Only the new question (and the template around it) was evaluated: the kept turns' cache
    // was moved into place.
    assert!(cut.shifted_tokens > 100, "nothing was shifted: {cut:?}");
    assert!(cut.evaluated_tokens <= 40, "the kept turns were read again: {cut:?}");
    assert_eq!(cut.reused_tokens + cut.evaluated_tokens, cut.prompt_tokens, "{cut:?}");
    // The cut is at a turn boundary: the context is exactly the kept turns, as after a re-read.
    saw_the_kept_turns(&opts, &session, &convo, &cut);
}

#[test]
fn a_resumed_conversation_shifts_its_saved_state_at_the_next_cut() {
    let (opts, model) = loaded(shifting(0.5));
    let (mut first, _) = llama::open_session(&model, &opts).unwrap();
    let (mut convo, _) = until_the_first_cut(&mut first);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.kv");
    // Until the turn before the next cut, each turn in a fresh session from the saved state.
    for n in 0..40 {
        first.save_state(&path).unwrap();
        let (mut resumed, _) = llama::open_session(&model, &opts).unwrap();
        resumed.load_state(&path).unwrap();
        convo.push(question(400 + n));
        let stats = answer(&mut resumed, 400 + n as u64, &mut convo);
        if stats.shifted_tokens > 0 {
            assert!(stats.evaluated_tokens <= 40, "{stats:?}");
            return;
        }
        assert!(stats.evaluated_tokens <= 40, "the saved state was not reused: {stats:?}");
        first = resumed;
    }
    panic!("no second cut in 40 turns");
}

#[test]
fn a_model_whose_cache_cannot_shift_reads_the_kept_turns_again() {
    // Gemma 3 keeps its sliding-window layers in a cache of the window and a batch (512 + 512
    // tokens), smaller than this context: `llama_memory_can_shift` says no (that cache has let go
    // of tokens a shift would bring back into the window), though llama.cpp would shift it if
    // asked, silently. (At a context of 1,024 or less the two caches are the same size.) ember
    // refuses it by its architecture (`gemma3` is not in shift.rs's list of those checked) and,
    // were it listed, by its `sliding_window` key.
    let mut opts = shifting(0.5);
    opts.model_path = common::base_model();
    opts.n_ctx = Some(2048);
    let (opts, model) = loaded(opts);
    let (mut session, _) = llama::open_session(&model, &opts).unwrap();
    let mut convo = vec![Message::new(Role::System, "You are brief.")];
    for n in 1..40 {
        let long = format!("{} Say it in one word.", question(n).content.repeat(8));
        convo.push(Message::new(Role::User, long));
        let stats = answer(&mut session, n as u64, &mut convo);
        if stats.dropped_messages > 0 {
            assert_eq!(stats.shifted_tokens, 0, "{stats:?}");
            assert!(stats.evaluated_tokens > 500, "{stats:?}");
            return;
        }
    }
    panic!("the conversation never outgrew the context");
}

#[test]
fn without_a_cut_a_prompt_that_changed_is_read_again_not_shifted() {
    // A shorter system prompt before turns that all still fit (as a template that leaves out
    // earlier reasoning shortens a turn): the cache's later runs match the prompt, but they were
    // computed after what left, so nothing is moved.
    let (opts, model) = loaded(shifting(0.5));
    let (mut session, _) = llama::open_session(&model, &opts).unwrap();
    let mut convo = vec![Message::new(Role::System, "You are brief and kind, and you answer in plain words.")];
    for n in 1..4 {
        convo.push(Message::new(Role::User, question(n).content.repeat(4)));
        answer(&mut session, n as u64, &mut convo);
    }
    convo[0] = Message::new(Role::System, "You are brief.");
    convo.push(question(9));
    let stats = answer(&mut session, 9, &mut convo);
    assert_eq!(stats.dropped_messages, 0, "{stats:?}");
    assert_eq!(stats.shifted_tokens, 0, "nothing moves without a cut: {stats:?}");
    assert!(stats.evaluated_tokens > 200, "the turns are read again: {stats:?}");
}
