//! Applying a unified diff to a text: hunks are found by their lines (context and removed), near
//! where the header says and then anywhere after the previous hunk, so a diff written against a
//! slightly different version still applies; one that cannot is refused whole, showing the hunk.
//!
//! Read leniently, as models write diffs: line counts in `@@` headers are not trusted, and an
//! empty line inside a hunk is an empty context line.

/// One line of a hunk, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HunkLine {
    Context(String),
    Remove(String),
    Add(String),
}

/// A run of changes with the lines around them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hunk {
    /// The `@@` line, for error messages.
    header: String,
    /// Where the header says the hunk starts in the old text (1-based; 0 in an empty file).
    old_start: usize,
    lines: Vec<HunkLine>,
    /// "\ No newline at end of file" follows the old side's last line.
    old_open_end: bool,
    /// ... or the new side's.
    new_open_end: bool,
}

impl Hunk {
    fn side(&self, old: bool) -> Vec<&str> {
        self.lines
            .iter()
            .filter_map(|l| match l {
                HunkLine::Context(t) => Some(t.as_str()),
                HunkLine::Remove(t) if old => Some(t.as_str()),
                HunkLine::Add(t) if !old => Some(t.as_str()),
                HunkLine::Remove(_) | HunkLine::Add(_) => None,
            })
            .collect()
    }

    /// The hunk as a diff shows it (at most 24 lines), for an error message.
    fn shown(&self) -> String {
        let mut out = self.header.clone();
        for line in self.lines.iter().take(24) {
            let (mark, text) = match line {
                HunkLine::Context(t) => (' ', t),
                HunkLine::Remove(t) => ('-', t),
                HunkLine::Add(t) => ('+', t),
            };
            out.push('\n');
            out.push(mark);
            out.push_str(text);
        }
        if self.lines.len() > 24 {
            out.push_str(&format!("\n… {} more lines", self.lines.len() - 24));
        }
        out
    }
}

/// The changes a diff makes to one file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FilePatch {
    /// The `---` path, as written (`a/src/x.rs`), when there is one.
    pub old_path: Option<String>,
    /// The `+++` path, as written.
    pub new_path: Option<String>,
    hunks: Vec<Hunk>,
}

impl FilePatch {
    /// The file the diff is for, without git's `a/` or `b/`: the new path, else the old one;
    /// `None` when the diff names none (bare hunks) or only /dev/null.
    pub fn target(&self) -> Option<String> {
        let strip = |p: &String| {
            let p = p.split('\t').next().unwrap_or(p).trim();
            (p != "/dev/null" && !p.is_empty())
                .then(|| p.strip_prefix("a/").or_else(|| p.strip_prefix("b/")).unwrap_or(p).to_string())
        };
        self.new_path.as_ref().and_then(strip).or_else(|| self.old_path.as_ref().and_then(strip))
    }
}

/// Why a diff could not be read or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("the block is not a unified diff: it has no @@ hunk")]
    NoHunks,
    #[error("the diff changes {0} files; ember applies a diff of one file (use git apply for more)")]
    ManyFiles(usize),
    #[error("hunk {number} of {total} does not apply: its lines are not in the file\n{shown}")]
    HunkFailed { number: usize, total: usize, shown: String },
}

/// Whether a code block is a unified diff rather than a file's contents: it has a `@@ -` hunk
/// header and `---`/`+++` headers or starts with one.
pub fn is_diff(code: &str) -> bool {
    let mut lines = code.lines().map(str::trim_end);
    let first = lines.clone().find(|l| !l.is_empty()).unwrap_or("");
    let hunk = lines.clone().any(|l| l.starts_with("@@ -"));
    hunk && (first.starts_with("@@ -")
        || first.starts_with("diff ")
        || first.starts_with("--- ")
        || lines.any(|l| l.starts_with("+++ ")))
}

