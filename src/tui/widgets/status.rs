//! The status line: model, context budget, speed, busy/idle. Renders from props only.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::render::theme;
use crate::render::wrap::str_width;

/// What the status line shows.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusProps<'a> {
    /// Model name, or what is happening to it ("loading 40%").
    pub model: &'a str,
    pub model_failed: bool,
    /// Tokens in context / context size (0 while unknown).
    pub used: usize,
    pub window: usize,
    /// The reply's generation speed and time to first token (the current one's while answering).
    pub tps: Option<f64>,
    pub ttft: Option<f64>,
    /// Prompt tokens reused from the cache in the last turn (none while answering).
    pub reused: Option<usize>,
    /// The last turn's speculative decoding: tokens per decode, and the share of drafted tokens
    /// accepted (none while answering, or when it drafted nothing).
    pub speculation: Option<(f64, f64)>,
    pub busy: bool,
    /// A message that replaces the figures for a while.
    pub message: Option<(&'a str, bool)>,
    pub color: bool,
    /// Columns the line may take.
    pub width: u16,
}

fn meter(used: usize, window: usize, cells: usize) -> String {
    // To the nearest cell: a few tokens in a large window fill none, not a whole one.
    let filled = (used.min(window) * cells + window / 2).checked_div(window).unwrap_or(0);
    format!("{}{}", "█".repeat(filled), "░".repeat(cells - filled))
}

/// `text` cut to at most `width` columns, ending with "…" at a word's end when it is cut.
fn ellipsis(text: &str, width: usize) -> String {
    if str_width(text) <= width {
        return text.to_string();
    }
    let mut cut = String::new();
    let mut at_word_end = false;
    for c in text.chars() {
        if str_width(&cut) + str_width(c.encode_utf8(&mut [0; 4])) + 1 > width {
            at_word_end = c == ' ';
            break;
        }
        cut.push(c);
    }
    // Never end mid-word: back to the last space, when there is one.
    if let Some(space) = cut.trim_end().rfind(' ').filter(|_| !at_word_end) {
        cut.truncate(space);
    }
    format!("{}…", cut.trim_end())
}

/// The parts of the status line, in the order they are shown.
struct Parts {
    model: String,
    ctx: Option<String>,
    meter: Option<(String, Style)>,
    message: Option<(String, bool)>,
    figures: Vec<String>,
}

impl Parts {
    fn width(&self) -> usize {
        let mut w = str_width(&self.model) + 2;
        w += self.ctx.as_ref().map_or(0, |c| str_width(c) + 5);
        w += self.meter.as_ref().map_or(0, |(m, _)| str_width(m) + 1);
        w += self.message.as_ref().map_or(0, |(m, _)| str_width(m) + 2);
        let figures: usize = self.figures.iter().map(|f| str_width(f) + 3).sum();
        w + figures.saturating_sub(2)
    }

    /// Drops or shortens the least important parts until the line fits in `room` columns:
    /// the figures from the last, the meter, the context numbers, then the message and the
    /// model's name are cut with an ellipsis.
    fn fit(&mut self, room: usize) {
        while self.width() > room && self.figures.pop().is_some() {}
        if self.width() > room {
            self.meter = None;
        }
        if self.width() > room {
            self.ctx = None;
        }
        let over = self.width().saturating_sub(room);
        if let Some((text, _)) = self.message.as_mut().filter(|_| over > 0) {
            *text = ellipsis(text, str_width(text).saturating_sub(over).max(1));
        }
        let over = self.width().saturating_sub(room);
        if over > 0 {
            self.model = ellipsis(&self.model, str_width(&self.model).saturating_sub(over).max(1));
        }
    }
}

