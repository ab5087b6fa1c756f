//! The TUI's state and `update`, the only place it changes. `update` is synchronous and pure
//! apart from the state it owns: everything with an outside effect is returned as an [`Effect`]
//! for the loop to run, and its result comes back as an [`AppEvent`].

mod apply;
mod attached;
mod code;
mod command;
mod engine;
mod events;
mod fold;
mod keys;
mod live;
mod mentions;
mod results;
mod schema;
mod sessions;
mod slash;
mod switch;
mod turn;

pub use attached::{estimated_tokens, tokens_in_bytes, Attached, Tokens};
pub use code::{extension_for, suggested_name};
pub use command::Commands;
pub use events::{AppEvent, EditorPurpose, Effect, SaveError, SwitchEvent};
pub use live::{LiveTurn, STATUS_FOR};
pub use mentions::{Finder, MentionRead, FINDER_ROWS};
pub use sessions::Hit;
pub use switch::MIN_CTX;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::KeyEventKind;

use super::composer::Composer;
use super::slash_table;
use super::transcript::{Fold, Scroll, Transcript};
use crate::engine::{Message, ModelInfo, Reasoning, SamplingParams, TurnId, TurnStats};
use crate::store::recorder::{PickerItem, Query, Reply};

/// Which pane keys go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Composer,
    Transcript,
    CodePane,
}

/// A window over the main screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    Help,
    /// Code block `index` (into the code block list) full-screen, scrolled by `scroll` rows.
    CodeView {
        index: usize,
        scroll: usize,
    },
    /// Asking where to save code block `index`.
    SavePrompt {
        index: usize,
        path: Composer,
        confirm_overwrite: bool,
    },
    /// The session picker (Ctrl-O, /sessions).
    Sessions(Picker),
    /// Asking which file code block `index` is for (it names none).
    ApplyPrompt {
        index: usize,
        path: Composer,
    },
    /// The diff of a code block applied to a file, waiting for confirmation.
    Diff(DiffView),
}

/// The diff overlay's state: the edit, how far it is scrolled, and whether writing through a
/// symbolic link out of the working tree was asked once already.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffView {
    pub edit: Box<crate::edit::PreparedEdit>,
    pub scroll: usize,
    pub armed: bool,
}

/// The session picker's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Picker {
    /// Typed text: filters by full-text search.
    pub filter: Composer,
    pub items: Vec<PickerItem>,
    pub selected: usize,
    /// Pairs list answers with the filter they were for: older answers are dropped.
    pub generation: u64,
    /// Ctrl-D was pressed once on this item: a second press deletes.
    pub confirm_delete: bool,
    /// Renaming the selected conversation.
    pub renaming: Option<Composer>,
}

/// The model's state.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelStatus {
    Loading(f32),
    Ready(ModelInfo),
    Failed(String),
}

/// A line for the status bar.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusMessage {
    pub text: String,
    pub error: bool,
    /// An error about loading a model: it no longer holds once one loads.
    pub about_load: bool,
}

/// A pause in typing this long has the engine evaluate the conversation and the message so far,
/// so Enter finds it in the cache: the first token then costs about the same at turn 30 as at
/// turn 2, and a pasted file is read while the question about it is typed.
pub const PREFILL_AFTER: Duration = Duration::from_millis(300);

/// The type-ahead pause: when the message being typed is next evaluated ahead, and what was.
#[derive(Debug, Default)]
pub struct TypeAhead {
    /// When the pause in typing will have lasted long enough.
    due: Option<Instant>,
    /// The messages last evaluated ahead: keys that change nothing (arrows, scrolling) send no
    /// new prefill.
    sent: Option<Vec<Message>>,
}

