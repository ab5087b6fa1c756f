//! The remote engine against a real llama.cpp llama-server (built from the same llama.cpp tree
//! as the in-process engine, by scripts/build-llama-tools.sh) serving the default model on a
//! loopback port: streamed chat in pipe mode and in the TUI, cancel, a multi-turn conversation
//! in history, the API key, and the error paths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::llama_server::{free_port, LlamaServer};
use common::tmux::Tmux;
use ember::engine::remote::RemoteOptions;
use ember::engine::{EngineEvent, EngineHandle, Message, Role, SamplingParams, StopReason, TurnRequest};

/// ember against `endpoint`: greedy, fixed seed, no history, no local model anywhere.
fn ember(endpoint: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ember"));
    cmd.args(["--endpoint", endpoint, "--temperature", "0", "--seed", "42"])
        .env_remove("EMBER_MODEL")
        .env_remove("EMBER_ENDPOINT")
        .env_remove("NO_COLOR")
        .env("EMBER_NO_HISTORY", "1")
        // Proves no local model is loaded: there is none to find.
        .env("EMBER_MODELS_DIR", "/nonexistent");
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The server's own non-streamed answer to the same request ember sends.
fn direct_answer(server: &LlamaServer, prompt: &str, max_tokens: usize) -> String {
    let defaults = SamplingParams::default();
    let body = serde_json::json!({
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens, "temperature": 0.0, "seed": 42, "top_p": defaults.top_p,
        "top_k": defaults.top_k, "min_p": defaults.min_p, "repeat_penalty": defaults.repeat_penalty,
    });
    let reply: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/chat/completions", server.endpoint()))
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    reply["choices"][0]["message"]["content"].as_str().unwrap().to_string()
}

#[test]
fn streamed_chat_in_pipe_mode_matches_the_server_and_reports_its_timings() {
    let server = LlamaServer::start();
    let prompt = "What is the capital of France? Answer in one sentence.";
    let (code, stdout, stderr) = run(ember(&server.endpoint()).args(["--stats", "--max-tokens", "60", prompt]));
    assert_eq!(code, 0, "stderr: {stderr}");
    let expected = direct_answer(&server, prompt, 60);
    assert!(!expected.trim().is_empty());
    assert_eq!(stdout.trim_end(), expected.trim_end(), "streamed deltas must add up to the server's answer");
    // --stats: the server's own decode figures (llama-server's `timings`) next to ember's.
    assert!(stderr.contains("llama.cpp decode alone:"), "{stderr}");
    assert!(stderr.contains("first token after"), "{stderr}");
    eprintln!("{stderr}");
}

#[test]
fn the_context_budget_comes_from_the_server_and_models_are_listed() {
    let server = LlamaServer::start();
    let (code, stdout, stderr) = run(ember(&server.endpoint()).arg("models"));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("SmolLM2-135M-Instruct"), "{stdout}");

    // The engine learns the server's 2048-token context from /props; exact token counts come
    // from the server too (the prompt of "hi" is a handful of tokens, not a chars/4 guess).
    let mut options = RemoteOptions::new(server.endpoint());
    options.ctx_size = Some(999);
    let (mut engine, mut events) = EngineHandle::spawn_remote(options);
    let info = match events.blocking_recv().unwrap() {
        EngineEvent::Ready(info) => info,
        other => panic!("expected Ready, got {other:?}"),
    };
    assert_eq!(info.n_ctx, 2048, "the server's context, not the configured fallback");
    assert!(info.name.contains("SmolLM2"), "{info:?}");
    let turn = engine.next_turn();
    let sampling = SamplingParams { temperature: 0.0, max_tokens: 8, ..SamplingParams::default() };
    engine.generate(TurnRequest { turn, messages: vec![Message::new(Role::User, "hi")], sampling }).unwrap();
    let stats = loop {
        match events.blocking_recv().unwrap() {
            EngineEvent::Done { stats, .. } => break stats,
            EngineEvent::Failed { error, .. } => panic!("{error}"),
            _ => {}
        }
    };
    assert!(stats.prompt_tokens > 3 && stats.prompt_tokens < 60, "{stats:?}");
    assert!(stats.generated_tokens > 0 && stats.generated_tokens <= 8, "{stats:?}");
    assert!(stats.llama_eval.is_some(), "llama-server's timings: {stats:?}");
    engine.shutdown();
}

