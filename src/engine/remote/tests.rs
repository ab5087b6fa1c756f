//! Unit tests of the remote backend, against canned answers; the real-server tests are in
//! tests/remote.rs.

use super::error::{error_message, status_error};
use super::http::{parse_models, ApiKey};
use super::stream::{retry_after, Streamed};
use super::*;
use crate::engine::Role;

#[test]
fn error_bodies_give_their_message() {
    assert_eq!(error_message(r#"{"error":{"message":"model not found","type":"x"}}"#), "model not found");
    assert_eq!(error_message(r#"{"error":"bad"}"#), "bad");
    assert_eq!(error_message(r#"{"detail":"Not Found"}"#), "Not Found");
    assert_eq!(error_message("plain text"), "plain text");
    assert_eq!(error_message(""), "no details");
}

#[test]
fn statuses_map_to_errors() {
    assert!(matches!(status_error(401, "m", 1, None), RemoteError::Auth { status: 401, .. }));
    assert!(matches!(status_error(403, "m", 1, None), RemoteError::Auth { status: 403, .. }));
    assert!(matches!(status_error(404, "m", 1, Some("x")), RemoteError::UnknownModel { .. }));
    assert!(matches!(status_error(429, "m", 4, None), RemoteError::RateLimited { attempts: 4, .. }));
    assert!(matches!(status_error(503, "m", 4, None), RemoteError::ServerFailed { status: 503, .. }));
    assert!(matches!(status_error(400, "m", 1, None), RemoteError::Rejected { status: 400, .. }));
}

#[test]
fn models_from_openai_vllm_llama_server_and_ollama_shapes() {
    let body = json!({"object":"list","data":[
        {"id":"a","owned_by":"me","max_model_len":4096},
        {"id":"b","meta":{"n_ctx_train":2048}}]});
    let models = parse_models(&body);
    assert_eq!(models.len(), 2);
    assert_eq!(models[0].n_ctx, Some(4096));
    assert_eq!(models[0].owned_by.as_deref(), Some("me"));
    assert_eq!(models[1].n_ctx_train, Some(2048));
    assert_eq!(parse_models(&json!({"models":[{"name":"llama3:8b"}]}))[0].id, "llama3:8b");
    assert!(parse_models(&json!({"unexpected":true})).is_empty());
}

#[test]
fn the_key_never_shows() {
    let key = ApiKey("sk-secret".into());
    assert!(!format!("{key:?}").contains("secret"));
    std::env::set_var("EMBER_TEST_KEY_NEVER_SHOWS", "sk-secret");
    let mut options = RemoteOptions::new("http://127.0.0.1:9/v1");
    options.api_key_env = Some("EMBER_TEST_KEY_NEVER_SHOWS".into());
    let http = Http::new(&options).unwrap();
    assert_eq!(http.clean("bad key sk-secret given"), "bad key <api key> given");
    assert!(!format!("{:?}", http.key).contains("secret"));
    options.api_key_env = Some("EMBER_TEST_KEY_UNSET_XYZ".into());
    let err = Http::new(&options).err().unwrap();
    assert!(err.to_string().contains("EMBER_TEST_KEY_UNSET_XYZ"));
}

#[test]
fn bad_urls_are_refused_early() {
    assert!(matches!(Http::new(&RemoteOptions::new("127.0.0.1:8080")).err(), Some(RemoteError::BadUrl { .. })));
    assert!(matches!(Http::new(&RemoteOptions::new("ftp://host/v1")).err(), Some(RemoteError::BadUrl { .. })));
    let http = Http::new(&RemoteOptions::new("http://h:1/v1/")).unwrap();
    assert_eq!((http.base.as_str(), http.root.as_str()), ("http://h:1/v1", "http://h:1"));
}

#[test]
fn request_bodies_are_standard_unless_llama_server() {
    let messages = [Message::new(Role::System, "s"), Message::new(Role::User, "hi")];
    let sampling = SamplingParams::default();
    let body = request_body("m", &messages, &sampling, false);
    assert_eq!(body["messages"][1], json!({"role":"user","content":"hi"}));
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["temperature"], json!(0.7), "no f32 noise on the wire");
    assert!(body.get("top_k").is_none());
    assert!(request_body("m", &messages, &sampling, true).get("top_k").is_some());
}

#[test]
fn stats_prefer_what_the_server_reports() {
    let started = Instant::now();
    let streamed = Streamed {
        usage: Some(json!({"prompt_tokens": 30, "completion_tokens": 12})),
        timings: Some(
            json!({"cache_n": 10, "prompt_n": 20, "prompt_ms": 40.0, "predicted_n": 12, "predicted_ms": 120.0}),
        ),
        first_token: Some(started),
        chunks: 11,
        ..Streamed::default()
    };
    let stats = stats_from(&streamed, started, 99, 1);
    assert_eq!((stats.prompt_tokens, stats.reused_tokens, stats.evaluated_tokens), (30, 10, 20));
    assert_eq!(stats.generated_tokens, 12);
    assert_eq!(stats.llama_eval, Some((12, Duration::from_millis(120))));
    assert_eq!(stats.dropped_messages, 1);
    let bare = stats_from(&Streamed { chunks: 5, ..Streamed::default() }, started, 42, 0);
    assert_eq!((bare.prompt_tokens, bare.generated_tokens, bare.llama_eval), (42, 5, None));
}

#[test]
fn retry_after_in_seconds() {
    let mut headers = reqwest::header::HeaderMap::new();
    assert_eq!(retry_after(&headers), None);
    headers.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
    assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
    headers.insert(reqwest::header::RETRY_AFTER, "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
    assert_eq!(retry_after(&headers), None);
}

/// A canned-answer HTTP server for the paths a real server cannot be made to take on demand
/// (429/503 with Retry-After, a malformed stream, a stall). The real-server tests are in
/// tests/remote.rs. Each connection gets the next answer; the pause is before closing.
fn fake_server(answers: Vec<(&'static str, Duration)>) -> (String, std::thread::JoinHandle<usize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let thread = std::thread::spawn(move || {
        let mut served = 0;
        for (answer, pause) in answers {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then the body its Content-Length announces.
            while let Ok(n) = stream.read(&mut buf) {
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            let _ = stream.write_all(answer.as_bytes());
            let _ = stream.flush();
            std::thread::sleep(pause);
            served += 1;
        }
        served
    });
    (base, thread)
}

/// Collects text and reasoning apart; cancels itself once it has `cancel_after` pieces of text.
struct TestSink {
    text: String,
    reasoning: String,
    pieces: usize,
    cancel_after: usize,
}

impl TurnSink for TestSink {
    fn text(&mut self, text: &str) -> std::ops::ControlFlow<()> {
        self.text.push_str(text);
        self.pieces += 1;
        std::ops::ControlFlow::Continue(())
    }
    fn reasoning(&mut self, text: &str) -> std::ops::ControlFlow<()> {
        self.reasoning.push_str(text);
        std::ops::ControlFlow::Continue(())
    }
    fn cancelled(&self) -> bool {
        self.pieces >= self.cancel_after
    }
}

fn session(base: &str) -> RemoteSession {
    RemoteSession {
        http: Http::new(&RemoteOptions::new(base)).unwrap(),
        model: "m".into(),
        n_ctx: 2048,
        llama_server: false,
        counting: Counting::Estimate,
        counts: HashMap::new(),
        max_retries: 2,
        drop_point: crate::engine::fit::DropPoint::default(),
    }
}

fn ask(base: &str, cancel_after: usize) -> (Result<(TurnStats, StopReason), EngineError>, TestSink) {
    let mut sink = TestSink { text: String::new(), reasoning: String::new(), pieces: 0, cancel_after };
    let req =
        TurnRequest { turn: 1, messages: vec![Message::new(Role::User, "hi")], sampling: SamplingParams::default() };
    (session(base).generate(&req, &mut sink), sink)
}

/// The head of a scripted server's streamed answer.
const SSE_HEAD: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";

/// A streamed answer whose body is `events`, for [`fake_server`].
fn sse(events: &str) -> &'static str {
    Box::leak(format!("{SSE_HEAD}{events}").into_boxed_str())
}

/// One server-sent event carrying `text` as answer.
fn content_event(text: &str) -> String {
    format!("data: {}\n\n", json!({"choices": [{"delta": {"content": text}}]}))
}

/// "Hello" in two chunks, with usage, a stop and `[DONE]`.
fn sse_ok() -> &'static str {
    sse("data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\r\n\r\n\
        data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2}}\n\n\
        data: [DONE]\n\n")
}

#[test]
fn rate_limits_and_server_errors_are_retried_honouring_retry_after() {
    let limited = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 28\r\nConnection: close\r\n\r\n{\"error\":{\"message\":\"slow\"}}";
    let failed = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let (base, server) =
        fake_server(vec![(limited, Duration::ZERO), (failed, Duration::ZERO), (sse_ok(), Duration::ZERO)]);
    let started = Instant::now();
    let (result, sink) = ask(&base, usize::MAX);
    let (stats, stop) = result.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was not honoured");
    assert_eq!((sink.text.as_str(), stop), ("Hello", StopReason::EndOfText));
    assert_eq!((stats.prompt_tokens, stats.generated_tokens), (9, 2));
    assert_eq!(server.join().unwrap(), 3);

    let (base, server) = fake_server(vec![(failed, Duration::ZERO); 3]);
    let (result, _) = ask(&base, usize::MAX);
    let error = result.unwrap_err().to_string();
    assert!(error.contains("failed (503) after 3 tries"), "{error}");
    assert_eq!(server.join().unwrap(), 3, "bounded: the first try and max_retries more");
}

#[test]
fn a_malformed_stream_is_an_error() {
    let bad = sse("data: {not json\n\n");
    let (base, _server) = fake_server(vec![(bad, Duration::ZERO)]);
    let error = ask(&base, usize::MAX).0.unwrap_err().to_string();
    assert!(error.contains("malformed stream") && error.contains("{not json"), "{error}");
}

#[test]
fn a_stream_cut_mid_reply_keeps_the_text_and_fails() {
    let cut = sse(&content_event("partial"));
    let (base, _server) = fake_server(vec![(cut, Duration::ZERO)]);
    let (result, sink) = ask(&base, usize::MAX);
    assert_eq!(sink.text, "partial");
    assert!(result.unwrap_err().to_string().contains("closed the connection mid-reply"));
}

#[test]
fn cancel_does_not_wait_for_a_stalled_server() {
    let stall = sse(&content_event("one"));
    let (base, _server) = fake_server(vec![(stall, Duration::from_secs(5))]);
    let started = Instant::now();
    let (result, sink) = ask(&base, 1);
    assert_eq!(result.unwrap().1, StopReason::Cancelled);
    assert_eq!(sink.text, "one");
    assert!(started.elapsed() < Duration::from_secs(2), "cancel waited {:?}", started.elapsed());
}

/// An SSE answer of `deltas` (each a `delta` object), then a stop and `[DONE]`.
fn sse_answer(deltas: &[Value]) -> &'static str {
    let mut events = String::new();
    for delta in deltas {
        events.push_str(&format!("data: {}\n\n", json!({"choices": [{"delta": delta}]})));
    }
    events.push_str("data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
    sse(&events)
}

#[test]
fn reasoning_content_is_reasoning_and_never_answer() {
    // llama-server (--reasoning-format deepseek) and vLLM's older field, then vLLM's newer one.
    let answer = sse_answer(&[
        json!({"role": "assistant", "content": null}),
        json!({"reasoning_content": "Two and two"}),
        json!({"reasoning": " make four."}),
        json!({"content": "The answer"}),
        json!({"content": " is 4."}),
    ]);
    let (base, _server) = fake_server(vec![(answer, Duration::ZERO)]);
    let (result, sink) = ask(&base, usize::MAX);
    let (stats, stop) = result.unwrap();
    assert_eq!((sink.reasoning.as_str(), sink.text.as_str()), ("Two and two make four.", "The answer is 4."));
    assert_eq!(stop, StopReason::EndOfText);
    assert_eq!((stats.generated_tokens, stats.reasoning_tokens), (4, 2), "chunks, roughly");
}

#[test]
fn think_tags_left_in_the_content_are_reasoning() {
    // llama-server with --reasoning-format none: the tags in the content, split across chunks
    // as the tokenizer split them.
    let answer = sse_answer(&[
        json!({"content": "<think>\nTwo"}),
        json!({"content": " and two.\n<"}),
        json!({"content": "/"}),
        json!({"content": "think"}),
        json!({"content": ">\n\nThe answer"}),
        json!({"content": " is 4."}),
    ]);
    let (base, _server) = fake_server(vec![(answer, Duration::ZERO)]);
    let (result, sink) = ask(&base, usize::MAX);
    let (stats, _) = result.unwrap();
    assert_eq!(sink.text, "The answer is 4.");
    assert_eq!(sink.reasoning.trim_end(), "Two and two.");
    assert!(stats.reasoning_tokens >= 4 && stats.reasoning_tokens < stats.generated_tokens, "{stats:?}");

    // An answer that only mentions the tag later is all answer.
    let answer = sse_answer(&[json!({"content": "Use "}), json!({"content": "<think> tags."})]);
    let (base, _server) = fake_server(vec![(answer, Duration::ZERO)]);
    let (result, sink) = ask(&base, usize::MAX);
    assert_eq!((sink.text.as_str(), sink.reasoning.as_str()), ("Use <think> tags.", ""));
    assert_eq!(result.unwrap().0.reasoning_tokens, 0);

    // A stream that ends on what could have been the start of a tag keeps that text.
    let answer = sse_answer(&[json!({"content": "<thi"})]);
    let (base, _server) = fake_server(vec![(answer, Duration::ZERO)]);
    assert_eq!(ask(&base, usize::MAX).1.text, "<thi");
}

#[test]
fn the_reasoning_setting_reaches_the_chat_template_and_auto_sends_nothing() {
    let messages = [Message::new(Role::User, "hi")];
    let with = |reasoning: Reasoning| {
        request_body("m", &messages, &SamplingParams { reasoning, ..SamplingParams::default() }, true)
    };
    let auto = with(Reasoning::Auto);
    assert!(auto.get("chat_template_kwargs").is_none() && auto.get("reasoning_effort").is_none(), "{auto}");
    let off = with(Reasoning::Off);
    assert_eq!(off["chat_template_kwargs"]["enable_thinking"], json!(false), "{off}");
    assert!(off.get("reasoning_effort").is_none(), "{off}");
    let on = with(Reasoning::On);
    assert_eq!(on["chat_template_kwargs"]["enable_thinking"], json!(true), "{on}");
    assert!(on.get("reasoning_effort").is_none(), "{on}");
    for (setting, effort) in [(Reasoning::Low, "low"), (Reasoning::Medium, "medium"), (Reasoning::High, "high")] {
        let body = with(setting);
        assert_eq!(body["chat_template_kwargs"]["enable_thinking"], json!(true), "{body}");
        assert_eq!(body["chat_template_kwargs"]["reasoning_effort"], json!(effort), "{body}");
        assert_eq!(body["reasoning_effort"], json!(effort), "{body}");
    }
    // Earlier reasoning goes to llama-server's template, not to other servers.
    let convo = [
        Message::new(Role::User, "q"),
        Message::new(Role::Assistant, "a").with_reasoning(Some("because".into())),
        Message::new(Role::User, "q2"),
    ];
    let to = |llama_server| request_body("m", &convo, &SamplingParams::default(), llama_server);
    assert_eq!(to(true)["messages"][1]["reasoning_content"], json!("because"));
    assert!(to(false)["messages"][1].get("reasoning_content").is_none());
    // Other servers (hosted APIs refuse unknown fields): only an explicit effort.
    let other = |reasoning: Reasoning| {
        request_body("m", &messages, &SamplingParams { reasoning, ..SamplingParams::default() }, false)
    };
    let off = other(Reasoning::Off);
    assert!(off.get("chat_template_kwargs").is_none() && off.get("reasoning_effort").is_none(), "{off}");
    let high = other(Reasoning::High);
    assert!(high.get("chat_template_kwargs").is_none(), "{high}");
    assert_eq!(high["reasoning_effort"], json!("high"), "{high}");
}

#[test]
fn gguf_paths_are_shortened_and_answer_to_both_names() {
    assert_eq!(short_name("/m/SmolLM2-135M-Instruct.Q4_1.gguf"), "SmolLM2-135M-Instruct.Q4_1");
    assert_eq!(short_name("Qwen/Qwen2.5-1.5B-Instruct"), "Qwen/Qwen2.5-1.5B-Instruct");
    let m = RemoteModel { id: "/m/a.gguf".into(), n_ctx: None, n_ctx_train: None, owned_by: None };
    assert!(m.answers_to("a") && m.answers_to("/m/a.gguf") && !m.answers_to("b"));
}

#[test]
fn estimates_round_up() {
    assert_eq!(estimate_tokens(""), 0);
    assert_eq!(estimate_tokens("abcde"), 2);
}

#[test]
fn a_server_model_is_chosen_by_its_name_or_a_unique_part_of_it() {
    let model = |id: &str| RemoteModel { id: id.into(), n_ctx: None, n_ctx_train: None, owned_by: None };
    let models = [model("/models/SmolLM2-135M-Instruct.Q4_1.gguf"), model("qwen2.5-coder:7b"), model("qwen3:8b")];
    let pick = |name: &str| super::http::pick_model(&models, name);
    assert_eq!(pick("SmolLM2-135M-Instruct.Q4_1").unwrap(), "/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert_eq!(pick("smollm2").unwrap(), "/models/SmolLM2-135M-Instruct.Q4_1.gguf", "a part, any case");
    assert_eq!(pick("coder").unwrap(), "qwen2.5-coder:7b");
    let ambiguous = pick("qwen").unwrap_err().to_string();
    assert!(
        ambiguous.starts_with("the server has no model \"qwen\" (2 match; give more of the name); it has:"),
        "{ambiguous}"
    );
    let missing = pick("llama").unwrap_err().to_string();
    assert!(
        missing.starts_with("the server has no model \"llama\"; it has: SmolLM2-135M-Instruct.Q4_1, qwen2.5-coder:7b"),
        "{missing}"
    );
}
