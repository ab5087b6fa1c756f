//! Splitting a model's turn into typed segments: reasoning, answer and tool calls.
//!
//! Reasoning models mark their thinking in the generated text: `<think>…</think>` (Qwen3, QwQ,
//! DeepSeek-R1, SmolLM3, GLM), `[THINK]…[/THINK]` (Magistral), `◁think▷…◁/think▷` (Kimi),
//! `<seed:think>…</seed:think>` (Seed-OSS), or harmony's channels (gpt-oss). The family is chosen
//! once per model by [`detect`], from the chat template and the vocabulary; then one
//! [`ReasoningParser`] per turn is fed every generated token and says which segment each piece
//! of text belongs to. Nothing downstream ever looks for a tag in the text again.
//!
//! The parser works on what llama.cpp gives a streaming loop: a token id and the token's text
//! without special tokens. Harmony's markers are control tokens whose text is empty, so harmony
//! is parsed on token ids; so are tags that are control tokens (Magistral's `[THINK]`). Tags
//! that come as text may be split over several tokens or glued to other text: text that may be
//! the start of a tag is held back until it is known, then emitted exactly once.
//!
//! Everything here is plain Rust and free of llama.cpp types: token ids are `i32`.

mod harmony;
mod tags;
#[cfg(test)]
mod tests;

use harmony::HarmonyParser;
use tags::TagParser;

/// What a piece of a turn's output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentKind {
    /// The model thinking aloud; shown apart from the answer, or folded away.
    Reasoning,
    /// The reply proper.
    Answer,
    /// The arguments of a call to a tool (harmony: a message with a recipient, `to=functions.x`).
    /// [`ReasoningParser::tool_calls`] says whom each call is for.
    ToolCall,
}

/// More of the turn's output, of one kind. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentDelta {
    pub kind: SegmentKind,
    pub text: String,
}

/// A tool call seen in the output so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolCall {
    /// Whom the call is for, as the syntax names it outside the arguments (harmony:
    /// `functions.get_weather`); empty when the syntax carries the name inside the arguments.
    pub recipient: String,
    /// The declared type of the arguments (harmony's `<|constrain|>json`), if any.
    pub content_type: Option<String>,
    /// The arguments as generated so far (the [`SegmentKind::ToolCall`] text of this call).
    pub arguments: String,
}

/// The delimiters of one family's reasoning block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThinkTags {
    /// `<think>…</think>`: Qwen3, QwQ, DeepSeek-R1 and its distills, SmolLM3, GLM-4.5+, Kimi-K2-Thinking.
    Think,
    /// `[THINK]…[/THINK]`: Magistral (control tokens in its vocabulary).
    Magistral,
    /// `◁think▷…◁/think▷`: Kimi-VL-Thinking, Kimi-Dev.
    Kimi,
    /// `<seed:think>…</seed:think>`: ByteDance Seed-OSS.
    Seed,
}

impl ThinkTags {
    /// Every family, most specific first (detection tries them in this order).
    pub const ALL: [ThinkTags; 4] = [ThinkTags::Seed, ThinkTags::Kimi, ThinkTags::Magistral, ThinkTags::Think];

    /// The opening tag.
    pub fn open(self) -> &'static str {
        match self {
            ThinkTags::Think => "<think>",
            ThinkTags::Magistral => "[THINK]",
            ThinkTags::Kimi => "◁think▷",
            ThinkTags::Seed => "<seed:think>",
        }
    }

    /// The closing tag.
    pub fn close(self) -> &'static str {
        match self {
            ThinkTags::Think => "</think>",
            ThinkTags::Magistral => "[/THINK]",
            ThinkTags::Kimi => "◁/think▷",
            ThinkTags::Seed => "</seed:think>",
        }
    }
}

/// A family whose reasoning is a tagged block of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TagFormat {
    pub tags: ThinkTags,
    /// The generation prompt already opened the block (DeepSeek-R1, QwQ, Qwen3 thinking
    /// variants): the output starts inside the reasoning and the first closing tag ends it.
    pub starts_inside: bool,
    /// The opening tag's token id, when the tag is one token of the vocabulary. A token with
    /// this id is the tag whatever its text (a control token's text is empty).
    pub open_id: Option<i32>,
    /// The closing tag's token id, likewise.
    pub close_id: Option<i32>,
}

impl TagFormat {
    /// Tags recognised by their text only.
    pub fn new(tags: ThinkTags, starts_inside: bool) -> Self {
        TagFormat { tags, starts_inside, open_id: None, close_id: None }
    }
}

