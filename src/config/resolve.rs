//! The settings in force for one run: flags > `EMBER_*` environment > config file > role >
//! defaults, each value with where it came from (`ember config` prints them).
//!
//! A role's sampling values sit between the config file and the flags: choosing `--role coder`
//! lowers the temperature even when the file sets one, but `-t 1` still wins.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::parser::ValueSource;
use clap::ArgMatches;

use super::file::{ContextPolicy, GpuLayersSetting, RemoteSettings, SamplingSettings, Settings};
use crate::cli::{parse_flash_attention, parse_gpu_layers, Cli};
use crate::engine::constraint::{Constraint, ConstraintError};
use crate::engine::llama::GpuLayers;
use crate::engine::{SamplingParams, Speculate};
use crate::roles::{self, Role, RoleError, SamplingOverrides};

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Env(&'static str),
    File,
    Role,
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag => f.write_str("command line"),
            Origin::Env(name) => write!(f, "environment ({name})"),
            Origin::File => f.write_str("config file"),
            Origin::Role => f.write_str("role"),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// The settings for this run.
#[derive(Debug, Clone)]
pub struct Effective {
    pub model: Option<String>,
    pub ctx: Option<u32>,
    pub threads: Option<u16>,
    pub gpu_layers: GpuLayers,
    pub flash_attention: Option<bool>,
    pub mmap: bool,
    pub role: Role,
    /// Whether the role was asked for (flag, environment or file) rather than the default.
    pub role_chosen: bool,
    pub vars: BTreeMap<String, String>,
    pub theme: Option<String>,
    pub context_policy: ContextPolicy,
    /// The share of the context a cut brings the prompt down to (`context_drop_to`).
    pub context_drop_to: f32,
    /// Shift the kept turns' cache after a cut (`context_shift`).
    pub context_shift: bool,
    pub history: bool,
    pub log_level: Option<String>,
    /// The seed, when one was set anywhere; otherwise each run draws its own.
    pub seed: Option<u32>,
    /// The sampling settings for this run's role.
    pub sampling: SamplingParams,
    /// Defaults with the config file's values: what a role's values apply onto.
    pub base_sampling: SamplingParams,
    /// The flags' and environment's values, which beat any role's.
    pub flag_sampling: SamplingOverrides,
    pub remote: RemoteSettings,
    /// `(key, value, origin)` for `ember config`.
    pub report: Vec<(String, String, Origin)>,
}

/// Settings that cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Role(#[from] RoleError),
    #[error(transparent)]
    Constraint(#[from] ConstraintError),
    #[error("invalid config file {path}: `{key}`: {message}")]
    Value { path: PathBuf, key: &'static str, message: String },
}

fn origin(matches: &ArgMatches, id: &str, env: &'static str) -> Origin {
    match matches.value_source(id) {
        Some(ValueSource::EnvVariable) => Origin::Env(env),
        _ => Origin::Flag,
    }
}

struct Picker<'a> {
    matches: &'a ArgMatches,
    report: Vec<(String, String, Origin)>,
}

impl Picker<'_> {
    /// The flag (or its environment variable), else the file's value, else the default.
    fn pick<T: Clone + fmt::Debug>(
        &mut self,
        key: &str,
        id: &str,
        env: &'static str,
        flag: Option<T>,
        file: Option<T>,
        default: Option<T>,
    ) -> Option<T> {
        let (value, from) = match (flag, file) {
            (Some(v), _) => (Some(v), origin(self.matches, id, env)),
            (None, Some(v)) => (Some(v), Origin::File),
            (None, None) => (default, Origin::Default),
        };
        let shown = value.as_ref().map_or_else(|| "(unset)".to_string(), |v| format!("{v:?}"));
        self.report.push((key.to_string(), shown, from));
        value
    }
}

