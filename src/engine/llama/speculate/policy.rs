//! When a draft pays for itself, and how long it should be: the expected accepted tokens
//! against the measured extra cost of a longer decode.
//!
//! A decode of the token and a draft of `k` gives `1 + p + p² + … + pᵏ` tokens on average when
//! each draft token is accepted with probability `p` (the first rejection ends it), and costs
//! `ratio(k + 1)` decodes of one token. Both sides are measured while generating: `p` from the
//! recent drafts found with n-grams of the same length ([`Acceptance`]), the cost from ember's
//! own decodes on this machine ([`DecodeCosts`]), so the policy adapts to the CPU, the thread
//! count, a GPU and a loaded machine. Lookups that the policy does not draft are still checked
//! against the tokens that follow (a shadow draft, for free), so acceptance is known before
//! a draft is paid for.

use std::time::Duration;

/// The kinds of match acceptance is kept for: one per n-gram length a draft can be found with.
pub(super) const KINDS: usize = super::MAX_NGRAM - super::MIN_NGRAM + 1;

/// A draft is made only when it is expected to give this many times the tokens per second of
/// plain decoding: the estimates are noisy, and a draft that merely breaks even is not worth
/// the risk of a slower reply.
const MARGIN: f64 = 1.1;

/// What a draft of each kind is believed to be before any was checked: one accepted token and
/// one rejection (p = 0.5), too weak a belief to pay for a draft at the prior cost. The first
/// shadow draft that is accepted decides.
const PRIOR_ACCEPTED: f64 = 1.0;
const PRIOR_REJECTED: f64 = 1.0;

/// Each checked draft weighs the earlier ones of its kind down by this factor: acceptance is
/// that of the recent drafts (the reply moves from copying to writing and back).
const DECAY: f64 = 0.75;

/// The extra cost of each draft token, as a share of a decode of one token, until ember has
/// timed a decode of several: a decode of 2, 4, 8 and 16 tokens took 1.35, 2.2, 3.8 and 7.1
/// times one token on this project's 2-core CPU, one thread, loaded (llama-bench at depth 512).
const PRIOR_SLOPE: f64 = 0.4;

/// Weight of a new timing in the running estimates of the decode costs.
const SINGLE_WEIGHT: f64 = 0.1;
const SLOPE_WEIGHT: f64 = 0.2;

/// The recent acceptance of drafts, per kind of match: accepted tokens and rejections, each
/// decayed as newer drafts are checked.
#[derive(Debug, Clone)]
pub(super) struct Acceptance {
    accepted: [f64; KINDS],
    rejected: [f64; KINDS],
}

impl Default for Acceptance {
    fn default() -> Self {
        Acceptance { accepted: [0.0; KINDS], rejected: [0.0; KINDS] }
    }
}

impl Acceptance {
    /// The chance that a draft token of `kind` is accepted, given that those before it were.
    pub(super) fn rate(&self, kind: usize) -> f64 {
        let (a, r) = (self.accepted[kind] + PRIOR_ACCEPTED, self.rejected[kind] + PRIOR_REJECTED);
        a / (a + r)
    }

    /// A draft of `kind` and `drafted` tokens was checked, of which the first `accepted` were
    /// right (all of them: no rejection).
    pub(super) fn record(&mut self, kind: usize, drafted: usize, accepted: usize) {
        self.accepted[kind] = self.accepted[kind] * DECAY + accepted as f64;
        self.rejected[kind] = self.rejected[kind] * DECAY + if accepted < drafted { 1.0 } else { 0.0 };
    }
}

/// The running estimate of what a decode costs by its number of tokens on this machine, from
/// ember's own timings: a decode of one token, and the extra cost of each further token as a
/// share of it (linear in the number of tokens: close to what a CPU measures, and a GPU's
/// nearly flat cost is a slope near 0).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecodeCosts {
    /// Seconds a decode of one token takes (none timed yet: 0).
    single: f64,
    slope: f64,
}

impl Default for DecodeCosts {
    fn default() -> Self {
        DecodeCosts { single: 0.0, slope: PRIOR_SLOPE }
    }
}

