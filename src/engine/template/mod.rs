//! Chat templates: turning a conversation into the exact prompt text a model was trained on.
//!
//! A GGUF file carries its Hugging Face chat template (`tokenizer.chat_template`, Jinja). We
//! render it the way transformers' `apply_chat_template` does: minijinja with Python-compatible
//! methods, `trim_blocks`/`lstrip_blocks`, `raise_exception`, `strftime_now`, a Python-style
//! `tojson`, and the `{% generation %}` block. The rendered prompt is then split into
//! [`Segment`]s so that only the template's own text may contain control tokens: message
//! contents are tokenized as plain text, and a file holding `<|im_end|>` cannot forge a turn.

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error as JinjaError, ErrorKind};

use super::message::{Message, Role};

#[cfg(test)]
mod tests;

/// How much a reasoning model should think (`--reasoning`, `/think`). Passed to the chat
/// template the way transformers' `apply_chat_template(**kwargs)` passes extra variables:
/// `enable_thinking` (Qwen3, SmolLM3, GLM), `thinking` (DeepSeek V3.1), `reasoning_effort`
/// (gpt-oss). `Auto` passes nothing: the template's own default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reasoning {
    #[default]
    Auto,
    On,
    Off,
    Low,
    Medium,
    High,
}

impl Reasoning {
    /// Every setting, in the order `--help` lists them.
    pub const ALL: [Reasoning; 6] =
        [Reasoning::Auto, Reasoning::On, Reasoning::Off, Reasoning::Low, Reasoning::Medium, Reasoning::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Reasoning::Auto => "auto",
            Reasoning::On => "on",
            Reasoning::Off => "off",
            Reasoning::Low => "low",
            Reasoning::Medium => "medium",
            Reasoning::High => "high",
        }
    }

    /// The template variables this setting sets, as transformers' kwargs would.
    pub fn template_vars(self) -> Vec<(&'static str, Value)> {
        let effort = |e: &str| {
            vec![
                ("enable_thinking", Value::from(true)),
                ("thinking", Value::from(true)),
                ("reasoning_effort", Value::from(e)),
            ]
        };
        match self {
            Reasoning::Auto => Vec::new(),
            Reasoning::On => vec![("enable_thinking", Value::from(true)), ("thinking", Value::from(true))],
            Reasoning::Off => vec![("enable_thinking", Value::from(false)), ("thinking", Value::from(false))],
            Reasoning::Low => effort("low"),
            Reasoning::Medium => effort("medium"),
            Reasoning::High => effort("high"),
        }
    }

    /// Whether a template `source` reads any variable this setting sets (else a setting other
    /// than `Auto` changes nothing, and the user should be told).
    pub fn has_switch(source: &str) -> bool {
        ["enable_thinking", "reasoning_effort", "thinking is", "thinking %}", "if thinking", "not thinking"]
            .iter()
            .any(|name| source.contains(name))
    }
}

impl std::str::FromStr for Reasoning {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Reasoning::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("expected one of auto, on, off, low, medium, high; got {s:?}"))
    }
}

/// A piece of a rendered prompt. `special` pieces come from the template and may contain control
/// tokens such as `<|im_start|>`; the others are message text and are tokenized literally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    pub special: bool,
}

/// A Hugging Face chat template, compiled.
pub struct JinjaTemplate {
    env: Environment<'static>,
    /// BOS/EOS token texts; `None` leaves the variable undefined, as transformers does.
    bos_token: Option<String>,
    eos_token: Option<String>,
}

const TEMPLATE_NAME: &str = "chat_template";

impl JinjaTemplate {
    /// Compiles `source` with the model's BOS/EOS token texts.
    pub fn new(source: &str, bos_token: Option<&str>, eos_token: Option<&str>) -> Result<Self, String> {
        Self::with_clock(source, bos_token, eos_token, None)
    }

