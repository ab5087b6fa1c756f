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
use std::time::{Duration, Instant};

use llama_cpp_2::token::LlamaToken;

use super::session::LlamaSession;
use crate::engine::sampling::{SamplingParams, Speculate};
use crate::engine::EngineError;
pub(crate) use policy::DecodeCosts;
use policy::{draft_length, Acceptance};

mod policy;

/// The shortest n-gram a draft is taken from: shorter matches (a space and a bracket) are too
/// common in code and prose to predict what follows.
const MIN_NGRAM: usize = 3;

/// The longest n-gram looked up; longer ones are tried first.
const MAX_NGRAM: usize = 6;

/// The most tokens one draft may have (and a shadow draft: see [`policy`]).
const MAX_DRAFT: usize = 16;

/// Whether a turn may speculate: asked for, and unconstrained. (A constrained turn's sampler
/// would have to check every drafted position against its grammar.)
pub(super) fn speculation_allowed(params: &SamplingParams) -> bool {
    params.speculate == Speculate::Ngram && params.constraint.is_none()
}

/// The tokens in context, indexed by the n-grams that precede each of them.
pub(super) struct Drafter {
    tokens: Vec<i32>,
    /// For each n-gram length from `MIN_NGRAM`, the hash of an n-gram to the position of the
    /// token that last followed it.
    index: Vec<HashMap<u64, usize>>,
}

