//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::engine::llama::GpuLayers;

const EXAMPLES: &str = "\
Examples:
  ember \"What is a monad, in two sentences?\"
  cat main.rs | ember \"explain this\"
  ember -f src/a.rs -f src/b.rs \"why does b call a twice?\"
  git diff | ember \"write a commit message\"
  ember --code \"Write a Python function add(a, b)\" > add.py
  ember --print-prompt -s \"Be terse.\" \"hi\"      (show the exact prompt the model sees)
  ember -c \"and what about the second file?\"      (continue this directory's last conversation)
  ember history search lifetimes

Files:
  models   $XDG_DATA_HOME/ember/models  (EMBER_MODELS_DIR overrides; `make model` installs the default)
  history  $XDG_DATA_HOME/ember/history.db  (SQLite; --no-history to keep a conversation out)
  log      $XDG_STATE_HOME/ember/ember.log  (llama.cpp's messages go here; EMBER_LOG=debug for more)

Exit status: 0 ok, 1 runtime error, 2 usage error, 130 interrupted (Ctrl-C).";

/// ember: a terminal chat and coding assistant running GGUF models locally through llama.cpp.
///
/// On a terminal with no prompt, ember opens the full-screen chat (press ? there for the keys).
/// With a prompt, or with input on stdin, it answers once and exits: the answer streams to
/// stdout, plain text when stdout is not a terminal. Conversations are saved; `-c` continues
/// the last one started in this directory.
#[derive(Debug, Parser)]
#[command(name = "ember", version, about, long_about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The question or instruction. Piped stdin and --file contents are attached to it.
    #[arg(value_name = "PROMPT")]
    pub prompt: Vec<String>,

    /// Model: a GGUF path, or a file name in the models folder [default: SmolLM2-135M-Instruct.Q4_1.gguf].
    #[arg(short, long, env = "EMBER_MODEL", value_name = "MODEL")]
    pub model: Option<String>,

    /// Attach a file to the prompt (repeatable).
    #[arg(short, long = "file", value_name = "PATH")]
    pub files: Vec<PathBuf>,

    /// Answer once and exit, even on a terminal.
    #[arg(short = 'p', long = "print")]
    pub print: bool,

    /// Print only the code of the answer's fenced code blocks (for `> file.py`).
    #[arg(long)]
    pub code: bool,

    /// System prompt.
    #[arg(short, long, value_name = "TEXT")]
    pub system: Option<String>,

    /// Most tokens to generate.
    #[arg(long, value_name = "N", default_value_t = 2048)]
    pub max_tokens: usize,

    /// Sampling temperature; 0 is greedy (deterministic).
    #[arg(short = 't', long, value_name = "T", default_value_t = 0.7, value_parser = parse_temperature)]
    pub temperature: f32,

    /// Top-k sampling (0 disables).
    #[arg(long, value_name = "K", default_value_t = 40, value_parser = clap::value_parser!(i32).range(0..))]
    pub top_k: i32,

    /// Top-p (nucleus) sampling (1.0 disables).
    #[arg(long, value_name = "P", default_value_t = 0.95, value_parser = parse_probability)]
    pub top_p: f32,

    /// Min-p sampling (0 disables).
    #[arg(long, value_name = "P", default_value_t = 0.05, value_parser = parse_probability)]
    pub min_p: f32,

    /// Repeat penalty over the last 64 tokens (1.0 disables).
    #[arg(long, value_name = "X", default_value_t = 1.1, value_parser = parse_repeat_penalty)]
    pub repeat_penalty: f32,

    /// Random seed (same seed, same model, same build: same answer).
    #[arg(long, value_name = "N")]
    pub seed: Option<u32>,

    /// Context size in tokens [default: the model's, at most 8192].
    #[arg(long = "ctx", value_name = "N", value_parser = clap::value_parser!(u32).range(16..))]
    pub ctx: Option<u32>,

    /// Continue the latest conversation started in this directory.
    #[arg(short = 'c', long = "continue", conflicts_with = "session")]
    pub continue_last: bool,

    /// Continue the conversation with this id (see `ember history list`).
    #[arg(long, value_name = "ID")]
    pub session: Option<i64>,

    /// Do not save this conversation (`EMBER_NO_HISTORY=1` too).
    #[arg(long, env = "EMBER_NO_HISTORY", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub no_history: bool,

    /// CPU threads [default: physical cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=512))]
    pub threads: Option<u16>,

    /// Layers to offload to the GPU: a number or "all" [default: all when a GPU backend is built in].
    #[arg(long, value_name = "N|all", value_parser = parse_gpu_layers)]
    pub gpu_layers: Option<GpuLayers>,

    /// Flash attention: on, off, or auto (off on the CPU, where it slows long contexts down;
    /// llama.cpp's choice with a GPU).
    #[arg(long, value_name = "on|off|auto", default_value = "auto", value_parser = parse_flash_attention)]
    pub flash_attn: FlashAttention,

    /// Use one of llama.cpp's built-in chat templates (chatml, llama3, gemma, mistral-v7, phi3, ...).
    #[arg(long, value_name = "NAME", conflicts_with = "template_file")]
    pub template: Option<String>,

    /// Use a Jinja chat template from a file instead of the model's.
    #[arg(long, value_name = "PATH")]
    pub template_file: Option<PathBuf>,

    /// Print the exact prompt that would be sent to the model, and exit.
    #[arg(long)]
    pub print_prompt: bool,

    /// Print timing and token figures to stderr after the answer.
    #[arg(long)]
    pub stats: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Saved conversations: list, search, show, export, delete.
    History {
        #[command(subcommand)]
        action: HistoryAction,
    },
}

