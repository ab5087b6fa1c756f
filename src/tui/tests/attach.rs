//! `/file`: an attachment's size in tokens when attached, and a refusal then (with advice that
//! works in the chat) when it cannot fit in the context with room for a reply.

use super::*;
use crate::conversation::Attachment;

fn file(bytes: usize) -> Result<(Attachment, Option<String>), String> {
    Ok((Attachment { label: "big.rs".into(), text: "x".repeat(bytes) }, None))
}

#[test]
fn a_file_that_cannot_fit_is_refused_when_attached_with_a_size_that_fits() {
    let mut s = ready_state();
    update(&mut s, AppEvent::Engine(EngineEvent::Ready(ModelInfo { n_ctx: 2048, ..info() })));
    update(&mut s, AppEvent::FileRead { path: "big.rs".into(), result: file(12_000) });
    assert!(s.attachments.is_empty(), "not attached");
    assert_eq!(status(&s), ("not attached: too large for the context of 2048 · /ctx 6144 would fit it".into(), true));
    assert_eq!(
        s.transcript.entries().last().unwrap().content,
        "Not attached: big.rs is about 4,000 tokens and cannot fit in the context of 2048 with room for a reply; /ctx 6144 would fit it, or attach a smaller file."
    );
    // A small one is attached, with its size in tokens.
    update(&mut s, AppEvent::FileRead { path: "small.rs".into(), result: file(900) });
    assert_eq!(s.attachments.len(), 1);
    assert_eq!(status(&s), ("attached small.rs (about 300 tokens): it goes with your next message".into(), false));
    // Beyond what the model was trained on, only a smaller file helps.
    update(&mut s, AppEvent::FileRead { path: "huge.rs".into(), result: file(30_000) });
    assert_eq!(status(&s).0, "not attached: too large for the context of 2048 · attach a smaller file");
    let text = &s.transcript.entries().last().unwrap().content;
    assert!(text.contains("about 10,000 tokens"), "{text}");
    assert!(text.ends_with("attach a smaller file or part of it (this model was trained on 8192 tokens)."), "{text}");
    assert_eq!(s.attachments.len(), 1);
}

#[test]
fn files_already_attached_count_towards_the_room() {
    let mut s = ready_state();
    update(&mut s, AppEvent::Engine(EngineEvent::Ready(ModelInfo { n_ctx: 2048, ..info() })));
    update(&mut s, AppEvent::FileRead { path: "a.rs".into(), result: file(3_000) });
    assert_eq!(s.attachments.len(), 1);
    update(&mut s, AppEvent::FileRead { path: "b.rs".into(), result: file(3_000) });
    assert_eq!(s.attachments.len(), 1, "{:?}", status(&s));
    let text = &s.transcript.entries().last().unwrap().content;
    assert!(text.contains("with the files already attached cannot fit"), "{text}");
}

#[test]
fn the_engine_counts_an_attachment_and_its_count_replaces_the_estimate() {
    let mut s = ready_state();
    update(&mut s, AppEvent::Engine(EngineEvent::Ready(ModelInfo { n_ctx: 2048, ..info() })));
    let effects = update(&mut s, AppEvent::FileRead { path: "small.rs".into(), result: file(900) });
    let block = crate::conversation::attach::user_message(None, s.attachments.files());
    assert_eq!(effects, vec![Effect::Count(1, Countable::Text(block))]);
    assert!(screen(&s, 100, 20).contains("attached: big.rs (about 300 tokens)"), "{}", screen(&s, 100, 20));
    update(&mut s, AppEvent::Engine(EngineEvent::Counted { id: 1, tokens: Ok(1_234) }));
    assert_eq!(s.attachments.len(), 1);
    assert_eq!(status(&s), ("attached big.rs: 1,234 tokens, it goes with your next message".into(), false));
    assert!(screen(&s, 100, 20).contains("attached: big.rs (1,234 tokens)"), "{}", screen(&s, 100, 20));
    // A count for something no longer waiting changes nothing.
    update(&mut s, AppEvent::Engine(EngineEvent::Counted { id: 1, tokens: Ok(9) }));
    assert_eq!(s.attachments.total(), 1_234);
}

#[test]
fn a_file_whose_count_cannot_fit_is_taken_back_and_one_the_engine_cannot_count_keeps_its_estimate() {
    let mut s = ready_state();
    update(&mut s, AppEvent::Engine(EngineEvent::Ready(ModelInfo { n_ctx: 2048, ..info() })));
    // Estimated at 1,000 tokens, which fits; the engine counts 1,900, which does not.
    update(&mut s, AppEvent::FileRead { path: "dense.txt".into(), result: file(3_000) });
    assert_eq!(s.attachments.len(), 1);
    update(&mut s, AppEvent::Engine(EngineEvent::Counted { id: 1, tokens: Ok(1_900) }));
    assert!(s.attachments.is_empty(), "taken back");
    assert_eq!(status(&s), ("not attached: too large for the context of 2048 · /ctx 3072 would fit it".into(), true));
    let text = &s.transcript.entries().last().unwrap().content;
    assert!(text.starts_with("Not attached: big.rs is 1,900 tokens and cannot fit"), "{text}");

    update(&mut s, AppEvent::FileRead { path: "a.rs".into(), result: file(600) });
    update(&mut s, AppEvent::Engine(EngineEvent::Counted { id: 2, tokens: Err("no tokenizer".into()) }));
    assert_eq!(
        s.attachments.iter().map(|(_, t)| t).collect::<Vec<_>>(),
        vec![crate::tui::state::Tokens::Estimated(200)]
    );
}
