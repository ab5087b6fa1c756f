//! Constrained output (`--json`, `--json-schema`, `--grammar`) through the built binary and the
//! real default model, greedy: every document parses and validates against its schema (checked
//! with a JSON Schema validator, not by eye), a GBNF grammar shapes the answer, and bad input or
//! an answer cut short is an error, never a half document on stdout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::ember;
use predicates::prelude::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/constraint").join(name)
}

/// Runs ember with `args` and `stdin`; asserts success and returns stdout.
fn answer(args: &[&str], stdin: &str) -> String {
    let out = ember().args(["--max-tokens", "400"]).args(args).write_stdin(stdin).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed ({}): {stderr}", out.status);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_answer_validates_against_its_schema() {
    let git_log = "a1b2c3d Add --json output to pipe mode\n\
                   e4f5a6b Fix a crash when the config file is empty\n\
                   0c9d8e7 Document the roles folder in the README\n";
    let cases: [(&str, &str, &str); 10] = [
        ("person.json", "Describe a famous scientist.", ""),
        ("person.json", "Who wrote Hamlet? Answer as a person record.", ""),
        ("list.json", "List some fruits.", ""),
        ("list.json", "Name the planets closest to the sun.", ""),
        ("sentiment.json", "Classify the sentiment of this review: I loved it, best purchase ever!", ""),
        ("sentiment.json", "How does this sound: the delivery was late and the box was broken.", ""),
        ("book.json", "Tell me about a classic novel.", ""),
        ("book.json", "Recommend a science fiction book.", ""),
        ("changes.json", "list the changes", git_log),
        ("changes.json", "Summarize these commits.", git_log),
    ];
    for (schema_file, prompt, stdin) in cases {
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture(schema_file)).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let out = answer(&["--json-schema", fixture(schema_file).to_str().unwrap(), prompt], stdin);
        let doc: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{schema_file} / {prompt:?}: not JSON ({e}): {out:?}"));
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{schema_file} / {prompt:?}: {out}\ninvalid: {errors:?}");
        // Exactly the document: no fence, no prose, one final newline.
        let whole = out.starts_with(['{', '[']) && (out.ends_with("}\n") || out.ends_with("]\n"));
        assert!(whole, "{out:?}");
    }
}

#[test]
fn json_flag_gives_any_json_value() {
    let out = answer(&["--json", "Give me a small example of a user profile."], "");
    serde_json::from_str::<serde_json::Value>(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"));
}

#[test]
fn a_gbnf_grammar_shapes_the_answer() {
    let yes_no = fixture("yesno.gbnf");
    let out = answer(&["--grammar", yes_no.to_str().unwrap(), "Is the sky blue?"], "");
    assert!(out == "yes\n" || out == "no\n", "{out:?}");
    let semver = fixture("semver.gbnf");
    let out = answer(&["--grammar", semver.to_str().unwrap(), "What version comes after 1.4.2?"], "");
    let parts: Vec<&str> = out.trim_end().split('.').collect();
    assert_eq!(parts.len(), 3, "{out:?}");
    assert!(parts.iter().all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u32>().is_ok()), "{out:?}");
}

#[test]
fn a_schema_or_grammar_that_does_not_compile_is_a_usage_error() {
    let broken = fixture("broken.gbnf");
    let missing = fixture("missing.json");
    let cases = [
        ("--json-schema", r#"{"type": "string", "pattern": "^v[0-9]+$"}"#, "the keyword `pattern` is not supported"),
        ("--grammar", broken.to_str().unwrap(), "does not compile: line 1: the rule `maybe` is used but never defined"),
        ("--json-schema", missing.to_str().unwrap(), "cannot read"),
    ];
    for (flag, value, message) in cases {
        ember().args([flag, value, "hi"]).assert().code(2).stdout("").stderr(predicate::str::contains(message));
    }
}

#[test]
fn an_answer_cut_by_max_tokens_is_incomplete_and_not_printed() {
    ember()
        .args(["--max-tokens", "3", "--json-schema", fixture("book.json").to_str().unwrap(), "A book, please."])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("output incomplete").and(predicate::str::contains("--max-tokens 3")));
}

#[test]
fn stats_say_the_answer_was_constrained() {
    ember()
        .args(["--stats", "--grammar", fixture("yesno.gbnf").to_str().unwrap(), "Is water wet?"])
        .assert()
        .success()
        .stderr(predicate::str::is_match(r"constrained: \d+ tokens chosen within the grammar").unwrap());
}
