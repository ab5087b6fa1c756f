//! Syntax highlighting of code with syntect, one line at a time (for streaming).

use std::sync::OnceLock;

use syntect::easy::HighlightLines;
use syntect::highlighting::{Theme, ThemeSet};
use syntect::parsing::{SyntaxReference, SyntaxSet};

use super::sanitize;

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

static THEME: OnceLock<Theme> = OnceLock::new();

/// The theme used when none is chosen.
pub const DEFAULT_THEME: &str = "base16-ocean.dark";

fn theme() -> &'static Theme {
    THEME.get_or_init(|| {
        let mut themes = ThemeSet::load_defaults().themes;
        themes.remove(DEFAULT_THEME).unwrap_or_default()
    })
}

/// The names `--theme` and the config's `theme` accept, besides a .tmTheme file's path.
pub fn theme_names() -> Vec<String> {
    let mut names: Vec<String> = ThemeSet::load_defaults().themes.into_keys().collect();
    names.sort();
    names.splice(0..0, ["dark".to_string(), "light".to_string()]);
    names
}

/// Chooses the highlighting theme, before anything is highlighted: `dark`, `light`, one of
/// syntect's theme names, or the path of a `.tmTheme` file.
pub fn set_theme(name: &str) -> Result<(), String> {
    let wanted = match name {
        "dark" => DEFAULT_THEME,
        "light" => "InspiredGitHub",
        other => other,
    };
    let mut themes = ThemeSet::load_defaults().themes;
    let theme = match themes.remove(wanted) {
        Some(theme) => theme,
        None if wanted.ends_with(".tmTheme") => {
            ThemeSet::get_theme(wanted).map_err(|e| format!("cannot load the theme file {wanted}: {e}"))?
        }
        None => {
            return Err(format!(
                "unknown theme {name:?}; the themes are: {} (or a .tmTheme file's path)",
                theme_names().join(", ")
            ))
        }
    };
    THEME.set(theme).map_err(|_| "the theme was already chosen".to_string())
}

/// The syntax for a fence's language tag (`rust`, `py`, `c++`, `sh`...), by name or extension.
pub fn syntax_for(lang: &str) -> &'static SyntaxReference {
    let set = syntaxes();
    let lang = lang.trim().to_ascii_lowercase();
    let alias = match lang.as_str() {
        "py" | "python3" => "python",
        "rs" => "rust",
        "js" | "javascript" | "jsx" | "ts" | "typescript" | "tsx" => "js",
        "sh" | "bash" | "shell" | "zsh" | "console" => "sh",
        "c++" | "cpp" | "cxx" => "cpp",
        "yml" => "yaml",
        "golang" => "go",
        other => other,
    };
    set.find_syntax_by_token(alias)
        .or_else(|| set.find_syntax_by_extension(alias))
        .unwrap_or_else(|| set.find_syntax_plain_text())
}

/// Highlights the lines of one code block as terminal text (24-bit colour escapes).
pub struct CodeHighlighter {
    lines: HighlightLines<'static>,
}

impl CodeHighlighter {
    pub fn new(lang: &str) -> Self {
        CodeHighlighter { lines: HighlightLines::new(syntax_for(lang), theme()) }
    }

    /// One line (newline included) as coloured terminal text. The code is sanitized first:
    /// only ember's own colour sequences reach the terminal.
    pub fn terminal_line(&mut self, line: &str) -> String {
        let safe = sanitize(line);
        match self.lines.highlight_line(&safe, syntaxes()) {
            Ok(ranges) => {
                let mut out = syntect::util::as_24_bit_terminal_escaped(&ranges, false);
                out.push_str("\x1b[0m");
                out
            }
            Err(_) => safe.into_owned(),
        }
    }
}

/// The syntax for a code block: by its language tag, or when there is none (or an unknown one),
/// guessed from its first line (a shebang, `<?php`, `<!DOCTYPE html>`...).
pub fn syntax_for_block(lang: &str, code: &str) -> &'static SyntaxReference {
    let by_tag = syntax_for(lang);
    if by_tag.name != "Plain Text" {
        return by_tag;
    }
    let first = code.lines().next().unwrap_or("");
    syntaxes().find_syntax_by_first_line(first).unwrap_or(by_tag)
}

/// Highlights lines of one code block as ratatui spans (for the TUI).
pub struct LineHighlighter {
    lines: HighlightLines<'static>,
}

impl LineHighlighter {
    pub fn new(lang: &str, code: &str) -> Self {
        LineHighlighter { lines: HighlightLines::new(syntax_for_block(lang, code), theme()) }
    }

    /// One line (already sanitized, without its newline) as coloured spans.
    pub fn spans(&mut self, line: &str) -> Vec<ratatui::text::Span<'static>> {
        // syntect's newline-aware syntaxes want the newline to keep their state right.
        let with_newline = format!("{line}\n");
        match self.lines.highlight_line(&with_newline, syntaxes()) {
            Ok(ranges) => ranges
                .into_iter()
                .filter_map(|(style, text)| {
                    let text = text.trim_end_matches('\n');
                    (!text.is_empty()).then(|| {
                        let fg = style.foreground;
                        ratatui::text::Span::styled(text.to_string(), super::theme::syntax(fg.r, fg.g, fg.b))
                    })
                })
                .collect(),
            Err(_) => vec![ratatui::text::Span::raw(line.to_string())],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_resolve_by_alias() {
        assert_eq!(syntax_for("py").name, "Python");
        assert_eq!(syntax_for("rust").name, "Rust");
        assert_eq!(syntax_for("bash").name, "Bourne Again Shell (bash)");
        assert_eq!(syntax_for("no-such-lang").name, "Plain Text");
        assert_eq!(syntax_for_block("", "#!/usr/bin/env python3\nprint(1)\n").name, "Python");
        assert_eq!(syntax_for_block("", "just text").name, "Plain Text");
    }

    #[test]
    fn highlighted_line_has_colour_but_no_foreign_escapes() {
        let mut h = CodeHighlighter::new("python");
        let out = h.terminal_line("def f(x): return '\x1b[2J'\n");
        assert!(out.contains("\x1b[38;2;"), "expected colour: {out:?}");
        assert!(!out.contains("\x1b[2J"), "model escape leaked: {out:?}");
        assert!(out.contains("␛[2J"));
    }
}
