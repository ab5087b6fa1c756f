//! Command-line interface.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::engine::llama::GpuLayers;

const EXAMPLES: &str = "\
Examples:
  ember \"What is a monad, in two sentences?\"
  cat main.rs | ember \"explain this\"
  ember -f src/a.rs -f src/b.rs \"why does b call a twice?\"
  git diff --staged | ember --role commit      (roles: ember roles)
  git diff | ember --role review
  ember --code \"Write a Python function add(a, b)\" > add.py
  ember -f src/lib.rs --diff \"add docs to every public fn\" | git apply   (the answer as a diff)
  git log -5 --oneline | ember --json-schema changes.json \"list the changes\" | jq .
  ember --print-prompt -s \"Be terse.\" \"hi\"      (show the exact prompt the model sees)
  ember -c \"and what about the second file?\"      (continue this directory's last conversation)
  ember history search lifetimes
  ember models                  (the GGUF models on this machine, from every tool)
  ember -m qwen \"hi\"            (any unique part of a model's name)
  ember --endpoint http://127.0.0.1:8080/v1   (chat with llama-server, vLLM or Ollama)

Files:
  config   $XDG_CONFIG_HOME/ember/config.toml  (`ember config --default` shows every key)
  models   $XDG_DATA_HOME/ember/models  (EMBER_MODELS_DIR overrides; `ember pull` installs the default)
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
    pub command: Option<Subcommand>,

    /// The question or instruction. Piped stdin and --file contents are attached to it.
    #[arg(value_name = "PROMPT")]
    pub prompt: Vec<String>,

    /// Model: a GGUF path, a file name in the models folder, or part of a name `ember models` lists
    /// [default: SmolLM2-135M-Instruct.Q4_1.gguf].
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

    /// Print the answer's code block as a unified diff against the --file it changes, for
    /// `git apply` (the block may be the whole new file or a diff); exit 1 when it has none.
    #[arg(long, requires = "files", conflicts_with = "code")]
    pub diff: bool,

    /// System prompt (replaces the role's).
    #[arg(short, long, value_name = "TEXT")]
    pub system: Option<String>,

    /// Role: a named system prompt with its own settings (`ember roles` lists them) [default: default].
    #[arg(short, long, env = "EMBER_ROLE", value_name = "NAME")]
    pub role: Option<String>,

    /// A value for a role's {{NAME}} variable (repeatable), e.g. --var language=Rust.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = crate::roles::parse_var)]
    pub vars: Vec<(String, String)>,

    /// Configuration file [default: $XDG_CONFIG_HOME/ember/config.toml].
    #[arg(long, env = "EMBER_CONFIG", value_name = "PATH", global = true)]
    pub config: Option<PathBuf>,

    /// Syntax-highlighting theme: dark, light, or a syntect theme name or .tmTheme file.
    #[arg(long, env = "EMBER_THEME", value_name = "NAME")]
    pub theme: Option<String>,

    /// Most tokens to generate [default: 2048].
    #[arg(long, env = "EMBER_MAX_TOKENS", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: Option<u32>,

    /// Sampling temperature; 0 is greedy (deterministic) [default: 0.7].
    #[arg(short = 't', long, env = "EMBER_TEMPERATURE", value_name = "T", value_parser = parse_temperature)]
    pub temperature: Option<f32>,

    /// Top-k sampling; 0 disables [default: 40].
    #[arg(long, env = "EMBER_TOP_K", value_name = "K", value_parser = clap::value_parser!(i32).range(0..))]
    pub top_k: Option<i32>,

    /// Top-p (nucleus) sampling; 1.0 disables [default: 0.95].
    #[arg(long, env = "EMBER_TOP_P", value_name = "P", value_parser = parse_probability)]
    pub top_p: Option<f32>,

    /// Min-p sampling; 0 disables [default: 0.05].
    #[arg(long, env = "EMBER_MIN_P", value_name = "P", value_parser = parse_probability)]
    pub min_p: Option<f32>,

    /// Repeat penalty over the last 64 tokens; 1.0 disables [default: 1.1].
    #[arg(long, env = "EMBER_REPEAT_PENALTY", value_name = "X", value_parser = parse_penalty)]
    pub repeat_penalty: Option<f32>,

    /// Random seed (same seed, same model, same build: same answer).
    #[arg(long, env = "EMBER_SEED", value_name = "N")]
    pub seed: Option<u32>,

    /// Context size in tokens [default: the model's, at most 8192].
    #[arg(long = "ctx", env = "EMBER_CTX", value_name = "N", value_parser = clap::value_parser!(u32).range(16..))]
    pub ctx: Option<u32>,

    /// Continue the latest conversation started in this directory.
    #[arg(short = 'c', long = "continue", conflicts_with = "session")]
    pub continue_last: bool,

    /// Continue the conversation with this id (see `ember history list`).
    #[arg(long, value_name = "ID")]
    pub session: Option<i64>,

    /// Do not save this conversation (`EMBER_NO_HISTORY=1` too; `history = false` in the config).
    #[arg(long, env = "EMBER_NO_HISTORY", value_parser = clap::builder::BoolishValueParser::new(),
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub no_history: Option<bool>,

    /// Map the model file instead of reading it: large models start faster and share the page
    /// cache, but overwriting the file in place while ember runs then kills it (`mmap = true`).
    #[arg(long, env = "EMBER_MMAP", value_parser = clap::builder::BoolishValueParser::new(),
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub mmap: Option<bool>,

    /// CPU threads, 1 to 512 [default: the physical cores other programs leave free].
    #[arg(long, env = "EMBER_THREADS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=512))]
    pub threads: Option<u16>,

    /// Layers to offload to the GPU: a number or "all" [default: all when a GPU backend is built in].
    #[arg(long, env = "EMBER_GPU_LAYERS", value_name = "N|all", value_parser = parse_gpu_layers)]
    pub gpu_layers: Option<GpuLayers>,

    /// Flash attention: on, off, or auto (off on the CPU, where it slows long contexts down;
    /// llama.cpp's choice with a GPU).
    #[arg(long, value_name = "on|off|auto", value_parser = parse_flash_attention)]
    pub flash_attn: Option<FlashAttention>,

    /// Use one of llama.cpp's built-in chat templates (chatml, llama3, gemma, mistral-v7, phi3, ...).
    #[arg(long, value_name = "NAME", conflicts_with = "template_file")]
    pub template: Option<String>,

    /// Use a Jinja chat template from a file instead of the model's.
    #[arg(long, value_name = "PATH")]
    pub template_file: Option<PathBuf>,

    /// Print the exact prompt that would be sent to the model, and exit.
    #[arg(long)]
    pub print_prompt: bool,

    /// Answer with one JSON value (object, array, string, number, true, false or null) and
    /// nothing else: sampling follows a grammar of JSON, so the output always parses.
    #[arg(long, conflicts_with_all = ["json_schema", "grammar", "code"])]
    pub json: bool,

    /// Answer with a JSON document that validates against this JSON Schema: a file, or the
    /// schema itself ('{"type": "object", ...}'). Supported: type, properties, required,
    /// additionalProperties: false, enum, const, items, minItems/maxItems,
    /// minLength/maxLength, anyOf, integer minimum/maximum; anything else is refused.
    #[arg(long, value_name = "FILE|JSON", conflicts_with_all = ["grammar", "code"])]
    pub json_schema: Option<String>,

    /// Answer in the language of this GBNF grammar (llama.cpp's format; its `root` rule is the
    /// whole answer), e.g. root ::= "yes" | "no".
    #[arg(long, value_name = "FILE", conflicts_with = "code")]
    pub grammar: Option<PathBuf>,

    /// Print timing and token figures to stderr after the answer.
    #[arg(long)]
    pub stats: bool,

    /// How much a reasoning model thinks: auto (the model's default), on, off, or an effort of
    /// low, medium or high, passed to its chat template (`enable_thinking`, `reasoning_effort`).
    #[arg(long, env = "EMBER_REASONING", value_name = "MODE", value_parser = parse_reasoning)]
    pub reasoning: Option<crate::engine::Reasoning>,

    /// Speculative decoding for the local model (experimental): ngram drafts the next tokens
    /// from earlier text in the conversation that ends like the answer so far, and checks
    /// them in one step, only where ember has measured that it pays on this machine; off (the
    /// default) decodes one token at a time. Every token is still the model's own choice, but
    /// a greedy answer can differ where llama.cpp's batched arithmetic breaks a near tie the
    /// other way, and on small models on a CPU it is not faster yet.
    #[arg(long, env = "EMBER_SPECULATE", value_name = "off|ngram", value_parser = parse_speculate)]
    pub speculate: Option<crate::engine::Speculate>,

    /// Show the model's reasoning on stderr even when stdout is not a terminal (it never goes
    /// to stdout).
    #[arg(long, conflicts_with = "hide_reasoning")]
    pub show_reasoning: bool,

    /// Do not show the model's reasoning on stderr (on a terminal it is shown dim by default).
    #[arg(long)]
    pub hide_reasoning: bool,

    // Remote engine (an OpenAI-compatible server instead of a local model).
    /// Chat with an OpenAI-compatible server instead of a local model: the API's base URL, e.g.
    /// http://127.0.0.1:8080/v1 (llama-server, vLLM, Ollama, hosted APIs). --model then names the
    /// server's model [default: the first it lists]; --ctx is the context budget when the server
    /// does not report one.
    #[arg(long, env = "EMBER_ENDPOINT", value_name = "URL", global = true)]
    pub endpoint: Option<String>,

    /// The environment variable holding the server's API key (ember reads the key from there
    /// and never stores, logs or shows it).
    #[arg(long, value_name = "NAME", global = true)]
    pub api_key_env: Option<String>,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Subcommand {
    /// Saved conversations: list, search, show, export, delete.
    History {
        #[command(subcommand)]
        action: HistoryAction,
    },
    /// The GGUF models on this machine: ember's folder, and the Hugging Face, llama.cpp,
    /// LM Studio and Ollama stores. A table on a terminal, tab-separated lines otherwise.
    Models {
        /// JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// A model's metadata, special tokens and chat template [default: the default model].
    Show {
        /// A path, a file name, or part of a name `ember models` lists.
        model: Option<String>,
        /// JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Install the default model, or download a GGUF file from a URL into the models folder
    /// (resumes an interrupted download).
    Pull {
        /// An http(s) URL of a GGUF file [default: the default model, as `make model` fetches it].
        url: Option<String>,
        /// The file's expected SHA-256; a mismatch deletes the download.
        #[arg(long, value_name = "HEX")]
        sha256: Option<String>,
        /// The file name to save as [default: the URL's].
        #[arg(long, value_name = "FILE")]
        name: Option<String>,
    },
    /// The roles (--role NAME): built in, and yours in $XDG_CONFIG_HOME/ember/roles/*.md.
    Roles,
    /// The configuration file: where it is, and every key with its default.
    Config {
        /// Print the file's path.
        #[arg(long, conflicts_with = "default")]
        path: bool,
        /// Print a configuration with every key documented, set to its default
        /// (`ember config --default > "$(ember config --path)"` to start one).
        #[arg(long)]
        default: bool,
    },
    /// What ember sees: compute devices and their memory, how much of the model fits on them,
    /// the build's GPU features, threads, and where config, data and logs live.
    Doctor,
    /// Print a shell completion script: ember completions bash > ~/.local/share/bash-completion/completions/ember
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): ember man > ~/.local/share/man/man1/ember.1
    Man,
    /// Measure speed through ember's engine on the model (--model), in llama-bench's terms:
    /// prompt processing and generation (median of --reps), first-token times, peak memory.
    Bench {
        /// Prompt tokens for prompt processing (llama-bench -p).
        #[arg(short = 'p', long = "prompt-tokens", default_value_t = 512)]
        prompt_tokens: usize,
        /// Tokens to generate (llama-bench -n).
        #[arg(short = 'n', long = "gen-tokens", default_value_t = 128)]
        gen_tokens: usize,
        /// Repetitions of each figure (llama-bench -r).
        #[arg(short = 'r', long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
        reps: u32,
        /// Skip the 30-turn conversation (first token at turns 2, 10, 30).
        #[arg(long)]
        no_conversation: bool,
        /// Measure context shifting instead: a scripted conversation runs 30 turns past the
        /// context (--ctx, 1024 unless given), and the replies after each cut, with and without
        /// shifting, are compared with a fresh evaluation of the same prompt (text only).
        #[arg(long, conflicts_with = "json")]
        context_shift: bool,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `ember history ...`
#[derive(Debug, clap::Subcommand)]
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

/// `--flash-attn` and the config's `flash_attn`.
pub fn parse_flash_attention(s: &str) -> Result<FlashAttention, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "1" | "true" => Ok(FlashAttention(Some(true))),
        "off" | "0" | "false" => Ok(FlashAttention(Some(false))),
        "auto" => Ok(FlashAttention(None)),
        other => Err(format!("expected on, off or auto, got {other:?}")),
    }
}

fn parse_float(s: &str, lo: f32, hi: f32) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{v} is out of range ({lo} to {hi})")),
        Err(_) => Err(format!("expected a number, got {s:?}")),
    }
}

