//! The slash-command table: each command with its help, parsing, completion.

/// A slash command and its one-line help.
pub struct CommandHelp {
    pub name: &'static str,
    pub args: &'static str,
    pub help: &'static str,
}

pub const COMMANDS: &[CommandHelp] = &[
    CommandHelp { name: "/help", args: "", help: "keys and commands" },
    CommandHelp { name: "/new", args: "", help: "start a new conversation" },
    CommandHelp { name: "/model", args: "[PATH|NAME]", help: "show or switch the model (path or name)" },
    CommandHelp { name: "/ctx", args: "[N]", help: "show or change the context size (tokens)" },
    CommandHelp { name: "/system", args: "[TEXT|clear]", help: "show, set or clear the system prompt" },
    CommandHelp { name: "/role", args: "[NAME]", help: "list the roles, or switch to one" },
    CommandHelp { name: "/think", args: "[MODE]", help: "reasoning: on off auto low medium high" },
    CommandHelp { name: "/schema", args: "[FILE|json|off]", help: "answers in JSON: any, or a schema's" },
    CommandHelp { name: "/file", args: "PATH", help: "attach a file to the next message" },
    CommandHelp { name: "/copy", args: "[N]", help: "copy code block N (the last) to the clipboard" },
    CommandHelp { name: "/save", args: "N PATH", help: "save code block N to a file" },
    CommandHelp { name: "/apply", args: "N [PATH]", help: "apply code block N to its file, after a diff" },
    CommandHelp { name: "/fold", args: "[N]", help: "fold or unfold long code block N (the latest)" },
    CommandHelp { name: "/undo", args: "", help: "undo the last /apply (also after a restart)" },
    CommandHelp { name: "/sessions", args: "", help: "find and continue saved conversations" },
    CommandHelp { name: "/rename", args: "TITLE", help: "rename this conversation" },
    CommandHelp { name: "/export", args: "[md|json] [PATH]", help: "write this conversation to a file" },
    CommandHelp { name: "/pin", args: "", help: "keep your last message in the context" },
    CommandHelp { name: "/retry", args: "", help: "regenerate the last answer" },
    CommandHelp { name: "/edit", args: "", help: "edit the last message and regenerate" },
    CommandHelp { name: "/quit", args: "", help: "leave ember" },
];

/// A parsed slash command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlashCommand {
    Help,
    New,
    Model(Option<String>),
    /// The context size to restart with; `None` shows it.
    Ctx(Option<u32>),
    System(Option<String>),
    Role(Option<String>),
    /// The reasoning setting for the next answers; `None` shows it.
    Think(Option<crate::engine::Reasoning>),
    /// The output constraint for the next answers (a schema file or text, `json`, `off`);
    /// `None` shows it.
    Schema(Option<String>),
    File(String),
    /// Copy code block N; the last one without N.
    Copy(Option<usize>),
    Save(usize, Option<String>),
    /// Apply code block N to a file (the one it names without PATH), after showing the diff.
    Apply(usize, Option<String>),
    /// Fold or unfold code block N; without N, the long blocks of the reply in view.
    Fold(Option<usize>),
    Undo,
    Sessions,
    Rename(String),
    /// Format (json or md) and file.
    Export {
        json: bool,
        path: Option<String>,
    },
    Pin,
    Retry,
    Edit,
    Quit,
}

