//! Streaming detection of fenced code blocks in Markdown as it is generated.
//!
//! Text outside code blocks is passed on as soon as it is known not to start a fence, so an
//! answer streams smoothly; code is passed on a whole line at a time (a highlighter needs lines),
//! and [`FenceTracker::open_code_line`] shows the line being written once it cannot be the
//! closing fence, for a caller that must not wait for its newline.

/// A piece of the stream, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// Prose (outside any code block), in arbitrary pieces.
    Text(&'a str),
    /// The opening fence line, with its info string's first word (the language), and the raw line.
    FenceOpen { lang: &'a str, line: &'a str },
    /// One line of code, newline included (the last line of an unterminated block may lack it).
    CodeLine(&'a str),
    /// The closing fence line, raw (empty when the block ended with the stream).
    FenceClose { line: &'a str },
}

#[derive(Debug, Clone)]
struct Fence {
    ch: char,
    len: usize,
}

/// Classifies a Markdown stream pushed in arbitrary pieces.
#[derive(Debug, Default)]
pub struct FenceTracker {
    /// The current line, while it is undecided (outside code) or always (inside code).
    line: String,
    /// Outside code: true once the current line is known not to be a fence, so text streams.
    streaming: bool,
    open: Option<Fence>,
}

/// What the start of a line says about it being a fence.
enum LineStart {
    Fence(Fence),
    NotFence,
    Undecided,
}

fn classify_start(line: &str) -> LineStart {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return LineStart::NotFence;
    }
    let mut chars = trimmed.chars();
    let Some(ch) = chars.next() else {
        return LineStart::Undecided;
    };
    if ch != '`' && ch != '~' {
        return LineStart::NotFence;
    }
    let len = trimmed.chars().take_while(|&c| c == ch).count();
    let rest_started = trimmed.len() > len * ch.len_utf8();
    match (len >= 3, rest_started) {
        (true, _) => LineStart::Fence(Fence { ch, len }),
        (false, true) => LineStart::NotFence,
        (false, false) => LineStart::Undecided,
    }
}

/// Could `line`, a code line still being written, yet turn out to be the closing fence?
fn could_close(line: &str, fence: &Fence) -> bool {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return false;
    }
    let len = trimmed.chars().take_while(|&c| c == fence.ch).count();
    let rest = &trimmed[len * fence.ch.len_utf8()..];
    rest.is_empty() || (len >= fence.len && rest.trim().is_empty())
}

/// A fence line's info string: what follows the fence characters (`rust src/main.rs`), trimmed.
pub fn info_string(line: &str) -> &str {
    line.trim_start_matches(' ').trim_start_matches(['`', '~']).trim()
}

fn info_lang(line: &str, fence: &Fence) -> String {
    let info = line.trim_start_matches(' ').trim_start_matches(fence.ch).trim();
    info.split(|c: char| c.is_whitespace() || c == ',' || c == '{').next().unwrap_or("").to_string()
}

fn is_close(line: &str, fence: &Fence) -> bool {
    let body = line.trim_end_matches(['\n', '\r']);
    let trimmed = body.trim_start_matches(' ');
    if body.len() - trimmed.len() > 3 {
        return false;
    }
    let len = trimmed.chars().take_while(|&c| c == fence.ch).count();
    len >= fence.len && trimmed[len * fence.ch.len_utf8()..].trim().is_empty()
}

impl FenceTracker {
    /// Is the stream inside a code block now?
    pub fn in_code(&self) -> bool {
        self.open.is_some()
    }

    /// Inside a code block, the line being written (no newline yet), once it cannot be the
    /// closing fence: it will come whole as a [`Chunk::CodeLine`] when it ends, and only grows
    /// until then.
    pub fn open_code_line(&self) -> Option<&str> {
        let fence = self.open.as_ref()?;
        (!self.line.is_empty() && !could_close(&self.line, fence)).then_some(self.line.as_str())
    }