impl Picker<'_> {
    /// Where a layered value came from: the flag (or its environment variable), else the role,
    /// else the file, else the default.
    fn layered_origin(&self, flag: bool, role: bool, file: bool, id: &str, env: &'static str) -> Origin {
        match (flag, role, file) {
            (true, _, _) => origin(self.matches, id, env),
            (false, true, _) => Origin::Role,
            (false, false, true) => Origin::File,
            (false, false, false) => Origin::Default,
        }
    }

    /// `EMBER_LOG` when set, else the file's `log_level`.
    fn log_level(&mut self, file: &Settings) -> Option<String> {
        match std::env::var("EMBER_LOG").ok().filter(|v| !v.is_empty()) {
            Some(v) => {
                self.report.push(("log_level".into(), format!("{v:?}"), Origin::Env("EMBER_LOG")));
                Some(v)
            }
            None => self.pick("log_level", "", "", None, file.log_level.clone(), None),
        }
    }

    /// Sampling: defaults, then the file, then the role, then flags and environment. Returns the
    /// defaults with the file's values (what a role's values apply onto), the flags' values and
    /// the seed when one was set anywhere.
    fn sampling(
        &mut self,
        cli: &Cli,
        fs: &SamplingSettings,
        rs: &SamplingOverrides,
    ) -> (SamplingParams, SamplingOverrides, Option<u32>) {
        let mut base = SamplingParams::default();
        let flags = flag_sampling(cli);
        macro_rules! sample {
            ($field:ident, $env:literal) => {{
                let (flag, role, file) = (flags.$field.is_some(), rs.$field.is_some(), fs.$field.is_some());
                let from = self.layered_origin(flag, role, file, stringify!($field), $env);
                if let Some(v) = fs.$field {
                    base.$field = v;
                }
                let value = flags.$field.or(rs.$field).unwrap_or(base.$field);
                self.report.push((format!("sampling.{}", stringify!($field)), format!("{value:?}"), from));
            }};
        }
        sample!(temperature, "EMBER_TEMPERATURE");
        sample!(top_k, "EMBER_TOP_K");
        sample!(top_p, "EMBER_TOP_P");
        sample!(min_p, "EMBER_MIN_P");
        sample!(repeat_penalty, "EMBER_REPEAT_PENALTY");
        sample!(max_tokens, "EMBER_MAX_TOKENS");
        // Validated when the file was read.
        if let Some(r) = fs.reasoning.as_deref().and_then(|r| r.parse().ok()) {
            base.reasoning = r;
        }
        let reasoning = flags.reasoning.or(rs.reasoning).unwrap_or(base.reasoning);
        let (flag, role, file) = (flags.reasoning.is_some(), rs.reasoning.is_some(), fs.reasoning.is_some());
        let from = self.layered_origin(flag, role, file, "reasoning", "EMBER_REASONING");
        self.report.push(("sampling.reasoning".into(), reasoning.as_str().into(), from));
        let file_speculate = fs.speculate.as_deref().and_then(|s| s.parse().ok());
        let speculate = self.pick(
            "sampling.speculate",
            "speculate",
            "EMBER_SPECULATE",
            cli.speculate,
            file_speculate,
            Some(Speculate::Off),
        );
        base.speculate = speculate.unwrap_or_default();
        let seed = self.pick("sampling.seed", "seed", "EMBER_SEED", cli.seed, fs.seed, None);
        if let Some(seed) = seed {
            base.seed = seed;
        }
        (base, flags, seed)
    }
}

/// The sampling values given as flags or `EMBER_*` variables.
fn flag_sampling(cli: &Cli) -> SamplingOverrides {
    SamplingOverrides {
        temperature: cli.temperature,
        top_k: cli.top_k,
        top_p: cli.top_p,
        min_p: cli.min_p,
        repeat_penalty: cli.repeat_penalty,
        max_tokens: cli.max_tokens.map(|n| n as usize),
        reasoning: cli.reasoning,
        constraint: None,
    }
}

/// The file's `context_drop_to`: a share of the context from 0.05 to 1.
fn check_drop_to(share: f32) -> Result<f32, String> {
    if (0.05..=1.0).contains(&share) {
        Ok(share)
    } else {
        Err(format!("{share} is not a share of the context from 0.05 to 1 (0.5 cuts the prompt to half of it)"))
    }
}

/// The file's `gpu_layers`, a count or a word (`auto`, `all`).
fn file_gpu_layers(file: &Settings) -> Result<Option<GpuLayers>, String> {
    match &file.gpu_layers {
        Some(GpuLayersSetting::Count(n)) => Ok(Some(GpuLayers::Count(*n))),
        Some(GpuLayersSetting::Word(w)) => parse_gpu_layers(w).map(Some),
        None => Ok(None),
    }
}

