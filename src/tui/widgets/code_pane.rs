//! The code pane: the conversation's code blocks, numbered, one selected.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::render::theme;
use crate::render::wrap::str_width;
use crate::tui::transcript::CodeBlock;

/// What the code pane shows.
pub struct CodePaneProps<'a> {
    pub blocks: &'a [CodeBlock],
    pub selected: usize,
    pub focused: bool,
    pub width: u16,
    pub height: u16,
    pub color: bool,
}

fn first_line(code: &str) -> &str {
    code.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim()
}

fn truncate(s: &str, width: usize) -> String {
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = crate::render::wrap::char_width(c);
        if w + cw > width.saturating_sub(1) && str_width(s) > width {
            out.push('…');
            return out;
        }
        out.push(c);
        w += cw;
    }
    out
}

/// The pane's rows: two per block (label and first line), the selection kept in view, then the
/// keys when focused.
pub fn code_pane_lines(p: &CodePaneProps<'_>) -> Vec<Line<'static>> {
    let width = usize::from(p.width);
    let c = |st: Style| theme::colored(p.color, st);
    if p.blocks.is_empty() {
        return vec![
            Line::from(Span::styled("No code yet.", c(theme::MUTED))),
            Line::from(Span::styled("Code blocks in answers are listed here.", c(theme::MUTED))),
        ];
    }
    let keys_rows = if p.focused { 2 } else { 0 };
    let per_block = 2;
    let room = (usize::from(p.height).saturating_sub(keys_rows) / per_block).max(1);
    let selected = p.selected.min(p.blocks.len() - 1);
    let first = selected.saturating_sub(room - 1);
    let mut lines = Vec::new();
    for (i, block) in p.blocks.iter().enumerate().skip(first).take(room) {
        let is_sel = i == selected;
        let marker = if is_sel && p.focused { "▶ " } else { "  " };
        let lang = if block.lang.is_empty() { "text" } else { block.lang.as_str() };
        let label = format!(
            "{marker}[{}] {} · {}",
            block.number,
            crate::render::sanitize(lang),
            crate::render::count(block.code.lines().count(), "line")
        );
        let st = match (is_sel, p.focused) {
            (true, true) => theme::CODE_PANE_ITEM_SELECTED.add_modifier(Modifier::REVERSED),
            (true, false) => theme::CODE_PANE_ITEM_SELECTED,
            (false, _) => theme::CODE_PANE_ITEM,
        };
        lines.push(Line::from(Span::styled(truncate(&label, width), c(st))));
        let preview = crate::render::sanitize::for_cells(first_line(&block.code)).into_owned();
        lines.push(Line::from(Span::styled(truncate(&format!("    {preview}"), width), c(theme::MUTED))));
    }
    if p.focused {
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(
            truncate("c copy · s save · a apply · e $EDITOR · z fold · ⏎ view", width),
            c(theme::MUTED),
        )));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[Line<'_>]) -> String {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn blocks() -> Vec<CodeBlock> {
        vec![
            CodeBlock {
                number: 1,
                lang: "python".into(),
                code: "def is_prime(n):\n    return n > 1\n".into(),
                info: "python".into(),
                attached: Vec::new(),
            },
            CodeBlock {
                number: 2,
                lang: String::new(),
                code: "\n  echo hi\x1b[2J\n".into(),
                info: String::new(),
                attached: Vec::new(),
            },
        ]
    }

    #[test]
    fn lists_blocks_with_the_selection() {
        let b = blocks();
        let p = CodePaneProps { blocks: &b, selected: 1, focused: true, width: 36, height: 10, color: false };
        insta::assert_snapshot!(text(&code_pane_lines(&p)), @r"
          [1] python · 2 lines
            def is_prime(n):
        ▶ [2] text · 2 lines
            echo hi␛[2J

        c copy · s save · a apply · e $EDIT…
        ");
    }

    #[test]
    fn empty_pane_explains_itself() {
        let p = CodePaneProps { blocks: &[], selected: 0, focused: false, width: 40, height: 5, color: false };
        assert!(text(&code_pane_lines(&p)).starts_with("No code yet."));
    }

    #[test]
    fn narrow_pane_truncates() {
        let b = blocks();
        let p = CodePaneProps { blocks: &b, selected: 0, focused: false, width: 10, height: 2, color: false };
        let lines = code_pane_lines(&p);
        assert_eq!(lines.len(), 2, "only what fits");
        for l in &lines {
            assert!(l.width() <= 10, "{l:?}");
        }
    }
}
