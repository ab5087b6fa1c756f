//! The file finder behind `@` mentions: the working directory's files (git's tracked and
//! untracked-but-not-ignored files in a repository, a plain walk elsewhere), capped so a huge
//! tree or `$HOME` cannot stall ember, and a fuzzy match that ranks them for what was typed.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// At most this many files are listed; the finder says when the list was cut.
pub const MAX_FILES: usize = 20_000;
/// A plain walk looks at no more entries than this (files and folders together).
const MAX_ENTRIES: usize = 100_000;

/// The files the finder chooses from: paths relative to the working directory, with sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileList {
    pub files: Vec<(String, u64)>,
    /// More files were there than were listed.
    pub capped: bool,
}

/// Lists the files under `root`: through git when `root` is in a work tree (`.gitignore`
/// honoured), else by walking it (hidden entries and symbolic links skipped).
pub fn list_files(root: &Path) -> FileList {
    git_files(root).unwrap_or_else(|| walk(root))
}

/// `git ls-files` (tracked, and untracked files that are not ignored); `None` outside a work
/// tree or without git. Reading stops at the cap, and git is stopped there.
fn git_files(root: &Path) -> Option<FileList> {
    let mut child = Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let stdout = child.stdout.take()?;
    let mut list = FileList::default();
    for name in BufReader::new(stdout).split(b'\0') {
        let Ok(name) = name else { break };
        if list.files.len() == MAX_FILES {
            list.capped = true;
            break;
        }
        // A name that is not UTF-8 cannot be typed after an @: left out.
        let Ok(name) = String::from_utf8(name) else { continue };
        // Deleted but still tracked files, and submodules (folders), are left out.
        match std::fs::metadata(root.join(&name)) {
            Ok(meta) if meta.is_file() && !list.files.iter().any(|(n, _)| *n == name) => {
                list.files.push((name, meta.len()))
            }
            Ok(_) | Err(_) => {}
        }
    }
    if list.capped {
        let _ = child.kill();
    }
    let status = child.wait().ok()?;
    (status.success() || list.capped).then_some(list)
}

/// Walks `root` breadth first, so the files nearest the top come first when the walk is cut.
fn walk(root: &Path) -> FileList {
    let mut list = FileList::default();
    let mut queue = VecDeque::from([String::new()]);
    let mut seen = 0;
    while let Some(dir) = queue.pop_front() {
        let Ok(entries) = std::fs::read_dir(root.join(&dir)) else { continue };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_ENTRIES || list.files.len() == MAX_FILES {
                list.capped = true;
                return list;
            }
            let Ok(name) = entry.file_name().into_string() else { continue };
            let Ok(kind) = entry.file_type() else { continue };
            if name.starts_with('.') || kind.is_symlink() {
                continue;
            }
            let path = if dir.is_empty() { name } else { format!("{dir}/{name}") };
            if kind.is_dir() {
                queue.push_back(path);
            } else if kind.is_file() {
                let size = entry.metadata().map_or(0, |m| m.len());
                list.files.push((path, size));
            }
        }
    }
    list.files.sort();
    list
}

/// Where a match earns more: at the start of a path segment or word.
fn starts_segment(prev: Option<char>) -> bool {
    matches!(prev, None | Some('/' | '_' | '-' | '.' | ' '))
}

/// How well `query` matches `path` as a subsequence, ignoring case; `None` when it does not.
/// Higher is better: letters in a row, letters at the start of a segment, a match in the file
/// name, and short paths count for it; gaps count against it.
pub fn score(query: &str, path: &str) -> Option<i64> {
    let query: Vec<char> = query.chars().flat_map(char::to_lowercase).collect();
    let chars: Vec<char> = path.chars().flat_map(char::to_lowercase).collect();
    let name_start = chars.iter().rposition(|&c| c == '/').map_or(0, |i| i + 1);
    let first = *query.first()?;
    // Try each place the first letter occurs and keep the best greedy match from there.
    let starts = chars.iter().enumerate().filter(|&(_, &c)| c == first).map(|(i, _)| i);
    let best = starts.filter_map(|start| score_from(&query, &chars, start, name_start)).max()?;
    Some(best - (chars.len() as i64) / 4)
}

fn score_from(query: &[char], chars: &[char], start: usize, name_start: usize) -> Option<i64> {
    let mut total = 0i64;
    let mut at = start;
    let mut last: Option<usize> = None;
    for &q in query {
        let i = at + chars[at..].iter().position(|&c| c == q)?;
        total += 1;
        if last.is_some_and(|l| l + 1 == i) {
            total += 6;
        } else if let Some(l) = last {
            total -= (i - l - 1).min(8) as i64;
        }
        if starts_segment(i.checked_sub(1).map(|p| chars[p])) {
            total += 8;
        }
        if i >= name_start {
            total += 2;
        }
        last = Some(i);
        at = i + 1;
    }
    Some(total)
}

/// The indices of the `limit` files that match `query` best, best first (ties: shorter, then
/// in listing order). An empty query keeps the listing's order.
pub fn best(query: &str, files: &[(String, u64)], limit: usize) -> Vec<usize> {
    if query.is_empty() {
        return (0..files.len().min(limit)).collect();
    }
    let mut scored: Vec<(i64, usize)> =
        files.iter().enumerate().filter_map(|(i, (path, _))| score(query, path).map(|s| (s, i))).collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(files[a.1].0.len().cmp(&files[b.1].0.len())).then(a.1.cmp(&b.1)));
    scored.into_iter().take(limit).map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests;