/// The ids of harmony's control tokens (gpt-oss). `<|channel|>` and `<|message|>` are required.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HarmonyTokens {
    pub channel: i32,
    pub message: i32,
    pub start: Option<i32>,
    pub end: Option<i32>,
    /// `<|return|>`: the end of the final message, and of the turn.
    pub return_: Option<i32>,
    /// `<|call|>`: the end of a tool call, and of the turn.
    pub call: Option<i32>,
    pub constrain: Option<i32>,
}

/// How a model marks reasoning in its output. Chosen once per model by [`detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReasoningFormat {
    /// No reasoning markers: everything is answer, passed through unchanged.
    #[default]
    None,
    /// A tagged reasoning block.
    Tags(TagFormat),
    /// OpenAI's harmony channels (gpt-oss).
    Harmony(HarmonyTokens),
}

impl ReasoningFormat {
    /// A short name for display ("think tags", "harmony", ...).
    pub fn name(&self) -> &'static str {
        match self {
            ReasoningFormat::None => "none",
            ReasoningFormat::Tags(f) => match f.tags {
                ThinkTags::Think => "<think> tags",
                ThinkTags::Magistral => "[THINK] tags",
                ThinkTags::Kimi => "◁think▷ tags",
                ThinkTags::Seed => "<seed:think> tags",
            },
            ReasoningFormat::Harmony(_) => "harmony",
        }
    }
}

/// Chooses the reasoning format of a model.
///
/// - `template`: the chat template's source, if the model has one.
/// - `generation_prompt_tail`: what the rendered prompt ends with for the assistant's turn —
///   at least the generation prompt (the rendering with `add_generation_prompt` minus the one
///   without, e.g. `"<|im_start|>assistant\n<think>\n"`), no message text: a user message that
///   mentions `<think>` must not be taken for an opened block.
/// - `token_id`: the id of `text` when the vocabulary holds it as a single token (special
///   tokens included), else `None`.
///
/// Harmony needs the template to mention `<|channel|>`, and both `<|channel|>` and `<|message|>`
/// to be single tokens of the vocabulary (else no harmony). A tag family is chosen when the template (or the tail) mentions its tags;
/// Kimi's chat markers without `<think>` also mean `◁think▷`, which Kimi-VL-Thinking writes
/// although its template never names it. Anything else is [`ReasoningFormat::None`].
pub fn detect(
    template: Option<&str>,
    generation_prompt_tail: &str,
    token_id: impl Fn(&str) -> Option<i32>,
) -> ReasoningFormat {
    let source = template.unwrap_or("");
    if source.contains("<|channel|>") {
        if let (Some(channel), Some(message)) = (token_id("<|channel|>"), token_id("<|message|>")) {
            return ReasoningFormat::Harmony(HarmonyTokens {
                channel,
                message,
                start: token_id("<|start|>"),
                end: token_id("<|end|>"),
                return_: token_id("<|return|>"),
                call: token_id("<|call|>"),
                constrain: token_id("<|constrain|>"),
            });
        }
    }
    let mentions = |tags: ThinkTags| {
        [source, generation_prompt_tail].iter().any(|s| s.contains(tags.open()) || s.contains(tags.close()))
    };
    let kimi_chat = source.contains("<|im_assistant|>") && source.contains("<|im_middle|>");
    let tags = ThinkTags::ALL.into_iter().find(|&t| mentions(t)).or(kimi_chat.then_some(ThinkTags::Kimi));
    let Some(tags) = tags else {
        return ReasoningFormat::None;
    };
    let tail = generation_prompt_tail;
    let starts_inside = match (tail.rfind(tags.open()), tail.rfind(tags.close())) {
        (Some(open), Some(close)) => open > close,
        (Some(_), None) => true,
        (None, _) => false,
    };
    ReasoningFormat::Tags(TagFormat {
        tags,
        starts_inside,
        open_id: token_id(tags.open()),
        close_id: token_id(tags.close()),
    })
}

/// Splits one turn's output into segments. Make one per turn; feed it every generated token
/// with [`push`](Self::push), then call [`finish`](Self::finish) once.
#[derive(Debug, Clone)]
pub struct ReasoningParser {
    format: ReasoningFormat,
    mode: Mode,
    counts: Counts,
    tool_calls: Vec<ToolCall>,
}

#[derive(Debug, Clone)]
enum Mode {
    None,
    Tags(TagParser),
    Harmony(HarmonyParser),
}

impl ReasoningParser {
    /// A parser for one turn of a model whose format is `format`.
    pub fn new(format: ReasoningFormat) -> Self {
        let mode = match format {
            ReasoningFormat::None => Mode::None,
            ReasoningFormat::Tags(f) => Mode::Tags(TagParser::new(f)),
            ReasoningFormat::Harmony(t) => Mode::Harmony(HarmonyParser::new(t)),
        };
        ReasoningParser { format, mode, counts: Counts::default(), tool_calls: Vec::new() }
    }