impl Drafter {
    /// A drafter over `context`, the tokens the KV cache holds.
    pub(super) fn new(context: &[i32]) -> Drafter {
        let mut drafter = Drafter {
            tokens: Vec::with_capacity(context.len() + 1024),
            index: vec![HashMap::new(); MAX_NGRAM - MIN_NGRAM + 1],
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

    /// What may follow the context: the tokens that followed the last earlier occurrence of its
    /// longest indexed ending, at most `limit` of them, into `out`. Returns the kind of the
    /// match (the n-gram length, from 0 for `MIN_NGRAM`), or none when no such ending occurred.
    pub(super) fn lookup(&self, limit: usize, out: &mut Vec<i32>) -> Option<usize> {
        out.clear();
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
                return Some(slot);
            }
        }
        None
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
/// whose tokens the KV cache holds after the last confirmed token, the shadow draft being
/// checked for free, the recent acceptance, and the counts for `TurnStats`.
pub(super) struct Speculation {
    drafter: Option<Drafter>,
    acceptance: Acceptance,
    /// The last decode's draft, the kind of its match, and how many of its tokens are
    /// confirmed so far.
    draft: Vec<i32>,
    kind: usize,
    confirmed: usize,
    /// A lookup that was not worth drafting, checked against the tokens that follow it (which
    /// costs no decode), with its kind and how many of its tokens came so far.
    shadow: Vec<i32>,
    shadow_kind: usize,
    shadow_matched: usize,
    /// Tokens drafted and accepted this reply, and the decodes it took.
    pub(super) drafted: usize,
    pub(super) accepted: usize,
    pub(super) decodes: usize,
    /// The time those decodes took, and the drafts made (for the debug log's breakdown).
    decode_time: Duration,
    drafts: usize,
}

impl Speculation {
    /// Speculation over `context` (the tokens in the KV cache), or none when `on` is false.
    pub(super) fn new(on: bool, context: &[LlamaToken]) -> Speculation {
        let drafter = on.then(|| Drafter::new(&context.iter().map(|t| t.0).collect::<Vec<_>>()));
        Speculation {
            drafter,
            acceptance: Acceptance::default(),
            draft: Vec::new(),
            kind: 0,
            confirmed: 0,
            shadow: Vec::new(),
            shadow_kind: 0,
            shadow_matched: 0,
            drafted: 0,
            accepted: 0,
            decodes: 0,
            decode_time: Duration::ZERO,
            drafts: 0,
        }
    }

    /// Draft tokens in the KV cache beyond the confirmed ones.
    fn unconfirmed(&self) -> usize {
        self.draft.len() - self.confirmed
    }

    /// Ends the current draft: counts how much of it was accepted.
    fn close(&mut self) {
        if !self.draft.is_empty() {
            self.acceptance.record(self.kind, self.draft.len(), self.confirmed);
        }
        self.draft.clear();
        self.confirmed = 0;
    }

    /// `token` came: the shadow draft is checked against it, and ends at its first wrong token
    /// or its last.
    fn follow_shadow(&mut self, token: i32) {
        if self.shadow.is_empty() {
            return;
        }
        if self.shadow[self.shadow_matched] == token {
            self.shadow_matched += 1;
            if self.shadow_matched < self.shadow.len() {
                return;
            }
        }
        self.acceptance.record(self.shadow_kind, self.shadow.len(), self.shadow_matched);
        self.shadow.clear();
        self.shadow_matched = 0;
    }

    /// The draft to decode after the newest token, at most `limit` tokens, into `out`: the
    /// lookup's tokens, as many as pay for themselves at the recent acceptance of its kind and
    /// `costs`. A lookup that does not pay becomes the shadow draft; none is looked up while a
    /// shadow draft is being checked.
    fn next_draft(&mut self, limit: usize, costs: &DecodeCosts, out: &mut Vec<i32>) {
        out.clear();
        let Some(drafter) = self.drafter.as_ref() else { return };
        if !self.shadow.is_empty() {
            return;
        }
        let Some(kind) = drafter.lookup(limit.min(MAX_DRAFT), out) else { return };
        let length = draft_length(self.acceptance.rate(kind), costs, out.len());
        if length == 0 {
            // (The shadow draft was empty: `out` is left empty.)
            std::mem::swap(&mut self.shadow, out);
            self.shadow_kind = kind;
        } else {
            out.truncate(length);
            self.kind = kind;
            self.drafts += 1;
        }
    }

    /// Writes where the reply's generation time went to the debug log: decodes and their time,
    /// ember's own time per token (sampling, text, lookups), the drafts, and the decode costs.
    pub(super) fn log(&self, generated: usize, generation_time: Duration, costs: &DecodeCosts) {
        if self.drafter.is_none() || generated == 0 || !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let (single, slope) = costs.figures();
        let own = generation_time.saturating_sub(self.decode_time).as_secs_f64() / generated as f64;
        let rates: Vec<String> = (0..policy::KINDS).map(|k| format!("{:.2}", self.acceptance.rate(k))).collect();
        tracing::debug!(
            decodes = self.decodes,
            decode_ms = self.decode_time.as_secs_f64() * 1000.0,
            own_us_per_token = own * 1e6,
            drafts = self.drafts,
            drafted = self.drafted,
            accepted = self.accepted,
            acceptance_by_ngram = rates.join(" "),
            single_decode_ms = single * 1000.0,
            extra_per_draft_token = slope,
            "speculation"
        );
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
            spec.follow_shadow(token.0);
            if spec.draft.get(spec.confirmed) == Some(&token.0) {
                spec.confirmed += 1;
                spec.accepted += 1;
                self.cached.push(token);
                return Ok(spec.confirmed as i32);
            }
        }
        self.drop_unconfirmed(spec)?;
        let mut draft = std::mem::take(&mut spec.draft);
        let room = (self.ctx.n_ctx() as usize).saturating_sub(self.cached.len() + 2);
        spec.next_draft(remaining.min(room).min(self.n_batch.saturating_sub(1)), &self.decode_costs, &mut draft);
        let pos = self.cached.len();
        self.batch.clear();
        let decode_error = |e: llama_cpp_2::llama_batch::BatchAddError| EngineError::Decode(e.to_string());
        self.batch.add(token, pos as i32, &[0], true).map_err(decode_error)?;
        for (i, &t) in draft.iter().enumerate() {
            self.batch.add(LlamaToken(t), (pos + 1 + i) as i32, &[0], true).map_err(decode_error)?;
        }
        let started = Instant::now();
        self.ctx.decode(&mut self.batch).map_err(|e| EngineError::Decode(e.to_string()))?;
        self.shift_pending = false;
        if spec.drafter.is_some() {
            // Timed to the end of the work (a GPU's decode returns before it): the policy's
            // cost of a decode by its number of tokens, on this machine, now.
            self.ctx.synchronize();
            let took = started.elapsed();
            self.decode_costs.record(1 + draft.len(), took);
            spec.decode_time += took;
        }
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
