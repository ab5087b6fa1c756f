//! Shared helpers for the integration tests: the real default model and the real binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod hostile;
pub mod llama_server;
pub mod terminal;
pub mod tmux;
pub mod tui;

use std::path::PathBuf;

/// The default model, installed by `make model` (which `make test` runs first).
pub fn default_model() -> PathBuf {
    let paths = ember::config::Paths::discover();
    let path = paths.models_dir.join(ember::models::DEFAULT_MODEL_FILE);
    assert!(
        path.exists(),
        "the default model is missing at {}: run `make model` (or `make test`, which installs it)",
        path.display()
    );
    path
}

/// Gemma 3 270M base, a second architecture without a chat template (`make test-models`).
pub fn base_model() -> PathBuf {
    let path = ember::config::Paths::discover().models_dir.join("gemma-3-270m-q4_k_m.gguf");
    assert!(path.exists(), "the test model is missing at {}: run `make test-models`", path.display());
    path
}

/// The ember binary with the default model, greedy decoding and a fixed seed.
pub fn ember() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("ember").unwrap();
    cmd.arg("--model").arg(default_model()).args(["--temperature", "0", "--seed", "42"]);
    // Tests that check history turn it back on, with their own data folder.
    cmd.env_remove("EMBER_MODEL").env_remove("NO_COLOR").env("EMBER_NO_HISTORY", "1");
    cmd
}

/// `ember history export ID --format json` on the data folder `data` (its XDG_DATA_HOME).
pub fn history_export(data: &std::path::Path, id: i64) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(["history", "export", &id.to_string(), "--format", "json"])
        .env("XDG_DATA_HOME", data)
        .output()
        .unwrap();
    assert!(out.status.success(), "export {id}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}
