//! The history database at 1,000 and 10,000 conversations (1x and 10x): full-text search for a
//! common and a rare word, as `ember history search` asks it and as the session picker does when
//! a word is typed (the whole word, and each key of it), and opening the session list (Ctrl-O:
//! the history thread's query, the answer applied to the state, the frame drawn).
//!
//! The databases are written through the public `Store` API, with generated text (the same on
//! every run), into real SQLite files. They are cached in Cargo's target tmp dir; each run copies
//! its file into a fresh temp dir. Building and copying are timed and printed.
//!
//! cargo bench --bench store
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ember::engine::SamplingParams;
use ember::store::recorder::{Query, Recorder, Reply};
use ember::store::{NewConversation, NewMessage, Store, StoredRole};
use ember::tui::state::{update, AppEvent, AppState, Effect, Overlay};
use ember::tui::view;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// Conversations in the database: 1x and 10x.
const SIZES: [usize; 2] = [1_000, 10_000];
/// Change when the generated data changes, so that cached databases are rebuilt.
const DATA_VERSION: u32 = 1;
/// In most answers (a prefix query: it also matches "functions", "functional").
const COMMON: &str = "function";
/// In conversation 0 and every 997th one after it.
const RARE: &str = "zygomorphic";
const RARE_EVERY: usize = 997;

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// In `lo..hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo) as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.range(0, items.len())]
    }
}

/// Frequent words first: the vocabulary is drawn from with Zipf's law, so these are common and
/// the generated words after them grow rarer, as in real text.
const FREQUENT: &[&str] = &[
    "the",
    "to",
    "a",
    "is",
    "you",
    "function",
    "of",
    "and",
    "in",
    "it",
    "this",
    "value",
    "file",
    "that",
    "for",
    "use",
    "can",
    "list",
    "code",
    "return",
    "error",
    "with",
    "string",
    "not",
    "type",
    "an",
    "test",
    "data",
    "if",
    "be",
    "call",
    "when",
    "each",
    "line",
    "from",
    "as",
    "first",
    "then",
    "loop",
    "number",
    "array",
    "object",
    "class",
    "method",
    "variable",
    "result",
    "input",
    "output",
    "example",
    "key",
    "map",
    "index",
    "memory",
    "time",
    "server",
    "request",
    "query",
    "table",
    "path",
    "config",
    "build",
    "run",
    "check",
    "change",
    "update",
    "version",
    "module",
    "import",
    "package",
    "option",
    "default",
    "argument",
    "parameter",
    "pointer",
    "reference",
    "thread",
    "process",
    "buffer",
    "stream",
    "event",
    "handler",
    "callback",
    "promise",
    "async",
    "await",
    "lock",
    "cache",
    "network",
    "client",
    "response",
    "header",
    "token",
    "parser",
    "compiler",
    "runtime",
    "library",
    "framework",
];

/// What a conversation is about: its words come up often in it.
const TOPICS: &[&[&str]] = &[
    &["rust", "borrow", "lifetime", "trait", "cargo", "ownership", "crate", "macro"],
    &["python", "pandas", "dataframe", "decorator", "generator", "virtualenv", "pip", "dict"],
    &["sql", "postgres", "join", "transaction", "migration", "schema", "sqlite", "primary"],
    &["docker", "container", "image", "volume", "compose", "kubernetes", "pod", "registry"],
    &["git", "rebase", "merge", "branch", "commit", "stash", "conflict", "cherry"],
    &["css", "flexbox", "grid", "selector", "margin", "layout", "animation", "viewport"],
    &["javascript", "react", "component", "hook", "state", "props", "closure", "bundle"],
    &["linux", "systemd", "kernel", "permission", "shell", "bash", "cron", "ssh"],
    &["math", "matrix", "vector", "integral", "derivative", "probability", "prime", "modulo"],
    &["go", "goroutine", "channel", "interface", "struct", "defer", "slice", "mutex"],
    &["java", "spring", "bean", "annotation", "maven", "gradle", "jvm", "garbage"],
    &["networking", "tcp", "socket", "latency", "dns", "tls", "packet", "firewall"],
    &["regex", "pattern", "capture", "group", "lookahead", "escape", "greedy", "anchor"],
    &["testing", "mock", "fixture", "assertion", "coverage", "snapshot", "fuzzing", "benchmark"],
    &["writing", "essay", "paragraph", "tone", "summary", "grammar", "draft", "outline"],
    &["cooking", "recipe", "oven", "flour", "garlic", "simmer", "sauce", "bake"],
];

