//! Where ember keeps things (XDG directories via `directories`), the configuration file, and
//! the settings in force for a run.

pub mod file;
pub mod resolve;

use std::path::{Path, PathBuf};

pub use file::{ConfigError, Settings};
pub use resolve::{Effective, Origin};

/// ember's folders. `EMBER_MODELS_DIR` overrides the models folder.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Data: models, later the conversation database (`$XDG_DATA_HOME/ember`).
    pub data_dir: PathBuf,
    /// GGUF models ember installed (`$XDG_DATA_HOME/ember/models`).
    pub models_dir: PathBuf,
    /// Logs, including llama.cpp's own (`$XDG_STATE_HOME/ember`).
    pub state_dir: PathBuf,
    /// Configuration (`$XDG_CONFIG_HOME/ember`).
    pub config_dir: PathBuf,
}

impl Paths {
    /// The platform's directories for ember; falls back to `./.ember` when no home is known.
    pub fn discover() -> Paths {
        let dirs = directories::ProjectDirs::from("", "", "ember");
        let fallback = || PathBuf::from(".ember");
        let data_dir = dirs.as_ref().map(|d| d.data_dir().to_path_buf()).unwrap_or_else(fallback);
        let state_dir =
            dirs.as_ref().and_then(|d| d.state_dir().map(PathBuf::from)).unwrap_or_else(|| data_dir.join("state"));
        let config_dir = dirs.as_ref().map(|d| d.config_dir().to_path_buf()).unwrap_or_else(fallback);
        let models_dir = std::env::var_os("EMBER_MODELS_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("models"));
        Paths { data_dir, models_dir, state_dir, config_dir }
    }

    /// The conversation history database.
    pub fn history_db(&self) -> PathBuf {
        self.data_dir.join("history.db")
    }

    /// Saved model contexts (KV caches) for instant resume.
    pub fn kv_dir(&self) -> PathBuf {
        self.data_dir.join("kv")
    }

    /// The configuration file (`--config` and `EMBER_CONFIG` choose another).
    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    /// The user's roles, which add to or override the built-in ones.
    pub fn roles_dir(&self) -> PathBuf {
        self.config_dir.join("roles")
    }

    /// The config file's `models_dir`, unless `EMBER_MODELS_DIR` is set (the environment wins).
    pub fn use_models_dir(&mut self, from_file: Option<&Path>) {
        let env_set = std::env::var_os("EMBER_MODELS_DIR").is_some_and(|v| !v.is_empty());
        if let (false, Some(dir)) = (env_set, from_file) {
            self.models_dir = resolve::expand_tilde(dir);
        }
    }

    /// The log file.
    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("ember.log")
    }
}
