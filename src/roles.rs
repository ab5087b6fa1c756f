//! Roles: named system prompts with optional sampling overrides, as Markdown files with a small
//! front matter.
//!
//! ```text
//! ---
//! name: coder
//! description: Writes code: one fenced code block first, then a short explanation.
//! temperature: 0.2
//! default.language: Python
//! ---
//! You are an expert {{language}} programmer working in {{cwd}}. ...
//! ```
//!
//! The roles in `prompts/` are built into the binary; a file in `$XDG_CONFIG_HOME/ember/roles/`
//! with the same name overrides one, a new name adds one. Variables: `{{cwd}}`, `{{os}}`,
//! `{{shell}}`, `{{date}}`, any `--var NAME=VALUE`, and `default.NAME` values from the front
//! matter. A body that contains `{{input}}` is a template for the user's message (the question
//! and any piped input go there) instead of a system prompt.
//!
//! Substitution is one pass over the role's own text: a value, or the user's input, that itself
//! contains `{{...}}` is never expanded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::engine::constraint::Constraint;
use crate::engine::SamplingParams;

/// The roles shipped in the binary.
const BUILTIN: [(&str, &str); 6] = [
    ("default.md", include_str!("../prompts/default.md")),
    ("coder.md", include_str!("../prompts/coder.md")),
    ("explain.md", include_str!("../prompts/explain.md")),
    ("review.md", include_str!("../prompts/review.md")),
    ("commit.md", include_str!("../prompts/commit.md")),
    ("shell.md", include_str!("../prompts/shell.md")),
];

/// Where a role came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Builtin,
    File(PathBuf),
}

/// Sampling settings a role may set; the user's flags still win.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamplingOverrides {
    pub temperature: Option<f32>,
    pub top_k: Option<i32>,
    pub top_p: Option<f32>,
    pub min_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    pub max_tokens: Option<usize>,
    pub reasoning: Option<crate::engine::Reasoning>,
    /// What the answer must match (`json: true`, `json_schema:`, `grammar:`; `--json` and
    /// the like).
    pub constraint: Option<std::sync::Arc<Constraint>>,
}

impl SamplingOverrides {
    /// Applies the role's values onto `params`.
    pub fn apply(&self, params: &mut SamplingParams) {
        if let Some(v) = self.temperature {
            params.temperature = v;
        }
        if let Some(v) = self.top_k {
            params.top_k = v;
        }
        if let Some(v) = self.top_p {
            params.top_p = v;
        }
        if let Some(v) = self.min_p {
            params.min_p = v;
        }
        if let Some(v) = self.repeat_penalty {
            params.repeat_penalty = v;
        }
        if let Some(v) = self.max_tokens {
            params.max_tokens = v;
        }
        if let Some(v) = self.reasoning {
            params.reasoning = v;
        }
        if let Some(v) = &self.constraint {
            params.constraint = Some(v.clone());
        }
    }
}

/// One role.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: String,
    pub description: String,
    pub sampling: SamplingOverrides,
    /// `default.NAME: VALUE` lines.
    pub defaults: BTreeMap<String, String>,
    /// The prompt text, with `{{variables}}` still in it.
    pub body: String,
    pub source: Source,
}

/// What a role turns into for one conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The system prompt (empty body: none).
    pub system: Option<String>,
    /// For `{{input}}` roles: the user's message with the input put in its place.
    pub user: Option<String>,
}

/// A role that cannot be loaded or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    #[error("role file {path}, line {line}: {message}")]
    Invalid { path: String, line: usize, message: String },
    #[error("no role named {name:?}; the roles are: {known}. Add one as {dir}/{name}.md")]
    Unknown { name: String, known: String, dir: String },
    #[error("cannot read the roles folder {path}: {message}")]
    Read { path: String, message: String },
    #[error("role {role:?} uses {{{{{var}}}}}, which has no value: give one with --var {var}=VALUE")]
    MissingVariable { role: String, var: String },
}

