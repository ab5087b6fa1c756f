//! Slash commands: one handler each (/retry and /edit among them).

use std::path::PathBuf;

use super::{AppState, Effect, Focus, ModelStatus, Overlay, Scroll};
use crate::engine::Reasoning;
use crate::store::recorder::{Query, RecordOp};
use crate::store::NewConversation;
use crate::tui::slash_table::{self, SlashCommand};
use crate::tui::transcript::{Author, EntryState};

impl AppState {
    pub(super) fn command(&mut self, text: &str) -> Vec<Effect> {
        let command = match slash_table::parse(text) {
            Ok(c) => c,
            Err(e) => {
                self.error(e);
                return Vec::new();
            }
        };
        match command {
            SlashCommand::Help => {
                self.ui.overlay = Some(Overlay::Help);
                Vec::new()
            }
            SlashCommand::New => self.new_conversation(),
            SlashCommand::Model(None) => self.say(self.model_facts()),
            SlashCommand::Model(Some(name)) => self.switch_model(name),
            SlashCommand::Ctx(size) => self.context_size(size),
            SlashCommand::System(None) => self.say(self.system_prompt_facts()),
            SlashCommand::System(Some(text)) => {
                self.set_system_prompt(text);
                Vec::new()
            }
            SlashCommand::Role(None) => self.say(self.role_names()),
            SlashCommand::Role(Some(name)) => {
                self.switch_role(&name);
                Vec::new()
            }
            SlashCommand::Think(None) => self.say(self.reasoning_facts()),
            SlashCommand::Think(Some(setting)) => {
                self.set_reasoning(setting);
                Vec::new()
            }
            SlashCommand::Schema(arg) => self.schema_command(arg),
            SlashCommand::File(path) => vec![Effect::ReadFile(path)],
            SlashCommand::Copy(n) => match self.block_index(n.unwrap_or(self.transcript.code_blocks().len())) {
                Some(i) => self.copy(i),
                None => Vec::new(),
            },
            SlashCommand::Save(n, path) => self.save_block(n, path),
            SlashCommand::Apply(n, path) => match self.block_index(n) {
                Some(i) => self.apply_block(i, path),
                None => Vec::new(),
            },
            SlashCommand::Fold(Some(n)) => {
                if let Some(i) = self.block_index(n) {
                    self.toggle_fold(i);
                }
                Vec::new()
            }
            SlashCommand::Fold(None) => {
                self.toggle_folds_in_view();
                Vec::new()
            }
            SlashCommand::Undo => self.undo(),
            SlashCommand::Sessions => self.open_picker(),
            SlashCommand::Rename(title) => self.rename(title),
            SlashCommand::Export { json, path } => self.export(json, path),
            SlashCommand::Pin => self.toggle_pin(),
            SlashCommand::Retry => self.retry(),
            SlashCommand::Edit => self.edit(),
            SlashCommand::Quit => self.quit(),
        }
    }

    /// Says `text` in the status line; nothing else happens.
    fn say(&mut self, text: String) -> Vec<Effect> {
        self.info(text);
        Vec::new()
    }

    /// `/new`: an empty transcript; the conversation left keeps its saved context.
    fn new_conversation(&mut self) -> Vec<Effect> {
        let mut effects = Vec::new();
        if let Some(turn) = self.turns.generating.take() {
            effects.push(Effect::Cancel(turn));
        }
        self.transcript.clear();
        self.attachments.clear();
        self.turns.context_used = 0;
        self.turns.last_stats = None;
        self.ui.scroll = Scroll::Follow;
        let leaving = self.session.conversation_id.take();
        self.turns.dropped_messages = 0;
        self.info("new conversation");
        if !self.session.saving {
            return effects;
        }
        effects.extend(leaving.map(Effect::SaveContext));
        effects.push(Effect::Record(RecordOp::NewConversation(NewConversation {
            model: self.model_name(),
            system_prompt: self.session.system_prompt.clone(),
            cwd: self.session.cwd.clone(),
        })));
        effects
    }

    /// `/model`: the model's facts, or how its loading goes.
    fn model_facts(&self) -> String {
        match &self.session.model {
            // A server's model has no local threads: say where it runs instead.
            ModelStatus::Ready(info) if info.threads == 0 => {
                format!("{} · ctx {} · {} · {}", info.name, info.n_ctx, info.prompt_format, info.devices.join(", "))
            }
            ModelStatus::Ready(info) => format!(
                "{} · ctx {} (trained {}) · {} threads · {} · {}",
                info.name,
                info.n_ctx,
                info.n_ctx_train,
                info.threads,
                info.prompt_format,
                info.path.display()
            ),
            ModelStatus::Loading(p) => {
                format!("loading {} ({:.0}%)", self.session.model_path.display(), p * 100.0)
            }
            ModelStatus::Failed(e) => format!("failed to load: {e}"),
        }
    }

    fn system_prompt_facts(&self) -> String {
        match &self.session.system_prompt {
            Some(s) => format!("system prompt: {s}"),
            None => "no system prompt; /system TEXT sets one".to_string(),
        }
    }

    /// `/system TEXT`, or `/system clear`.
    fn set_system_prompt(&mut self, text: String) {
        if text == "clear" || text == "none" {
            self.session.system_prompt = None;
            self.info("system prompt cleared");
        } else {
            self.session.system_prompt = Some(text);
            self.info("system prompt set; it applies from the next answer");
        }
    }

