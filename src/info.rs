//! Text for the informational subcommands: `ember roles`, `ember config`, `ember doctor`.

use std::fmt::Write as _;
use std::path::Path;

use crate::config::{Effective, Paths};
use crate::engine::llama::CpuBackend;
use crate::models::gguf;
use crate::roles::{self, Source};

/// `ember roles`: one line per role. On a terminal an aligned table, piped `name<TAB>description`.
pub fn roles(user_dir: &Path, terminal: bool) -> Result<String, roles::RoleError> {
    let roles = roles::load_all(user_dir)?;
    let width = roles.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for role in &roles {
        let mark = match &role.source {
            Source::Builtin => String::new(),
            Source::File(p) => format!("  ({})", p.display()),
        };
        if terminal {
            let _ = writeln!(out, "{:width$}  {}{mark}", role.name, role.description);
        } else {
            let _ = writeln!(out, "{}\t{}", role.name, role.description);
        }
    }
    if terminal {
        let _ = writeln!(
            out,
            "\nUse one with --role NAME (or /role NAME in the chat). Add or override roles as Markdown files in {}.",
            user_dir.display()
        );
    }
    Ok(out)
}

/// `ember config`: the settings in force and where each came from.
pub fn config_report(config_path: &Path, effective: &Effective) -> String {
    let exists = if config_path.exists() { "" } else { " (not present: defaults apply)" };
    let mut out = format!("# config file: {}{exists}\n", config_path.display());
    let width = effective.report.iter().map(|(k, v, _)| k.len() + v.len() + 3).max().unwrap_or(0);
    for (key, value, origin) in &effective.report {
        let line = format!("{key} = {value}");
        let _ = writeln!(out, "{line:width$}  # {origin}");
    }
    out
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `ember doctor`: what llama.cpp sees and where ember keeps things.
pub fn doctor(paths: &Paths, config_path: &Path, effective: &Effective, model: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "ember {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "build features: {}", build_features());
    let physical = crate::engine::llama::default_threads();
    let _ = writeln!(
        out,
        "threads: {}; {physical} physical cores, {} logical",
        threads(effective, physical),
        num_cpus::get()
    );
    let (file_size, layers) = model_section(&mut out, model);
    devices_section(&mut out, file_size, layers);
    let _ = writeln!(out, "gpu layers: {:?}", effective.gpu_layers);
    places_section(&mut out, paths, config_path, effective);
    out
}

/// The GPU backends this build has, or what to build with for one.
fn build_features() -> String {
    let features: Vec<&str> =
        [(cfg!(feature = "cuda"), "cuda"), (cfg!(feature = "metal"), "metal"), (cfg!(feature = "vulkan"), "vulkan")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
    if features.is_empty() {
        "none (CPU only; build with --features cuda, metal or vulkan for a GPU)".to_string()
    } else {
        features.join(", ")
    }
}

/// How many threads generation uses, and why.
fn threads(effective: &Effective, physical: usize) -> String {
    match effective.threads {
        Some(n) => format!("{n} (set)"),
        None => {
            // A short look at what else runs, as a model load gives the engine.
            crate::engine::cpu_load::mark();
            std::thread::sleep(std::time::Duration::from_millis(200));
            match crate::engine::cpu_load::default_threads(physical) {
                (n, Some(others)) => format!(
                    "{n} now (one per physical core that other programs leave free; they keep {others:.1} cores busy)"
                ),
                (n, None) => format!("{n} (one per physical core)"),
            }
        }
    }
}

/// The model: its size, architecture, layers and trained context. Returns its size in bytes
/// (0 when unreadable) and its layer count, which say how much of it a device could hold.
fn model_section(out: &mut String, model: &Path) -> (u64, Option<u64>) {
    let _ = writeln!(out, "\nmodel: {}", model.display());
    match gguf::read_header(model) {
        Ok(h) => {
            let size = std::fs::metadata(model).map(|m| m.len()).unwrap_or(0);
            let arch = h.architecture().unwrap_or("?").to_string();
            let layers = h.get_u64(&format!("{arch}.block_count"));
            let _ = writeln!(
                out,
                "  {} · architecture {arch} · {} layers · trained context {}",
                mib(size),
                layers.map_or("?".to_string(), |l| l.to_string()),
                h.context_length().map_or("?".to_string(), |c| c.to_string())
            );
            (size, layers)
        }
        Err(e) => {
            let _ = writeln!(out, "  cannot read it: {e}");
            (0, None)
        }
    }
}

/// The compute devices llama.cpp sees, with how many of the model's layers each GPU could hold.
fn devices_section(out: &mut String, file_size: u64, layers: Option<u64>) {
    let _ = writeln!(out, "\ncompute devices llama.cpp sees:");
    match crate::engine::llama::device_report() {
        Ok(devices) if devices.is_empty() => {
            let _ = writeln!(out, "  none");
        }
        Ok(devices) => {
            let _ = writeln!(out, "{}", cpu_backend_line(&crate::engine::llama::cpu_backend()));
            for d in devices {
                let _ = writeln!(
                    out,
                    "  {} ({}, {}): {}{} free of {}",
                    d.name,
                    d.backend,
                    d.kind,
                    if d.description.is_empty() { String::new() } else { format!("{} · ", d.description) },
                    mib(d.memory_free as u64),
                    mib(d.memory_total as u64)
                );
                if d.kind != "cpu" {
                    if let (Some(layers), true) = (layers, file_size > 0) {
                        let _ = writeln!(out, "{}", layers_that_fit(d.memory_free as u64, file_size, layers));
                    }
                }
            }
        }
        Err(e) => {
            let _ = writeln!(out, "  cannot initialise llama.cpp: {e}");
        }
    }
}

/// `CPU backend: zen4, chosen on start from 14 variants (PATH): SSE42 AVX ...`: which CPU code
/// llama.cpp runs and the instruction sets it uses.
pub fn cpu_backend_line(backend: &CpuBackend) -> String {
    let sets = |features: &[&str]| {
        if features.is_empty() {
            "no extension beyond the architecture's baseline".to_string()
        } else {
            features.join(" ")
        }
    };
    match backend {
        CpuBackend::BuiltIn { target_cpu, features } => {
            let built_for = match *target_cpu {
                "" => "the architecture's baseline (no target-cpu)".to_string(),
                "native" => "the build machine's CPU (target-cpu=native)".to_string(),
                cpu => format!("target-cpu={cpu}"),
            };
            format!("  CPU backend: built in, for {built_for}: {}", sets(features))
        }
        CpuBackend::Loaded { variant, library, others, features } => format!(
            "  CPU backend: {variant}, chosen on start for this CPU from {} variants ({}): {}",
            others + 1,
            library.display(),
            features.map_or_else(|| "the instruction sets its name says".to_string(), sets)
        ),
        CpuBackend::Missing { dir } => {
            format!("  CPU backend: none loaded: {}", crate::engine::llama::no_cpu_backend(dir, 0))
        }
    }
}

/// `    the model's weights fit: 12 of 24 layers (--gpu-layers N)` for a device with `free` bytes.
fn layers_that_fit(free: u64, file_size: u64, layers: u64) -> String {
    // Weights only; the context (KV cache) needs room too.
    let per_layer = file_size / (layers + 1).max(1);
    let fit = (free.saturating_mul(9) / 10 / per_layer.max(1)).min(layers);
    format!(
        "    the model's weights fit: {fit} of {layers} layers{}",
        if fit == layers { " (all: --gpu-layers all)" } else { " (--gpu-layers N)" }
    )
}

/// Where ember keeps its config, roles, models, history, saved contexts and log.
fn places_section(out: &mut String, paths: &Paths, config_path: &Path, effective: &Effective) {
    let status = if !config_path.exists() { "not present: defaults apply" } else { "valid" };
    let _ = writeln!(out, "\nconfig:   {} ({status})", config_path.display());
    let _ = writeln!(out, "roles:    {}", paths.roles_dir().display());
    let _ = writeln!(out, "models:   {}", paths.models_dir.display());
    let _ =
        writeln!(out, "history:  {}{}", paths.history_db().display(), if effective.history { "" } else { " (off)" });
    let _ = writeln!(out, "contexts: {}", paths.kv_dir().display());
    let _ = writeln!(out, "log:      {}", paths.log_file().display());
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn the_cpu_backend_line_names_the_variant_and_its_instruction_sets() {
        let loaded = CpuBackend::Loaded {
            variant: "haswell".into(),
            library: PathBuf::from("/opt/ember/libggml-cpu-haswell.so"),
            others: 13,
            features: Some(&["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2"]),
        };
        assert_eq!(
            cpu_backend_line(&loaded),
            "  CPU backend: haswell, chosen on start for this CPU from 14 variants \
             (/opt/ember/libggml-cpu-haswell.so): SSE42 AVX F16C FMA AVX2 BMI2"
        );
        let unknown = CpuBackend::Loaded {
            variant: "riscv64_v".into(),
            library: PathBuf::from("/e/libggml-cpu-riscv64_v.so"),
            others: 0,
            features: None,
        };
        assert!(cpu_backend_line(&unknown)
            .ends_with("from 1 variants (/e/libggml-cpu-riscv64_v.so): the instruction sets its name says"));
        let baseline = CpuBackend::Loaded {
            variant: "x64".into(),
            library: PathBuf::from("/e/libggml-cpu-x64.so"),
            others: 13,
            features: Some(&[]),
        };
        assert!(cpu_backend_line(&baseline).ends_with(": no extension beyond the architecture's baseline"));
    }

    #[test]
    fn a_built_in_backend_says_what_it_was_built_for() {
        let native = CpuBackend::BuiltIn { target_cpu: "native", features: vec!["AVX2", "AVX512"] };
        assert_eq!(
            cpu_backend_line(&native),
            "  CPU backend: built in, for the build machine's CPU (target-cpu=native): AVX2 AVX512"
        );
        let baseline = CpuBackend::BuiltIn { target_cpu: "", features: vec![] };
        assert_eq!(
            cpu_backend_line(&baseline),
            "  CPU backend: built in, for the architecture's baseline (no target-cpu): \
             no extension beyond the architecture's baseline"
        );
        let named = CpuBackend::BuiltIn { target_cpu: "x86-64-v3", features: vec!["AVX2"] };
        assert_eq!(cpu_backend_line(&named), "  CPU backend: built in, for target-cpu=x86-64-v3: AVX2");
    }

    #[test]
    fn a_missing_backend_says_what_to_do() {
        let missing = CpuBackend::Missing { dir: PathBuf::from("/opt/ember") };
        assert_eq!(
            cpu_backend_line(&missing),
            "  CPU backend: none loaded: no CPU backend library (libggml-cpu-*.so) beside the binary in \
             /opt/ember; keep the libraries from the release archive next to ember"
        );
    }
}
