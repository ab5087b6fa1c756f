//! Where things go on the screen: the main split, the code pane's width, the composer's height,
//! popups. The view draws with these, and `update` scrolls with the same figures.

use ratatui::layout::{Constraint, Layout, Rect};

use super::state::AppState;

/// At this width and above the code pane sits beside the transcript; below, it is an overlay.
pub const WIDE: u16 = 100;
const MAX_COMPOSER_ROWS: usize = 8;

/// Whether a screen this wide shows the code pane beside the transcript.
pub fn is_wide(width: u16) -> bool {
    width >= WIDE
}

/// The code pane's width beside the transcript: about a third of the screen.
pub fn code_pane_width(width: u16) -> u16 {
    (u32::from(width) * 35 / 100).clamp(30, 56) as u16
}

/// Rows the composer takes, borders and the attachment line included.
pub fn composer_height(state: &AppState, width: u16) -> u16 {
    let inner = usize::from(width.saturating_sub(2)).max(1);
    let rows = state.composer.visible_layout(inner, MAX_COMPOSER_ROWS).0.len().clamp(1, MAX_COMPOSER_ROWS);
    let attachments = u16::from(!state.attachment_summary().is_empty());
    rows as u16 + 2 + attachments
}

/// The transcript's width and height in cells, for scrolling (the same as [`screen`] gives).
pub fn transcript_area(state: &AppState) -> (u16, usize) {
    let (w, h) = state.ui.size;
    let width = if is_wide(w) { w.saturating_sub(code_pane_width(w)) } else { w };
    let reserved = composer_height(state, w) + 1;
    (width.max(1), usize::from(h.saturating_sub(reserved)).max(1))
}

/// The main screen's areas.
pub struct Screen {
    /// Transcript and code pane together.
    pub main: Rect,
    pub transcript: Rect,
    /// The code pane beside the transcript; `None` on a narrow screen (it is an overlay there).
    pub pane: Option<Rect>,
    pub composer: Rect,
    pub status: Rect,
}

/// Splits `area`: transcript (and code pane when wide), then the composer, then the status line.
pub fn screen(state: &AppState, area: Rect) -> Screen {
    let composer_h = composer_height(state, area.width).min(area.height.saturating_sub(2));
    let [main, composer, status] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(composer_h), Constraint::Length(1)]).areas(area);
    let (transcript, pane) = if is_wide(area.width) {
        let [t, p] =
            Layout::horizontal([Constraint::Min(1), Constraint::Length(code_pane_width(area.width))]).areas(main);
        (t, Some(p))
    } else {
        (main, None)
    };
    Screen { main, transcript, pane, composer, status }
}

/// A popup of `width` by `height` at most, centred in `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

/// A popup of `height` rows and at most `max_width` columns just above `anchor`, left-aligned
/// with it (cut to the rows above it).
pub fn above(anchor: Rect, height: u16, max_width: u16) -> Rect {
    let height = height.min(anchor.y);
    let width = anchor.width.min(max_width);
    Rect { x: anchor.x, y: anchor.y - height, width, height }
}
