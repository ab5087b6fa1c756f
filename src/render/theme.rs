//! The theme: every style ember draws with, named for what it marks rather than for its colour.
//! Call sites pass a style through [`colored`], which keeps only its modifiers (bold, dim,
//! reversed…) when colour is off (`NO_COLOR`, `--color never`), so emphasis survives without it.

use ratatui::style::{Color, Modifier, Style};

/// `style` when colour is on; else only its modifiers.
pub fn colored(color: bool, style: Style) -> Style {
    if color {
        style
    } else {
        Style::default().add_modifier(style.add_modifier)
    }
}

/// Text that says less than what is around it: hints, labels, gutters, an unfocused border.
pub const MUTED: Style = Style::new().fg(Color::DarkGray);

// Markdown in answers.

/// A heading's `#` marks and text.
pub const HEADING: Style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
/// Inline code, and indented code (fenced code is highlighted in its own block).
pub const INLINE_CODE: Style = Style::new().fg(Color::Yellow);
/// A link's or an image's text.
pub const LINK: Style = Style::new().fg(Color::Blue).add_modifier(Modifier::UNDERLINED);
/// A code block's header line (`╭─ [N] lang`).
pub const CODE_HEADER: Style = Style::new().fg(Color::DarkGray).add_modifier(Modifier::BOLD);
/// A code block's gutter and closing line.
pub const CODE_BORDER: Style = MUTED;
/// A block quote's `│` gutter.
pub const QUOTE_GUTTER: Style = MUTED;
/// A horizontal rule.
pub const RULE: Style = MUTED;

/// A highlighted token of code, in the colour the syntax theme gave it.
pub fn syntax(red: u8, green: u8, blue: u8) -> Style {
    Style::new().fg(Color::Rgb(red, green, blue))
}

// The transcript.

/// The `you` label over the user's messages.
pub const USER_LABEL: Style = Style::new().fg(Color::Green).add_modifier(Modifier::BOLD);
/// The `ember` label over answers.
pub const ASSISTANT_LABEL: Style = Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD);
/// The `note` label over ember's notices.
pub const NOTICE_LABEL: Style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
/// Marks after a label: versions, `[pinned]`, `[stopped]`, `[failed]`.
pub const ENTRY_MARK: Style = MUTED;
/// Why an answer failed, under it.
pub const ENTRY_ERROR: Style = Style::new().fg(Color::Red);

/// Reasoning text: dim, like a margin note (a modifier, so also without colour), and italic
/// with colour on.
pub fn reasoning_dim(color: bool) -> Style {
    let style = Style::new().add_modifier(Modifier::DIM);
    if color {
        style.add_modifier(Modifier::ITALIC)
    } else {
        style
    }
}

// The screen around the conversation.

/// The `ember` title on the empty screen.
pub const TITLE: Style = Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD);
/// The code pane's border when it has the keys.
pub const CODE_PANE_BORDER_FOCUSED: Style = Style::new().fg(Color::Cyan);
/// The composer's border when it has the keys.
pub const COMPOSER_BORDER_FOCUSED: Style = Style::new().fg(Color::Green);
/// A pane's border when it does not have the keys.
pub const BORDER: Style = MUTED;
/// The files attached to the next message, over the composer.
pub const ATTACHMENTS: Style = Style::new().fg(Color::Yellow);
/// A command's name in the slash-command completion.
pub const COMPLETION_NAME: Style = Style::new().fg(Color::Cyan);
/// The border of an overlay (help, save prompt, session picker).
pub const OVERLAY_BORDER: Style = Style::new().fg(Color::Cyan);
/// The selected row of a list.
pub const SELECTED: Style = Style::new().add_modifier(Modifier::REVERSED);
/// A selected row that the next key deletes.
pub const DELETE_PENDING: Style = SELECTED.fg(Color::Red);
/// A code block's line in the code pane.
pub const CODE_PANE_ITEM: Style = Style::new().add_modifier(Modifier::BOLD);
/// The selected code block's line in the code pane (reversed too when the pane has the keys).
pub const CODE_PANE_ITEM_SELECTED: Style = CODE_PANE_ITEM.fg(Color::Cyan);

// The status line.

/// The model's name.
pub const STATUS_MODEL: Style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
/// The model's name when it failed to load.
pub const STATUS_MODEL_FAILED: Style = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);
/// The context meter under 70% full.
pub const METER_LOW: Style = Style::new().fg(Color::Green);
/// The context meter from 70% to 89% full.
pub const METER_HIGH: Style = Style::new().fg(Color::Yellow);
/// The context meter from 90% full.
pub const METER_FULL: Style = Style::new().fg(Color::Red);
/// A status message.
pub const STATUS_INFO: Style = Style::new().fg(Color::Yellow);
/// A status message that reports an error.
pub const STATUS_ERROR: Style = Style::new().fg(Color::Red);
/// `● answering`.
pub const STATUS_BUSY: Style = Style::new().fg(Color::Magenta);
/// `○ idle`.
pub const STATUS_IDLE: Style = MUTED;
/// A diff's added lines.
pub const DIFF_ADDED: Style = Style::new().fg(Color::Green);
/// A diff's removed lines.
pub const DIFF_REMOVED: Style = Style::new().fg(Color::Red);
/// A diff's `@@` hunk headers.
pub const DIFF_HUNK: Style = Style::new().fg(Color::Cyan);
/// A diff's file headers.
pub const DIFF_FILE: Style = Style::new().add_modifier(Modifier::BOLD);

// Line-oriented output (pipe mode, `ember history show`): ANSI sequences, not cells.

/// `text` dim on a terminal that takes colour (a fence line, reasoning, folded thinking); a
/// trailing newline stays outside the sequence. `text` must already be sanitized.
pub fn ansi_dim(text: &str, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let body = text.trim_end_matches('\n');
    format!("\x1b[2m{body}\x1b[0m{}", &text[body.len()..])
}
