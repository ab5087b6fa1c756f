//! A model without a chat template (Gemma 3 270M base): a notice, the plain completion format,
//! and replies cut at the next "User:" turn.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use predicates::prelude::*;

fn ember_base() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("ember").unwrap();
    cmd.arg("--model").arg(common::base_model()).args(["--temperature", "0", "--seed", "1"]);
    cmd.env_remove("EMBER_MODEL").env("EMBER_NO_HISTORY", "1");
    cmd
}

#[test]
fn base_model_gets_a_notice_and_the_plain_format() {
    ember_base()
        .args(["--print-prompt", "-s", "You are helpful.", "Name a colour."])
        .assert()
        .success()
        .stdout("You are helpful.\n\nUser: Name a colour.\n\nAssistant:")
        .stderr(predicate::str::contains("no chat template"));
}

#[test]
fn base_model_answers_and_stops_at_the_next_turn() {
    // A few-shot dialogue: a base model goes on with "User: ..." after its answer unless the
    // plain format's stop string cuts it there.
    let shots = "User: Hi!\n\nAssistant: Hello! How can I help?\n\nUser: What is 2+2?\n\nAssistant: 4.";
    let out = ember_base()
        .args(["--stats", "--max-tokens", "100", "-s", shots, "What is the capital of France?"])
        .assert()
        .success()
        .stderr(predicate::str::contains("no chat template"))
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!text.trim().is_empty(), "no answer");
    assert!(!text.contains("User"), "the reply ran into the next turn: {text:?}");
    assert!(!stderr.contains("cut at --max-tokens"), "the stop string did not end the reply: {stderr}");
}

#[test]
fn base_model_with_a_builtin_template() {
    ember_base()
        .args(["--print-prompt", "--template", "gemma", "hi"])
        .assert()
        .success()
        .stdout(predicate::str::contains("<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n"))
        .stderr(predicate::str::contains("no chat template").not());
}
