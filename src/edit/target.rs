//! Which file a code block is for, and what it proposes for it: the whole new text, or a
//! unified diff to apply.
//!
//! The target comes, in this order, from a path in the fence's info string
//! (```` ```rust src/main.rs ````), a `path:` comment on the block's first line, a diff's own
//! `+++` header, or the one file attached in that turn; else the front end asks.

use super::patch::{self, FilePatch, PatchError};

/// Where a block's target was found (the diff view says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSource {
    /// The user named it (`/apply N PATH`, the prompt, pipe mode's `--file`).
    Named,
    /// A path in the fence's info string.
    Fence,
    /// A `path:` comment on the first line.
    Comment,
    /// The diff's `+++` (or `---`) header.
    DiffHeader,
    /// The file attached in that turn.
    Attachment,
}

impl TargetSource {
    /// In words, for the diff view: "named in the fence".
    pub fn describe(self) -> &'static str {
        match self {
            TargetSource::Named => "as named",
            TargetSource::Fence => "named in the fence",
            TargetSource::Comment => "named in its first line",
            TargetSource::DiffHeader => "named by the diff",
            TargetSource::Attachment => "the file attached to the question",
        }
    }
}

/// What the block holds for its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposedContent {
    /// The file's whole new text (a `path:` first line taken out).
    Whole(String),
    /// Changes to apply to the file's current text.
    Patch(FilePatch),
}

/// A code block read as an edit: its target, when it names one, and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub target: Option<(String, TargetSource)>,
    pub content: ProposedContent,
}

impl Proposal {
    /// Reads a code block: its fence's info string, its code, and the files attached to the
    /// question it answers. A diff of more than one file is refused.
    pub fn of_block(info: &str, code: &str, attached: &[String]) -> Result<Proposal, PatchError> {
        let comment = path_comment(code);
        let (content, header) = if patch::is_diff(code) {
            let mut files = patch::parse(code)?;
            if files.len() > 1 {
                return Err(PatchError::ManyFiles(files.len()));
            }
            let file = files.pop().ok_or(PatchError::NoHunks)?;
            let header = file.target();
            (ProposedContent::Patch(file), header)
        } else {
            let text = match &comment {
                Some((_, first_line)) => code[*first_line..].to_string(),
                None => code.to_string(),
            };
            (ProposedContent::Whole(text), None)
        };
        let target = path_in_info(info)
            .map(|p| (p, TargetSource::Fence))
            .or_else(|| comment.map(|(p, _)| (p, TargetSource::Comment)))
            .or_else(|| header.map(|p| (p, TargetSource::DiffHeader)))
            .or_else(|| match attached {
                [one] => Some((one.clone(), TargetSource::Attachment)),
                _ => None,
            });
        Ok(Proposal { target, content })
    }

    /// The file's new text, given its current text (`None`: there is no such file yet).
    pub fn new_text(&self, old: Option<&str>) -> Result<String, PatchError> {
        match &self.content {
            ProposedContent::Whole(text) => Ok(text.clone()),
            ProposedContent::Patch(p) => patch::apply(old.unwrap_or(""), p),
        }
    }
}

/// Whether `word` reads as a file path: a `/` or a `.` between other characters, nothing a
/// shell or terminal would read specially.
fn looks_like_path(word: &str) -> bool {
    let inner = word.trim_start_matches("./");
    (inner.contains('/') || inner.trim_matches('.').contains('.'))
        && !word.starts_with('{')
        && word.chars().all(|c| !c.is_whitespace() && !c.is_control() && !"=\"'`{}<>|;$".contains(c))
}

/// A path in a fence's info string: `rust src/main.rs`, `rust:src/main.rs`, `src/main.rs`,
/// `rust title="src/main.rs"`, `rust file=src/main.rs`.
pub fn path_in_info(info: &str) -> Option<String> {
    let mut words = info.split_whitespace();
    let first = words.next()?;
    let first = first.split_once(':').map_or(first, |(_, p)| p);
    std::iter::once(first)
        .chain(words)
        .map(|w| {
            let value = ["title=", "file=", "path=", "filename="].iter().find_map(|k| w.strip_prefix(k)).unwrap_or(w);
            value.trim_matches(|c| c == '"' || c == '\'')
        })
        .find(|w| looks_like_path(w))
        .map(String::from)
}

/// A `path:` (or `file:`, `filename:`) comment on the block's first line, as `// path: src/a.rs`,
/// `# file: a.py` or `<!-- path: index.html -->`: the path and the bytes of that line.
pub fn path_comment(code: &str) -> Option<(String, usize)> {
    let end = code.find('\n').map_or(code.len(), |i| i + 1);
    let line = code[..end].trim();
    let body = ["//", "#", "--", ";", "/*", "<!--", "%"].iter().find_map(|p| line.strip_prefix(p))?.trim();
    let lower = body.to_ascii_lowercase();
    let key = ["path:", "file:", "filename:"].into_iter().find(|k| lower.starts_with(k))?;
    let path = body[key.len()..].trim().trim_end_matches("*/").trim_end_matches("-->").trim();
    looks_like_path(path).then(|| (path.to_string(), end))
}

/// The files attached to a user's message: the labels ember puts before each attached file's
/// fence (`src/main.rs:` then a fence line). Piped input (`stdin`) is not a file.
pub fn attached_files(message: &str) -> Vec<String> {
    let lines: Vec<&str> = message.lines().collect();
    lines
        .windows(2)
        .filter_map(|pair| {
            let label = pair[0].strip_suffix(':')?;
            let fenced = pair[1].starts_with("```");
            (fenced && label != "stdin" && !label.is_empty() && !label.contains(char::is_whitespace))
                .then(|| label.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests;
