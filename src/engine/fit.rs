//! Fitting a conversation into the context window, the same way for every engine.
//!
//! A reply needs room: its `max_tokens`, but never more than a quarter of the context. When the
//! prompt and that room outgrow the context, the oldest unpinned turns leave (never the system
//! prompt nor the question) until it fits. The engines differ only in how they measure a prompt:
//! the local one tokenizes the rendered prompt, the remote one asks the server or estimates.

use std::borrow::Cow;
use std::ops::Range;

use super::message::{Message, Role};
use super::EngineError;

/// Tokens kept free for the reply: its `max_tokens`, but never more than a quarter of the
/// context of `n_ctx` tokens.
pub fn reply_room(max_tokens: usize, n_ctx: usize) -> usize {
    max_tokens.min(n_ctx / 4).max(1)
}

/// The context a conversation must fit in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Tokens the context holds.
    pub n_ctx: usize,
    /// Tokens to keep free for the reply (see [`reply_room`]).
    pub room: usize,
    /// The context the model was trained on, for the error when even the question is too long.
    pub n_ctx_train: usize,
}

/// A conversation fitted into a [`Window`].
#[derive(Debug)]
pub struct Fitted<'a, P> {
    /// The kept messages' prompt, as the engine measured it (its tokens, or nothing but a count).
    pub prompt: P,
    /// The prompt's size in tokens.
    pub tokens: usize,
    /// The messages kept, in order; borrowed when none had to leave.
    pub messages: Cow<'a, [Message]>,
    /// Their indices in the whole conversation.
    pub kept: Vec<usize>,
    /// How many messages left.
    pub dropped: usize,
}

/// The share of the prompt's part of the context that a conversation is cut down to when turns
/// must leave (`context_drop_to`), unless a config says otherwise.
pub const DEFAULT_DROP_TO: f32 = 0.5;

/// Where a conversation was last cut, so that the next turns cut it at the same place and reuse
/// the evaluated prompt (a server's prompt cache, or the local KV cache) until it overflows again.
///
/// When turns must leave, `fit` drops enough of them to bring the prompt down to about `drop_to`
/// of what it may use: the turns that follow then fit without another cut. Without this each
/// turn would drop only what it must, and the prompt would change at its start every turn.
#[derive(Debug, Clone, PartialEq)]
pub struct DropPoint {
    /// The share of the context (less the reply's room) a cut brings the prompt down to, in
    /// (0, 1]; 1 drops only what must go.
    pub drop_to: f32,
    /// Hashes of the messages left out by the last cut, oldest first.
    dropped: Vec<u64>,
}

impl DropPoint {
    /// No cut yet; cuts go down to `drop_to` (clamped to 0.05..=1).
    pub fn new(drop_to: f32) -> Self {
        let drop_to = if drop_to.is_finite() { drop_to.clamp(0.05, 1.0) } else { DEFAULT_DROP_TO };
        DropPoint { drop_to, dropped: Vec::new() }
    }
}

impl Default for DropPoint {
    fn default() -> Self {
        DropPoint::new(DEFAULT_DROP_TO)
    }
}

/// A hash of a message's role and text, to recognise it in a later turn's conversation.
pub fn message_hash(m: &Message) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    m.role.as_str().hash(&mut h);
    m.content.hash(&mut h);
    h.finish()
}

