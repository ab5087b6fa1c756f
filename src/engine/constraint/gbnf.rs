//! A check of GBNF grammar text that follows llama.cpp's parser (`llama-grammar.cpp`) rule for
//! rule, so that a grammar llama.cpp would refuse is refused here first, with a message that
//! says where: llama.cpp writes its parse errors, with the whole grammar, straight to stderr,
//! which would land in the middle of the chat screen.

use std::collections::{BTreeMap, BTreeSet};

/// llama.cpp's limit on rules made by a repetition (`MAX_REPETITION_THRESHOLD`).
const MAX_REPETITIONS: u64 = 2000;

/// Checks `text` as llama.cpp will parse it: every rule well formed, every rule it names
/// defined, and a `root` rule. The error says what is wrong and on which line.
pub fn check(text: &str) -> Result<(), String> {
    let mut parser = Parser { src: text.as_bytes(), pos: 0, defined: BTreeSet::new(), used: BTreeMap::new() };
    parser.grammar()?;
    if let Some((name, line)) = parser.used.iter().find(|(name, _)| !parser.defined.contains(*name)) {
        return Err(format!("line {line}: the rule `{name}` is used but never defined"));
    }
    if !parser.defined.contains("root") {
        return Err("it has no `root` rule (the rule the whole output must match)".into());
    }
    Ok(())
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    defined: BTreeSet<String>,
    /// Each rule referenced, with the line of its first use.
    used: BTreeMap<String, usize>,
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

impl Parser<'_> {
    fn peek(&self) -> u8 {
        self.src.get(self.pos).copied().unwrap_or(0)
    }

    fn at(&self, offset: usize) -> u8 {
        self.src.get(self.pos + offset).copied().unwrap_or(0)
    }

    fn line(&self) -> usize {
        1 + self.src[..self.pos.min(self.src.len())].iter().filter(|&&c| c == b'\n').count()
    }

    fn error(&self, what: &str) -> String {
        let rest = String::from_utf8_lossy(&self.src[self.pos.min(self.src.len())..]);
        let near: String = rest.chars().take_while(|&c| c != '\n').take(24).collect();
        if near.is_empty() {
            format!("line {}: {what} at the end", self.line())
        } else {
            format!("line {}: {what} at `{near}`", self.line())
        }
    }

    fn space(&mut self, newline_ok: bool) {
        loop {
            match self.peek() {
                b' ' | b'\t' => self.pos += 1,
                b'\r' | b'\n' if newline_ok => self.pos += 1,
                b'#' => {
                    while !matches!(self.peek(), 0 | b'\r' | b'\n') {
                        self.pos += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let start = self.pos;
        while is_word(self.peek()) {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.error("expected a rule name"));
        }
        Ok(String::from_utf8_lossy(&self.src[start..self.pos]).into_owned())
    }

    fn int(&mut self) -> Result<u64, String> {
        let start = self.pos;
        while self.peek().is_ascii_digit() {
            self.pos += 1;
        }
        let digits = std::str::from_utf8(&self.src[start..self.pos]).unwrap_or_default();
        digits.parse().map_err(|_| self.error("expected a number"))
    }

    fn grammar(&mut self) -> Result<(), String> {
        self.space(true);
        while self.peek() != 0 {
            self.rule()?;
        }
        Ok(())
    }

    fn rule(&mut self) -> Result<(), String> {
        let name = self.name()?;
        self.space(false);
        if !self.src[self.pos..].starts_with(b"::=") {
            return Err(self.error(&format!("expected `::=` after `{name}`")));
        }
        self.defined.insert(name);
        self.pos += 3;
        self.space(true);
        self.alternates(false)?;
        match self.peek() {
            b'\r' if self.at(1) == b'\n' => self.pos += 2,
            b'\r' | b'\n' => self.pos += 1,
            0 => {}
            _ => return Err(self.error("expected the end of the line")),
        }
        self.space(true);
        Ok(())
    }

    fn alternates(&mut self, nested: bool) -> Result<(), String> {
        self.sequence(nested)?;
        while self.peek() == b'|' {
            self.pos += 1;
            self.space(true);
            self.sequence(nested)?;
        }
        Ok(())
    }

    /// One alternative: items, each perhaps repeated (`*`, `+`, `?`, `{m,n}`).
    fn sequence(&mut self, nested: bool) -> Result<(), String> {
        let mut has_item = false;
        loop {
            match self.peek() {
                b'"' => {
                    self.pos += 1;
                    while self.peek() != b'"' {
                        self.char()?;
                    }
                    self.pos += 1;
                }
                b'[' => self.class()?,
                b'<' | b'!' => self.token()?,
                b'(' => {
                    self.pos += 1;
                    self.space(true);
                    self.alternates(true)?;
                    if self.peek() != b')' {
                        return Err(self.error("expected `)`"));
                    }
                    self.pos += 1;
                }
                b'.' => self.pos += 1,
                b'*' | b'+' | b'?' | b'{' => {
                    if !has_item {
                        return Err(self.error("a repetition with nothing before it"));
                    }
                    self.repetition(nested)?;
                    continue;
                }
                c if is_word(c) => {
                    let line = self.line();
                    let name = self.name()?;
                    self.used.entry(name).or_insert(line);
                }
                _ => return Ok(()),
            }
            has_item = true;
            self.space(nested);
        }
    }

    fn class(&mut self) -> Result<(), String> {
        self.pos += 1;
        if self.peek() == b'^' {
            self.pos += 1;
        }
        while self.peek() != b']' {
            self.char()?;
            if self.peek() == b'-' && self.at(1) != b']' {
                self.pos += 1;
                self.char()?;
            }
        }
        self.pos += 1;
        Ok(())
    }

    fn token(&mut self) -> Result<(), String> {
        if self.peek() == b'!' {
            self.pos += 1;
        }
        if self.peek() != b'<' {
            return Err(self.error("expected `<`"));
        }
        while !matches!(self.peek(), 0 | b'>') {
            self.pos += 1;
        }
        if self.peek() != b'>' {
            return Err(self.error("expected `>`"));
        }
        self.pos += 1;
        Ok(())
    }

    /// One character of a literal or class: itself, or an escape.
    fn char(&mut self) -> Result<(), String> {
        match self.peek() {
            0 => Err(self.error("unexpected end of the grammar (a quote or bracket left open?)")),
            b'\\' => {
                let hex = match self.at(1) {
                    b'x' => 2,
                    b'u' => 4,
                    b'U' => 8,
                    b't' | b'r' | b'n' | b'\\' | b'"' | b'[' | b']' | b'-' => 0,
                    _ => return Err(self.error("unknown escape")),
                };
                self.pos += 2;
                for _ in 0..hex {
                    if !self.peek().is_ascii_hexdigit() {
                        return Err(self.error(&format!("expected {hex} hex digits")));
                    }
                    self.pos += 1;
                }
                Ok(())
            }
            c => {
                // One UTF-8 character.
                let len = match c {
                    0xF0..=0xFF => 4,
                    0xE0..=0xEF => 3,
                    0xC0..=0xDF => 2,
                    _ => 1,
                };
                self.pos = (self.pos + len).min(self.src.len());
                Ok(())
            }
        }
    }

    fn repetition(&mut self, nested: bool) -> Result<(), String> {
        let c = self.peek();
        self.pos += 1;
        self.space(nested);
        if c != b'{' {
            return Ok(());
        }
        if !self.peek().is_ascii_digit() {
            return Err(self.error("expected a number"));
        }
        let min = self.int()?;
        self.space(nested);
        match self.peek() {
            b'}' => {}
            b',' => {
                self.pos += 1;
                self.space(nested);
                if self.peek().is_ascii_digit() {
                    self.int()?;
                    self.space(nested);
                }
                if self.peek() != b'}' {
                    return Err(self.error("expected `}`"));
                }
            }
            _ => return Err(self.error("expected `,` or `}`")),
        }
        self.pos += 1;
        self.space(nested);
        if min > MAX_REPETITIONS {
            return Err(format!("line {}: more than {MAX_REPETITIONS} repetitions", self.line()));
        }
        Ok(())
    }
}