impl DecodeCosts {
    /// A decode of `tokens` tokens took `time`.
    pub(super) fn record(&mut self, tokens: usize, time: Duration) {
        let secs = time.as_secs_f64();
        if tokens <= 1 {
            // One slow step (the machine was busy elsewhere) moves the estimate a little only.
            let secs = if self.single > 0.0 { secs.min(self.single * 3.0) } else { secs };
            self.single = if self.single > 0.0 { self.single + (secs - self.single) * SINGLE_WEIGHT } else { secs };
        } else if self.single > 0.0 {
            let slope = ((secs / self.single - 1.0) / (tokens - 1) as f64).clamp(0.0, 2.0);
            self.slope += (slope - self.slope) * SLOPE_WEIGHT;
        }
    }

    /// What a decode of `tokens` tokens costs, in decodes of one.
    pub(super) fn ratio(&self, tokens: usize) -> f64 {
        1.0 + self.slope * tokens.saturating_sub(1) as f64
    }

    /// Seconds a decode of one token takes, and the extra share each further token costs.
    pub(super) fn figures(&self) -> (f64, f64) {
        (self.single, self.slope)
    }
}

/// The draft length, at most `limit`, that gives the most tokens per second when each draft
/// token is accepted with probability `rate`; 0 when no draft is expected to beat plain
/// decoding by [`MARGIN`].
pub(super) fn draft_length(rate: f64, costs: &DecodeCosts, limit: usize) -> usize {
    let (mut best, mut best_gain) = (0, MARGIN);
    let (mut expected, mut all_accepted) = (1.0, 1.0);
    for k in 1..=limit {
        all_accepted *= rate;
        expected += all_accepted;
        let gain = expected / costs.ratio(k + 1);
        if gain > best_gain {
            (best, best_gain) = (k, gain);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn costs(slope: f64) -> DecodeCosts {
        DecodeCosts { single: 0.01, slope }
    }

    #[test]
    fn drafts_only_where_the_accepted_tokens_beat_the_cost() {
        // Nothing is accepted, or nearly nothing: never worth a longer decode.
        assert_eq!(draft_length(0.0, &costs(0.4), 16), 0);
        assert_eq!(draft_length(0.3, &costs(0.4), 16), 0);
        // The prior (0.5) does not pay at the prior cost: a shadow draft must show it first.
        assert_eq!(draft_length(Acceptance::default().rate(0), &DecodeCosts::default(), 16), 0);
        // High acceptance pays, the more the cheaper a longer decode.
        let on_cpu = draft_length(0.9, &costs(0.4), 16);
        let on_gpu = draft_length(0.9, &costs(0.02), 16);
        assert!((2..=8).contains(&on_cpu), "{on_cpu}");
        assert_eq!(on_gpu, 16);
        // A decode as dear as its tokens one by one never pays.
        assert_eq!(draft_length(0.95, &costs(1.0), 16), 0);
        assert_eq!(draft_length(0.99, &costs(0.2), 0), 0);
    }

    #[test]
    fn acceptance_follows_the_recent_drafts_of_each_kind() {
        let mut a = Acceptance::default();
        assert!((a.rate(1) - 0.5).abs() < 1e-9);
        a.record(1, 16, 16);
        assert!(a.rate(1) > 0.9, "{}", a.rate(1));
        assert!((a.rate(0) - 0.5).abs() < 1e-9, "other kinds are kept apart");
        for _ in 0..8 {
            a.record(1, 8, 0);
        }
        assert!(a.rate(1) < 0.4, "{}", a.rate(1));
    }

    #[test]
    fn decode_costs_are_learned_from_timings() {
        let mut c = DecodeCosts::default();
        assert!((c.ratio(5) - (1.0 + 4.0 * PRIOR_SLOPE)).abs() < 1e-9);
        // No single decode timed yet: a batch's time cannot be put in proportion.
        c.record(8, Duration::from_millis(20));
        assert!((c.figures().1 - PRIOR_SLOPE).abs() < 1e-9);
        c.record(1, Duration::from_millis(10));
        for _ in 0..40 {
            // A decode of 9 tokens at 1.8 times one: 0.1 per extra token.
            c.record(9, Duration::from_millis(18));
            c.record(1, Duration::from_millis(10));
        }
        assert!((c.figures().1 - 0.1).abs() < 0.01, "{:?}", c.figures());
        assert!((c.figures().0 - 0.01).abs() < 1e-6);
        // One slow single step moves the estimate only a little.
        c.record(1, Duration::from_secs(1));
        assert!(c.figures().0 < 0.015, "{:?}", c.figures());
    }
}