impl Role {
    /// Parses a role file's text. `origin` names it in errors; `fallback_name` (the file stem)
    /// is the name when the front matter has none.
    pub fn parse(text: &str, origin: &str, fallback_name: &str, source: Source) -> Result<Role, RoleError> {
        let invalid = |line: usize, message: String| RoleError::Invalid { path: origin.to_string(), line, message };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut role = Role {
            name: fallback_name.to_string(),
            description: String::new(),
            sampling: SamplingOverrides::default(),
            defaults: BTreeMap::new(),
            body: String::new(),
            source,
        };
        let mut lines = text.lines().enumerate();
        let body_start = match lines.next() {
            Some((_, first)) if first.trim_end() == "---" => {
                let mut end = None;
                for (i, line) in lines.by_ref() {
                    let number = i + 1;
                    let trimmed = line.trim();
                    if trimmed == "---" {
                        end = Some(i + 1);
                        break;
                    }
                    if trimmed.is_empty() || trimmed.starts_with('#') {
                        continue;
                    }
                    let Some((key, value)) = trimmed.split_once(':') else {
                        return Err(invalid(number, format!("expected `key: value`, got {trimmed:?}")));
                    };
                    role.set_key(key.trim(), unquote(value.trim()), number, origin)?;
                }
                match end {
                    Some(end) => end,
                    None => return Err(invalid(1, "the front matter opened with `---` is never closed".into())),
                }
            }
            _ => 0,
        };
        role.body = text.lines().skip(body_start).collect::<Vec<_>>().join("\n").trim().to_string();
        if role.name.is_empty() || !role.name.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_') {
            return Err(invalid(1, format!("role names are letters, digits, - and _; got {:?}", role.name)));
        }
        Ok(role)
    }

    /// Sets one front-matter key of the role, read at `line` of `origin` (for errors).
    fn set_key(&mut self, key: &str, value: &str, line: usize, origin: &str) -> Result<(), RoleError> {
        let invalid = |message: String| RoleError::Invalid { path: origin.to_string(), line, message };
        let number_of = |what: &str| -> Result<f32, RoleError> {
            value
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| invalid(format!("`{key}`: expected a non-negative {what}, got {value:?}")))
        };
        match key {
            "name" => self.name = value.to_string(),
            "description" => self.description = value.to_string(),
            "temperature" => self.sampling.temperature = Some(number_of("number")?),
            "top_p" => self.sampling.top_p = Some(number_of("number")?.min(1.0)),
            "min_p" => self.sampling.min_p = Some(number_of("number")?.min(1.0)),
            "repeat_penalty" => self.sampling.repeat_penalty = Some(number_of("number")?),
            "top_k" => self.sampling.top_k = Some(number_of("integer")? as i32),
            "reasoning" => {
                self.sampling.reasoning = Some(value.parse().map_err(|e| invalid(format!("`reasoning`: {e}")))?)
            }
            "json" | "json_schema" | "grammar" => {
                let c = role_constraint(key, value, &self.source).map_err(invalid)?;
                self.sampling.constraint = c.map(std::sync::Arc::new);
            }
            "max_tokens" => {
                let n = number_of("integer")? as usize;
                self.sampling.max_tokens = Some(n.max(1));
            }
            _ => match key.strip_prefix("default.") {
                Some(var) if is_variable_name(var) => {
                    self.defaults.insert(var.to_string(), value.to_string());
                }
                _ => {
                    return Err(invalid(format!(
                        "unknown key `{key}` (known: name, description, temperature, top_k, top_p, min_p, \
                         repeat_penalty, max_tokens, reasoning, json, json_schema, grammar, default.VARIABLE)"
                    )))
                }
            },
        }
        Ok(())
    }

    /// Whether the body is a template for the user's message.
    pub fn takes_input(&self) -> bool {
        variables(&self.body).iter().any(|v| v == "input")
    }

    /// The role for one conversation: variables filled in from `vars` (then the role's
    /// defaults, then the built-ins), the user's message put in `{{input}}`.
    pub fn apply(&self, vars: &BTreeMap<String, String>, user: Option<&str>) -> Result<Applied, RoleError> {
        let builtin = builtin_variables();
        let mut out = String::with_capacity(self.body.len());
        let mut rest = self.body.as_str();
        while let Some(open) = rest.find("{{") {
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else { break };
            let name = after[..close].trim();
            if !is_variable_name(name) {
                out.push_str(&rest[..open + 2]);
                rest = after;
                continue;
            }
            out.push_str(&rest[..open]);
            let value = if name == "input" {
                user.map(str::to_string)
            } else {
                vars.get(name).or_else(|| self.defaults.get(name)).or_else(|| builtin.get(name)).cloned()
            };
            match value {
                Some(v) => out.push_str(&v),
                None => return Err(RoleError::MissingVariable { role: self.name.clone(), var: name.to_string() }),
            }
            rest = &after[close + 2..];
        }
        out.push_str(rest);
        let text = out.trim().to_string();
        Ok(if self.takes_input() {
            Applied { system: None, user: Some(text) }
        } else {
            Applied { system: (!text.is_empty()).then_some(text), user: None }
        })
    }
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v)
}

fn is_variable_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The `{{name}}` variables a text uses, in order.
pub fn variables(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        let name = after[..close].trim();
        if is_variable_name(name) && !out.iter().any(|v| v == name) {
            out.push(name.to_string());
        }
        rest = &after[close + 2..];
    }
    out
}