/// The conversation being had: with which model and settings, and where it is saved.
#[derive(Debug)]
pub struct Session {
    pub model_path: PathBuf,
    pub model: ModelStatus,
    pub system_prompt: Option<String>,
    pub sampling: SamplingParams,
    /// The roles `/role` switches among.
    pub roles: crate::tui::RoleSwitch,
    /// `/think` chose the reasoning setting (`sampling.reasoning`): a role switch keeps it.
    pub reasoning_chosen: bool,
    /// This conversation is being saved to history.
    pub saving: bool,
    /// The saved conversation's id, once it has one.
    pub conversation_id: Option<i64>,
    /// Where ember was started (saved with new conversations).
    pub cwd: String,
    /// What `/model` or `/ctx` is loading; the engine in use answers meanwhile.
    pub switching: Option<String>,
}

/// The answers: the one being generated and what the last one reported.
#[derive(Debug, Default)]
pub struct Turns {
    /// The turn being generated.
    pub generating: Option<TurnId>,
    last_turn: TurnId,
    pub last_stats: Option<TurnStats>,
    /// Tokens in the context after the last turn.
    pub context_used: usize,
    /// Earlier messages the last turn had to leave out of the context.
    pub dropped_messages: usize,
    /// When the streaming reply's reasoning began (it is timed while it streams).
    reasoning_started: Option<Instant>,
    /// What the turn being answered has shown so far (progress, context, speed).
    pub live: Option<LiveTurn>,
    /// The last id given to an engine count (`Effect::Count`).
    count_ids: u64,
    /// The count of the conversation's prompt the ctx meter waits for (after a switch or
    /// opening a conversation, when no turn has measured it yet).
    meter_count: Option<u64>,
}

impl Turns {
    /// A fresh id for an engine count.
    fn next_count(&mut self) -> u64 {
        self.count_ids += 1;
        self.count_ids
    }
}

/// What the screen shows around the conversation: focus, overlay, scrolling, the status line.
#[derive(Debug)]
pub struct Ui {
    pub focus: Focus,
    pub overlay: Option<Overlay>,
    pub scroll: Scroll,
    pub status: Option<StatusMessage>,
    /// When an informative status message goes (errors stay until the next key).
    pub status_expires: Option<Instant>,
    /// Ctrl-C was pressed once on an idle, empty composer.
    pub quit_armed: bool,
    /// Ctrl-X was pressed: Ctrl-E next opens $EDITOR.
    pub chord: bool,
    /// How far the help overlay is scrolled (it scrolls on short terminals).
    pub help_scroll: u16,
    /// Selected entry in the code pane.
    pub code_selected: usize,
    /// The composer text (`/file PATH`) whose Tab completion waits for the folder's listing:
    /// Tab again on the same text asks nothing more.
    pub completing: Option<String>,
    /// The search hit the conversation being opened is to be shown at.
    pub hit: Option<Hit>,
    pub size: (u16, u16),
    pub color: bool,
    pub should_quit: bool,
}

/// The whole TUI state.
#[derive(Debug)]
pub struct AppState {
    pub session: Session,
    pub transcript: Transcript,
    pub turns: Turns,
    pub composer: Composer,
    /// Files attached to the next message.
    pub attachments: Attached,
    /// The `@` file finder, and the mentioned files being read for sending.
    pub finder: Finder,
    /// The `!command` running.
    pub commands: Commands,
    /// The type-ahead pause.
    type_ahead: TypeAhead,
    pub ui: Ui,
    /// The clock thinking and the type-ahead pause are timed by (tests stop it).
    pub clock: fn() -> Instant,
}

/// Layout facts `update` needs for scrolling (the view computes the same).
pub use super::layout::transcript_area;

impl AppState {
    pub fn new(model_path: PathBuf, system_prompt: Option<String>, sampling: SamplingParams, color: bool) -> Self {
        AppState {
            session: Session {
                model_path,
                model: ModelStatus::Loading(0.0),
                system_prompt,
                sampling,
                roles: crate::tui::RoleSwitch::default(),
                reasoning_chosen: false,
                saving: false,
                conversation_id: None,
                cwd: String::new(),
                switching: None,
            },
            transcript: Transcript::new(color),
            turns: Turns::default(),
            composer: Composer::default(),
            attachments: Attached::default(),
            finder: Finder::default(),
            commands: Commands::default(),
            type_ahead: TypeAhead::default(),
            ui: Ui {
                focus: Focus::Composer,
                overlay: None,
                scroll: Scroll::Follow,
                status: None,
                status_expires: None,
                quit_armed: false,
                chord: false,
                help_scroll: 0,
                code_selected: 0,
                completing: None,
                hit: None,
                size: (80, 24),
                color,
                should_quit: false,
            },
            clock: Instant::now,
        }
    }

