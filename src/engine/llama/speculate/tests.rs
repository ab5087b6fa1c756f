use std::time::Duration;

use super::*;

/// Tokens from text, one per byte: easy to read and to repeat.
fn toks(text: &str) -> Vec<i32> {
    text.bytes().map(i32::from).collect()
}

fn text(tokens: &[i32]) -> String {
    tokens.iter().map(|&t| char::from(t as u8)).collect()
}

fn draft(d: &mut Drafter, limit: usize) -> String {
    let mut out = Vec::new();
    d.lookup(limit, &mut out);
    text(&out)
}

#[test]
fn drafts_what_followed_the_same_ending_earlier() {
    let mut d = Drafter::new(&toks("fn add(a, b) { a + b }\nfn add("));
    assert_eq!(draft(&mut d, 8), "a, b) { ");
    // At most the limit, and never past the end of the context.
    assert_eq!(draft(&mut d, 3), "a, ");
    let mut d = Drafter::new(&toks("xyz1 xyz"));
    assert_eq!(draft(&mut d, 8), "1 xyz");
}

#[test]
fn the_longest_ending_wins_and_the_latest_place() {
    // "abc" was followed by 1 and later by 2; "zabc" only by 1: the longer match is taken.
    let mut d = Drafter::new(&toks("zabc1....abc2....zabc"));
    assert_eq!(draft(&mut d, 1), "1");
    // With only "abc" to go on, the latest place: 2.
    let mut d = Drafter::new(&toks("zabc1....abc2....yabc"));
    assert_eq!(draft(&mut d, 1), "2");
}

#[test]
fn short_or_unseen_endings_draft_nothing() {
    // "ab" occurred before, but two tokens are too weak a match.
    let mut d = Drafter::new(&toks("ab1 ... ab"));
    assert_eq!(draft(&mut d, 8), "");
    let mut d = Drafter::new(&toks("the quick brown fox"));
    assert_eq!(draft(&mut d, 8), "");
    let mut d = Drafter::new(&[]);
    assert_eq!(draft(&mut d, 8), "");
}

#[test]
fn tokens_pushed_later_are_drafted_from() {
    let mut d = Drafter::new(&toks("let total = "));
    for t in toks("price * 2;\nlet total = ") {
        d.push(t);
    }
    assert_eq!(draft(&mut d, 8), "price * ");
}

/// A speculation over `context`, at the prior cost of a longer decode (a CPU's).
fn speculation(context: &str) -> (Speculation, DecodeCosts) {
    let tokens: Vec<LlamaToken> = toks(context).into_iter().map(LlamaToken).collect();
    let mut costs = DecodeCosts::default();
    costs.record(1, Duration::from_millis(10));
    (Speculation::new(true, &tokens), costs)
}

/// The next draft after `token` came (as `advance` sees it).
fn next_tokens(spec: &mut Speculation, costs: &DecodeCosts, token: i32) -> Vec<i32> {
    if let Some(d) = spec.drafter.as_mut() {
        d.push(token);
    }
    spec.follow_shadow(token);
    let mut out = Vec::new();
    spec.next_draft(100, costs, &mut out);
    out
}

fn next(spec: &mut Speculation, costs: &DecodeCosts, token: u8) -> String {
    text(&next_tokens(spec, costs, i32::from(token)))
}

#[test]
fn a_lookup_is_drafted_only_once_its_kind_has_been_accepted() {
    let code = "fn area(width: u32, height: u32) -> u32 { w * h }\n";
    let (mut spec, costs) = speculation(&format!("{code}{}", &code[..8]));
    // The first lookup is checked in the shadow: nothing to decode yet.
    assert_eq!(next(&mut spec, &costs, b'w'), "");
    assert_eq!(text(&spec.shadow), &code[9..9 + MAX_DRAFT]);
    // Its tokens come: the shadow is accepted whole, and the next lookup is drafted.
    let mut drafted = String::new();
    for &b in &code.as_bytes()[9..9 + MAX_DRAFT] {
        drafted = next(&mut spec, &costs, b);
    }
    assert!(drafted.len() >= 4 && code[9 + MAX_DRAFT..].starts_with(&drafted), "{drafted:?}");
    assert!(spec.shadow.is_empty());
    assert_eq!(spec.drafts, 1);
}

#[test]
fn where_a_longer_decode_costs_little_a_weaker_match_is_drafted() {
    let (mut spec, mut costs) = speculation("the cat sat. the ");
    // A decode of 9 tokens at 1.2 times one (a GPU): even the prior's 0.5 pays.
    for _ in 0..30 {
        costs.record(9, Duration::from_millis(12));
    }
    assert_eq!(next(&mut spec, &costs, b'c'), "at s");
}

#[test]
fn lookups_that_keep_failing_in_the_shadow_are_never_drafted() {
    // Like prose: an ending recurs (1 2 3), but what follows it never does again.
    let (mut spec, costs) = speculation("");
    let mut drafts = Vec::new();
    for new in 100..140 {
        for token in [1, 2, 3, new] {
            drafts.extend(next_tokens(&mut spec, &costs, token));
        }
    }
    assert_eq!((drafts.len(), spec.drafts), (0, 0));
    assert!(spec.acceptance.rate(0) < 0.2, "{}", spec.acceptance.rate(0));
}

#[test]
fn only_unconstrained_ngram_turns_speculate() {
    assert!(!speculation_allowed(&SamplingParams::default()), "off unless asked for");
    let on = SamplingParams { speculate: Speculate::Ngram, ..SamplingParams::default() };
    assert!(speculation_allowed(&on));
    let json = Some(std::sync::Arc::new(crate::engine::constraint::Constraint::json()));
    assert!(!speculation_allowed(&SamplingParams { constraint: json, ..on.clone() }), "never constrained");
    assert!(!speculation_allowed(&SamplingParams { speculate: Speculate::Off, ..on }));
}