/// `{{cwd}}`, `{{os}}`, `{{shell}}`, `{{date}}`.
fn builtin_variables() -> BTreeMap<&'static str, String> {
    let mut vars = BTreeMap::new();
    vars.insert("cwd", std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default());
    vars.insert("os", std::env::consts::OS.to_string());
    let shell = std::env::var("SHELL")
        .ok()
        .and_then(|s| Path::new(&s).file_name().map(|n| n.to_string_lossy().into_owned()).filter(|n| !n.is_empty()));
    vars.insert("shell", shell.unwrap_or_else(|| "sh".to_string()));
    vars.insert(
        "date",
        crate::engine::template::strftime(
            "%Y-%m-%d",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0),
        ),
    );
    vars
}

/// Every role: the built-in ones, then the user's folder, which overrides by name.
pub fn load_all(user_dir: &Path) -> Result<Vec<Role>, RoleError> {
    let mut roles = Vec::new();
    for (file, text) in BUILTIN {
        let stem = file.trim_end_matches(".md");
        roles.push(Role::parse(text, &format!("(built in) prompts/{file}"), stem, Source::Builtin)?);
    }
    let entries = match std::fs::read_dir(user_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(roles),
        Err(e) => return Err(RoleError::Read { path: user_dir.display().to_string(), message: e.to_string() }),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md") && p.is_file())
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| RoleError::Read { path: path.display().to_string(), message: e.to_string() })?;
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let role = Role::parse(&text, &path.display().to_string(), &stem, Source::File(path.clone()))?;
        match roles.iter_mut().find(|r| r.name == role.name) {
            Some(existing) => *existing = role,
            None => roles.push(role),
        }
    }
    Ok(roles)
}

/// The role called `name`.
pub fn find(user_dir: &Path, name: &str) -> Result<Role, RoleError> {
    let roles = load_all(user_dir)?;
    let known = roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ");
    roles.into_iter().find(|r| r.name == name).ok_or_else(|| RoleError::Unknown {
        name: name.to_string(),
        known,
        dir: user_dir.display().to_string(),
    })
}

/// A role's `json: true`, `json_schema: SCHEMA|FILE` or `grammar: FILE` (a relative path is
/// read from the role file's folder).
fn role_constraint(key: &str, value: &str, source: &Source) -> Result<Option<Constraint>, String> {
    let path = |value: &str| match source {
        Source::File(file) => file.parent().unwrap_or(Path::new(".")).join(value),
        Source::Builtin => PathBuf::from(value),
    };
    let constraint = match key {
        "json" => match value {
            "true" => Some(Constraint::json()),
            "false" => None,
            _ => return Err(format!("`json`: expected true or false, got {value:?}")),
        },
        "json_schema" if value.starts_with('{') => Some(Constraint::schema(value).map_err(|e| e.to_string())?),
        "json_schema" => Some(Constraint::schema(&path(value).to_string_lossy()).map_err(|e| e.to_string())?),
        _ => Some(Constraint::grammar_file(&path(value)).map_err(|e| e.to_string())?),
    };
    Ok(constraint)
}

