//! Time to first token as a conversation grows, on the real default model: turns 2, 10 and 30
//! of a scripted conversation with short replies. With the KV cache reused, a turn evaluates only
//! its new tokens, so turn 30 should cost about what turn 2 does.
//!
//! cargo bench --bench conversation   (needs the default model: make model)
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::ops::ControlFlow;
use std::time::Duration;

use ember::engine::llama::{self, EngineOptions};
use ember::engine::{Backend, Message, Role, SamplingParams, TurnRequest, TurnSink};

struct Sink(String);

impl TurnSink for Sink {
    fn text(&mut self, text: &str) -> ControlFlow<()> {
        self.0.push_str(text);
        ControlFlow::Continue(())
    }
    fn cancelled(&self) -> bool {
        false
    }
}

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
    println!("ttft turn 2:  {:>7.2} ms  (prompt {} tokens)", t2.as_secs_f64() * 1e3, tokens_at[0]);
    println!("ttft turn 10: {:>7.2} ms  (prompt {} tokens)", t10.as_secs_f64() * 1e3, tokens_at[1]);
    println!("ttft turn 30: {:>7.2} ms  (prompt {} tokens)", t30.as_secs_f64() * 1e3, tokens_at[2]);
    println!("turn30/turn2 = {:.2}", t30.as_secs_f64() / t2.as_secs_f64());
}
