//! The configuration file: TOML at `$XDG_CONFIG_HOME/ember/config.toml` (`EMBER_CONFIG` overrides).
//!
//! Every key is optional. Precedence, highest first: command-line flags, `EMBER_*` environment
//! variables, this file, built-in defaults. A file that does not parse, has an unknown key or a
//! value of the wrong type is an error that names the file, the line and the key: a typo in a
//! config must never be silently ignored.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The documented default configuration, printed by `ember config --default`. Every key is
/// listed (commented out) with its default value; a test keeps this in step with [`Settings`].
pub const DEFAULT_CONFIG: &str = r##"# ember's configuration: $XDG_CONFIG_HOME/ember/config.toml (`ember config --path`).
# Every key is optional; remove the leading "# " to set one. Precedence, highest first:
# command-line flags, EMBER_* environment variables, this file, the defaults shown here.

# Model: a GGUF path, a file name in models_dir, or a unique fragment of a model's name
# (see `ember models`).
# model = "SmolLM2-135M-Instruct.Q4_1.gguf"

# Where ember keeps its models (EMBER_MODELS_DIR).
# models_dir = "~/.local/share/ember/models"

# Context size in tokens; 0 means the model's own, at most 8192 (EMBER_CTX).
# ctx = 0

# CPU threads; 0 means one per physical core that other programs leave free (EMBER_THREADS).
# threads = 0

# Layers to offload to the GPU: a number, or "all" (EMBER_GPU_LAYERS). "auto" offloads all
# layers when ember was built with a GPU backend, none otherwise.
# gpu_layers = "auto"

# Flash attention: "on", "off" or "auto" (off on the CPU, where it slows long contexts down).
# flash_attn = "auto"

# Map the model file instead of reading it into memory (EMBER_MMAP). Large models start faster
# and share the page cache; but a model file overwritten in place while ember runs (cp over it)
# then kills ember, which reading prevents.
# mmap = false

# The role used when none is given (`ember roles` lists them) (EMBER_ROLE).
# role = "default"

# Syntax-highlighting theme: "dark", "light", or one of syntect's themes:
# base16-ocean.dark, base16-eighties.dark, base16-mocha.dark, base16-ocean.light,
# InspiredGitHub, "Solarized (dark)", "Solarized (light)". A .tmTheme file path works too.
# theme = "dark"

# When the next turn would not fit in the context: "drop-oldest" leaves out the oldest turns
# (the system prompt and pinned messages stay) and says so in the transcript; "summarize" also
# has the model summarise the turns that left, and keeps that summary in the context.
# context_policy = "drop-oldest"

# When turns must leave, enough of them leave to bring the prompt down to this share of the
# context (0.05 to 1), and the next turns keep that cut until it overflows again: they reuse the
# evaluated prompt instead of re-reading it every turn. 1 leaves out only what must go.
# context_drop_to = 0.5

# After a cut, move the kept turns' cache into place instead of reading them again (context
# shifting; local models whose cache llama.cpp can shift). The cut turn then starts about as fast
# as any other; the kept turns' cached values were computed with the turns that left still before
# them, which can change a reply slightly (measured in BENCHMARKS.md).
# context_shift = true

# Save conversations in the history database (EMBER_NO_HISTORY=1 or --no-history turns it off).
# history = true

# What goes to the log file ($XDG_STATE_HOME/ember/ember.log): error, warn, info, debug, trace
# (EMBER_LOG).
# log_level = "info"

[sampling]
# temperature = 0.7      # 0 is greedy: the same answer every time
# top_k = 40             # 0 disables
# top_p = 0.95           # 1.0 disables
# min_p = 0.05           # 0 disables
# repeat_penalty = 1.1   # over the last 64 tokens; 1.0 disables
# seed = 42              # unset: a different seed each run
# max_tokens = 2048      # the most tokens one answer may have
# reasoning = "auto"     # reasoning models: on, off, low, medium, high (EMBER_REASONING)
# speculate = "off"      # local model: "ngram" drafts from the conversation (experimental; EMBER_SPECULATE)

[remote]
# An OpenAI-compatible server (llama-server, vLLM, Ollama...) instead of a local model.
# endpoint = "http://127.0.0.1:8080/v1"
# model = "my-model"                 # the server's model name
# api_key_env = "OPENAI_API_KEY"     # the NAME of the variable holding the key, never the key
# ctx = 8192                         # used when the server does not report its context size
# connect_timeout = 10               # seconds
# read_timeout = 300                 # seconds
"##;