    /// Like [`JinjaTemplate::new`], with `strftime_now` frozen at `now` (Unix seconds, UTC) when
    /// given, for reproducible renderings.
    pub fn with_clock(
        source: &str,
        bos_token: Option<&str>,
        eos_token: Option<&str>,
        now: Option<i64>,
    ) -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        minijinja_contrib::add_to_environment(&mut env);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", move |format: String| strftime(&format, now.unwrap_or_else(unix_now)));
        env.add_filter("tojson", tojson);
        env.add_template_owned(TEMPLATE_NAME, rewrite_generation_blocks(source))
            .map_err(|e| format!("the template does not compile: {e:#}"))?;
        Ok(JinjaTemplate { env, bos_token: bos_token.map(String::from), eos_token: eos_token.map(String::from) })
    }

    /// Renders `messages` exactly as transformers would.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String, String> {
        self.render_with(messages, add_generation_prompt, Reasoning::Auto)
    }

    /// The template's source text.
    pub fn source(&self) -> Option<String> {
        self.env.get_template(TEMPLATE_NAME).ok().map(|t| t.source().to_string())
    }

    /// [`JinjaTemplate::render`] with a reasoning setting passed to the template.
    pub fn render_with(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        reasoning: Reasoning,
    ) -> Result<String, String> {
        let template = self.env.get_template(TEMPLATE_NAME).map_err(|e| e.to_string())?;
        let mut vars = std::collections::BTreeMap::new();
        vars.insert("messages", Value::from_serialize(messages));
        vars.insert("add_generation_prompt", Value::from(add_generation_prompt));
        // Defined and none, as transformers passes them: `tools is not none` differs from an
        // undefined `tools` in some templates.
        vars.insert("tools", Value::from(()));
        vars.insert("documents", Value::from(()));
        for (name, value) in reasoning.template_vars() {
            vars.insert(name, value);
        }
        if let Some(bos) = &self.bos_token {
            vars.insert("bos_token", Value::from(bos.as_str()));
        }
        if let Some(eos) = &self.eos_token {
            vars.insert("eos_token", Value::from(eos.as_str()));
        }
        let ctx = Value::from(vars);
        template.render(ctx).map_err(|e| describe(&e))
    }
}

fn describe(e: &JinjaError) -> String {
    match e.kind() {
        ErrorKind::InvalidOperation => e.detail().unwrap_or("invalid operation").to_string(),
        _ => format!("{e:#}"),
    }
}

