//! `!command` in the composer: runs a shell command off the render path (`Effect::RunCommand`)
//! and attaches its output and exit status to the next message; Esc stops it.

use super::attached::{estimated_tokens, Tokens};
use super::{AppState, Effect};
use crate::conversation::Attachment;
use crate::render::sanitize;
use crate::tui::shell::{CommandOutput, Ending};
use crate::tui::transcript::{Author, EntryState};

/// The command running, if any.
#[derive(Debug, Default)]
pub struct Commands {
    /// Its id and text.
    pub running: Option<(u64, String)>,
    last: u64,
}

/// A command on one line, for labels and the status line.
fn one_line(command: &str) -> String {
    command.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl AppState {
    /// `!command` was sent: run it (one at a time).
    pub(super) fn run_command(&mut self, text: &str) -> Vec<Effect> {
        let command = text.trim_start_matches('!').trim();
        if command.is_empty() {
            self.error("type a command after the !, e.g. !git diff --staged");
            return Vec::new();
        }
        if let Some((_, running)) = &self.commands.running {
            self.error(format!("!{} is still running: Esc stops it", one_line(running)));
            return Vec::new();
        }
        let command = command.to_string();
        self.composer.take();
        self.commands.last += 1;
        let id = self.commands.last;
        self.commands.running = Some((id, command.clone()));
        self.info(format!("running !{}… Esc stops it", one_line(&command)));
        vec![Effect::RunCommand { id, command }]
    }

    /// Esc while a command runs stops it; `None` when none runs.
    pub(super) fn stop_command(&mut self) -> Option<Vec<Effect>> {
        let (id, command) = self.commands.running.as_ref()?;
        let effect = Effect::StopCommand(*id);
        let text = format!("stopping !{}…", one_line(command));
        self.info(text);
        Some(vec![effect])
    }

    /// The command ended: its output and exit status go with the next message, unless they
    /// cannot fit (then the transcript says so, with the counts).
    pub(super) fn on_command_done(&mut self, id: u64, output: CommandOutput) {
        let Some((running, command)) = self.commands.running.take() else { return };
        if running != id {
            self.commands.running = Some((running, command));
            return;
        }
        let command = one_line(&command);
        if let Ending::NotStarted(why) = &output.ending {
            self.error(format!("!{command}: {why}"));
            return;
        }
        let label = format!("$ {command} ({})", output.ending);
        let tokens = estimated_tokens(&output.text);
        let others = self.attachments.total();
        if let Some((short, full)) =
            self.cannot_fit(&format!("the output of !{command}"), Tokens::Estimated(tokens), others)
        {
            self.transcript.push(Author::Notice, full, EntryState::Complete);
            self.error(short);
            return;
        }
        let cut = if output.cut > 0 { format!(", {} bytes cut", output.cut) } else { String::new() };
        self.info(format!(
            "!{command}: {}{cut}; output attached (about {tokens} tokens) to your next message",
            output.ending
        ));
        self.attachments
            .push(Attachment { label, text: sanitize(&output.text).into_owned() }, Tokens::Estimated(tokens));
    }
}