/// The whole file. Every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub model: Option<String>,
    pub models_dir: Option<PathBuf>,
    pub ctx: Option<u32>,
    pub threads: Option<u16>,
    pub gpu_layers: Option<GpuLayersSetting>,
    pub flash_attn: Option<String>,
    pub mmap: Option<bool>,
    pub role: Option<String>,
    pub theme: Option<String>,
    pub context_policy: Option<ContextPolicy>,
    pub context_drop_to: Option<f32>,
    pub context_shift: Option<bool>,
    pub history: Option<bool>,
    pub log_level: Option<String>,
    #[serde(default)]
    pub sampling: SamplingSettings,
    #[serde(default)]
    pub remote: RemoteSettings,
}

/// `gpu_layers`: a number or `"all"`/`"auto"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum GpuLayersSetting {
    Count(u32),
    Word(String),
}

/// `context_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContextPolicy {
    /// Leave out the oldest turns, keep the system prompt and pinned messages.
    DropOldest,
    /// As drop-oldest, and the model summarises the turns that left; the summary joins the
    /// system prompt.
    #[serde(alias = "summarise")]
    Summarize,
}

/// `[sampling]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingSettings {
    pub temperature: Option<f32>,
    pub top_k: Option<i32>,
    pub top_p: Option<f32>,
    pub min_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    pub seed: Option<u32>,
    pub max_tokens: Option<usize>,
    /// How much a reasoning model thinks: auto, on, off, low, medium, high.
    pub reasoning: Option<String>,
    /// Speculative decoding: off or ngram.
    pub speculate: Option<String>,
}

/// `[remote]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteSettings {
    pub endpoint: Option<String>,
    pub model: Option<String>,
    pub api_key_env: Option<String>,
    pub ctx: Option<u32>,
    pub connect_timeout: Option<u64>,
    pub read_timeout: Option<u64>,
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}, line {line}: {message}\n  Fix or remove that line (`ember config --default` shows every key).")]
    Invalid { path: PathBuf, line: usize, message: String },
}

