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

/// Measures `messages`, leaving out their oldest unpinned turns until the prompt fits in
/// `window` with room to spare for a reply. `measure` returns a prompt and its size in tokens.
/// When no turn can leave, a prompt smaller than the context is still taken (the reply gets what
/// is left); a question that cannot fit even alone is [`EngineError::PromptTooLong`].
pub fn fit<'a, P>(
    messages: &'a [Message],
    window: Window,
    mut measure: impl FnMut(&[Message]) -> Result<(P, usize), EngineError>,
) -> Result<Fitted<'a, P>, EngineError> {
    let mut kept: Vec<usize> = (0..messages.len()).collect();
    let mut current: Cow<'a, [Message]> = Cow::Borrowed(messages);
    loop {
        let (prompt, tokens) = measure(&current)?;
        let fits = tokens + window.room <= window.n_ctx;
        let droppable = if fits { None } else { oldest_droppable_turn(&current) };
        match droppable {
            Some(range) => {
                kept.drain(range.clone());
                current.to_mut().drain(range);
            }
            None if fits || tokens < window.n_ctx => {
                let dropped = messages.len() - kept.len();
                return Ok(Fitted { prompt, tokens, messages: current, kept, dropped });
            }
            None => {
                return Err(EngineError::PromptTooLong {
                    prompt_tokens: tokens,
                    n_ctx: window.n_ctx,
                    n_ctx_train: window.n_ctx_train,
                })
            }
        }
    }
}

/// Where the oldest unpinned turn is: a user message after the system prompt and the replies up
/// to the next user message, none of them pinned. `None` when only the last question and pinned
/// turns would be left.
pub fn oldest_droppable_turn(messages: &[Message]) -> Option<Range<usize>> {
    let mut start = messages.iter().position(|m| m.role != Role::System)?;
    loop {
        // The turn runs to the next user message; the last turn is the question itself.
        let end = messages[start + 1..].iter().position(|m| m.role == Role::User).map(|i| start + 1 + i)?;
        if messages[start..end].iter().any(|m| m.pinned) {
            start = end;
            continue;
        }
        return Some(start..end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The conversation without its oldest unpinned turn, as `fit` leaves it out.
    fn drop_oldest_turn(messages: &[Message]) -> Option<Vec<Message>> {
        let range = oldest_droppable_turn(messages)?;
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
        let fitted = fit(&convo, Window { n_ctx: 20, room: 4, n_ctx_train: 20 }, by_chars).unwrap();
        assert_eq!((fitted.tokens, fitted.dropped, fitted.kept), (14, 0, vec![0, 1, 2, 3]));
        assert!(matches!(fitted.messages, Cow::Borrowed(_)));
        assert_eq!(fitted.prompt, "ssq1q1a1a1q2q2");
    }

    #[test]
    fn oldest_turns_leave_until_the_reply_has_room() {
        let convo = turns();
        let fitted = fit(&convo, Window { n_ctx: 12, room: 4, n_ctx_train: 12 }, by_chars).unwrap();
        assert_eq!((fitted.prompt.as_str(), fitted.dropped, fitted.kept), ("ssq2q2", 2, vec![0, 3]));
        assert_eq!(fitted.messages.len(), 2);
    }

    #[test]
    fn a_question_alone_is_taken_while_smaller_than_the_context_and_refused_beyond() {
        let convo = turns();
        let fitted = fit(&convo, Window { n_ctx: 7, room: 4, n_ctx_train: 9 }, by_chars).unwrap();
        assert_eq!((fitted.tokens, fitted.kept), (6, vec![0, 3]), "no room left, but it fits");
        match fit(&convo, Window { n_ctx: 6, room: 4, n_ctx_train: 9 }, by_chars) {
            Err(EngineError::PromptTooLong { prompt_tokens: 6, n_ctx: 6, n_ctx_train: 9 }) => {}
            other => panic!("expected PromptTooLong, got {other:?}"),
        }
    }
}