/// Parses `text` (which starts with '/'). Errors say how to use the command.
pub fn parse(text: &str) -> Result<SlashCommand, String> {
    let text = text.trim();
    let (name, rest) = match text.split_once(char::is_whitespace) {
        Some((n, r)) => (n, r.trim()),
        None => (text, ""),
    };
    let arg = (!rest.is_empty()).then(|| rest.to_string());
    let number = |s: &str| s.parse::<usize>().ok().filter(|n| *n > 0);
    match name {
        "/help" | "/?" => Ok(SlashCommand::Help),
        "/new" | "/clear" => Ok(SlashCommand::New),
        "/model" => Ok(SlashCommand::Model(arg)),
        "/ctx" | "/context" => match arg {
            None => Ok(SlashCommand::Ctx(None)),
            Some(n) => n
                .replace(['_', ','], "")
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= crate::tui::state::MIN_CTX)
                .map(|n| SlashCommand::Ctx(Some(n)))
                .ok_or_else(|| {
                    format!("usage: /ctx N, a number of tokens from {} (not {n:?})", crate::tui::state::MIN_CTX)
                }),
        },
        "/system" => Ok(SlashCommand::System(arg)),
        "/role" => Ok(SlashCommand::Role(arg)),
        "/think" | "/reasoning" => match arg {
            None => Ok(SlashCommand::Think(None)),
            Some(setting) => setting
                .parse()
                .map(|r| SlashCommand::Think(Some(r)))
                .map_err(|_| format!("usage: /think on|off|auto|low|medium|high (not {setting:?})")),
        },
        "/schema" => Ok(SlashCommand::Schema(arg)),
        "/file" => arg.map(SlashCommand::File).ok_or_else(|| "usage: /file PATH".into()),
        "/copy" if rest.is_empty() => Ok(SlashCommand::Copy(None)),
        "/copy" => number(rest)
            .map(|n| SlashCommand::Copy(Some(n)))
            .ok_or_else(|| "usage: /copy [N] (a code block number; the last without N)".into()),
        "/save" => block_and_path(rest)
            .map(|(n, path)| SlashCommand::Save(n, path))
            .ok_or_else(|| "usage: /save N [PATH]".into()),
        "/apply" => block_and_path(rest)
            .map(|(n, path)| SlashCommand::Apply(n, path))
            .ok_or_else(|| "usage: /apply N [PATH]".into()),
        "/fold" if rest.is_empty() => Ok(SlashCommand::Fold(None)),
        "/fold" => number(rest)
            .map(|n| SlashCommand::Fold(Some(n)))
            .ok_or_else(|| "usage: /fold [N] (a code block number; the reply in view without N)".into()),
        "/undo" => Ok(SlashCommand::Undo),
        "/sessions" | "/history" => Ok(SlashCommand::Sessions),
        "/pin" | "/unpin" => Ok(SlashCommand::Pin),
        "/rename" => arg.map(SlashCommand::Rename).ok_or_else(|| "usage: /rename TITLE".into()),
        "/export" => {
            let mut words = rest.split_whitespace();
            let (json, path) = match words.next() {
                Some("json") => (true, words.next()),
                Some("md") => (false, words.next()),
                other => (false, other),
            };
            Ok(SlashCommand::Export { json, path: path.map(String::from) })
        }
        "/retry" => Ok(SlashCommand::Retry),
        "/edit" => Ok(SlashCommand::Edit),
        "/quit" | "/exit" | "/q" => Ok(SlashCommand::Quit),
        other => Err(format!("unknown command {other}; /help lists them")),
    }
}

/// `N [PATH]`: a code block number, and a path when one follows.
fn block_and_path(rest: &str) -> Option<(usize, Option<String>)> {
    let (n, path) = match rest.split_once(char::is_whitespace) {
        Some((n, p)) => (n, Some(p.trim().to_string())),
        None => (rest, None),
    };
    n.parse::<usize>().ok().filter(|n| *n > 0).map(|n| (n, path))
}

/// Commands whose name starts with what was typed (only while the name is being typed).
pub fn completions(text: &str) -> Vec<&'static CommandHelp> {
    if !text.starts_with('/') || text.contains(char::is_whitespace) {
        return Vec::new();
    }
    COMMANDS.iter().filter(|c| c.name.starts_with(text)).collect()
}

/// A command as Tab completes it: its name, and a space when it takes arguments.
pub fn completed(command: &CommandHelp) -> String {
    if command.args.is_empty() {
        command.name.to_string()
    } else {
        format!("{} ", command.name)
    }
}

/// The longest start all of `texts` share.
pub fn common_start(texts: &[String]) -> String {
    let Some(first) = texts.first() else { return String::new() };
    let mut end = first.len();
    for t in &texts[1..] {
        let differs = |&(i, c): &(usize, char)| t.get(i..).is_none_or(|rest| !rest.starts_with(c));
        end = first[..end].char_indices().find(differs).map_or(end, |(i, _)| i);
    }
    first[..end].to_string()
}

