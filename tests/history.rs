//! Conversation history through the real binary, the real model and a real SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::process::{Command, Stdio};

use predicates::prelude::*;

/// ember with its data in `data` (history.db there), the default model, greedy decoding.
fn ember_in(data: &std::path::Path, cwd: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = common::ember();
    cmd.env("XDG_DATA_HOME", data).current_dir(cwd).env_remove("EMBER_NO_HISTORY");
    cmd
}

fn out(cmd: &mut assert_cmd::Command) -> String {
    String::from_utf8(cmd.assert().success().get_output().stdout.clone()).unwrap()
}

#[test]
fn answers_are_saved_listed_searched_shown_exported_and_deleted() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let answer =
        out(ember_in(data.path(), work.path()).args(["--max-tokens", "12", "Name a prime number larger than ten."]));
    let list = out(ember_in(data.path(), work.path()).args(["history", "list"]));
    assert!(list.contains("Name a prime number larger than ten."), "{list}");
    assert!(list.contains("2 msgs"), "{list}");
    let id = list.split_whitespace().next().unwrap().to_string();
    let shown = out(ember_in(data.path(), work.path()).args(["history", "show", &id]));
    assert!(shown.contains("## you\n\nName a prime number larger than ten."), "{shown}");
    assert!(shown.contains(answer.trim_end()), "the stored answer is the printed one:\n{shown}\n---\n{answer}");
    let found = out(ember_in(data.path(), work.path()).args(["history", "search", "prime"]));
    assert!(found.contains("[prime]"), "{found}");
    let json = out(ember_in(data.path(), work.path()).args(["history", "export", &id, "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["messages"].as_array().unwrap().len(), 2);
    ember_in(data.path(), work.path()).args(["history", "rm", &id]).assert().success();
    assert!(!out(ember_in(data.path(), work.path()).args(["history", "list"])).contains("prime"));
    ember_in(data.path(), work.path())
        .args(["history", "show", &id])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no conversation"));
}

#[test]
fn continue_brings_back_the_earlier_turns() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    ember_in(data.path(), work.path())
        .args(["-c", "hi"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no saved conversation"));
    let file = work.path().join("notes.txt");
    std::fs::write(&file, "The secret word is tangerine.\n").unwrap();
    let first = out(ember_in(data.path(), work.path()).args(["--max-tokens", "8", "-f", "notes.txt", "Read this."]));
    let prompt = out(ember_in(data.path(), work.path()).args(["-c", "--print-prompt", "What was the secret word?"]));
    assert!(prompt.contains("The secret word is tangerine."), "the file stays in context:\n{prompt}");
    assert!(prompt.contains(first.trim_end()), "the earlier answer is in context");
    assert!(prompt.trim_end().ends_with("What was the secret word?<|im_end|>\n<|im_start|>assistant"), "{prompt}");
    // The saved context makes the follow-up evaluate only the new question.
    let follow = ember_in(data.path(), work.path())
        .args(["-c", "--stats", "--max-tokens", "8", "What was the secret word?"])
        .assert()
        .success()
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&follow.stderr);
    let caps = regex_lite(&err);
    assert!(caps.0 > 0 && caps.1 < 40, "expected a resumed context: {err}");
    assert!(std::fs::read_dir(data.path().join("ember/kv")).unwrap().count() == 1, "one saved context");
    let list = out(ember_in(data.path(), work.path()).args(["history", "list"]));
    assert_eq!(list.lines().count(), 1, "one conversation: {list}");
    assert!(list.contains("4 msgs"), "{list}");
    // Another directory has its own latest conversation.
    let other = tempfile::tempdir().unwrap();
    ember_in(data.path(), other.path()).args(["-c", "hi"]).assert().code(2);
}

#[test]
fn no_history_saves_nothing() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    ember_in(data.path(), work.path()).args(["--no-history", "--max-tokens", "4", "hello"]).assert().success();
    let list = out(ember_in(data.path(), work.path()).args(["history", "list"]));
    assert!(list.trim().is_empty(), "{list}");
}

#[test]
fn a_damaged_database_is_reported_kept_and_the_answer_still_comes() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let db = data.path().join("ember/history.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let junk = b"definitely not sqlite, but long enough to be read as a header by SQLite itself......".to_vec();
    std::fs::write(&db, &junk).unwrap();
    let assert = ember_in(data.path(), work.path()).args(["--max-tokens", "4", "hello"]).assert().success();
    let err = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(err.contains("damaged") && err.contains("Move it aside") && err.contains("not be saved"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), junk, "the file is never changed or deleted");
}

/// The messages of conversation `id` as `ember history export --format json` gives them:
/// (role, state, content).
fn exported(data: &std::path::Path, work: &std::path::Path, id: &str) -> Vec<(String, String, String)> {
    let json = out(ember_in(data, work).args(["history", "export", id, "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let field = |k: &str| m[k].as_str().unwrap_or_default().to_string();
            (field("role"), field("state"), field("content"))
        })
        .collect()
}

#[test]
fn sigkill_during_a_piped_reply_keeps_every_completed_message_and_the_question() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let first = out(ember_in(data.path(), work.path()).args(["--max-tokens", "8", "First question."]));
    let mut child = Command::new(env!("CARGO_BIN_EXE_ember"))
        .arg("--model")
        .arg(common::default_model())
        .args(["-t", "0", "-c", "--max-tokens", "2000", "Now write a very long story."])
        .env("XDG_DATA_HOME", data.path())
        .env_remove("EMBER_NO_HISTORY")
        .current_dir(work.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut begun = [0u8; 8];
    assert!(child.stdout.as_mut().unwrap().read(&mut begun).unwrap() > 0);
    child.kill().unwrap();
    child.wait().unwrap();
    let list = out(ember_in(data.path(), work.path()).args(["history", "list"]));
    let id = list.split_whitespace().next().unwrap().to_string();
    let messages = exported(data.path(), work.path(), &id);
    // The first question and answer intact; the second question kept (it was saved when its
    // answer began); the answer being written when the process died is lost with it.
    let expected = [
        ("user", "complete", "First question."),
        ("assistant", "complete", first.trim_end()),
        ("user", "complete", "Now write a very long story."),
    ];
    let got: Vec<(&str, &str, &str)> =
        messages.iter().map(|(r, s, c)| (r.as_str(), s.as_str(), c.trim_end())).collect();
    assert_eq!(got, expected, "{list}");
    // The question never answered does not break the next turn, even with a template that
    // refuses two user turns in a row.
    let strict = work.path().join("strict.jinja");
    std::fs::write(
        &strict,
        "{% for m in messages %}{% if loop.index0 > 0 and m['role'] == messages[loop.index0 - 1]['role'] %}\
         {{ raise_exception('Conversation roles must alternate') }}{% endif %}\
         {{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}\
         {% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    )
    .unwrap();
    let prompt = out(ember_in(data.path(), work.path()).arg("--template-file").arg(&strict).args([
        "-c",
        "--print-prompt",
        "Third question.",
    ]));
    assert!(!prompt.contains("Now write a very long story."), "the unanswered question was sent: {prompt}");
    out(ember_in(data.path(), work.path()).arg("--template-file").arg(&strict).args([
        "-c",
        "--max-tokens",
        "4",
        "Third question.",
    ]));
}

#[test]
fn sigkill_during_a_reply_in_the_tui_keeps_every_completed_message() {
    use common::tmux::Tmux;
    use std::time::Duration;
    let data = tempfile::tempdir().unwrap();
    let command = format!(
        "XDG_DATA_HOME='{}' EMBER_MODELS_DIR=/nonexistent {} --model '{}' -t 0 --seed 1 --max-tokens 400; echo EXIT=$?; sleep 60",
        data.path().display(),
        env!("CARGO_BIN_EXE_ember"),
        common::default_model().display()
    );
    let tmux = Tmux::start(&command, data.path());
    tmux.wait_loaded();
    tmux.keys(&["Name a colour.", "Enter"]);
    tmux.wait_for("the first answer", Duration::from_secs(120), |s| s.contains("○ idle") && s.contains("tok/s"));
    tmux.keys(&["Write a very long story about a dragon.", "Enter"]);
    tmux.wait_for("the second answer to stream", Duration::from_secs(60), |s| s.contains("● answering"));
    std::thread::sleep(Duration::from_millis(500));
    let pid = tmux.child_pid().expect("ember's pid");
    assert!(Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    tmux.wait_for("ember to die", Duration::from_secs(20), |s| s.contains("EXIT=137"));
    let messages = exported(data.path(), data.path(), "1");
    let roles: Vec<(&str, &str)> = messages.iter().map(|(r, s, _)| (r.as_str(), s.as_str())).collect();
    // Every completed message; the question being answered; the answer cut by the kill is lost
    // (nothing runs after SIGKILL to save it).
    assert_eq!(roles, [("user", "complete"), ("assistant", "complete"), ("user", "complete")], "{messages:?}");
    assert_eq!(messages[0].2, "Name a colour.");
    assert!(!messages[1].2.trim().is_empty(), "the first answer was saved empty");
    assert_eq!(messages[2].2, "Write a very long story about a dragon.");
}

/// (reused, evaluated) from a --stats line.
fn regex_lite(stats: &str) -> (usize, usize) {
    let after = |key: &str| -> usize {
        let at = stats.find(key).unwrap_or_else(|| panic!("no {key:?} in {stats}"));
        stats[..at].rsplit(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    (after(" reused"), after(" evaluated"))
}

#[test]
fn two_ember_processes_save_into_one_database_at_once() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let children: Vec<_> = ["First question from A.", "Second question from B."]
        .iter()
        .map(|q| {
            Command::new(env!("CARGO_BIN_EXE_ember"))
                .arg("--model")
                .arg(common::default_model())
                .args(["-t", "0", "--threads", "1", "--max-tokens", "4", q])
                .env("XDG_DATA_HOME", data.path())
                .env_remove("EMBER_NO_HISTORY")
                .current_dir(work.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("not be saved"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let list = out(ember_in(data.path(), work.path()).args(["history", "list"]));
    assert!(list.contains("First question from A.") && list.contains("Second question from B."), "{list}");
    assert_eq!(list.matches("2 msgs").count(), 2, "{list}");
}

#[test]
fn continuing_past_the_context_says_which_turns_were_left_out() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let long = format!("{} How many times did I say apple?", "apple ".repeat(300));
    out(ember_in(data.path(), work.path()).args(["--ctx", "1024", "--max-tokens", "8", &long]));
    // The same conversation in a context too small for its first turn.
    let follow = ember_in(data.path(), work.path())
        .args(["-c", "--ctx", "256", "--max-tokens", "16", "What fruit did I name?"])
        .assert()
        .success()
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&follow.stderr);
    assert!(
        err.contains("note: the conversation is longer than the context: the 2 earliest messages were left out"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&follow.stdout).trim().is_empty(), "no answer");
    // Nothing is lost from history: the left-out turn is only out of the model's view.
    let list = out(ember_in(data.path(), work.path()).args(["history", "list"]));
    assert!(list.contains("4 msgs"), "{list}");
}

#[test]
fn a_replys_thinking_is_shown_folded_exported_and_never_searched() {
    use ember::store::{NewConversation, NewMessage, Store, StoredRole};
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    // A conversation as a reasoning model's turn is saved: the thinking apart from the answer.
    let thought = "The user asks for a colour of the sky; azure is the precise word.";
    {
        let mut store = Store::open(&data.path().join("ember/history.db")).unwrap();
        let c = store.create_conversation(&NewConversation { model: "thinker".into(), ..Default::default() }).unwrap();
        let q = store.add_message(c, None, &NewMessage::new(StoredRole::User, "What colour is the sky?")).unwrap();
        let answer = NewMessage { reasoning: Some(thought), ..NewMessage::new(StoredRole::Assistant, "Blue.") };
        store.add_message(c, Some(q), &answer).unwrap();
    }
    let shown = out(ember_in(data.path(), work.path()).args(["history", "show", "1"]));
    assert!(
        shown.contains(&format!(
            "## ember\n\n<details><summary>Thinking</summary>\n\n{thought}\n\n</details>\n\nBlue.\n"
        )),
        "{shown}"
    );
    let md = out(ember_in(data.path(), work.path()).args(["history", "export", "1", "--format", "md"]));
    assert_eq!(md, shown);
    let json = out(ember_in(data.path(), work.path()).args(["history", "export", "1", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["messages"][1]["reasoning_content"], thought);
    assert_eq!(v["messages"][1]["content"], "Blue.");
    assert!(v["messages"][0].get("reasoning_content").is_none(), "{json}");
    // Search finds what was said, never what was only thought.
    let found = out(ember_in(data.path(), work.path()).args(["history", "search", "azure"]));
    assert!(found.trim().is_empty(), "{found}");
    let found = out(ember_in(data.path(), work.path()).args(["history", "search", "sky"]));
    assert!(found.contains("[sky]") && !found.contains("azure"), "{found}");
}
