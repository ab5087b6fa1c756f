//! A reply's text, token by token: UTF-8 assembled across tokens, the leading whitespace
//! dropped, reasoning split from the answer, and the answer ended at a stop string.

use std::ops::ControlFlow;
use std::time::Instant;

use crate::engine::reasoning::{ReasoningParser, SegmentKind};
use crate::engine::utf8::Utf8Stream;
use crate::engine::{StopReason, TurnSink};

/// Turns a reply's generated tokens into its text on the sink: assembles UTF-8 across tokens,
/// drops the reply's leading whitespace, splits reasoning from the answer (the parser) and ends
/// the answer at a stop string of the prompt format.
pub(super) struct ReplyText {
    utf8: Utf8Stream,
    /// No text yet: a reply's leading whitespace (" " after "Assistant:") carries nothing.
    leading: bool,
    parser: ReasoningParser,
    stop_matcher: StopMatcher,
    stops: &'static [&'static str],
    segments: SegmentTimes,
}

impl ReplyText {
    pub(super) fn new(parser: ReasoningParser, stops: &'static [&'static str]) -> Self {
        ReplyText {
            utf8: Utf8Stream::default(),
            leading: true,
            parser,
            stop_matcher: StopMatcher::default(),
            stops,
            segments: SegmentTimes::default(),
        }
    }

    /// Whether the answer has begun (at once for a model that does not reason): an output
    /// constraint applies from there, so a reasoning model thinks freely first.
    pub(super) fn answering(&self) -> bool {
        self.parser.segment() == SegmentKind::Answer
    }

    /// One generated token's bytes. Returns why the reply must end here, if it must: the sink
    /// stopped it (cancelled), or a stop string appeared.
    pub(super) fn push(&mut self, token: i32, piece: &[u8], sink: &mut dyn TurnSink) -> Option<StopReason> {
        let mut text = self.utf8.push(piece);
        if self.leading {
            let trimmed = text.trim_start();
            self.leading = trimmed.is_empty();
            text = trimmed.to_string();
        }
        let (mut flow, mut hit_stop) = (ControlFlow::Continue(()), false);
        let (segments, stop_matcher, stops) = (&mut self.segments, &mut self.stop_matcher, self.stops);
        self.parser.push_with(token, &text, |kind, text| {
            segments.saw(kind);
            if flow.is_break() || hit_stop {
                return;
            }
            flow = match kind {
                SegmentKind::Answer => {
                    let (out, hit) = stop_matcher.push(text, stops);
                    hit_stop = hit;
                    if out.is_empty() {
                        ControlFlow::Continue(())
                    } else {
                        sink.text(&out)
                    }
                }
                SegmentKind::Reasoning | SegmentKind::ToolCall => sink.reasoning(text),
            };
        });
        if flow.is_break() {
            Some(StopReason::Cancelled)
        } else if hit_stop {
            Some(StopReason::StopString)
        } else {
            None
        }
    }

    /// The reply ended (`stop`): sends what the UTF-8 stream and the parser still hold (a turn
    /// cut inside its reasoning keeps that reasoning), the answer's part through the stop
    /// matcher as above. Returns the reasoning's tokens and time.
    pub(super) fn finish(mut self, stop: StopReason, sink: &mut dyn TurnSink) -> (usize, std::time::Duration) {
        if stop != StopReason::StopString && stop != StopReason::Cancelled {
            let tail = self.utf8.finish();
            let tail = if self.leading { tail.trim_start().to_string() } else { tail };
            let mut rest = Vec::new();
            if !tail.is_empty() {
                self.parser.push(-1, &tail, &mut rest);
            }
            self.parser.finish(&mut rest);
            let mut answer = String::new();
            for delta in rest {
                self.segments.saw(delta.kind);
                match delta.kind {
                    SegmentKind::Answer => answer.push_str(&self.stop_matcher.push(&delta.text, self.stops).0),
                    SegmentKind::Reasoning | SegmentKind::ToolCall => {
                        let _ = sink.reasoning(&delta.text);
                    }
                }
            }
            answer.push_str(&self.stop_matcher.finish());
            if !answer.is_empty() {
                let _ = sink.text(&answer);
            }
        }
        (self.parser.reasoning_tokens(), self.segments.reasoning_time())
    }
}

/// When a turn's reasoning began and when its answer began, for `TurnStats::reasoning_time`.
#[derive(Default)]
struct SegmentTimes {
    reasoning: Option<Instant>,
    answer: Option<Instant>,
}

impl SegmentTimes {
    fn saw(&mut self, kind: SegmentKind) {
        match kind {
            SegmentKind::Reasoning | SegmentKind::ToolCall => {
                self.reasoning.get_or_insert_with(Instant::now);
            }
            SegmentKind::Answer => {
                self.answer.get_or_insert_with(Instant::now);
            }
        }
    }

    fn reasoning_time(&self) -> std::time::Duration {
        match (self.reasoning, self.answer) {
            (Some(r), Some(a)) if a > r => a - r,
            (Some(r), None) => r.elapsed(),
            _ => std::time::Duration::ZERO,
        }
    }
}