    /// Classifies `text`, calling `out` for each piece in order.
    pub fn push(&mut self, text: &str, out: &mut dyn FnMut(Chunk<'_>)) {
        let mut rest = text;
        while !rest.is_empty() {
            let (piece, ends_line) = match rest.find('\n') {
                Some(i) => (&rest[..=i], true),
                None => (rest, false),
            };
            rest = &rest[piece.len()..];
            if self.open.is_none() && self.streaming {
                out(Chunk::Text(piece));
                if ends_line {
                    self.streaming = false;
                }
                continue;
            }
            self.line.push_str(piece);
            if self.open.is_none() {
                match classify_start(&self.line) {
                    LineStart::NotFence => {
                        out(Chunk::Text(&self.line));
                        self.line.clear();
                        self.streaming = !ends_line;
                        continue;
                    }
                    LineStart::Undecided if !ends_line => continue,
                    LineStart::Fence(_) if !ends_line => continue,
                    LineStart::Undecided => {
                        out(Chunk::Text(&self.line));
                        self.line.clear();
                        continue;
                    }
                    LineStart::Fence(fence) => {
                        let lang = info_lang(&self.line, &fence);
                        out(Chunk::FenceOpen { lang: &lang, line: &self.line });
                        self.open = Some(fence);
                        self.line.clear();
                        continue;
                    }
                }
            }
            if !ends_line {
                continue;
            }
            let closing = self.open.as_ref().is_some_and(|f| is_close(&self.line, f));
            if closing {
                out(Chunk::FenceClose { line: &self.line });
                self.open = None;
            } else {
                out(Chunk::CodeLine(&self.line));
            }
            self.line.clear();
        }
    }

    /// Flushes what is pending at the end of the stream.
    pub fn finish(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        if self.open.is_some() {
            if !self.line.is_empty() {
                let open = self.open.clone();
                if open.as_ref().is_some_and(|f| is_close(&self.line, f)) {
                    out(Chunk::FenceClose { line: &self.line });
                    self.open = None;
                    self.line.clear();
                    return;
                }
                out(Chunk::CodeLine(&self.line));
            }
            out(Chunk::FenceClose { line: "" });
        } else if !self.line.is_empty() {
            out(Chunk::Text(&self.line));
        }
        self.line.clear();
        self.open = None;
        self.streaming = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(pieces: &[&str]) -> Vec<String> {
        let mut tracker = FenceTracker::default();
        let mut got = Vec::new();
        let mut on = |c: Chunk<'_>| {
            got.push(match c {
                Chunk::Text(t) => format!("T:{t}"),
                Chunk::FenceOpen { lang, .. } => format!("O:{lang}"),
                Chunk::CodeLine(l) => format!("C:{l}"),
                Chunk::FenceClose { .. } => "X".to_string(),
            })
        };
        for p in pieces {
            tracker.push(p, &mut on);
        }
        tracker.finish(&mut on);
        got
    }

    /// Joins consecutive text pieces so tests don't depend on how the stream was cut.
    fn merged(pieces: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for item in collect(pieces) {
            match (out.last_mut(), item.strip_prefix("T:")) {
                (Some(last), Some(t)) if last.starts_with("T:") => last.push_str(t),
                _ => out.push(item),
            }
        }
        out
    }

    #[test]
    fn splits_prose_and_code_however_the_stream_is_cut() {
        let md = "Here:\n```python\ndef f(x):\n    return x * 2\n```\nDone.";
        let whole = merged(&[md]);
        assert_eq!(whole, vec!["T:Here:\n", "O:python", "C:def f(x):\n", "C:    return x * 2\n", "X", "T:Done."]);
        let chars: Vec<String> = md.chars().map(String::from).collect();
        let refs: Vec<&str> = chars.iter().map(String::as_str).collect();
        assert_eq!(merged(&refs), whole);
    }

    #[test]
    fn prose_streams_before_the_line_ends() {
        let got = collect(&["Hello wor"]);
        assert_eq!(got, vec!["T:Hello wor"]);
        let mut tracker = FenceTracker::default();
        let mut seen = Vec::new();
        tracker.push("Hello", &mut |c| seen.push(format!("{c:?}")));
        assert_eq!(seen.len(), 1, "prose must not wait for a newline");
    }

    #[test]
    fn inline_backticks_are_not_fences() {
        assert_eq!(merged(&["``x`` and `y`\n"]), vec!["T:``x`` and `y`\n"]);
    }

    #[test]
    fn unterminated_block_is_closed_at_the_end() {
        assert_eq!(merged(&["```rust\nfn a() {}"]), vec!["O:rust", "C:fn a() {}", "X"]);
    }

    #[test]
    fn a_code_line_shows_once_it_cannot_close_the_block() {
        let mut tracker = FenceTracker::default();
        let mut lines = Vec::new();
        let steps = [
            ("x\n````rust\n", None),
            ("  ``", None),
            ("``", None),
            ("  ", None),
            ("x", Some("  ````  x")),
            ("y", Some("  ````  xy")),
            ("\n", None),
            ("    ", Some("    ")),
            ("\n``", None),
            ("x", Some("``x")),
        ];
        for (piece, shown) in steps {
            tracker.push(piece, &mut |c| lines.push(format!("{c:?}")));
            assert_eq!(tracker.open_code_line(), shown, "after {piece:?}");
        }
        assert!(lines.contains(&format!("{:?}", Chunk::CodeLine("  ````  xy\n"))), "{lines:?}");
        tracker.push("\n````\n", &mut |_| {});
        assert!(!tracker.in_code());
        tracker.push("text", &mut |_| {});
        assert_eq!(tracker.open_code_line(), None, "prose is not a code line");
    }

    #[test]
    fn longer_fences_and_tildes() {
        let md = "````md\n```\ninner\n```\n````\n~~~\nt\n~~~\n";
        assert_eq!(merged(&[md]), vec!["O:md", "C:```\n", "C:inner\n", "C:```\n", "X", "O:", "C:t\n", "X"]);
    }
}
