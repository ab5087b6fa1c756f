//! Sampling settings and ember's sampler, which chooses each token from the logits as llama.cpp's
//! default sampler chain would.

mod greedy;

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
    /// How much a reasoning model should think (`--reasoning`): a setting of the request that
    /// reaches the chat template, not the sampler, but travels with the other per-turn settings.
    pub reasoning: crate::engine::Reasoning,
    /// What the answer must match (`--json`, `--json-schema`, `--grammar`), if anything.
    pub constraint: Option<std::sync::Arc<crate::engine::constraint::Constraint>>,
    /// Whether the local engine drafts tokens from the context and checks them in one decode
    /// (`--speculate`): it changes the speed, never the reply.
    pub speculate: Speculate,
}

/// Speculative decoding (`--speculate`, `speculate` in the config file's `[sampling]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Speculate {
    /// Every token is decoded on its own (the default: see BENCHMARKS.md).
    #[default]
    Off,
    /// Drafts come from earlier places in the context that end like the reply so far
    /// (prompt lookup); a reply that repeats its input can come faster.
    Ngram,
}

impl Speculate {
    /// The setting's name, as the flag and the config file spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Speculate::Off => "off",
            Speculate::Ngram => "ngram",
        }
    }
}

impl std::str::FromStr for Speculate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "off" | "none" => Ok(Speculate::Off),
            "ngram" | "on" => Ok(Speculate::Ngram),
            _ => Err(format!("expected off or ngram, got {s:?}")),
        }
    }
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
            reasoning: crate::engine::Reasoning::Auto,
            constraint: None,
            speculate: Speculate::default(),
        }
    }
}

impl SamplingParams {
    /// The sampler for one reply. `banned` tokens are never drawn.
    pub fn sampler(&self, banned: &[i32]) -> Sampler {
        Sampler::new(self, banned)
    }
}

/// Chooses each next token from the model's logits, in llama.cpp's default order: the repeat
/// penalty, top-k, top-p, min-p, temperature, then the random draw; temperature 0 picks the most
/// likely token instead.
///
/// It does what llama.cpp's sampler chain does (a test checks the two agree), but works on the
/// logits in place of llama.cpp's per-token array of every vocabulary entry: llama.cpp's
/// repeat penalty looks up each of the 49,152 entries of the default model's vocabulary in a
/// hash map for every token, which alone cost more than 3% of a generated token's time. Here the
/// penalty touches only the recent tokens, and top-k keeps k candidates in one pass.
pub struct Sampler {
    params: SamplingParams,
    banned: Vec<i32>,
    /// The last `repeat_last_n` chosen tokens, oldest first, and how often each occurs there.
    recent: std::collections::VecDeque<i32>,
    counts: std::collections::HashMap<i32, u32>,
    scratch: Vec<f32>,
    adjusted_tokens: Vec<usize>,
    candidates: Vec<(i32, f32)>,
    rng: Rng,
}

impl Sampler {
    fn new(params: &SamplingParams, banned: &[i32]) -> Sampler {
        let last_n = usize::try_from(params.repeat_last_n).unwrap_or(0);
        Sampler {
            params: params.clone(),
            banned: banned.to_vec(),
            recent: std::collections::VecDeque::with_capacity(last_n.min(4096)),
            counts: std::collections::HashMap::new(),
            scratch: Vec::new(),
            adjusted_tokens: Vec::new(),
            candidates: Vec::new(),
            rng: Rng::new(params.seed),
        }
    }

    fn penalized(&self) -> bool {
        (self.params.repeat_penalty - 1.0).abs() > f32::EPSILON && self.params.repeat_last_n > 0
    }

    /// Chooses the next token and remembers it for the repeat penalty.
    pub fn sample(&mut self, logits: &[f32]) -> i32 {
        let token = self.choose(logits);
        self.accept(token);
        token
    }

