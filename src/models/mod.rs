//! Model files: finding them on this machine ([`discover`]), reading their headers ([`gguf`],
//! [`info`]), resolving what `--model` names, and the `ember models`, `show` and `pull` commands
//! ([`cmd`]).

pub mod cmd;
pub mod discover;
pub mod gguf;
pub mod info;
pub mod pull;
pub mod show;

use std::path::{Path, PathBuf};

use discover::{Found, Roots};

/// The model `make model` installs: SmolLM2-135M-Instruct, Q4_1.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// Its SHA-256, checked when it is installed.
pub const DEFAULT_MODEL_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// Why `--model` names no single model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "no model matches \"{name}\". Looked in:\n{}\n  `ember models` lists the models found; `ember pull` installs the default one, `ember pull URL` another.",
        indent(looked)
    )]
    NotFound { name: String, looked: Vec<String> },
    #[error("\"{name}\" matches {} models; give more of the name, or a path:\n{}", candidates.len(), indent(candidates))]
    Ambiguous { name: String, candidates: Vec<String> },
}

fn indent(lines: &[String]) -> String {
    lines.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}

/// Why a model file cannot be used, said so a user can act on it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelFileError {
    #[error("model file not found: {}\n  Get the default model with `ember pull`, or pass a GGUF file with --model PATH.", path.display())]
    NotFound { path: PathBuf },
    #[error("cannot read model file {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{} is not a GGUF model file ({reason}).\n  ember runs GGUF models; convert others with llama.cpp's convert_hf_to_gguf.py.", path.display())]
    NotGguf { path: PathBuf, reason: String },
    #[error("{} is a damaged or truncated GGUF file: {reason}\n  Download it again (for the default model: `ember pull`).", path.display())]
    Corrupt { path: PathBuf, reason: String },
}

/// Checks that `path` is a readable, complete GGUF header, turning each failure into the error a
/// user can act on. llama.cpp checks the tensor data itself when it loads.
pub fn check_model_file(path: &Path) -> Result<gguf::GgufHeader, ModelFileError> {
    if !path.exists() {
        return Err(ModelFileError::NotFound { path: path.to_path_buf() });
    }
    gguf::read_header(path).map_err(|e| match e {
        gguf::GgufError::Io(reason) => ModelFileError::Unreadable { path: path.to_path_buf(), reason },
        gguf::GgufError::NotGguf(reason) => ModelFileError::NotGguf { path: path.to_path_buf(), reason },
        gguf::GgufError::Corrupt(reason) => ModelFileError::Corrupt { path: path.to_path_buf(), reason },
    })
}

/// Resolves the model to load: `--model`/`EMBER_MODEL` if given, else the default model in the
/// models folder. See [`resolve_in`]; this searches the usual places ([`Roots::from_env`]).
pub fn resolve(model: Option<&str>, models_dir: &Path) -> Result<PathBuf, ResolveError> {
    // An empty name (`EMBER_MODEL=`) names no model: the default, not the current directory.
    match model.filter(|m| !m.trim().is_empty()) {
        None => Ok(models_dir.join(DEFAULT_MODEL_FILE)),
        Some(name) => resolve_in(name, &Roots::from_env(models_dir)),
    }
}

/// What `name` means: an existing path; a path-like name (`./x.gguf`, `/m/x.gguf`) as it is, so
/// loading it says it is missing; a file name in ember's models folder; else the one model found
/// under `roots` whose name, file name or origin is `name` or contains it (ignoring case).
pub fn resolve_in(name: &str, roots: &Roots) -> Result<PathBuf, ResolveError> {
    let path = PathBuf::from(name);
    let path_like =
        name.starts_with(['/', '.', '~']) || (name.contains('/') && name.to_ascii_lowercase().ends_with(".gguf"));
    if path.exists() || path_like {
        return Ok(path);
    }
    let in_dir = roots.ember.join(name);
    if in_dir.exists() {
        return Ok(in_dir);
    }
    let found = discover::find(roots);
    match pick(name, &found) {
        Some(Ok(f)) => Ok(f.path.clone()),
        Some(Err(candidates)) => Err(ResolveError::Ambiguous {
            name: name.to_string(),
            candidates: candidates.iter().map(|f| candidate_line(f)).collect(),
        }),
        None => Err(ResolveError::NotFound { name: name.to_string(), looked: roots.looked_in() }),
    }
}