    /// Shows another version of a message that has several (←/→ in the transcript): the first
    /// such message from the top of the view when the transcript is scrolled back, else the
    /// latest one.
    fn switch_version(&mut self, forward: bool) -> Vec<Effect> {
        if self.turns.generating.is_some() {
            self.error("still answering: press Esc first");
            return Vec::new();
        }
        let Some(i) = self.entry_in_view(|e| e.versions.is_some()) else {
            self.info("no other versions: /retry or /edit makes some");
            return Vec::new();
        };
        vec![Effect::Query(Query::Sibling { keep: self.recorded_before(i), forward })]
    }

    /// The entry a key acts on among those that `has` something: the first from the top of the
    /// view when the transcript is scrolled back, else the latest one.
    fn entry_in_view(&self, has: impl Fn(&crate::tui::transcript::Entry) -> bool) -> Option<usize> {
        let entries = self.transcript.entries();
        let latest = || entries.iter().rposition(&has);
        match self.ui.scroll {
            Scroll::Anchor { entry, .. } => {
                entries.iter().enumerate().skip(entry).find(|(_, e)| has(e)).map(|(i, _)| i).or_else(latest)
            }
            Scroll::Follow => latest(),
        }
    }

    /// Folds or unfolds a reply's thinking (`t` in the transcript): the first one from the top
    /// of the view when the transcript is scrolled back, else the latest one.
    fn toggle_thinking(&mut self) {
        match self.entry_in_view(|e| e.thinking.is_some()) {
            Some(i) => {
                self.transcript.toggle_thinking(i);
            }
            None => self.info("no reasoning to show: only reasoning models think before answering"),
        }
    }

    /// A click in the transcript on a reply's thinking, or on a long code block's header or fold
    /// marker, folds or unfolds it.
    fn click(&mut self, column: u16, row: u16) {
        let (width, height) = transcript_area(self);
        let covered = self.ui.focus == Focus::CodePane && !super::layout::is_wide(self.ui.size.0);
        if self.ui.overlay.is_some() || covered || column >= width {
            return;
        }
        let Some((entry, at)) = self.transcript.position_at(width, height, self.ui.scroll, usize::from(row)) else {
            return;
        };
        if self.transcript.thinking_rows(entry, width).is_some_and(|rows| rows.contains(&at)) {
            self.transcript.toggle_thinking(entry);
        } else if let Some(fold) = self.transcript.fold_at(entry, at, width) {
            match fold {
                Fold::Block(number) => self.toggle_fold(number - 1),
                Fold::Own(k) => self.toggle_own_fold(entry, k),
            }
        }
    }

    /// The reasoning setting in words, with a notice when the model cannot follow it.
    fn reasoning_notice(&self) -> Option<String> {
        let setting = self.session.sampling.reasoning;
        match &self.session.model {
            ModelStatus::Ready(info) if !info.reasoning_switch && setting != Reasoning::Auto => Some(format!(
                "this model's chat template has no reasoning switch: reasoning {} changes nothing",
                setting.as_str()
            )),
            _ => None,
        }
    }

    fn model_name(&self) -> String {
        match &self.session.model {
            ModelStatus::Ready(info) => info.name.clone(),
            ModelStatus::Loading(_) | ModelStatus::Failed(_) => crate::models::display_name(&self.session.model_path),
        }
    }

    fn info(&mut self, text: impl Into<String>) {
        self.ui.status = Some(StatusMessage { text: text.into(), ..StatusMessage::default() });
        self.ui.status_expires = Some((self.clock)() + STATUS_FOR);
    }

    fn error(&mut self, text: impl Into<String>) {
        self.ui.status = Some(StatusMessage { text: text.into(), error: true, about_load: false });
        self.ui.status_expires = None;
    }

