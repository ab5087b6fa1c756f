//! The `ember models`, `ember show` and `ember pull` commands.
//!
//! Text bound for a terminal goes through the sanitizer (file names and metadata are untrusted);
//! piped output is tab-separated lines or JSON.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use unicode_width::UnicodeWidthStr;

use super::discover::{self, Found, Roots, Source};
use super::info::{self, ModelInfo};
use super::{pull, show};
use crate::render::sanitize;

fn say(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "ember: {}", sanitize(text));
}

fn fail(text: &str, code: u8) -> ExitCode {
    say(&format!("error: {text}"));
    ExitCode::from(code)
}

/// Writes `text` to stdout; a closed pipe (`ember models | head`) is not an error.
fn emit(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(&format!("writing the output: {e}"), 1),
    }
}

/// `ember models [--json]`: the models found under `roots`.
pub fn run_models(roots: &Roots, json: bool) -> ExitCode {
    let models = info::describe_all(&discover::find(roots));
    if models.is_empty() {
        say(&nothing_found(roots));
    }
    let text = if json {
        match serde_json::to_string_pretty(&models) {
            Ok(s) => s + "\n",
            Err(e) => return fail(&e.to_string(), 1),
        }
    } else if std::io::stdout().is_terminal() {
        table(&models)
    } else {
        tab_separated(&models)
    };
    for m in models.iter().filter(|m| m.error.is_some()) {
        say(&format!("note: {}: {}", m.path.display(), m.error.as_deref().unwrap_or_default()));
    }
    emit(&text)
}

/// What `ember models` says when it finds nothing: where it looked, and how to get a model.
pub fn nothing_found(roots: &Roots) -> String {
    let looked: Vec<String> = roots.looked_in().into_iter().map(|l| format!("  {l}")).collect();
    format!(
        "no GGUF models found. Looked in:\n{}\n  Install the default model with `ember pull` (or `make model`), or download one with `ember pull URL`.",
        looked.join("\n")
    )
}

fn source_text(m: &ModelInfo) -> String {
    match &m.origin {
        Some(origin) => format!("{} {origin}", m.source),
        None => m.source.to_string(),
    }
}

fn dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "-".into())
}

/// The table shown on a terminal: one row per model, sanitized.
pub fn table(models: &[ModelInfo]) -> String {
    let mut rows = vec![["NAME", "ARCH", "PARAMS", "QUANT", "CTX", "SIZE", "SOURCE"].map(String::from)];
    for m in models {
        let parts = if m.parts > 1 { format!(" ({} parts)", m.parts) } else { String::new() };
        rows.push(
            [
                m.name.clone(),
                dash(m.architecture.clone().or_else(|| m.error.as_ref().map(|_| "unreadable".into()))),
                dash(m.params_text()),
                dash(m.quantisation.clone()),
                dash(m.context_length.map(info::format_context)),
                info::format_bytes(m.size) + &parts,
                source_text(m),
            ]
            .map(|cell| sanitize(&cell).replace(['\n', '\t'], " ")),
        );
    }
    let widths: Vec<usize> = (0..7).map(|c| rows.iter().map(|r| r[c].width()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                line.push_str(&" ".repeat(widths[c] - cell.width() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One line per model for scripts: name, source, origin, architecture, parameters, quantisation,
/// context length, size in bytes, path; empty where unknown. Tabs and newlines inside a field
/// become spaces so the lines stay parseable; nothing else is changed.
pub fn tab_separated(models: &[ModelInfo]) -> String {
    let mut out = String::new();
    for m in models {
        let fields = [
            m.name.clone(),
            m.source.to_string(),
            m.origin.clone().unwrap_or_default(),
            m.architecture.clone().unwrap_or_default(),
            m.parameters.map(|n| n.to_string()).unwrap_or_default(),
            m.quantisation.clone().unwrap_or_default(),
            m.context_length.map(|n| n.to_string()).unwrap_or_default(),
            m.size.to_string(),
            m.path.display().to_string(),
        ];
        let fields: Vec<String> = fields.iter().map(|f| f.replace(['\t', '\n', '\r'], " ")).collect();
        out.push_str(&fields.join("\t"));
        out.push('\n');
    }
    out
}

/// The model `ember show NAME` describes: what `--model NAME` would load, described with what
/// discovery knows of it (its source and name) when discovery found it.
fn found_for(name: Option<&str>, roots: &Roots) -> Result<Found, crate::models::ResolveError> {
    let path = match name {
        Some(name) => super::resolve_in(name, roots)?,
        None => roots.ember.join(super::DEFAULT_MODEL_FILE),
    };
    let canonical = std::fs::canonicalize(&path).ok();
    let known = canonical.as_ref().and_then(|c| {
        discover::find(roots).into_iter().find(|f| std::fs::canonicalize(&f.path).ok().as_ref() == Some(c))
    });
    Ok(known.unwrap_or_else(|| Found {
        name: super::display_name(&path),
        source: if path.parent() == Some(roots.ember.as_path()) { Source::Ember } else { Source::File },
        origin: None,
        parts: vec![path.clone()],
        path,
    }))
}

/// `ember show [MODEL] [--json]`: metadata, special tokens and the chat template.
pub fn run_show(name: Option<&str>, roots: &Roots, json: bool) -> ExitCode {
    let found = match found_for(name, roots) {
        Ok(f) => f,
        Err(e @ super::ResolveError::Ambiguous { .. }) => return fail(&e.to_string(), 2),
        Err(e) => return fail(&e.to_string(), 1),
    };
    if let Err(e) = super::check_model_file(&found.path) {
        return fail(&e.to_string(), 1);
    }
    let details = match show::details(&found) {
        Ok(d) => d,
        Err(e) => return fail(&format!("{}: {e}", found.path.display()), 1),
    };
    if json {
        return match serde_json::to_string_pretty(&details) {
            Ok(s) => emit(&(s + "\n")),
            Err(e) => fail(&e.to_string(), 1),
        };
    }
    let text = show::text(&details);
    if std::io::stdout().is_terminal() {
        emit(&sanitize(&text))
    } else {
        emit(&text)
    }
}

/// `ember pull [URL] [--sha256 HEX] [--name FILE]`: the default model, or a GGUF from a URL.
pub fn run_pull(url: Option<&str>, sha256: Option<&str>, name: Option<&str>, models_dir: &Path) -> ExitCode {
    let stderr = std::io::stderr();
    let terminal = stderr.is_terminal();
    let result = match url {
        None if sha256.is_some() || name.is_some() => {
            Err(pull::PullError::Usage("--sha256 and --name go with a URL: ember pull URL --sha256 HEX".into()))
        }
        None => {
            pull::pull_default(models_dir, &mut pull::Progress::new(stderr.lock(), terminal, super::DEFAULT_MODEL_FILE))
        }
        Some(url) => {
            let label = pull::file_name_for(url, name).unwrap_or_default();
            pull::pull_url(url, sha256, name, models_dir, &mut pull::Progress::new(stderr.lock(), terminal, &label))
        }
    };
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string(), e.exit_code()),
    }
}