    /// `/role`: the roles, the one in use in brackets.
    fn role_names(&self) -> String {
        let roles = &self.session.roles;
        let names: Vec<String> = roles
            .roles
            .iter()
            .map(|r| if r.name == roles.current { format!("[{}]", r.name) } else { r.name.clone() })
            .collect();
        format!("roles: {} · /role NAME switches", names.join(" "))
    }

    /// `/think`: the reasoning setting, and what this model does with it.
    fn reasoning_facts(&self) -> String {
        let model = match &self.session.model {
            ModelStatus::Ready(info) => format!(" · this model: {}", info.reasoning_format),
            ModelStatus::Loading(_) | ModelStatus::Failed(_) => String::new(),
        };
        match self.reasoning_notice() {
            Some(notice) => format!("reasoning {} · {notice}", self.session.sampling.reasoning.as_str()),
            None => format!(
                "reasoning {}{model} · /think on|off|auto|low|medium|high sets it",
                self.session.sampling.reasoning.as_str()
            ),
        }
    }

    /// `/think SETTING`: from the next answer, and kept over role switches.
    fn set_reasoning(&mut self, setting: Reasoning) {
        self.session.sampling.reasoning = setting;
        self.session.reasoning_chosen = true;
        let text = match self.reasoning_notice() {
            Some(notice) => notice,
            None => format!("reasoning {} from the next answer", setting.as_str()),
        };
        self.info(text);
    }

    /// `/save N [PATH]`: saves at once with a path, else asks for one.
    fn save_block(&mut self, number: usize, path: Option<String>) -> Vec<Effect> {
        match (self.block_index(number), path) {
            (Some(i), Some(path)) => match self.transcript.code_blocks().get(i) {
                Some(b) => vec![Effect::Save { path, content: b.code.clone(), overwrite: false }],
                None => Vec::new(),
            },
            (Some(i), None) => {
                self.ask_save(i);
                Vec::new()
            }
            (None, _) => Vec::new(),
        }
    }

    /// `/rename TITLE`.
    fn rename(&mut self, title: String) -> Vec<Effect> {
        match self.session.conversation_id {
            Some(id) => vec![Effect::Query(Query::Rename(id, title))],
            None => {
                self.error("nothing saved yet to rename");
                Vec::new()
            }
        }
    }

    /// `/export [--json] [PATH]`.
    fn export(&mut self, json: bool, path: Option<String>) -> Vec<Effect> {
        match self.session.conversation_id {
            Some(id) => {
                let name =
                    path.unwrap_or_else(|| format!("ember-conversation-{id}.{}", if json { "json" } else { "md" }));
                vec![Effect::Query(Query::Export { path: PathBuf::from(name), json })]
            }
            None => {
                self.error("nothing saved yet to export");
                Vec::new()
            }
        }
    }

    /// `/pin`: the last user message (and so its turn) stays in the context when older turns
    /// have to leave it; again, it no longer does.
    fn toggle_pin(&mut self) -> Vec<Effect> {
        let entries = self.transcript.entries();
        let Some(i) = entries.iter().rposition(|e| e.author == Author::User) else {
            self.error("nothing to pin yet: /pin keeps your last message in the context");
            return Vec::new();
        };
        let pinned = !entries[i].pinned;
        // Its position among the saved messages of the branch.
        let index = entries[..i]
            .iter()
            .filter(|e| {
                matches!(
                    (e.author, &e.state),
                    (Author::User, _) | (Author::Assistant, EntryState::Complete | EntryState::Stopped)
                )
            })
            .count();
        self.transcript.set_pinned(i, pinned);
        self.info(if pinned { "pinned: this turn stays in the context when older ones leave it" } else { "unpinned" });
        if self.session.saving {
            return vec![Effect::Record(RecordOp::Pin { index, pinned })];
        }
        Vec::new()
    }

    /// `/role NAME`: its system prompt and sampling settings from the next answer on.
    fn switch_role(&mut self, name: &str) {
        let Some(role) = self.session.roles.roles.iter().find(|r| r.name == name).cloned() else {
            let known: Vec<&str> = self.session.roles.roles.iter().map(|r| r.name.as_str()).collect();
            self.error(format!("no role named {name:?}; the roles are: {}", known.join(", ")));
            return;
        };
        if role.takes_input() {
            self.error(format!("role {name:?} is a template for one question ({{{{input}}}}): use it in pipe mode"));
            return;
        }
        match role.apply(&self.session.roles.vars, None) {
            Ok(applied) => {
                let seed = self.session.sampling.seed;
                let reasoning = self.session.sampling.reasoning;
                self.session.sampling =
                    crate::config::resolve::sampling_with(&self.session.roles.base, &role, &self.session.roles.flags);
                self.session.sampling.seed = seed;
                if self.session.reasoning_chosen {
                    // /think is the chat's own choice: a role does not undo it.
                    self.session.sampling.reasoning = reasoning;
                }
                self.session.system_prompt = applied.system;
                self.session.roles.current = role.name.clone();
                self.info(format!("role {}: {} (from the next answer)", role.name, role.description));
            }
            Err(e) => self.error(e.to_string()),
        }
    }

    fn retry(&mut self) -> Vec<Effect> {
        if self.turns.generating.is_some() {
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
        if self.turns.generating.is_some() {
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
        self.ui.focus = Focus::Composer;
        self.info("edit the message, then Enter to send it again");
        Vec::new()
    }
}
