//! The full-screen chat: one loop owns the terminal and selects over terminal input, engine
//! events, effect results, a frame timer and the state's next deadline (the type-ahead pause).
//! `update` changes the state, `effects` runs what it asks for, and `view` draws it.

mod clipboard;
pub mod composer;
mod effects;
pub mod finder;
pub mod launch;
pub mod layout;
pub mod shell;
pub mod slash_table;
pub mod state;
pub mod terminal;
pub mod transcript;
pub mod view;
pub mod widgets;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::Event;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use crate::conversation::{EngineChoice, SavedContexts};
use crate::engine::SamplingParams;
use effects::EffectRunner;
use state::{update, AppEvent, AppState};
use terminal::Input;

/// At most ~60 frames a second, however fast tokens arrive...
const FRAME: Duration = Duration::from_millis(16);
/// ...and ~30 while a reply streams, leaving the CPU to llama.cpp (text needs no more).
const STREAMING_FRAME: Duration = Duration::from_millis(33);

/// What the TUI starts with.
pub struct TuiOptions {
    /// A local model, or a server (`--endpoint`; `/model NAME` then picks a server model).
    pub engine: EngineChoice,
    pub sampling: SamplingParams,
    pub system_prompt: Option<String>,
    /// The roles `/role` switches among.
    pub roles: RoleSwitch,
    pub color: bool,
    /// Where conversations are saved; `None` with --no-history.
    pub history: Option<HistorySetup>,
}

/// What `/role NAME` needs: the roles, and the sampling settings a role's values apply between.
#[derive(Debug, Clone, Default)]
pub struct RoleSwitch {
    pub roles: Vec<crate::roles::Role>,
    /// The role in use.
    pub current: String,
    /// Defaults with the config file's values.
    pub base: SamplingParams,
    /// The flags' values, which beat a role's.
    pub flags: crate::roles::SamplingOverrides,
    /// `--var` values.
    pub vars: std::collections::BTreeMap<String, String>,
}

/// Saving conversations: the database, the facts of a new conversation, or one to continue.
pub struct HistorySetup {
    pub path: PathBuf,
    /// Where saved model contexts live (instant resume).
    pub kv_dir: PathBuf,
    pub new: crate::store::NewConversation,
    pub resume: Option<crate::store::Conversation>,
}

/// Why the TUI ended badly.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// How the TUI ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Quit,
    /// SIGTERM or SIGHUP.
    Signal(i32),
}

/// Runs the chat until the user quits. The terminal is restored however it ends.
pub async fn run(options: TuiOptions) -> Result<Exit, TuiError> {
    let mut term = terminal::enter()?;
    let result = run_loop(&mut term, options).await;
    terminal::restore();
    result
}

async fn run_loop(term: &mut terminal::Term, options: TuiOptions) -> Result<Exit, TuiError> {
    let (side_tx, mut side_rx) = unbounded_channel::<AppEvent>();
    let size = term.size()?;
    let (mut state, mut runner) = start(options, (size.width, size.height), side_tx);
    let mut input = Input::new();
    let mut signals = Signals::new()?;
    let mut frames = Frames::new();
    loop {
        frames.draw_if_due(term, &state)?;
        let redraw_in = frames.wait(&state);
        let deadline = state.next_deadline().map(tokio::time::Instant::from_std);
        let event = tokio::select! {
            input_event = input.next() => match input_event {
                Some(Ok(ev)) => match to_app_event(ev) {
                    Some(ev) => ev,
                    None => continue,
                },
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(Exit::Quit),
            },
            Some(ev) = runner.next_engine_event() => ev,
            Some(ev) = side_rx.recv() => ev,
            signal = signals.next() => {
                runner.save_context(&state).await;
                return Ok(Exit::Signal(signal));
            }
            () = tokio::time::sleep(redraw_in.unwrap_or_default()), if redraw_in.is_some() => continue,
            () = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => AppEvent::Tick,
        };
        frames.changed(&event);
        for effect in update(&mut state, event) {
            runner.run(effect, term, &mut input)?;
        }
        if state.ui.should_quit {
            runner.save_context(&state).await;
            return Ok(Exit::Quit);
        }
    }
}