    /// An error about loading a model: shown as `error` shows one, and cleared once a model loads.
    fn load_error(&mut self, text: impl Into<String>) {
        self.ui.status = Some(StatusMessage { text: text.into(), error: true, about_load: true });
        self.ui.status_expires = None;
    }

    fn quit(&mut self) -> Vec<Effect> {
        self.ui.should_quit = true;
        let mut effects = Vec::new();
        if let Some(turn) = self.turns.generating.take() {
            effects.push(Effect::Cancel(turn));
        }
        effects.push(Effect::Quit);
        effects
    }

    fn cancel(&mut self) -> Vec<Effect> {
        match self.turns.generating {
            Some(turn) => {
                self.info("stopping…");
                vec![Effect::Cancel(turn)]
            }
            None => Vec::new(),
        }
    }

    fn scroll_by(&mut self, up: bool, n: usize) {
        let (width, height) = transcript_area(self);
        self.ui.scroll = if up {
            self.transcript.scroll_up(self.ui.scroll, n, width, height)
        } else {
            self.transcript.scroll_down(self.ui.scroll, n, width, height)
        };
    }

    fn page(&self) -> usize {
        transcript_area(self).1.saturating_sub(2).max(1)
    }
}

/// Applies one event to the state and returns the effects to run.
pub fn update(state: &mut AppState, event: AppEvent) -> Vec<Effect> {
    state.restart_type_ahead_pause(&event);
    let effects = on_event(state, event);
    state.refresh_mention_summary();
    effects
}

/// [`update`]'s dispatch: one handler per event.
fn on_event(state: &mut AppState, event: AppEvent) -> Vec<Effect> {
    match event {
        AppEvent::Key(key) if key.kind == KeyEventKind::Release => Vec::new(),
        AppEvent::Key(key) => {
            state.clear_status();
            keys::on_key(state, key)
        }
        AppEvent::Paste(text) => keys::on_paste(state, &text),
        AppEvent::Mouse(mouse) => {
            keys::on_mouse(state, mouse);
            Vec::new()
        }
        AppEvent::Resize(w, h) => {
            state.ui.size = (w, h);
            Vec::new()
        }
        AppEvent::Engine(event) => engine::on_engine(state, event),
        AppEvent::ModelResolved { name, result } => state.on_model_resolved(&name, result),
        AppEvent::Switch(event) => state.on_switch(event),
        AppEvent::EditorDone { purpose, result } => {
            state.on_editor_done(purpose, result);
            Vec::new()
        }
        AppEvent::FilesListed(list) => {
            state.on_files_listed(list);
            Vec::new()
        }
        AppEvent::PathsCompleted { typed, candidates } => {
            keys::on_paths_completed(state, &typed, candidates);
            Vec::new()
        }
        AppEvent::MentionsRead { text, results } => state.on_mentions_read(&text, results),
        AppEvent::CommandDone { id, output } => {
            state.on_command_done(id, output);
            Vec::new()
        }
        AppEvent::FileRead { path, result } => state.on_file_read(&path, result),
        AppEvent::SchemaLoaded(result) => {
            state.on_schema_loaded(result);
            Vec::new()
        }
        AppEvent::Saved { path, result } => {
            state.on_saved(&path, result);
            Vec::new()
        }
        AppEvent::EditPrepared(result) => {
            state.on_edit_prepared(result);
            Vec::new()
        }
        AppEvent::EditWritten(result) => state.on_edit_written(result),
        AppEvent::Copied { number, result } => {
            state.on_copied(number, result);
            Vec::new()
        }
        AppEvent::Recorded(result) => {
            state.on_recorded(result);
            Vec::new()
        }
        AppEvent::History(reply) => state.on_history(reply),
        AppEvent::QueryFailed(error) => {
            // Nothing is asked again (a picker's list): it could not be sent either.
            let _ = state.on_history(Reply::Changed(Err(error)));
            Vec::new()
        }
        AppEvent::HistoryStopped => {
            state.session.saving = false;
            Vec::new()
        }
        AppEvent::Tick => {
            state.expire_status();
            state.on_tick()
        }
    }
}
