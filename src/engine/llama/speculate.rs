//! Speculative decoding from the conversation itself (prompt lookup): the next tokens are
//! drafted from an earlier place in the context that ends with the same few tokens as the reply
//! so far, and checked in one decode of the draft with the token before it.
//!
//! Replies about code repeat long spans of their input (identifiers, lines, whole functions),
//! and on a CPU a decode of a few tokens costs little more than a decode of one, so each
//! accepted draft token is a token nearly for free. Nothing is lost: every token is still chosen
//! by the sampler from the model's own logits, in order, exactly as without a draft (see
//! [`LlamaSession::advance`]); the draft only decides which logits are computed ahead. With
//! sampling, a drafted token is kept when the sampler draws it: for a draft from a lookup (one
//! token, certain) that is the standard speculative-sampling rule, accepting x with probability
//! p(x) and otherwise drawing from p without x, and the sampler's random draws, penalties and
//! bans are the ones of plain decoding, token for token.

use std::collections::HashMap;

use llama_cpp_2::token::LlamaToken;

use super::session::LlamaSession;
use crate::engine::sampling::{SamplingParams, Speculate};
use crate::engine::EngineError;

/// The shortest n-gram a draft is taken from: shorter matches (a space and a bracket) are too
/// common in code and prose to predict what follows.
const MIN_NGRAM: usize = 3;

/// The longest n-gram looked up; longer ones are tried first.
const MAX_NGRAM: usize = 6;

/// The most tokens one draft may have.
const MAX_DRAFT: usize = 16;

/// The first draft's length, and the shortest one.
const START_DRAFT: usize = 8;
const MIN_DRAFT: usize = 2;

/// After drafts of which nothing was accepted, drafting pauses for 2, 4, 8... decodes, up to
/// this many: where the context cannot help (prose, new code), drafts become rare.
const MAX_PAUSE: usize = 64;

/// Whether a turn may speculate: asked for, and unconstrained. (A constrained turn's sampler
/// would have to check every drafted position against its grammar.)
pub(super) fn speculation_allowed(params: &SamplingParams) -> bool {
    params.speculate == Speculate::Ngram && params.constraint.is_none()
}

/// The tokens in context, indexed by the n-grams that precede each of them, and the current
/// draft length, which adapts to how much of the recent drafts was accepted.
pub(super) struct Drafter {
    tokens: Vec<i32>,
    /// For each n-gram length from `MIN_NGRAM`, the hash of an n-gram to the position of the
    /// token that last followed it.
    index: Vec<HashMap<u64, usize>>,
    length: usize,
    /// Decodes left before the next draft.
    pause: usize,
    /// Drafts in a row of which nothing was accepted.
    misses: u32,
}

impl Drafter {
    /// A drafter over `context`, the tokens the KV cache holds.
    pub(super) fn new(context: &[i32]) -> Drafter {
        let mut drafter = Drafter {
            tokens: Vec::with_capacity(context.len() + 1024),
            index: vec![HashMap::new(); MAX_NGRAM - MIN_NGRAM + 1],
            length: START_DRAFT,
            pause: 0,
            misses: 0,
        };
        for &token in context {
            drafter.push(token);
        }
        drafter
    }

    /// Adds `token` to the context, indexed by the n-grams before it.
    pub(super) fn push(&mut self, token: i32) {
        self.tokens.push(token);
        let at = self.tokens.len() - 1;
        for (slot, n) in (MIN_NGRAM..=MAX_NGRAM).enumerate() {
            if at < n {
                break;
            }
            self.index[slot].insert(hash(&self.tokens[at - n..at]), at);
        }
    }

    /// The draft for what follows the context: the tokens that followed the last earlier
    /// occurrence of its longest indexed ending, at most `limit` of them (and the current draft
    /// length). Empty when no such ending occurred or while drafting pauses.
    pub(super) fn draft(&mut self, limit: usize, out: &mut Vec<i32>) {
        out.clear();
        if self.pause > 0 {
            self.pause -= 1;
            return;
        }
        let limit = limit.min(self.length);
        let len = self.tokens.len();
        for (slot, n) in (MIN_NGRAM..MAX_NGRAM + 1).enumerate().rev() {
            if len < n || limit == 0 {
                continue;
            }
            let ending = &self.tokens[len - n..];
            let Some(&at) = self.index[slot].get(&hash(ending)) else { continue };
            // A hash collision would only cost a rejected draft, but is cheap to rule out.
            if &self.tokens[at - n..at] == ending {
                out.extend_from_slice(&self.tokens[at..len.min(at + limit)]);
                return;
            }
        }
    }