/// Holds back text that may be the start of a stop string, and reports when one appears.
#[derive(Default)]
struct StopMatcher {
    held: String,
}

impl StopMatcher {
    /// Returns the text safe to emit, and whether a stop string was found (text before it is emitted).
    fn push(&mut self, text: &str, stops: &[&str]) -> (String, bool) {
        if stops.is_empty() {
            return (text.to_string(), false);
        }
        self.held.push_str(text);
        if let Some(pos) = stops.iter().filter_map(|s| self.held.find(s)).min() {
            let out = self.held[..pos].to_string();
            self.held.clear();
            return (out, true);
        }
        // Keep the longest suffix that is a prefix of some stop string.
        let keep = stops
            .iter()
            .flat_map(|s| (1..s.len()).filter(|&n| s.is_char_boundary(n)).map(move |n| &s[..n]))
            .filter(|prefix| self.held.ends_with(prefix))
            .map(str::len)
            .max()
            .unwrap_or(0);
        let emit_to = self.held.len() - keep;
        let out = self.held[..emit_to].to_string();
        self.held.drain(..emit_to);
        (out, false)
    }
    fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::reasoning::ReasoningFormat;
    use crate::engine::template;

    /// Collects what a reply sends.
    #[derive(Default)]
    struct Sent {
        answer: String,
        reasoning: String,
    }

    impl TurnSink for Sent {
        fn text(&mut self, text: &str) -> ControlFlow<()> {
            self.answer.push_str(text);
            ControlFlow::Continue(())
        }
        fn reasoning(&mut self, text: &str) -> ControlFlow<()> {
            self.reasoning.push_str(text);
            ControlFlow::Continue(())
        }
        fn cancelled(&self) -> bool {
            false
        }
    }

    fn think_tags(inside: bool) -> ReasoningParser {
        use crate::engine::reasoning::{TagFormat, ThinkTags};
        ReasoningParser::new(ReasoningFormat::Tags(TagFormat::new(ThinkTags::Think, inside)))
    }

    #[test]
    fn reply_text_splits_reasoning_from_the_answer_across_tokens() {
        let mut reply = ReplyText::new(think_tags(false), &[]);
        let mut sent = Sent::default();
        for piece in [" <th", "ink>", "plan it", "</thi", "nk>\n\nThe answer", "."] {
            assert_eq!(reply.push(-1, piece.as_bytes(), &mut sent), None);
        }
        let (tokens, _) = reply.finish(StopReason::EndOfText, &mut sent);
        assert_eq!((sent.reasoning.as_str(), sent.answer.as_str()), ("plan it", "The answer."));
        assert!(tokens >= 3, "{tokens}");
    }

    #[test]
    fn reply_text_stops_at_a_stop_string_split_across_tokens() {
        let mut reply = ReplyText::new(ReasoningParser::new(ReasoningFormat::None), template::PLAIN_STOPS);
        let mut sent = Sent::default();
        assert_eq!(reply.push(-1, b"Hello", &mut sent), None);
        assert_eq!(reply.push(-1, b"\nUs", &mut sent), None);
        assert_eq!(reply.push(-1, b"er: more", &mut sent), Some(StopReason::StopString));
        reply.finish(StopReason::StopString, &mut sent);
        assert_eq!(sent.answer, "Hello");
    }

    #[test]
    fn reply_text_ends_in_order_when_cut_inside_a_character() {
        // "\n" is held (it may begin "\nUser:"), then the reply is cut after half a character.
        let mut reply = ReplyText::new(ReasoningParser::new(ReasoningFormat::None), template::PLAIN_STOPS);
        let mut sent = Sent::default();
        let pieces: [&[u8]; 3] = [b"Hi", b"\n", &[0xE2, 0x82]];
        for piece in pieces {
            assert_eq!(reply.push(-1, piece, &mut sent), None);
        }
        reply.finish(StopReason::MaxTokens, &mut sent);
        assert_eq!(sent.answer, "Hi\n\u{FFFD}");
        // Cut inside its reasoning: the reasoning stays, nothing becomes answer.
        let mut reply = ReplyText::new(think_tags(true), &[]);
        let mut sent = Sent::default();
        reply.push(-1, b"still thinking <", &mut sent);
        reply.finish(StopReason::MaxTokens, &mut sent);
        assert_eq!((sent.reasoning.as_str(), sent.answer.as_str()), ("still thinking <", ""));
    }

    #[test]
    fn stop_strings_are_held_back_and_cut() {
        let stops = ["\nUser:"];
        let mut m = StopMatcher::default();
        assert_eq!(m.push("Hello", &stops), ("Hello".into(), false));
        assert_eq!(m.push(" there\nUs", &stops), (" there".into(), false));
        assert_eq!(m.push("er: more", &stops), (String::new(), true));
        let mut m = StopMatcher::default();
        assert_eq!(m.push("a\nUs", &stops), ("a".into(), false));
        assert_eq!(m.push("ually", &stops), ("\nUsually".into(), false));
        assert_eq!(m.finish(), "");
    }

    #[test]
    fn no_stops_pass_through() {
        let mut m = StopMatcher::default();
        assert_eq!(m.push("\nUser:", &[]), ("\nUser:".into(), false));
    }
}