const MODELS: &[&str] = &["SmolLM2-1.7B-Instruct.Q4_K_M", "Qwen2.5-Coder-7B-Instruct.Q4_K_M", "Llama-3.2-3B.Q5_K_M"];
const DIRS: &[&str] = &["/home/ana/src/ember", "/home/ana/src/website", "/home/ana/notes", "/tmp", "/srv/api"];

/// Made-up words for the long tail of the vocabulary (each distinct).
fn generated_words(n: usize) -> Vec<String> {
    const SYLLABLES: &[&str] = &[
        "ka", "lo", "mi", "ren", "to", "sa", "vel", "dor", "qui", "ne", "bra", "fi", "gul", "ha", "jo", "pe", "sti",
        "un", "wa", "zo", "cro", "der", "el", "fan", "gri", "mon", "ol", "pra", "tas", "vin",
    ];
    let s = SYLLABLES.len();
    (0..n).map(|i| format!("{}{}{}", SYLLABLES[i % s], SYLLABLES[(i / s) % s], SYLLABLES[(i / s / s) % s])).collect()
}

struct Writer {
    rng: Rng,
    vocabulary: Vec<String>,
}

impl Writer {
    fn new() -> Self {
        let mut vocabulary: Vec<String> = FREQUENT.iter().map(|w| w.to_string()).collect();
        vocabulary.extend(generated_words(5_000));
        Writer { rng: Rng(42), vocabulary }
    }

    fn word(&mut self, topic: &[&str]) -> String {
        if self.rng.unit() < 0.12 {
            return self.rng.pick(topic).to_string();
        }
        // Zipf: P(rank k) ~ 1/k.
        let rank = (self.vocabulary.len() as f64).powf(self.rng.unit()) as usize;
        self.vocabulary[rank.saturating_sub(1).min(self.vocabulary.len() - 1)].clone()
    }

    fn sentence(&mut self, topic: &[&str], end: char) -> String {
        let words: Vec<String> = (0..self.rng.range(6, 17)).map(|_| self.word(topic)).collect();
        let mut s = words.join(" ");
        if let Some(first) = s.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        s.push(end);
        s
    }

    fn question(&mut self, topic: &[&str]) -> String {
        let n = self.rng.range(1, 3);
        let mut parts: Vec<String> = (1..n).map(|_| self.sentence(topic, '.')).collect();
        parts.push(self.sentence(topic, '?'));
        parts.join(" ")
    }

    fn answer(&mut self, topic: &[&str]) -> String {
        let mut paragraphs = Vec::new();
        for _ in 0..self.rng.range(1, 4) {
            let sentences: Vec<String> = (0..self.rng.range(2, 5)).map(|_| self.sentence(topic, '.')).collect();
            paragraphs.push(sentences.join(" "));
        }
        if self.rng.unit() < 0.3 {
            let lines: Vec<String> = (0..self.rng.range(2, 7))
                .map(|i| format!("{}{} = {}({})", "    ".repeat(i.min(2)), self.word(topic), self.word(topic), i))
                .collect();
            paragraphs.insert(1, format!("```{}\n{}\n```", topic[0], lines.join("\n")));
        }
        paragraphs.join("\n\n")
    }
}

/// Writes `conversations` conversations of 2 to 10 messages into a new database at `path`.
fn populate(path: &Path, conversations: usize) {
    let mut store = Store::open(path).unwrap_or_else(|e| panic!("{e}"));
    let mut w = Writer::new();
    for c in 0..conversations {
        let topic = TOPICS[w.rng.range(0, TOPICS.len())];
        let new = NewConversation {
            model: w.rng.pick(MODELS).to_string(),
            system_prompt: None,
            cwd: w.rng.pick(DIRS).to_string(),
        };
        let id = store.create_conversation(&new).unwrap_or_else(|e| panic!("{e}"));
        let mut parent = None;
        for m in 0..w.rng.range(1, 6) * 2 {
            let (role, mut text) = if m % 2 == 0 {
                (StoredRole::User, w.question(topic))
            } else {
                (StoredRole::Assistant, w.answer(topic))
            };
            if c % RARE_EVERY == 0 && m == 1 {
                text.push_str(&format!(" Its flowers are {RARE}."));
            }
            let message = NewMessage::new(role, &text);
            parent = Some(store.add_message(id, parent, &message).unwrap_or_else(|e| panic!("{e}")));
        }
    }
}