fn parse_temperature(s: &str) -> Result<f32, String> {
    parse_float(s, 0.0, 100.0)
}

fn parse_probability(s: &str) -> Result<f32, String> {
    parse_float(s, 0.0, 1.0)
}

fn parse_penalty(s: &str) -> Result<f32, String> {
    match parse_float(s, 0.0, 100.0)? {
        0.0 => Err("the repeat penalty is above 0 (1.0 disables it), got 0".into()),
        v => Ok(v),
    }
}

fn parse_speculate(s: &str) -> Result<crate::engine::Speculate, String> {
    s.parse()
}

/// `gpu_layers` from the config file, in the flag's syntax.
fn parse_reasoning(s: &str) -> Result<crate::engine::Reasoning, String> {
    s.parse()
}

pub fn parse_gpu_layers(s: &str) -> Result<GpuLayers, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(GpuLayers::All);
    }
    if s.eq_ignore_ascii_case("auto") {
        return Ok(GpuLayers::Auto);
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
        assert!(matches!(cli.command, Some(Subcommand::History { action: HistoryAction::Search { .. } })));
        let cli = Cli::parse_from(["ember", "history of rome"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.prompt_text().as_deref(), Some("history of rome"));
        let cli = Cli::parse_from(["ember", "-c", "more"]);
        assert!(cli.continue_last);
    }

    #[test]
    fn endpoint_is_global_and_names_a_remote_model() {
        let cli = Cli::parse_from(["ember", "models", "--endpoint", "http://h:1/v1"]);
        assert!(matches!(cli.command, Some(Subcommand::Models { .. })));
        assert_eq!(cli.endpoint.as_deref(), Some("http://h:1/v1"));
        let cli = Cli::parse_from(["ember", "--endpoint", "http://h:1/v1", "--api-key-env", "KEY", "-m", "qwen", "hi"]);
        assert_eq!((cli.model.as_deref(), cli.api_key_env.as_deref()), (Some("qwen"), Some("KEY")));
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
        assert_eq!((ok.top_p, ok.min_p, ok.temperature, ok.top_k), (Some(0.0), Some(1.0), Some(0.0), Some(0)));
    }

    #[test]
    fn gpu_layers_parse() {
        assert_eq!(parse_gpu_layers("all"), Ok(GpuLayers::All));
        assert_eq!(parse_gpu_layers("12"), Ok(GpuLayers::Count(12)));
        assert!(parse_gpu_layers("x").is_err());
    }
}
