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

/// A delimited region of the output whose text is of one kind. Reasoning blocks are one;
/// a family's tool-call tags (`<tool_call>…</tool_call>`) would be another.
#[derive(Debug, Clone)]
struct Span {
    open: &'static str,
    close: &'static str,
    open_id: Option<i32>,
    close_id: Option<i32>,
    kind: SegmentKind,
    /// Recognised only before any answer text of the current answer segment: a reasoning block
    /// opens a reply, and a reply that talks about `<think>` must not vanish into reasoning.
    only_at_start: bool,
}

/// The parser for tagged families.
#[derive(Debug, Clone)]
struct TagParser {
    spans: Vec<Span>,
    /// The span we are inside, if any; outside is the answer.
    inside: Option<usize>,
    /// Nothing but whitespace has been seen in the current segment: leading whitespace is
    /// dropped, and start-only tags are still recognised.
    fresh: bool,
    /// Text that may be the start of a tag.
    hold: String,
}

impl TagParser {
    fn new(format: TagFormat) -> Self {
        let reasoning = Span {
            open: format.tags.open(),
            close: format.tags.close(),
            open_id: format.open_id,
            close_id: format.close_id,
            kind: SegmentKind::Reasoning,
            only_at_start: true,
        };
        TagParser {
            spans: vec![reasoning],
            inside: format.starts_inside.then_some(0),
            fresh: true,
            hold: String::new(),
        }
    }

    fn kind(&self) -> SegmentKind {
        self.inside.and_then(|i| self.spans.get(i)).map_or(SegmentKind::Answer, |s| s.kind)
    }

    /// Answer text after the answer began, with no tag recognised anywhere: nothing to hold.
    fn passthrough(&self) -> bool {
        self.inside.is_none() && !self.fresh && self.spans.iter().all(|s| s.only_at_start)
    }

    fn push(&mut self, token: i32, piece: &str, sink: &mut Sink) {
        if let Some(tag) = self.tag_by_id(token) {
            // The tag came whole as one token: what was held is plain text.
            let held = std::mem::take(&mut self.hold);
            self.text(&held, sink);
            if self.is_expected(tag) {
                self.apply(tag, sink);
            } else {
                self.text(piece, sink);
            }
            return;
        }
        if self.passthrough() {
            sink.attribute(SegmentKind::Answer);
            sink.emit(SegmentKind::Answer, piece);
            return;
        }
        self.hold.push_str(piece);
        self.scan(sink);
    }

    fn finish(&mut self, sink: &mut Sink) {
        let held = std::mem::take(&mut self.hold);
        self.text(&held, sink);
        sink.attribute(self.kind());
    }

    /// Emits `text` as text of the current segment, dropping a segment's leading whitespace.
    fn text(&mut self, text: &str, sink: &mut Sink) {
        if text.is_empty() {
            return;
        }
        let kind = self.kind();
        sink.attribute(kind);
        let text = if self.fresh { text.trim_start() } else { text };
        if !text.is_empty() {
            self.fresh = false;
            sink.emit(kind, text);
        }
    }

    fn tag_by_id(&self, token: i32) -> Option<Tag> {
        self.spans.iter().enumerate().find_map(|(i, s)| {
            if s.open_id == Some(token) {
                Some(Tag { span: i, open: true })
            } else if s.close_id == Some(token) {
                Some(Tag { span: i, open: false })
            } else {
                None
            }
        })
    }

