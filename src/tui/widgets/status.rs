//! The status line: model, context budget, speed, busy/idle. Renders from props only.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::render::theme;

/// What the status line shows.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusProps<'a> {
    /// Model name, or what is happening to it ("loading 40%").
    pub model: &'a str,
    pub model_failed: bool,
    /// Tokens in context / context size (0 while unknown).
    pub used: usize,
    pub window: usize,
    /// The last reply's generation speed and time to first token.
    pub tps: Option<f64>,
    pub ttft: Option<f64>,
    /// Prompt tokens reused from the cache in the last turn.
    pub reused: Option<usize>,
    pub busy: bool,
    /// A message that replaces the figures for a while.
    pub message: Option<(&'a str, bool)>,
    pub color: bool,
}

fn meter(used: usize, window: usize, cells: usize) -> String {
    let filled = if window == 0 { 0 } else { (used.min(window) * cells).div_ceil(window) };
    format!("{}{}", "█".repeat(filled), "░".repeat(cells - filled))
}

/// The status line.
pub fn status_line(p: &StatusProps<'_>) -> Line<'static> {
    let c = |style: Style| theme::colored(p.color, style);
    let mut spans = Vec::new();
    let model_style = if p.model_failed { theme::STATUS_MODEL_FAILED } else { theme::STATUS_MODEL };
    spans.push(Span::styled(format!(" {} ", crate::render::sanitize(p.model)), c(model_style)));
    if p.window > 0 {
        let pct = p.used * 100 / p.window.max(1);
        let meter_style = match pct {
            0..=69 => theme::METER_LOW,
            70..=89 => theme::METER_HIGH,
            _ => theme::METER_FULL,
        };
        spans.push(Span::raw(format!("ctx {}/{} ", p.used, p.window)));
        spans.push(Span::styled(meter(p.used, p.window, 8), c(meter_style)));
        spans.push(Span::raw(" "));
    }
    match p.message {
        Some((text, error)) => {
            let st = if error { theme::STATUS_ERROR } else { theme::STATUS_INFO };
            spans.push(Span::styled(format!(" {} ", crate::render::sanitize(text)), c(st)));
        }
        None => {
            if let Some(tps) = p.tps {
                spans.push(Span::raw(format!(" {tps:.1} tok/s")));
            }
            if let Some(ttft) = p.ttft {
                spans.push(Span::raw(format!(" · first {ttft:.2}s")));
            }
            if let Some(reused) = p.reused {
                spans.push(Span::raw(format!(" · {reused} cached")));
            }
        }
    }
    let (label, st) = if p.busy { ("● answering ", theme::STATUS_BUSY) } else { ("○ idle ", theme::STATUS_IDLE) };
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
            busy: false,
            message: None,
            color: false,
        };
        insta::assert_snapshot!(text(&status_line(&p)), @" SmolLM2 ctx 2048/8192 ██░░░░░░  98.4 tok/s · first 0.17s · 40 cached ○ idle ");
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
            busy: true,
            message: Some(("copied code block 2", false)),
            color: false,
        };
        insta::assert_snapshot!(text(&status_line(&p)), @" loading 40%  copied code block 2  ● answering ");
    }

    #[test]
    fn meter_fills_with_use() {
        assert_eq!(meter(0, 100, 4), "░░░░");
        assert_eq!(meter(1, 100, 4), "█░░░");
        assert_eq!(meter(100, 100, 4), "████");
        assert_eq!(meter(500, 100, 4), "████");
    }
}