/// Measures `messages`, leaving out their oldest unpinned turns when the prompt does not fit in
/// `window` with room to spare for a reply. `measure` returns a prompt and its size in tokens;
/// `reused` says how many of a prompt's first tokens the engine has evaluated already.
///
/// Where to cut, in order: the cut of `point` (the same turns left out) while that still fits;
/// else, among the cuts that fit up to the first that fits on a grid of steps of
/// `1 - point.drop_to` of the context (turns leave in blocks of about that size, so the prompt
/// comes down to about `drop_to` of it), the one that reuses the most of what is evaluated (a
/// resumed conversation's saved state) when it reuses more than the others; else that grid cut.
/// When no turn can leave, a prompt smaller than the context is still taken (the reply gets what
/// is left); a question that cannot fit even alone is [`EngineError::PromptTooLong`].
pub fn fit<'a, P>(
    messages: &'a [Message],
    window: Window,
    point: &mut DropPoint,
    mut measure: impl FnMut(&[Message]) -> Result<(P, usize), EngineError>,
    reused: impl Fn(&P) -> usize,
) -> Result<Fitted<'a, P>, EngineError> {
    let fits = |tokens: usize| tokens + window.room <= window.n_ctx;
    let (prompt, tokens) = measure(messages)?;
    let turns = droppable_turns(messages);
    if fits(tokens) || turns.is_empty() {
        let kept = (0..messages.len()).collect();
        let fitted = Fitted { prompt, tokens, messages: Cow::Borrowed(messages), kept, dropped: 0 };
        return too_long_unless_smaller(fitted, window);
    }
    let mut cut = |k: usize| -> Result<Fitted<'a, P>, EngineError> {
        let kept = kept_after(messages.len(), &turns[..k]);
        let current: Vec<Message> = kept.iter().map(|&i| messages[i].clone()).collect();
        let (prompt, tokens) = measure(&current)?;
        let dropped = messages.len() - kept.len();
        Ok(Fitted { prompt, tokens, messages: Cow::Owned(current), kept, dropped })
    };
    if let Some(k) = same_cut(messages, &turns, &point.dropped) {
        let fitted = cut(k)?;
        if fits(fitted.tokens) {
            return Ok(fitted);
        }
    }
    // Cuts on a grid of the tokens they leave out: the first turn boundary past each multiple of
    // `step`. The grid depends only on the oldest turns, so the next turns, and a later run with
    // no memory of this one, find the same cut until it overflows.
    let step = (window.n_ctx.saturating_sub(window.room) as f64 * (1.0 - f64::from(point.drop_to))) as usize;
    let step = step.max(1);
    let mut fitting: Vec<(usize, Fitted<'a, P>)> = Vec::new();
    let (mut last, mut left_before) = (None, 0);
    for k in 1..=turns.len() {
        let fitted = cut(k)?;
        let left_out = tokens.saturating_sub(fitted.tokens);
        let on_grid = left_out / step > left_before / step;
        left_before = left_out;
        if !fits(fitted.tokens) {
            last = Some(fitted);
            continue;
        }
        fitting.push((reused(&fitted.prompt), fitted));
        if on_grid {
            break;
        }
    }
    let chosen = match most_reused(fitting) {
        Some(fitted) => fitted,
        None => {
            return last
                .map_or(Err(EngineError::Template("nothing to fit".into())), |f| too_long_unless_smaller(f, window))
        }
    };
    point.dropped =
        messages.iter().enumerate().filter(|(i, _)| !chosen.kept.contains(i)).map(|(_, m)| message_hash(m)).collect();
    Ok(chosen)
}

/// A conversation from which no more turns can leave: taken while smaller than the context,
/// else [`EngineError::PromptTooLong`].
fn too_long_unless_smaller<P>(fitted: Fitted<'_, P>, window: Window) -> Result<Fitted<'_, P>, EngineError> {
    if fitted.tokens + window.room <= window.n_ctx || fitted.tokens < window.n_ctx {
        return Ok(fitted);
    }
    Err(EngineError::PromptTooLong {
        prompt_tokens: fitted.tokens,
        n_ctx: window.n_ctx,
        n_ctx_train: window.n_ctx_train,
    })
}

/// Of cuts that fit (each with how much of it is evaluated already), the one that reuses the
/// most when it reuses most of what it does not share with every cut (the cut the cache holds,
/// not one whose first kept message happens to begin like the cached one); else the last (the
/// most headroom).
fn most_reused<'a, P>(mut fitting: Vec<(usize, Fitted<'a, P>)>) -> Option<Fitted<'a, P>> {
    let least = fitting.iter().map(|(r, _)| *r).min()?;
    let best = fitting.iter().enumerate().max_by_key(|(i, (r, _))| (*r, std::cmp::Reverse(*i)));
    let index = match best {
        Some((i, (r, f))) if (r - least) * 2 > f.tokens.saturating_sub(least) => i,
        _ => fitting.len() - 1,
    };
    Some(fitting.swap_remove(index).1)
}

