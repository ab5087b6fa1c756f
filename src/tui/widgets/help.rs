//! The key-help overlay.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use crate::tui::slash_table::COMMANDS;

const KEYS: &[(&str, &str)] = &[
    ("Enter", "send"),
    ("Shift/Alt-Enter, Ctrl-J", "new line"),
    ("Up / Down", "lines, then message history"),
    ("Ctrl-G, Ctrl-X Ctrl-E", "write the message in $EDITOR"),
    ("Esc, Ctrl-C", "stop the answer (Esc: or a !command)"),
    ("Ctrl-C", "clear the message (Up brings it back)"),
    ("Ctrl-C twice, Ctrl-D", "quit (on an empty message)"),
    ("Tab", "complete a /command or /file's path"),
    ("@ in a message", "pick a file to attach; @file#L2-9 sends lines"),
    ("!command", "run it; its output goes with the next message"),
    ("Tab / Shift-Tab", "focus: message, transcript, code"),
    ("PgUp / PgDn, wheel", "scroll the transcript"),
    ("Ctrl-O", "saved conversations: search, continue"),
    ("transcript: ← →", "earlier / later versions of an answer"),
    ("transcript: t, click", "fold / unfold a reply's reasoning"),
    ("z (transcript, code pane)", "fold / unfold a long code block (or click it)"),
    ("code pane: c s a e ⏎", "copy, save, apply (diff), $EDITOR, full screen"),
    ("? / F1", "this help"),
];

/// The help text.
pub fn help_lines() -> Vec<Line<'static>> {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut lines = vec![Line::from(Span::styled("Keys", bold))];
    for (key, what) in KEYS {
        lines.push(Line::from(vec![Span::styled(format!("  {key:<26}"), bold), Span::raw(*what)]));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled("Commands", bold)));
    for c in COMMANDS {
        let usage = if c.args.is_empty() { c.name.to_string() } else { format!("{} {}", c.name, c.args) };
        lines.push(Line::from(vec![Span::styled(format!("  {usage:<26}"), bold), Span::raw(c.help)]));
    }
    lines
}
