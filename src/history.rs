//! `ember history`: list, search, show, export and delete saved conversations.
//! Text reaching a terminal goes through the sanitizer; files and pipes get it as stored.

use std::io::Write;

use crate::cli::{ExportFormat, HistoryAction};
use crate::engine::template::strftime;
use crate::render::sanitize;
use crate::store::{Conversation, Store, StoreError, StoredRole};

/// A date for people: `2026-11-29 11:40` (UTC).
pub fn date(ms: i64) -> String {
    strftime("%Y-%m-%d %H:%M", ms / 1000)
}

fn role_name(role: StoredRole) -> &'static str {
    match role {
        StoredRole::System => "system",
        StoredRole::User => "you",
        StoredRole::Assistant => "ember",
    }
}

/// The conversation as Markdown. A reply's thinking is a folded `<details>` block before it.
pub fn markdown(c: &Conversation) -> String {
    render(c, &|text| text.to_string(), &|thinking| {
        format!("<details><summary>Thinking</summary>\n\n{}\n\n</details>\n\n", thinking.trim_end())
    })
}

/// The conversation for a terminal (`ember history show`): every stored text sanitized, and a
/// reply's thinking folded to one dim line (its opening words and its length).
fn for_terminal(c: &Conversation, color: bool) -> String {
    render(c, &|text| sanitize(text).into_owned(), &|thinking| {
        let line = folded_thinking(thinking);
        if color {
            format!("\x1b[2m{line}\x1b[0m\n\n")
        } else {
            format!("{line}\n\n")
        }
    })
}

/// `▸ thought (42 words): The user asks what 2+2 is…`, sanitized.
fn folded_thinking(thinking: &str) -> String {
    const SHOWN: usize = 60;
    let words = thinking.split_whitespace().count();
    let first = thinking.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let mut opening: String = first.chars().take(SHOWN).collect();
    if first.chars().count() > SHOWN || thinking.trim().len() > first.len() {
        opening.push('…');
    }
    let unit = if words == 1 { "word" } else { "words" };
    format!("▸ thought ({words} {unit}): {}", sanitize(&opening))
}

/// The Markdown of a conversation: `text` passes every stored text, `thinking` makes a reply's
/// thinking into what goes before its answer.
fn render(c: &Conversation, text: &dyn Fn(&str) -> String, thinking: &dyn Fn(&str) -> String) -> String {
    let s = &c.summary;
    let title = if s.title.is_empty() { "(untitled)" } else { s.title.as_str() };
    let mut out = format!(
        "# {}\n\nconversation {} · {} · {} · {}\n",
        text(title),
        s.id,
        text(&s.model),
        date(s.created_at),
        text(&s.cwd)
    );
    if let Some(system) = &c.system_prompt {
        out.push_str(&format!("\n## system\n\n{}\n", text(system)));
    }
    for m in &c.messages {
        let branch = if m.sibling.1 > 1 { format!(" ({}/{})", m.sibling.0, m.sibling.1) } else { String::new() };
        let stopped = if m.state == crate::store::MessageState::Stopped { " [stopped]" } else { "" };
        let thought = m.reasoning.as_deref().filter(|r| !r.trim().is_empty()).map(thinking).unwrap_or_default();
        out.push_str(&format!("\n## {}{branch}{stopped}\n\n{thought}{}\n", role_name(m.role), text(&m.content)));
    }
    out
}

