//! Which CPU code llama.cpp runs, for `ember doctor`.
//!
//! A native build (`make run`) has one CPU backend built in, compiled for the instruction sets
//! that `-C target-cpu` gave the build (see `.cargo/config.toml`). The portable build
//! (`make dist`, feature `portable`) carries one CPU backend library per instruction-set level,
//! `libggml-cpu-<variant>.so`, next to the binary; [`load_variants`] asks llama.cpp to load the
//! best one for this CPU before the backend starts.

use std::path::{Path, PathBuf};

/// The CPU code llama.cpp runs: how it was chosen, and the instruction sets it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuBackend {
    /// Compiled into the binary for `target_cpu` (`native`, a CPU name, or empty for the
    /// architecture's baseline).
    BuiltIn { target_cpu: &'static str, features: Vec<&'static str> },
    /// A variant library chosen on start; `features` is `None` for a variant this ember does not
    /// know (a newer llama.cpp), whose name then says what it uses.
    Loaded { variant: String, library: PathBuf, others: usize, features: Option<&'static [&'static str]> },
    /// The portable build found no CPU backend library to load from `dir`.
    Missing { dir: PathBuf },
}

/// The CPU backend of this process (call after the llama.cpp backend is initialised).
pub fn cpu_backend() -> CpuBackend {
    if cfg!(feature = "portable") {
        loaded_backend()
    } else {
        CpuBackend::BuiltIn { target_cpu: env!("EMBER_TARGET_CPU"), features: built_in_features() }
    }
}

/// The folder this binary sits in, where a release archive puts the backend libraries.
fn binary_dir() -> Option<PathBuf> {
    std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf))
}

/// Loads llama.cpp's backend libraries (the best CPU variant for this CPU, and any GPU backend
/// built alongside): from the binary's folder when they sit there, otherwise from the folder
/// llama-cpp-sys-2 built them into (a binary run from the build tree). A no-op in a native build,
/// whose CPU backend is built in. Fails, saying what to do, when no CPU backend could be loaded.
pub(super) fn load_variants() -> Result<(), String> {
    #[cfg(feature = "portable")]
    {
        use llama_cpp_2::llama_backend::{load_backends, load_backends_from_path};
        // llama-cpp-2 panics on a path that is not UTF-8: such a folder is not used.
        match binary_dir().filter(|dir| count_variants(dir) > 0 && dir.to_str().is_some()) {
            Some(dir) => load_backends_from_path(&dir),
            None => load_backends(),
        }
        let cpu = llama_cpp_2::list_llama_ggml_backend_devices()
            .iter()
            .any(|d| matches!(d.device_type, llama_cpp_2::LlamaBackendDeviceType::Cpu));
        if !cpu {
            let dir = binary_dir().unwrap_or_default();
            return Err(no_cpu_backend(&dir, count_variants(&dir)));
        }
    }
    Ok(())
}

/// Why no CPU backend loaded from `dir`, which holds `variants` CPU libraries, and what to do.
pub fn no_cpu_backend(dir: &Path, variants: usize) -> String {
    if variants == 0 {
        format!(
            "no CPU backend library (libggml-cpu-*.so) beside the binary in {}; keep the libraries from the \
             release archive next to ember",
            dir.display()
        )
    } else {
        format!(
            "none of the {variants} CPU backend libraries beside the binary in {} runs on this CPU (on x86-64, the \
             release archive's oldest needs SSE4.2, an x86-64-v2 CPU); build ember from source for this \
             machine instead: cargo install --locked --path .",
            dir.display()
        )
    }
}

/// How many CPU variant libraries `dir` holds.
fn count_variants(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.filter_map(Result::ok).filter(|e| variant_name(&e.file_name().to_string_lossy()).is_some()).count()
        })
        .unwrap_or(0)
}

