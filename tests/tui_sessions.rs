//! Versions (/retry, /edit) and resuming in the real TUI, with history on: what is saved,
//! switched and shown again after a restart (the real binary and default model in tmux).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::tmux::Tmux;
use common::tui::*;
use ember::store::{NewConversation, NewMessage, Store, StoredRole};

fn export_when(data: &Path, id: i64, what: &str, ok: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
    let start = std::time::Instant::now();
    loop {
        let json = common::history_export(data, id);
        let messages = json["messages"].as_array().cloned().unwrap_or_default();
        if ok(&messages) {
            return messages;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{what}: the saved conversation is {json:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A stored message's id and its version ("branch": [at, of]).
fn version(m: &serde_json::Value) -> (i64, (u64, u64)) {
    (m["id"].as_i64().unwrap(), (m["branch"][0].as_u64().unwrap(), m["branch"][1].as_u64().unwrap()))
}

#[test]
fn retry_and_edit_versions_are_saved_switched_and_shown_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let ember = ember_command(data, "--max-tokens 16");
    let command = format!("{ember}; echo EXIT=$?; {ember} -c; echo EXIT2=$?; sleep 60");
    let tmux = Tmux::start(&command, data);
    tmux.wait_loaded();
    let idle_with_answer = |s: &str| s.contains("▍ember") && s.contains("○ idle");

    // A question and its answer.
    tmux.keys(&["What is the capital of France?", "Enter"]);
    wait_settled(&tmux, "the first answer", Duration::from_secs(120), idle_with_answer);
    let first = export_when(data, 1, "the first answer", |m| m.len() == 2);
    let (q1, _) = version(&first[0]);
    let (a1, _) = version(&first[1]);

    // /retry: a second version of the answer, the first kept.
    tmux.keys(&["/retry", "Enter"]);
    let retried = wait_settled(&tmux, "the retried answer", Duration::from_secs(120), |s| {
        idle_with_answer(s) && s.contains("‹ 2/2 ›")
    });
    assert!(retried.contains("France"), "{retried}");
    let after_retry = export_when(data, 1, "the retried answer", |m| m.len() == 2 && m[1]["id"] != a1);
    let (a1b, v) = version(&after_retry[1]);
    assert_eq!((version(&after_retry[0]), v), ((q1, (1, 1)), (2, 2)), "{after_retry:#?}");

    // /edit: the question comes back into the composer; a changed one is a second version of it.
    tmux.keys(&["/edit", "Enter"]);
    tmux.wait_for("the question in the composer", Duration::from_secs(20), |s| {
        s.contains("edit the message") && s.contains("What is the capital of France?") && !s.contains("▍you")
    });
    tmux.keys(&["C-u"]);
    tmux.wait_for("the composer to clear", Duration::from_secs(20), |s| !s.contains("capital of France"));
    tmux.keys(&["What is the capital of Italy?", "Enter"]);
    let edited = wait_settled(&tmux, "the edited question's answer", Duration::from_secs(120), |s| {
        idle_with_answer(s) && s.contains("Italy") && s.contains("‹ 2/2 ›")
    });
    assert!(!edited.contains("France?"), "{edited}");
    let after_edit = export_when(data, 1, "the edited question", |m| m.len() == 2 && m[0]["id"] != q1);
    let (q2, v) = version(&after_edit[0]);
    let (a2, _) = version(&after_edit[1]);
    assert_eq!(v, (2, 2), "{after_edit:#?}");
    assert!(after_edit[0]["content"].as_str().unwrap().contains("Italy"), "{after_edit:#?}");

    // ← with the transcript focused: the latest message with versions (the question) goes back
    // to the first; its answer is the newest under it (the retried one).
    tmux.keys(&["Tab"]);
    tmux.keys(&["Left"]);
    let back = wait_settled(&tmux, "the first question again", Duration::from_secs(20), |s| {
        s.contains("France?") && !s.contains("Italy") && s.contains("‹ 1/2 ›") && s.contains("‹ 2/2 ›")
    });
    assert!(back.contains("showing another version"), "{back}");
    let m = export_when(data, 1, "the first question again", |m| m.len() == 2 && m[0]["id"] == q1);
    assert_eq!((version(&m[0]), version(&m[1])), ((q1, (1, 2)), (a1b, (2, 2))), "{m:#?}");
    // ← again: now the answer is the latest message with versions; back to its first version.
    tmux.keys(&["Left"]);
    wait_settled(&tmux, "the first answer again", Duration::from_secs(20), |s| {
        s.contains("France?") && s.matches("‹ 1/2 ›").count() == 2 && !s.contains("‹ 2/2 ›")
    });
    let m = export_when(data, 1, "the first answer again", |m| m.len() == 2 && m[1]["id"] == a1);
    assert_eq!((version(&m[0]), version(&m[1])), ((q1, (1, 2)), (a1, (1, 2))), "{m:#?}");

    // Quit (typing in the transcript goes to the composer) and continue with -c.
    tmux.keys(&["/quit", "Enter"]);
    let resumed = wait_settled(&tmux, "the conversation to continue", Duration::from_secs(60), |s| {
        (s.contains("continuing conversation 1") || s.contains("resumed with")) && s.contains("○ idle")
    });
    // The version left on is shown: the first question and its first answer, each "1 of 2".
    assert!(resumed.contains("France?") && !resumed.contains("Italy"), "{resumed}");
    assert_eq!(resumed.matches("‹ 1/2 ›").count(), 2, "{resumed}");
    assert!(!resumed.contains("‹ 2/2 ›"), "{resumed}");
    let answer_start: String = m[1]["content"].as_str().unwrap().chars().take(20).collect();
    assert!(resumed.contains(answer_start.trim()), "{answer_start:?} not shown:\n{resumed}");

    // The other versions are reachable: → shows the retried answer...
    tmux.keys(&["Tab"]);
    tmux.keys(&["Right"]);
    wait_settled(&tmux, "the retried answer after the restart", Duration::from_secs(20), |s| {
        s.contains("France?") && s.contains("‹ 1/2 ›") && s.contains("‹ 2/2 ›")
    });
    let m = export_when(data, 1, "the retried answer after the restart", |m| m.len() == 2 && m[1]["id"] == a1b);
    assert_eq!((version(&m[0]), version(&m[1])), ((q1, (1, 2)), (a1b, (2, 2))), "{m:#?}");
    // ...and, scrolled back so that the question is the first message with versions in view
    // (a small window: the transcript no longer fits), → shows the edited question.
    assert!(tmux.run(&["resize-window", "-t", "e2e", "-x", "50", "-y", "10"]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(500));
    tmux.keys(&["Home"]);
    tmux.keys(&["Right"]);
    let italy = wait_settled(&tmux, "the edited question after the restart", Duration::from_secs(20), |s| {
        s.contains("Italy") && s.contains("‹ 2/2 ›")
    });
    let m = export_when(data, 1, "the edited question after the restart", |m| m.len() == 2 && m[0]["id"] == q2);
    assert_eq!((version(&m[0]), version(&m[1])), ((q2, (2, 2)), (a2, (1, 1))), "{m:#?}\n{italy}");
    assert!(tmux.run(&["resize-window", "-t", "e2e", "-x", "120", "-y", "35"]).status().unwrap().success());
    tmux.keys(&["/quit", "Enter"]);
    let end = tmux.wait_for("ember to exit", Duration::from_secs(30), |s| s.contains("EXIT2="));
    assert!(end.contains("EXIT=0") && end.contains("EXIT2=0"), "{end}");
    assert!(!tmux.alternate_on());
    // The export follows the branch left on.
    let last = common::history_export(data, 1);
    assert_eq!(last["messages"].as_array().map(Vec::len), Some(2), "{last:#}");
    assert_eq!(version(&last["messages"][0]), (q2, (2, 2)), "{last:#}");
    assert_eq!(version(&last["messages"][1]).0, a2, "{last:#}");
}

/// One finished turn as the debug log records it ("turn done").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LoggedTurn {
    prompt: usize,
    reused: usize,
    evaluated: usize,
    generated: usize,
}

/// Every turn in the debug log at `log`, in order.
fn logged_turns(log: &Path) -> Vec<LoggedTurn> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let field = |line: &str, name: &str| -> usize {
        let at = line.find(&format!("{name}: ")).unwrap_or_else(|| panic!("no {name} in {line}"));
        let rest = &line[at + name.len() + 2..];
        rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())].parse().unwrap()
    };
    text.lines()
        .filter(|l| l.contains("turn done"))
        .map(|l| LoggedTurn {
            prompt: field(l, "prompt_tokens"),
            reused: field(l, "reused_tokens"),
            evaluated: field(l, "evaluated_tokens"),
            generated: field(l, "generated_tokens"),
        })
        .collect()
}

