//! How both front ends word a long prompt's progress: "reading the prompt: 1,200 / 1,900
//! tokens · 4 s".

use std::time::Duration;

/// The progress line for `done` of `total` prompt tokens evaluated after `elapsed`.
pub fn reading_line(done: usize, total: usize, elapsed: Duration) -> String {
    format!("reading the prompt: {} / {} tokens · {} s", thousands(done), thousands(total), elapsed.as_secs())
}

/// `1900` as "1,900".
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1900), "1,900");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(
            reading_line(1200, 1900, Duration::from_millis(4900)),
            "reading the prompt: 1,200 / 1,900 tokens · 4 s"
        );
    }
}
