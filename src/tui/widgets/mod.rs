//! Widgets: props in, lines out. Each is tested by snapshot.

pub mod code_pane;
pub mod diff_view;
pub mod finder;
pub mod help;
pub mod status;

/// The text of `lines`, one per row, for tests.
#[cfg(test)]
pub(crate) fn plain_text(lines: &[ratatui::text::Line<'_>]) -> String {
    lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect::<String>()).collect::<Vec<_>>().join("\n")
}