/// `{% generation %}...{% endgeneration %}` marks assistant text for training masks; it renders
/// its body. minijinja has no such tag, so it becomes an always-true `if`, keeping `-` trims.
fn rewrite_generation_blocks(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("%}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let tag = &rest[start..start + len + 2];
        let inner = tag[2..tag.len() - 2].trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        let replacement = match inner {
            "generation" => Some("if true"),
            "endgeneration" => Some("endif"),
            _ => None,
        };
        match replacement {
            Some(word) => out.push_str(&tag.replacen(inner, word, 1)),
            None => out.push_str(tag),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

fn raise_exception(message: String) -> Result<Value, JinjaError> {
    Err(JinjaError::new(ErrorKind::InvalidOperation, message))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Formats a Unix time (UTC) with Python strftime codes: %Y %y %m %d %e %j %H %I %M %S %p
/// %A %a %B %b %%; unknown codes are kept as written.
pub fn strftime(format: &str, unix_secs: i64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
    let days = unix_secs.div_euclid(86_400);
    let secs_of_day = unix_secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = (days + 3).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    let is_leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let cumulative = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = cumulative[(month - 1) as usize] + day + i64::from(is_leap && month > 2);
    let (hour, minute, second) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year % 100)),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('e') => out.push_str(&format!("{day:2}")),
            Some('j') => out.push_str(&format!("{yday:03}")),
            Some('H') => out.push_str(&format!("{hour:02}")),
            Some('I') => out.push_str(&format!("{:02}", (hour + 11) % 12 + 1)),
            Some('M') => out.push_str(&format!("{minute:02}")),
            Some('S') => out.push_str(&format!("{second:02}")),
            Some('p') => out.push_str(if hour < 12 { "AM" } else { "PM" }),
            Some('A') => out.push_str(DAYS[weekday]),
            Some('a') => out.push_str(&DAYS[weekday][..3]),
            Some('B') => out.push_str(MONTHS[(month - 1) as usize]),
            Some('b') => out.push_str(&MONTHS[(month - 1) as usize][..3]),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Python's `json.dumps(value, ensure_ascii=False, indent=indent)`, as transformers' `tojson`.
fn tojson(value: &Value, kwargs: Kwargs) -> Result<Value, JinjaError> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&mut out, value, indent, sort_keys.unwrap_or(false), 0)?;
    Ok(Value::from_safe_string(out))
}

fn write_json(
    out: &mut String,
    value: &Value,
    indent: Option<usize>,
    sort: bool,
    depth: usize,
) -> Result<(), JinjaError> {
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    };
    let (item_sep, key_sep) = if indent.is_some() { (",", ": ") } else { (", ", ": ") };
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&value.to_string()),
        ValueKind::String => push_json_string(out, value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                write_json(out, item, indent, sort, depth + 1)?;
            }
            newline(out, depth);
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = value.try_iter()?.collect();
            if sort {
                keys.sort();
            }
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                push_json_string(out, &key.to_string());
                out.push_str(key_sep);
                write_json(out, &value.get_item(key)?, indent, sort, depth + 1)?;
            }
            newline(out, depth);
            out.push('}');
        }
        _ => push_json_string(out, &value.to_string()),
    }
    Ok(())
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The completion format for models without a chat template (base models).
pub fn render_plain(messages: &[Message], add_generation_prompt: bool) -> String {
    let mut out = String::new();
    for message in messages {
        match message.role {
            Role::System => {
                out.push_str(&message.content);
                out.push_str("\n\n");
            }
            Role::User => {
                out.push_str("User: ");
                out.push_str(&message.content);
                out.push_str("\n\n");
            }
            Role::Assistant => {
                out.push_str("Assistant: ");
                out.push_str(&message.content);
                out.push_str("\n\n");
            }
        }
    }
    if add_generation_prompt {
        out.push_str("Assistant:");
    }
    out
}

/// Stop strings for [`render_plain`]: a base model tends to go on with the next "User:" turn.
pub const PLAIN_STOPS: &[&str] = &["\nUser:", "\nAssistant:"];

/// Merges the system prompt into the first user message, for templates that reject a system role.
pub fn fold_system(messages: &[Message]) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::with_capacity(messages.len());
    let mut system = String::new();
    for message in messages {
        match message.role {
            Role::System => {
                if !system.is_empty() {
                    system.push_str("\n\n");
                }
                system.push_str(&message.content);
            }
            Role::User if !system.is_empty() => {
                out.push(Message::new(Role::User, format!("{}\n\n{}", std::mem::take(&mut system), message.content)));
            }
            _ => out.push(message.clone()),
        }
    }
    if !system.is_empty() {
        out.push(Message::new(Role::User, system));
    }
    out
}

/// The conversation without questions that were never answered: a user message followed by
/// another user message (a run killed mid-answer saved its question; strict templates refuse two
/// user turns in a row, "roles must alternate"). Borrowed when there is none.
pub fn without_unanswered(messages: &[Message]) -> std::borrow::Cow<'_, [Message]> {
    let unanswered =
        |i: usize| messages[i].role == Role::User && messages.get(i + 1).is_some_and(|next| next.role == Role::User);
    if !(0..messages.len()).any(unanswered) {
        return std::borrow::Cow::Borrowed(messages);
    }
    std::borrow::Cow::Owned(
        messages.iter().enumerate().filter(|&(i, _)| !unanswered(i)).map(|(_, m)| m.clone()).collect(),
    )
}

/// Private-use markers that stand in for message contents while locating them in a rendering.
fn sentinel(i: usize) -> String {
    format!("\u{F8F0}ember{i}\u{F8F1}")
}

/// Markers at and above this index stand for message `index - REASONING_MARK`'s reasoning.
const REASONING_MARK: usize = 1 << 24;