#[test]
fn cancel_closes_the_stream_at_once_and_the_server_stops() {
    let server = LlamaServer::start();
    let (mut engine, mut events) = EngineHandle::spawn_remote(RemoteOptions::new(server.endpoint()));
    assert!(matches!(events.blocking_recv().unwrap(), EngineEvent::Ready(_)));
    let turn = engine.next_turn();
    let sampling = SamplingParams { temperature: 0.0, max_tokens: 1500, ..SamplingParams::default() };
    let messages = vec![Message::new(Role::User, "Count from 1 to 500, one number per line.")];
    engine.generate(TurnRequest { turn, messages, sampling }).unwrap();
    loop {
        match events.blocking_recv().unwrap() {
            EngineEvent::Delta { .. } => break,
            EngineEvent::Failed { error, .. } => panic!("{error}"),
            _ => {}
        }
    }
    assert!(server.busy(), "the server should be generating");
    let cancelled_at = Instant::now();
    engine.cancel(turn);
    loop {
        match events.blocking_recv().unwrap() {
            EngineEvent::Done { stop, .. } => {
                assert_eq!(stop, StopReason::Cancelled);
                break;
            }
            EngineEvent::Delta { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let took = cancelled_at.elapsed();
    assert!(took < Duration::from_millis(500), "cancel took {took:?}");
    // Closing the stream stops the server's generation too.
    let start = Instant::now();
    while server.busy() {
        assert!(start.elapsed() < Duration::from_secs(5), "the server kept generating after the cancel");
        std::thread::sleep(Duration::from_millis(50));
    }
    engine.shutdown();
}

/// Starts a long answer in pipe mode and returns once its first bytes are out (they are in the
/// returned vector).
fn start_long_answer(
    endpoint: &str,
    history: Option<&std::path::Path>,
) -> (std::process::Child, std::process::ChildStdout, Vec<u8>) {
    let mut cmd = ember(endpoint);
    if let Some(data) = history {
        cmd.env_remove("EMBER_NO_HISTORY").env("XDG_DATA_HOME", data);
    }
    let mut child = cmd
        .args(["--max-tokens", "1500", "Count from 1 to 500, one number per line."])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = vec![0u8; 8];
    stdout.read_exact(&mut first).unwrap();
    (child, stdout, first)
}

#[test]
fn ctrl_c_in_pipe_mode_stops_the_answer() {
    let server = LlamaServer::start();
    let (mut child, _stdout, _) = start_long_answer(&server.endpoint(), None);
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "ember did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    let start = Instant::now();
    while server.busy() {
        assert!(start.elapsed() < Duration::from_secs(5), "the server kept generating after Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_multi_turn_conversation_is_stored_in_history() {
    let server = LlamaServer::start();
    let data = tempfile::tempdir().unwrap();
    let with_history = |cmd: &mut Command| {
        cmd.env_remove("EMBER_NO_HISTORY").env("XDG_DATA_HOME", data.path()).current_dir(data.path());
    };
    let mut first = ember(&server.endpoint());
    with_history(first.args(["--stats", "--max-tokens", "30", "My name is Ada. Say hello to me."]));
    let (code, answer1, stderr1) = run(&mut first);
    assert_eq!(code, 0, "{stderr1}");
    let mut second = ember(&server.endpoint());
    with_history(second.args(["-c", "--stats", "--max-tokens", "30", "What is my name?"]));
    let (code, answer2, stderr2) = run(&mut second);
    assert_eq!(code, 0, "{stderr2}");
    // The second request carried the first turn: its prompt is longer.
    let prompt_tokens = |stats: &str| -> usize {
        let at = stats.find("prompt: ").unwrap() + "prompt: ".len();
        stats[at..].split_whitespace().next().unwrap().parse().unwrap()
    };
    assert!(prompt_tokens(&stderr2) > prompt_tokens(&stderr1) + 10, "{stderr1}\n{stderr2}");

    let bin = env!("CARGO_BIN_EXE_ember");
    let list = Command::new(bin).args(["history", "list"]).env("XDG_DATA_HOME", data.path()).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains("4 msgs"), "one conversation of two turns: {list}");
    let id = list.split_whitespace().next().unwrap().trim_start_matches('#').to_string();
    let show = Command::new(bin).args(["history", "show", &id]).env("XDG_DATA_HOME", data.path()).output().unwrap();
    let show = String::from_utf8_lossy(&show.stdout);
    for part in ["My name is Ada", "What is my name?", answer1.trim(), answer2.trim()] {
        assert!(show.contains(part), "history lacks {part:?}:\n{show}");
    }
    // Without --model the conversation is labelled with the model the server answered with.
    assert!(show.contains("SmolLM2-135M-Instruct"), "the server's model is recorded: {show}");
    assert!(!show.contains(&server.endpoint()), "not the server's URL: {show}");
}

#[test]
fn the_tui_chats_with_the_server_and_switches_models() {
    let server = LlamaServer::start();
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_ember");
    let command = format!(
        "XDG_DATA_HOME='{}' EMBER_MODELS_DIR=/nonexistent NO_COLOR= {bin} --endpoint {} -t 0 --seed 1 --max-tokens 200; echo EXIT=$?; sleep 60",
        dir.path().display(),
        server.endpoint()
    );
    let tmux = Tmux::start(&command, dir.path());
    tmux.wait_for("the server to be ready", Duration::from_secs(30), |s| {
        s.contains("○ idle") && s.contains("ctx 0/2048")
    });
    tmux.keys(&["What is the capital of France?", "Enter"]);
    let screen = tmux.wait_for("an answer", Duration::from_secs(90), |s| s.contains("○ idle") && s.contains("tok/s"));
    assert!(screen.contains("Paris"), "{screen}");
    assert!(screen.contains(" SmolLM2-135M-Instruct.Q4_1 ctx "), "the server's model in the status line: {screen}");

    tmux.keys(&["/model no-such-model", "Enter"]);
    let status_line = |s: &str| s.lines().last().unwrap_or_default().to_string();
    tmux.wait_for("the unknown model error", Duration::from_secs(20), |s| {
        s.contains("no model \"no-such-model\"; it has: SmolLM2-135M-Instruct.Q4_1")
            && !status_line(s).contains("SmolLM2")
    });
    tmux.keys(&["/model SmolLM2-135M-Instruct.Q4_1", "Enter"]);
    tmux.wait_for("the server model again", Duration::from_secs(20), |s| {
        let status = status_line(s);
        status.contains(" SmolLM2-135M-Instruct.Q4_1 ctx ") && status.contains("○ idle")
    });
    tmux.keys(&["Say hi.", "Enter"]);
    tmux.wait_for("a second answer", Duration::from_secs(90), |s| {
        status_line(s).contains("○ idle") && s.matches("▍ember").count() == 2
    });
    // Esc stops a streaming answer, and the server stops generating with it.
    tmux.keys(&["/new", "Enter"]);
    tmux.keys(&["Write a very long story about a dragon, with many chapters.", "Enter"]);
    tmux.wait_for("the answer to stream", Duration::from_secs(60), |s| {
        // The first line of the answer, in the transcript column.
        let first = s.lines().skip_while(|l| !l.starts_with("▍ember")).nth(1).unwrap_or_default();
        status_line(s).contains("● answering") && !first.split('│').next().unwrap_or_default().trim().is_empty()
    });
    assert!(server.busy());
    tmux.keys(&["Escape"]);
    tmux.wait_for("the answer to stop", Duration::from_secs(5), |s| {
        let status = status_line(s);
        status.contains("stopped") && status.contains("○ idle")
    });
    let start = Instant::now();
    while server.busy() {
        assert!(start.elapsed() < Duration::from_secs(5), "the server kept generating after Esc");
        std::thread::sleep(Duration::from_millis(50));
    }
    tmux.keys(&["C-d"]);
    let end = tmux.wait_for("ember to exit", Duration::from_secs(20), |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");
}

#[test]
fn a_wrong_model_name_is_a_clear_error() {
    let server = LlamaServer::start();
    let (code, stdout, stderr) = run(ember(&server.endpoint()).args(["--model", "no-such-model", "hi"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("the server has no model \"no-such-model\""), "{stderr}");
    assert!(stderr.contains("it has: SmolLM2-135M-Instruct.Q4_1."), "the error lists the server's models: {stderr}");
    // The short name chooses the model as well as its full id.
    let (code, stdout, stderr) =
        run(ember(&server.endpoint()).args(["--model", "SmolLM2-135M-Instruct.Q4_1", "--max-tokens", "5", "hi"]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.trim().is_empty());
}

#[test]
fn the_server_dying_mid_reply_keeps_the_partial_answer_and_fails() {
    let mut server = LlamaServer::start();
    let data = tempfile::tempdir().unwrap();
    let (mut child, mut stdout, mut partial) = start_long_answer(&server.endpoint(), Some(data.path()));
    server.kill();
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    partial.extend(rest);
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(partial.len() > 8, "the partial answer is printed");
    assert!(stderr.contains("closed the connection mid-reply"), "{stderr}");
    // What was printed is in history, as a stopped answer: `-c` would carry it.
    let show = Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(["history", "export", "1", "--format", "json"])
        .env("XDG_DATA_HOME", data.path())
        .output()
        .unwrap();
    let export: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let answer = &export["messages"][1];
    assert_eq!((answer["role"].as_str(), answer["state"].as_str()), (Some("assistant"), Some("stopped")), "{export}");
    let printed = String::from_utf8_lossy(&partial);
    assert_eq!(answer["content"].as_str().map(str::trim), Some(printed.trim()), "{export}");
}

#[test]
fn no_server_running_is_connection_refused() {
    let port = free_port();
    let start = Instant::now();
    let (code, _, stderr) = run(ember(&format!("http://127.0.0.1:{port}/v1")).arg("hi"));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("connection refused") && stderr.contains("Is the server running"), "{stderr}");
    assert!(start.elapsed() < Duration::from_secs(10));
    let (code, _, stderr) = run(ember("http://no-such-host.invalid/v1").arg("hi"));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("does not resolve"), "{stderr}");
    let (code, _, stderr) = run(ember("127.0.0.1:8080").arg("hi"));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("invalid endpoint"), "{stderr}");
}

#[test]
fn the_api_key_is_sent_but_never_stored_logged_or_shown() {
    let key = "sk-ember-test-4f1c9a";
    let server = LlamaServer::start_with(&["--api-key", key]);
    let home = tempfile::tempdir().unwrap();
    let with_home = |cmd: &mut Command| {
        cmd.env_remove("EMBER_NO_HISTORY")
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_STATE_HOME", home.path().join("state"))
            .env("EMBER_LOG", "debug");
    };
    let mut wrong = ember(&server.endpoint());
    with_home(wrong.args(["--api-key-env", "EMBER_TEST_KEY", "hi"]).env("EMBER_TEST_KEY", "sk-wrong-key"));
    let (code, _, stderr) = run(&mut wrong);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("refused the request (401)"), "{stderr}");
    assert!(!stderr.contains("sk-wrong-key"), "{stderr}");

    let mut unset = ember(&server.endpoint());
    with_home(unset.args(["--api-key-env", "EMBER_TEST_KEY_UNSET", "hi"]));
    let (code, _, stderr) = run(&mut unset);
    assert_eq!(code, 1);
    assert!(stderr.contains("EMBER_TEST_KEY_UNSET") && stderr.contains("not set"), "{stderr}");

    let mut right = ember(&server.endpoint());
    with_home(right.args(["--api-key-env", "EMBER_TEST_KEY", "--max-tokens", "10", "hi"]).env("EMBER_TEST_KEY", key));
    let (code, stdout, stderr) = run(&mut right);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.trim().is_empty());

    // Nothing ember wrote holds the key: not the history database, not the log.
    let mut files = Vec::new();
    let mut dirs = vec![home.path().to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(files.iter().any(|f| f.ends_with("history.db")), "{files:?}");
    assert!(files.iter().any(|f| f.ends_with("ember.log")), "{files:?}");
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!bytes.windows(key.len()).any(|w| w == key.as_bytes()), "{} holds the key", file.display());
    }
}