#[test]
fn a_conversation_resumed_in_the_tui_answers_as_it_would_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = dir.path().join("state");
    // One thread, in the chat and in the run from scratch alike.
    let flags = "--threads 1 --max-tokens 24";
    let command = format!(
        "XDG_STATE_HOME='{}' EMBER_LOG=ember=debug {}; echo EXIT=$?; sleep 60",
        state.display(),
        ember_command(&data, flags)
    );
    let tmux = Tmux::start(&command, dir.path());
    tmux.wait_loaded();
    let question = "What is the capital of France?";
    let follow_up = "What is its population?";

    // Conversation A, then a new conversation B: leaving A saves its evaluated context.
    tmux.keys(&[question, "Enter"]);
    wait_settled(&tmux, "A's answer", Duration::from_secs(120), |s| s.contains("▍ember") && s.contains("○ idle"));
    tmux.keys(&["/new", "Enter"]);
    tmux.wait_for("a new conversation", Duration::from_secs(20), |s| s.contains("new conversation"));
    let kv = data.join("ember/kv");
    let saved = || std::fs::read_dir(&kv).map(|d| d.filter_map(Result::ok).count()).unwrap_or(0);
    let start = std::time::Instant::now();
    while saved() == 0 {
        assert!(start.elapsed() < Duration::from_secs(20), "A's context was not saved in {}", kv.display());
        std::thread::sleep(Duration::from_millis(100));
    }
    tmux.keys(&["Name three colours.", "Enter"]);
    wait_settled(&tmux, "B's answer", Duration::from_secs(120), |s| {
        s.contains("colours") && s.contains("▍ember") && s.contains("○ idle")
    });

    // Back to A through the picker: its saved context is loaded, then the follow-up is asked.
    tmux.keys(&["C-o"]);
    tmux.wait_for("the picker", Duration::from_secs(20), |s| s.matches(" msgs ").count() == 2);
    tmux.keys(&["France"]);
    tmux.wait_for("the search", Duration::from_secs(20), |s| s.contains("[France]"));
    tmux.keys(&["Enter"]);
    let resumed = tmux.wait_for("A's context to load", Duration::from_secs(30), |s| s.contains("resumed with"));
    assert!(resumed.contains(question) && !resumed.contains("colours"), "{resumed}");
    tmux.keys(&[follow_up, "Enter"]);
    wait_settled(&tmux, "the follow-up's answer", Duration::from_secs(120), |s| {
        s.contains(follow_up) && s.matches("▍ember").count() == 2 && s.contains("○ idle")
    });
    quit(&tmux, "resumed conversation");

    let a = common::history_export(&data, 1);
    let messages = a["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4, "{a:#}");
    assert_eq!(messages[2]["content"], follow_up, "{a:#}");
    let resumed_answer = messages[3]["content"].as_str().unwrap().to_string();

    // The saved context was used: the follow-up reused more than A's whole first prompt (from
    // B's context only the start of the template would have matched).
    let turns = logged_turns(&state.join("ember/ember.log"));
    assert_eq!(turns.len(), 3, "{turns:?}");
    let (first, follow) = (turns[0], turns[2]);
    assert!(follow.reused > first.prompt, "the saved context was not used: {turns:?}");
    assert_eq!(follow.reused + follow.evaluated, follow.prompt, "{turns:?}");

    // The same conversation from scratch: a fresh data folder (no saved contexts) holding A's
    // first question and answer, continued in pipe mode with the same follow-up.
    let fresh = dir.path().join("fresh");
    let fresh_state = dir.path().join("fresh-state");
    let id = {
        let mut store = Store::open(&fresh.join("ember/history.db")).unwrap();
        let id = store
            .create_conversation(&NewConversation {
                model: a["model"].as_str().unwrap().into(),
                system_prompt: a["system_prompt"].as_str().map(String::from),
                cwd: dir.path().display().to_string(),
            })
            .unwrap();
        let text = |i: usize| messages[i]["content"].as_str().unwrap();
        let q = store.add_message(id, None, &NewMessage::new(StoredRole::User, text(0))).unwrap();
        store.add_message(id, Some(q), &NewMessage::new(StoredRole::Assistant, text(1))).unwrap();
        id
    };
    let out = Command::new(env!("CARGO_BIN_EXE_ember"))
        .arg("--model")
        .arg(common::default_model())
        .args(["-t", "0", "--seed", "1", "--threads", "1", "--max-tokens", "24", "--session", &id.to_string()])
        .args(["-p", follow_up])
        .env("XDG_DATA_HOME", &fresh)
        .env("XDG_STATE_HOME", &fresh_state)
        .env("EMBER_LOG", "ember=debug")
        .env("EMBER_MODELS_DIR", "/nonexistent")
        .env_remove("EMBER_NO_HISTORY")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let scratch = logged_turns(&fresh_state.join("ember/ember.log"));
    assert_eq!(scratch.len(), 1, "{scratch:?}");
    assert_eq!(scratch[0].reused, 0, "not from scratch: {scratch:?}");
    assert_eq!(scratch[0].prompt, follow.prompt, "not the same conversation: {scratch:?} against {follow:?}");
    let from_scratch = common::history_export(&fresh, id)["messages"][3]["content"].as_str().unwrap().to_string();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), from_scratch.trim_end());
    eprintln!("resumed ({follow:?}): {resumed_answer:?}\nfrom scratch ({:?}): {from_scratch:?}", scratch[0]);
    assert_eq!(resumed_answer, from_scratch, "the resumed conversation answered differently");
    assert_eq!(follow.generated, scratch[0].generated);
}