/// What Tab completes a `/file PATH` line to: the line with each path [`complete_path`] finds.
/// None for other text. It reads a folder: the loop runs it, off the render path.
pub fn complete_file_line(text: &str) -> Vec<String> {
    let Some(path) = text.strip_prefix("/file ") else { return Vec::new() };
    complete_path(path.trim_start()).into_iter().map(|p| format!("/file {p}")).collect()
}

/// Paths that complete `typed` (for `/file`): the files and folders in its folder (the current
/// one when it has none) whose names start with its last part, folders ending in `/`, sorted.
/// Hidden ones only when the part typed starts with a dot; names a terminal would act on never.
pub fn complete_path(typed: &str) -> Vec<String> {
    let (dir, start) = match typed.rfind('/') {
        Some(i) => (&typed[..=i], &typed[i + 1..]),
        None => ("", typed),
    };
    let listed = if dir.is_empty() {
        std::path::PathBuf::from(".")
    } else {
        crate::config::resolve::expand_tilde(std::path::Path::new(dir))
    };
    let Ok(entries) = std::fs::read_dir(listed) else { return Vec::new() };
    let mut found: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let shown = name.starts_with(start) && (start.starts_with('.') || !name.starts_with('.'));
            let safe = crate::render::sanitize(&name) == name.as_str();
            let slash = if e.file_type().is_ok_and(|t| t.is_dir()) { "/" } else { "" };
            (shown && safe).then(|| format!("{dir}{name}{slash}"))
        })
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_arguments() {
        assert_eq!(parse("/save 2 prime.py"), Ok(SlashCommand::Save(2, Some("prime.py".into()))));
        assert_eq!(parse("/save 2"), Ok(SlashCommand::Save(2, None)));
        assert_eq!(parse("/apply 1 src/a.rs"), Ok(SlashCommand::Apply(1, Some("src/a.rs".into()))));
        assert_eq!(parse("/apply 3"), Ok(SlashCommand::Apply(3, None)));
        assert_eq!(parse("/apply"), Err("usage: /apply N [PATH]".into()));
        assert_eq!(parse("/undo"), Ok(SlashCommand::Undo));
        assert_eq!(parse("/copy 3"), Ok(SlashCommand::Copy(Some(3))));
        assert_eq!(parse("/copy"), Ok(SlashCommand::Copy(None)));
        assert_eq!(parse("/system Be terse.  "), Ok(SlashCommand::System(Some("Be terse.".into()))));
        assert_eq!(parse("/model"), Ok(SlashCommand::Model(None)));
        assert_eq!(
            parse("/export json out.json"),
            Ok(SlashCommand::Export { json: true, path: Some("out.json".into()) })
        );
        assert_eq!(parse("/export notes.md"), Ok(SlashCommand::Export { json: false, path: Some("notes.md".into()) }));
        assert_eq!(parse("/export"), Ok(SlashCommand::Export { json: false, path: None }));
        assert!(parse("/copy x").unwrap_err().contains("usage"));
        assert_eq!(parse("/think"), Ok(SlashCommand::Think(None)));
        assert_eq!(parse("/think High"), Ok(SlashCommand::Think(Some(crate::engine::Reasoning::High))));
        assert!(parse("/think lots").unwrap_err().contains("usage: /think on|off|auto|low|medium|high"));
        assert!(parse("/nope").unwrap_err().contains("unknown command"));
    }

    #[test]
    fn completes_names() {
        let done = |t: &str| completions(t).into_iter().map(completed).collect::<Vec<_>>();
        assert_eq!(done("/he"), ["/help"]);
        assert_eq!(done("/th"), ["/think "]);
        assert_eq!(done("/co"), ["/copy "]);
        assert_eq!(common_start(&done("/s")), "/s", "/system, /save and /sessions share only '/s'");
        assert_eq!(common_start(&done("/rena")), "/rename ");
        assert_eq!(common_start(&["/aé".into(), "/aè".into()]), "/a", "cut at a character");
        assert!(completions("/save 1").is_empty());
    }
}