/// One line naming a candidate: name, where it is from, path.
pub fn candidate_line(f: &Found) -> String {
    let origin = f.origin.as_deref().map(|o| format!(" {o}")).unwrap_or_default();
    format!("{}  ({}{origin})  {}", f.name, f.source, f.path.display())
}

/// The model `query` names among `found`: exact names (or file names, `origin/name`, an Ollama
/// name without its `:latest`) first, then names containing it, ignoring case. `None` when
/// nothing matches, `Some(Err(candidates))` when more than one does.
pub fn pick<'a>(query: &str, found: &'a [Found]) -> Option<Result<&'a Found, Vec<&'a Found>>> {
    let query = query.to_lowercase();
    let keys = |f: &Found| {
        let mut keys = vec![f.name.to_lowercase(), f.file_name().to_lowercase()];
        if let Some(origin) = &f.origin {
            keys.push(format!("{}/{}", origin.to_lowercase(), f.name.to_lowercase()));
        }
        if let Some(short) = f.name.strip_suffix(":latest") {
            keys.push(short.to_lowercase());
        }
        keys
    };
    let exact: Vec<&Found> = found.iter().filter(|f| keys(f).contains(&query)).collect();
    let matches = if exact.is_empty() {
        found.iter().filter(|f| keys(f).iter().any(|k| k.contains(&query))).collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [] => None,
        [one] => Some(Ok(*one)),
        _ => Some(Err(matches)),
    }
}

/// A short display name for a model file: its file name without `.gguf`.
pub fn display_name(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.strip_suffix(".gguf").unwrap_or(&name).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_model_file_is_named() {
        let err = check_model_file(Path::new("/nonexistent/m.gguf")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/m.gguf"));
        assert!(matches!(err, ModelFileError::NotFound { .. }));
    }

    #[test]
    fn default_and_named_models_resolve_in_the_models_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(resolve(None, dir.path()).unwrap(), dir.path().join(DEFAULT_MODEL_FILE));
        assert_eq!(resolve(Some(" "), dir.path()).unwrap(), dir.path().join(DEFAULT_MODEL_FILE), "empty is unset");
        std::fs::write(dir.path().join("x.gguf"), b"GGUF").unwrap();
        assert_eq!(resolve(Some("x.gguf"), dir.path()).unwrap(), dir.path().join("x.gguf"));
        assert_eq!(resolve(Some("./nope.gguf"), dir.path()).unwrap(), PathBuf::from("./nope.gguf"));
    }

    fn found(name: &str, source: discover::Source, origin: Option<&str>) -> Found {
        let path = PathBuf::from(format!("/m/{name}.gguf"));
        Found { name: name.into(), source, origin: origin.map(String::from), path: path.clone(), parts: vec![path] }
    }

    #[test]
    fn fragments_pick_one_model_or_list_the_candidates() {
        use discover::Source::*;
        let all = [
            found("Llama-3.2-1B-Instruct-Q4_K_M", HuggingFace, Some("bartowski/Llama-3.2-1B-Instruct-GGUF")),
            found("Llama-3.2-3B-Instruct-Q4_K_M", LmStudio, Some("lmstudio-community/Llama-3.2-3B-Instruct-GGUF")),
            found("llama3.2:latest", Ollama, None),
            found("qwen2.5:7b", Ollama, None),
        ];
        let name = |q: &str| pick(q, &all).map(|r| r.map(|f| f.name.clone()).map_err(|c| c.len()));
        assert_eq!(name("QWEN"), Some(Ok("qwen2.5:7b".into())));
        assert_eq!(name("3b-instruct"), Some(Ok("Llama-3.2-3B-Instruct-Q4_K_M".into())));
        // An Ollama name means its :latest, and an exact name beats the fragments it is part of.
        assert_eq!(name("llama3.2"), Some(Ok("llama3.2:latest".into())));
        assert_eq!(name("bartowski"), Some(Ok("Llama-3.2-1B-Instruct-Q4_K_M".into())));
        assert_eq!(name("llama-3.2-1b-instruct-q4_k_m.gguf"), Some(Ok("Llama-3.2-1B-Instruct-Q4_K_M".into())));
        assert_eq!(name("llama"), Some(Err(3)));
        assert_eq!(name("mistral"), None);
    }
}
