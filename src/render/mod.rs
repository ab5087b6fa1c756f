//! Turning model output into what a terminal shows: sanitizing, code-block detection, highlighting.

pub mod fence;
pub mod highlight;
pub mod markdown;
pub mod sanitize;
pub mod theme;
pub mod wrap;

pub use sanitize::sanitize;

/// `n` and the noun, singular for one: "1 line", "3 lines". For nouns that take an `s`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// "the earliest message was" / "the 3 earliest messages were": the messages a full context
/// left out.
pub fn earliest_messages(n: usize) -> String {
    if n == 1 {
        "the earliest message was".to_string()
    } else {
        format!("the {n} earliest messages were")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_agree_with_their_number() {
        assert_eq!(super::count(1, "line"), "1 line");
        assert_eq!(super::count(0, "line"), "0 lines");
        assert_eq!(super::count(12, "message"), "12 messages");
        assert_eq!(super::earliest_messages(1), "the earliest message was");
        assert_eq!(super::earliest_messages(4), "the 4 earliest messages were");
    }
}
