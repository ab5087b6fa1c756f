//! Logging: ember's and llama.cpp's messages go to a log file, never to the terminal.
//!
//! llama-cpp-2 reports a failed load only as "null result"; llama.cpp says why in its log. The
//! [`LlamaErrors`] layer keeps llama.cpp's recent warnings and errors so the engine can quote them.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The target llama-cpp-2 logs llama.cpp's messages under.
const LLAMA_TARGET: &str = "llama-cpp-2";
const KEEP: usize = 32;

static RECENT: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// Forgets the llama.cpp messages seen so far (call before an operation whose failure you explain).
pub fn clear_llama_errors() {
    if let Ok(mut recent) = RECENT.lock() {
        recent.clear();
    }
}

/// llama.cpp's warnings and errors since the last [`clear_llama_errors`], oldest first.
pub fn llama_errors() -> Vec<String> {
    RECENT.lock().map(|r| r.iter().cloned().collect()).unwrap_or_default()
}

/// Records llama.cpp's warnings and errors.
pub struct LlamaErrors;

struct MessageText(String);

impl Visit for MessageText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.push_str(&format!("{value:?}"));
        }
    }
}

impl<S: Subscriber> Layer<S> for LlamaErrors {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if meta.target() != LLAMA_TARGET || *meta.level() > Level::WARN {
            return;
        }
        let mut text = MessageText(String::new());
        event.record(&mut text);
        let line = text.0.trim().to_string();
        if line.is_empty() {
            return;
        }
        if let Ok(mut recent) = RECENT.lock() {
            if recent.len() == KEEP {
                recent.pop_front();
            }
            recent.push_back(line);
        }
    }
}

/// Installs the global subscriber: a log file (if it can be opened) at `EMBER_LOG` level, else
/// the config's `log_level` for ember (default: ember at info, llama.cpp at warn), plus the
/// llama.cpp error recorder. Returns the log file's path when file logging is on.
pub fn init(log_file: &Path, level: Option<&str>) -> Option<std::path::PathBuf> {
    let level = level.unwrap_or("info").to_ascii_lowercase();
    let filter = EnvFilter::try_from_env("EMBER_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,ember={level},{LLAMA_TARGET}=warn")));
    let file = log_file
        .parent()
        .map(std::fs::create_dir_all)
        .transpose()
        .ok()
        .and_then(|_| std::fs::OpenOptions::new().create(true).append(true).open(log_file).ok());
    let recorder = LlamaErrors.with_filter(tracing_subscriber::filter::LevelFilter::WARN);
    let opened = file.is_some();
    let fmt = file.map(|file| {
        tracing_subscriber::fmt::layer().with_writer(Mutex::new(file)).with_ansi(false).with_filter(filter)
    });
    let _ = tracing_subscriber::registry().with(fmt).with(recorder).try_init();
    opened.then(|| log_file.to_path_buf())
}
