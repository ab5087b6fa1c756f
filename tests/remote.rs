//! The remote engine against a real llama.cpp llama-server (built from the same llama.cpp tree
//! as the in-process engine, by scripts/build-llama-tools.sh) serving the default model on a
//! loopback port: streamed chat in pipe mode and in the TUI, cancel, a multi-turn conversation
//! in history, a conversation longer than the server's context, the API key, the error paths
//! (a server that dies or freezes mid-answer), and a hostile server (escapes in its answer and
//! in its model's name) on real terminals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::llama_server::{free_port, LlamaServer};
use common::terminal::{forbidden_in, tui_stream_problems};
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

/// Waits for the engine's next event, failing instead of hanging (the guard is generous: it only
/// stops a test that would otherwise wait forever).
fn next_event(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<EngineEvent>,
    what: &str,
    guard: Duration,
) -> EngineEvent {
    let start = Instant::now();
    loop {
        match events.try_recv() {
            Ok(event) => return event,
            Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                assert!(start.elapsed() < guard, "no engine event after {guard:?} waiting for {what}");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("the engine's events ended waiting for {what}: {e}"),
        }
    }
}

/// Freezes a process (SIGSTOP) until dropped (SIGCONT), so a panicking test does not leave it
/// stopped.
struct Frozen(u32);

impl Frozen {
    fn new(pid: u32) -> Frozen {
        assert!(pid != 0);
        assert!(Command::new("kill").args(["-STOP", &pid.to_string()]).status().unwrap().success());
        Frozen(pid)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.0.to_string()]).status();
    }
}

