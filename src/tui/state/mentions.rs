//! `@` mentions in the composer: the file finder popup while a mention is typed (listing off the
//! render path, fuzzy ranking, Tab or Enter picks), what they will cost shown before sending, and
//! the files read and attached when the message is sent.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::attached::{estimated_tokens, Tokens};
use super::{AppState, Effect, Focus};
use crate::conversation::mention;
use crate::conversation::Attachment;
use crate::tui::finder::{self, FileList};
use crate::tui::transcript::{Author, EntryState};

/// Rows the finder shows.
pub const FINDER_ROWS: usize = 8;

/// The file finder's state.
#[derive(Debug, Default)]
pub struct Finder {
    /// The working directory's files, as last listed.
    pub list: FileList,
    /// A listing has been asked for and not come back yet.
    pub listing: bool,
    /// The best matches for what is typed (indices into `list`), best first.
    pub matches: Vec<usize>,
    pub selected: usize,
    /// Where the mention being completed starts (after its `@`): a new mention lists again.
    open_at: Option<usize>,
    /// The mention Esc closed the finder for.
    dismissed: Option<usize>,
    /// The message whose mentioned files are being read before it is sent.
    pub sending: Option<String>,
    /// What the mentions will take, as the composer shows it, and the composer text that was
    /// for: recomputed when the text or the file list changes, not on every frame.
    mention_summary: Vec<String>,
    summary_for: Option<String>,
}

/// One mention's file, read for sending: `None` when no such file exists (the text stays).
pub type MentionRead = Result<Option<(Attachment, Option<String>)>, String>;

impl AppState {
    /// The mention being typed at the cursor (where it starts after the `@`, and what follows
    /// the `@`) while the finder is open for it.
    pub fn finder_query(&self) -> Option<(usize, &str)> {
        self.mention_at_cursor().filter(|(at, _)| self.finder.dismissed != Some(*at))
    }

    /// The mention being typed at the cursor, whether or not Esc closed the finder for it.
    fn mention_at_cursor(&self) -> Option<(usize, &str)> {
        let text = self.composer.text();
        if self.ui.focus != Focus::Composer || self.ui.overlay.is_some() || text.starts_with(['/', '!']) {
            return None;
        }
        let before = &text[..self.composer.cursor()];
        let word_start =
            before.rfind(char::is_whitespace).map_or(0, |i| i + before[i..].chars().next().map_or(1, char::len_utf8));
        let query = before[word_start..].strip_prefix('@')?;
        let at = word_start + 1;
        (!query.contains('#')).then_some((at, query))
    }

    /// After the composer changed: open the finder (listing the files again) for a new
    /// mention, and rank the files for what is typed.
    pub(super) fn after_composer_edit(&mut self) -> Vec<Effect> {
        let open = self.finder_query().map(|(at, q)| (at, q.to_string()));
        let mut effects = Vec::new();
        let at = open.as_ref().map(|(at, _)| *at);
        if at != self.finder.open_at {
            self.finder.open_at = at;
            if at.is_some() && !self.finder.listing {
                self.finder.listing = true;
                effects.push(Effect::ListFiles);
            }
        }
        if self.finder.dismissed.is_some() && self.finder.dismissed != self.mention_at_cursor().map(|(at, _)| at) {
            self.finder.dismissed = None;
        }
        let matches = open.map_or_else(Vec::new, |(_, q)| finder::best(&q, &self.finder.list.files, FINDER_ROWS));
        if matches != self.finder.matches {
            self.finder.selected = 0;
            self.finder.matches = matches;
        }
        effects
    }

    /// The working directory's files came back.
    pub(super) fn on_files_listed(&mut self, list: FileList) {
        self.finder.listing = false;
        self.finder.list = list;
        self.finder.matches.clear();
        self.finder.summary_for = None;
        let _ = self.after_composer_edit();
    }

    /// Keys while the finder is open: ↑↓ choose, Tab or Enter pick, Esc closes it. `None` for
    /// other keys (they edit the message).
    pub(super) fn on_finder_key(&mut self, key: KeyEvent) -> Option<Vec<Effect>> {
        let (at, query_len) = self.finder_query().map(|(at, q)| (at, q.len()))?;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let count = self.finder.matches.len();
        match key.code {
            KeyCode::Esc => self.finder.dismissed = Some(at),
            KeyCode::Up => self.finder.selected = self.finder.selected.saturating_sub(1),
            KeyCode::Char('p') if ctrl => self.finder.selected = self.finder.selected.saturating_sub(1),
            KeyCode::Down => self.finder.selected = (self.finder.selected + 1).min(count.saturating_sub(1)),
            KeyCode::Char('n') if ctrl => {
                self.finder.selected = (self.finder.selected + 1).min(count.saturating_sub(1))
            }
            KeyCode::Tab | KeyCode::Enter if key.modifiers.is_empty() && count > 0 => {
                let index = self.finder.matches[self.finder.selected.min(count - 1)];
                let path = self.finder.list.files[index].0.clone();
                self.composer.replace(at..at + query_len, &format!("{path} "));
                return Some(self.after_composer_edit());
            }
            _ => return None,
        }
        Some(Vec::new())
    }