/// Reads a unified diff: one [`FilePatch`] per file it changes (one for bare hunks).
pub fn parse(text: &str) -> Result<Vec<FilePatch>, PatchError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut files: Vec<FilePatch> = Vec::new();
    let mut hunk: Option<Hunk> = None;
    let finish = |files: &mut Vec<FilePatch>, hunk: &mut Option<Hunk>| {
        if let Some(h) = hunk.take() {
            if files.is_empty() {
                files.push(FilePatch::default());
            }
            if let Some(f) = files.last_mut() {
                f.hunks.push(h);
            }
        }
    };
    for (i, line) in lines.iter().enumerate() {
        let next = lines.get(i + 1).copied().unwrap_or("");
        if line.starts_with("diff ") {
            finish(&mut files, &mut hunk);
            files.push(FilePatch::default());
        } else if line.starts_with("--- ") && next.starts_with("+++ ") {
            finish(&mut files, &mut hunk);
            // After a `diff` line, the `---` is that file's; otherwise it starts a file.
            if !files.last().is_some_and(|f| f.hunks.is_empty() && f.old_path.is_none()) {
                files.push(FilePatch::default());
            }
            if let Some(f) = files.last_mut() {
                f.old_path = line.strip_prefix("--- ").map(String::from);
            }
        } else if let Some(path) = line.strip_prefix("+++ ").filter(|_| hunk.is_none()) {
            if let Some(f) = files.last_mut() {
                f.new_path = Some(path.to_string());
            }
        } else if line.starts_with("@@") {
            finish(&mut files, &mut hunk);
            hunk = Some(Hunk {
                header: line.to_string(),
                old_start: old_start(line),
                lines: Vec::new(),
                old_open_end: false,
                new_open_end: false,
            });
        } else if let Some(h) = hunk.as_mut() {
            if !hunk_line(h, line.strip_suffix('\r').unwrap_or(line)) {
                finish(&mut files, &mut hunk);
            }
        }
    }
    finish(&mut files, &mut hunk);
    files.retain(|f| !f.hunks.is_empty());
    if files.is_empty() {
        return Err(PatchError::NoHunks);
    }
    Ok(files)
}

/// Adds one line to a hunk; false when the line ends the hunk (prose after the diff).
fn hunk_line(h: &mut Hunk, line: &str) -> bool {
    let (mark, text) = line.split_at(line.chars().next().map_or(0, char::len_utf8));
    match mark {
        " " | "" => h.lines.push(HunkLine::Context(text.to_string())),
        "-" => h.lines.push(HunkLine::Remove(text.to_string())),
        "+" => h.lines.push(HunkLine::Add(text.to_string())),
        "\\" => match h.lines.last() {
            Some(HunkLine::Context(_)) => (h.old_open_end, h.new_open_end) = (true, true),
            Some(HunkLine::Remove(_)) => h.old_open_end = true,
            Some(HunkLine::Add(_)) => h.new_open_end = true,
            None => {}
        },
        _ => return false,
    }
    true
}

/// The old start line of a `@@ -12,4 +12,5 @@` header (1 when it cannot be read).
fn old_start(header: &str) -> usize {
    header.strip_prefix("@@ -").and_then(|rest| rest.split([',', ' ']).next()).and_then(|n| n.parse().ok()).unwrap_or(1)
}

/// Applies `patch` to `original`. The result keeps the file's line endings (CRLF stays CRLF)
/// and its last newline, unless the diff changes the last line's. All hunks apply or none.
pub fn apply(original: &str, patch: &FilePatch) -> Result<String, PatchError> {
    let eol = if original.contains("\r\n") { "\r\n" } else { "\n" };
    let mut final_newline = original.is_empty() || original.ends_with('\n');
    let mut lines: Vec<String> = original.lines().map(String::from).collect();
    let (mut offset, mut from) = (0isize, 0usize);
    let total = patch.hunks.len();
    for (i, hunk) in patch.hunks.iter().enumerate() {
        let old = hunk.side(true);
        let new = hunk.side(false);
        let want = (hunk.old_start.saturating_sub(1) as isize + offset).max(0) as usize;
        let Some(at) = find(&lines, &old, want.max(from), from) else {
            return Err(PatchError::HunkFailed { number: i + 1, total, shown: hunk.shown() });
        };
        if at + old.len() == lines.len() {
            if hunk.new_open_end {
                final_newline = false;
            } else if hunk.old_open_end || lines.is_empty() {
                final_newline = true;
            }
        }
        lines.splice(at..at + old.len(), new.iter().map(|s| s.to_string()));
        offset = at as isize - hunk.old_start.saturating_sub(1) as isize + new.len() as isize - old.len() as isize;
        from = at + new.len();
    }
    let mut out = lines.join(eol);
    if final_newline && !lines.is_empty() {
        out.push_str(eol);
    }
    Ok(out)
}

/// Where `old` occurs in `lines` at or after `from`, nearest to `want`: exactly first, then
/// ignoring trailing whitespace (models drop it).
fn find(lines: &[String], old: &[&str], want: usize, from: usize) -> Option<usize> {
    let last = lines.len().checked_sub(old.len())?;
    let at = |pos: usize, loose: bool| {
        old.iter().zip(&lines[pos..]).all(|(a, b)| if loose { a.trim_end() == b.trim_end() } else { *a == b.as_str() })
    };
    [false, true].into_iter().find_map(|loose| {
        let want = want.min(last);
        (0..=last).find_map(|d| {
            let after = want.checked_add(d).filter(|&p| p <= last && p >= from && at(p, loose));
            let before = want.checked_sub(d).filter(|&p| p >= from && d > 0 && at(p, loose));
            after.or(before)
        })
    })
}

#[cfg(test)]
mod tests;
