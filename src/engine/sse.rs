//! A server-sent events (SSE) parser for streamed chat completions: bytes in, events out.
//!
//! It follows the WHATWG event-stream rules that matter here: lines end in `\n`, `\r\n` or a
//! lone `\r` (also when split across network chunks), `data:` lines accumulate until a blank
//! line dispatches them, comment lines (`:` keep-alives) and other fields are ignored.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseEvent {
    /// The data of an event (several `data:` lines joined with `\n`).
    Data(String),
    /// The OpenAI end marker `data: [DONE]`.
    Done,
}

/// Incremental parser; feed it bytes as they arrive.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    data: Vec<String>,
    /// The last byte seen was a `\r`: a `\n` right after it ends no second line.
    after_cr: bool,
}

impl SseParser {
    /// Parses `bytes`, appending every event they complete to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) {
        for &b in bytes {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    self.end_line(out);
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(b);
                }
            }
        }
    }

    /// The stream ended: an event whose data lines were complete but not yet dispatched by a
    /// blank line is dispatched (some servers close right after the last `data:` line).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.line.is_empty() {
            self.end_line(out);
        }
        self.dispatch(out);
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        let line = String::from_utf8_lossy(&line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        // An empty field name is a comment (": ping"); event, id and retry carry nothing we use.
        if field == "data" {
            self.data.push(value.to_string());
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.data.is_empty() {
            return;
        }
        let data = std::mem::take(&mut self.data).join("\n");
        out.push(if data.trim() == "[DONE]" { SseEvent::Done } else { SseEvent::Data(data) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(pieces: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        for piece in pieces {
            parser.push(piece, &mut out);
        }
        parser.finish(&mut out);
        out
    }

    fn data(s: &str) -> SseEvent {
        SseEvent::Data(s.into())
    }

    #[test]
    fn events_and_done() {
        let out = parse_in_pieces(&[b"data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n"]);
        assert_eq!(out, vec![data("{\"a\":1}"), data("{\"b\":2}"), SseEvent::Done]);
    }

    #[test]
    fn every_chunk_boundary_gives_the_same_events() {
        let stream: &[u8] =
            b"data: {\"x\":\"h\xc3\xa9\"}\r\n\r\n: ping\n\nevent: delta\ndata: one\ndata: two\n\ndata:[DONE]\n\n";
        let whole = parse_in_pieces(&[stream]);
        assert_eq!(whole, vec![data("{\"x\":\"hé\"}"), data("one\ntwo"), SseEvent::Done]);
        for cut in 0..stream.len() {
            assert_eq!(parse_in_pieces(&[&stream[..cut], &stream[cut..]]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(parse_in_pieces(&bytes), whole, "one byte at a time");
    }

    #[test]
    fn crlf_split_between_chunks_is_one_line_end() {
        assert_eq!(parse_in_pieces(&[b"data: a\r", b"\n\r", b"\ndata: b\r\r"]), vec![data("a"), data("b")]);
    }

    #[test]
    fn comments_unknown_fields_and_lines_without_colon_are_ignored() {
        let out = parse_in_pieces(&[b": keep-alive\n\nid: 7\nretry: 100\nnonsense\n\ndata: x\n\n"]);
        assert_eq!(out, vec![data("x")]);
    }

    #[test]
    fn malformed_data_is_passed_on_for_the_caller_to_judge() {
        assert_eq!(parse_in_pieces(&[b"data: {not json\n\n"]), vec![data("{not json")]);
    }

    #[test]
    fn a_last_event_without_its_blank_line_is_dispatched_at_the_end() {
        assert_eq!(parse_in_pieces(&[b"data: last"]), vec![data("last")]);
        assert_eq!(parse_in_pieces(&[b""]), vec![]);
    }
}
