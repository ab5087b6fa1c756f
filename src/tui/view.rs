//! Drawing: a pure function of the state. No I/O, no channels.

use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::layout::{self, Screen};
use super::slash_table;
use super::state::{AppState, Focus, ModelStatus, Overlay};
use super::widgets::code_pane::{code_pane_lines, CodePaneProps};
use super::widgets::diff_view::{self, DiffProps};
use super::widgets::finder::{finder_lines, finder_title, FinderProps};
use super::widgets::help::help_lines;
use super::widgets::status::{status_line, StatusProps};
use crate::render::markdown::{render_code, RenderOptions};
use crate::render::theme;

fn styled(state: &AppState, st: Style) -> Style {
    theme::colored(state.ui.color, st)
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, state: &AppState) {
    let area = frame.area();
    if area.width < 4 || area.height < 3 {
        // Too small for anything useful; draw nothing rather than something broken.
        return;
    }
    let Screen { main, transcript: transcript_area, pane: pane_area, composer: composer_area, status: status_area } =
        layout::screen(state, area);

    draw_transcript(frame, state, transcript_area);
    match pane_area {
        Some(p) => draw_code_pane(frame, state, p),
        None if state.ui.focus == Focus::CodePane => {
            frame.render_widget(Clear, main);
            draw_code_pane(frame, state, main);
        }
        None => {}
    }
    draw_composer(frame, state, composer_area);
    frame.render_widget(Paragraph::new(status(state, status_area.width)), status_area);
    draw_completions(frame, state, composer_area);

    match &state.ui.overlay {
        Some(Overlay::Help) => draw_help(frame, state, area),
        Some(Overlay::CodeView { index, scroll }) => draw_code_view(frame, state, area, *index, *scroll),
        Some(Overlay::SavePrompt { path, confirm_overwrite, .. }) => {
            let title = if *confirm_overwrite {
                " file exists: Enter overwrites "
            } else {
                " save code to (Enter saves, Esc cancels) "
            };
            draw_save_prompt(frame, state, area, path, title)
        }
        Some(Overlay::ApplyPrompt { path, .. }) => {
            draw_save_prompt(frame, state, area, path, " apply code to (Enter shows the diff, Esc cancels) ")
        }
        Some(Overlay::Sessions(picker)) => draw_sessions(frame, state, area, picker),
        Some(Overlay::Diff(view)) => {
            let props = DiffProps { edit: &view.edit, scroll: view.scroll, color: state.ui.color };
            // Above the status line, which says what `y` did or why not.
            diff_view::draw(frame, Rect { height: area.height.saturating_sub(1), ..area }, &props);
        }
        None => {}
    }
}