/// The conversation as JSON.
pub fn json(c: &Conversation) -> String {
    let messages: Vec<serde_json::Value> = c
        .messages
        .iter()
        .map(|m| {
            let mut message = serde_json::json!({
                "id": m.id,
                "parent_id": m.parent_id,
                "role": m.role.as_str(),
                "content": m.content,
                "state": if m.state == crate::store::MessageState::Stopped { "stopped" } else { "complete" },
                "tokens": m.tokens,
                "created_at_ms": m.created_at,
                "branch": [m.sibling.0, m.sibling.1],
            });
            // The field's name in OpenAI-compatible APIs (llama-server, vLLM, DeepSeek).
            if let Some(reasoning) = m.reasoning.as_deref().filter(|r| !r.is_empty()) {
                message["reasoning_content"] = serde_json::json!(reasoning);
            }
            message
        })
        .collect();
    let value = serde_json::json!({
        "id": c.summary.id,
        "title": c.summary.title,
        "model": c.summary.model,
        "cwd": c.summary.cwd,
        "created_at_ms": c.summary.created_at,
        "updated_at_ms": c.summary.updated_at,
        "system_prompt": c.system_prompt,
        "messages": messages,
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// Runs one `ember history` action, writing to `out` (a terminal when `terminal`).
pub fn run(store: &Store, action: &HistoryAction, out: &mut dyn Write, terminal: bool) -> Result<(), HistoryError> {
    let shown = |text: &str| if terminal { sanitize(text).into_owned() } else { text.to_string() };
    match action {
        HistoryAction::List { limit } => {
            let list = store.list(*limit)?;
            if list.is_empty() && terminal {
                writeln!(out, "No saved conversations yet.")?;
            }
            for c in list {
                let title = if c.title.is_empty() { "(untitled)".to_string() } else { c.title };
                writeln!(
                    out,
                    "{:>5}  {}  {:>3} msgs  {}  {}  {}",
                    c.id,
                    date(c.updated_at),
                    c.messages,
                    shown(&title),
                    shown(&c.model),
                    shown(&c.cwd)
                )?;
            }
        }
        HistoryAction::Search { query, limit } => {
            let hits = store.search(&query.join(" "), *limit)?;
            if hits.is_empty() && terminal {
                writeln!(out, "Nothing found.")?;
            }
            for h in hits {
                writeln!(
                    out,
                    "{:>5}  {}  {}\n       {}: {}",
                    h.conversation_id,
                    date(h.updated_at),
                    shown(&h.title),
                    role_name(h.role),
                    shown(&h.snippet.replace('\n', " "))
                )?;
            }
        }
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
                    .map_err(|e| HistoryError::Write(format!("cannot write {}: {e}", path.display())))?,
                None => out.write_all(shown(&text).as_bytes())?,
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

/// Whether a terminal gets colour (dim text): not when `NO_COLOR` is set (no-color.org).
fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Why a history command failed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Write(String),
}

impl From<std::io::Error> for HistoryError {
    fn from(e: std::io::Error) -> Self {
        HistoryError::Write(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewConversation, NewMessage};

    fn sample() -> (Store, i64) {
        let mut s = Store::open_in_memory().unwrap();
        let c = s
            .create_conversation(&NewConversation { model: "smol".into(), system_prompt: None, cwd: "/w".into() })
            .unwrap();
        let u = s.add_message(c, None, &NewMessage::new(StoredRole::User, "Hi \x1b]0;pwned\x07")).unwrap();
        s.add_message(c, Some(u), &NewMessage::new(StoredRole::Assistant, "Hello!")).unwrap();
        (s, c)
    }

    #[test]
    fn show_on_a_terminal_is_sanitized_and_raw_elsewhere() {
        let (s, c) = sample();
        let mut tty = Vec::new();
        run(&s, &HistoryAction::Show { id: c }, &mut tty, true).unwrap();
        let tty = String::from_utf8(tty).unwrap();
        assert!(!tty.contains('\x1b') && tty.contains("Hi ␛]0;pwned␇"), "{tty}");
        let mut pipe = Vec::new();
        run(&s, &HistoryAction::Show { id: c }, &mut pipe, false).unwrap();
        assert!(String::from_utf8(pipe).unwrap().contains("Hi \x1b]0;pwned\x07"));
    }

    #[test]
    fn export_json_round_trips() {
        let (s, c) = sample();
        let v: serde_json::Value = serde_json::from_str(&json(&s.load(c).unwrap())).unwrap();
        assert_eq!(v["messages"][1]["content"], "Hello!");
        assert_eq!(v["messages"][0]["role"], "user");
    }

    /// A conversation whose answer was thought about first (with an escape in the thinking).
    fn thoughtful() -> (Store, i64) {
        let mut s = Store::open_in_memory().unwrap();
        let c = s.create_conversation(&NewConversation::default()).unwrap();
        let u = s.add_message(c, None, &NewMessage::new(StoredRole::User, "What is 2+2?")).unwrap();
        let thought = "Two and two\x1b[2J make four.\nSo the answer is 4.";
        let answer = NewMessage { reasoning: Some(thought), ..NewMessage::new(StoredRole::Assistant, "It is 4.") };
        s.add_message(c, Some(u), &answer).unwrap();
        (s, c)
    }

    #[test]
    fn show_folds_the_thinking_on_a_terminal_and_keeps_it_whole_elsewhere() {
        let (s, c) = thoughtful();
        let mut tty = Vec::new();
        run(&s, &HistoryAction::Show { id: c }, &mut tty, true).unwrap();
        let tty = String::from_utf8(tty).unwrap();
        let plain = tty.replace("\x1b[2m", "").replace("\x1b[0m", "");
        assert!(!plain.contains('\x1b'), "only ember's own dim: {tty:?}");
        assert!(plain.contains("▸ thought (10 words): Two and two␛[2J make four.…\n\nIt is 4."), "{tty}");
        assert!(!plain.contains("So the answer"), "folded to its first line: {tty}");
        let mut pipe = Vec::new();
        run(&s, &HistoryAction::Show { id: c }, &mut pipe, false).unwrap();
        let pipe = String::from_utf8(pipe).unwrap();
        assert!(
            pipe.contains("<details><summary>Thinking</summary>\n\nTwo and two\x1b[2J make four.\nSo the answer is 4.\n\n</details>\n\nIt is 4.\n"),
            "{pipe}"
        );
        assert_eq!(pipe, markdown(&s.load(c).unwrap()));
        assert_eq!(folded_thinking("one"), "▸ thought (1 word): one");
    }

    #[test]
    fn json_export_has_the_thinking_as_reasoning_content_only_when_there_is_some() {
        let (s, c) = thoughtful();
        let v: serde_json::Value = serde_json::from_str(&json(&s.load(c).unwrap())).unwrap();
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