    /// Tags recognised in the current state.
    fn expected(&self) -> impl Iterator<Item = Tag> + '_ {
        (0..self.spans.len()).flat_map(move |i| {
            [Tag { span: i, open: true }, Tag { span: i, open: false }].into_iter().filter(|&t| self.is_expected(t))
        })
    }

    fn is_expected(&self, tag: Tag) -> bool {
        let Some(span) = self.spans.get(tag.span) else {
            return false;
        };
        match self.inside {
            // Inside: its closing tag, or its opening tag repeated before any text of it
            // (a model that writes `<think>` although the prompt already opened it).
            Some(i) => i == tag.span && (!tag.open || self.fresh),
            None => tag.open && (self.fresh || !span.only_at_start),
        }
    }

    fn tag_text(&self, tag: Tag) -> &'static str {
        match self.spans.get(tag.span) {
            Some(s) if tag.open => s.open,
            Some(s) => s.close,
            None => "",
        }
    }

    fn apply(&mut self, tag: Tag, sink: &mut Sink) {
        let kind = self.spans.get(tag.span).map_or(SegmentKind::Answer, |s| s.kind);
        // Both a block's tags count to the block.
        sink.attribute(kind);
        if tag.open {
            if self.inside.is_none() && kind == SegmentKind::ToolCall {
                sink.start_tool_call(String::new(), None);
            }
            self.inside = Some(tag.span);
        } else {
            self.inside = None;
        }
        self.fresh = true;
    }

    /// Emits what is known of `hold`, keeping only a possible start of an expected tag.
    fn scan(&mut self, sink: &mut Sink) {
        loop {
            let mut expecting = false;
            let mut found: Option<(usize, Tag, usize)> = None;
            let mut partial = 0;
            for tag in self.expected() {
                expecting = true;
                let text = self.tag_text(tag);
                if let Some(at) = self.hold.find(text) {
                    if found.is_none_or(|(first, _, _)| at < first) {
                        found = Some((at, tag, text.len()));
                    }
                }
                partial = partial.max(partial_prefix(&self.hold, text));
            }
            let cut = match found {
                _ if !expecting => self.hold.len(),
                Some((0, tag, len)) => {
                    self.hold.drain(..len);
                    self.apply(tag, sink);
                    continue;
                }
                Some((at, _, _)) => at,
                None => self.hold.len() - partial,
            };
            if cut == 0 {
                return;
            }
            // The state may change with this text (the answer begins): scan the rest again.
            let text: String = self.hold.drain(..cut).collect();
            self.text(&text, sink);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag {
    span: usize,
    open: bool,
}

/// The length of the longest end of `text` that is a proper beginning of `tag`.
fn partial_prefix(text: &str, tag: &str) -> usize {
    (1..tag.len().min(text.len() + 1))
        .rev()
        .find(|&n| tag.is_char_boundary(n) && text.ends_with(&tag[..n]))
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HarmonyState {
    /// Before any header, or between messages: stray text is taken for answer.
    Outside,
    /// After `<|start|>`: the role header (`assistant`, `assistant to=functions.x`).
    Role,
    /// After `<|channel|>`: the channel header (`analysis`, `commentary to=functions.x json`).
    Channel,
    /// After `<|message|>`: the message body.
    Message(SegmentKind),
}

/// The parser for harmony (gpt-oss), driven by control-token ids.
#[derive(Debug, Clone)]
struct HarmonyParser {
    tokens: HarmonyTokens,
    state: HarmonyState,
    role: String,
    channel: String,
}

impl HarmonyParser {
    fn new(tokens: HarmonyTokens) -> Self {
        HarmonyParser { tokens, state: HarmonyState::Outside, role: String::new(), channel: String::new() }
    }

    fn kind(&self) -> SegmentKind {
        match self.state {
            HarmonyState::Outside => SegmentKind::Answer,
            HarmonyState::Role | HarmonyState::Channel => self.header().0,
            HarmonyState::Message(kind) => kind,
        }
    }

    fn push(&mut self, token: i32, piece: &str, sink: &mut Sink) {
        let t = self.tokens;
        let is = |id: Option<i32>| id == Some(token);
        if is(t.start) {
            self.role.clear();
            self.channel.clear();
            self.state = HarmonyState::Role;
        } else if token == t.channel {
            self.channel.clear();
            self.state = HarmonyState::Channel;
        } else if token == t.message {
            let (kind, recipient, content_type) = self.header();
            sink.attribute(kind);
            if kind == SegmentKind::ToolCall {
                sink.start_tool_call(recipient.unwrap_or_default(), content_type);
            }
            self.state = HarmonyState::Message(kind);
        } else if is(t.end) || is(t.return_) || is(t.call) {
            sink.attribute(self.kind());
            self.state = HarmonyState::Outside;
        } else if is(t.constrain) {
            // `…to=functions.x<|constrain|>json`: keep the content type a word of its own.
            self.header_text(" ");
        } else {
            match self.state {
                HarmonyState::Outside => {
                    if !piece.is_empty() {
                        sink.attribute(SegmentKind::Answer);
                    }
                    sink.emit(SegmentKind::Answer, piece);
                }
                HarmonyState::Role | HarmonyState::Channel => self.header_text(piece),
                HarmonyState::Message(kind) => {
                    if !piece.is_empty() {
                        sink.attribute(kind);
                    }
                    sink.emit(kind, piece);
                }
            }
        }
    }

    fn header_text(&mut self, text: &str) {
        match self.state {
            HarmonyState::Role => self.role.push_str(text),
            HarmonyState::Channel => self.channel.push_str(text),
            HarmonyState::Outside | HarmonyState::Message(_) => {}
        }
    }

    fn finish(&mut self, sink: &mut Sink) {
        // A header cut short is dropped: headers are never text.
        sink.attribute(self.kind());
    }

    /// What the headers read so far make of the message: its kind, its recipient, and the
    /// declared type of its content.
    fn header(&self) -> (SegmentKind, Option<String>, Option<String>) {
        let recipient = recipient(&self.channel).or_else(|| recipient(&self.role));
        let mut words = self.channel.split_whitespace().filter(|w| !w.starts_with("to="));
        let channel = words.next().unwrap_or("");
        let content_type = words.next().map(str::to_string);
        let kind = match (&recipient, channel) {
            (Some(_), _) => SegmentKind::ToolCall,
            (None, "final" | "") => SegmentKind::Answer,
            (None, _) => SegmentKind::Reasoning,
        };
        (kind, recipient, content_type)
    }
}

/// The recipient named by `to=` in a harmony header; a message to the assistant is not a call.
fn recipient(header: &str) -> Option<String> {
    header
        .split_whitespace()
        .find_map(|w| w.strip_prefix("to="))
        .filter(|r| !r.is_empty() && *r != "assistant")
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SegmentKind::{Answer, Reasoning, ToolCall as Tool};

    const TEXT: i32 = 1000;

    #[derive(Debug, Default, PartialEq)]
    struct Outcome {
        reasoning: String,
        answer: String,
        tool: String,
        reasoning_tokens: usize,
    }

    fn run(format: ReasoningFormat, script: &[(i32, String)]) -> (Outcome, Vec<SegmentDelta>) {
        let mut parser = ReasoningParser::new(format);
        let mut deltas = Vec::new();
        for (token, piece) in script {
            // One Vec per token, as the engine would do: merging happens only within a call.
            let mut out = Vec::new();
            parser.push(*token, piece, &mut out);
            deltas.extend(out);
        }
        let mut out = Vec::new();
        parser.finish(&mut out);
        deltas.extend(out);
        let mut outcome = Outcome { reasoning_tokens: parser.reasoning_tokens(), ..Outcome::default() };
        for d in &deltas {
            assert!(!d.text.is_empty(), "an empty delta: {deltas:?}");
            match d.kind {
                Reasoning => outcome.reasoning.push_str(&d.text),
                Answer => outcome.answer.push_str(&d.text),
                Tool => outcome.tool.push_str(&d.text),
            }
        }
        (outcome, deltas)
    }

    fn owned(script: &[(i32, &str)]) -> Vec<(i32, String)> {
        script.iter().map(|&(t, p)| (t, p.to_string())).collect()
    }

    /// The script with each text piece in turn split in two at every character boundary (a token
    /// that is a tag or a control token is never split: it is one token).
    fn two_way_splits(script: &[(i32, &str)]) -> Vec<Vec<(i32, String)>> {
        let mut all = Vec::new();
        for (index, &(token, piece)) in script.iter().enumerate().filter(|(_, &(token, _))| token == TEXT) {
            for (at, _) in piece.char_indices().skip(1) {
                let mut s = owned(script);
                s[index] = (token, piece[..at].to_string());
                s.insert(index + 1, (token, piece[at..].to_string()));
                all.push(s);
            }
        }
        all
    }

    /// The script with every text piece given one character at a time.
    fn char_per_piece(script: &[(i32, &str)]) -> Vec<(i32, String)> {
        script
            .iter()
            .flat_map(|&(token, piece)| {
                if token != TEXT || piece.is_empty() {
                    vec![(token, piece.to_string())]
                } else {
                    piece.chars().map(|c| (token, c.to_string())).collect()
                }
            })
            .collect()
    }

    /// Every way of cutting the script into pieces checked against one expected outcome
    /// (token counts aside: splitting a token makes more tokens).
    fn check_all_splits(format: ReasoningFormat, script: &[(i32, &str)], reasoning: &str, answer: &str, tool: &str) {
        let expect = |s: &[(i32, String)], how: &str| {
            let (got, deltas) = run(format, s);
            assert_eq!(
                (got.reasoning.as_str(), got.answer.as_str(), got.tool.as_str()),
                (reasoning, answer, tool),
                "{how}: {s:?} gave {deltas:?}"
            );
        };
        expect(&owned(script), "as scripted");
        for s in two_way_splits(script) {
            expect(&s, "split in two");
        }
        expect(&char_per_piece(script), "one character per piece");
    }

    fn tags(tags: ThinkTags, starts_inside: bool) -> ReasoningFormat {
        ReasoningFormat::Tags(TagFormat::new(tags, starts_inside))
    }

    #[test]
    fn every_tag_family_splits_reasoning_from_answer_at_every_cut() {
        for t in ThinkTags::ALL {
            let (open, close) = (t.open(), t.close());
            let whole = format!("{open}\nLet me see: 2+2 is 4.\n{close}\n\nThe answer is **4**.");
            let expect_r = "Let me see: 2+2 is 4.\n";
            let expect_a = "The answer is **4**.";
            check_all_splits(tags(t, false), &[(TEXT, &whole)], expect_r, expect_a, "");
            // Leading whitespace before the block, and the tags glued to words.
            let glued = format!("\n{open}Hmm{close}Sure.");
            check_all_splits(tags(t, false), &[(TEXT, &glued)], "Hmm", "Sure.", "");
            // The generation prompt opened the block: the output starts inside it.
            let inside = format!("Sure{close}\n\nThe answer");
            check_all_splits(tags(t, true), &[(TEXT, &inside)], "Sure", "The answer", "");
        }
    }

    #[test]
    fn kimi_tags_split_inside_their_multibyte_characters_are_held() {
        let mut parser = ReasoningParser::new(tags(ThinkTags::Kimi, false));
        let mut out = Vec::new();
        parser.push(TEXT, "◁th", &mut out);
        assert!(out.is_empty(), "a possible tag is held: {out:?}");
        parser.push(TEXT, "ink▷deep◁/", &mut out);
        parser.push(TEXT, "think▷ok", &mut out);
        parser.finish(&mut out);
        assert_eq!(
            out,
            vec![
                SegmentDelta { kind: Reasoning, text: "deep".into() },
                SegmentDelta { kind: Answer, text: "ok".into() }
            ]
        );
    }

    #[test]
    fn a_repeated_opening_tag_when_the_prompt_opened_the_block_is_dropped() {
        let script = [(TEXT, "<think>\nplan</think>\n\nanswer")];
        check_all_splits(tags(ThinkTags::Think, true), &script, "plan", "answer", "");
    }

    #[test]
    fn an_unclosed_block_stays_reasoning() {
        let script = [(TEXT, "<think>\nstill thinking, 3 < 4 and </th")];
        check_all_splits(tags(ThinkTags::Think, false), &script, "still thinking, 3 < 4 and </th", "", "");
        let inside = [(TEXT, "cut by max tokens mid-thought")];
        check_all_splits(tags(ThinkTags::Think, true), &inside, "cut by max tokens mid-thought", "", "");
    }

    #[test]
    fn a_tag_cut_at_the_end_is_text_of_its_segment() {
        for (start, expect) in [("<", "<"), ("<th", "<th"), ("<think", "<think")] {
            let mut parser = ReasoningParser::new(tags(ThinkTags::Think, false));
            let mut out = Vec::new();
            parser.push(TEXT, start, &mut out);
            assert!(out.is_empty(), "{start:?} must be held: {out:?}");
            parser.finish(&mut out);
            assert_eq!(out, vec![SegmentDelta { kind: Answer, text: expect.into() }]);
        }
        let (got, _) = run(tags(ThinkTags::Magistral, true), &owned(&[(TEXT, "x [/THI")]));
        assert_eq!(got.reasoning, "x [/THI");
    }

    #[test]
    fn lookalikes_are_text() {
        let think = tags(ThinkTags::Think, false);
        check_all_splits(think, &[(TEXT, "<thinking about it>")], "", "<thinking about it>", "");
        check_all_splits(think, &[(TEXT, "a < b and <th")], "", "a < b and <th", "");
        check_all_splits(think, &[(TEXT, "<thin>x</think>")], "", "<thin>x</think>", "");
        let magistral = tags(ThinkTags::Magistral, false);
        check_all_splits(magistral, &[(TEXT, "[THINKING] [/THINK]")], "", "[THINKING] [/THINK]", "");
        // Inside reasoning, near-misses of the closing tag stay reasoning.
        check_all_splits(think, &[(TEXT, "<think>a </thinker> <</think>b")], "a </thinker> <", "b", "");
    }

    #[test]
    fn an_opening_tag_after_answer_text_is_literal() {
        let think = tags(ThinkTags::Think, false);
        check_all_splits(think, &[(TEXT, "Use <think> tags.")], "", "Use <think> tags.", "");
        check_all_splits(think, &[(TEXT, "<think>a</think>Use <think>b</think>")], "a", "Use <think>b</think>", "");
        // Right after a block, before any answer text, another block is still reasoning.
        check_all_splits(think, &[(TEXT, "<think>a</think>\n<think>b</think>c")], "ab", "c", "");
    }

    #[test]
    fn tags_that_are_tokens_are_read_by_id_even_without_text() {
        // Magistral: [THINK] and [/THINK] are control tokens, so their text is empty.
        let format = ReasoningFormat::Tags(TagFormat {
            tags: ThinkTags::Magistral,
            starts_inside: false,
            open_id: Some(34),
            close_id: Some(35),
        });
        let script = [(34, ""), (TEXT, "Let me think."), (TEXT, " Done."), (35, ""), (TEXT, "Answer.")];
        check_all_splits(format, &script, "Let me think. Done.", "Answer.", "");
        let (got, _) = run(format, &owned(&script));
        assert_eq!(got.reasoning_tokens, 4, "[THINK], two reasoning tokens and [/THINK]");
        // Qwen3: <think> is one token that comes with its text; read once, by id.
        let qwen = ReasoningFormat::Tags(TagFormat {
            tags: ThinkTags::Think,
            starts_inside: false,
            open_id: Some(151667),
            close_id: Some(151668),
        });
        let script = [(151667, "<think>"), (TEXT, "\nhm\n"), (151668, "</think>"), (TEXT, "\n\nYes")];
        check_all_splits(qwen, &script, "hm\n", "Yes", "");
        // A held "<" before the tag token is plain text; the tag after answer text is literal.
        let script = [(TEXT, "a<"), (151667, "<think>")];
        check_all_splits(qwen, &script, "", "a<<think>", "");
    }

    #[test]
    fn reasoning_tokens_count_the_block_and_its_tags() {
        let script = [
            (TEXT, "<think>"),
            (TEXT, "\n"),
            (TEXT, "Two"),
            (TEXT, " plus two.\n"),
            (TEXT, "</think>"),
            (TEXT, "\n\n"),
            (TEXT, "Four"),
            (TEXT, "."),
        ];
        let (got, _) = run(tags(ThinkTags::Think, false), &owned(&script));
        assert_eq!(got.reasoning_tokens, 5);
        // A tag split over tokens: both halves count; a token holding the end of the
        // reasoning and the start of the answer counts as reasoning.
        let script = [(TEXT, "<th"), (TEXT, "ink>a"), (TEXT, "b</th"), (TEXT, "ink>c"), (TEXT, "d")];
        let (got, _) = run(tags(ThinkTags::Think, false), &owned(&script));
        assert_eq!((got.reasoning.as_str(), got.answer.as_str()), ("ab", "cd"));
        assert_eq!(got.reasoning_tokens, 4);
        // Starting inside, a cut turn is all reasoning.
        let (got, _) = run(tags(ThinkTags::Think, true), &owned(&[(TEXT, "a"), (TEXT, "b"), (TEXT, "</th")]));
        assert_eq!(got.reasoning_tokens, 3);
    }

    #[test]
    fn deltas_are_merged_within_a_push_and_never_empty() {
        let mut parser = ReasoningParser::new(tags(ThinkTags::Think, false));
        let mut out = Vec::new();
        parser.push(TEXT, "<think>a", &mut out);
        parser.push(TEXT, "b", &mut out);
        parser.push(TEXT, "</think>", &mut out);
        parser.push(TEXT, "\n\n", &mut out);
        parser.push(TEXT, "c", &mut out);
        parser.finish(&mut out);
        assert_eq!(
            out,
            vec![SegmentDelta { kind: Reasoning, text: "ab".into() }, SegmentDelta { kind: Answer, text: "c".into() }]
        );
        let mut calls = Vec::new();
        parser.push_with(TEXT, "", |k, t| calls.push((k, t.to_string())));
        assert!(calls.is_empty());
    }

    #[test]
    fn none_passes_everything_through() {
        let script = [(TEXT, "  <think>x</think> "), (7, ""), (TEXT, "[THINK]")];
        let (got, deltas) = run(ReasoningFormat::None, &owned(&script));
        assert_eq!(got.answer, "  <think>x</think> [THINK]");
        assert_eq!(deltas.len(), 2, "one delta per non-empty piece: {deltas:?}");
        assert_eq!(got.reasoning_tokens, 0);
        let mut parser = ReasoningParser::new(ReasoningFormat::None);
        let mut seen = Vec::new();
        parser.push_with(TEXT, "<th", |k, t| seen.push((k, t.to_string())));
        assert_eq!(seen, vec![(Answer, "<th".to_string())], "nothing is held");
    }

    // Harmony, with gpt-oss's ids (o200k_harmony).
    const H: HarmonyTokens = HarmonyTokens {
        channel: CHANNEL,
        message: MESSAGE,
        start: Some(START),
        end: Some(END),
        return_: Some(RETURN),
        call: Some(CALL),
        constrain: Some(CONSTRAIN),
    };
    const START: i32 = 200006;
    const CHANNEL: i32 = 200005;
    const MESSAGE: i32 = 200008;
    const END: i32 = 200007;
    const RETURN: i32 = 200002;
    const CALL: i32 = 200012;
    const CONSTRAIN: i32 = 200003;

    fn harmony() -> ReasoningFormat {
        ReasoningFormat::Harmony(H)
    }

    #[test]
    fn harmony_analysis_then_final() {
        let script = [
            (CHANNEL, ""),
            (TEXT, "analysis"),
            (MESSAGE, ""),
            (TEXT, "The user"),
            (TEXT, " greets."),
            (END, ""),
            (START, ""),
            (TEXT, "assistant"),
            (CHANNEL, ""),
            (TEXT, "final"),
            (MESSAGE, ""),
            (TEXT, "Hello"),
            (TEXT, "!"),
            (RETURN, ""),
        ];
        check_all_splits(harmony(), &script, "The user greets.", "Hello!", "");
        let (got, _) = run(harmony(), &owned(&script));
        assert_eq!(got.reasoning_tokens, 6, "<|channel|>analysis<|message|>, two text tokens, <|end|>");
    }

    #[test]
    fn harmony_commentary_without_recipient_is_reasoning_and_turns_end_at_any_end_token() {
        for last in [END, RETURN, CALL] {
            let script = [(CHANNEL, ""), (TEXT, "commentary"), (MESSAGE, ""), (TEXT, "Checking."), (last, "")];
            check_all_splits(harmony(), &script, "Checking.", "", "");
            let script = [(CHANNEL, ""), (TEXT, "final"), (MESSAGE, ""), (TEXT, "Done."), (last, "")];
            check_all_splits(harmony(), &script, "", "Done.", "");
        }
        // The stray `<|channel|>commentary to=assistant` some gpt-oss-20b runs start with.
        let stray = [(CHANNEL, ""), (TEXT, "commentary to=assistant"), (CHANNEL, ""), (TEXT, "analysis")];
        let script = [&stray[..], &[(MESSAGE, ""), (TEXT, "think"), (END, "")]].concat();
        check_all_splits(harmony(), &script, "think", "", "");
    }

    #[test]
    fn harmony_tool_calls_in_the_channel_or_the_role_header() {
        let script = [
            (CHANNEL, ""),
            (TEXT, "analysis"),
            (MESSAGE, ""),
            (TEXT, "Need the weather."),
            (END, ""),
            (START, ""),
            (TEXT, "assistant"),
            (CHANNEL, ""),
            (TEXT, "commentary to=functions.get_weather "),
            (CONSTRAIN, ""),
            (TEXT, "json"),
            (MESSAGE, ""),
            (TEXT, "{\"city\":"),
            (TEXT, "\"Paris\"}"),
            (CALL, ""),
        ];
        check_all_splits(harmony(), &script, "Need the weather.", "", "{\"city\":\"Paris\"}");
        let mut parser = ReasoningParser::new(harmony());
        let mut out = Vec::new();
        for (t, p) in script {
            parser.push(t, p, &mut out);
        }
        parser.finish(&mut out);
        assert_eq!(
            parser.tool_calls(),
            [ToolCall {
                recipient: "functions.get_weather".into(),
                content_type: Some("json".into()),
                arguments: "{\"city\":\"Paris\"}".into()
            }]
        );
        // As the template renders past calls: the recipient in the role header.
        let script = [
            (START, ""),
            (TEXT, "assistant to=functions.lookup"),
            (CHANNEL, ""),
            (TEXT, "commentary json"),
            (MESSAGE, ""),
            (TEXT, "{}"),
            (CALL, ""),
        ];
        check_all_splits(harmony(), &script, "", "", "{}");
        let mut parser = ReasoningParser::new(harmony());
        script.iter().for_each(|&(t, p)| parser.push(t, p, &mut Vec::new()));
        assert_eq!(parser.tool_calls()[0].recipient, "functions.lookup");
        assert_eq!(parser.tool_calls()[0].content_type.as_deref(), Some("json"));
    }

    #[test]
    fn harmony_text_outside_any_header_is_answer_and_cut_headers_vanish() {
        check_all_splits(harmony(), &[(TEXT, "Plain reply.")], "", "Plain reply.", "");
        let script = [(CHANNEL, ""), (TEXT, "analysis"), (MESSAGE, ""), (TEXT, "a"), (END, ""), (START, "")];
        let script = [&script[..], &[(TEXT, "assistant"), (CHANNEL, ""), (TEXT, "fin")]].concat();
        check_all_splits(harmony(), &script, "a", "", "");
        // Cut mid-analysis (max tokens, cancel): what came is reasoning.
        let script = [(CHANNEL, ""), (TEXT, "analysis"), (MESSAGE, ""), (TEXT, "so far")];
        check_all_splits(harmony(), &script, "so far", "", "");
    }

    // Detection, on fragments of real templates (llama.cpp's models/templates and the models'
    // own chat templates) and on the two real templates kept in tests/fixtures.
    fn vocab(tokens: &'static [(&'static str, i32)]) -> impl Fn(&str) -> Option<i32> {
        move |s| tokens.iter().find(|(t, _)| *t == s).map(|&(_, id)| id)
    }

    fn no_vocab(_: &str) -> Option<i32> {
        None
    }

    const GPT_OSS_VOCAB: &[(&str, i32)] = &[
        ("<|channel|>", 200005),
        ("<|message|>", 200008),
        ("<|start|>", 200006),
        ("<|end|>", 200007),
        ("<|return|>", 200002),
        ("<|call|>", 200012),
        ("<|constrain|>", 200003),
    ];

    #[test]
    fn detects_harmony_only_with_single_control_tokens() {
        let gpt_oss = r#"{{- "<|start|>assistant<|channel|>final<|message|>" + message.content + "<|end|>" }}
{%- if add_generation_prompt -%}
<|start|>assistant
{%- endif -%}"#;
        assert_eq!(detect(Some(gpt_oss), "<|start|>assistant", vocab(GPT_OSS_VOCAB)), harmony());
        assert_eq!(detect(Some(gpt_oss), "<|start|>assistant", no_vocab), ReasoningFormat::None);
        let partial: &[(&str, i32)] = &[("<|channel|>", 1)];
        assert_eq!(detect(Some(gpt_oss), "", vocab(partial)), ReasoningFormat::None);
    }

    fn detected(template: &str, tail: &str) -> ReasoningFormat {
        detect(Some(template), tail, no_vocab)
    }

    #[test]
    fn detects_think_tags_and_whether_the_prompt_opened_them() {
        let qwen3 = include_str!("../../tests/fixtures/templates/qwen.jinja");
        assert_eq!(detected(qwen3, "<|im_start|>assistant\n"), tags(ThinkTags::Think, false));
        // enable_thinking=false renders an empty, closed block.
        assert_eq!(detected(qwen3, "<|im_start|>assistant\n<think>\n\n</think>\n\n"), tags(ThinkTags::Think, false));
        // Qwen3 thinking-2507 and QwQ open the block in the generation prompt.
        let qwq = "{%- set content = message.content.split('</think>')[-1].lstrip('\\n') %}\n\
                   {%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n<think>\\n' }}\n{%- endif %}";
        assert_eq!(detected(qwq, "<|im_start|>assistant\n<think>\n"), tags(ThinkTags::Think, true));
        let r1 = include_str!("../../tests/fixtures/templates/deepseek.jinja");
        assert_eq!(detected(r1, "<｜Assistant｜><think>\n"), tags(ThinkTags::Think, true));
        // DeepSeek-V3.1's non-thinking prompt closes a block it never opened.
        assert_eq!(detected(r1, "<｜Assistant｜></think>"), tags(ThinkTags::Think, false));
        let smollm3 = "structure your response into two main sections: Thought and Solution using the specified \
                       format: <think> Thought section </think> Solution section.";
        assert_eq!(detected(smollm3, "<|im_start|>assistant\n<think>\n\n</think>\n"), tags(ThinkTags::Think, false));
        let glm45 = "{%- else -%}\n{{ '\\n<think></think>' }}\n{%- endif -%}";
        assert_eq!(detected(glm45, "<|assistant|>"), tags(ThinkTags::Think, false));
        let kimi_k2_thinking = "<|im_assistant|>{{role_name}}<|im_middle|>\n<think></think>{{render_content(message)}}";
        assert_eq!(detected(kimi_k2_thinking, "<|im_assistant|>assistant<|im_middle|>"), tags(ThinkTags::Think, false));
        // The ids come from the vocabulary when the tags are single tokens.
        let qwen_vocab: &[(&str, i32)] = &[("<think>", 151667), ("</think>", 151668)];
        let ReasoningFormat::Tags(f) = detect(Some(qwen3), "", vocab(qwen_vocab)) else {
            panic!("Qwen3 has think tags");
        };
        assert_eq!((f.open_id, f.close_id), (Some(151667), Some(151668)));
    }

    #[test]
    fn detects_the_other_tag_families() {
        let magistral = "{%- set default_system_message = 'First draft your thinking process ... Your thinking \
                         process must follow the template below:[THINK]Your thoughts or/and draft, like working \
                         through an exercise on scratch paper. ...[/THINK]Here, provide a self-contained response.' %}";
        let mistral_vocab: &[(&str, i32)] = &[("[THINK]", 34), ("[/THINK]", 35)];
        assert_eq!(
            detect(Some(magistral), "[INST]Hi[/INST]", vocab(mistral_vocab)),
            ReasoningFormat::Tags(TagFormat {
                tags: ThinkTags::Magistral,
                starts_inside: false,
                open_id: Some(34),
                close_id: Some(35)
            })
        );
        let seed = "{%- set think_begin_token      = '<seed:think>'             -%}\n\
                    {%- set think_end_token        = '</seed:think>'            -%}";
        assert_eq!(detected(seed, "<seed:bos>assistant\n"), tags(ThinkTags::Seed, false));
        // thinking_budget = 0 opens the block in the prompt.
        let budget0 = "<seed:bos>assistant\n<seed:think><seed:cot_budget_reflect>";
        assert_eq!(detected(seed, budget0), tags(ThinkTags::Seed, true));
        let kimi_vl = "{%- if add_generation_prompt -%}<|im_assistant|>assistant<|im_middle|>{%- endif -%}";
        assert_eq!(detected(kimi_vl, "<|im_assistant|>assistant<|im_middle|>"), tags(ThinkTags::Kimi, false));
        let kimi_dev = "{{ content.split('◁/think▷')[-1] }}";
        assert_eq!(detected(kimi_dev, ""), tags(ThinkTags::Kimi, false));
    }

    #[test]
    fn templates_without_reasoning_markers_are_none() {
        let mistral_small = "{{- '[SYSTEM_PROMPT]' + system_message + '[/SYSTEM_PROMPT]' }}\n\
                             {{- '[INST]' + message['content'] + '[/INST]' }}";
        assert_eq!(detected(mistral_small, "[INST]Hi[/INST]"), ReasoningFormat::None);
        let llama3 = include_str!("../../tests/fixtures/templates/llama3.jinja");
        assert_eq!(detected(llama3, "<|start_header_id|>assistant<|end_header_id|>\n\n"), ReasoningFormat::None);
        let qwen3_coder = "{{- '\\n<tool_call>\\n<function=' + tool_call.name + '>\\n' }}";
        assert_eq!(detected(qwen3_coder, "<|im_start|>assistant\n"), ReasoningFormat::None);
        assert_eq!(detect(None, "Assistant:", no_vocab), ReasoningFormat::None);
        // No template, but the prompt format opens a block anyway.
        assert_eq!(detect(None, "<|im_start|>assistant\n<think>\n", no_vocab), tags(ThinkTags::Think, true));
    }
}