/// Starts the engine and the history thread, and builds the first state.
fn start(options: TuiOptions, size: (u16, u16), side: UnboundedSender<AppEvent>) -> (AppState, EffectRunner) {
    let engine = options.engine.spawn();
    let mut state = AppState::new(options.engine.shown_model(), options.system_prompt, options.sampling, options.color);
    state.session.roles = options.roles;
    state.ui.size = size;
    let saved = options
        .history
        .as_ref()
        .map(|h| SavedContexts::new(h.kv_dir.clone(), options.engine.model_path().to_path_buf()));
    let recorder = options.history.map(|mut setup| {
        state.session.saving = true;
        state.session.cwd = setup.new.cwd.clone();
        let resume = setup.resume.take().map(|conversation| {
            state.resume(&conversation);
            (conversation.summary.id, conversation.messages.iter().map(|m| m.id).collect())
        });
        effects::spawn_recorder(setup, resume, side.clone())
    });
    let runner = EffectRunner::new(engine, options.engine, recorder, side, saved);
    runner.resume_context(&state);
    (state, runner)
}

/// When to draw: only after something changed, and at most once a frame.
struct Frames {
    dirty: bool,
    /// A resize may leave the terminal's content other than ratatui's last frame (the terminal
    /// reflows or clears it, and sizes can come back to the last drawn one between two frames):
    /// the next frame is then drawn whole, not as a difference from the last.
    resized: bool,
    last_draw: Instant,
}

impl Frames {
    fn new() -> Self {
        Frames { dirty: true, resized: false, last_draw: Instant::now() - FRAME }
    }

    /// The frame period: shorter when idle, longer while a reply streams.
    fn period(state: &AppState) -> Duration {
        if state.turns.generating.is_some() {
            STREAMING_FRAME
        } else {
            FRAME
        }
    }

    fn draw_if_due(&mut self, term: &mut terminal::Term, state: &AppState) -> Result<(), TuiError> {
        if !self.dirty || self.last_draw.elapsed() < Self::period(state) {
            return Ok(());
        }
        if std::mem::take(&mut self.resized) {
            // Clears and forgets the last frame. (Not `clear()`: it asks the terminal for the
            // cursor position, and the input reader would take the answer.)
            let size = term.size()?;
            term.resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))?;
        }
        term.draw(|frame| view::draw(frame, state))?;
        self.last_draw = Instant::now();
        self.dirty = false;
        Ok(())
    }

    /// How long until the next frame is due; `None` when there is nothing to draw.
    fn wait(&self, state: &AppState) -> Option<Duration> {
        self.dirty.then(|| Self::period(state).saturating_sub(self.last_draw.elapsed()))
    }

    /// Notes an event: any may change what is shown (a tick expires a status message, or moves
    /// the seconds a long prompt has been read).
    fn changed(&mut self, event: &AppEvent) {
        self.dirty = true;
        self.resized |= matches!(event, AppEvent::Resize(..));
    }
}

/// SIGTERM and SIGHUP: the TUI saves the context and ends.
struct Signals {
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals { terminate: signal(SignalKind::terminate())?, hangup: signal(SignalKind::hangup())? })
    }

    /// The number of the next signal.
    async fn next(&mut self) -> i32 {
        tokio::select! {
            _ = self.terminate.recv() => 15,
            _ = self.hangup.recv() => 1,
        }
    }
}

fn to_app_event(event: Event) -> Option<AppEvent> {
    match event {
        Event::Key(k) => Some(AppEvent::Key(k)),
        Event::Paste(text) => Some(AppEvent::Paste(text)),
        Event::Mouse(m) => Some(AppEvent::Mouse(m)),
        Event::Resize(w, h) => Some(AppEvent::Resize(w, h)),
        Event::FocusGained | Event::FocusLost => None,
    }
}

#[cfg(test)]
mod tests;
