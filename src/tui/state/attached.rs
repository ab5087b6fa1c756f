//! Files attached to the next message, each with its size in tokens: an estimate when attached,
//! then the engine's count (its own tokenizer) once it answers.

use crate::conversation::Attachment;

/// Bytes per token assumed until the engine has counted: code and prose average 3-4 bytes a
/// token with the usual vocabularies, so this errs towards more tokens.
const BYTES_PER_TOKEN: usize = 3;

/// About how many tokens `text` is (see [`BYTES_PER_TOKEN`]).
pub fn estimated_tokens(text: &str) -> usize {
    tokens_in_bytes(text.len() as u64)
}

/// About how many tokens a file of `bytes` is (see [`BYTES_PER_TOKEN`]), before it is read.
pub fn tokens_in_bytes(bytes: u64) -> usize {
    usize::try_from(bytes).unwrap_or(usize::MAX).div_ceil(BYTES_PER_TOKEN)
}

/// An attachment's size in tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokens {
    /// Estimated; the engine's count `id` is awaited.
    About { estimate: usize, count: u64 },
    /// Estimated only: the engine could not count it.
    Estimated(usize),
    /// Counted by the engine.
    Counted(usize),
}

impl Tokens {
    /// The best size known.
    pub fn value(self) -> usize {
        match self {
            Tokens::About { estimate, .. } | Tokens::Estimated(estimate) => estimate,
            Tokens::Counted(n) => n,
        }
    }

    /// The size as the user reads it: "1,234 tokens", or "about 300 tokens" while estimated.
    pub fn describe(self) -> String {
        let n = crate::conversation::progress::thousands(self.value());
        let unit = if self.value() == 1 { "token" } else { "tokens" };
        match self {
            Tokens::Counted(_) => format!("{n} {unit}"),
            Tokens::About { .. } | Tokens::Estimated(_) => format!("about {n} {unit}"),
        }
    }
}

/// The files attached to the next message and their sizes.
#[derive(Debug, Default)]
pub struct Attached {
    files: Vec<Attachment>,
    tokens: Vec<Tokens>,
}

impl Attached {
    pub fn files(&self) -> &[Attachment] {
        &self.files
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn clear(&mut self) {
        self.files.clear();
        self.tokens.clear();
    }

    pub fn push(&mut self, file: Attachment, tokens: Tokens) {
        self.files.push(file);
        self.tokens.push(tokens);
    }

    /// Each file with its size.
    pub fn iter(&self) -> impl Iterator<Item = (&Attachment, Tokens)> {
        self.files.iter().zip(self.tokens.iter().copied())
    }

    /// The tokens of every file attached, as well as they are known.
    pub fn total(&self) -> usize {
        self.tokens.iter().map(|t| t.value()).sum()
    }

    /// Which file the engine's count `id` was for, if one still waits for it.
    pub fn counted_by(&self, id: u64) -> Option<usize> {
        self.tokens.iter().position(|t| matches!(t, Tokens::About { count, .. } if *count == id))
    }

    pub fn set_tokens(&mut self, index: usize, tokens: Tokens) {
        if let Some(t) = self.tokens.get_mut(index) {
            *t = tokens;
        }
    }

    /// Keeps the first `len` files (those attached before a send that was refused).
    pub fn truncate(&mut self, len: usize) {
        self.files.truncate(len);
        self.tokens.truncate(len);
    }

    /// Takes file `index` out (one that turned out too large).
    pub fn remove(&mut self, index: usize) -> Option<Attachment> {
        (index < self.files.len()).then(|| {
            self.tokens.remove(index);
            self.files.remove(index)
        })
    }
}