/// Parses `--var NAME=VALUE`.
pub fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if is_variable_name(name.trim()) => Ok((name.trim().to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE (NAME of letters, digits and _), got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn every_builtin_role_loads_with_a_description() {
        let roles = load_all(Path::new("/nonexistent")).unwrap();
        let names: Vec<_> = roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["default", "coder", "explain", "review", "commit", "shell"]);
        for role in &roles {
            assert!(!role.description.is_empty(), "{} has no description", role.name);
            let applied = role.apply(&BTreeMap::new(), None).unwrap();
            if role.name == "default" {
                // The model's own default system prompt applies (chat templates have one).
                assert_eq!(applied.system, None);
                continue;
            }
            let system = applied.system.unwrap();
            assert!(!system.contains("{{"), "{}: {system}", role.name);
        }
        let coder = roles.iter().find(|r| r.name == "coder").unwrap();
        assert_eq!(coder.sampling.temperature, Some(0.2));
    }

    #[test]
    fn the_shell_role_fills_in_the_builtins() {
        let shell = find(Path::new("/nonexistent"), "shell").unwrap();
        let system = shell.apply(&BTreeMap::new(), None).unwrap().system.unwrap();
        assert!(system.contains(std::env::consts::OS), "{system}");
        let cwd = std::env::current_dir().unwrap().display().to_string();
        assert!(system.contains(&cwd), "{system}");
    }

    #[test]
    fn variables_come_from_flags_then_defaults_and_are_not_expanded_twice() {
        let text = "---\nname: t\ndefault.language: Python\n---\nWrite {{ language }} for {{who}}. {{not a var}}";
        let role = Role::parse(text, "t.md", "t", Source::Builtin).unwrap();
        let applied = role.apply(&vars(&[("who", "{{language}}")]), None).unwrap();
        assert_eq!(applied.system.as_deref(), Some("Write Python for {{language}}. {{not a var}}"));
        let applied = role.apply(&vars(&[("who", "me"), ("language", "Rust")]), None).unwrap();
        assert_eq!(applied.system.as_deref(), Some("Write Rust for me. {{not a var}}"));
        let missing = role.apply(&BTreeMap::new(), None).unwrap_err();
        assert_eq!(missing, RoleError::MissingVariable { role: "t".into(), var: "who".into() });
        assert!(missing.to_string().contains("--var who=VALUE"));
    }

    #[test]
    fn an_input_role_is_a_user_message_template() {
        let text = "---\ndescription: d\n---\nTranslate to French:\n\n{{input}}";
        let role = Role::parse(text, "fr.md", "fr", Source::Builtin).unwrap();
        assert_eq!(role.name, "fr");
        assert!(role.takes_input());
        let applied = role.apply(&BTreeMap::new(), Some("hello {{cwd}}")).unwrap();
        assert_eq!(applied.system, None);
        assert_eq!(applied.user.as_deref(), Some("Translate to French:\n\nhello {{cwd}}"));
    }

    #[test]
    fn bad_front_matter_names_the_line() {
        let err = Role::parse("---\nname: x\ntemprature: 1\n---\nhi", "x.md", "x", Source::Builtin).unwrap_err();
        assert!(matches!(&err, RoleError::Invalid { line: 3, .. }), "{err:?}");
        assert!(err.to_string().contains("unknown key `temprature`"), "{err}");
        let err = Role::parse("---\ntemperature: hot\n---\nhi", "x.md", "x", Source::Builtin).unwrap_err();
        assert!(matches!(err, RoleError::Invalid { line: 2, .. }), "{err:?}");
        let err = Role::parse("---\nname: x\n", "x.md", "x", Source::Builtin).unwrap_err();
        assert!(err.to_string().contains("never closed"), "{err}");
        let err = Role::parse("---\nname: a b\n---\nhi", "x.md", "x", Source::Builtin).unwrap_err();
        assert!(err.to_string().contains("role names"), "{err}");
    }

    #[test]
    fn a_role_can_ask_for_json_or_a_schema_and_a_bad_one_names_the_line() {
        let role = Role::parse("---\njson: true\n---\nAnswer.", "j.md", "j", Source::Builtin).unwrap();
        assert_eq!(role.sampling.constraint.as_ref().map(|c| c.label.as_str()), Some("JSON"));
        let text = "---\njson_schema: {\"type\": \"array\", \"items\": {\"type\": \"string\"}}\n---\nList.";
        let role = Role::parse(text, "l.md", "l", Source::Builtin).unwrap();
        let mut params = SamplingParams::default();
        role.sampling.apply(&mut params);
        assert_eq!(params.constraint.map(|c| c.label.clone()).as_deref(), Some("the schema"));
        let err = Role::parse("---\nname: x\njson_schema: {\"type\": 1}\n---\n", "x.md", "x", Source::Builtin)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "role file x.md, line 3: the schema cannot be used: `type` must be a name or a list of names");
    }

    #[test]
    fn a_file_without_front_matter_is_all_prompt() {
        let role = Role::parse("Be terse.\n", "terse.md", "terse", Source::Builtin).unwrap();
        assert_eq!(role.name, "terse");
        assert_eq!(role.body, "Be terse.");
    }

    #[test]
    fn user_roles_override_and_add() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("coder.md"), "---\ndescription: mine\n---\nMy coder.").unwrap();
        std::fs::write(
            dir.path().join("pirate.md"),
            "---\ndescription: Arr\ntemperature: 1.2\n---\nTalk like a pirate.",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a role").unwrap();
        let roles = load_all(dir.path()).unwrap();
        assert_eq!(roles.len(), 7);
        let coder = roles.iter().find(|r| r.name == "coder").unwrap();
        assert_eq!(coder.body, "My coder.");
        assert_eq!(coder.source, Source::File(dir.path().join("coder.md")));
        assert_eq!(coder.sampling.temperature, None, "an override replaces the whole role");
        let pirate = find(dir.path(), "pirate").unwrap();
        assert_eq!(pirate.sampling.temperature, Some(1.2));
        let err = find(dir.path(), "poet").unwrap_err().to_string();
        assert!(err.contains("pirate") && err.contains("coder"), "{err}");
    }

    #[test]
    fn overrides_apply_onto_sampling() {
        let mut p = SamplingParams::default();
        SamplingOverrides { temperature: Some(0.1), max_tokens: Some(9), ..Default::default() }.apply(&mut p);
        assert_eq!((p.temperature, p.max_tokens), (0.1, 9));
        assert_eq!(parse_var("language=Rust"), Ok(("language".into(), "Rust".into())));
        assert!(parse_var("bad name=x").is_err());
    }
}