    /// Chooses the next token among those `filter` allows, or none if it allows none.
    ///
    /// The result is the token `sample` would choose from the logits with every token the
    /// filter refuses masked out. Masking the whole vocabulary costs far more than a token's
    /// sampling, so the token is chosen first without the filter; only if the filter refuses it
    /// is the vocabulary masked and the token chosen again. With greedy sampling the two ways
    /// pick the same token; at a temperature, a draw the filter refuses is drawn again from the
    /// allowed tokens (as llama.cpp's common sampler does).
    pub fn sample_within(&mut self, logits: &[f32], filter: &mut dyn TokenFilter) -> Option<i32> {
        let mut token = self.choose(logits);
        if !filter.allows(token) {
            let mut masked = logits.to_vec();
            filter.mask(&mut masked);
            if !masked.iter().any(|l| l.is_finite()) {
                return None;
            }
            token = self.choose(&masked);
            if !filter.allows(token) {
                // The allowed tokens are all banned (an end the grammar needs, with ignore_eos).
                return None;
            }
        }
        filter.accept(token);
        self.accept(token);
        Some(token)
    }

    /// The token the settings choose from `logits`, not yet counted as chosen.
    fn choose(&mut self, logits: &[f32]) -> i32 {
        if self.params.temperature <= 0.0 {
            let penalized = self.penalized().then_some((&self.counts, self.params.repeat_penalty));
            greedy::choose(logits, &self.banned, penalized, &mut self.adjusted_tokens)
        } else {
            self.filter(logits);
            self.draw()
        }
    }

    /// Counts `token` as chosen, for the repeat penalty.
    pub fn accept(&mut self, token: i32) {
        let Ok(last_n) = usize::try_from(self.params.repeat_last_n) else { return };
        if last_n == 0 {
            return;
        }
        if self.recent.len() >= last_n {
            if let Some(old) = self.recent.pop_front() {
                if let Some(count) = self.counts.get_mut(&old) {
                    *count -= 1;
                    if *count == 0 {
                        self.counts.remove(&old);
                    }
                }
            }
        }
        self.recent.push_back(token);
        *self.counts.entry(token).or_insert(0) += 1;
    }

    /// The logits with the bans and the repeat penalty applied, in `scratch`.
    fn adjusted(&mut self, logits: &[f32]) {
        self.scratch.clear();
        self.scratch.extend_from_slice(logits);
        for &t in &self.banned {
            if let Some(l) = usize::try_from(t).ok().and_then(|t| self.scratch.get_mut(t)) {
                *l = f32::NEG_INFINITY;
            }
        }
        if self.penalized() {
            let penalty = self.params.repeat_penalty;
            for &t in self.counts.keys() {
                if let Some(l) = usize::try_from(t).ok().and_then(|t| self.scratch.get_mut(t)) {
                    *l = penalize(*l, penalty);
                }
            }
        }
    }

    /// The candidates left after the penalty, top-k, top-p and min-p, most likely first, with
    /// their logits before temperature.
    fn filter(&mut self, logits: &[f32]) -> &[(i32, f32)] {
        self.adjusted(logits);
        top_k(&self.scratch, self.params.top_k, &mut self.candidates);
        let c = &mut self.candidates;
        if c.first().is_some_and(|&(_, max)| max == f32::INFINITY) {
            // Certain: nothing else can be drawn (and the arithmetic below would be NaN).
            c.truncate(1);
        }
        if self.params.top_p < 1.0 && !c.is_empty() {
            let max = c[0].1;
            let sum: f32 = c.iter().map(|&(_, l)| (l - max).exp()).sum();
            let mut cumulative = 0.0;
            let mut keep = c.len();
            for (i, &(_, l)) in c.iter().enumerate() {
                cumulative += (l - max).exp() / sum;
                if cumulative >= self.params.top_p {
                    keep = i + 1;
                    break;
                }
            }
            c.truncate(keep);
        }
        if self.params.min_p > 0.0 && !c.is_empty() {
            let floor = c[0].1 + self.params.min_p.ln();
            let keep = 1 + c[1..].iter().take_while(|&&(_, l)| l >= floor).count();
            c.truncate(keep);
        }
        &self.candidates
    }

    /// Draws from the candidates at the temperature.
    fn draw(&mut self) -> i32 {
        let c = &self.candidates;
        let Some(&(first, max)) = c.first() else { return 0 };
        let t = self.params.temperature;
        let weights = c.iter().map(|&(_, l)| f64::from(((l - max) / t).exp()));
        let total: f64 = weights.clone().sum();
        let target = self.rng.unit() * total;
        let mut running = 0.0;
        for (w, &(token, _)) in weights.zip(c.iter()) {
            running += w;
            if running >= target {
                return token;
            }
        }
        c.last().map_or(first, |&(t, _)| t)
    }
}

