//! Output constraints through the remote engine, against a real llama-server (the same llama.cpp
//! tree, default model): the request carries `response_format` (a JSON Schema) or llama-server's
//! `grammar`, and the server's answer matches them; the default model, unconstrained, answers
//! these prompts in prose.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::llama_server::LlamaServer;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/constraint").join(name);
    path.to_str().unwrap().to_string()
}

/// ember against `endpoint`, greedy, no history, no local model to find.
fn ember(endpoint: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(["--endpoint", endpoint, "--temperature", "0", "--seed", "42", "--max-tokens", "300"])
        .args(args)
        .env_remove("EMBER_MODEL")
        .env_remove("EMBER_ENDPOINT")
        .env("EMBER_NO_HISTORY", "1")
        .env("EMBER_MODELS_DIR", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn the_request_carries_the_constraint_and_the_server_applies_it() {
    let server = LlamaServer::start();
    let endpoint = server.endpoint();

    // What ember sends: the schema as `response_format`.
    let (code, body, err) = ember(&endpoint, &["--print-prompt", "--json-schema", &fixture("person.json"), "hi"]);
    assert_eq!(code, 0, "{err}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["response_format"]["type"], "json_schema", "{body}");
    assert_eq!(body["response_format"]["json_schema"]["schema"]["required"], serde_json::json!(["name", "age"]));

    // What the server does with it: a document that validates.
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("person.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let (code, out, err) =
        ember(&endpoint, &["--json-schema", &fixture("person.json"), "Describe a famous scientist."]);
    assert_eq!(code, 0, "{err}\n{}", server.log_text());
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"));
    assert!(validator.is_valid(&doc), "{out}");

    // `--json`: any JSON (`response_format: json_object`).
    let (code, out, err) = ember(&endpoint, &["--json", "Give me a small example of a user profile."]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<serde_json::Value>(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"));

    // A GBNF grammar goes as llama-server's `grammar`.
    let (code, out, err) = ember(&endpoint, &["--grammar", &fixture("yesno.gbnf"), "Is the sky blue?"]);
    assert_eq!(code, 0, "{err}");
    assert!(out == "yes\n" || out == "no\n", "{out:?}");
}