impl Effective {
    /// Resolves the settings. `matches` are the ones `cli` was parsed from (they tell a flag
    /// from an environment variable); `roles_dir` holds the user's roles.
    pub fn resolve(
        cli: &Cli,
        matches: &ArgMatches,
        file: &Settings,
        file_path: &Path,
        roles_dir: &Path,
    ) -> Result<Effective, ResolveError> {
        let mut p = Picker { matches, report: Vec::new() };
        let bad =
            |key: &'static str, message: String| ResolveError::Value { path: file_path.to_path_buf(), key, message };
        let model = p.pick("model", "model", "EMBER_MODEL", cli.model.clone(), file.model.clone(), None);
        let ctx = p.pick("ctx", "ctx", "EMBER_CTX", cli.ctx, file.ctx.filter(|&c| c != 0), None);
        let threads =
            p.pick("threads", "threads", "EMBER_THREADS", cli.threads, file.threads.filter(|&t| t != 0), None);
        let file_gpu = file_gpu_layers(file).map_err(|m| bad("gpu_layers", m))?;
        let gpu_layers = p
            .pick("gpu_layers", "gpu_layers", "EMBER_GPU_LAYERS", cli.gpu_layers, file_gpu, Some(GpuLayers::Auto))
            .unwrap_or(GpuLayers::Auto);
        let file_fa =
            file.flash_attn.as_deref().map(parse_flash_attention).transpose().map_err(|m| bad("flash_attn", m))?;
        let flash_attention = p.pick("flash_attn", "flash_attn", "", cli.flash_attn, file_fa, None).and_then(|f| f.0);
        let mmap = p.pick("mmap", "mmap", "EMBER_MMAP", cli.mmap, file.mmap, Some(false)).unwrap_or(false);
        let role_name = p.pick("role", "role", "EMBER_ROLE", cli.role.clone(), file.role.clone(), None);
        let role_chosen = role_name.is_some();
        let role = roles::find(roles_dir, role_name.as_deref().unwrap_or("default"))?;
        let theme = p.pick("theme", "theme", "EMBER_THEME", cli.theme.clone(), file.theme.clone(), None);
        let context_policy = p
            .pick("context_policy", "", "", None, file.context_policy, Some(ContextPolicy::DropOldest))
            .unwrap_or(ContextPolicy::DropOldest);
        let file_drop_to =
            file.context_drop_to.map(check_drop_to).transpose().map_err(|m| bad("context_drop_to", m))?;
        let context_drop_to = p
            .pick("context_drop_to", "", "", None, file_drop_to, Some(crate::engine::fit::DEFAULT_DROP_TO))
            .unwrap_or(crate::engine::fit::DEFAULT_DROP_TO);
        let context_shift = p
            .pick("context_shift", "", "", None, file.context_shift, Some(crate::engine::llama::DEFAULT_CONTEXT_SHIFT))
            .unwrap_or(crate::engine::llama::DEFAULT_CONTEXT_SHIFT);
        let no_history = cli.no_history.map(|off| !off);
        let history =
            p.pick("history", "no_history", "EMBER_NO_HISTORY", no_history, file.history, Some(true)).unwrap_or(true);
        let log_level = p.log_level(file);
        let (base, mut flags, seed) = p.sampling(cli, &file.sampling, &role.sampling);
        flags.constraint =
            Constraint::from_flags(cli.json, cli.json_schema.as_deref(), cli.grammar.as_deref())?.map(Arc::new);
        let sampling = sampling_with(&base, &role, &flags);
        Ok(Effective {
            model,
            ctx,
            threads,
            gpu_layers,
            flash_attention,
            mmap,
            role,
            role_chosen,
            vars: cli.vars.iter().cloned().collect(),
            theme,
            context_policy,
            context_drop_to,
            context_shift,
            history,
            log_level,
            seed,
            sampling,
            base_sampling: base,
            flag_sampling: flags,
            remote: file.remote.clone(),
            report: p.report,
        })
    }
}