/// How many of `turns` (oldest first) to leave out to leave out exactly the messages whose
/// hashes are `dropped`; `None` when no such cut exists (none yet, or the conversation changed).
fn same_cut(messages: &[Message], turns: &[Range<usize>], dropped: &[u64]) -> Option<usize> {
    let mut hashes = Vec::new();
    for (k, turn) in turns.iter().enumerate() {
        hashes.extend(messages[turn.clone()].iter().map(message_hash));
        if hashes.len() >= dropped.len() {
            return (hashes == dropped && !dropped.is_empty()).then_some(k + 1);
        }
    }
    None
}

/// The indices of the messages kept when `dropped` turns leave.
fn kept_after(len: usize, dropped: &[Range<usize>]) -> Vec<usize> {
    (0..len).filter(|i| !dropped.iter().any(|turn| turn.contains(i))).collect()
}

/// The turns that may leave the context, oldest first: each user message after the system
/// prompt with the replies up to the next user message, none of them pinned; never the last
/// turn (the question).
pub fn droppable_turns(messages: &[Message]) -> Vec<Range<usize>> {
    let Some(mut start) = messages.iter().position(|m| m.role != Role::System) else { return Vec::new() };
    let mut turns = Vec::new();
    while let Some(end) = messages[start + 1..].iter().position(|m| m.role == Role::User).map(|i| start + 1 + i) {
        if !messages[start..end].iter().any(|m| m.pinned) {
            turns.push(start..end);
        }
        start = end;
    }
    turns
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The conversation without its oldest unpinned turn, as `fit` leaves it out.
    fn drop_oldest_turn(messages: &[Message]) -> Option<Vec<Message>> {
        let range = droppable_turns(messages).first()?.clone();
        let mut out = messages[..range.start].to_vec();
        out.extend_from_slice(&messages[range.end..]);
        Some(out)
    }

    #[test]
    fn oldest_turns_go_first_and_the_system_prompt_stays() {
        let m = |r, t: &str| Message::new(r, t);
        let convo = vec![
            m(Role::System, "s"),
            m(Role::User, "q1"),
            m(Role::Assistant, "a1"),
            m(Role::User, "q2"),
            m(Role::Assistant, "a2"),
            m(Role::User, "q3"),
        ];
        let once = drop_oldest_turn(&convo).unwrap();
        assert_eq!(once.iter().map(|x| x.content.as_str()).collect::<Vec<_>>(), vec!["s", "q2", "a2", "q3"]);
        let twice = drop_oldest_turn(&once).unwrap();
        assert_eq!(twice.iter().map(|x| x.content.as_str()).collect::<Vec<_>>(), vec!["s", "q3"]);
        assert_eq!(drop_oldest_turn(&twice), None, "the question itself is never dropped");
    }

    #[test]
    fn pinned_turns_stay_when_older_ones_leave() {
        let convo = vec![
            Message::new(Role::System, "s"),
            Message::new(Role::User, "q1").with_pin(true),
            Message::new(Role::Assistant, "a1"),
            Message::new(Role::User, "q2"),
            Message::new(Role::Assistant, "a2").with_pin(true),
            Message::new(Role::User, "q3"),
            Message::new(Role::Assistant, "a3"),
            Message::new(Role::User, "q4"),
        ];
        let texts = |m: &[Message]| m.iter().map(|m| m.content.clone()).collect::<Vec<_>>();
        let once = drop_oldest_turn(&convo).unwrap();
        assert_eq!(texts(&once), ["s", "q1", "a1", "q2", "a2", "q4"], "the oldest unpinned turn (q3) left");
        assert_eq!(drop_oldest_turn(&once), None, "only pinned turns and the question are left");
    }

    /// A conversation whose every message is one token per character, for `fit` below.
    fn by_chars(messages: &[Message]) -> Result<(String, usize), EngineError> {
        let prompt: String = messages.iter().map(|m| m.content.as_str()).collect();
        let tokens = prompt.chars().count();
        Ok((prompt, tokens))
    }

    /// Nothing evaluated yet.
    fn none(_: &String) -> usize {
        0
    }

    fn turns() -> Vec<Message> {
        vec![
            Message::new(Role::System, "ss"),
            Message::new(Role::User, "q1q1"),
            Message::new(Role::Assistant, "a1a1"),
            Message::new(Role::User, "q2q2"),
        ]
    }

    #[test]
    fn the_reply_gets_its_max_tokens_up_to_a_quarter_of_the_context() {
        assert_eq!(reply_room(100, 4096), 100);
        assert_eq!(reply_room(4096, 4096), 1024);
        assert_eq!(reply_room(0, 4096), 1, "never no room at all");
    }

    #[test]
    fn a_conversation_that_fits_is_kept_whole_and_borrowed() {
        let convo = turns();
        let fitted =
            fit(&convo, Window { n_ctx: 20, room: 4, n_ctx_train: 20 }, &mut DropPoint::new(1.0), by_chars, none)
                .unwrap();
        assert_eq!((fitted.tokens, fitted.dropped, fitted.kept), (14, 0, vec![0, 1, 2, 3]));
        assert!(matches!(fitted.messages, Cow::Borrowed(_)));
        assert_eq!(fitted.prompt, "ssq1q1a1a1q2q2");
    }

    #[test]
    fn oldest_turns_leave_until_the_reply_has_room() {
        let convo = turns();
        let fitted =
            fit(&convo, Window { n_ctx: 12, room: 4, n_ctx_train: 12 }, &mut DropPoint::new(1.0), by_chars, none)
                .unwrap();
        assert_eq!((fitted.prompt.as_str(), fitted.dropped, fitted.kept), ("ssq2q2", 2, vec![0, 3]));
        assert_eq!(fitted.messages.len(), 2);
    }

    #[test]
    fn a_question_alone_is_taken_while_smaller_than_the_context_and_refused_beyond() {
        let convo = turns();
        let fitted =
            fit(&convo, Window { n_ctx: 7, room: 4, n_ctx_train: 9 }, &mut DropPoint::new(1.0), by_chars, none)
                .unwrap();
        assert_eq!((fitted.tokens, fitted.kept), (6, vec![0, 3]), "no room left, but it fits");
        match fit(&convo, Window { n_ctx: 6, room: 4, n_ctx_train: 9 }, &mut DropPoint::new(1.0), by_chars, none) {
            Err(EngineError::PromptTooLong { prompt_tokens: 6, n_ctx: 6, n_ctx_train: 9 }) => {}
            other => panic!("expected PromptTooLong, got {other:?}"),
        }
    }

    /// A system prompt of 2 tokens, `answered` turns of 8 (by `by_chars`) and a question of 4.
    fn long(answered: usize) -> Vec<Message> {
        let mut convo = vec![Message::new(Role::System, "ss")];
        for i in 1..=answered {
            convo.push(Message::new(Role::User, format!("q{i}q{i}")));
            convo.push(Message::new(Role::Assistant, format!("a{i}a{i}")));
        }
        convo.push(Message::new(Role::User, format!("q{0}q{0}", answered + 1)));
        convo
    }

    /// Room for a prompt of 40 tokens.
    const WINDOW: Window = Window { n_ctx: 44, room: 4, n_ctx_train: 44 };

    #[test]
    fn a_cut_frees_room_down_to_its_share_of_the_context() {
        let convo = long(5);
        let fitted = fit(&convo, WINDOW, &mut DropPoint::new(0.5), by_chars, none).unwrap();
        // Turns leave in blocks of at least 20 tokens (half of 40): three turns of 8.
        assert_eq!(fitted.prompt, "ssq4q4a4a4q5q5a5a5q6q6", "down to about 20 tokens of 40, not just under 40");
        assert_eq!(fitted.dropped, 6);
        let fitted = fit(&convo, WINDOW, &mut DropPoint::new(1.0), by_chars, none).unwrap();
        assert_eq!((fitted.tokens, fitted.dropped), (38, 2), "1.0 drops only what must go");
    }

    #[test]
    fn later_turns_keep_the_cut_until_it_overflows_again() {
        let mut point = DropPoint::new(0.5);
        let convo = long(5);
        let mut prompts = vec![fit(&convo, WINDOW, &mut point, by_chars, none).unwrap().prompt];
        for answered in 6..=8 {
            let convo = long(answered);
            let fitted = fit(&convo, WINDOW, &mut point, by_chars, none).unwrap();
            prompts.push(fitted.prompt);
        }
        for pair in prompts.windows(2).take(2) {
            let without_question = &pair[0][..pair[0].len() - 4];
            assert!(pair[1].starts_with(without_question), "{pair:?}: the same turns left, the prompt only grew");
        }
        assert_eq!(prompts[3], "ssq6q6a6a6q7q7a7a7q8q8a8a8q9q9", "a new cut when the old one overflowed");
    }

    /// `long(5)` cut with no cut remembered and `cache` evaluated: the prompt and the kept indices.
    fn cut_with_cache(cache: &str) -> (String, Vec<usize>) {
        let convo = long(5);
        let reused = |prompt: &String| prompt.chars().zip(cache.chars()).take_while(|(a, b)| a == b).count();
        let fitted = fit(&convo, WINDOW, &mut DropPoint::new(0.5), by_chars, reused).unwrap();
        (fitted.prompt, fitted.kept)
    }

    #[test]
    fn with_no_cut_remembered_the_one_that_reuses_the_evaluated_prompt_wins() {
        // What an earlier turn evaluated, cut after two turns (a saved state, restored).
        let cache = "ssq3q3a3a3q4q4a4a4q5q5a5a5";
        let (prompt, kept) = cut_with_cache(cache);
        assert_eq!(prompt, format!("{cache}q6q6"));
        assert_eq!(kept, [0, 5, 6, 7, 8, 9, 10, 11]);
    }

    #[test]
    fn a_changed_conversation_is_cut_afresh() {
        let mut point = DropPoint::new(0.5);
        fit(&long(5), WINDOW, &mut point, by_chars, none).unwrap();
        let mut edited = long(6);
        edited[1].content = "x1x1".into();
        let fitted = fit(&edited, WINDOW, &mut point, by_chars, none).unwrap();
        assert_eq!(fitted.prompt, "ssq4q4a4a4q5q5a5a5q6q6a6a6q7q7", "the remembered cut no longer exists");
    }

    #[test]
    fn a_run_with_no_memory_of_the_cut_finds_the_same_one() {
        for answered in 5..=7 {
            let convo = long(answered);
            let fitted = fit(&convo, WINDOW, &mut DropPoint::new(0.5), by_chars, none).unwrap();
            assert_eq!(fitted.dropped, 6, "{answered} turns answered: {}", fitted.prompt);
        }
    }

    #[test]
    fn a_cache_that_begins_like_another_cut_by_chance_does_not_choose_it() {
        // The cut after one turn begins "ssq2", as this cache does: a few tokens, not a cut.
        let (prompt, kept) = cut_with_cache("ssq2zzzz");
        assert_eq!(kept.len(), 12 - 6, "the grid's cut, as with nothing evaluated: {prompt}");
    }
}