/// The status line, fitted to `p.width` columns: the busy/idle state is always shown.
pub fn status_line(p: &StatusProps<'_>) -> Line<'static> {
    let c = |style: Style| theme::colored(p.color, style);
    let mut parts = Parts {
        model: crate::render::sanitize(p.model).into_owned(),
        ctx: (p.window > 0).then(|| format!("{}/{}", p.used, p.window)),
        meter: (p.window > 0).then(|| {
            let style = match p.used * 100 / p.window.max(1) {
                0..=69 => theme::METER_LOW,
                70..=89 => theme::METER_HIGH,
                _ => theme::METER_FULL,
            };
            (meter(p.used, p.window, 8), style)
        }),
        message: p.message.map(|(text, error)| (crate::render::sanitize(text).into_owned(), error)),
        figures: Vec::new(),
    };
    if parts.message.is_none() {
        parts.figures.extend(p.tps.map(|tps| format!("{tps:.1} tok/s")));
        parts.figures.extend(p.ttft.map(|ttft| format!("first {ttft:.2}s")));
        parts.figures.extend(p.reused.map(|reused| format!("{reused} cached")));
        parts.figures.extend(
            p.speculation.map(|(per, accepted)| format!("{per:.1} tok/decode, {:.0}% drafts ok", accepted * 100.0)),
        );
    }
    let (label, st) = if p.busy { ("● answering ", theme::STATUS_BUSY) } else { ("○ idle ", theme::STATUS_IDLE) };
    parts.fit(usize::from(p.width).saturating_sub(str_width(label) + 1));

    let model_style = if p.model_failed { theme::STATUS_MODEL_FAILED } else { theme::STATUS_MODEL };
    let mut spans = vec![Span::styled(format!(" {} ", parts.model), c(model_style))];
    if let Some(ctx) = parts.ctx {
        spans.push(Span::raw(format!("ctx {ctx} ")));
    }
    if let Some((meter, style)) = parts.meter {
        spans.push(Span::styled(meter, c(style)));
        spans.push(Span::raw(" "));
    }
    if let Some((text, error)) = parts.message {
        let st = if error { theme::STATUS_ERROR } else { theme::STATUS_INFO };
        spans.push(Span::styled(format!(" {text} "), c(st)));
    }
    if !parts.figures.is_empty() {
        spans.push(Span::raw(format!(" {}", parts.figures.join(" · "))));
    }
    spans.push(Span::raw(" "));
    spans.push(Span::styled(label, c(st)));
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &Line<'_>) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn shows_model_budget_speed_and_state() {
        let p = StatusProps {
            model: "SmolLM2",
            model_failed: false,
            used: 2048,
            window: 8192,
            tps: Some(98.44),
            ttft: Some(0.171),
            reused: Some(40),
            speculation: None,
            busy: false,
            message: None,
            color: false,
            width: 200,
        };
        insta::assert_snapshot!(text(&status_line(&p)), @" SmolLM2 ctx 2048/8192 ██░░░░░░  98.4 tok/s · first 0.17s · 40 cached ○ idle ");
    }

    #[test]
    fn shows_the_last_turns_speculation_and_drops_it_first_when_narrow() {
        let p = StatusProps {
            model: "SmolLM2",
            model_failed: false,
            used: 2048,
            window: 8192,
            tps: Some(151.2),
            ttft: Some(0.171),
            reused: Some(40),
            speculation: Some((2.43, 0.614)),
            busy: false,
            message: None,
            color: false,
            width: 200,
        };
        insta::assert_snapshot!(text(&status_line(&p)), @" SmolLM2 ctx 2048/8192 ██░░░░░░  151.2 tok/s · first 0.17s · 40 cached · 2.4 tok/decode, 61% drafts ok ○ idle ");
        let narrow = text(&status_line(&StatusProps { width: 100, ..p }));
        assert!(!narrow.contains("tok/decode") && narrow.contains("151.2 tok/s"), "{narrow:?}");
    }

    #[test]
    fn a_message_replaces_the_figures() {
        let p = StatusProps {
            model: "loading 40%",
            model_failed: false,
            used: 0,
            window: 0,
            tps: Some(1.0),
            ttft: None,
            reused: None,
            speculation: None,
            busy: true,
            message: Some(("copied code block 2", false)),
            color: false,
            width: 200,
        };
        insta::assert_snapshot!(text(&status_line(&p)), @" loading 40%  copied code block 2  ● answering ");
    }

    #[test]
    fn meter_fills_with_use() {
        assert_eq!(meter(0, 100, 4), "░░░░");
        assert_eq!(meter(1, 100, 4), "░░░░", "a sliver is not a cell");
        assert_eq!(meter(105, 8192, 8), "░░░░░░░░");
        assert_eq!(meter(600, 8192, 8), "█░░░░░░░");
        assert_eq!(meter(30, 100, 4), "█░░░");
        assert_eq!(meter(100, 100, 4), "████");
        assert_eq!(meter(500, 100, 4), "████");
    }

    fn busy(width: u16, message: Option<(&'static str, bool)>) -> String {
        let p = StatusProps {
            model: "SmolLM2-135M-Instruct.Q4_1",
            model_failed: false,
            used: 1300,
            window: 8192,
            tps: Some(41.25),
            ttft: Some(2.5),
            reused: None,
            speculation: None,
            busy: true,
            message,
            color: false,
            width,
        };
        let line = text(&status_line(&p));
        assert!(str_width(&line) <= usize::from(width), "{line:?} is wider than {width}");
        assert!(line.trim_end().ends_with("● answering"), "the state is always shown: {line:?}");
        line
    }

    const LONG: &str = "block1.py exists: Enter again to overwrite, or change the name of the file";

    #[test]
    fn snapshot_status_at_80_120_200_columns() {
        let lines: Vec<String> = [80, 120, 200]
            .into_iter()
            .flat_map(|w| [busy(w, None), busy(w, Some((LONG, true)))])
            .map(|l| format!("|{l}|"))
            .collect();
        insta::assert_snapshot!(lines.join("\n"));
    }

    #[test]
    fn narrow_lines_drop_figures_first_and_cut_at_a_word() {
        let line = busy(60, Some((LONG, true)));
        assert!(line.contains("…"), "{line:?}");
        assert!(line.contains(" block1.py… "), "{line:?}");
        assert!(!line.contains("tok/s"));
        // Even with no room for the model's whole name, the state stays.
        let tiny = busy(30, Some((LONG, false)));
        assert!(tiny.contains("…"), "{tiny:?}");
    }

    #[test]
    fn ellipsis_never_cuts_mid_word() {
        assert_eq!(ellipsis("idle and well", 20), "idle and well");
        assert_eq!(ellipsis("saved 120 bytes to block1.py", 16), "saved 120 bytes…");
        assert_eq!(ellipsis("saved 120 bytes to block1.py", 15), "saved 120…");
        assert_eq!(ellipsis("SmolLM2-135M-Instruct", 8), "SmolLM2…");
    }
}
