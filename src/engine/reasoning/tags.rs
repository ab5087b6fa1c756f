//! The parser for families that mark reasoning with tags (`<think>`, `[THINK]`, ...), held
//! back while a tag may be split across tokens.

use super::{SegmentKind, Sink, TagFormat};

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
pub(super) struct TagParser {
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
    pub(super) fn new(format: TagFormat) -> Self {
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

    pub(super) fn kind(&self) -> SegmentKind {
        self.inside.and_then(|i| self.spans.get(i)).map_or(SegmentKind::Answer, |s| s.kind)
    }

    /// Answer text after the answer began, with no tag recognised anywhere: nothing to hold.
    fn passthrough(&self) -> bool {
        self.inside.is_none() && !self.fresh && self.spans.iter().all(|s| s.only_at_start)
    }

    pub(super) fn push(&mut self, token: i32, piece: &str, sink: &mut Sink) {
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

    pub(super) fn finish(&mut self, sink: &mut Sink) {
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