fn draw_transcript(frame: &mut Frame<'_>, state: &AppState, area: Rect) {
    if state.transcript.is_empty() {
        let hint = match &state.session.model {
            ModelStatus::Loading(_) => "Loading the model… you can start typing.",
            ModelStatus::Ready(_) => "Ask anything. Enter sends; ? shows the keys.",
            ModelStatus::Failed(_) => "The model could not be loaded.",
        };
        let lines = vec![
            Line::default(),
            Line::from(Span::styled("  ember", styled(state, theme::TITLE))),
            Line::from(Span::styled(format!("  {hint}"), styled(state, theme::MUTED))),
        ];
        frame.render_widget(Paragraph::new(lines), area);
        return;
    }
    let reading = state.reading_line().filter(|_| area.height > 1);
    // Under the pending reply, a row for how far the prompt has been read.
    let rows = area.height - u16::from(reading.is_some());
    let mut lines = state.transcript.visible(area.width, usize::from(rows), state.ui.scroll);
    if let Some(reading) = reading {
        lines.push(Line::from(Span::styled(format!("  {reading}"), styled(state, theme::MUTED))));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn draw_code_pane(frame: &mut Frame<'_>, state: &AppState, area: Rect) {
    let focused = state.ui.focus == Focus::CodePane;
    let border = if focused { theme::CODE_PANE_BORDER_FOCUSED } else { theme::BORDER };
    let block =
        Block::default().borders(Borders::LEFT | Borders::TOP).title(" code ").border_style(styled(state, border));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let props = CodePaneProps {
        blocks: state.transcript.code_blocks(),
        selected: state.ui.code_selected,
        focused,
        width: inner.width,
        height: inner.height,
        color: state.ui.color,
    };
    frame.render_widget(Paragraph::new(code_pane_lines(&props)), inner);
}

fn draw_composer(frame: &mut Frame<'_>, state: &AppState, area: Rect) {
    let focused = state.ui.focus == Focus::Composer && state.ui.overlay.is_none();
    let border = if focused { theme::COMPOSER_BORDER_FOCUSED } else { theme::BORDER };
    let title = match (&state.turns.generating, &state.commands.running) {
        (Some(_), _) => " answering… Esc stops ".to_string(),
        (None, Some((_, command))) => format!(" running !{}… Esc stops it ", crate::render::sanitize(command)),
        (None, None) => " message ".to_string(),
    };
    let block = Block::default().borders(Borders::ALL).title(title).border_style(styled(state, border));
    let mut inner = block.inner(area);
    frame.render_widget(block, area);
    let attached = state.attachment_summary();
    if !attached.is_empty() && inner.height > 1 {
        let names: Vec<String> = attached.iter().map(|a| crate::render::sanitize(a).into_owned()).collect();
        let line =
            Line::from(Span::styled(format!("attached: {}", names.join(", ")), styled(state, theme::ATTACHMENTS)));
        frame.render_widget(Paragraph::new(line), Rect { height: 1, ..inner });
        inner.y += 1;
        inner.height -= 1;
    }
    let visible = usize::from(inner.height).max(1);
    let (rows, (crow, ccol)) = state.composer.visible_layout(usize::from(inner.width).max(1), visible);
    let lines: Vec<Line<'static>> = rows.into_iter().map(Line::from).collect();
    frame.render_widget(Paragraph::new(lines), inner);
    if focused && inner.width > 0 && inner.height > 0 {
        let x = inner.x + (ccol as u16).min(inner.width.saturating_sub(1));
        let y = inner.y + (crow as u16).min(inner.height - 1);
        frame.set_cursor_position(Position { x, y });
    }
}

fn status(state: &AppState, width: u16) -> Line<'static> {
    let (model, failed, window) = match &state.session.model {
        ModelStatus::Loading(p) => (format!("loading {:.0}%", p * 100.0), false, 0),
        ModelStatus::Ready(info) => (info.name.clone(), false, info.n_ctx),
        ModelStatus::Failed(_) => ("no model".to_string(), true, 0),
    };
    let stats = state.turns.last_stats.as_ref();
    // While answering, the figures are this turn's: none until it has them.
    let live = state.turns.live.as_ref().filter(|_| state.turns.generating.is_some());
    let (used, tps, ttft, reused, speculation) = match live {
        Some(live) => (live.context_used().unwrap_or(state.turns.context_used), live.tps(), live.ttft(), None, None),
        None => (
            state.turns.context_used,
            stats.and_then(|s| s.generation_tps()),
            stats.map(|s| s.time_to_first_token.as_secs_f64()),
            stats.map(|s| s.reused_tokens),
            stats.and_then(|s| s.tokens_per_decode().zip(s.acceptance())),
        ),
    };
    let props = StatusProps {
        model: &model,
        model_failed: failed,
        used,
        window,
        tps,
        ttft,
        reused,
        speculation,
        busy: state.turns.generating.is_some(),
        message: state.ui.status.as_ref().map(|m| (m.text.as_str(), m.error)),
        color: state.ui.color,
        width,
    };
    status_line(&props)
}

/// The `@` file finder above the composer while a mention is typed.
fn draw_finder(frame: &mut Frame<'_>, state: &AppState, composer: Rect, query: &str) {
    let f = &state.finder;
    let items: Vec<(&str, u64)> =
        f.matches.iter().filter_map(|&i| f.list.files.get(i)).map(|(p, s)| (p.as_str(), *s)).collect();
    let rows = items.len().max(1) as u16;
    let area = layout::above(composer, rows + 2, 72);
    let props = FinderProps {
        query,
        items,
        selected: f.selected,
        listing: f.listing,
        capped: f.list.capped,
        width: area.width.saturating_sub(2),
        color: state.ui.color,
    };
    clear_under(frame, composer, area);
    let block = Block::default().borders(Borders::ALL).title(finder_title(&props));
    frame.render_widget(Paragraph::new(finder_lines(&props)).block(block), area);
}

fn draw_completions(frame: &mut Frame<'_>, state: &AppState, composer: Rect) {
    if state.ui.focus != Focus::Composer || state.ui.overlay.is_some() {
        return;
    }
    if let Some((_, query)) = state.finder_query() {
        if composer.y > 0 {
            draw_finder(frame, state, composer, query);
        }
        return;
    }
    let matches = slash_table::completions(state.composer.text());
    if matches.is_empty() || composer.y == 0 {
        return;
    }
    let area = layout::above(composer, matches.len() as u16 + 2, 60);
    let lines: Vec<Line<'static>> = matches
        .iter()
        .map(|c| {
            let usage = if c.args.is_empty() { c.name.to_string() } else { format!("{} {}", c.name, c.args) };
            Line::from(vec![
                Span::styled(format!("{usage:<16}"), styled(state, theme::COMPLETION_NAME)),
                Span::raw(c.help),
            ])
        })
        .collect();
    clear_under(frame, composer, area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" Tab completes ")),
        area,
    );
}

/// Clears what a popup covers, and the rest of its rows across the screen: no piece of a border
/// (the message box's, the code pane's) is left beside it.
fn clear_under(frame: &mut Frame<'_>, area: Rect, popup: Rect) {
    frame.render_widget(Clear, Rect { x: area.x, width: area.width, ..popup });
}