/// What llama-server logged when its slot let go of the last task: whether the task was
/// cancelled (the client went away) and the tokens in the slot then (prompt and generated).
fn last_release(server: &LlamaServer) -> (bool, usize) {
    let start = Instant::now();
    loop {
        // The server logs from a thread of its own: the line may come a moment after /slots.
        let log = server.log_text();
        let marker = "stop processing: n_tokens = ";
        if let Some(at) = log.rfind(marker) {
            let tokens = log[at + marker.len()..].split(|c: char| !c.is_ascii_digit()).next().unwrap();
            return (log.contains("cancel task"), tokens.parse().unwrap());
        }
        assert!(start.elapsed() < Duration::from_secs(30), "llama-server logged no release:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn cancel_closes_the_stream_at_once_and_the_server_stops() {
    // --ignore-eos: unless the cancel stops it, the server generates all 1500 tokens.
    let server = LlamaServer::start_with(&["--ignore-eos"]);
    let (mut engine, mut events) = EngineHandle::spawn_remote(RemoteOptions::new(server.endpoint()));
    assert!(matches!(events.blocking_recv().unwrap(), EngineEvent::Ready(_)));
    let turn = engine.next_turn();
    let sampling = SamplingParams { temperature: 0.0, max_tokens: 1500, ..SamplingParams::default() };
    let messages = vec![Message::new(Role::User, "Count from 1 to 500, one number per line.")];
    engine.generate(TurnRequest { turn, messages, sampling }).unwrap();
    loop {
        match next_event(&mut events, "the first delta", Duration::from_secs(120)) {
            EngineEvent::Delta { .. } => break,
            EngineEvent::Failed { error, .. } => panic!("{error}"),
            _ => {}
        }
    }
    assert!(server.busy(), "the server should be generating");
    // Freeze the server: from now on it sends nothing. The cancel must end the turn without
    // waiting for the server's next bytes (the read timeout is 300 s, the guard 60 s).
    let frozen = Frozen::new(server.pid());
    engine.cancel(turn);
    let mut in_flight = 0;
    loop {
        match next_event(&mut events, "Done after the cancel", Duration::from_secs(60)) {
            EngineEvent::Done { stop, .. } => {
                assert_eq!(stop, StopReason::Cancelled);
                break;
            }
            // Deltas already on their way when the cancel came.
            EngineEvent::Delta { .. } => in_flight += 1,
            EngineEvent::Progress { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    drop(frozen);
    // Closing the stream stops the server's generation too: it ends long before its 1500 tokens.
    let start = Instant::now();
    while server.busy() {
        assert!(start.elapsed() < Duration::from_secs(60), "the server kept generating after the cancel");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (cancelled, tokens) = last_release(&server);
    assert!(cancelled, "llama-server did not cancel the task:\n{}", server.log_text());
    assert!(tokens < 1500, "the server generated its whole answer ({tokens} tokens): the stream stayed open");
    // Nothing comes after Done.
    match events.try_recv() {
        Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {}
        other => panic!("an event after Done: {other:?}"),
    }
    eprintln!("{in_flight} deltas in flight after the cancel; the slot held {tokens} tokens");
    engine.shutdown();
}

/// Starts a long answer in pipe mode and returns once its first bytes are out (they are in the
/// returned vector).
fn start_long_answer(
    endpoint: &str,
    history: Option<&Path>,
    extra: &[&str],
) -> (std::process::Child, std::process::ChildStdout, Vec<u8>) {
    let mut cmd = ember(endpoint);
    if let Some(data) = history {
        cmd.env_remove("EMBER_NO_HISTORY").env("XDG_DATA_HOME", data);
    }
    let mut child = cmd
        .args(extra)
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
    let (mut child, _stdout, _) = start_long_answer(&server.endpoint(), None, &[]);
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
    // An unknown model is refused with the server's list, and the model in use stays.
    tmux.wait_for("the unknown model error", Duration::from_secs(20), |s| {
        s.contains("the server has no model \"no-such-model\"; it has:")
            && status_line(s).contains("still using SmolLM2-135M-Instruct.Q4_1")
    });
    // A part of a listed model's name chooses it, as --model does for local files.
    tmux.keys(&["/model smollm2", "Enter"]);
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
    let (mut child, mut stdout, mut partial) = start_long_answer(&server.endpoint(), Some(data.path()), &[]);
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
    let export = common::history_export(data.path(), 1);
    let answer = &export["messages"][1];
    assert_eq!((answer["role"].as_str(), answer["state"].as_str()), (Some("assistant"), Some("stopped")), "{export}");
    let printed = String::from_utf8_lossy(&partial);
    assert_eq!(answer["content"].as_str().map(str::trim), Some(printed.trim()), "{export}");
}

/// Waits for `child` to exit, reading its stdout and stderr meanwhile; kills it and fails if it
/// runs past `guard` (which only stops a hang).
fn finish_guarded(
    mut child: std::process::Child,
    stdout: impl Read + Send + 'static,
    guard: Duration,
) -> (std::process::ExitStatus, Vec<u8>, String) {
    let mut stdout = stdout;
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout.read_to_end(&mut bytes).unwrap();
        bytes
    });
    let mut stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > guard {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ember still ran after {guard:?}: it hung; stderr: {}", err.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, out.join().unwrap(), err.join().unwrap())
}

#[test]
fn a_frozen_server_is_a_read_timeout_that_says_so_and_keeps_the_partial_answer() {
    let server = LlamaServer::start();
    let data = tempfile::tempdir().unwrap();
    // The read timeout: the longest wait for the server's next bytes (default 300 s).
    let config = data.path().join("config.toml");
    std::fs::write(&config, "[remote]\nread_timeout = 2\n").unwrap();
    let (child, stdout, mut partial) =
        start_long_answer(&server.endpoint(), Some(data.path()), &["--config", config.to_str().unwrap()]);
    // The server stops mid-answer but keeps the connection open: only the timeout can end it.
    let frozen = Frozen::new(server.pid());
    let (status, rest, stderr) = finish_guarded(child, stdout, Duration::from_secs(60));
    drop(frozen);
    partial.extend(rest);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(partial.len() > 8, "the partial answer is printed");
    // What happened (nothing came for 2 s: the timeout) and what to do (raise it).
    assert!(stderr.contains("for 2 s"), "the error names the wait: {stderr}");
    assert!(
        stderr.contains("read_timeout") || stderr.contains("read timeout"),
        "the error says what to do (raise the read timeout): {stderr}"
    );
    assert!(!stderr.contains("closed the connection"), "the server did not close it; it went silent: {stderr}");
    // What was printed is in history, as a stopped answer.
    let export = common::history_export(data.path(), 1);
    let answer = &export["messages"][1];
    assert_eq!((answer["role"].as_str(), answer["state"].as_str()), (Some("assistant"), Some("stopped")), "{export}");
    let printed = String::from_utf8_lossy(&partial);
    assert_eq!(answer["content"].as_str().map(str::trim), Some(printed.trim()), "{export}");
    // ember dropped the connection: the server, running again, stops generating.
    let start = Instant::now();
    while server.busy() {
        assert!(start.elapsed() < Duration::from_secs(60), "the server kept generating after the timeout");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_conversation_longer_than_the_servers_context_drops_its_oldest_turns() {
    // A later -c overrides LlamaServer's 2048.
    let server = LlamaServer::start_with(&["-c", "512"]);
    let props: serde_json::Value = reqwest::blocking::get(format!("{}/props", server.root())).unwrap().json().unwrap();
    assert_eq!(props["default_generation_settings"]["n_ctx"], 512, "{props}");
    // Six earlier turns of ~150 tokens each side: far more than 512 tokens.
    let data = tempfile::tempdir().unwrap();
    let id = {
        let mut store = ember::store::Store::open(&data.path().join("ember/history.db")).unwrap();
        let id = store
            .create_conversation(&ember::store::NewConversation {
                model: "earlier".into(),
                system_prompt: None,
                cwd: data.path().display().to_string(),
            })
            .unwrap();
        let mut parent = None;
        for turn in 1..=6 {
            let filler = "Bridges carry roads and railways over rivers, valleys and other roads. ".repeat(10);
            for (role, text) in [
                (ember::store::StoredRole::User, format!("Tell me about bridges, part {turn}. {filler}")),
                (ember::store::StoredRole::Assistant, format!("Part {turn} about bridges: {filler}")),
            ] {
                parent = Some(store.add_message(id, parent, &ember::store::NewMessage::new(role, &text)).unwrap());
            }
        }
        id
    };
    let question = "What is the capital of France?";
    let mut cmd = ember(&server.endpoint());
    cmd.env_remove("EMBER_NO_HISTORY").env("XDG_DATA_HOME", data.path());
    let (code, stdout, stderr) =
        run(cmd.args(["--session", &id.to_string(), "--stats", "--max-tokens", "30", question]));
    assert_eq!(code, 0, "the server answered (no context error): {stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
    // The oldest turns were left out, and said so.
    let note = "note: the conversation is longer than the context: the ";
    let at = stderr.find(note).unwrap_or_else(|| panic!("no note about the dropped turns: {stderr}")) + note.len();
    // "the earliest message was left out", or "the N earliest messages were left out".
    let dropped: usize = match stderr[at..].split_whitespace().next().unwrap() {
        "earliest" => 1,
        n => n.parse().unwrap(),
    };
    assert!(dropped > 0 && dropped < 12, "{stderr}");
    assert!(
        stderr[at..].contains(if dropped == 1 { "message was left out" } else { "messages were left out" }),
        "{stderr}"
    );
    let prompt_at = stderr.find("prompt: ").unwrap() + "prompt: ".len();
    let prompt: usize = stderr[prompt_at..].split_whitespace().next().unwrap().parse().unwrap();
    assert!(prompt > 10 && prompt < 512, "the server's prompt fits its context: {stderr}");
    // The newest question was kept: it is what the server answered.
    assert!(stdout.contains("Paris"), "{stdout}");
    // History keeps the whole conversation, the new turn last.
    let export = common::history_export(data.path(), id);
    let messages = export["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 14, "{export}");
    assert_eq!(messages[12]["content"], question);
    assert_eq!(messages[13]["content"].as_str().map(str::trim), Some(stdout.trim()));
}

// ---------------------------------------------------------------------------------------------
// A hostile server: escape sequences in its answer and in its model's name.

/// Code full of what a terminal would act on: a title (OSC 0), a clipboard write (OSC 52), a
/// clear screen (CSI 2J), an 8-bit CSI (U+009B) and a right-to-left override (U+202E).
const HOSTILE_CODE: &str = "echo safe \x1b]0;pwned-title\x07 \x1b]52;c;ZXZpbA==\x07 \x1b[2J \u{9b}31m \u{202E}gnp.exe";
/// The same, as a terminal must show it.
const HOSTILE_CODE_SHOWN: &str = "echo safe ␛]0;pwned-title␇ ␛]52;c;ZXZpbA==␇ ␛[2J <U+009B>31m <U+202E>gnp.exe";
/// A model name as hostile (llama-server's `--alias`).
const HOSTILE_NAME: &str = "evil\x1b]0;pwned\x07\x1b[2J\u{202E}\u{9b}model";
const HOSTILE_NAME_SHOWN: &str = "evil␛]0;pwned␇␛[2J<U+202E><U+009B>model";

/// `text` as a GBNF string literal's contents: anything but printable ASCII escaped.
fn gbnf_escaped(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => format!("\\{c}"),
            ' '..='~' => c.to_string(),
            c if (c as u32) < 0x80 => format!("\\x{:02x}", c as u32),
            c => format!("\\u{:04x}", c as u32),
        })
        .collect()
}

/// A tmux pane that runs `script` (sh) once its output is logged: every byte the script's
/// programs write to the terminal is appended to the returned log, raw. Returns the pane's title
/// before anything ran, too.
fn logged_pane(script: &str, dir: &Path) -> (Tmux, PathBuf, String) {
    std::fs::create_dir_all(dir).unwrap();
    let script_path = dir.join("script.sh");
    std::fs::write(
        &script_path,
        format!("while [ ! -e go ]; do sleep 0.05; done\n{script}\necho SCRIPT-DONE\nsleep 120\n"),
    )
    .unwrap();
    let tmux = Tmux::start(&format!("sh '{}'", script_path.display()), dir);
    let log = dir.join("terminal.log");
    tmux.log_output(&log);
    let title = pane_title(&tmux);
    std::fs::write(dir.join("go"), "").unwrap();
    (tmux, log, title)
}

fn pane_title(tmux: &Tmux) -> String {
    tmux.out(&["display-message", "-p", "-t", "e2e", "#{pane_title}"]).trim_end().to_string()
}

/// The log of a pane once its script is done (pipe-pane forwards asynchronously: the last bytes
/// get a moment).
fn read_log(tmux: &Tmux, log: &Path, timeout: Duration) -> Vec<u8> {
    tmux.wait_for("the script to finish", timeout, |s| s.contains("SCRIPT-DONE"));
    std::thread::sleep(Duration::from_millis(300));
    std::fs::read(log).unwrap()
}

/// Text written to a terminal by a line-oriented program: valid UTF-8, no forbidden character
/// (the terminal's own CR before each LF aside), and nothing a terminal acted on: tmux's pane
/// title unchanged, no clipboard write. Returns the text.
fn assert_inert_on_terminal(tmux: &Tmux, raw: &[u8], title_before: &str) -> String {
    let text = std::str::from_utf8(raw).unwrap_or_else(|e| panic!("raw 8-bit bytes reached the terminal: {e}"));
    let text = text.replace("\r\n", "\n");
    let bad = forbidden_in(&text);
    assert!(bad.is_empty(), "control or bidi characters reached the terminal: {bad:?}\n{text}");
    assert_eq!(pane_title(tmux), title_before, "the pane's title was changed");
    assert_eq!(tmux.out(&["list-buffers"]).trim(), "", "something was copied to tmux's clipboard");
    text
}

#[test]
fn hostile_code_from_the_server_is_inert_on_a_terminal_and_exact_in_a_pipe() {
    // The server's default grammar makes the real model answer with exactly this code block.
    let grammar = format!("root ::= \"```sh\\n{}\\n```\\n\"", gbnf_escaped(HOSTILE_CODE));
    let server = LlamaServer::start_with(&["--grammar", &grammar]);
    let question = "Write a shell command.";

    // To a pipe: the code, byte for byte, and nothing else (not the fence).
    let out = ember(&server.endpoint())
        .args(["--max-tokens", "200", "--code", question])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{HOSTILE_CODE}\n"), "{stderr}");

    // To a terminal: the same code, every escape shown, none acted on.
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "EMBER_NO_HISTORY=1 EMBER_MODELS_DIR=/nonexistent {} --endpoint {} -t 0 --seed 42 --max-tokens 200 --code '{question}'; echo rc=$?",
        env!("CARGO_BIN_EXE_ember"),
        server.endpoint()
    );
    let (tmux, log, title) = logged_pane(&script, dir.path());
    let raw = read_log(&tmux, &log, Duration::from_secs(120));
    let shown = assert_inert_on_terminal(&tmux, &raw, &title);
    assert!(shown.contains(&format!("{HOSTILE_CODE_SHOWN}\nrc=0")), "the code, shown inert:\n{shown}");
    assert!(!shown.contains("```"), "only the code: {shown}");
}

#[test]
fn a_hostile_model_name_from_the_server_is_inert_in_the_tui_and_history() {
    let server = LlamaServer::start_with(&["--alias", HOSTILE_NAME]);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bin = env!("CARGO_BIN_EXE_ember");
    let env = format!("XDG_DATA_HOME='{}' EMBER_MODELS_DIR=/nonexistent NO_COLOR=", data.display());

    // The TUI: history on, so the conversation is labelled with the server's model name.
    let script = format!("{env} {bin} --endpoint {} -t 0 --seed 1 --max-tokens 20; echo EXIT=$?", server.endpoint());
    let (tmux, log, title) = logged_pane(&script, &dir.path().join("tui"));
    let status_line = |s: &str| s.lines().last().unwrap_or_default().to_string();
    let ready = tmux.wait_for("the server to be ready", Duration::from_secs(30), |s| {
        s.contains("○ idle") && s.contains("ctx 0/2048")
    });
    assert!(status_line(&ready).contains(HOSTILE_NAME_SHOWN), "the name, shown inert:\n{ready}");
    tmux.keys(&["Say hi.", "Enter"]);
    tmux.wait_for("an answer", Duration::from_secs(90), |s| {
        let status = status_line(s);
        status.contains("○ idle") && !status.contains("ctx 0/") && s.contains("▍ember")
    });
    tmux.keys(&["C-d"]);
    let end = tmux.wait_for("ember to exit", Duration::from_secs(20), |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");
    let raw = read_log(&tmux, &log, Duration::from_secs(10));
    let problems = tui_stream_problems(&raw, false);
    assert!(problems.is_empty(), "more than drawing reached the terminal: {problems:?}");
    assert!(String::from_utf8_lossy(&raw).contains(HOSTILE_NAME_SHOWN), "the name was drawn");
    assert_eq!(pane_title(&tmux), title, "the pane's title was changed");
    drop(tmux);

    // `ember history list` on a terminal: the label, inert.
    let (tmux, log, title) = logged_pane(&format!("{env} {bin} history list"), &dir.path().join("list"));
    let raw = read_log(&tmux, &log, Duration::from_secs(30));
    let shown = assert_inert_on_terminal(&tmux, &raw, &title);
    assert!(shown.contains(HOSTILE_NAME_SHOWN), "the label, shown inert:\n{shown}");
    // To a pipe: the label as the server sent it.
    let list = Command::new(bin).args(["history", "list"]).env("XDG_DATA_HOME", &data).output().unwrap();
    assert!(list.status.success());
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(list.contains(&format!("  {HOSTILE_NAME}  ")), "{list:?}");
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

/// A DeepSeek-R1-style ChatML template: the generation prompt opens the thinking (`<think>\n`)
/// unless `enable_thinking` is false, and past answers carry their `reasoning_content` — what
/// llama-server's template analysis needs to see a reasoning model.
const THINKING_TEMPLATE: &str = r#"{%- for message in messages -%}
{{- '<|im_start|>' + message['role'] + '\n' -}}
{%- if message['role'] == 'assistant' and message['reasoning_content'] is defined and message['reasoning_content'] -%}
{{- '<think>\n' + message['reasoning_content'] + '\n</think>\n\n' -}}
{%- endif -%}
{{- message['content'] + '<|im_end|>\n' -}}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- '<|im_start|>assistant\n' -}}
{%- if enable_thinking is defined and enable_thinking is false -%}
{{- '<think>\n\n</think>\n\n' -}}
{%- else -%}
{{- '<think>\n' -}}
{%- endif -%}
{%- endif -%}
"#;
/// What the model thinks, and answers (the server's grammar makes it write exactly this).
const THOUGHT: &str = "Two and two make four.";
const ANSWER: &str = "The answer is 4.";

/// llama-server with the thinking template and `--reasoning-format FORMAT`; the grammar makes
/// the small model write a thought, close it, and answer, as a reasoning model does.
fn thinking_server(format: &str) -> (LlamaServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("r1.jinja");
    std::fs::write(&template, THINKING_TEMPLATE).unwrap();
    let grammar = format!("root ::= \"{}\\n</think>\\n\\n{}\"", gbnf_escaped(THOUGHT), gbnf_escaped(ANSWER));
    let server = LlamaServer::start_with(&[
        "--jinja",
        "--chat-template-file",
        template.to_str().unwrap(),
        "--reasoning-format",
        format,
        "--grammar",
        &grammar,
    ]);
    (server, dir)
}

/// One turn through the remote engine: (reasoning events' text, answer deltas' text, stats).
fn engine_turn(
    server: &LlamaServer,
    reasoning: ember::engine::Reasoning,
) -> (String, String, ember::engine::TurnStats) {
    let (mut engine, mut events) = EngineHandle::spawn_remote(RemoteOptions::new(server.endpoint()));
    assert!(matches!(next_event(&mut events, "Ready", Duration::from_secs(60)), EngineEvent::Ready(_)));
    let turn = engine.next_turn();
    let sampling = SamplingParams { temperature: 0.0, max_tokens: 60, reasoning, ..SamplingParams::default() };
    engine.generate(TurnRequest { turn, messages: vec![Message::new(Role::User, "What is 2+2?")], sampling }).unwrap();
    let (mut thought, mut answer) = (String::new(), String::new());
    let stats = loop {
        match next_event(&mut events, "the answer", Duration::from_secs(120)) {
            EngineEvent::Reasoning { text, .. } => thought.push_str(&text),
            EngineEvent::Delta { text, .. } => answer.push_str(&text),
            EngineEvent::Progress { .. } => {}
            EngineEvent::Done { stats, stop, .. } => {
                assert_eq!(stop, StopReason::EndOfText);
                break stats;
            }
            EngineEvent::Failed { error, .. } => panic!("{error}\n{}", server.log_text()),
            other => panic!("unexpected {other:?}"),
        }
    };
    engine.shutdown();
    (thought, answer, stats)
}

/// In pipe mode the answer alone reaches stdout; `--show-reasoning` puts the thinking on stderr.
fn assert_pipe_keeps_reasoning_apart(server: &LlamaServer) {
    let (code, stdout, stderr) = run(ember(&server.endpoint()).args(["--max-tokens", "60", "What is 2+2?"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), ANSWER, "stderr: {stderr}");
    assert!(!stderr.contains(THOUGHT), "the thinking is not shown unless asked when stdout is a pipe: {stderr}");
    let (code, stdout, stderr) =
        run(ember(&server.endpoint()).args(["--show-reasoning", "--max-tokens", "60", "What is 2+2?"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), ANSWER, "stderr: {stderr}");
    assert!(stderr.contains(THOUGHT), "--show-reasoning shows the thinking on stderr: {stderr}");
}

#[test]
fn reasoning_the_server_sends_apart_stays_out_of_the_answer() {
    let (server, _dir) = thinking_server("deepseek");
    assert_pipe_keeps_reasoning_apart(&server);
    let (thought, answer, stats) = engine_turn(&server, ember::engine::Reasoning::Auto);
    assert_eq!((thought.trim(), answer.as_str()), (THOUGHT, ANSWER));
    assert!(stats.reasoning_tokens >= 5 && stats.reasoning_tokens < stats.generated_tokens, "{stats:?}");
    assert!(!stats.reasoning_time.is_zero(), "{stats:?}");

    // The setting reaches the server's chat template: with thinking off the generation prompt
    // closes the block, so the server takes every word the model writes for answer, and the
    // prompt is longer by the closed block.
    let (thought_on, _, on) = engine_turn(&server, ember::engine::Reasoning::On);
    assert_eq!(thought_on.trim(), THOUGHT);
    let (thought_off, answer_off, off) = engine_turn(&server, ember::engine::Reasoning::Off);
    assert_eq!(thought_off, "", "enable_thinking=false reached the template");
    assert!(answer_off.starts_with(THOUGHT), "{answer_off}");
    assert!(off.prompt_tokens > on.prompt_tokens, "{on:?}\n{off:?}");
    // An effort is accepted too (and the thinking stays on).
    let (thought_low, answer_low, _) = engine_turn(&server, ember::engine::Reasoning::Low);
    assert_eq!((thought_low.trim(), answer_low.as_str()), (THOUGHT, ANSWER));
}

#[test]
fn think_tags_the_server_leaves_in_the_answer_are_taken_out_by_ember() {
    // --reasoning-format none: llama-server sends the generation prompt's `<think>` and the
    // model's `</think>` in `content`, as any server that does not parse reasoning would.
    let (server, _dir) = thinking_server("none");
    let raw: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/chat/completions", server.endpoint()))
        .json(&serde_json::json!({"messages": [{"role": "user", "content": "What is 2+2?"}], "max_tokens": 60}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let content = raw["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.contains("<think>") && content.contains(THOUGHT), "the server left the tags in: {raw}");
    assert_pipe_keeps_reasoning_apart(&server);
    let (thought, answer, stats) = engine_turn(&server, ember::engine::Reasoning::Auto);
    assert_eq!((thought.trim(), answer.as_str()), (THOUGHT, ANSWER));
    assert!(stats.reasoning_tokens > 0 && stats.reasoning_tokens < stats.generated_tokens, "{stats:?}");
}

#[test]
fn a_long_code_line_streams_on_a_terminal_before_its_newline() {
    // The real model, made by the server's grammar to write one long line of Python: ember must
    // show it as it comes (plain, once it has waited a moment for its newline), not hold it all.
    let line = format!("x = [{}1]", "1, ".repeat(400));
    let grammar = format!("root ::= \"```python\\n{}\\n```\\n\"", gbnf_escaped(&line));
    let server = LlamaServer::start_with(&["--grammar", &grammar]);
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "EMBER_NO_HISTORY=1 EMBER_MODELS_DIR=/nonexistent {} --endpoint {} -t 0 --seed 42 --max-tokens 2000 --stats 'Write a list.'; echo rc=$?",
        env!("CARGO_BIN_EXE_ember"),
        server.endpoint()
    );
    let (tmux, log, _) = logged_pane(&script, dir.path());
    let start = Instant::now();
    let (mut began, mut ended) = (None, None);
    while ended.is_none() && start.elapsed() < Duration::from_secs(120) {
        let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
        if began.is_none() && text.contains("1, 1, 1, 1") {
            began = Some(start.elapsed());
        }
        if text.contains("1]") {
            ended = Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let raw = read_log(&tmux, &log, Duration::from_secs(120));
    let shown = String::from_utf8_lossy(&raw);
    let (began, ended) = (began.expect("the line began on the terminal"), ended.expect("the line ended"));
    assert!(shown.contains("rc=0"), "{shown}");
    assert!(
        ended - began > Duration::from_secs(1),
        "the line was held for its newline: its start showed at {began:?}, its end at {ended:?}\n{shown}"
    );
}
