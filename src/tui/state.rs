//! The TUI's state and `update`, the only place it changes. `update` is synchronous and pure
//! apart from the state it owns: everything with an outside effect is returned as an [`Effect`]
//! for the loop to run, and its result comes back as an [`AppEvent`].

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};

use super::commands::{self, SlashCommand};
use super::composer::Composer;
use super::transcript::{Author, EntryState, Scroll, Transcript};
use crate::engine::{
    EngineEvent, Message, ModelInfo, Role, SamplingParams, StopReason, TurnId, TurnRequest, TurnStats,
};
use crate::pipe::Attachment;
use crate::store::recorder::{PickerItem, Query, RecordOp, RecordStats, Reply};
use crate::store::{MessageState, NewConversation, StoredRole};

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

/// The whole TUI state.
#[derive(Debug)]
pub struct AppState {
    pub model_path: PathBuf,
    pub model: ModelStatus,
    pub transcript: Transcript,
    pub composer: Composer,
    pub focus: Focus,
    pub overlay: Option<Overlay>,
    pub scroll: Scroll,
    /// The turn being generated.
    pub generating: Option<TurnId>,
    last_turn: TurnId,
    pub last_stats: Option<TurnStats>,
    /// Tokens in the context after the last turn.
    pub context_used: usize,
    pub status: Option<StatusMessage>,
    /// Ctrl-C was pressed once on an idle, empty composer.
    pub quit_armed: bool,
    /// Ctrl-X was pressed: Ctrl-E next opens $EDITOR.
    pub chord: bool,
    pub system_prompt: Option<String>,
    pub sampling: SamplingParams,
    pub attachments: Vec<Attachment>,
    /// Selected entry in the code pane.
    pub code_selected: usize,
    pub size: (u16, u16),
    pub color: bool,
    pub should_quit: bool,
    /// Conversations are being saved.
    pub history: bool,
    /// The saved conversation's id, once it has one.
    pub conversation_id: Option<i64>,
    /// Where ember was started (saved with new conversations).
    pub cwd: String,
    /// Earlier messages the last turn had to leave out of the context.
    pub dropped_messages: usize,
}

