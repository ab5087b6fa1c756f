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
        "Not attached: big.rs is about 4000 tokens and cannot fit in the context of 2048 with room for a reply; /ctx 6144 would fit it, or attach a smaller file."
    );
    // A small one is attached, with its size in tokens.
    update(&mut s, AppEvent::FileRead { path: "small.rs".into(), result: file(900) });
    assert_eq!(s.attachments.len(), 1);
    assert_eq!(status(&s), ("attached small.rs (about 300 tokens): it goes with your next message".into(), false));
    // Beyond what the model was trained on, only a smaller file helps.
    update(&mut s, AppEvent::FileRead { path: "huge.rs".into(), result: file(30_000) });
    assert_eq!(status(&s).0, "not attached: too large for the context of 2048 · attach a smaller file");
    let text = &s.transcript.entries().last().unwrap().content;
    assert!(text.contains("about 10000 tokens"), "{text}");
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