    /// What goes with the next message, as the composer shows it: the attached files and
    /// command outputs, and the files mentioned so far, each with about how many tokens it takes
    /// (a mention's from the file's size; a line range's is not known before it is read).
    pub fn attachment_summary(&self) -> Vec<String> {
        let mut out: Vec<String> =
            self.attachments.iter().map(|(a, tokens)| format!("{} ({})", a.label, tokens.describe())).collect();
        out.extend(self.finder.mention_summary.iter().cloned());
        out
    }

    /// Recomputes the mentions' part of [`Self::attachment_summary`] when the composer's text
    /// changed since (`update` calls it after every event; the view only reads it).
    pub(super) fn refresh_mention_summary(&mut self) {
        if self.finder.summary_for.as_deref() == Some(self.composer.text()) {
            return;
        }
        self.finder.mention_summary = self.mention_summary();
        self.finder.summary_for = Some(self.composer.text().to_string());
    }

    /// The files mentioned in the composer, each with about how many tokens it takes.
    fn mention_summary(&self) -> Vec<String> {
        if self.composer.text().starts_with(['/', '!']) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (_, token) in mention::find(self.composer.text()) {
            let Ok(m) = mention::parse(token) else { continue };
            let Some((_, size)) = self.finder.list.files.iter().find(|(p, _)| *p == m.path) else { continue };
            out.push(match m.lines {
                Some(_) => format!("@{}", m.label()),
                None => {
                    let about = Tokens::Estimated(super::attached::tokens_in_bytes(*size));
                    format!("@{} ({})", m.path, about.describe())
                }
            });
        }
        out
    }

    /// Sending a message that mentions files: they are read first (off the render path), then
    /// [`Self::on_mentions_read`] sends it. `None` when the message mentions nothing.
    pub(super) fn read_mentions(&mut self, text: &str) -> Option<Vec<Effect>> {
        if text.starts_with(['/', '!']) {
            return None;
        }
        let tokens: Vec<String> = mention::find(text).into_iter().map(|(_, t)| t.to_string()).collect();
        if tokens.is_empty() {
            return None;
        }
        if self.finder.sending.is_some() {
            return Some(Vec::new());
        }
        self.finder.sending = Some(text.to_string());
        self.info("reading the files you mentioned…");
        Some(vec![Effect::ReadMentions { text: text.to_string(), tokens }])
    }

    /// The mentioned files were read: attach them and send, or say why not and keep the message.
    pub(super) fn on_mentions_read(&mut self, text: &str, results: Vec<(String, MentionRead)>) -> Vec<Effect> {
        if self.finder.sending.take().as_deref() != Some(text) || self.composer.text() != text {
            self.info("the message changed while its files were read: Enter sends it");
            return Vec::new();
        }
        if self.turns.generating.is_some() {
            self.error("still answering: wait, or press Esc to stop it");
            return Vec::new();
        }
        let before = self.attachments.len();
        let mut missing = Vec::new();
        let mut warnings = Vec::new();
        for (token, result) in results {
            let refusal = match result {
                Ok(Some((attachment, warning))) => {
                    let tokens = estimated_tokens(&attachment.text);
                    let label = attachment.label.clone();
                    warnings.extend(warning);
                    let refused =
                        self.cannot_fit(&format!("@{label}"), Tokens::Estimated(tokens), self.attachments.total());
                    self.attachments.push(attachment, Tokens::Estimated(tokens));
                    refused
                }
                Ok(None) => {
                    missing.push(format!("@{token}"));
                    continue;
                }
                Err(e) => Some((format!("not sent: {e}"), format!("Not sent: {e}."))),
            };
            if let Some((short, full)) = refusal {
                // Nothing is sent and nothing is lost: the message and earlier files stay.
                self.attachments.truncate(before);
                self.transcript.push(Author::Notice, full, EntryState::Complete);
                self.error(short);
                return Vec::new();
            }
        }
        let effects = self.send_now(text);
        if !missing.is_empty() {
            self.info(format!("sent as text, no such file: {}", missing.join(", ")));
        }
        if !warnings.is_empty() {
            self.error(warnings.join("; "));
        }
        effects
    }
}