/// `ember history ...`
#[derive(Debug, Subcommand)]
pub enum HistoryAction {
    /// Conversations, newest first.
    List {
        /// How many.
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: usize,
    },
    /// Full-text search over every message.
    Search {
        /// Words to find (all of them; each also matches as a prefix).
        #[arg(required = true)]
        query: Vec<String>,
        #[arg(short = 'n', long, default_value_t = 20)]
        limit: usize,
    },
    /// Print a conversation (its current branch).
    Show { id: i64 },
    /// Write a conversation as Markdown or JSON, to a file or stdout.
    Export {
        id: i64,
        #[arg(long, value_enum, default_value_t = ExportFormat::Md)]
        format: ExportFormat,
        /// File to write [default: stdout].
        path: Option<PathBuf>,
    },
    /// Delete a conversation.
    Rm { id: i64 },
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Md,
    Json,
}

/// `--flash-attn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashAttention(pub Option<bool>);

fn parse_flash_attention(s: &str) -> Result<FlashAttention, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "1" | "true" => Ok(FlashAttention(Some(true))),
        "off" | "0" | "false" => Ok(FlashAttention(Some(false))),
        "auto" => Ok(FlashAttention(None)),
        other => Err(format!("expected on, off or auto, got {other:?}")),
    }
}

/// A finite number, so no NaN or infinity reaches the sampler.
fn parse_finite(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("expected a number, got {s:?}")),
    }
}

fn parse_temperature(s: &str) -> Result<f32, String> {
    parse_finite(s).and_then(|v| {
        if v >= 0.0 {
            Ok(v)
        } else {
            Err(format!("the temperature is 0 (greedy) or more, got {v}"))
        }
    })
}

fn parse_probability(s: &str) -> Result<f32, String> {
    parse_finite(s)
        .and_then(|v| if (0.0..=1.0).contains(&v) { Ok(v) } else { Err(format!("expected 0 to 1, got {v}")) })
}

fn parse_repeat_penalty(s: &str) -> Result<f32, String> {
    parse_finite(s).and_then(|v| {
        if v > 0.0 {
            Ok(v)
        } else {
            Err(format!("the repeat penalty is above 0 (1.0 disables it), got {v}"))
        }
    })
}

fn parse_gpu_layers(s: &str) -> Result<GpuLayers, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(GpuLayers::All);
    }
    s.parse::<u32>().map(GpuLayers::Count).map_err(|_| format!("expected a number or \"all\", got {s:?}"))
}

impl Cli {
    /// The prompt words joined, or `None` when no prompt was given.
    pub fn prompt_text(&self) -> Option<String> {
        let text = self.prompt.join(" ");
        (!text.trim().is_empty()).then_some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn prompt_words_join() {
        let cli = Cli::parse_from(["ember", "explain", "this", "--stats"]);
        assert_eq!(cli.prompt_text().as_deref(), Some("explain this"));
        assert!(cli.stats);
    }

    #[test]
    fn history_subcommands_and_prompts_coexist() {
        let cli = Cli::parse_from(["ember", "history", "search", "rust", "lifetimes"]);
        assert!(matches!(cli.command, Some(Command::History { action: HistoryAction::Search { .. } })));
        let cli = Cli::parse_from(["ember", "history of rome"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.prompt_text().as_deref(), Some("history of rome"));
        let cli = Cli::parse_from(["ember", "-c", "more"]);
        assert!(cli.continue_last);
    }

    #[test]
    fn sampling_values_out_of_range_are_usage_errors() {
        for args in [
            ["--temperature", "nan"],
            ["--temperature", "inf"],
            ["--temperature=-1", "x"],
            ["--top-p", "1.5"],
            ["--top-p=-0.1", "x"],
            ["--min-p", "NaN"],
            ["--min-p", "2"],
            ["--top-k=-1", "x"],
            ["--repeat-penalty", "0"],
            ["--repeat-penalty=-1", "x"],
            ["--threads", "513"],
            ["--threads", "0"],
        ] {
            let err = Cli::try_parse_from(["ember"].into_iter().chain(args)).unwrap_err();
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{args:?}: {err}");
        }
        let ok = Cli::parse_from(["ember", "--top-p", "0", "--min-p", "1", "--temperature", "0", "--top-k", "0"]);
        assert_eq!((ok.top_p, ok.min_p, ok.temperature, ok.top_k), (0.0, 1.0, 0.0, 0));
    }

    #[test]
    fn gpu_layers_parse() {
        assert_eq!(parse_gpu_layers("all"), Ok(GpuLayers::All));
        assert_eq!(parse_gpu_layers("12"), Ok(GpuLayers::Count(12)));
        assert!(parse_gpu_layers("x").is_err());
    }
}
