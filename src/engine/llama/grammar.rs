//! An output constraint's grammar as a [`TokenFilter`]: llama.cpp's grammar sampler, asked
//! about one token at a time (cheap) or about the whole vocabulary (only when the token ember's
//! sampler chose is refused).
//!
//! llama.cpp's grammar allows an end-of-generation token only where the grammar is complete, so
//! a constrained answer ends only once it matches. Its `accept` aborts the process on a token
//! the grammar refuses: the filter accepts only tokens `allows` said yes to, once each.

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;

use std::time::{Duration, Instant};

use crate::engine::constraint::Constraint;
use crate::engine::sampling::{Sampler, TokenFilter};
use crate::engine::EngineError;

/// The grammar of one turn's answer.
pub(super) struct Grammar {
    sampler: LlamaSampler,
    one: LlamaTokenDataArray,
    all: LlamaTokenDataArray,
    /// Tokens chosen within the grammar, and the time spent asking it.
    tokens: usize,
    time: Duration,
}

/// Chooses the next token from `logits`: within `grammar` when there is one (the answer has
/// begun), else as the sampler would alone.
pub(super) fn next_token(
    sampler: &mut Sampler,
    grammar: Option<&mut Grammar>,
    logits: &[f32],
) -> Result<LlamaToken, EngineError> {
    let Some(grammar) = grammar else { return Ok(LlamaToken(sampler.sample(logits))) };
    let started = Instant::now();
    let token = sampler.sample_within(logits, grammar);
    grammar.time += started.elapsed();
    grammar.tokens += 1;
    token
        .map(LlamaToken)
        .ok_or_else(|| EngineError::Grammar("the output constraint allows no token the model can write next".into()))
}

impl Grammar {
    /// The grammar of `constraint` for `model`'s vocabulary. ember checked its syntax already;
    /// what llama.cpp may still refuse is a rule that begins with itself (left recursion).
    pub(super) fn new(model: &LlamaModel, constraint: &Constraint) -> Result<Self, EngineError> {
        let sampler = LlamaSampler::grammar(model, &constraint.grammar, "root").map_err(|e| {
            EngineError::Grammar(format!(
                "llama.cpp refused {} ({e}); a rule that begins with itself (left recursion) is not \
                 supported, and ember.log has llama.cpp's reason",
                constraint.label
            ))
        })?;
        Ok(Grammar {
            sampler,
            one: LlamaTokenDataArray::new(Vec::with_capacity(1), false),
            all: LlamaTokenDataArray::new(Vec::new(), false),
            tokens: 0,
            time: Duration::ZERO,
        })
    }

    /// Tokens chosen within the grammar, and the time the whole choice of them took (ember's
    /// sampling included: the grammar's cost is this against an unconstrained turn's).
    pub(super) fn spent(&self) -> (usize, Duration) {
        (self.tokens, self.time)
    }
}

impl TokenFilter for Grammar {
    fn allows(&mut self, token: i32) -> bool {
        self.one.data.clear();
        self.one.data.push(LlamaTokenData::new(LlamaToken(token), 0.0, 0.0));
        self.one.selected = None;
        self.one.sorted = false;
        self.one.apply_sampler(&mut self.sampler);
        self.one.data.first().is_some_and(|d| d.logit().is_finite())
    }

    fn mask(&mut self, logits: &mut [f32]) {
        self.all.data.clear();
        self.all
            .data
            .extend(logits.iter().enumerate().map(|(i, &l)| LlamaTokenData::new(LlamaToken(i as i32), l, 0.0)));
        self.all.selected = None;
        self.all.sorted = false;
        self.all.apply_sampler(&mut self.sampler);
        for d in &self.all.data {
            if !d.logit().is_finite() {
                if let Some(l) = usize::try_from(d.id().0).ok().and_then(|i| logits.get_mut(i)) {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
    }

    fn accept(&mut self, token: i32) {
        self.sampler.accept(LlamaToken(token));
    }
}
