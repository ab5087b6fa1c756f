//! Context shifting: reusing the KV cache of the turns a cut keeps.
//!
//! When turns leave the context, the prompt becomes the system prompt, the kept turns and the
//! new question. The kept turns are still in the cache, only at later positions, after the turns
//! that left. Instead of evaluating them again, the span that left is removed from the cache and
//! the kept tokens are moved down to their new positions (llama.cpp re-rotates their keys on the
//! next decode: its "K-shift"). The cut then costs about what a normal turn costs.
//!
//! The token sequence the model sees is exactly the new prompt, so the template's structure is
//! whole. What is approximate are the moved tokens' cached values: they were computed while the
//! turns that left were still before them. `ember bench --context-shift` (in
//! `scripts/bench-long.sh`) measures how often the replies still agree with a fresh evaluation.
//!
//! Only models whose memory llama.cpp says can shift get this (see [`model_can_shift`]). On
//! another, llama.cpp would abort the process at the next decode (multi-position RoPE) or, for a
//! sliding-window cache smaller than the context, shift it silently after it has already let go
//! of tokens that the shift brings back into the window.

use llama_cpp_2::model::{LlamaModel, RopeType};
use llama_cpp_2::token::LlamaToken;

use super::session::LlamaSession;

/// The shortest run of cached tokens worth moving. A cut keeps whole turns, hundreds of tokens;
/// a short match elsewhere (a chat template's header, a common phrase) is not a reuse.
pub(super) const MIN_CHUNK: usize = 64;

/// Architectures whose memory is llama.cpp's plain KV cache with one position per token, which
/// `llama_memory_can_shift` says can shift, checked in the llama.cpp tree ember builds.
/// Others (sliding-window caches whose window is smaller than the context, multi-position RoPE,
/// compressed or recurrent memories) cannot, or are not checked: they re-evaluate instead.
/// llama-cpp-2 has no safe binding of `llama_memory_can_shift` (and ember has no `unsafe`),
/// hence the list.
const SHIFTABLE: &[&str] = &[
    "llama",
    "qwen",
    "qwen2",
    "qwen2moe",
    "qwen3",
    "qwen3moe",
    "granite",
    "granitemoe",
    "gemma",
    "phi3",
    "olmo2",
    "mistral3",
    "starcoder2",
    "stablelm",
    "internlm2",
    "exaone",
];

/// Whether this model's cache can be shifted: an architecture of [`SHIFTABLE`], without a
/// sliding window (its window cache is smaller than the context), with one-dimensional RoPE.
pub(super) fn model_can_shift(model: &LlamaModel) -> bool {
    let Ok(arch) = model.meta_val_str("general.architecture") else { return false };
    SHIFTABLE.contains(&arch.as_str())
        && model.meta_val_str(&format!("{arch}.attention.sliding_window")).is_err()
        && !model.is_recurrent()
        && !model.is_hybrid()
        && matches!(model.rope_type(), Some(RopeType::Norm | RopeType::NeoX))
}

/// A run of cached tokens that the new prompt holds at an earlier position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Move {
    /// Where the run is in the cache.
    pub from: usize,
    /// Where the prompt has it (`to < from`).
    pub to: usize,
    pub len: usize,
}

/// The runs of `cached` after position `prefix` (where it and `prompt` stop agreeing) that the
/// prompt has next, in order, each at least `min_len` tokens, reaching at most `limit` tokens
/// into the prompt. The cache is read from left to right once (llama-server's `--cache-reuse`
/// does the same): whatever lies between two runs is what left the context.
pub(super) fn plan(
    cached: &[LlamaToken],
    prompt: &[LlamaToken],
    prefix: usize,
    limit: usize,
    min_len: usize,
) -> Vec<Move> {
    let limit = limit.min(prompt.len());
    let mut moves = Vec::new();
    let (mut from, mut to) = (prefix, prefix);
    while from < cached.len() && to < limit {
        let len = cached[from..].iter().zip(&prompt[to..limit]).take_while(|(a, b)| a == b).count();
        if len >= min_len.max(1) {
            moves.push(Move { from, to, len });
            from += len;
            to += len;
        } else {
            from += 1;
        }
    }
    moves
}

