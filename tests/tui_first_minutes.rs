//! A new user's first minutes in the real TUI: copy says how it copied, /model switches by a
//! part of a name, a file too large is refused, a long prompt shows its progress.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::tui::*;
use ember::store::{NewConversation, NewMessage, Store, StoredRole};

/// Inside tmux, a copy says how it went: with tmux's default `set-clipboard external` OSC 52
/// from ember does not reach the clipboard, and the status says so and how to turn it on; with
/// it on, the code reaches tmux's buffer and the status says it was sent there.
#[test]
fn copy_inside_tmux_reports_its_method() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("ember/history.db")).unwrap();
    let new = NewConversation { model: "m".into(), system_prompt: None, cwd: "/tmp".into() };
    let id = store.create_conversation(&new).unwrap();
    let user = store.add_message(id, None, &NewMessage::new(StoredRole::User, "code please")).unwrap();
    let answer = "Here:\n\n```sh\necho copied-by-ember\n```\n";
    store.add_message(id, Some(user), &NewMessage::new(StoredRole::Assistant, answer)).unwrap();
    drop(store);
    // No system clipboard tool: OSC 52 is the only way, as in the report of issue 22.
    let ember = ember_command(dir.path(), &format!("--session {id}"));
    let command = format!("env -u DISPLAY -u WAYLAND_DISPLAY {ember}; echo EXIT=$?; sleep 60");
    let tmux = Tmux::start(&command, dir.path());
    assert!(tmux.run(&["resize-window", "-t", "e2e", "-x", "220", "-y", "30"]).status().unwrap().success());
    assert!(tmux.run(&["set-option", "-g", "set-clipboard", "external"]).status().unwrap().success());
    tmux.wait_for("the conversation", Duration::from_secs(60), |s| s.contains("[1] sh") && s.contains("○ idle"));
    tmux.keys(&["Tab", "Tab"]);
    tmux.wait_for("the code pane to take focus", Duration::from_secs(10), |s| s.contains("c copy"));
    tmux.keys(&["c"]);
    let screen =
        tmux.wait_for("the copy's report", Duration::from_secs(10), |s| s.contains("code block 1 sent as OSC 52"));
    assert!(screen.contains("tmux's set-clipboard is external"), "{screen}");
    assert!(screen.contains("add `set -g set-clipboard on` to ~/.tmux.conf"), "{screen}");
    assert_eq!(tmux.out(&["list-buffers"]).trim(), "", "tmux took OSC 52 with set-clipboard external");

    assert!(tmux.run(&["set-option", "-g", "set-clipboard", "on"]).status().unwrap().success());
    tmux.keys(&["c"]);
    tmux.wait_for("the copy's report", Duration::from_secs(10), |s| {
        s.contains("code block 1 sent to tmux and the terminal (OSC 52)")
    });
    assert_eq!(tmux.out(&["show-buffer"]), "echo copied-by-ember\n");
    tmux.keys(&["Escape"]);
    tmux.wait_for("focus back on the message", Duration::from_secs(10), |s| !s.contains("c copy"));
    quit(&tmux, "copy report");
}

#[test]
fn model_switches_by_a_part_of_its_name_and_a_missing_one_keeps_the_model_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = Tmux::start(&ember_with_models(dir.path(), "--max-tokens 8"), dir.path());
    let screen = tmux.wait_loaded();
    assert!(status_line(&screen).contains("SmolLM2-135M-Instruct"), "{screen}");

    tmux.keys(&["/model missing", "Enter"]);
    let screen = tmux.wait_for("the refusal", Duration::from_secs(30), |s| s.contains("no model matches \"missing\""));
    assert!(status_line(&screen).contains("· still using SmolLM2-135M-Instruct"), "{screen}");
    assert_in_transcript(&screen, 78, &["the models found:", "gemma-3-270m-q4_k_m"], "the models found");
    assert!(status_line(&screen).trim_start().starts_with("SmolLM2-135M-Instruct"), "{screen}");
    // The model in use still answers.
    tmux.keys(&["Say hello.", "Enter"]);
    let screen = wait_settled(&tmux, "an answer from SmolLM2", Duration::from_secs(120), |s| {
        s.contains("▍ember") && s.contains("○ idle")
    });
    assert!(status_line(&screen).contains("SmolLM2-135M-Instruct"), "{screen}");

    // A file that fails to load: the engine in use stays and answers.
    tmux.keys(&["/model ./nope.gguf", "Enter"]);
    let screen = tmux.wait_for("the load failure", Duration::from_secs(60), |s| s.contains("could not load nope"));
    assert!(status_line(&screen).contains("still using SmolLM2-135M-Instruct.Q4_1 · ctx 8192"), "{screen}");
    let answers = screen.matches("▍ember").count();
    tmux.keys(&["Say hi.", "Enter"]);
    wait_settled(&tmux, "SmolLM2 still answering", Duration::from_secs(120), |s| {
        s.matches("▍ember").count() > answers && s.contains("○ idle")
    });

    let smol_ctx = context_used(status_line(&tmux.screen()));
    assert!(smol_ctx > 0, "{}", tmux.screen());
    tmux.keys(&["/model gemma", "Enter"]);
    let screen = tmux.wait_for("gemma to load", Duration::from_secs(120), |s| s.contains("loaded gemma-3-270m-q4_k_m"));
    assert!(status_line(&screen).contains("gemma-3-270m-q4_k_m"), "{screen}");
    assert!(!status_line(&screen).contains("SmolLM2"), "{screen}");
    // The ctx meter measures the conversation again with gemma's tokenizer and prompt format.
    let screen = tmux.wait_for("the conversation measured by gemma", Duration::from_secs(30), |s| {
        let used = context_used(status_line(s));
        used > 0 && used != smol_ctx
    });
    assert!(status_line(&screen).contains("/8192"), "{screen}");
    // The new model answers (a base model: its notice comes first).
    let answers = screen.matches("▍ember").count();
    tmux.keys(&["Say hello.", "Enter"]);
    wait_settled(&tmux, "an answer from gemma", Duration::from_secs(120), |s| {
        s.matches("▍ember").count() > answers && s.contains("○ idle")
    });
    quit(&tmux, "model switch");
}

