//! Owning the terminal: raw mode and the alternate screen on the way in, and always restoring
//! them on the way out — normal exit, error, panic, or signal.

use std::io::{Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, Event, EventStream,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use futures_util::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

static ACTIVE: AtomicBool = AtomicBool::new(false);
static ENHANCED_KEYS: AtomicBool = AtomicBool::new(false);

/// Puts the terminal in TUI mode and installs a panic hook that restores it first.
pub fn enter() -> std::io::Result<Term> {
    install_panic_hook();
    terminal::enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut stdout = std::io::stdout();
    execute!(stdout, EnterAlternateScreen, EnableBracketedPaste, EnableMouseCapture)?;
    // Where the terminal supports it, tell Shift-Enter from Enter.
    if matches!(terminal::supports_keyboard_enhancement(), Ok(true)) {
        let flags = KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES;
        if execute!(stdout, PushKeyboardEnhancementFlags(flags)).is_ok() {
            ENHANCED_KEYS.store(true, Ordering::SeqCst);
        }
    }
    let mut term = Terminal::new(CrosstermBackend::new(stdout))?;
    term.clear()?;
    Ok(term)
}

/// Leaves TUI mode. Safe to call more than once, and from a panic hook.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let mut stdout = std::io::stdout();
    if ENHANCED_KEYS.swap(false, Ordering::SeqCst) {
        let _ = execute!(stdout, PopKeyboardEnhancementFlags);
    }
    let _ = execute!(stdout, DisableMouseCapture, DisableBracketedPaste, LeaveAlternateScreen, cursor::Show);
    let _ = terminal::disable_raw_mode();
    let _ = stdout.flush();
}

/// Leaves TUI mode for a child program ($EDITOR) and comes back after it.
pub fn suspend<T>(term: &mut Term, run: impl FnOnce() -> T) -> std::io::Result<T> {
    restore();
    let result = run();
    terminal::enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    execute!(std::io::stdout(), EnterAlternateScreen, EnableBracketedPaste, EnableMouseCapture)?;
    if matches!(terminal::supports_keyboard_enhancement(), Ok(true))
        && execute!(
            std::io::stdout(),
            PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
        )
        .is_ok()
    {
        ENHANCED_KEYS.store(true, Ordering::SeqCst);
    }
    term.clear()?;
    Ok(result)
}

/// The terminal's input events, stopped while a child program ($EDITOR) has the terminal so the
/// input reader cannot take its keys.
pub struct Input(Option<EventStream>);

impl Input {
    pub fn new() -> Self {
        Input(Some(EventStream::new()))
    }

    /// The next input event; `None` when input has ended.
    pub async fn next(&mut self) -> Option<std::io::Result<Event>> {
        match &mut self.0 {
            Some(stream) => stream.next().await,
            None => std::future::pending().await,
        }
    }

    /// Like [`suspend`], with the input reader stopped while `run` runs.
    pub fn suspend<T>(&mut self, term: &mut Term, run: impl FnOnce() -> T) -> std::io::Result<T> {
        self.0 = None;
        let result = suspend(term, run)?;
        self.0 = Some(EventStream::new());
        Ok(result)
    }
}

impl Default for Input {
    fn default() -> Self {
        Self::new()
    }
}

fn install_panic_hook() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::SeqCst) {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Only the UI thread's panic ends the UI; the engine thread's are caught and reported
        // in the app (logged, not printed over the screen).
        if std::thread::current().name() == Some("main") {
            restore();
            previous(info);
        } else {
            tracing::error!(%info, "panic in a worker thread");
        }
    }));
}

/// Writes an OSC 52 "set clipboard" sequence: the one escape sequence ember emits on purpose
/// besides its drawing. Inside tmux it reaches tmux's buffer (with set-clipboard on) and, through
/// it, the outer terminal.
pub fn osc52_copy(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    write!(out, "\x1b]52;c;{encoded}\x07")?;
    out.flush()
}
