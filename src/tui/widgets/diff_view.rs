//! The diff overlay: a code block applied to a file, as a coloured unified diff with its hunk
//! counts, scrolled, waiting for `y` (write) or `n` (give up).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::edit::PreparedEdit;
use crate::render::sanitize::for_cells;
use crate::render::theme::{self, colored};

/// What the diff overlay shows.
pub struct DiffProps<'a> {
    pub edit: &'a PreparedEdit,
    pub scroll: usize,
    pub color: bool,
}

/// The title: which file, where its name came from, how much changes.
pub fn diff_title(props: &DiffProps<'_>) -> String {
    let edit = props.edit;
    let new = if edit.before.is_none() { "new file " } else { "" };
    format!(" apply to {new}{} ({}) · {} ", for_cells(&edit.shown), edit.source.describe(), edit.stat.describe())
}

/// The diff's lines, coloured by kind; every one made safe for the terminal.
pub fn diff_lines(props: &DiffProps<'_>) -> Vec<Line<'static>> {
    let c = |style| colored(props.color, style);
    let mut in_hunk = false;
    props
        .edit
        .diff
        .lines()
        .map(|line| {
            in_hunk |= line.starts_with("@@");
            let style = match line.chars().next() {
                _ if line.starts_with("@@") => c(theme::DIFF_HUNK),
                Some('+' | '-') if !in_hunk => c(theme::DIFF_FILE),
                Some('+') => c(theme::DIFF_ADDED),
                Some('-') => c(theme::DIFF_REMOVED),
                _ => ratatui::style::Style::default(),
            };
            Line::from(Span::styled(for_cells(line.trim_end_matches('\r')).into_owned(), style))
        })
        .collect()
}

/// The keys, and where a symbolic link takes the file when it leaves the working tree.
pub fn diff_footer(props: &DiffProps<'_>) -> Line<'static> {
    let keys = " y apply · n cancel · ↑↓ PgUp PgDn scroll";
    match &props.edit.outside {
        Some(real) => Line::from(vec![
            Span::styled(
                format!(" a link: writes {} ·", for_cells(&real.to_string_lossy())),
                colored(props.color, theme::STATUS_ERROR),
            ),
            Span::styled(keys.to_string(), colored(props.color, theme::MUTED)),
        ]),
        None => Line::from(Span::styled(keys.to_string(), colored(props.color, theme::MUTED))),
    }
}

/// Draws the overlay over the whole of `area`.
pub fn draw(frame: &mut Frame<'_>, area: Rect, props: &DiffProps<'_>) {
    frame.render_widget(Clear, area);
    let [body, keys] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(diff_title(props))
        .border_style(colored(props.color, theme::OVERLAY_BORDER));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    let visible: Vec<Line<'static>> =
        diff_lines(props).into_iter().skip(props.scroll).take(usize::from(inner.height)).collect();
    frame.render_widget(Paragraph::new(visible), inner);
    frame.render_widget(Paragraph::new(diff_footer(props)), keys);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::{DiffStat, TargetSource};

    fn edit(outside: Option<&str>) -> PreparedEdit {
        let diff = "--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1,2 +1,2 @@\n fn a() {}\n-fn b() {}\n+fn b() { a() }\x1b[2J\n";
        PreparedEdit {
            shown: "src/a.rs".into(),
            source: TargetSource::Fence,
            real: "/work/src/a.rs".into(),
            outside: outside.map(Into::into),
            before: Some("fn a() {}\nfn b() {}\n".into()),
            after: String::new(),
            diff: diff.into(),
            stat: DiffStat::of(diff),
        }
    }

    fn screen(edit: &PreparedEdit, scroll: usize) -> String {
        let backend = ratatui::backend::TestBackend::new(60, 9);
        let mut terminal = ratatui::Terminal::new(backend).unwrap();
        terminal.draw(|f| draw(f, f.area(), &DiffProps { edit, scroll, color: false })).unwrap();
        format!("{}", terminal.backend())
    }

    #[test]
    fn snapshot_diff_overlay() {
        insta::assert_snapshot!(screen(&edit(None), 0));
    }

    #[test]
    fn scrolled_and_through_a_link_out_of_the_tree() {
        insta::assert_snapshot!(screen(&edit(Some("/etc/elsewhere.rs")), 3));
    }

    #[test]
    fn lines_are_coloured_by_kind() {
        let e = edit(None);
        let lines = diff_lines(&DiffProps { edit: &e, scroll: 0, color: true });
        let styles: Vec<_> = lines.iter().map(|l| l.spans[0].style).collect();
        assert_eq!(
            styles,
            [
                theme::DIFF_FILE,
                theme::DIFF_FILE,
                theme::DIFF_HUNK,
                ratatui::style::Style::default(),
                theme::DIFF_REMOVED,
                theme::DIFF_ADDED
            ]
        );
    }
}
