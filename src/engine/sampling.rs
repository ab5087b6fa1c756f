//! Sampling settings and the llama.cpp sampler chain built from them.

use llama_cpp_2::sampling::LlamaSampler;

/// How the next token is chosen. Defaults follow llama.cpp's, with a light repeat penalty that
/// keeps small models from looping.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 means greedy: always the most likely token.
    pub temperature: f32,
    /// 0 disables.
    pub top_k: i32,
    /// 1.0 disables.
    pub top_p: f32,
    /// 0.0 disables.
    pub min_p: f32,
    /// 1.0 disables.
    pub repeat_penalty: f32,
    /// How many recent tokens the repeat penalty looks at.
    pub repeat_last_n: i32,
    /// Seed of the random choice; fixed seeds give reproducible output on one build.
    pub seed: u32,
    /// Most tokens to generate for one reply.
    pub max_tokens: usize,
    /// Never end the reply: end-of-generation tokens are masked (benchmarks, as llama-bench).
    pub ignore_eos: bool,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.7,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            seed: 0xE4BE_5EED,
            max_tokens: 2048,
            ignore_eos: false,
        }
    }
}

impl SamplingParams {
    /// The chain in llama.cpp's default order: penalties, top-k, top-p, min-p, temperature, then
    /// the random draw; temperature 0 ends in a greedy pick instead.
    /// `banned` tokens are never drawn.
    pub fn sampler(&self, n_vocab: i32, banned: &[llama_cpp_2::token::LlamaToken]) -> LlamaSampler {
        let mut chain = Vec::new();
        if !banned.is_empty() {
            let biases: Vec<_> = banned
                .iter()
                .map(|&t| llama_cpp_2::token::logit_bias::LlamaLogitBias::new(t, f32::NEG_INFINITY))
                .collect();
            chain.push(LlamaSampler::logit_bias(n_vocab, &biases));
        }
        if (self.repeat_penalty - 1.0).abs() > f32::EPSILON && self.repeat_last_n != 0 {
            chain.push(LlamaSampler::penalties(n_vocab, self.repeat_last_n, self.repeat_penalty, 0.0, 0.0));
        }
        if self.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
            return LlamaSampler::chain_simple(chain);
        }
        if self.top_k > 0 {
            chain.push(LlamaSampler::top_k(self.top_k));
        }
        if self.top_p < 1.0 {
            chain.push(LlamaSampler::top_p(self.top_p, 1));
        }
        if self.min_p > 0.0 {
            chain.push(LlamaSampler::min_p(self.min_p, 1));
        }
        chain.push(LlamaSampler::temp(self.temperature));
        chain.push(LlamaSampler::dist(self.seed));
        LlamaSampler::chain_simple(chain)
    }
}