/// The variant the portable build loaded, found among the libraries mapped into this process.
fn loaded_backend() -> CpuBackend {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    match loaded_library(&maps) {
        Some(library) => {
            let variant = library
                .file_name()
                .and_then(|n| variant_name(&n.to_string_lossy()).map(str::to_string))
                .unwrap_or_default();
            let others = library.parent().map_or(0, count_variants).saturating_sub(1);
            let features = variant_features(&variant);
            CpuBackend::Loaded { variant, library, others, features }
        }
        None => CpuBackend::Missing { dir: binary_dir().unwrap_or_default() },
    }
}

/// The CPU variant library among the mappings of `/proc/self/maps` (llama.cpp opens each variant
/// to score it and keeps only the one it chose).
fn loaded_library(maps: &str) -> Option<PathBuf> {
    maps.lines().filter_map(|line| line.split_whitespace().nth(5)).map(Path::new).find_map(|path| {
        let name = path.file_name()?.to_string_lossy();
        variant_name(&name).map(|_| path.to_path_buf())
    })
}

/// `haswell` for `libggml-cpu-haswell.so`; `None` for any other file name.
fn variant_name(file_name: &str) -> Option<&str> {
    file_name.strip_prefix("libggml-cpu-")?.strip_suffix(".so").filter(|v| !v.is_empty())
}

/// The instruction sets each CPU variant is compiled with, as llama.cpp's
/// `ggml/src/CMakeLists.txt` lists them (`ggml_add_cpu_backend_variant`), in ggml's names.
fn variant_features(variant: &str) -> Option<&'static [&'static str]> {
    const HASWELL: [&str; 6] = ["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2"];
    Some(match variant {
        "x64" | "armv8.0_1" => &[],
        "sse42" => &HASWELL[..1],
        "sandybridge" => &HASWELL[..2],
        "ivybridge" => &HASWELL[..3],
        "piledriver" => &HASWELL[..4],
        "haswell" => &HASWELL,
        "skylakex" => &["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512"],
        "cannonlake" => &["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VBMI"],
        "cascadelake" => &["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VNNI"],
        "icelake" => &["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VBMI", "AVX512_VNNI"],
        "cooperlake" => &["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VNNI", "AVX512_BF16"],
        "zen4" => &ZEN4,
        "sapphirerapids" => &[
            "SSE42",
            "AVX",
            "F16C",
            "FMA",
            "AVX2",
            "BMI2",
            "AVX512",
            "AVX512_VBMI",
            "AVX512_VNNI",
            "AVX512_BF16",
            "AMX_TILE",
            "AMX_INT8",
        ],
        "alderlake" => &["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX_VNNI"],
        "armv8.2_1" => &["DOTPROD"],
        "armv8.2_2" => &["DOTPROD", "FP16_VECTOR_ARITHMETIC"],
        "armv8.2_3" => &["DOTPROD", "FP16_VECTOR_ARITHMETIC", "SVE"],
        "armv8.6_1" => &["DOTPROD", "FP16_VECTOR_ARITHMETIC", "SVE", "MATMUL_INT8"],
        "armv8.6_2" => &["DOTPROD", "FP16_VECTOR_ARITHMETIC", "SVE", "MATMUL_INT8", "SVE2"],
        "armv9.2_1" => &["DOTPROD", "FP16_VECTOR_ARITHMETIC", "SVE", "MATMUL_INT8", "SME"],
        "armv9.2_2" => &["DOTPROD", "FP16_VECTOR_ARITHMETIC", "SVE", "MATMUL_INT8", "SVE2", "SME"],
        _ => return None,
    })
}

const ZEN4: [&str; 10] =
    ["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2", "AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16"];

