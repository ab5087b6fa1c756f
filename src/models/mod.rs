//! Finding model files: the default model, and what `--model` names.

pub mod gguf;

use std::path::{Path, PathBuf};

use crate::engine::EngineError;

/// The model `make model` installs: SmolLM2-135M-Instruct, Q4_1.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// Its SHA-256, checked when it is installed.
pub const DEFAULT_MODEL_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// Resolves the model to load: `--model`/`EMBER_MODEL` if given (a path, or a file name in the
/// models folder), else the default model in the models folder.
pub fn resolve(model: Option<&str>, models_dir: &Path) -> PathBuf {
    match model {
        None => models_dir.join(DEFAULT_MODEL_FILE),
        Some(name) => {
            let path = PathBuf::from(name);
            if path.exists() || path.components().count() > 1 {
                return path;
            }
            let in_dir = models_dir.join(name);
            if in_dir.exists() {
                in_dir
            } else {
                path
            }
        }
    }
}

/// Checks that `path` is a readable, complete GGUF header, turning each failure into the error a
/// user can act on. llama.cpp checks the tensor data itself when it loads.
pub fn check_model_file(path: &Path) -> Result<gguf::GgufHeader, EngineError> {
    if !path.exists() {
        return Err(EngineError::ModelNotFound { path: path.to_path_buf() });
    }
    gguf::read_header(path).map_err(|e| match e {
        gguf::GgufError::Io(reason) => EngineError::ModelUnreadable { path: path.to_path_buf(), reason },
        gguf::GgufError::NotGguf(reason) => EngineError::NotGguf { path: path.to_path_buf(), reason },
        gguf::GgufError::Corrupt(reason) => EngineError::CorruptModel { path: path.to_path_buf(), reason },
    })
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
    fn default_and_named_models_resolve_in_the_models_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(resolve(None, dir.path()), dir.path().join(DEFAULT_MODEL_FILE));
        std::fs::write(dir.path().join("x.gguf"), b"GGUF").unwrap();
        assert_eq!(resolve(Some("x.gguf"), dir.path()), dir.path().join("x.gguf"));
        assert_eq!(resolve(Some("./nope.gguf"), dir.path()), PathBuf::from("./nope.gguf"));
    }

    #[test]
    fn missing_file_is_named() {
        let err = check_model_file(Path::new("/nonexistent/m.gguf")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/m.gguf"));
        assert!(matches!(err, EngineError::ModelNotFound { .. }));
    }
}
