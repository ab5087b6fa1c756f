//! Speculative decoding (`--speculate ngram`) on the real default model: the same replies as
//! one token at a time, drafts really accepted, and the context left exactly as without it.
//!
//! The same reply holds as long as llama.cpp's kernels give the same logits for a token decoded
//! alone and inside a batch. On the CPU they may not, to the last bit (a batch's matrix products
//! sum in another order: llamafile's tinyBLAS against ggml's dot product), and a greedy reply
//! can then take the other branch of a near tie; the prompts here are ones where they agree.
//! With batches split into single tokens (`n_ubatch` 1) every reply tried was identical.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ops::ControlFlow;

use ember::engine::llama::{self, EngineOptions, LlamaSession};
use ember::engine::{Backend, Message, Role, SamplingParams, Speculate, TurnRequest, TurnSink, TurnStats};

/// A short Rust file the model copies when asked to return it whole.
const CODE: &str = "fn area(width: u32, height: u32) -> u32 {\n    width * height\n}\n\nfn perimeter(width: u32, height: u32) -> u32 {\n    2 * (width + height)\n}\n\nfn main() {\n    let (width, height) = (3, 4);\n    println!(\"area {}\", area(width, height));\n    println!(\"perimeter {}\", perimeter(width, height));\n}\n";

fn options() -> EngineOptions {
    let mut o = EngineOptions::new(common::default_model());
    o.n_ctx = Some(2048);
    o
}

fn sampling(speculate: Speculate, temperature: f32, max_tokens: usize) -> SamplingParams {
    SamplingParams { temperature, seed: 7, max_tokens, speculate, ..SamplingParams::default() }
}

#[derive(Default)]
struct Collect(String);

impl TurnSink for Collect {
    fn text(&mut self, text: &str) -> ControlFlow<()> {
        self.0.push_str(text);
        ControlFlow::Continue(())
    }
    fn cancelled(&self) -> bool {
        false
    }
}

fn ask(session: &mut LlamaSession<'_>, messages: &[Message], sampling: SamplingParams) -> (String, TurnStats) {
    let mut out = Collect::default();
    let req = TurnRequest { turn: 1, messages: messages.to_vec(), sampling };
    let (stats, _) = session.generate(&req, &mut out).unwrap();
    (out.0, stats)
}

fn question(text: &str) -> Vec<Message> {
    vec![Message::new(Role::User, text)]
}

fn rewrite() -> Vec<Message> {
    question(&format!("```rust\n{CODE}```\nRename `width` to `w` everywhere and return the whole file."))
}

/// (drafted, accepted) of a turn that speculated.
fn drafts(stats: &TurnStats) -> (usize, usize) {
    let (drafted, accepted, _) = stats.speculation.expect("the turn did not speculate");
    (drafted, accepted)
}

#[test]
fn replies_are_the_same_with_speculation_on_and_off() {
    let opts = options();
    let model = llama::load_model(&opts, false, None).unwrap();
    let (mut off, _) = llama::open_session(&model, &opts).unwrap();
    let (mut on, _) = llama::open_session(&model, &opts).unwrap();
    let cases = [(rewrite(), 0.0, true), (question("Write a haiku about the sea."), 0.0, false)];
    for (messages, temperature, copies) in cases {
        let (plain, plain_stats) = ask(&mut off, &messages, sampling(Speculate::Off, temperature, 160));
        let (fast, stats) = ask(&mut on, &messages, sampling(Speculate::Ngram, temperature, 160));
        assert_eq!(fast, plain, "speculation changed the reply at temperature {temperature}");
        assert_eq!(stats.generated_tokens, plain_stats.generated_tokens);
        assert_eq!(plain_stats.speculation, None);
        let (drafted, accepted) = drafts(&stats);
        if copies {
            // Drafts were made and accepted: the comparison above checked real speculation.
            assert!(accepted >= 20 && accepted <= drafted, "{accepted} of {drafted} drafted tokens accepted");
            assert!(stats.tokens_per_decode().unwrap() > 1.2, "{:?}", stats.speculation);
        }
        assert_eq!(on.context_text(), off.context_text(), "the contexts hold other tokens");
    }
}

#[test]
fn the_next_turn_reuses_a_context_left_exactly_as_without_speculation() {
    let opts = options();
    let model = llama::load_model(&opts, false, None).unwrap();
    let (mut off, _) = llama::open_session(&model, &opts).unwrap();
    let (mut on, _) = llama::open_session(&model, &opts).unwrap();
    // Cut inside a run of accepted draft tokens (max_tokens), so the draft's rest must leave
    // the KV cache; then a second turn reuses the cache's prefix.
    let first = rewrite();
    let (plain, _) = ask(&mut off, &first, sampling(Speculate::Off, 0.0, 60));
    let (fast, stats) = ask(&mut on, &first, sampling(Speculate::Ngram, 0.0, 60));
    assert_eq!(fast, plain);
    assert!(drafts(&stats).1 > 0, "nothing accepted: {:?}", stats.speculation);
    assert_eq!(on.context_text(), off.context_text());
    let mut second = first.clone();
    second.push(Message::new(Role::Assistant, plain));
    second.push(Message::new(Role::User, "Now rename `height` to `h` as well and return the whole file."));
    let (plain, plain_stats) = ask(&mut off, &second, sampling(Speculate::Off, 0.0, 80));
    let (fast, stats) = ask(&mut on, &second, sampling(Speculate::Ngram, 0.0, 80));
    assert_eq!(stats.reused_tokens, plain_stats.reused_tokens);
    assert_eq!(fast, plain, "the second turn differs");
    assert_eq!(on.context_text(), off.context_text());
}

#[test]
fn prose_with_nothing_to_copy_drafts_almost_nothing() {
    let opts = options();
    let model = llama::load_model(&opts, false, None).unwrap();
    let (mut on, _) = llama::open_session(&model, &opts).unwrap();
    let (_, stats) =
        ask(&mut on, &question("Write a short story about a lighthouse keeper."), sampling(Speculate::Ngram, 0.0, 160));
    // Its lookups are checked in the shadow first, and fail there: no decode pays for them.
    let (drafted, _) = drafts(&stats);
    assert!(stats.generated_tokens > 100, "{stats:?}");
    assert!(drafted * 20 <= stats.generated_tokens, "{drafted} tokens drafted in {} generated", stats.generated_tokens);
}