impl LlamaSession<'_> {
    /// After the first `prefix` tokens of `tokens`, which the cache holds in place, moves the runs
    /// of the cache that the prompt holds next (see [`plan`]) to their new positions and removes
    /// everything else from `prefix` on. Returns how many tokens were moved, or `None` when the
    /// cache could not be changed (it is then cleared).
    pub(super) fn shift_into(&mut self, tokens: &[LlamaToken], prefix: usize, limit: usize) -> Option<usize> {
        let moves = plan(&self.cached, tokens, prefix, limit, MIN_CHUNK);
        let end = moves.last().map_or(prefix, |m| m.to + m.len);
        // Any failure leaves a cache half moved: it is cleared, and read again.
        let applied = moves.iter().all(|m| {
            // The cells between the runs moved so far and this one: what left the context.
            let removed = self.ctx.clear_kv_cache_seq(Some(0), Some(m.to as u32), Some(m.from as u32));
            let shift = i32::try_from(m.from - m.to).map(|d| -d);
            matches!(removed, Ok(true))
                && shift.is_ok_and(|d| {
                    self.ctx.kv_cache_seq_add(0, Some(m.from as u32), Some((m.from + m.len) as u32), d).is_ok()
                })
        }) && matches!(self.ctx.clear_kv_cache_seq(Some(0), Some(end as u32), None), Ok(true));
        if !applied {
            self.ctx.clear_kv_cache();
            self.cached.clear();
            return None;
        }
        self.shift_pending |= !moves.is_empty();
        self.cached.clear();
        self.cached.extend_from_slice(&tokens[..end]);
        Some(end - prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(ids: &[i32]) -> Vec<LlamaToken> {
        ids.iter().map(|&i| LlamaToken(i)).collect()
    }

    fn run(from: i32, len: i32) -> Vec<i32> {
        (from..from + len).collect()
    }

    #[test]
    fn a_cut_moves_the_kept_turns_down_over_the_ones_that_left() {
        // system (0..10), dropped turns (100..150), kept turns (200..300); the prompt: system,
        // kept turns, a new question (900..905).
        let cached = toks(&[run(0, 10), run(100, 50), run(200, 100)].concat());
        let prompt = toks(&[run(0, 10), run(200, 100), run(900, 5)].concat());
        let moves = plan(&cached, &prompt, 10, prompt.len() - 1, 64);
        assert_eq!(moves, vec![Move { from: 60, to: 10, len: 100 }]);
    }

    #[test]
    fn runs_shorter_than_the_minimum_are_not_moved() {
        let cached = toks(&[run(0, 10), run(100, 50), run(200, 30)].concat());
        let prompt = toks(&[run(0, 10), run(200, 30), run(900, 5)].concat());
        assert!(plan(&cached, &prompt, 10, prompt.len() - 1, 64).is_empty());
        assert_eq!(plan(&cached, &prompt, 10, prompt.len() - 1, 16), vec![Move { from: 60, to: 10, len: 30 }]);
    }

    #[test]
    fn several_runs_are_moved_in_order_and_the_limit_holds() {
        // Two kept runs with a left-out span between them, then the prompt's new end.
        let cached = toks(&[run(0, 4), run(100, 8), run(200, 70), run(300, 8), run(400, 70)].concat());
        let prompt = toks(&[run(0, 4), run(200, 70), run(400, 70), run(900, 3)].concat());
        let moves = plan(&cached, &prompt, 4, prompt.len(), 64);
        assert_eq!(moves, vec![Move { from: 12, to: 4, len: 70 }, Move { from: 90, to: 74, len: 70 }]);
        // A limit inside the second run shortens it; one before it leaves it out.
        let moves = plan(&cached, &prompt, 4, 140, 64);
        assert_eq!(moves.last(), Some(&Move { from: 90, to: 74, len: 66 }));
        assert_eq!(plan(&cached, &prompt, 4, 100, 64).len(), 1);
    }

    #[test]
    fn a_prompt_that_continues_the_cache_needs_no_move() {
        let cached = toks(&run(0, 100));
        let prompt = toks(&run(0, 120));
        assert!(plan(&cached, &prompt, 100, 119, 64).is_empty());
    }
}
