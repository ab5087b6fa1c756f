//! Counts words in text read from stdin and prints the most frequent ones.
//!
//! Written for ember's speculative-decoding benchmark (scripts/bench-spec.sh).

use std::collections::HashMap;
use std::io::{self, Read};

/// How many of the most frequent words to print.
const TOP: usize = 10;

struct WordCounter {
    counts: HashMap<String, usize>,
    total: usize,
}

impl WordCounter {
    fn new() -> WordCounter {
        WordCounter { counts: HashMap::new(), total: 0 }
    }

    fn add_text(&mut self, text: &str) {
        for word in text.split_whitespace() {
            let word: String = word.chars().filter(|c| c.is_alphanumeric()).collect();
            if word.is_empty() {
                continue;
            }
            *self.counts.entry(word.to_lowercase()).or_insert(0) += 1;
            self.total += 1;
        }
    }

    fn most_frequent(&self, n: usize) -> Vec<(&String, &usize)> {
        let mut pairs: Vec<(&String, &usize)> = self.counts.iter().collect();
        pairs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        pairs.truncate(n);
        pairs
    }

    fn distinct(&self) -> usize {
        self.counts.len()
    }
}

fn main() {
    let mut text = String::new();
    if let Err(e) = io::stdin().read_to_string(&mut text) {
        eprintln!("word_count: cannot read stdin: {e}");
        std::process::exit(1);
    }
    let mut counter = WordCounter::new();
    counter.add_text(&text);
    println!("{} words, {} distinct", counter.total, counter.distinct());
    for (word, count) in counter.most_frequent(TOP) {
        let share = *count as f64 / counter.total as f64 * 100.0;
        println!("{count:>6} {share:>5.1}% {word}");
    }
}
