//! Records the `-C target-cpu` this build was made with (as llama-cpp-sys-2 reads it to build
//! llama.cpp: `native` turns on GGML_NATIVE), so `ember doctor` can say what the CPU code targets.

fn main() {
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let target_cpu = flags.split('\x1f').find_map(|flag| flag.split("target-cpu=").nth(1)).unwrap_or("");
    println!("cargo:rustc-env=EMBER_TARGET_CPU={target_cpu}");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    println!("cargo:rerun-if-changed=build.rs");
}
