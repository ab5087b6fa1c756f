//! The TUI's state and `update`, the only place it changes. `update` is synchronous and pure
//! apart from the state it owns: everything with an outside effect is returned as an [`Effect`]
//! for the loop to run, and its result comes back as an [`AppEvent`].

mod keys;
mod slash;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};

use super::composer::Composer;
use super::slash_table;
use super::transcript::{Author, EntryState, Scroll, Transcript};
use crate::engine::{
    EngineEvent, Message, ModelInfo, Reasoning, Role, SamplingParams, StopReason, TurnId, TurnRequest, TurnStats,
};
use crate::pipe::Attachment;
use crate::store::recorder::{PickerItem, Query, RecordOp, RecordStats, Reply};
use crate::store::{MessageState, StoredRole};

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

/// Why $EDITOR was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditorPurpose {
    /// Composing the message: the result replaces the composer's text.
    Compose,
    /// Viewing a code block: nothing comes back.
    ViewCode,
}

/// Everything that happens to the app.
#[derive(Debug, Clone)]
pub enum AppEvent {
    Key(KeyEvent),
    Paste(String),
    Mouse(MouseEvent),
    Resize(u16, u16),
    Engine(EngineEvent),
    EditorDone {
        purpose: EditorPurpose,
        result: Result<String, String>,
    },
    FileRead {
        path: String,
        result: Result<(Attachment, Option<String>), String>,
    },
    Saved {
        path: String,
        result: Result<usize, SaveError>,
    },
    Copied {
        number: usize,
        result: Result<(), String>,
    },
    /// The history thread wrote (the conversation id) or failed.
    Recorded(Result<Option<i64>, String>),
    /// The history thread answered a picker question.
    History(Reply),
    /// A question for the history thread could not be sent: history is off, or its thread
    /// has stopped.
    QueryFailed(String),
    /// The history thread has stopped (after an error it already reported).
    HistoryStopped,
    /// A deadline the state asked for ([`AppState::next_deadline`]) may have come.
    Tick,
}

/// Why saving failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveError {
    Exists,
    Other(String),
}

/// Work with an outside effect, run by the loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Generate(TurnRequest),
    /// Have the engine evaluate the conversation and the message being typed ahead of Enter.
    Prefill(TurnRequest),
    Cancel(TurnId),
    /// Copy to the clipboard (OSC 52, and a system tool when present).
    Copy {
        number: usize,
        text: String,
    },
    Save {
        path: String,
        content: String,
        overwrite: bool,
    },
    OpenEditor {
        text: String,
        purpose: EditorPurpose,
        extension: String,
    },
    ReadFile(String),
    SwitchModel(PathBuf),
    /// Save to the history database (on its own thread).
    Record(RecordOp),
    /// Ask the history thread (session picker).
    Query(Query),
    /// Save the model's evaluated context for conversation id (leaving it).
    SaveContext(i64),
    /// Load the saved context of conversation id (continuing it).
    LoadContext(i64),
    Quit,
}

/// A line for the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMessage {
    pub text: String,
    pub error: bool,
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
}

/// What the screen shows around the conversation: focus, overlay, scrolling, the status line.
#[derive(Debug)]
pub struct Ui {
    pub focus: Focus,
    pub overlay: Option<Overlay>,
    pub scroll: Scroll,
    pub status: Option<StatusMessage>,
    /// Ctrl-C was pressed once on an idle, empty composer.
    pub quit_armed: bool,
    /// Ctrl-X was pressed: Ctrl-E next opens $EDITOR.
    pub chord: bool,
    /// How far the help overlay is scrolled (it scrolls on short terminals).
    pub help_scroll: u16,
    /// Selected entry in the code pane.
    pub code_selected: usize,
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
    pub attachments: Vec<Attachment>,
    /// The type-ahead pause.
    type_ahead: TypeAhead,
    pub ui: Ui,
    /// The clock thinking and the type-ahead pause are timed by (tests stop it).
    pub clock: fn() -> Instant,
}

/// Layout facts `update` needs for scrolling (the view computes the same).
pub use super::layout::transcript_area;

