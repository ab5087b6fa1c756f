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
    d.draft(limit, &mut out);
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

#[test]
fn the_draft_length_adapts_to_acceptance() {
    let context = toks(&"0123456789abcdefghijklmnopqrstuvwxyz".repeat(2));
    let mut d = Drafter::new(&context[..context.len() - 30]);
    assert_eq!(draft(&mut d, 100).len(), START_DRAFT);
    d.checked(START_DRAFT, START_DRAFT);
    assert_eq!(draft(&mut d, 100).len(), MAX_DRAFT);
    d.checked(MAX_DRAFT, MAX_DRAFT);
    assert_eq!(draft(&mut d, 100).len(), MAX_DRAFT);
    // Three of sixteen accepted: the next draft is four long.
    d.checked(MAX_DRAFT, 3);
    assert_eq!(draft(&mut d, 100).len(), 4);
}

#[test]
fn drafting_pauses_longer_after_each_draft_with_nothing_accepted() {
    let context = toks(&"0123456789abcdefghijklmnopqrstuvwxyz".repeat(2));
    let mut d = Drafter::new(&context[..context.len() - 30]);
    let mut pauses = Vec::new();
    for _ in 0..8 {
        let drafted = draft(&mut d, 100).len();
        assert!(drafted > 0);
        d.checked(drafted, 0);
        let mut paused = 0;
        while draft(&mut d, 100).is_empty() {
            paused += 1;
        }
        pauses.push(paused);
    }
    assert_eq!(pauses, [2, 4, 8, 16, 32, 64, 64, 64]);
    // One accepted token ends the pauses.
    d.checked(4, 1);
    assert!(!draft(&mut d, 100).is_empty());
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