#[test]
fn a_file_too_large_for_the_context_is_refused_when_attached_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.rs");
    let line = "let value = compute_something(with, several, arguments); // a line\n";
    // About 4,500 tokens: more than a context of 2048 holds, less than the 8192 trained.
    std::fs::write(&file, line.repeat(200)).unwrap();
    let tmux = Tmux::start(&ember_with_models(dir.path(), "--ctx 2048 --max-tokens 8"), dir.path());
    tmux.wait_loaded();
    tmux.keys(&["/file big.rs", "Enter"]);
    let refused = tmux.wait_for("the refusal", Duration::from_secs(30), |s| s.contains("not attached"));
    let screen = refused.as_str();
    assert!(status_line(screen).contains("not attached: too large for the context of 2048 · /ctx"), "{screen}");
    assert_in_transcript(
        screen,
        78,
        &["Not attached: big.rs is about", "would fit it, or attach a smaller file."],
        "refusal",
    );
    assert!(!screen.contains("compute_something"), "the file was echoed:\n{screen}");
    // Nothing goes with the next message: it is answered in the small context.
    tmux.keys(&["Say hello.", "Enter"]);
    let screen =
        wait_settled(&tmux, "an answer", Duration::from_secs(120), |s| s.contains("▍ember") && s.contains("○ idle"));
    assert!(!screen.contains("compute_something"), "the file went with the message:\n{screen}");
    // The advice works: /ctx N, then the file is attached.
    let advice = status_line(&refused).split("· ").nth(1).unwrap().trim().to_string();
    let size = advice.strip_prefix("/ctx ").and_then(|r| r.split_whitespace().next()).unwrap().to_string();
    tmux.keys(&[&format!("/ctx {size}"), "Enter"]);
    let screen = tmux.wait_for("the new context", Duration::from_secs(120), |s| s.contains(&format!("ctx {size}  ")));
    assert_shown(&screen, &[&format!("loaded SmolLM2-135M-Instruct.Q4_1 · ctx {size}")], "/ctx");
    tmux.keys(&["/file big.rs", "Enter"]);
    // Attached with an estimate, then counted by the model's tokenizer: the composer shows the count.
    let screen = tmux.wait_for("the file attached and counted", Duration::from_secs(30), |s| {
        s.contains("attached big.rs: ") && s.contains("tokens, it goes with your next message")
    });
    assert!(!screen.contains("not attached"), "{screen}");
    let composer = screen.lines().find(|l| l.contains("attached: big.rs (")).unwrap_or_default();
    assert!(composer.contains(" tokens)") && !composer.contains("about"), "{screen}");
    quit(&tmux, "file too large");
}

#[test]
fn a_long_file_shows_how_far_the_prompt_has_been_read_before_the_first_token() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.rs");
    let body: String = (0..60).map(|i| format!("let value_{i} = compute({i}, \"item {i}\");\n")).collect();
    std::fs::write(&file, body).unwrap();
    let bin = env!("CARGO_BIN_EXE_ember");
    let command = format!(
        "{bin} --no-history --model '{}' -t 0 --seed 1 --threads 1 --max-tokens 3; echo EXIT=$?; sleep 60",
        common::default_model().display()
    );
    let tmux = Tmux::start(&command, dir.path());
    tmux.wait_loaded();
    tmux.keys(&[&format!("/file {}", file.display()), "Enter"]);
    tmux.wait_for("the attachment", Duration::from_secs(10), |s| s.contains("attached: "));
    tmux.keys(&["what is this?", "Enter"]);
    let screen =
        tmux.wait_for("the prompt's progress", Duration::from_secs(60), |s| s.contains("reading the prompt: "));
    assert!(screen.contains(" tokens · "), "{screen}");
    assert!(screen.contains("● answering"), "{screen}");
    let done = tmux.wait_for("the answer", Duration::from_secs(120), |s| s.contains("○ idle"));
    assert!(!done.contains("reading the prompt"), "the line goes once the prompt is read: {done}");
    assert!(!done.contains("ctx 0/"), "the meter counts the file: {done}");
}

/// The tokens the status line's ctx meter reads ("ctx 123/8192"), 0 if none is shown.
fn context_used(status: &str) -> usize {
    let Some((_, rest)) = status.split_once("ctx ") else { return 0 };
    rest.split('/').next().and_then(|n| n.trim().parse().ok()).unwrap_or(0)
}