/// A file name for code in `lang`.
pub fn suggested_name(number: usize, lang: &str) -> String {
    format!("block{number}.{}", extension_for(lang))
}

/// A file extension for a fence language tag.
pub fn extension_for(lang: &str) -> String {
    let lang = lang.trim().to_ascii_lowercase();
    match lang.as_str() {
        "python" | "py" | "python3" => "py",
        "rust" | "rs" => "rs",
        "javascript" | "js" | "jsx" => "js",
        "typescript" | "ts" | "tsx" => "ts",
        "bash" | "sh" | "shell" | "zsh" | "console" => "sh",
        "c" => "c",
        "cpp" | "c++" | "cxx" => "cpp",
        "go" | "golang" => "go",
        "java" => "java",
        "ruby" | "rb" => "rb",
        "html" => "html",
        "css" => "css",
        "json" => "json",
        "yaml" | "yml" => "yaml",
        "toml" => "toml",
        "sql" => "sql",
        "markdown" | "md" => "md",
        "" | "text" | "plaintext" => "txt",
        other if other.chars().all(|c| c.is_ascii_alphanumeric()) && other.len() <= 8 => other,
        _ => "txt",
    }
    .to_string()
}

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
            },
            transcript: Transcript::new(color),
            turns: Turns::default(),
            composer: Composer::default(),
            attachments: Vec::new(),
            type_ahead: TypeAhead::default(),
            ui: Ui {
                focus: Focus::Composer,
                overlay: None,
                scroll: Scroll::Follow,
                status: None,
                quit_armed: false,
                chord: false,
                help_scroll: 0,
                code_selected: 0,
                size: (80, 24),
                color,
                should_quit: false,
            },
            clock: Instant::now,
        }
    }

    /// Shows a stored conversation to continue it.
    pub fn resume(&mut self, conversation: &crate::store::Conversation) {
        self.session.conversation_id = Some(conversation.summary.id);
        if self.session.system_prompt.is_none() {
            self.session.system_prompt = conversation.system_prompt.clone();
        }
        for m in &conversation.messages {
            let (author, state) = match (m.role, m.state) {
                (StoredRole::User | StoredRole::System, _) => (Author::User, EntryState::Complete),
                (StoredRole::Assistant, MessageState::Complete) => (Author::Assistant, EntryState::Complete),
                (StoredRole::Assistant, MessageState::Stopped) => (Author::Assistant, EntryState::Stopped),
            };
            self.transcript.push(author, m.content.clone(), state);
            if let Some(reasoning) = &m.reasoning {
                // Shown folded, as a finished reply's thinking is.
                self.transcript.set_stored_thinking(self.transcript.len() - 1, reasoning);
            }
            if m.pinned {
                self.transcript.set_pinned(self.transcript.len() - 1, true);
            }
            if m.sibling.1 > 1 {
                self.transcript.set_versions(self.transcript.len() - 1, Some(m.sibling));
            }
        }
        let title = if conversation.summary.title.is_empty() { "untitled" } else { &conversation.summary.title };
        self.info(format!("continuing conversation {}: {title}", conversation.summary.id));
    }

    /// The index of the last entry that is saved in history.
    fn last_recorded_entry(&self) -> Option<usize> {
        self.transcript.entries().iter().rposition(|e| {
            matches!(
                (e.author, &e.state),
                (Author::User, _) | (Author::Assistant, EntryState::Complete | EntryState::Stopped)
            )
        })
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

    /// A click in the transcript on a reply's thinking folds or unfolds it.
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

    /// How many recorded messages (user, and finished assistant ones) precede entry `index`.
    fn recorded_before(&self, index: usize) -> usize {
        self.transcript.entries()[..index.min(self.transcript.len())]
            .iter()
            .filter(|e| match (e.author, &e.state) {
                (Author::User, _) => true,
                (Author::Assistant, EntryState::Complete | EntryState::Stopped) => true,
                (Author::Assistant, EntryState::Streaming | EntryState::Failed(_)) | (Author::Notice, _) => false,
            })
            .count()
    }

    /// The effect that saves the last entry, when history is on.
    fn record_last(&self, role: StoredRole, state: MessageState, stats: Option<RecordStats>) -> Option<Effect> {
        if !self.session.saving {
            return None;
        }
        let last = self.transcript.len().checked_sub(1)?;
        let entry = &self.transcript.entries()[last];
        let content = entry.content.clone();
        // The thinking is saved apart from the answer, never in it.
        let reasoning = entry.thinking.as_ref().map(|t| t.text.clone()).filter(|t| !t.trim().is_empty());
        Some(Effect::Record(RecordOp::Append {
            keep: self.recorded_before(last),
            role,
            content,
            state,
            stats,
            reasoning,
        }))
    }

    fn model_name(&self) -> String {
        match &self.session.model {
            ModelStatus::Ready(info) => info.name.clone(),
            ModelStatus::Loading(_) | ModelStatus::Failed(_) => crate::models::display_name(&self.session.model_path),
        }
    }

    fn info(&mut self, text: impl Into<String>) {
        self.ui.status = Some(StatusMessage { text: text.into(), error: false });
    }

    fn error(&mut self, text: impl Into<String>) {
        self.ui.status = Some(StatusMessage { text: text.into(), error: true });
    }

    /// The conversation as the model sees it: system prompt, then finished user/assistant turns.
    pub fn conversation(&self) -> Vec<Message> {
        let mut out = Vec::with_capacity(self.transcript.len() + 1);
        if let Some(system) = self.session.system_prompt.as_ref().filter(|s| !s.trim().is_empty()) {
            out.push(Message::new(Role::System, system.clone()));
        }
        for entry in self.transcript.entries() {
            let role = match (entry.author, &entry.state) {
                (Author::User, _) => Role::User,
                (Author::Assistant, EntryState::Complete | EntryState::Stopped) => Role::Assistant,
                (Author::Assistant, EntryState::Streaming | EntryState::Failed(_)) | (Author::Notice, _) => continue,
            };
            let reasoning = entry.thinking.as_ref().map(|t| t.text.clone());
            out.push(Message::new(role, entry.content.clone()).with_reasoning(reasoning).with_pin(entry.pinned));
        }
        out
    }

    fn start_turn(&mut self) -> Vec<Effect> {
        self.turns.last_turn += 1;
        let turn = self.turns.last_turn;
        let messages = self.conversation();
        self.transcript.push(Author::Assistant, "", EntryState::Streaming);
        self.turns.generating = Some(turn);
        self.turns.reasoning_started = None;
        self.ui.scroll = Scroll::Follow;
        // A different seed each turn, so /retry gives another answer (still reproducible for a
        // given --seed and sequence of turns).
        let sampling = SamplingParams {
            seed: self.session.sampling.seed.wrapping_add(turn as u32),
            ..self.session.sampling.clone()
        };
        vec![Effect::Generate(TurnRequest { turn, messages, sampling })]
    }

    /// The turn the composer's text would start, for the engine to evaluate ahead while the
    /// user is still typing; None when nothing would be sent now.
    pub fn prefill_request(&self) -> Option<TurnRequest> {
        let text = self.composer.text();
        let idle = self.turns.generating.is_none() && matches!(self.session.model, ModelStatus::Ready(_));
        if !idle || text.starts_with('/') || (text.trim().is_empty() && self.attachments.is_empty()) {
            return None;
        }
        let prompt = (!text.trim().is_empty()).then_some(text);
        let mut messages = self.conversation();
        messages.push(Message::new(Role::User, crate::pipe::user_message(prompt, &self.attachments)));
        Some(TurnRequest { turn: 0, messages, sampling: self.session.sampling.clone() })
    }

    /// When the loop should send [`AppEvent::Tick`] next, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.type_ahead.due
    }

    /// Typing, or an answer ending while a message is already typed, restarts the pause.
    fn restart_type_ahead_pause(&mut self, event: &AppEvent) {
        if matches!(event, AppEvent::Key(_) | AppEvent::Paste(_) | AppEvent::Engine(EngineEvent::Done { .. })) {
            self.type_ahead.due = Some((self.clock)() + PREFILL_AFTER);
        }
    }

    /// After the pause, the message being typed is evaluated ahead, unless it already was.
    fn on_tick(&mut self) -> Vec<Effect> {
        let now = (self.clock)();
        if self.type_ahead.due.is_none_or(|due| now < due) {
            return Vec::new();
        }
        self.type_ahead.due = None;
        let Some(req) = self.prefill_request() else { return Vec::new() };
        if self.type_ahead.sent.as_ref() == Some(&req.messages) {
            return Vec::new();
        }
        self.type_ahead.sent = Some(req.messages.clone());
        vec![Effect::Prefill(req)]
    }

    fn send(&mut self) -> Vec<Effect> {
        let text = self.composer.text().to_string();
        if text.trim().is_empty() && self.attachments.is_empty() {
            return Vec::new();
        }
        if text.starts_with('/') && self.attachments.is_empty() {
            self.composer.take();
            return self.command(&text);
        }
        if self.turns.generating.is_some() {
            self.error("still answering: wait, or press Esc to stop it");
            return Vec::new();
        }
        if let ModelStatus::Failed(_) = self.session.model {
            self.error("no model is loaded: /model PATH loads one");
            return Vec::new();
        }
        self.composer.take();
        let prompt = (!text.trim().is_empty()).then_some(text.as_str());
        let content = crate::pipe::user_message(prompt, &self.attachments);
        self.attachments.clear();
        self.transcript.push(Author::User, content, EntryState::Complete);
        self.ui.status = None;
        let mut effects: Vec<Effect> =
            self.record_last(StoredRole::User, MessageState::Complete, None).into_iter().collect();
        effects.extend(self.start_turn());
        effects
    }

    fn block_index(&mut self, number: usize) -> Option<usize> {
        let count = self.transcript.code_blocks().len();
        if number == 0 || number > count {
            self.error(if count == 0 {
                "there is no code block yet".to_string()
            } else {
                format!("no code block {number}: there are {count}")
            });
            return None;
        }
        Some(number - 1)
    }

    fn copy(&mut self, index: usize) -> Vec<Effect> {
        match self.transcript.code_blocks().get(index) {
            Some(block) => vec![Effect::Copy { number: block.number, text: block.code.clone() }],
            None => Vec::new(),
        }
    }

    fn ask_save(&mut self, index: usize) {
        let Some(block) = self.transcript.code_blocks().get(index) else { return };
        let mut path = Composer::default();
        path.set_text(suggested_name(block.number, &block.lang));
        self.ui.overlay = Some(Overlay::SavePrompt { index, path, confirm_overwrite: false });
    }

    fn open_in_editor(&mut self, index: usize) -> Vec<Effect> {
        match self.transcript.code_blocks().get(index) {
            Some(block) => vec![Effect::OpenEditor {
                text: block.code.clone(),
                purpose: EditorPurpose::ViewCode,
                extension: extension_for(&block.lang),
            }],
            None => Vec::new(),
        }
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
    match event {
        AppEvent::Key(key) if key.kind == KeyEventKind::Release => Vec::new(),
        AppEvent::Key(key) => keys::on_key(state, key),
        AppEvent::Paste(text) => {
            match &mut state.ui.overlay {
                Some(Overlay::SavePrompt { path, .. }) => path.insert_str(text.lines().next().unwrap_or("")),
                Some(Overlay::Sessions(p)) => {
                    p.filter.insert_str(text.lines().next().unwrap_or(""));
                    p.generation += 1;
                    let query = Query::List { filter: p.filter.text().to_string(), generation: p.generation };
                    return vec![Effect::Query(query)];
                }
                Some(Overlay::Help | Overlay::CodeView { .. }) => {}
                None => {
                    state.ui.focus = Focus::Composer;
                    state.composer.insert_str(&text);
                }
            }
            Vec::new()
        }
        AppEvent::Mouse(mouse) => {
            match mouse.kind {
                MouseEventKind::ScrollUp => state.scroll_by(true, 3),
                MouseEventKind::ScrollDown => state.scroll_by(false, 3),
                MouseEventKind::Down(MouseButton::Left) => state.click(mouse.column, mouse.row),
                _ => {}
            }
            Vec::new()
        }
        AppEvent::Resize(w, h) => {
            state.ui.size = (w, h);
            Vec::new()
        }
        AppEvent::Engine(event) => on_engine(state, event),
        AppEvent::EditorDone { purpose, result } => {
            match (purpose, result) {
                (EditorPurpose::Compose, Ok(text)) => {
                    state.composer.set_text(text.trim_end_matches('\n'));
                    state.ui.focus = Focus::Composer;
                }
                (EditorPurpose::ViewCode, Ok(_)) => {}
                (_, Err(e)) => state.error(format!("editor: {e}")),
            }
            Vec::new()
        }
        AppEvent::FileRead { path, result } => {
            match result {
                Ok((attachment, warning)) => {
                    let size = attachment.text.len();
                    state.attachments.push(attachment);
                    match warning {
                        Some(w) => state.error(w),
                        None => state.info(format!("attached {path} ({size} bytes): it goes with your next message")),
                    }
                }
                Err(e) => state.error(e),
            }
            Vec::new()
        }
        AppEvent::Saved { path, result } => {
            match result {
                Ok(bytes) => {
                    state.ui.overlay = None;
                    state.info(format!("saved {bytes} bytes to {path}"));
                }
                Err(SaveError::Exists) => {
                    if let Some(Overlay::SavePrompt { confirm_overwrite, .. }) = &mut state.ui.overlay {
                        *confirm_overwrite = true;
                        state.error(format!("{path} exists: Enter again to overwrite, or change the name"));
                    } else {
                        state.error(format!("{path} exists: /save N PATH with another name"));
                    }
                }
                Err(SaveError::Other(e)) => state.error(format!("cannot save {path}: {e}")),
            }
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
        AppEvent::Tick => state.on_tick(),
        AppEvent::Recorded(result) => {
            match result {
                // Replies come in order: after /new the next one is None, then the new id.
                Ok(id) => state.session.conversation_id = id,
                Err(e) => {
                    state.session.saving = false;
                    state.error(format!("history is off for this session: {e}"));
                }
            }
            Vec::new()
        }
        AppEvent::Copied { number, result } => {
            match result {
                Ok(()) => state.info(format!("copied code block {number}")),
                Err(e) => state.error(format!("copy: {e}")),
            }
            Vec::new()
        }
    }
}

fn on_engine(state: &mut AppState, event: EngineEvent) -> Vec<Effect> {
    match event {
        EngineEvent::Loading { progress } => {
            if !matches!(state.session.model, ModelStatus::Ready(_)) {
                state.session.model = ModelStatus::Loading(progress);
            }
        }
        EngineEvent::Ready(info) => {
            if let Some(notice) = &info.notice {
                state.transcript.push_before_streaming(Author::Notice, notice.clone());
            }
            let name = info.name.clone();
            state.session.model = ModelStatus::Ready(info);
            if let Some(notice) = state.reasoning_notice() {
                state.info(notice);
            }
            if state.session.saving {
                return vec![Effect::Record(RecordOp::NameModel(name))];
            }
        }
        EngineEvent::LoadFailed(error) => {
            let text = error.to_string();
            if state.turns.generating.take().is_some() {
                state.transcript.finish_last(EntryState::Failed("no model".into()));
            }
            state.transcript.push(
                Author::Notice,
                format!(
                    "The model could not be loaded.\n\n{}\n\nLoad another with /model PATH.",
                    text.replace("\n  ", "\n\n")
                ),
                EntryState::Complete,
            );
            state.session.model = ModelStatus::Failed(text);
        }
        EngineEvent::State { op, result } => match (op, result) {
            (crate::engine::StateOp::Load, Ok(tokens)) => {
                state.turns.context_used = tokens;
                state.info(format!("resumed with {tokens} tokens of context already evaluated"));
            }
            (crate::engine::StateOp::Load, Err(_)) => {}
            (crate::engine::StateOp::Save, result) => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, "saving the context failed");
                }
            }
            (crate::engine::StateOp::Prefill, result) => {
                tracing::debug!(?result, "the message being typed evaluated ahead")
            }
        },
        // Events of a superseded turn are dropped by id, not by timing.
        EngineEvent::Delta { turn, .. }
        | EngineEvent::Reasoning { turn, .. }
        | EngineEvent::Done { turn, .. }
        | EngineEvent::Failed { turn, .. }
            if Some(turn) != state.turns.generating => {}
        EngineEvent::Delta { text, .. } => {
            let thinking = state.transcript.entries().last().and_then(|e| e.thinking.as_ref());
            if thinking.is_some_and(|t| t.live) && !text.trim().is_empty() {
                // The answer begins: the thinking folds to one line.
                let time = state.turns.reasoning_started.map(|t| (state.clock)().saturating_duration_since(t));
                state.transcript.end_thinking(time.unwrap_or_default());
            }
            state.transcript.append(&text);
        }
        // Shown apart from the answer, never part of it (nor of its code blocks).
        EngineEvent::Reasoning { text, .. } => {
            let now = (state.clock)();
            let started = *state.turns.reasoning_started.get_or_insert(now);
            state.transcript.append_thinking(&text, now.saturating_duration_since(started));
        }
        EngineEvent::Done { stats, stop, .. } => {
            state.turns.generating = None;
            state.turns.reasoning_started = None;
            let figures = (stats.reasoning_tokens > 0).then_some((stats.reasoning_tokens, stats.reasoning_time));
            state.transcript.finish_thinking(figures);
            let (entry_state, stored) = if stop == StopReason::Cancelled {
                (EntryState::Stopped, MessageState::Stopped)
            } else {
                (EntryState::Complete, MessageState::Complete)
            };
            state.transcript.finish_last(entry_state);
            state.turns.context_used = stats.prompt_tokens + stats.generated_tokens;
            let newly_dropped = stats.dropped_messages > state.turns.dropped_messages;
            state.turns.dropped_messages = stats.dropped_messages;
            let record = RecordStats::from(&stats);
            let effects: Vec<Effect> =
                state.record_last(StoredRole::Assistant, stored, Some(record)).into_iter().collect();
            match stop {
                StopReason::MaxTokens => state.info("the answer was cut at the token limit"),
                StopReason::ContextFull => state.error("the context is full: /new starts afresh"),
                StopReason::Cancelled => state.info("stopped"),
                StopReason::EndOfText | StopReason::StopString => {
                    if state.ui.status.as_ref().is_some_and(|s| !s.error) {
                        state.ui.status = None;
                    }
                }
            }
            if newly_dropped {
                // Never forget silently: say when earlier turns leave the model's view.
                state.transcript.push(
                    Author::Notice,
                    if stats.summarized {
                        format!(
                            "The context is full: the {} earliest messages were replaced by a summary the model wrote (they stay in the transcript and in history). /new starts afresh.",
                            stats.dropped_messages
                        )
                    } else {
                        format!(
                            "The context is full: the {} earliest messages are no longer in the model's view (they stay in the transcript and in history). /pin keeps a turn; /new starts afresh.",
                            stats.dropped_messages
                        )
                    },
                    EntryState::Complete,
                );
            }
            state.turns.last_stats = Some(stats);
            return effects;
        }
        EngineEvent::Failed { error, .. } => {
            state.turns.generating = None;
            state.turns.reasoning_started = None;
            state.transcript.finish_thinking(None);
            let partial = state.transcript.entries().last().is_some_and(|e| !e.content.trim().is_empty());
            if !partial {
                state.transcript.finish_last(EntryState::Failed(error.to_string()));
                state.error("the answer failed: see the transcript");
                return Vec::new();
            }
            // What streamed before the failure (a server that went away mid-answer) is kept and
            // saved, as a stopped answer is; the error follows it.
            state.transcript.finish_last(EntryState::Stopped);
            let effects: Vec<Effect> =
                state.record_last(StoredRole::Assistant, MessageState::Stopped, None).into_iter().collect();
            state.transcript.push(Author::Notice, format!("the answer was cut: {error}"), EntryState::Complete);
            state.error("the answer was cut: see the transcript");
            return effects;
        }
    }
    Vec::new()
}
