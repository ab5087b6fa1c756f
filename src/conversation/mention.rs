//! `@` mentions in a message: `@src/main.rs` attaches a file, `@src/main.rs#L20-45` lines 20 to
//! 45 of it (`#L20` one line). A mention starts at the beginning of the text or after
//! whitespace, so `user@host` is no mention; it ends at whitespace.

use std::ops::Range;

/// A file the message points at, and optionally which of its lines (1-based, inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    pub path: String,
    pub lines: Option<(usize, usize)>,
}

impl Mention {
    /// How the attachment is labelled: the path, and the range as it was written.
    pub fn label(&self) -> String {
        match self.lines {
            Some((start, end)) if start == end => format!("{}#L{start}", self.path),
            Some((start, end)) => format!("{}#L{start}-{end}", self.path),
            None => self.path.clone(),
        }
    }
}

/// Punctuation that ends a sentence rather than a path: `look at @src/a.rs, then…`.
const TRAILING: &[char] = &[',', ';', ':', '!', '?', ')', '.', '"', '\''];

/// The mentions in `text`: for each, the byte range of what follows the `@`, and that text.
pub fn find(text: &str) -> Vec<(Range<usize>, &str)> {
    let mut out = Vec::new();
    let mut prev_blank = true;
    for (i, c) in text.char_indices() {
        if c == '@' && prev_blank {
            let start = i + 1;
            let len = text[start..].find(char::is_whitespace).unwrap_or(text.len() - start);
            let token = text[start..start + len].trim_end_matches(TRAILING);
            if !token.is_empty() {
                out.push((start..start + token.len(), token));
            }
        }
        prev_blank = c.is_whitespace();
    }
    out
}

/// Parses what follows an `@`: a path, then `#L20-45` or `#L20` for a line range.
pub fn parse(token: &str) -> Result<Mention, String> {
    let Some((path, range)) = token.rsplit_once("#L") else {
        return Ok(Mention { path: token.to_string(), lines: None });
    };
    let bad = || format!("@{token}: a line range is #L20-45 or #L20 (lines count from 1)");
    let number = |s: &str| s.parse::<usize>().ok().filter(|&n| n > 0);
    let (start, end) = match range.split_once('-') {
        Some((a, b)) => (number(a).ok_or_else(bad)?, number(b).ok_or_else(bad)?),
        None => {
            let n = number(range).ok_or_else(bad)?;
            (n, n)
        }
    };
    if end < start {
        return Err(format!("@{token}: the range ends (line {end}) before it starts (line {start})"));
    }
    if path.is_empty() {
        return Err(format!("@{token}: name a file before the range"));
    }
    Ok(Mention { path: path.to_string(), lines: Some((start, end)) })
}

/// Lines `start` to `end` (1-based, inclusive) of `text`, line ends kept. A range past the end
/// is cut to it; one that starts after the last line is an error that says how many there are.
pub fn select_lines(text: &str, (start, end): (usize, usize)) -> Result<String, String> {
    let count = text.lines().count();
    if start > count {
        return Err(format!("it has {count} lines, so the range starting at line {start} is empty"));
    }
    Ok(text.split_inclusive('\n').skip(start - 1).take(end - start + 1).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_start_after_whitespace_and_end_before_punctuation() {
        let text = "look at @src/a.rs, and @b.md#L2-3\nmail user@host or @ alone (@c.txt)";
        let found: Vec<&str> = find(text).into_iter().map(|(_, t)| t).collect();
        assert_eq!(found, vec!["src/a.rs", "b.md#L2-3"]);
        let (range, token) = find("@x.rs?").remove(0);
        assert_eq!((range, token), (1..5, "x.rs"));
        assert_eq!(find("(@c.txt)"), vec![], "a mention starts at the start or after whitespace");
    }

    #[test]
    fn line_ranges_parse_and_bad_ones_say_why() {
        assert_eq!(parse("src/a.rs").unwrap(), Mention { path: "src/a.rs".into(), lines: None });
        assert_eq!(parse("a.rs#L20-45").unwrap().lines, Some((20, 45)));
        assert_eq!(parse("a.rs#L7").unwrap().lines, Some((7, 7)));
        assert_eq!(parse("a.rs#L7").unwrap().label(), "a.rs#L7");
        assert_eq!(parse("a.rs#L2-3").unwrap().label(), "a.rs#L2-3");
        assert!(parse("a.rs#L0").unwrap_err().contains("count from 1"));
        assert!(parse("a.rs#Lx-2").unwrap_err().contains("#L20-45"));
        assert!(parse("a.rs#L9-3").unwrap_err().contains("before it starts"));
        assert!(parse("#L3").unwrap_err().contains("name a file"));
        assert_eq!(parse("notes#draft").unwrap().path, "notes#draft", "only #L starts a range");
    }

    #[test]
    fn lines_are_selected_inclusively_and_cut_at_the_end() {
        let text = "one\ntwo\nthree\nfour";
        assert_eq!(select_lines(text, (2, 3)).unwrap(), "two\nthree\n");
        assert_eq!(select_lines(text, (4, 4)).unwrap(), "four");
        assert_eq!(select_lines(text, (3, 99)).unwrap(), "three\nfour");
        assert!(select_lines(text, (5, 6)).unwrap_err().contains("has 4 lines"));
        assert_eq!(select_lines("a\r\nb\r\n", (2, 2)).unwrap(), "b\r\n", "CRLF lines keep their ends");
    }
}
