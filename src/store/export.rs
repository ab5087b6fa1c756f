//! A saved conversation as text: Markdown (`ember history show|export`, `/export`), JSON, and
//! Markdown for a terminal (every stored text sanitized, a reply's thinking folded to one line).

use super::{Conversation, MessageState, StoredRole};
use crate::engine::template::strftime;
use crate::render::sanitize;

/// A date for people: `2026-11-29 11:40` (UTC).
pub fn date(ms: i64) -> String {
    strftime("%Y-%m-%d %H:%M", ms / 1000)
}

/// Who wrote a message, as the exports and `ember history search` name them.
pub(super) fn role_name(role: StoredRole) -> &'static str {
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
pub(super) fn for_terminal(c: &Conversation, color: bool) -> String {
    render(c, &|text| sanitize(text).into_owned(), &|thinking| {
        let line = folded_thinking(thinking);
        crate::render::theme::ansi_dim(&format!("{line}\n\n"), color)
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
        let stopped = if m.state == MessageState::Stopped { " [stopped]" } else { "" };
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
                "state": if m.state == MessageState::Stopped { "stopped" } else { "complete" },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_thinking_says_word_in_the_singular() {
        assert_eq!(folded_thinking("one"), "▸ thought (1 word): one");
    }
}
