//! The CPU code the real binary runs, as `ember doctor` names it: in a native build (`make run`)
//! the backend built in for `target-cpu`, in a portable one (`--features portable`, `make dist`)
//! the variant library llama.cpp chose for this CPU. Run against the portable build with
//! `scripts/check-portable.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

/// `ember doctor`'s line about the CPU backend.
fn cpu_backend_line() -> String {
    let home = tempfile::tempdir().unwrap();
    let out = common::ember()
        .arg("doctor")
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .output()
        .unwrap();
    assert!(out.status.success(), "doctor failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .find(|l| l.trim_start().starts_with("CPU backend: "))
        .unwrap_or_else(|| panic!("doctor names no CPU backend:\n{text}"))
        .to_string()
}

/// Whether this CPU has the instruction set ggml calls `name` (x86-64 only).
#[cfg(target_arch = "x86_64")]
fn host_has(name: &str) -> bool {
    use std::arch::is_x86_feature_detected as has;
    match name {
        "SSE42" => has!("sse4.2"),
        "AVX" => has!("avx"),
        "F16C" => has!("f16c"),
        "FMA" => has!("fma"),
        "AVX2" => has!("avx2"),
        "BMI2" => has!("bmi2"),
        "AVX512" => has!("avx512f"),
        "AVX512_VBMI" => has!("avx512vbmi"),
        "AVX512_VNNI" => has!("avx512vnni"),
        "AVX512_BF16" => has!("avx512bf16"),
        "AVX_VNNI" => has!("avxvnni"),
        // AMX detection is not stable in std yet: the kernel's flags say it.
        "AMX_TILE" | "AMX_INT8" => {
            let flag = name.to_ascii_lowercase();
            std::fs::read_to_string("/proc/cpuinfo").unwrap().split_whitespace().any(|f| f == flag)
        }
        other => panic!("doctor named an instruction set this test does not know: {other}"),
    }
}

#[test]
fn doctor_names_the_cpu_backend_and_the_instruction_sets_it_uses() {
    let line = cpu_backend_line();
    let sets: Vec<&str> = line.rsplit(": ").next().unwrap().split(' ').collect();
    if cfg!(feature = "portable") {
        assert!(line.contains("chosen on start for this CPU from"), "{line}");
        assert!(line.contains("libggml-cpu-"), "{line}");
    } else {
        let built_for = match env!("EMBER_TARGET_CPU") {
            "" => "(no target-cpu)".to_string(),
            cpu => format!("target-cpu={cpu}"),
        };
        assert!(line.contains("built in, for ") && line.contains(&built_for), "{line}");
        // The native build's llama.cpp uses what this test crate was compiled with.
        assert_eq!(sets.contains(&"AVX2"), cfg!(target_feature = "avx2"), "{line}");
        assert_eq!(sets.contains(&"AVX512"), cfg!(target_feature = "avx512f"), "{line}");
    }
    #[cfg(target_arch = "x86_64")]
    {
        // Every set named is one this CPU has, and the best variant uses AVX2 where there is one.
        if !line.ends_with("baseline") {
            for set in &sets {
                assert!(host_has(set), "{set} is not on this CPU: {line}");
            }
        }
        if cfg!(feature = "portable") {
            assert_eq!(sets.contains(&"AVX2"), host_has("AVX2"), "{line}");
            assert_eq!(sets.contains(&"AVX512"), host_has("AVX512"), "{line}");
        }
    }
}

#[test]
fn the_binary_answers_on_the_default_model() {
    let out = common::ember().args(["--max-tokens", "8", "Say hi."]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty(), "no answer");
}