    /// The format this parser reads.
    pub fn format(&self) -> &ReasoningFormat {
        &self.format
    }

    /// Reads one generated token (`piece`: its text without special tokens, whole characters)
    /// and appends what is now known to `out`, merged into `out`'s last delta when of one kind.
    pub fn push(&mut self, token: i32, piece: &str, out: &mut Vec<SegmentDelta>) {
        self.push_with(token, piece, |kind, text| append(out, kind, text));
    }

    /// Like [`push`](Self::push), handing each piece of text to `emit` instead (never empty).
    pub fn push_with(&mut self, token: i32, piece: &str, mut emit: impl FnMut(SegmentKind, &str)) {
        if let Mode::None = self.mode {
            if !piece.is_empty() {
                emit(SegmentKind::Answer, piece);
            }
            return;
        }
        let mut sink = Sink { emit: &mut emit, counts: &mut self.counts, tool_calls: &mut self.tool_calls };
        match &mut self.mode {
            Mode::None => {}
            Mode::Tags(p) => {
                sink.counts.unattributed += 1;
                p.push(token, piece, &mut sink);
            }
            Mode::Harmony(p) => {
                sink.counts.unattributed += 1;
                p.push(token, piece, &mut sink);
            }
        }
    }

    /// Ends the turn: whatever was held back (a tag that never completed is text of the
    /// current segment) is appended to `out`.
    pub fn finish(&mut self, out: &mut Vec<SegmentDelta>) {
        self.finish_with(|kind, text| append(out, kind, text));
    }

    /// Like [`finish`](Self::finish), handing the rest to `emit`.
    pub fn finish_with(&mut self, mut emit: impl FnMut(SegmentKind, &str)) {
        let mut sink = Sink { emit: &mut emit, counts: &mut self.counts, tool_calls: &mut self.tool_calls };
        match &mut self.mode {
            Mode::None => {}
            Mode::Tags(p) => p.finish(&mut sink),
            Mode::Harmony(p) => p.finish(&mut sink),
        }
    }

    /// The segment the next text will belong to, as far as is known now.
    pub fn segment(&self) -> SegmentKind {
        match &self.mode {
            Mode::None => SegmentKind::Answer,
            Mode::Tags(p) => p.kind(),
            Mode::Harmony(p) => p.kind(),
        }
    }

    /// Tokens attributed to reasoning so far: every token whose text went (first) to reasoning,
    /// and the tags and control tokens of a reasoning block (its opening and its closing).
    pub fn reasoning_tokens(&self) -> usize {
        self.counts.reasoning
    }

    /// The tool calls seen so far, in order, with their arguments as generated so far.
    pub fn tool_calls(&self) -> &[ToolCall] {
        &self.tool_calls
    }
}

fn append(out: &mut Vec<SegmentDelta>, kind: SegmentKind, text: &str) {
    match out.last_mut() {
        Some(last) if last.kind == kind => last.text.push_str(text),
        _ => out.push(SegmentDelta { kind, text: text.to_string() }),
    }
}

/// Token attribution: tokens are counted to the first segment any of their text (or the
/// marker they are) is classified into. Text held back is not classified yet.
#[derive(Debug, Clone, Default)]
struct Counts {
    unattributed: usize,
    reasoning: usize,
}

/// Where sub-parsers put what they found.
struct Sink<'a> {
    emit: &'a mut dyn FnMut(SegmentKind, &str),
    counts: &'a mut Counts,
    tool_calls: &'a mut Vec<ToolCall>,
}

impl Sink<'_> {
    /// The tokens read so far and not yet attributed belong to `kind`.
    fn attribute(&mut self, kind: SegmentKind) {
        if kind == SegmentKind::Reasoning {
            self.counts.reasoning += self.counts.unattributed;
        }
        self.counts.unattributed = 0;
    }

    fn emit(&mut self, kind: SegmentKind, text: &str) {
        if text.is_empty() {
            return;
        }
        if kind == SegmentKind::ToolCall {
            match self.tool_calls.last_mut() {
                Some(call) => call.arguments.push_str(text),
                None => self.tool_calls.push(ToolCall { arguments: text.to_string(), ..ToolCall::default() }),
            }
        }
        (self.emit)(kind, text);
    }

    fn start_tool_call(&mut self, recipient: String, content_type: Option<String>) {
        self.tool_calls.push(ToolCall { recipient, content_type, arguments: String::new() });
    }
}
