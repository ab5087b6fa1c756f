//! The greedy choice (temperature 0) read straight from the logits: the most likely token after
//! the bans and the repeat penalty, found without copying the vocabulary's logits.
//!
//! Copying 49,152 logits to apply a few dozen adjustments, then scanning them one by one, cost
//! about as much as the rest of a token's work outside llama.cpp. Here only the adjusted tokens
//! are looked at one by one; the logits between them are scanned in wide lanes that the
//! compiler turns into vector instructions. Every generated token, and every position a
//! speculative decode checks, goes through this.

use std::collections::HashMap;

/// Lanes of the maximum's scan: one AVX-512 register of `f32`.
const LANES: usize = 16;

/// The token the sampler would choose greedily: the first of the largest logits once each
/// `banned` token's logit is minus infinity and then each token counted in `penalized` has its
/// logit divided by `penalty` (multiplied, when not positive), as `Sampler::adjusted` applies
/// them. `adjusted` is scratch space. 0 when no logit is above minus infinity.
pub(super) fn choose(
    logits: &[f32],
    banned: &[i32],
    penalized: Option<(&HashMap<i32, u32>, f32)>,
    adjusted: &mut Vec<usize>,
) -> i32 {
    adjusted.clear();
    let index = |t: &i32| usize::try_from(*t).ok().filter(|&t| t < logits.len());
    adjusted.extend(banned.iter().filter_map(index));
    if let Some((counts, _)) = penalized {
        adjusted.extend(counts.keys().filter_map(index));
    }
    adjusted.sort_unstable();
    adjusted.dedup();
    let (mut best, mut max) = (0, f32::NEG_INFINITY);
    let mut start = 0;
    for &at in adjusted.iter() {
        first_max(logits, start..at, &mut best, &mut max);
        let mut value = logits[at];
        if banned.iter().any(|&t| usize::try_from(t).ok() == Some(at)) {
            value = f32::NEG_INFINITY;
        }
        if let Some((counts, penalty)) = penalized {
            if counts.contains_key(&i32::try_from(at).unwrap_or(i32::MAX)) {
                value = super::penalize(value, penalty);
            }
        }
        if value > max {
            (best, max) = (at, value);
        }
        start = at + 1;
    }
    first_max(logits, start..logits.len(), &mut best, &mut max);
    i32::try_from(best).unwrap_or(0)
}

/// Makes `best` the index of the first logit in `range` larger than `max`, and larger than
/// any after it there, if there is one.
fn first_max(logits: &[f32], range: std::ops::Range<usize>, best: &mut usize, max: &mut f32) {
    let values = &logits[range.clone()];
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            // (NaN compares false: never the maximum, as in a plain scan.)
            if v > *lane {
                *lane = v;
            }
        }
    }
    let top = lanes.iter().chain(rest).fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    if top > *max {
        if let Some(i) = values.iter().position(|&v| v == top) {
            (*best, *max) = (range.start + i, top);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain way: adjust a copy, then scan it.
    fn reference(logits: &[f32], banned: &[i32], counts: &HashMap<i32, u32>, penalty: f32) -> i32 {
        let mut v = logits.to_vec();
        for &t in banned {
            v[t as usize] = f32::NEG_INFINITY;
        }
        for &t in counts.keys() {
            let l = &mut v[t as usize];
            *l = if *l <= 0.0 { *l * penalty } else { *l / penalty };
        }
        let (mut best, mut max) = (0, f32::NEG_INFINITY);
        for (i, &x) in v.iter().enumerate() {
            if x > max {
                (best, max) = (i, x);
            }
        }
        best as i32
    }

    #[test]
    fn chooses_as_adjusting_a_copy_would() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut scratch = Vec::new();
        for round in 0..400 {
            let n = 1 + (next() % 300) as usize;
            // Few distinct values: ties everywhere, the penalized and banned tokens often on top.
            let mut logits: Vec<f32> = (0..n).map(|_| (next() % 9) as f32 - 4.0).collect();
            if round % 7 == 0 {
                logits[next() as usize % n] = f32::NAN;
            }
            let banned: Vec<i32> = (0..next() % 3).map(|_| (next() % n as u64) as i32).collect();
            let counts: HashMap<i32, u32> = (0..next() % 20).map(|_| ((next() % n as u64) as i32, 1)).collect();
            let penalty = [1.1, 1.3, 0.9][round % 3];
            let fast = choose(&logits, &banned, Some((&counts, penalty)), &mut scratch);
            assert_eq!(fast, reference(&logits, &banned, &counts, penalty), "{logits:?} {banned:?} {counts:?}");
            let plain = choose(&logits, &banned, None, &mut scratch);
            assert_eq!(plain, reference(&logits, &banned, &HashMap::new(), 1.0));
        }
        // Nothing above minus infinity: the first token, as a scan finds no larger one.
        assert_eq!(choose(&[f32::NEG_INFINITY; 40], &[], None, &mut scratch), 0);
        assert_eq!(choose(&[1.0, 2.0], &[1], None, &mut scratch), 0);
    }
}
