//! Time to first token as a conversation grows, on the real default model: turns 2, 10 and 30
//! of a scripted conversation with short replies. With the KV cache reused, a turn evaluates only
//! its new tokens, so turn 30 should cost about what turn 2 does.
//!
//! cargo bench --bench conversation   (needs the default model: make model)
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Duration;

use ember::bench::Sink;
use ember::engine::llama::{self, EngineOptions};
use ember::engine::{Backend, Message, Role, SamplingParams, TurnRequest};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let paths = ember::config::Paths::discover();
    let model_path = paths.models_dir.join(ember::models::DEFAULT_MODEL_FILE);
    let mut options = EngineOptions::new(model_path);
    options.n_ctx = Some(std::env::var("EMBER_BENCH_CTX").ok().and_then(|v| v.parse().ok()).unwrap_or(8192));
    let model = llama::load_model(&options, false, None).unwrap_or_else(|e| panic!("{e}"));
    let rounds = 3;
    let mut at: [Vec<Duration>; 3] = Default::default();
    let mut tokens_at = [0usize; 3];
    for _ in 0..rounds {
        let (mut session, _) = llama::open_session(&model, &options).unwrap_or_else(|e| panic!("{e}"));
        let mut convo = vec![Message::new(Role::System, "You are a helpful assistant. Answer in one short sentence.")];
        for turn in 1..=30 {
            convo.push(Message::new(
                Role::User,
                format!("Question {turn}: what is {turn} times {turn}, and is it even?"),
            ));
            let sampling = SamplingParams { temperature: 0.0, max_tokens: 24, ..SamplingParams::default() };
            let req = TurnRequest { turn, messages: convo.clone(), sampling };
            let mut sink = Sink(String::new());
            let (stats, _) = session.generate(&req, &mut sink).unwrap_or_else(|e| panic!("{e}"));
            if std::env::var_os("EMBER_BENCH_DEBUG").is_some() {
                eprintln!(
                    "turn {turn}: prompt {} reused {} evaluated {} ttft {:?} eval {:?}",
                    stats.prompt_tokens,
                    stats.reused_tokens,
                    stats.evaluated_tokens,
                    stats.time_to_first_token,
                    stats.prompt_time
                );
            }
            convo.push(Message::new(Role::Assistant, sink.0));
            let slot = match turn {
                2 => Some(0),
                10 => Some(1),
                30 => Some(2),
                _ => None,
            };
            if let Some(i) = slot {
                at[i].push(stats.time_to_first_token);
                tokens_at[i] = stats.prompt_tokens;
            }
        }
    }
    let [t2, t10, t30] = at.map(median);
    let (warm, with_state, without_state, resumed_tokens) = cold_resume(&model, &options);
    println!("ttft turn 2:  {:>7.2} ms  (prompt {} tokens)", t2.as_secs_f64() * 1e3, tokens_at[0]);
    println!("ttft turn 10: {:>7.2} ms  (prompt {} tokens)", t10.as_secs_f64() * 1e3, tokens_at[1]);
    println!("ttft turn 30: {:>7.2} ms  (prompt {} tokens)", t30.as_secs_f64() * 1e3, tokens_at[2]);
    println!("turn30/turn2 = {:.2}", t30.as_secs_f64() / t2.as_secs_f64());
    println!("resume of a {resumed_tokens}-token conversation, first token after:");
    println!("  warm (same session):   {:>8.2} ms", warm.as_secs_f64() * 1e3);
    println!("  cold with saved state: {:>8.2} ms (load included)", with_state.as_secs_f64() * 1e3);
    println!("  cold without:          {:>8.2} ms", without_state.as_secs_f64() * 1e3);
    println!("cold_with_state/warm = {:.2}", with_state.as_secs_f64() / warm.as_secs_f64());
}

/// A ~4,000-token conversation: the first reply after reopening it with its saved context,
/// without it, and a warm turn for comparison.
fn cold_resume(
    model: &llama_cpp_2::model::LlamaModel,
    options: &EngineOptions,
) -> (Duration, Duration, Duration, usize) {
    let long_text = "The quick brown fox jumps over the lazy dog while the river runs past the old mill. ".repeat(55);
    let mut convo = vec![Message::new(Role::System, "You are a helpful assistant.")];
    for i in 0..4 {
        convo.push(Message::new(Role::User, format!("Part {i}: {long_text}")));
        convo.push(Message::new(Role::Assistant, "Noted.".to_string()));
    }
    let greedy = SamplingParams { temperature: 0.0, max_tokens: 8, ..SamplingParams::default() };
    let ask = |convo: &mut Vec<Message>, q: &str| {
        convo.push(Message::new(Role::User, q.to_string()));
        TurnRequest { turn: convo.len() as u64, messages: convo.clone(), sampling: greedy.clone() }
    };
    let dir = std::env::temp_dir().join(format!("ember-bench-{}", std::process::id()));
    let path = dir.join("c.kv");
    let _ = std::fs::create_dir_all(&dir);
    // Build the context and save it; then a warm turn in the same session.
    let (mut s, _) = llama::open_session(model, options).unwrap_or_else(|e| panic!("{e}"));
    let req = ask(&mut convo, "Summarise in one word.");
    let mut sink = Sink(String::new());
    let (stats, _) = s.generate(&req, &mut sink).unwrap_or_else(|e| panic!("{e}"));
    convo.push(Message::new(Role::Assistant, sink.0));
    let tokens = stats.prompt_tokens;
    s.save_state(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut warm_convo = convo.clone();
    let req = ask(&mut warm_convo, "And in two words?");
    let (warm, _) = s.generate(&req, &mut Sink(String::new())).unwrap_or_else(|e| panic!("{e}"));
    drop(s);
    // Cold, with the saved state: the time to load it counts.
    let (mut s, _) = llama::open_session(model, options).unwrap_or_else(|e| panic!("{e}"));
    let start = std::time::Instant::now();
    s.load_state(&path).unwrap_or_else(|e| panic!("{e}"));
    let load = start.elapsed();
    let mut cold = convo.clone();
    let req = ask(&mut cold, "And in two words?");
    let (with_state, _) = s.generate(&req, &mut Sink(String::new())).unwrap_or_else(|e| panic!("{e}"));
    drop(s);
    // Cold, without it.
    let (mut s, _) = llama::open_session(model, options).unwrap_or_else(|e| panic!("{e}"));
    let (without, _) = s.generate(&req, &mut Sink(String::new())).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
    (warm.time_to_first_token, load + with_state.time_to_first_token, without.time_to_first_token, tokens)
}