/// `logit` under the repeat penalty: divided by it, or multiplied when not positive (as
/// llama.cpp: dividing a negative logit would make the token likelier).
fn penalize(logit: f32, penalty: f32) -> f32 {
    if logit <= 0.0 {
        logit * penalty
    } else {
        logit / penalty
    }
}

/// Which tokens may come next: an output constraint's grammar (`llama/grammar.rs`).
pub trait TokenFilter {
    /// Whether `token` may come next.
    fn allows(&mut self, token: i32) -> bool;
    /// Sets the logit of every token that may not come next to minus infinity.
    fn mask(&mut self, logits: &mut [f32]);
    /// `token` was chosen: the filter moves past it. Called once per chosen token, with a
    /// token the filter allows.
    fn accept(&mut self, token: i32);
}

/// The `k` largest logits (all of them when `k` is 0), largest first, into `out`.
fn top_k(logits: &[f32], k: i32, out: &mut Vec<(i32, f32)>) {
    out.clear();
    let k = match usize::try_from(k) {
        Ok(k) if k > 0 => k.min(logits.len()),
        _ => logits.len(),
    };
    if k > 64 {
        // A large k (or none): select and sort, as insertion would cost k moves per logit.
        let index = |i: usize| i32::try_from(i).unwrap_or(i32::MAX);
        out.extend(logits.iter().enumerate().filter(|(_, l)| !l.is_nan()).map(|(i, &l)| (index(i), l)));
        let descending = |a: &(i32, f32), b: &(i32, f32)| b.1.total_cmp(&a.1);
        if k < out.len() {
            out.select_nth_unstable_by(k, descending);
            out.truncate(k);
        }
        out.sort_unstable_by(descending);
        return;
    }
    for (i, &l) in logits.iter().enumerate() {
        // Most logits fall below the k-th best: one comparison each.
        if out.len() == k && out.last().is_some_and(|&(_, least)| l <= least) {
            continue;
        }
        if l.is_nan() {
            continue;
        }
        let at = out.partition_point(|&(_, x)| x >= l);
        if out.len() == k {
            out.pop();
        }
        out.insert(at, (i32::try_from(i).unwrap_or(i32::MAX), l));
    }
}