    /// Adapts to a checked draft of `drafted` tokens of which the first `accepted` were right:
    /// longer after a draft accepted whole, shorter after a partial one, and a pause, doubling
    /// each time, after drafts of which nothing was accepted.
    pub(super) fn checked(&mut self, drafted: usize, accepted: usize) {
        if drafted == 0 {
            return;
        }
        if accepted == drafted {
            self.length = (self.length * 2).min(MAX_DRAFT);
        } else {
            self.length = (accepted + 1).clamp(MIN_DRAFT, MAX_DRAFT);
        }
        if accepted == 0 {
            self.misses = (self.misses + 1).min(usize::BITS - 1);
            self.pause = (1usize << self.misses).min(MAX_PAUSE);
        } else {
            self.misses = 0;
        }
    }
}

/// A hash of an n-gram of tokens (FNV-1a over their bytes).
fn hash(tokens: &[i32]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for &t in tokens {
        for b in t.to_le_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
    }
    h
}

/// One reply's speculation: the drafter (none when the turn does not speculate), the draft
/// whose tokens the KV cache holds after the last confirmed token, and the counts for
/// `TurnStats`.
pub(super) struct Speculation {
    drafter: Option<Drafter>,
    /// The last decode's draft, and how many of its tokens are confirmed so far.
    draft: Vec<i32>,
    confirmed: usize,
    /// Tokens drafted and accepted this reply, and the decodes it took.
    pub(super) drafted: usize,
    pub(super) accepted: usize,
    pub(super) decodes: usize,
}

impl Speculation {
    /// Speculation over `context` (the tokens in the KV cache), or none when `on` is false.
    pub(super) fn new(on: bool, context: &[LlamaToken]) -> Speculation {
        let drafter = on.then(|| Drafter::new(&context.iter().map(|t| t.0).collect::<Vec<_>>()));
        Speculation { drafter, draft: Vec::new(), confirmed: 0, drafted: 0, accepted: 0, decodes: 0 }
    }

    /// Draft tokens in the KV cache beyond the confirmed ones.
    fn unconfirmed(&self) -> usize {
        self.draft.len() - self.confirmed
    }

    /// Ends the current draft: tells the drafter how much of it was accepted.
    fn close(&mut self) {
        if let Some(drafter) = self.drafter.as_mut() {
            drafter.checked(self.draft.len(), self.confirmed);
        }
        self.draft.clear();
        self.confirmed = 0;
    }
}

impl LlamaSession<'_> {
    /// Puts the chosen `token` into the context and returns the index of the logits of the
    /// token after it. When `token` is the next token of the draft, it is in the KV cache and
    /// its logits are computed already: nothing to decode. Otherwise the rest of the draft
    /// leaves the KV cache and one decode evaluates `token` and a new draft of at most
    /// `remaining` tokens (what the reply may still generate), with logits at every position.
    pub(super) fn advance(
        &mut self,
        token: LlamaToken,
        spec: &mut Speculation,
        remaining: usize,
    ) -> Result<i32, EngineError> {
        if let Some(drafter) = spec.drafter.as_mut() {
            drafter.push(token.0);
            if spec.draft.get(spec.confirmed) == Some(&token.0) {
                spec.confirmed += 1;
                spec.accepted += 1;
                self.cached.push(token);
                return Ok(spec.confirmed as i32);
            }
        }
        self.drop_unconfirmed(spec)?;
        let mut draft = std::mem::take(&mut spec.draft);
        if let Some(drafter) = spec.drafter.as_mut() {
            let room = (self.ctx.n_ctx() as usize).saturating_sub(self.cached.len() + 2);
            drafter.draft(remaining.min(room).min(self.n_batch.saturating_sub(1)), &mut draft);
        }
        let pos = self.cached.len();
        self.batch.clear();
        let decode_error = |e: llama_cpp_2::llama_batch::BatchAddError| EngineError::Decode(e.to_string());
        self.batch.add(token, pos as i32, &[0], true).map_err(decode_error)?;
        for (i, &t) in draft.iter().enumerate() {
            self.batch.add(LlamaToken(t), (pos + 1 + i) as i32, &[0], true).map_err(decode_error)?;
        }
        self.ctx.decode(&mut self.batch).map_err(|e| EngineError::Decode(e.to_string()))?;
        self.cached.push(token);
        spec.decodes += 1;
        spec.drafted += draft.len();
        spec.draft = draft;
        Ok(0)
    }

    /// Removes the current draft's unconfirmed tokens from the KV cache (a rejected draft, or
    /// the reply ended), so that it holds exactly `cached`.
    pub(super) fn drop_unconfirmed(&mut self, spec: &mut Speculation) -> Result<(), EngineError> {
        if spec.unconfirmed() > 0
            && !matches!(self.ctx.clear_kv_cache_seq(Some(0), Some(self.cached.len() as u32), None), Ok(true))
        {
            return Err(EngineError::Decode("the model's memory could not drop a rejected draft".into()));
        }
        spec.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests;