/// Layout facts `update` needs for scrolling (the view computes the same).
pub fn transcript_area(state: &AppState) -> (u16, usize) {
    let (w, h) = state.size;
    let width = if super::view::is_wide(w) { w.saturating_sub(super::view::code_pane_width(w)) } else { w };
    let reserved = super::view::composer_height(state, w) + 1;
    (width.max(1), usize::from(h.saturating_sub(reserved)).max(1))
}

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
            model_path,
            model: ModelStatus::Loading(0.0),
            transcript: Transcript::new(color),
            composer: Composer::default(),
            focus: Focus::Composer,
            overlay: None,
            scroll: Scroll::Follow,
            generating: None,
            last_turn: 0,
            last_stats: None,
            context_used: 0,
            status: None,
            quit_armed: false,
            chord: false,
            system_prompt,
            sampling,
            attachments: Vec::new(),
            code_selected: 0,
            size: (80, 24),
            color,
            should_quit: false,
            history: false,
            conversation_id: None,
            cwd: String::new(),
            dropped_messages: 0,
        }
    }

    /// Shows a stored conversation to continue it.
    pub fn resume(&mut self, conversation: &crate::store::Conversation) {
        self.conversation_id = Some(conversation.summary.id);
        if self.system_prompt.is_none() {
            self.system_prompt = conversation.system_prompt.clone();
        }
        for m in &conversation.messages {
            let (author, state) = match (m.role, m.state) {
                (StoredRole::User | StoredRole::System, _) => (Author::User, EntryState::Complete),
                (StoredRole::Assistant, MessageState::Complete) => (Author::Assistant, EntryState::Complete),
                (StoredRole::Assistant, MessageState::Stopped) => (Author::Assistant, EntryState::Stopped),
            };
            self.transcript.push(author, m.content.clone(), state);
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

    /// Shows another version of the latest message that has several (←/→ in the transcript).
    fn switch_version(&mut self, forward: bool) -> Vec<Effect> {
        if self.generating.is_some() {
            self.error("still answering: press Esc first");
            return Vec::new();
        }
        let Some(i) = self.transcript.entries().iter().rposition(|e| e.versions.is_some()) else {
            self.info("no other versions: /retry or /edit makes some");
            return Vec::new();
        };
        vec![Effect::Query(Query::Sibling { keep: self.recorded_before(i), forward })]
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
        if !self.history {
            return None;
        }
        let last = self.transcript.len().checked_sub(1)?;
        let content = self.transcript.entries()[last].content.clone();
        Some(Effect::Record(RecordOp::Append { keep: self.recorded_before(last), role, content, state, stats }))
    }

    fn model_name(&self) -> String {
        match &self.model {
            ModelStatus::Ready(info) => info.name.clone(),
            ModelStatus::Loading(_) | ModelStatus::Failed(_) => crate::models::display_name(&self.model_path),
        }
    }

    fn info(&mut self, text: impl Into<String>) {
        self.status = Some(StatusMessage { text: text.into(), error: false });
    }

    fn error(&mut self, text: impl Into<String>) {
        self.status = Some(StatusMessage { text: text.into(), error: true });
    }

    /// The conversation as the model sees it: system prompt, then finished user/assistant turns.
    pub fn conversation(&self) -> Vec<Message> {
        let mut out = Vec::with_capacity(self.transcript.len() + 1);
        if let Some(system) = self.system_prompt.as_ref().filter(|s| !s.trim().is_empty()) {
            out.push(Message::new(Role::System, system.clone()));
        }
        for entry in self.transcript.entries() {
            let role = match (entry.author, &entry.state) {
                (Author::User, _) => Role::User,
                (Author::Assistant, EntryState::Complete | EntryState::Stopped) => Role::Assistant,
                (Author::Assistant, EntryState::Streaming | EntryState::Failed(_)) | (Author::Notice, _) => continue,
            };
            out.push(Message::new(role, entry.content.clone()));
        }
        out
    }

    fn start_turn(&mut self) -> Vec<Effect> {
        self.last_turn += 1;
        let turn = self.last_turn;
        let messages = self.conversation();
        self.transcript.push(Author::Assistant, "", EntryState::Streaming);
        self.generating = Some(turn);
        self.scroll = Scroll::Follow;
        // A different seed each turn, so /retry gives another answer (still reproducible for a
        // given --seed and sequence of turns).
        let sampling = SamplingParams { seed: self.sampling.seed.wrapping_add(turn as u32), ..self.sampling.clone() };
        vec![Effect::Generate(TurnRequest { turn, messages, sampling })]
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
        if self.generating.is_some() {
            self.error("still answering: wait, or press Esc to stop it");
            return Vec::new();
        }
        if let ModelStatus::Failed(_) = self.model {
            self.error("no model is loaded: /model PATH loads one");
            return Vec::new();
        }
        self.composer.take();
        let prompt = (!text.trim().is_empty()).then_some(text.as_str());
        let content = crate::pipe::user_message(prompt, &self.attachments);
        self.attachments.clear();
        self.transcript.push(Author::User, content, EntryState::Complete);
        self.status = None;
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
        self.overlay = Some(Overlay::SavePrompt { index, path, confirm_overwrite: false });
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

    fn command(&mut self, text: &str) -> Vec<Effect> {
        let command = match commands::parse(text) {
            Ok(c) => c,
            Err(e) => {
                self.error(e);
                return Vec::new();
            }
        };
        match command {
            SlashCommand::Help => {
                self.overlay = Some(Overlay::Help);
                Vec::new()
            }
            SlashCommand::New => {
                let mut effects = Vec::new();
                if let Some(turn) = self.generating.take() {
                    effects.push(Effect::Cancel(turn));
                }
                self.transcript.clear();
                self.attachments.clear();
                self.context_used = 0;
                self.last_stats = None;
                self.scroll = Scroll::Follow;
                let leaving = self.conversation_id.take();
                self.dropped_messages = 0;
                self.info("new conversation");
                if !self.history {
                    return effects;
                }
                effects.extend(leaving.map(Effect::SaveContext));
                effects.push(Effect::Record(RecordOp::NewConversation(NewConversation {
                    model: self.model_name(),
                    system_prompt: self.system_prompt.clone(),
                    cwd: self.cwd.clone(),
                })));
                effects
            }
            SlashCommand::Model(None) => {
                let text = match &self.model {
                    ModelStatus::Ready(info) => format!(
                        "{} · ctx {} (trained {}) · {} threads · {} · {}",
                        info.name,
                        info.n_ctx,
                        info.n_ctx_train,
                        info.threads,
                        info.prompt_format,
                        info.path.display()
                    ),
                    ModelStatus::Loading(p) => format!("loading {} ({:.0}%)", self.model_path.display(), p * 100.0),
                    ModelStatus::Failed(e) => format!("failed to load: {e}"),
                };
                self.info(text);
                Vec::new()
            }
            SlashCommand::Model(Some(path)) => {
                if let Some(turn) = self.generating.take() {
                    // Its Done never comes back from the old engine: it is not saved either.
                    self.transcript.finish_last(EntryState::Failed("stopped: the model was switched".into()));
                    self.model_path = PathBuf::from(&path);
                    self.model = ModelStatus::Loading(0.0);
                    return vec![Effect::Cancel(turn), Effect::SwitchModel(PathBuf::from(path))];
                }
                self.model_path = PathBuf::from(&path);
                self.model = ModelStatus::Loading(0.0);
                vec![Effect::SwitchModel(PathBuf::from(path))]
            }
            SlashCommand::System(None) => {
                let text = match &self.system_prompt {
                    Some(s) => format!("system prompt: {s}"),
                    None => "no system prompt; /system TEXT sets one".to_string(),
                };
                self.info(text);
                Vec::new()
            }
            SlashCommand::System(Some(text)) => {
                if text == "clear" || text == "none" {
                    self.system_prompt = None;
                    self.info("system prompt cleared");
                } else {
                    self.system_prompt = Some(text);
                    self.info("system prompt set; it applies from the next answer");
                }
                Vec::new()
            }
            SlashCommand::File(path) => vec![Effect::ReadFile(path)],
            SlashCommand::Copy(n) => match self.block_index(n) {
                Some(i) => self.copy(i),
                None => Vec::new(),
            },
            SlashCommand::Save(n, path) => match (self.block_index(n), path) {
                (Some(i), Some(path)) => match self.transcript.code_blocks().get(i) {
                    Some(b) => vec![Effect::Save { path, content: b.code.clone(), overwrite: false }],
                    None => Vec::new(),
                },
                (Some(i), None) => {
                    self.ask_save(i);
                    Vec::new()
                }
                (None, _) => Vec::new(),
            },
            SlashCommand::Sessions => self.open_picker(),
            SlashCommand::Rename(title) => match self.conversation_id {
                Some(id) => vec![Effect::Query(Query::Rename(id, title))],
                None => {
                    self.error("nothing saved yet to rename");
                    Vec::new()
                }
            },
            SlashCommand::Export { json, path } => match self.conversation_id {
                Some(id) => {
                    let name =
                        path.unwrap_or_else(|| format!("ember-conversation-{id}.{}", if json { "json" } else { "md" }));
                    vec![Effect::Query(Query::Export { path: PathBuf::from(name), json })]
                }
                None => {
                    self.error("nothing saved yet to export");
                    Vec::new()
                }
            },
            SlashCommand::Retry => self.retry(),
            SlashCommand::Edit => self.edit(),
            SlashCommand::Quit => self.quit(),
        }
    }

    fn open_picker(&mut self) -> Vec<Effect> {
        if !self.history {
            self.error("history is off (--no-history, or the database could not be opened)");
            return Vec::new();
        }
        let picker = Picker {
            filter: Composer::default(),
            items: Vec::new(),
            selected: 0,
            generation: 1,
            confirm_delete: false,
            renaming: None,
        };
        self.overlay = Some(Overlay::Sessions(picker));
        vec![Effect::Query(Query::List { filter: String::new(), generation: 1 })]
    }

    fn on_history(&mut self, reply: Reply) -> Vec<Effect> {
        match reply {
            Reply::Recorded(result) => return update(self, AppEvent::Recorded(result)),
            Reply::Listed { generation, result } => {
                if let Some(Overlay::Sessions(p)) = &mut self.overlay {
                    if p.generation == generation {
                        match result {
                            Ok(items) => {
                                p.selected = p.selected.min(items.len().saturating_sub(1));
                                p.items = items;
                            }
                            Err(e) => self.status = Some(StatusMessage { text: e, error: true }),
                        }
                    }
                }
            }
            Reply::Versions(at, of) => {
                if let Some(i) = self.last_recorded_entry() {
                    self.transcript.set_versions(i, Some((at, of)));
                }
            }
            Reply::Opened(Ok(conversation)) => {
                let mut effects = Vec::new();
                if let Some(turn) = self.generating.take() {
                    effects.push(Effect::Cancel(turn));
                }
                // Another branch of the same conversation keeps the engine's context: the shared
                // prefix is reused as it is.
                let same = self.conversation_id == Some(conversation.summary.id);
                if let (Some(old), false) = (self.conversation_id, same) {
                    effects.push(Effect::SaveContext(old));
                }
                self.overlay = None;
                self.transcript.clear();
                self.attachments.clear();
                self.scroll = Scroll::Follow;
                self.dropped_messages = 0;
                self.context_used = 0;
                self.last_stats = None;
                self.resume(&conversation);
                if same {
                    self.info("showing another version: new messages continue from here");
                } else {
                    effects.push(Effect::LoadContext(conversation.summary.id));
                }
                return effects;
            }
            Reply::Opened(Err(e)) => self.error(e),
            Reply::Exported(Ok(path)) => self.info(format!("exported to {}", path.display())),
            Reply::Exported(Err(e)) => self.error(e),
            Reply::Changed(result) => {
                if let Err(e) = result {
                    self.error(e);
                }
                if let Some(Overlay::Sessions(p)) = &mut self.overlay {
                    p.generation += 1;
                    return vec![Effect::Query(Query::List {
                        filter: p.filter.text().to_string(),
                        generation: p.generation,
                    })];
                }
                self.info("renamed");
            }
        }
        Vec::new()
    }

    fn retry(&mut self) -> Vec<Effect> {
        if self.generating.is_some() {
            self.error("still answering: press Esc first");
            return Vec::new();
        }
        let entries = self.transcript.entries();
        let Some(last_user) = entries.iter().rposition(|e| e.author == Author::User) else {
            self.error("nothing to retry yet");
            return Vec::new();
        };
        self.transcript.truncate(last_user + 1);
        self.start_turn()
    }

    fn edit(&mut self) -> Vec<Effect> {
        if self.generating.is_some() {
            self.error("still answering: press Esc first");
            return Vec::new();
        }
        let Some(last_user) = self.transcript.entries().iter().rposition(|e| e.author == Author::User) else {
            self.error("no message to edit yet");
            return Vec::new();
        };
        let text = self.transcript.entries()[last_user].content.clone();
        self.transcript.truncate(last_user);
        self.composer.set_text(text);
        self.focus = Focus::Composer;
        self.info("edit the message, then Enter to send it again");
        Vec::new()
    }

    fn quit(&mut self) -> Vec<Effect> {
        self.should_quit = true;
        let mut effects = Vec::new();
        if let Some(turn) = self.generating.take() {
            effects.push(Effect::Cancel(turn));
        }
        effects.push(Effect::Quit);
        effects
    }

    fn cancel(&mut self) -> Vec<Effect> {
        match self.generating {
            Some(turn) => {
                self.info("stopping…");
                vec![Effect::Cancel(turn)]
            }
            None => Vec::new(),
        }
    }

    fn scroll_by(&mut self, up: bool, n: usize) {
        let (width, height) = transcript_area(self);
        self.scroll = if up {
            self.transcript.scroll_up(self.scroll, n, width, height)
        } else {
            self.transcript.scroll_down(self.scroll, n, width, height)
        };
    }

    fn page(&self) -> usize {
        transcript_area(self).1.saturating_sub(2).max(1)
    }
}

/// Applies one event to the state and returns the effects to run.
pub fn update(state: &mut AppState, event: AppEvent) -> Vec<Effect> {
    match event {
        AppEvent::Key(key) if key.kind == KeyEventKind::Release => Vec::new(),
        AppEvent::Key(key) => on_key(state, key),
        AppEvent::Paste(text) => {
            match &mut state.overlay {
                Some(Overlay::SavePrompt { path, .. }) => path.insert_str(text.lines().next().unwrap_or("")),
                Some(Overlay::Sessions(p)) => {
                    p.filter.insert_str(text.lines().next().unwrap_or(""));
                    p.generation += 1;
                    let query = Query::List { filter: p.filter.text().to_string(), generation: p.generation };
                    return vec![Effect::Query(query)];
                }
                Some(Overlay::Help | Overlay::CodeView { .. }) => {}
                None => {
                    state.focus = Focus::Composer;
                    state.composer.insert_str(&text);
                }
            }
            Vec::new()
        }
        AppEvent::Mouse(mouse) => {
            match mouse.kind {
                MouseEventKind::ScrollUp => state.scroll_by(true, 3),
                MouseEventKind::ScrollDown => state.scroll_by(false, 3),
                _ => {}
            }
            Vec::new()
        }
        AppEvent::Resize(w, h) => {
            state.size = (w, h);
            Vec::new()
        }
        AppEvent::Engine(event) => on_engine(state, event),
        AppEvent::EditorDone { purpose, result } => {
            match (purpose, result) {
                (EditorPurpose::Compose, Ok(text)) => {
                    state.composer.set_text(text.trim_end_matches('\n'));
                    state.focus = Focus::Composer;
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
                    state.overlay = None;
                    state.info(format!("saved {bytes} bytes to {path}"));
                }
                Err(SaveError::Exists) => {
                    if let Some(Overlay::SavePrompt { confirm_overwrite, .. }) = &mut state.overlay {
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
        AppEvent::Recorded(result) => {
            match result {
                // Replies come in order: after /new the next one is None, then the new id.
                Ok(id) => state.conversation_id = id,
                Err(e) => {
                    state.history = false;
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
            if !matches!(state.model, ModelStatus::Ready(_)) {
                state.model = ModelStatus::Loading(progress);
            }
        }
        EngineEvent::Ready(info) => {
            if let Some(notice) = &info.notice {
                state.transcript.push_before_streaming(Author::Notice, notice.clone());
            }
            state.model = ModelStatus::Ready(info);
        }
        EngineEvent::LoadFailed(error) => {
            let text = error.to_string();
            if state.generating.take().is_some() {
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
            state.model = ModelStatus::Failed(text);
        }
        EngineEvent::Prompt { .. } => {}
        EngineEvent::State { op, result } => match (op, result) {
            (crate::engine::StateOp::Load, Ok(tokens)) => {
                state.context_used = tokens;
                state.info(format!("resumed with {tokens} tokens of context already evaluated"));
            }
            (crate::engine::StateOp::Load, Err(_)) => {}
            (crate::engine::StateOp::Save, result) => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, "saving the context failed");
                }
            }
        },
        // Events of a superseded turn are dropped by id, not by timing.
        EngineEvent::Delta { turn, .. } | EngineEvent::Done { turn, .. } | EngineEvent::Failed { turn, .. }
            if Some(turn) != state.generating => {}
        EngineEvent::Delta { text, .. } => state.transcript.append(&text),
        EngineEvent::Done { stats, stop, .. } => {
            state.generating = None;
            let (entry_state, stored) = if stop == StopReason::Cancelled {
                (EntryState::Stopped, MessageState::Stopped)
            } else {
                (EntryState::Complete, MessageState::Complete)
            };
            state.transcript.finish_last(entry_state);
            state.context_used = stats.prompt_tokens + stats.generated_tokens;
            let newly_dropped = stats.dropped_messages > state.dropped_messages;
            state.dropped_messages = stats.dropped_messages;
            let record = RecordStats::from(&stats);
            let effects: Vec<Effect> =
                state.record_last(StoredRole::Assistant, stored, Some(record)).into_iter().collect();
            match stop {
                StopReason::MaxTokens => state.info("the answer was cut at the token limit"),
                StopReason::ContextFull => state.error("the context is full: /new starts afresh"),
                StopReason::Cancelled => state.info("stopped"),
                StopReason::EndOfText | StopReason::StopString => {
                    if state.status.as_ref().is_some_and(|s| !s.error) {
                        state.status = None;
                    }
                }
            }
            if newly_dropped {
                // Never forget silently: say when earlier turns leave the model's view.
                state.transcript.push(
                    Author::Notice,
                    format!(
                        "The context is full: the {} earliest messages are no longer in the model's view (they stay in the transcript and in history). /new starts afresh.",
                        stats.dropped_messages
                    ),
                    EntryState::Complete,
                );
            }
            state.last_stats = Some(stats);
            return effects;
        }
        EngineEvent::Failed { error, .. } => {
            state.generating = None;
            state.transcript.finish_last(EntryState::Failed(error.to_string()));
            state.error("the answer failed: see the transcript");
        }
    }
    Vec::new()
}

fn ctrl(key: &KeyEvent, c: char) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char(c)
}

fn on_key(state: &mut AppState, key: KeyEvent) -> Vec<Effect> {
    let chord = std::mem::take(&mut state.chord);
    if !ctrl(&key, 'c') {
        state.quit_armed = false;
    }
    // Keys every state understands first.
    if ctrl(&key, 'c') {
        if state.generating.is_some() {
            return state.cancel();
        }
        if state.overlay.take().is_some() {
            return Vec::new();
        }
        if !state.composer.is_empty() {
            state.composer.clear();
            return Vec::new();
        }
        if state.quit_armed {
            return state.quit();
        }
        state.quit_armed = true;
        state.info("press Ctrl-C again to quit");
        return Vec::new();
    }
    if let Some(overlay) = state.overlay.clone() {
        return on_overlay_key(state, overlay, key);
    }
    if ctrl(&key, 'o') {
        return state.open_picker();
    }
    match key.code {
        KeyCode::Esc => {
            if state.generating.is_some() {
                return state.cancel();
            }
            state.focus = Focus::Composer;
            return Vec::new();
        }
        KeyCode::F(1) => {
            state.overlay = Some(Overlay::Help);
            return Vec::new();
        }
        KeyCode::PageUp => {
            let page = state.page();
            state.scroll_by(true, page);
            return Vec::new();
        }
        KeyCode::PageDown => {
            let page = state.page();
            state.scroll_by(false, page);
            return Vec::new();
        }
        KeyCode::Tab | KeyCode::BackTab => {
            if key.code == KeyCode::Tab && state.focus == Focus::Composer {
                if let Some(done) = commands::complete(state.composer.text()) {
                    state.composer.set_text(done);
                    return Vec::new();
                }
            }
            let forward = key.code == KeyCode::Tab && !key.modifiers.contains(KeyModifiers::SHIFT);
            state.focus = match (state.focus, forward) {
                (Focus::Composer, true) | (Focus::CodePane, false) => Focus::Transcript,
                (Focus::Transcript, true) | (Focus::Composer, false) => Focus::CodePane,
                (Focus::CodePane, true) | (Focus::Transcript, false) => Focus::Composer,
            };
            return Vec::new();
        }
        _ => {}
    }
    match state.focus {
        Focus::Composer => on_composer_key(state, key, chord),
        Focus::Transcript => {
            match key.code {
                KeyCode::Up | KeyCode::Char('k') => state.scroll_by(true, 1),
                KeyCode::Down | KeyCode::Char('j') => state.scroll_by(false, 1),
                KeyCode::Home | KeyCode::Char('g') => state.scroll_by(true, usize::MAX / 2),
                KeyCode::End | KeyCode::Char('G') => state.scroll = Scroll::Follow,
                KeyCode::Left => return state.switch_version(false),
                KeyCode::Right => return state.switch_version(true),
                KeyCode::Char('?') => state.overlay = Some(Overlay::Help),
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    // Typing goes to the composer.
                    state.focus = Focus::Composer;
                    state.composer.insert_char(c);
                }
                _ => {}
            }
            Vec::new()
        }
        Focus::CodePane => on_code_pane_key(state, key),
    }
}

fn on_composer_key(state: &mut AppState, key: KeyEvent, chord: bool) -> Vec<Effect> {
    let c = &mut state.composer;
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    if chord && ctrl(&key, 'e') || ctrl(&key, 'g') {
        return vec![Effect::OpenEditor {
            text: c.text().to_string(),
            purpose: EditorPurpose::Compose,
            extension: "md".into(),
        }];
    }
    if ctrl(&key, 'x') {
        state.chord = true;
        return Vec::new();
    }
    if ctrl(&key, 'd') {
        if c.is_empty() && state.generating.is_none() {
            return state.quit();
        }
        c.delete();
        return Vec::new();
    }
    match key.code {
        KeyCode::Enter if alt || shift => c.insert_char('\n'),
        KeyCode::Enter => return state.send(),
        KeyCode::Char('j') if key.modifiers.contains(KeyModifiers::CONTROL) => c.insert_char('\n'),
        KeyCode::Char('a') if key.modifiers.contains(KeyModifiers::CONTROL) => c.home(),
        KeyCode::Char('e') if key.modifiers.contains(KeyModifiers::CONTROL) => c.end(),
        KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => c.kill_line_before(),
        KeyCode::Char('w') if key.modifiers.contains(KeyModifiers::CONTROL) => c.kill_word_before(),
        KeyCode::Char('?') if c.is_empty() => state.overlay = Some(Overlay::Help),
        KeyCode::Char(ch) if !key.modifiers.contains(KeyModifiers::CONTROL) => c.insert_char(ch),
        KeyCode::Backspace => c.backspace(),
        KeyCode::Delete => c.delete(),
        KeyCode::Left => c.left(),
        KeyCode::Right => c.right(),
        KeyCode::Up => c.up(),
        KeyCode::Down => c.down(),
        KeyCode::Home => c.home(),
        KeyCode::End => c.end(),
        _ => {}
    }
    Vec::new()
}

fn on_code_pane_key(state: &mut AppState, key: KeyEvent) -> Vec<Effect> {
    let count = state.transcript.code_blocks().len();
    if count == 0 {
        if let KeyCode::Char(ch) = key.code {
            if ch != '?' {
                state.focus = Focus::Composer;
                state.composer.insert_char(ch);
            } else {
                state.overlay = Some(Overlay::Help);
            }
        }
        return Vec::new();
    }
    state.code_selected = state.code_selected.min(count - 1);
    let i = state.code_selected;
    match key.code {
        KeyCode::Up | KeyCode::Char('k') => state.code_selected = i.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => state.code_selected = (i + 1).min(count - 1),
        KeyCode::Home => state.code_selected = 0,
        KeyCode::End => state.code_selected = count - 1,
        KeyCode::Char('c') | KeyCode::Char('y') => return state.copy(i),
        KeyCode::Char('s') => state.ask_save(i),
        KeyCode::Char('e') => return state.open_in_editor(i),
        KeyCode::Enter | KeyCode::Char('v') => state.overlay = Some(Overlay::CodeView { index: i, scroll: 0 }),
        KeyCode::Char('?') => state.overlay = Some(Overlay::Help),
        _ => {}
    }
    Vec::new()
}

fn on_picker_key(state: &mut AppState, mut p: Picker, key: KeyEvent) -> Vec<Effect> {
    let control = key.modifiers.contains(KeyModifiers::CONTROL);
    let selected_id = p.items.get(p.selected).map(|i| i.summary.id);
    if let Some(mut name) = p.renaming.take() {
        let mut effects = Vec::new();
        match key.code {
            KeyCode::Esc => {}
            KeyCode::Enter => {
                if let Some(id) = selected_id {
                    effects.push(Effect::Query(Query::Rename(id, name.text().trim().to_string())));
                }
            }
            KeyCode::Char(ch) if !control => {
                name.insert_char(ch);
                p.renaming = Some(name);
            }
            KeyCode::Backspace => {
                name.backspace();
                p.renaming = Some(name);
            }
            _ => p.renaming = Some(name),
        }
        state.overlay = Some(Overlay::Sessions(p));
        return effects;
    }
    let was_confirming = std::mem::take(&mut p.confirm_delete);
    let mut refilter = false;
    let mut effects = Vec::new();
    match key.code {
        KeyCode::Esc => {
            state.overlay = None;
            return Vec::new();
        }
        KeyCode::Enter => {
            if let Some(id) = selected_id {
                effects.push(Effect::Query(Query::Open(id)));
            }
        }
        KeyCode::Up => p.selected = p.selected.saturating_sub(1),
        KeyCode::Down => p.selected = (p.selected + 1).min(p.items.len().saturating_sub(1)),
        KeyCode::PageUp => p.selected = p.selected.saturating_sub(10),
        KeyCode::PageDown => p.selected = (p.selected + 10).min(p.items.len().saturating_sub(1)),
        KeyCode::Char('d') if control => match (selected_id, was_confirming) {
            (Some(id), true) => {
                if state.conversation_id == Some(id) {
                    // What is on screen goes on as a new conversation.
                    state.conversation_id = None;
                }
                effects.push(Effect::Query(Query::Delete(id)));
            }
            (Some(_), false) => {
                p.confirm_delete = true;
                state.error("Ctrl-D again deletes this conversation");
            }
            (None, _) => {}
        },
        KeyCode::Char('r') if control => {
            if let Some(item) = p.items.get(p.selected) {
                let mut name = Composer::default();
                name.set_text(item.summary.title.clone());
                p.renaming = Some(name);
            }
        }
        KeyCode::Char(ch) if !control => {
            p.filter.insert_char(ch);
            refilter = true;
        }
        KeyCode::Backspace => {
            p.filter.backspace();
            refilter = true;
        }
        _ => {}
    }
    if refilter {
        p.generation += 1;
        p.selected = 0;
        effects.push(Effect::Query(Query::List { filter: p.filter.text().to_string(), generation: p.generation }));
    }
    state.overlay = Some(Overlay::Sessions(p));
    effects
}

fn on_overlay_key(state: &mut AppState, overlay: Overlay, key: KeyEvent) -> Vec<Effect> {
    match overlay {
        Overlay::Sessions(picker) => on_picker_key(state, picker, key),
        Overlay::Help => {
            state.overlay = None;
            Vec::new()
        }
        Overlay::CodeView { index, scroll } => {
            let lines = state.transcript.code_blocks().get(index).map_or(0, |b| b.code.lines().count());
            let page = usize::from(state.size.1.saturating_sub(3)).max(1);
            let max = lines.saturating_sub(1);
            let scroll = match key.code {
                KeyCode::Esc | KeyCode::Char('q') => {
                    state.overlay = None;
                    return Vec::new();
                }
                KeyCode::Char('c') | KeyCode::Char('y') => return state.copy(index),
                KeyCode::Char('s') => {
                    state.ask_save(index);
                    return Vec::new();
                }
                KeyCode::Char('e') => return state.open_in_editor(index),
                KeyCode::Up | KeyCode::Char('k') => scroll.saturating_sub(1),
                KeyCode::Down | KeyCode::Char('j') => (scroll + 1).min(max),
                KeyCode::PageUp => scroll.saturating_sub(page),
                KeyCode::PageDown | KeyCode::Char(' ') => (scroll + page).min(max),
                KeyCode::Home => 0,
                KeyCode::End => max,
                _ => scroll,
            };
            state.overlay = Some(Overlay::CodeView { index, scroll });
            Vec::new()
        }
        Overlay::SavePrompt { index, mut path, confirm_overwrite } => {
            match key.code {
                KeyCode::Esc => {
                    state.overlay = None;
                    return Vec::new();
                }
                KeyCode::Enter => {
                    let target = path.text().trim().to_string();
                    if target.is_empty() {
                        state.error("type a file name");
                        return Vec::new();
                    }
                    let Some(block) = state.transcript.code_blocks().get(index) else {
                        state.overlay = None;
                        return Vec::new();
                    };
                    let content = block.code.clone();
                    state.overlay = Some(Overlay::SavePrompt { index, path, confirm_overwrite });
                    return vec![Effect::Save { path: target, content, overwrite: confirm_overwrite }];
                }
                KeyCode::Char(ch) if !key.modifiers.contains(KeyModifiers::CONTROL) => path.insert_char(ch),
                KeyCode::Char('u') => path.clear(),
                KeyCode::Backspace => path.backspace(),
                KeyCode::Delete => path.delete(),
                KeyCode::Left => path.left(),
                KeyCode::Right => path.right(),
                KeyCode::Home => path.home(),
                KeyCode::End => path.end(),
                _ => {}
            }
            // Editing the name asks again before overwriting.
            state.overlay = Some(Overlay::SavePrompt { index, path, confirm_overwrite: false });
            Vec::new()
        }
    }
}