/// A small, seeded random generator (xoshiro256**): the same seed gives the same replies on one
/// build.
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u32) -> Rng {
        let mut x = u64::from(seed);
        let mut next = || {
            // SplitMix64 spreads the seed's bits over the state.
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use llama_cpp_2::sampling::LlamaSampler;
    use llama_cpp_2::token::data::LlamaTokenData;
    use llama_cpp_2::token::data_array::LlamaTokenDataArray;
    use llama_cpp_2::token::logit_bias::LlamaLogitBias;
    use llama_cpp_2::token::LlamaToken;

    use super::*;

    /// Logits with ties, negatives and a few far ahead, from a fixed seed.
    fn logits(n: usize, seed: u32) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|_| {
                let u = rng.unit() as f32;
                if u < 0.01 {
                    8.0 + u * 100.0
                } else {
                    ((u * 40.0).round() - 20.0) / 4.0
                }
            })
            .collect()
    }

    fn history(n: usize, vocab: usize, seed: u32) -> Vec<i32> {
        let mut rng = Rng::new(seed ^ 0xABCD);
        (0..n).map(|_| (rng.unit() * vocab as f64) as i32).collect()
    }

    /// llama.cpp's own chain for the same settings, as ember used to build it.
    fn llama_chain(p: &SamplingParams, n_vocab: i32, banned: &[i32], greedy: bool) -> LlamaSampler {
        let mut chain = Vec::new();
        if !banned.is_empty() {
            let biases: Vec<_> =
                banned.iter().map(|&t| LlamaLogitBias::new(LlamaToken(t), f32::NEG_INFINITY)).collect();
            chain.push(LlamaSampler::logit_bias(n_vocab, &biases));
        }
        chain.push(LlamaSampler::penalties(n_vocab, p.repeat_last_n, p.repeat_penalty, 0.0, 0.0));
        if greedy {
            chain.push(LlamaSampler::greedy());
        } else {
            chain.push(LlamaSampler::top_k(p.top_k));
            chain.push(LlamaSampler::top_p(p.top_p, 1));
            chain.push(LlamaSampler::min_p(p.min_p, 1));
        }
        LlamaSampler::chain_simple(chain)
    }

    fn array(logits: &[f32]) -> LlamaTokenDataArray {
        LlamaTokenDataArray::from_iter(
            logits.iter().enumerate().map(|(i, &l)| LlamaTokenData::new(LlamaToken(i as i32), l, 0.0)),
            false,
        )
    }

    #[test]
    fn greedy_picks_what_llama_cpp_picks() {
        let p = SamplingParams { temperature: 0.0, repeat_penalty: 1.3, repeat_last_n: 8, ..SamplingParams::default() };
        for seed in 0..200 {
            let n = 500;
            let logits = logits(n, seed);
            let banned = if seed % 3 == 0 { vec![(seed as i32 * 7) % n as i32] } else { Vec::new() };
            let hist = history(12, 40, seed);
            let mut ours = p.sampler(&banned);
            let mut theirs = llama_chain(&p, n as i32, &banned, true);
            for &t in &hist {
                ours.accept(t);
                theirs.accept(LlamaToken(t));
            }
            let mut a = array(&logits);
            a.apply_sampler(&mut theirs);
            assert_eq!(ours.sample(&logits), a.selected_token().unwrap().0, "seed {seed}");
        }
    }

    #[test]
    fn candidates_are_what_llama_cpp_keeps() {
        for (seed, (top_k, top_p, min_p)) in (0..120)
            .zip([(40, 0.95, 0.05), (5, 1.0, 0.0), (0, 0.9, 0.0), (100, 1.0, 0.2), (40, 0.5, 0.1)].iter().cycle())
        {
            let p = SamplingParams { top_k: *top_k, top_p: *top_p, min_p: *min_p, ..SamplingParams::default() };
            let n = 300;
            let logits = logits(n, seed);
            let hist = history(70, 30, seed);
            let mut ours = p.sampler(&[3]);
            let mut theirs = llama_chain(&p, n as i32, &[3], false);
            for &t in &hist {
                ours.accept(t);
                theirs.accept(LlamaToken(t));
            }
            let mut a = array(&logits);
            a.apply_sampler(&mut theirs);
            let mut expected: Vec<(i32, f32)> = a.data.iter().map(|d| (d.id().0, d.logit())).collect();
            let mut got = ours.filter(&logits).to_vec();
            // Equal logits may come in either order.
            expected.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            got.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let what = format!("seed {seed}, top_k {top_k}, top_p {top_p}, min_p {min_p}");
            assert_eq!(got.len(), expected.len(), "{what}");
            // Where a cut falls among equal logits, either may keep a different one of them:
            // the same logit at the cut, the same tokens above it.
            let last = expected.last().unwrap().1;
            assert_eq!(got.last().unwrap().1, last, "{what}");
            expected.retain(|c| c.1 > last);
            got.retain(|c| c.1 > last);
            assert_eq!(got, expected, "{what}");
        }
    }

    #[test]
    fn draws_follow_the_probabilities() {
        // Three candidates with probabilities 0.5, 0.3 and 0.2 at temperature 1.
        let logits = [0.5f32.ln(), 0.3f32.ln(), 0.2f32.ln(), -100.0];
        let p = SamplingParams {
            temperature: 1.0,
            top_k: 3,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            seed: 9,
            ..SamplingParams::default()
        };
        let mut s = p.sampler(&[]);
        let mut counts = [0usize; 4];
        for _ in 0..20_000 {
            counts[s.sample(&logits) as usize] += 1;
        }
        assert_eq!(counts[3], 0);
        for (i, want) in [0.5, 0.3, 0.2].iter().enumerate() {
            let got = counts[i] as f64 / 20_000.0;
            assert!((got - want).abs() < 0.02, "token {i}: {got} against {want}");
        }
        // A low temperature sharpens: the first token wins almost always.
        let mut s = SamplingParams { temperature: 0.1, ..p.clone() }.sampler(&[]);
        let first = (0..1000).filter(|_| s.sample(&logits) == 0).count();
        assert!(first > 990, "{first}");
    }

    #[test]
    fn the_same_seed_gives_the_same_draws() {
        let logits = logits(1000, 1);
        let p = SamplingParams { temperature: 1.5, top_k: 0, top_p: 1.0, min_p: 0.0, ..SamplingParams::default() };
        let draws = |seed| {
            let mut s = SamplingParams { seed, ..p.clone() }.sampler(&[]);
            (0..50).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(draws(5), draws(5));
        assert_ne!(draws(5), draws(6));
    }

    #[test]
    fn the_penalty_forgets_tokens_older_than_its_window() {
        let p =
            SamplingParams { temperature: 0.0, repeat_penalty: 10.0, repeat_last_n: 2, ..SamplingParams::default() };
        let mut s = p.sampler(&[]);
        let logits = [5.0, 4.0, 3.0, 2.0];
        assert_eq!(s.sample(&logits), 0); // 0 now penalised: 0.5
        assert_eq!(s.sample(&logits), 1); // 1 penalised: 0.4
        assert_eq!(s.sample(&logits), 2); // 0 and 1 penalised: 2 is now the largest
                                          // 0 leaves the window (only 1 and 2 are in it): it wins again.
        assert_eq!(s.sample(&logits), 0);
    }

    #[test]
    fn an_infinite_logit_is_certain_and_nan_is_never_drawn() {
        let logits = [1.0, f32::INFINITY, 2.0, f32::NAN];
        let mut s = SamplingParams { temperature: 1.0, top_k: 0, ..SamplingParams::default() }.sampler(&[]);
        assert!((0..100).all(|_| s.sample(&logits) == 1));
        let mut s = SamplingParams { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.0, ..SamplingParams::default() }
            .sampler(&[]);
        assert!((0..100).all(|_| s.sample(&[1.0, f32::NAN, 1.0]) != 1));
    }

    #[test]
    fn banned_tokens_are_never_chosen() {
        let logits = [1.0, 9.0, 2.0];
        let greedy = SamplingParams { temperature: 0.0, ..SamplingParams::default() };
        assert_eq!(greedy.sampler(&[1]).sample(&logits), 2);
        let mut hot = SamplingParams { temperature: 5.0, top_k: 0, top_p: 1.0, min_p: 0.0, ..greedy }.sampler(&[1]);
        assert!((0..500).all(|_| hot.sample(&logits) != 1));
    }

    /// Allows the tokens in `allowed`; records what it was asked and told.
    struct Only {
        allowed: Vec<i32>,
        masks: usize,
        accepted: Vec<i32>,
    }

    impl TokenFilter for Only {
        fn allows(&mut self, token: i32) -> bool {
            self.allowed.contains(&token)
        }
        fn mask(&mut self, logits: &mut [f32]) {
            self.masks += 1;
            for (t, l) in logits.iter_mut().enumerate() {
                if !self.allowed.contains(&(t as i32)) {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        fn accept(&mut self, token: i32) {
            self.accepted.push(token);
        }
    }

    #[test]
    fn a_filter_masks_only_when_the_choice_is_refused_and_hears_each_token_once() {
        let greedy = SamplingParams { temperature: 0.0, ..SamplingParams::default() };
        let logits = [1.0, 5.0, 3.0, 4.0, 2.0];
        let mut filter = Only { allowed: vec![1, 2, 4], masks: 0, accepted: Vec::new() };
        let mut sampler = greedy.sampler(&[]);
        assert_eq!(sampler.sample_within(&logits, &mut filter), Some(1));
        assert_eq!(filter.masks, 0, "the best token was allowed: no mask");
        filter.allowed = vec![2, 4];
        // Greedy within the filter: the best allowed token, as masking first would give.
        assert_eq!(sampler.sample_within(&logits, &mut filter), Some(2));
        assert_eq!(filter.masks, 1);
        assert_eq!(filter.accepted, vec![1, 2]);
        // At a temperature, every draw is an allowed token.
        let hot = SamplingParams { temperature: 1.5, top_k: 0, top_p: 1.0, min_p: 0.0, ..greedy.clone() };
        let mut sampler = hot.sampler(&[]);
        assert!((0..300).all(|_| matches!(sampler.sample_within(&logits, &mut filter), Some(2 | 4))));
        // Nothing allowed (the only allowed token banned): no token, nothing accepted.
        let before = filter.accepted.len();
        filter.allowed = vec![3];
        assert_eq!(greedy.sampler(&[3]).sample_within(&logits, &mut filter), None);
        assert_eq!(filter.accepted.len(), before);
    }
}
