//! What the screen shows while a turn runs (how far a long prompt has been read, the context
//! used so far, the answer's speed), and how long a status message stays.

use std::time::{Duration, Instant};

use super::AppState;
use crate::conversation::progress::reading_line;

/// How long an informative status message stays (an error stays until the next key).
pub const STATUS_FOR: Duration = Duration::from_secs(4);

/// The turn being answered, as far as the user can see it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveTurn {
    /// When the turn was sent.
    pub started: Instant,
    /// A long prompt being read: tokens evaluated and to evaluate.
    pub reading: Option<(usize, usize)>,
    /// Tokens in the context once the prompt was read (before the answer's).
    pub prompt_tokens: Option<usize>,
    /// When the answer's (or reasoning's) first and latest pieces arrived.
    pub first_piece: Option<Instant>,
    pub last_piece: Option<Instant>,
    /// Pieces of answer and reasoning so far: about one token each.
    pub pieces: usize,
}

impl LiveTurn {
    pub fn new(started: Instant) -> Self {
        LiveTurn { started, reading: None, prompt_tokens: None, first_piece: None, last_piece: None, pieces: 0 }
    }

    /// The engine evaluated `done` of the `total` tokens to evaluate; `context` are now in it.
    pub fn on_progress(&mut self, done: usize, total: usize, context: usize) {
        self.reading = (done < total).then_some((done, total));
        self.prompt_tokens = Some(context);
    }

    /// A piece of the answer or of its reasoning arrived at `now`.
    pub fn on_piece(&mut self, now: Instant) {
        self.first_piece.get_or_insert(now);
        self.last_piece = Some(now);
        self.reading = None;
        self.pieces += 1;
    }

    /// Tokens in the context now, when the engine has said how long the prompt is.
    pub fn context_used(&self) -> Option<usize> {
        self.prompt_tokens.map(|p| p + self.pieces)
    }

    /// This answer's speed so far, tokens per second (from its first piece to its latest).
    pub fn tps(&self) -> Option<f64> {
        let elapsed = self.last_piece?.saturating_duration_since(self.first_piece?).as_secs_f64();
        (self.pieces > 1 && elapsed > 0.0).then(|| (self.pieces - 1) as f64 / elapsed)
    }

    /// From sending to the first piece, seconds.
    pub fn ttft(&self) -> Option<f64> {
        self.first_piece.map(|t| t.saturating_duration_since(self.started).as_secs_f64())
    }

    /// "reading the prompt: 1,200 / 1,900 tokens · 4 s" while a long prompt is read.
    pub fn reading_line(&self, now: Instant) -> Option<String> {
        let (done, total) = self.reading?;
        Some(reading_line(done, total, now.saturating_duration_since(self.started)))
    }

    /// When the reading line's seconds next change.
    fn next_second(&self, now: Instant) -> Option<Instant> {
        self.reading?;
        let elapsed = now.saturating_duration_since(self.started);
        Some(self.started + Duration::from_secs(elapsed.as_secs() + 1))
    }
}

impl AppState {
    /// When something on screen changes with time alone: a status message expires, or the
    /// reading line's seconds move on.
    pub(super) fn live_deadline(&self) -> Option<Instant> {
        // (The clock is read only when something is timed.)
        let live = self.turns.live.as_ref().filter(|live| live.reading.is_some());
        let reading = live.and_then(|live| live.next_second((self.clock)()));
        [self.ui.status_expires, reading].into_iter().flatten().min()
    }

    /// Clears a status message whose time is up.
    pub(super) fn expire_status(&mut self) {
        if self.ui.status_expires.is_some_and(|at| (self.clock)() >= at) {
            self.ui.status = None;
            self.ui.status_expires = None;
        }
    }

    /// Any key clears the status message: it has been seen, and what it said was about before.
    pub(super) fn clear_status(&mut self) {
        self.ui.status = None;
        self.ui.status_expires = None;
    }

    /// The line under the pending reply while a long prompt is read.
    pub fn reading_line(&self) -> Option<String> {
        self.turns.generating?;
        let live = self.turns.live.as_ref().filter(|live| live.reading.is_some())?;
        live.reading_line((self.clock)())
    }
}