/// A copy, in a fresh temp dir, of the database with `conversations` conversations (built once
/// and cached).
fn database(conversations: usize) -> (tempfile::TempDir, PathBuf) {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("store-bench");
    let cached = cache.join(format!("{conversations}-v{DATA_VERSION}-schema{}.db", ember::store::SCHEMA_VERSION));
    if !cached.exists() {
        let started = Instant::now();
        let partial = cached.with_extension("partial");
        let _ = std::fs::remove_file(&partial);
        populate(&partial, conversations);
        std::fs::rename(&partial, &cached).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("setup: built {} in {:?}", cached.display(), started.elapsed());
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("history.db");
    let bytes = std::fs::copy(&cached, &path).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("setup: {conversations} conversations, {} MB, copied in {:?}", bytes >> 20, started.elapsed());
    (dir, path)
}

fn open(path: &Path) -> Store {
    Store::open(path).unwrap_or_else(|e| panic!("{e}"))
}

fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(10);
}

/// `ember history search WORD` (the 20 best conversations), and the session picker's list for a
/// typed word (the best 200 hits, one line per conversation with its summary).
fn search(c: &mut Criterion) {
    let mut group = c.benchmark_group("search");
    configure(&mut group);
    for conversations in SIZES {
        let (_dir, path) = database(conversations);
        let store = open(&path);
        for word in [COMMON, RARE] {
            let hits = store.search(word, 200).unwrap_or_else(|e| panic!("{e}")).len();
            eprintln!("setup: '{word}' in {conversations} conversations: {hits} of at most 200 hits");
            group.bench_function(format!("history_{word}_{conversations}"), |b| {
                b.iter(|| store.search_conversations(word, 20).unwrap_or_else(|e| panic!("{e}")))
            });
        }
        let mut recorder = Recorder::new(store, NewConversation::default(), None);
        for word in [COMMON, RARE] {
            let listed = match recorder.query(Query::List { filter: word.to_string(), generation: 1 }) {
                Reply::Listed { result: Ok(items), .. } => items.len(),
                other => panic!("{other:?}"),
            };
            eprintln!("setup: the picker lists {listed} conversations for '{word}'");
            group.bench_function(format!("picker_{word}_{conversations}"), |b| {
                b.iter(|| recorder.query(Query::List { filter: word.to_string(), generation: 1 }))
            });
        }
        // Typing the word in the picker asks once per key: "f", "fu", ... "function".
        group.bench_function(format!("picker_typing_{COMMON}_{conversations}"), |b| {
            b.iter(|| {
                for end in 1..=COMMON.len() {
                    recorder.query(Query::List { filter: COMMON[..end].to_string(), generation: 1 });
                }
            })
        });
    }
    group.finish();
}

/// Ctrl-O with history on: the picker opens and asks for the list, the history thread answers,
/// the answer is applied and the frame drawn; Esc closes it again.
fn session_list(c: &mut Criterion) {
    let mut group = c.benchmark_group("session_list");
    configure(&mut group);
    for conversations in SIZES {
        let (_dir, path) = database(conversations);
        let mut recorder = Recorder::new(open(&path), NewConversation::default(), None);
        let mut state = AppState::new(PathBuf::from("m.gguf"), None, SamplingParams::default(), true);
        state.ui.size = (120, 40);
        state.session.saving = true;
        let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap_or_else(|e| panic!("{e}"));
        let ctrl_o = KeyEvent::new(KeyCode::Char('o'), KeyModifiers::CONTROL);
        let esc = KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE);
        let mut open_list = || {
            for effect in update(&mut state, AppEvent::Key(ctrl_o)) {
                if let Effect::Query(query) = effect {
                    let reply = recorder.query(query);
                    update(&mut state, AppEvent::History(reply));
                }
            }
            terminal.draw(|f| view::draw(f, &state)).map(|_| ()).unwrap_or_else(|e| panic!("{e}"));
            let shown = match &state.ui.overlay {
                Some(Overlay::Sessions(picker)) => picker.items.len(),
                _ => 0,
            };
            update(&mut state, AppEvent::Key(esc));
            shown
        };
        eprintln!("setup: the picker lists {} of {conversations} conversations", open_list());
        group.bench_function(format!("open_{conversations}"), |b| b.iter(&mut open_list));
    }
    group.finish();
}

criterion_group!(benches, search, session_list);
criterion_main!(benches);
