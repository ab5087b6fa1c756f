//! Soak: a scripted 200-turn conversation through the real engine and the real store on the
//! default model, with short replies. Memory must not grow without bound (resident memory after
//! turn 200 within +10% of turn 20) and every message must be stored.
//!
//! Ignored in `make test` (it takes minutes); `make soak` runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use ember::engine::llama::EngineOptions;
use ember::engine::{EngineEvent, EngineHandle, Message, Role, SamplingParams, TurnRequest};
use ember::store::recorder::{RecordOp, RecordStats, Recorder};
use ember::store::{MessageState, NewConversation, Store, StoredRole};

const TURNS: usize = 200;

/// This process's resident memory in KiB (VmRSS).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
#[ignore = "minutes long: run with `make soak`"]
fn two_hundred_turns_keep_memory_flat_and_store_every_message() {
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("history.db");
    let new = NewConversation { model: "soak".into(), system_prompt: None, cwd: "/soak".into() };
    let mut recorder = Recorder::new(Store::open(&db).unwrap(), new, None);
    let mut options = EngineOptions::new(common::default_model());
    // One thread: the soak measures memory and storage, not speed, and a single thread does not
    // slow to a crawl spin-waiting when other work shares the cores.
    options.threads = Some(1);
    let (mut engine, mut events) = EngineHandle::spawn_llama(options);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sampling = SamplingParams { temperature: 0.0, seed: 7, max_tokens: 8, ..SamplingParams::default() };
    let mut messages: Vec<Message> = Vec::new();
    let mut rss_at = Vec::new();
    let started = Instant::now();
    for i in 1..=TURNS {
        let question = format!("Turn {i}: name one thing that is {}.", ["red", "round", "fast", "cold", "old"][i % 5]);
        messages.push(Message::new(Role::User, question.clone()));
        recorder
            .apply(RecordOp::Append {
                keep: recorder.branch_len(),
                role: StoredRole::User,
                content: question,
                state: MessageState::Complete,
                stats: None,
                reasoning: None,
            })
            .unwrap();
        let turn = engine.next_turn();
        engine.generate(TurnRequest { turn, messages: messages.clone(), sampling: sampling.clone() }).unwrap();
        let (reply, stats) = rt.block_on(async {
            let mut reply = String::new();
            loop {
                let event = tokio::time::timeout(Duration::from_secs(120), events.recv()).await.unwrap().unwrap();
                match event {
                    EngineEvent::Delta { turn: t, text } if t == turn => reply.push_str(&text),
                    EngineEvent::Done { turn: t, stats, .. } if t == turn => return (reply, stats),
                    EngineEvent::Failed { error, .. } | EngineEvent::LoadFailed(error) => panic!("turn {i}: {error}"),
                    _ => {}
                }
            }
        });
        messages.push(Message::new(Role::Assistant, reply.clone()));
        recorder
            .apply(RecordOp::Append {
                keep: recorder.branch_len(),
                role: StoredRole::Assistant,
                content: reply,
                state: MessageState::Complete,
                stats: Some(RecordStats::from(&stats)),
                reasoning: None,
            })
            .unwrap();
        rss_at.push(rss_kib());
        if i % 10 == 0 {
            eprintln!(
                "turn {i}: RSS {} KiB, prompt {} tokens ({} reused), {:.1} s so far",
                rss_at[i - 1],
                stats.prompt_tokens,
                stats.reused_tokens,
                started.elapsed().as_secs_f64()
            );
        }
    }
    engine.shutdown();
    let (at20, at200) = (rss_at[19], rss_at[TURNS - 1]);
    eprintln!(
        "{TURNS} turns in {:.1} s; RSS turn 20: {at20} KiB, turn 200: {at200} KiB ({:+.1}%)",
        started.elapsed().as_secs_f64(),
        (at200 as f64 / at20 as f64 - 1.0) * 100.0
    );
    assert!(at200 * 10 <= at20 * 11, "RSS grew more than 10%: {at20} KiB at turn 20, {at200} KiB at turn 200");

    // Every message is stored, in order, as it was.
    let id = recorder.conversation().unwrap();
    let stored = Store::open(&db).unwrap().load(id).unwrap();
    assert_eq!(stored.messages.len(), 2 * TURNS);
    for (m, s) in messages.iter().zip(&stored.messages) {
        assert_eq!(m.content, s.content);
    }
}