/// The instruction sets a built-in CPU backend was compiled with, in ggml's names: those this
/// crate was compiled with, since llama-cpp-sys-2 gives llama.cpp the same `target-cpu`.
fn built_in_features() -> Vec<&'static str> {
    [
        (cfg!(target_feature = "sse4.2"), "SSE42"),
        (cfg!(target_feature = "avx"), "AVX"),
        (cfg!(target_feature = "f16c"), "F16C"),
        (cfg!(target_feature = "fma"), "FMA"),
        (cfg!(target_feature = "avx2"), "AVX2"),
        (cfg!(target_feature = "bmi2"), "BMI2"),
        (cfg!(target_feature = "avx512f"), "AVX512"),
        (cfg!(target_feature = "avx512vbmi"), "AVX512_VBMI"),
        (cfg!(target_feature = "avx512vnni"), "AVX512_VNNI"),
        (cfg!(target_feature = "avx512bf16"), "AVX512_BF16"),
        (cfg!(target_feature = "avxvnni"), "AVX_VNNI"),
        (cfg!(target_feature = "amx-tile"), "AMX_TILE"),
        (cfg!(target_feature = "amx-int8"), "AMX_INT8"),
        (cfg!(target_feature = "neon"), "NEON"),
        (cfg!(target_feature = "dotprod"), "DOTPROD"),
        (cfg!(target_feature = "fp16"), "FP16_VECTOR_ARITHMETIC"),
        (cfg!(target_feature = "sve"), "SVE"),
        (cfg!(target_feature = "i8mm"), "MATMUL_INT8"),
        (cfg!(target_feature = "sve2"), "SVE2"),
        (cfg!(target_feature = "sme"), "SME"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loaded_variant_is_found_among_the_mappings() {
        let maps = "\
7f00-7f01 r--p 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6
7f02-7f03 r-xp 00001000 08:01 2 /opt/ember/libggml-base.so
7f04-7f05 r-xp 00001000 08:01 3 /opt/ember/libggml-cpu-icelake.so
7f06-7f07 rw-p 00000000 00:00 0
";
        assert_eq!(loaded_library(maps), Some(PathBuf::from("/opt/ember/libggml-cpu-icelake.so")));
        assert_eq!(loaded_library("7f00-7f01 r--p 0 08:01 1 /opt/ember/libggml-cpu.so\n"), None);
        assert_eq!(loaded_library(""), None);
    }

    #[test]
    fn variant_names_and_their_instruction_sets() {
        assert_eq!(variant_name("libggml-cpu-sapphirerapids.so"), Some("sapphirerapids"));
        assert_eq!(variant_name("libggml-cpu-armv8.2_1.so"), Some("armv8.2_1"));
        assert_eq!(variant_name("libggml-cpu-.so"), None);
        assert_eq!(variant_name("libggml-base.so"), None);
        assert_eq!(variant_features("x64"), Some(&[][..]));
        assert_eq!(variant_features("haswell"), Some(&["SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2"][..]));
        assert!(variant_features("sapphirerapids").is_some_and(|f| f.contains(&"AMX_INT8")));
        assert_eq!(variant_features("zen4"), Some(&ZEN4[..]));
        assert_eq!(variant_features("riscv64_v"), None);
    }

    #[test]
    fn a_built_in_backend_lists_what_this_crate_was_compiled_with() {
        let features = built_in_features();
        assert_eq!(features.contains(&"AVX2"), cfg!(target_feature = "avx2"));
        assert_eq!(features.contains(&"AVX512"), cfg!(target_feature = "avx512f"));
        assert_eq!(features.contains(&"NEON"), cfg!(target_feature = "neon"));
    }

    #[test]
    fn no_cpu_backend_says_whether_the_libraries_are_missing_or_too_new_for_the_cpu() {
        let missing = no_cpu_backend(Path::new("/opt/ember"), 0);
        assert!(missing.contains("keep the libraries") && missing.contains("/opt/ember"), "{missing}");
        let too_new = no_cpu_backend(Path::new("/opt/ember"), 6);
        assert!(too_new.contains("none of the 6") && too_new.contains("cargo install"), "{too_new}");
    }

    #[test]
    fn count_variants_counts_only_cpu_variant_libraries() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["libggml-cpu-x64.so", "libggml-cpu-haswell.so", "libggml-base.so", "ember"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        assert_eq!(count_variants(dir.path()), 2);
        assert_eq!(count_variants(&dir.path().join("absent")), 0);
    }
}