fn draw_help(frame: &mut Frame<'_>, state: &AppState, area: Rect) {
    let lines = help_lines();
    let wanted = lines.len() as u16 + 2;
    // Above the status line, which stays in view.
    let above_status = Rect { height: area.height.saturating_sub(1), ..area };
    let rect = layout::centered(above_status, 76, wanted);
    let hidden = wanted.saturating_sub(rect.height);
    let scroll = state.ui.help_scroll.min(hidden);
    clear_under(frame, area, rect);
    let title = if hidden > 0 { " help · ↑↓ scroll · any other key closes " } else { " help · any key closes " };
    let block = Block::default().borders(Borders::ALL).title(title).border_style(styled(state, theme::OVERLAY_BORDER));
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), rect);
}

fn draw_code_view(frame: &mut Frame<'_>, state: &AppState, area: Rect, index: usize, scroll: usize) {
    let Some(code) = state.transcript.code_blocks().get(index) else { return };
    frame.render_widget(Clear, area);
    let [body, keys] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let lines = render_code(
        Some(code.number),
        &code.lang,
        &code.code,
        RenderOptions { width: body.width, color: state.ui.color },
    );
    let visible: Vec<Line<'static>> = lines.into_iter().skip(scroll).take(usize::from(body.height)).collect();
    frame.render_widget(Paragraph::new(visible), body);
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(
            " c copy · s save · a apply · e $EDITOR · ↑↓ PgUp PgDn scroll · Esc close",
            styled(state, theme::MUTED),
        ))),
        keys,
    );
}

fn draw_save_prompt(
    frame: &mut Frame<'_>,
    state: &AppState,
    area: Rect,
    path: &super::composer::Composer,
    title: &str,
) {
    let rect = layout::centered(area, 60, 4);
    clear_under(frame, area, rect);
    let block = Block::default().borders(Borders::ALL).title(title).border_style(styled(state, theme::OVERLAY_BORDER));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let (rows, (_, col)) = path.layout(usize::from(inner.width).max(1) * 4);
    let text = rows.into_iter().next().unwrap_or_default();
    frame.render_widget(Paragraph::new(Line::from(text)), inner);
    if inner.width > 0 && inner.height > 0 {
        frame.set_cursor_position(Position { x: inner.x + (col as u16).min(inner.width - 1), y: inner.y });
    }
}

fn draw_sessions(frame: &mut Frame<'_>, state: &AppState, area: Rect, p: &super::state::Picker) {
    let rect = layout::centered(area, area.width.saturating_sub(4).max(20), area.height.saturating_sub(2).max(5));
    clear_under(frame, area, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" conversations: type to search · ⏎ continue · Ctrl-R rename · Ctrl-D delete · Esc ")
        .border_style(styled(state, theme::OVERLAY_BORDER));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    if inner.height < 2 || inner.width < 4 {
        return;
    }
    let prompt = match &p.renaming {
        Some(name) => format!("rename to: {}", crate::render::sanitize(name.text())),
        None => format!("search: {}", crate::render::sanitize(p.filter.text())),
    };
    frame.render_widget(Paragraph::new(Line::from(prompt.clone())), Rect { height: 1, ..inner });
    let cursor_x = inner.x + (crate::render::wrap::str_width(&prompt) as u16).min(inner.width - 1);
    frame.set_cursor_position(Position { x: cursor_x, y: inner.y });
    let list_area = Rect { y: inner.y + 1, height: inner.height - 1, ..inner };
    let per_item = if p.filter.is_empty() { 1 } else { 2 };
    let room = (usize::from(list_area.height) / per_item).max(1);
    let first = p.selected.saturating_sub(room - 1);
    let width = usize::from(list_area.width);
    let mut lines: Vec<Line<'static>> = Vec::new();
    if p.items.is_empty() {
        let text = if p.filter.is_empty() { "No saved conversations yet." } else { "Nothing matches." };
        lines.push(Line::from(Span::styled(text, styled(state, theme::MUTED))));
    }
    for (i, item) in p.items.iter().enumerate().skip(first).take(room) {
        let s = &item.summary;
        let title = if s.title.is_empty() { "(untitled)" } else { s.title.as_str() };
        let row = format!(
            "{:>4}  {}  {:>3} msgs  {}  · {} · {}",
            s.id,
            crate::store::export::date(s.updated_at),
            s.messages,
            crate::render::sanitize(title),
            crate::render::sanitize(&s.model),
            crate::render::sanitize(&s.cwd)
        );
        let row: String = row.chars().take(width).collect();
        let st = match (i == p.selected, p.confirm_delete) {
            (true, true) => theme::DELETE_PENDING,
            (true, false) => theme::SELECTED,
            (false, _) => Style::default(),
        };
        lines.push(Line::from(Span::styled(row, styled(state, st))));
        if let Some(snippet) = &item.snippet {
            let text: String =
                format!("      {}", crate::render::sanitize(&snippet.replace('\n', " "))).chars().take(width).collect();
            lines.push(Line::from(Span::styled(text, styled(state, theme::MUTED))));
        }
    }
    frame.render_widget(Paragraph::new(lines), list_area);
}