/// Splits the rendering of `messages` into template text and message text.
///
/// `render` is the format's renderer. The conversation is rendered once with each content
/// replaced by a unique marker; the text between markers is the template's. The split is used
/// only if putting the real contents back (as is, or trimmed, as many templates do) gives exactly
/// the real rendering; otherwise each content is searched for in order. Returns the real
/// rendering and its segments.
pub fn segment(
    messages: &[Message],
    render: &dyn Fn(&[Message]) -> Result<String, String>,
) -> Result<(String, Vec<Segment>), String> {
    let full = render(messages)?;
    let marked: Vec<Message> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| Message {
            reasoning: m.reasoning.as_ref().map(|_| sentinel(REASONING_MARK + i)),
            ..Message::new(m.role, sentinel(i))
        })
        .collect();
    if let Ok(marked_text) = render(&marked) {
        for trimmed in [false, true] {
            if let Some(segments) = fill_markers(&marked_text, messages, trimmed) {
                if concat(&segments) == full {
                    return Ok((full, segments));
                }
            }
        }
    }
    if messages.iter().any(|m| m.reasoning.is_some()) {
        // Reasoning the markers could not place would be taken for template text (control
        // tokens parsed): leave it out rather than risk that.
        let without: Vec<Message> = messages.iter().map(|m| Message { reasoning: None, ..m.clone() }).collect();
        return segment(&without, render);
    }
    let segments = locate_contents(&full, messages);
    Ok((full, segments))
}

/// [`segment`], and when the template rejects the conversation while it has a system message
/// (Gemma: "System role not supported"), again with the system prompt folded into the first user
/// message. The first error is the one reported.
pub fn segment_folding_system(
    messages: &[Message],
    render: &dyn Fn(&[Message]) -> Result<String, String>,
) -> Result<(String, Vec<Segment>), String> {
    match segment(messages, render) {
        Err(e) if messages.iter().any(|m| m.role == Role::System) => {
            segment(&fold_system(messages), render).map_err(|_| e)
        }
        done => done,
    }
}

fn concat(segments: &[Segment]) -> String {
    segments.iter().map(|s| s.text.as_str()).collect()
}

fn push_segment(segments: &mut Vec<Segment>, text: &str, special: bool) {
    if text.is_empty() {
        return;
    }
    match segments.last_mut() {
        Some(last) if last.special == special => last.text.push_str(text),
        _ => segments.push(Segment { text: text.to_string(), special }),
    }
}

fn fill_markers(marked: &str, messages: &[Message], trimmed: bool) -> Option<Vec<Segment>> {
    let mut segments = Vec::new();
    let mut rest = marked;
    while let Some(start) = rest.find('\u{F8F0}') {
        push_segment(&mut segments, &rest[..start], true);
        let after = &rest[start + '\u{F8F0}'.len_utf8()..];
        let body = after.strip_prefix("ember")?;
        let end = body.find('\u{F8F1}')?;
        let index: usize = body[..end].parse().ok()?;
        let content = match index.checked_sub(REASONING_MARK) {
            Some(i) => messages.get(i)?.reasoning.as_deref()?,
            None => messages.get(index)?.content.as_str(),
        };
        push_segment(&mut segments, if trimmed { content.trim() } else { content }, false);
        rest = &body[end + '\u{F8F1}'.len_utf8()..];
    }
    push_segment(&mut segments, rest, true);
    Some(segments)
}

fn locate_contents(full: &str, messages: &[Message]) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut cursor = 0;
    for message in messages {
        for candidate in [message.content.as_str(), message.content.trim()] {
            if candidate.is_empty() {
                break;
            }
            if let Some(pos) = full[cursor..].find(candidate) {
                push_segment(&mut segments, &full[cursor..cursor + pos], true);
                push_segment(&mut segments, candidate, false);
                cursor += pos + candidate.len();
                break;
            }
        }
    }
    push_segment(&mut segments, &full[cursor..], true);
    segments
}