/// The sampling settings with `role` chosen: `base`, then the role's values, then `flags`.
pub fn sampling_with(base: &SamplingParams, role: &Role, flags: &SamplingOverrides) -> SamplingParams {
    let mut params = base.clone();
    role.sampling.apply(&mut params);
    flags.apply(&mut params);
    params
}

/// `~/x` to `$HOME/x` (config files are written by hand).
pub fn expand_tilde(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), directories::BaseDirs::new()) {
        (Ok(rest), Some(base)) => base.home_dir().join(rest),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    fn resolve(args: &[&str], file: &str) -> Effective {
        let matches = Cli::command().try_get_matches_from(args).unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let settings = Settings::parse(file, Path::new("c.toml")).unwrap();
        Effective::resolve(&cli, &matches, &settings, Path::new("c.toml"), Path::new("/nonexistent")).unwrap()
    }

    fn origin_of(e: &Effective, key: &str) -> Origin {
        e.report.iter().find(|(k, _, _)| k == key).map(|(_, _, o)| *o).unwrap()
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let e = resolve(&["ember"], "");
        assert_eq!(e.sampling.temperature, SamplingParams::default().temperature);
        assert_eq!(e.role.name, "default");
        assert!(!e.role_chosen);
        assert!(e.history);
        assert_eq!(e.seed, None);
        assert_eq!(origin_of(&e, "sampling.temperature"), Origin::Default);
    }

    #[test]
    fn the_file_then_the_role_then_the_flag() {
        let file =
            "ctx = 4096\nrole = \"coder\"\nhistory = false\n[sampling]\ntemperature = 0.9\ntop_k = 7\nseed = 3\n";
        let e = resolve(&["ember"], file);
        assert_eq!(e.ctx, Some(4096));
        assert_eq!(e.role.name, "coder");
        assert!(!e.history);
        // coder sets temperature 0.2, which beats the file's 0.9; top_k is only in the file.
        assert_eq!(e.sampling.temperature, 0.2);
        assert_eq!(origin_of(&e, "sampling.temperature"), Origin::Role);
        assert_eq!(e.sampling.top_k, 7);
        assert_eq!(origin_of(&e, "sampling.top_k"), Origin::File);
        assert_eq!((e.seed, e.sampling.seed), (Some(3), 3));
        let e = resolve(&["ember", "-t", "1.5", "--ctx", "512", "--role", "default", "--no-history=false"], file);
        assert_eq!(e.sampling.temperature, 1.5);
        assert_eq!(origin_of(&e, "sampling.temperature"), Origin::Flag);
        assert_eq!(e.ctx, Some(512));
        assert_eq!(e.role.name, "default");
        assert!(e.history, "--no-history=false beats the file's history = false");
        assert_eq!(e.sampling.temperature, 1.5);
    }

    #[test]
    fn gpu_layers_and_flash_attention_from_the_file() {
        let e = resolve(&["ember"], "gpu_layers = 12\nflash_attn = \"on\"\n");
        assert_eq!(e.gpu_layers, GpuLayers::Count(12));
        assert_eq!(e.flash_attention, Some(true));
        let e =
            resolve(&["ember", "--gpu-layers", "all", "--flash-attn", "off"], "gpu_layers = 12\nflash_attn = \"on\"\n");
        assert_eq!(e.gpu_layers, GpuLayers::All);
        assert_eq!(e.flash_attention, Some(false));
    }

    #[test]
    fn an_unknown_role_lists_the_known_ones() {
        let matches = Cli::command().try_get_matches_from(["ember", "--role", "poet"]).unwrap();
        let cli = Cli::from_arg_matches(&matches).unwrap();
        let err = Effective::resolve(&cli, &matches, &Settings::default(), Path::new("c"), Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no role named \"poet\"") && err.contains("coder"), "{err}");
    }

    #[test]
    fn tilde_expands_to_home() {
        let home = directories::BaseDirs::new().unwrap().home_dir().to_path_buf();
        assert_eq!(expand_tilde(Path::new("~/models")), home.join("models"));
        assert_eq!(expand_tilde(Path::new("/abs")), PathBuf::from("/abs"));
    }
}
