//! `ember history`: list, search, show, export and delete saved conversations.
//! Text reaching a terminal goes through the sanitizer; files and pipes get it as stored.

use std::io::Write;

use super::export::{date, for_terminal, json, markdown, role_name};
use super::{Store, StoreError};
use crate::cli::{ExportFormat, HistoryAction};
use crate::render::sanitize;
use crate::render::wrap::str_width;

/// Runs one `ember history` action, writing to `out` (a terminal when `terminal`).
pub fn run(store: &Store, action: &HistoryAction, out: &mut dyn Write, terminal: bool) -> Result<(), CmdError> {
    match action {
        HistoryAction::List { limit } => list(store, *limit, out, terminal)?,
        HistoryAction::Search { query, limit } => search(store, &query.join(" "), *limit, out, terminal)?,
        HistoryAction::Show { id } => {
            let conversation = store.load(*id)?;
            let text = if terminal { for_terminal(&conversation, color()) } else { markdown(&conversation) };
            out.write_all(text.as_bytes())?;
        }
        HistoryAction::Export { id, format, path } => {
            let conversation = store.load(*id)?;
            let text = match format {
                ExportFormat::Md => markdown(&conversation),
                ExportFormat::Json => json(&conversation),
            };
            match path {
                Some(path) => std::fs::write(path, text)
                    .map_err(|e| CmdError::Write(format!("cannot write {}: {e}", path.display())))?,
                None => out.write_all(shown(&text, terminal).as_bytes())?,
            }
        }
        HistoryAction::Rm { id } => {
            store.delete(*id)?;
            if terminal {
                writeln!(out, "Deleted conversation {id}.")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Stored text as `out` gets it: sanitized for a terminal, as stored for files and pipes.
fn shown(text: &str, terminal: bool) -> String {
    if terminal {
        sanitize(text).into_owned()
    } else {
        text.to_string()
    }
}

/// `ember history list`: the newest `limit` conversations, one a line, in aligned columns (id,
/// last change, messages, model, directory, then the title), under a header on a terminal.
fn list(store: &Store, limit: usize, out: &mut dyn Write, terminal: bool) -> Result<(), CmdError> {
    let list = store.list(limit)?;
    if list.is_empty() && terminal {
        writeln!(out, "No saved conversations yet.")?;
        return Ok(());
    }
    let rows: Vec<[String; 6]> = list
        .into_iter()
        .map(|c| {
            let title = if c.title.is_empty() { "(untitled)".to_string() } else { c.title };
            [
                c.id.to_string(),
                date(c.updated_at),
                crate::render::count(usize::try_from(c.messages).unwrap_or(0), "msg"),
                shown(&c.model, terminal),
                shown(&home_short(&c.cwd), terminal),
                shown(&title, terminal),
            ]
        })
        .collect();
    let header = ["ID", "UPDATED", "MESSAGES", "MODEL", "DIRECTORY", "TITLE"].map(String::from);
    let table: Vec<&[String; 6]> =
        if terminal { std::iter::once(&header).chain(&rows).collect() } else { rows.iter().collect() };
    let widths: Vec<usize> = (0..6).map(|i| table.iter().map(|r| str_width(&r[i])).max().unwrap_or(0)).collect();
    for row in table {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let pad = widths[i].saturating_sub(str_width(cell));
            match i {
                // Numbers align right; the title, last, is not padded.
                0 | 2 => line.push_str(&format!("{}{cell}  ", " ".repeat(pad))),
                5 => line.push_str(cell),
                _ => line.push_str(&format!("{cell}{}  ", " ".repeat(pad))),
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// A directory with the home folder shown as `~`.
fn home_short(dir: &str) -> String {
    match std::env::var("HOME") {
        Ok(home) if !home.is_empty() && (dir == home || dir.starts_with(&format!("{home}/"))) => {
            format!("~{}", &dir[home.len()..])
        }
        _ => dir.to_string(),
    }
}

/// `ember history search`: the conversations that best match `query`, best first, each with the
/// snippet of its best match and how many other messages match.
fn search(store: &Store, query: &str, limit: usize, out: &mut dyn Write, terminal: bool) -> Result<(), CmdError> {
    let hits = store.search_conversations(query, limit)?;
    if hits.is_empty() && terminal {
        writeln!(out, "Nothing found.")?;
    }
    for h in hits {
        let more = match h.more {
            0 => String::new(),
            1 => " (and 1 more message)".to_string(),
            n => format!(" (and {n} more messages)"),
        };
        writeln!(
            out,
            "{:>5}  {}  {}\n       {}: {}{more}",
            h.conversation_id,
            date(h.updated_at),
            shown(&h.title, terminal),
            role_name(h.role),
            shown(&h.snippet.replace('\n', " "), terminal)
        )?;
    }
    Ok(())
}

/// Whether a terminal gets colour (dim text): not when `NO_COLOR` is set (no-color.org).
fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Why a history command failed.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Write(String),
}

impl From<std::io::Error> for CmdError {
    fn from(e: std::io::Error) -> Self {
        CmdError::Write(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewConversation, NewMessage, StoredRole};

    /// A store holding one conversation: `question` and its `answer`.
    fn stored(conversation: &NewConversation, question: &str, answer: &NewMessage) -> (Store, i64) {
        let mut s = Store::open_in_memory().unwrap();
        let c = s.create_conversation(conversation).unwrap();
        let u = s.add_message(c, None, &NewMessage::new(StoredRole::User, question)).unwrap();
        s.add_message(c, Some(u), answer).unwrap();
        (s, c)
    }

    fn sample() -> (Store, i64) {
        let conversation = NewConversation { model: "smol".into(), system_prompt: None, cwd: "/w".into() };
        stored(&conversation, "Hi \x1b]0;pwned\x07", &NewMessage::new(StoredRole::Assistant, "Hello!"))
    }

    /// What `ember history show` writes for conversation `c`, on a terminal or not.
    fn show(s: &Store, c: i64, terminal: bool) -> String {
        let mut out = Vec::new();
        run(s, &HistoryAction::Show { id: c }, &mut out, terminal).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Conversation `c` exported as JSON, parsed.
    fn exported_json(s: &Store, c: i64) -> serde_json::Value {
        serde_json::from_str(&json(&s.load(c).unwrap())).unwrap()
    }

    /// What `action` writes, on a terminal or not.
    fn output(s: &Store, action: &HistoryAction, terminal: bool) -> String {
        let mut out = Vec::new();
        run(s, action, &mut out, terminal).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn list_is_aligned_columns_under_a_header_on_a_terminal() {
        let (mut s, _) = sample();
        let other =
            NewConversation { model: "a-much-longer-model-name".into(), system_prompt: None, cwd: "/w/deeper".into() };
        let c = s.create_conversation(&other).unwrap();
        s.add_message(c, None, &NewMessage::new(StoredRole::User, "notes.txt:\n```\nx\n```\n\nSummarise these notes"))
            .unwrap();
        let list = HistoryAction::List { limit: 10 };
        let tty = output(&s, &list, true);
        let lines: Vec<&str> = tty.lines().collect();
        assert!(lines[0].starts_with("ID  UPDATED") && lines[0].ends_with("TITLE"), "{tty}");
        let title_at = lines[0].find("TITLE").unwrap();
        assert_eq!(lines[1].get(title_at..), Some("Summarise these notes"), "titled by the question:\n{tty}");
        assert!(lines[1].contains("1 msg ") && lines[2].contains("2 msgs"), "{tty}");
        assert_eq!(lines[2].get(title_at..), Some("Hi ␛]0;pwned␇"), "the same column, sanitized:\n{tty}");
        let piped = output(&s, &list, false);
        assert_eq!(piped.lines().count(), 2, "no header in a pipe: {piped}");
    }

    #[test]
    fn search_lists_a_conversation_once_with_its_other_matches_counted() {
        let conversation = NewConversation::default();
        let (s, _) = stored(&conversation, "Is 7 prime?", &NewMessage::new(StoredRole::Assistant, "Yes, 7 is prime."));
        let found = output(&s, &HistoryAction::Search { query: vec!["prime".into()], limit: 10 }, false);
        assert_eq!(found.lines().count(), 2, "one hit: {found}");
        assert!(found.contains("[prime]") && found.ends_with("(and 1 more message)\n"), "{found}");
    }

    #[test]
    fn show_on_a_terminal_is_sanitized_and_raw_elsewhere() {
        let (s, c) = sample();
        let tty = show(&s, c, true);
        assert!(!tty.contains('\x1b') && tty.contains("Hi ␛]0;pwned␇"), "{tty}");
        assert!(show(&s, c, false).contains("Hi \x1b]0;pwned\x07"));
    }

    #[test]
    fn export_json_round_trips() {
        let (s, c) = sample();
        let v = exported_json(&s, c);
        assert_eq!(v["messages"][1]["content"], "Hello!");
        assert_eq!(v["messages"][0]["role"], "user");
    }

    /// A conversation whose answer was thought about first (with an escape in the thinking).
    fn thoughtful() -> (Store, i64) {
        let thought = "Two and two\x1b[2J make four.\nSo the answer is 4.";
        let answer = NewMessage { reasoning: Some(thought), ..NewMessage::new(StoredRole::Assistant, "It is 4.") };
        stored(&NewConversation::default(), "What is 2+2?", &answer)
    }

    #[test]
    fn show_folds_the_thinking_on_a_terminal_and_keeps_it_whole_elsewhere() {
        let (s, c) = thoughtful();
        let tty = show(&s, c, true);
        let plain = tty.replace("\x1b[2m", "").replace("\x1b[0m", "");
        assert!(!plain.contains('\x1b'), "only ember's own dim: {tty:?}");
        assert!(plain.contains("▸ thought (10 words): Two and two␛[2J make four.…\n\nIt is 4."), "{tty}");
        assert!(!plain.contains("So the answer"), "folded to its first line: {tty}");
        let pipe = show(&s, c, false);
        assert!(
            pipe.contains("<details><summary>Thinking</summary>\n\nTwo and two\x1b[2J make four.\nSo the answer is 4.\n\n</details>\n\nIt is 4.\n"),
            "{pipe}"
        );
        assert_eq!(pipe, markdown(&s.load(c).unwrap()));
    }

    #[test]
    fn json_export_has_the_thinking_as_reasoning_content_only_when_there_is_some() {
        let (s, c) = thoughtful();
        let v = exported_json(&s, c);
        assert_eq!(v["messages"][1]["reasoning_content"], "Two and two\x1b[2J make four.\nSo the answer is 4.");
        assert_eq!(v["messages"][1]["content"], "It is 4.");
        assert!(v["messages"][0].get("reasoning_content").is_none(), "{v}");
    }

    #[test]
    fn missing_conversation_is_an_error() {
        let (s, _) = sample();
        let err = run(&s, &HistoryAction::Show { id: 99 }, &mut Vec::new(), false).unwrap_err();
        assert!(err.to_string().contains("no conversation 99"));
    }
}