impl Settings {
    /// Reads the file at `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|e| ConfigError::Invalid {
                    path: path.to_path_buf(),
                    line: line_of(&String::from_utf8_lossy(e.as_bytes()), e.utf8_error().valid_up_to()),
                    message: "the file is not valid UTF-8".into(),
                })?;
                Settings::parse(&text, path)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(source) => Err(ConfigError::Read { path: path.to_path_buf(), source }),
        }
    }

    /// Parses configuration text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Settings, ConfigError> {
        let settings: Settings = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            let mut message = describe(&e);
            // Name the key the error is about when the message does not ("invalid type: ...").
            let key = e.span().and_then(|_| text.lines().nth(line - 1)).and_then(|l| l.split_once('='));
            if let Some(key) = key.map(|(k, _)| k.trim()).filter(|k| !k.is_empty() && !message.contains(k)) {
                message = format!("`{key}`: {message}");
            }
            ConfigError::Invalid { path: path.to_path_buf(), line, message }
        })?;
        settings.validate(text, path)?;
        Ok(settings)
    }

    /// Checks values whose type is right but whose content is not.
    fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            line: key_line(text, key),
            message: format!("`{key}`: {message}"),
        };
        if let Some(GpuLayersSetting::Word(w)) = &self.gpu_layers {
            if !matches!(w.to_ascii_lowercase().as_str(), "all" | "auto") {
                return Err(invalid("gpu_layers", format!("expected a number, \"all\" or \"auto\", got {w:?}")));
            }
        }
        if let Some(f) = &self.flash_attn {
            if !matches!(f.to_ascii_lowercase().as_str(), "on" | "off" | "auto") {
                return Err(invalid("flash_attn", format!("expected \"on\", \"off\" or \"auto\", got {f:?}")));
            }
        }
        if let Some(level) = &self.log_level {
            if !matches!(level.to_ascii_lowercase().as_str(), "error" | "warn" | "info" | "debug" | "trace" | "off") {
                return Err(invalid(
                    "log_level",
                    format!("expected error, warn, info, debug, trace or off, got {level:?}"),
                ));
            }
        }
        if let Some(ctx) = self.ctx.filter(|&c| c != 0 && c < 16) {
            return Err(invalid("ctx", format!("{ctx} tokens is too small (at least 16, or 0 for the model's)")));
        }
        let s = &self.sampling;
        let checks: [(&str, Option<f32>, f32, f32); 4] = [
            ("temperature", s.temperature, 0.0, 100.0),
            ("top_p", s.top_p, 0.0, 1.0),
            ("min_p", s.min_p, 0.0, 1.0),
            ("repeat_penalty", s.repeat_penalty, 0.0, 100.0),
        ];
        for (key, value, lo, hi) in checks {
            if let Some(v) = value.filter(|v| !(lo..=hi).contains(v) || v.is_nan()) {
                return Err(invalid(key, format!("{v} is out of range ({lo} to {hi})")));
            }
        }
        if s.repeat_penalty == Some(0.0) {
            return Err(invalid("repeat_penalty", "must be above 0 (1.0 disables it)".into()));
        }
        if let Some(t) = self.threads.filter(|&t| t > 512) {
            return Err(invalid("threads", format!("{t} is more than ggml's 512")));
        }
        if let Some(k) = s.top_k.filter(|&k| k < 0) {
            return Err(invalid("top_k", format!("{k} is negative (0 disables top-k)")));
        }
        if let Some(r) = &s.reasoning {
            if let Err(e) = r.parse::<crate::engine::Reasoning>() {
                return Err(invalid("reasoning", e));
            }
        }
        if let Some(Err(e)) = s.speculate.as_deref().map(str::parse::<crate::engine::Speculate>) {
            return Err(invalid("speculate", e));
        }
        if s.max_tokens == Some(0) {
            return Err(invalid("max_tokens", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// toml's message, without its own "at line N, column M" header and source excerpt (we give
/// the line ourselves), made to say "key" where it says "field".
fn describe(e: &toml::de::Error) -> String {
    let message = e.message().trim().to_string();
    message.replace("unknown field", "unknown key").replace("missing field", "missing key")
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The line where `key = ...` is set (the first one), for errors found after parsing.
fn key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(1, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        Settings::parse(text, Path::new("/home/u/.config/ember/config.toml"))
    }

    fn uncommented_default() -> String {
        DEFAULT_CONFIG
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest) if rest.contains(" = ") && !rest.starts_with(' ') => rest,
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_documented_default_parses_and_sets_every_key() {
        let s = parse(&uncommented_default()).unwrap();
        assert_eq!(s.model.as_deref(), Some("SmolLM2-135M-Instruct.Q4_1.gguf"));
        assert_eq!(s.sampling.temperature, Some(0.7));
        assert_eq!(s.sampling.max_tokens, Some(2048));
        assert_eq!(s.remote.read_timeout, Some(300));
        assert_eq!(s.context_policy, Some(ContextPolicy::DropOldest));
        // Every key of every section is documented: none is left unset by the default text.
        let json = format!("{s:?}");
        assert!(!json.contains("None"), "a key is missing from DEFAULT_CONFIG: {json}");
    }

    #[test]
    fn the_summarize_policy_parses_in_either_spelling() {
        for text in ["context_policy = \"summarize\"", "context_policy = \"summarise\""] {
            assert_eq!(parse(text).unwrap().context_policy, Some(ContextPolicy::Summarize));
        }
    }

    #[test]
    fn empty_and_missing_files_are_empty_settings() {
        assert_eq!(parse("").unwrap(), Settings::default());
        let missing = Settings::load(Path::new("/nonexistent/ember/config.toml")).unwrap();
        assert_eq!(missing, Settings::default());
    }

    fn error_of(text: &str) -> (usize, String) {
        match parse(text) {
            Err(ConfigError::Invalid { line, message, .. }) => (line, message),
            other => panic!("expected an invalid-config error, got {other:?}"),
        }
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let (line, _) = error_of("model = \"a.gguf\"\nctx = 4096\nthreads = = 2\n");
        assert_eq!(line, 3);
    }

    #[test]
    fn an_unknown_key_names_the_key_and_its_line() {
        let (line, message) = error_of("model = \"a.gguf\"\n\n[sampling]\ntempreature = 0.2\n");
        assert_eq!(line, 4);
        assert!(message.contains("unknown key `tempreature`"), "{message}");
        assert!(message.contains("temperature"), "the valid keys are listed: {message}");
    }

    #[test]
    fn a_wrong_type_names_the_line() {
        let (line, message) = error_of("ctx = \"big\"\n");
        assert_eq!(line, 1);
        assert!(message.contains("integer") || message.contains("u32"), "{message}");
        let (line, _) = error_of("[sampling]\ntemperature = 0.2\ntop_k = 1.5\n");
        assert_eq!(line, 3);
        let (line, _) = error_of("history = \"yes\"\n");
        assert_eq!(line, 1);
    }

    #[test]
    fn out_of_range_values_name_the_key_and_line() {
        let (line, message) = error_of("model = \"x\"\n[sampling]\ntop_p = 1.5\n");
        assert_eq!(line, 3);
        assert!(message.contains("top_p"), "{message}");
        let (line, message) = error_of("gpu_layers = \"most\"\n");
        assert_eq!(line, 1);
        assert!(message.contains("gpu_layers"), "{message}");
        let (_, message) = error_of("context_policy = \"forget\"\n");
        assert!(message.contains("drop-oldest"), "{message}");
    }

    #[test]
    fn the_error_names_the_file() {
        let e = parse("x = 1").unwrap_err().to_string();
        assert!(e.contains("/home/u/.config/ember/config.toml"), "{e}");
        assert!(e.contains("line 1"), "{e}");
    }
}
