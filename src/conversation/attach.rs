//! Input attached to a question: piped stdin, `--file`s, and (in the TUI) `/file`, `@` mentions
//! and `!command` output. Each becomes a fenced block labelled with its name in the user's
//! message.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use super::{say, AppError};

/// A piece of input attached to the prompt: piped stdin or a `--file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub label: String,
    pub text: String,
}

/// Decodes input bytes as text. NUL bytes mean binary input, which is refused; other invalid
/// UTF-8 is decoded lossily (U+FFFD) and reported in the returned warning.
pub fn decode_input(label: &str, bytes: Vec<u8>) -> Result<(Attachment, Option<String>), AppError> {
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(AppError::Input(format!(
            "{label} looks binary (a NUL byte at offset {at}); ember reads text only"
        )));
    }
    let (text, warning) = match String::from_utf8(bytes) {
        Ok(text) => (text, None),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            (text, Some(format!("{label} is not valid UTF-8 (first bad byte at offset {at}); invalid bytes were replaced with U+FFFD")))
        }
    };
    Ok((Attachment { label: label.to_string(), text }, warning))
}

/// Reads a `--file`.
pub fn read_file(path: &Path) -> Result<(Attachment, Option<String>), AppError> {
    let bytes = std::fs::read(path).map_err(|e| AppError::Input(format!("cannot read {}: {e}", path.display())))?;
    decode_input(&path.display().to_string(), bytes)
}

/// Reads what an `@` mention names (`src/a.rs`, `src/a.rs#L20-45`), relative to the working
/// directory, labelled as written: binary files refused, as for `--file`.
pub fn read_mention(token: &str) -> Result<(Attachment, Option<String>), AppError> {
    let mention = super::mention::parse(token).map_err(AppError::Input)?;
    let path = crate::config::resolve::expand_tilde(Path::new(&mention.path));
    let (mut attachment, warning) = read_file(&path)?;
    if let Some(range) = mention.lines {
        attachment.text = super::mention::select_lines(&attachment.text, range)
            .map_err(|e| AppError::Input(format!("{}: {e}", mention.path)))?;
    }
    attachment.label = mention.label();
    Ok((attachment, warning))
}

/// A language tag for a file name, so the model (and the highlighter) know what it is. A
/// command's output (labelled `$ cmd`) is plain text; a line range (`a.rs#L2-5`) is ignored.
fn fence_lang(label: &str) -> &str {
    if label.starts_with("$ ") {
        return "text";
    }
    let name = label.rsplit_once("#L").map_or(label, |(name, _)| name);
    let ext = Path::new(name).extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "rs" => "rust",
        "py" => "python",
        "js" | "mjs" | "cjs" => "javascript",
        "ts" | "tsx" => "typescript",
        "sh" | "bash" => "bash",
        "md" => "markdown",
        "yml" => "yaml",
        "h" => "c",
        "hpp" | "cc" | "cxx" => "cpp",
        "diff" | "patch" => "diff",
        other => other,
    }
}

/// The user message: each attachment as a fenced block labelled with its name, then the prompt.
pub fn user_message(prompt: Option<&str>, attachments: &[Attachment]) -> String {
    let mut out = String::new();
    for a in attachments {
        // A fence longer than any backtick run inside, so the content cannot close it.
        let longest = a.text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        out.push_str(&format!("{}:\n{fence}{}\n", a.label, fence_lang(&a.label)));
        out.push_str(&a.text);
        if !a.text.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&fence);
        out.push_str("\n\n");
    }
    if let Some(prompt) = prompt {
        out.push_str(prompt);
    } else {
        // Nothing asked: keep the input as the whole message.
        while out.ends_with('\n') {
            out.pop();
        }
    }
    out
}

/// Gathers piped stdin and the `--file`s, warning on stderr about text that is not valid UTF-8.
/// stdin is read only when it is not a terminal, so ember never waits on a terminal.
pub fn gather(files: &[PathBuf]) -> Result<Vec<Attachment>, AppError> {
    let mut out = Vec::new();
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut bytes = Vec::new();
        stdin.lock().read_to_end(&mut bytes).map_err(|e| AppError::Input(format!("cannot read stdin: {e}")))?;
        if !bytes.is_empty() {
            out.push(warned(decode_input("stdin", bytes)?));
        }
    }
    for path in files {
        out.push(warned(read_file(path)?));
    }
    Ok(out)
}

/// The attachment, its warning said.
fn warned((attachment, warning): (Attachment, Option<String>)) -> Attachment {
    if let Some(w) = warning {
        say("warning: ", &w);
    }
    attachment
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_are_fenced_and_labelled() {
        let msg =
            user_message(Some("explain"), &[Attachment { label: "src/a.rs".into(), text: "let s = \"```\";".into() }]);
        assert_eq!(msg, "src/a.rs:\n````rust\nlet s = \"```\";\n````\n\nexplain");
        let ranged = user_message(None, &[Attachment { label: "a.rs#L2-3".into(), text: "x\n".into() }]);
        assert_eq!(ranged, "a.rs#L2-3:\n```rust\nx\n```");
        let output = user_message(None, &[Attachment { label: "$ cat a.rs (exit 0)".into(), text: "x".into() }]);
        assert_eq!(output, "$ cat a.rs (exit 0):\n```text\nx\n```");
    }

    #[test]
    fn a_mention_reads_its_lines_and_refuses_binary_files() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("t.txt");
        std::fs::write(&text, "1\n2\n3\n").unwrap();
        let (a, _) = read_mention(&format!("{}#L2-3", text.display())).unwrap();
        assert_eq!((a.label, a.text), (format!("{}#L2-3", text.display()), "2\n3\n".to_string()));
        let bin = dir.path().join("b.bin");
        std::fs::write(&bin, b"\x7fELF\0\x01").unwrap();
        let err = read_mention(&bin.display().to_string()).unwrap_err().to_string();
        assert!(err.contains("looks binary"), "{err}");
        let err = read_mention(&format!("{}#L9", text.display())).unwrap_err().to_string();
        assert!(err.contains("has 3 lines"), "{err}");
    }

    #[test]
    fn binary_input_is_refused_and_bad_utf8_warned() {
        assert!(matches!(decode_input("stdin", b"ab\0c".to_vec()), Err(AppError::Input(_))));
        let (a, warning) = decode_input("stdin", b"caf\xe9".to_vec()).unwrap();
        assert_eq!(a.text, "caf\u{FFFD}");
        assert!(warning.unwrap().contains("offset 3"));
    }
}
