//! The `@` file finder popup: the best matches for the mention being typed, the chosen one
//! highlighted, each with about how many tokens it would take.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::render::theme;

/// What the finder shows.
pub struct FinderProps<'a> {
    /// What follows the `@`.
    pub query: &'a str,
    /// The matches, best first: path and size in bytes.
    pub items: Vec<(&'a str, u64)>,
    pub selected: usize,
    /// The files are being listed.
    pub listing: bool,
    /// The listing was cut at its cap.
    pub capped: bool,
    pub width: u16,
    pub color: bool,
}

/// The popup's title.
pub fn finder_title(p: &FinderProps<'_>) -> String {
    let capped = if p.capped { " · first files only" } else { "" };
    format!(" @ file · ↑↓ choose · Tab/⏎ pick · Esc closes{capped} ")
}

/// The popup's rows: one per match (names sanitized), or why there are none.
pub fn finder_lines(p: &FinderProps<'_>) -> Vec<Line<'static>> {
    let st = |s: Style| theme::colored(p.color, s);
    if p.items.is_empty() {
        let text = match (p.listing, p.query.is_empty()) {
            (true, _) => "listing files…".to_string(),
            (false, true) => "no files here".to_string(),
            (false, false) => format!("no file matches @{}", crate::render::sanitize(p.query)),
        };
        return vec![Line::from(Span::styled(text, st(theme::MUTED)))];
    }
    let width = usize::from(p.width);
    p.items
        .iter()
        .enumerate()
        .map(|(i, (path, size))| {
            let tokens = format!(" ~{} tok", crate::tui::state::tokens_in_bytes(*size));
            let room = width.saturating_sub(tokens.chars().count() + 1);
            let name = crate::render::sanitize(path);
            let count = name.chars().count();
            // A long path keeps its end: the file name matters most.
            let shown: String =
                if count > room { name.chars().skip(count - room).collect() } else { name.into_owned() };
            let pad = width.saturating_sub(shown.chars().count() + tokens.chars().count());
            let style = if i == p.selected { theme::SELECTED } else { Style::default() };
            Line::from(vec![
                Span::styled(format!("{shown}{}", " ".repeat(pad)), st(style)),
                Span::styled(tokens, st(theme::MUTED)),
            ])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::widgets::plain_text as text;

    fn props<'a>(items: Vec<(&'a str, u64)>) -> FinderProps<'a> {
        FinderProps { query: "ma", items, selected: 1, listing: false, capped: false, width: 30, color: false }
    }

    #[test]
    fn snapshot_finder_matches_and_empty_states() {
        let p =
            props(vec![("src/main.rs", 3000), ("src/tui/a/very/long/path/to/main.rs", 10), ("\x1b]0;evil\x07.rs", 1)]);
        insta::assert_snapshot!("finder_matches", text(&finder_lines(&p)));
        assert_eq!(finder_title(&p), " @ file · ↑↓ choose · Tab/⏎ pick · Esc closes ");
        let none = FinderProps { query: "zz\x1b[2J", ..props(Vec::new()) };
        insta::assert_snapshot!("finder_no_match", text(&finder_lines(&none)));
        let listing = FinderProps { listing: true, capped: true, ..props(Vec::new()) };
        assert_eq!(text(&finder_lines(&listing)), "listing files…");
        assert!(finder_title(&listing).contains("first files only"));
    }
}
