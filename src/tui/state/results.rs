//! What effects yield, back as events: $EDITOR's text, a file read, a file saved, a copy, the
//! history thread's writes.

use super::attached::{estimated_tokens, Tokens};
use super::{AppState, EditorPurpose, Effect, Focus, ModelStatus, Overlay, SaveError};
use crate::conversation::attach::user_message;
use crate::conversation::Attachment;
use crate::engine::fit::reply_room;
use crate::engine::Countable;
use crate::tui::transcript::{Author, EntryState};

/// The smallest context (a multiple of 1024, up to `n_ctx_train`) that holds `tokens` of
/// attachments, a question and the reply's room; `None` when even the trained size cannot.
pub fn context_that_fits(tokens: usize, max_tokens: usize, n_ctx_train: usize) -> Option<usize> {
    (1..=n_ctx_train.div_ceil(1024)).map(|k| (k * 1024).min(n_ctx_train)).find(|&n| fits(tokens, max_tokens, n))
}

/// Whether `tokens` of attachments fit in a context of `n_ctx` with room for the template, the
/// system prompt, the question and the reply.
fn fits(tokens: usize, max_tokens: usize, n_ctx: usize) -> bool {
    const AROUND: usize = 256;
    tokens + AROUND + reply_room(max_tokens, n_ctx) <= n_ctx
}

impl AppState {
    pub(super) fn on_editor_done(&mut self, purpose: EditorPurpose, result: Result<String, String>) {
        match (purpose, result) {
            (EditorPurpose::Compose, Ok(text)) => {
                self.composer.set_text(text.trim_end_matches('\n'));
                self.ui.focus = Focus::Composer;
            }
            (EditorPurpose::ViewCode, Ok(_)) => {}
            (_, Err(e)) => self.error(format!("editor: {e}")),
        }
    }

    /// A file read for `/file`: attached with an estimate of its size, refused at once when
    /// even that cannot fit, and counted by the engine (answered by [`Self::on_counted`]).
    pub(super) fn on_file_read(
        &mut self,
        path: &str,
        result: Result<(Attachment, Option<String>), String>,
    ) -> Vec<Effect> {
        let (attachment, warning) = match result {
            Ok(read) => read,
            Err(e) => {
                self.error(e);
                return Vec::new();
            }
        };
        let estimate = estimated_tokens(&attachment.text);
        if self.refuse_if_too_large(path, Tokens::Estimated(estimate), self.attachments.total()) {
            return Vec::new();
        }
        let count = self.turns.next_count();
        let block = user_message(None, std::slice::from_ref(&attachment));
        self.attachments.push(attachment, Tokens::About { estimate, count });
        match warning {
            Some(w) => self.error(w),
            None => self.info(format!("attached {path} (about {estimate} tokens): it goes with your next message")),
        }
        vec![Effect::Count(count, Countable::Text(block))]
    }

    /// The engine's count of an attachment's tokens: shown, and the file taken back out when
    /// it cannot fit after all.
    pub(super) fn on_attachment_counted(&mut self, index: usize, tokens: Result<usize, String>) {
        let Some(Tokens::About { estimate, .. }) = self.attachments.iter().nth(index).map(|(_, t)| t) else {
            return;
        };
        let tokens = tokens.map_or(Tokens::Estimated(estimate), Tokens::Counted);
        let others = self.attachments.total() - estimate;
        let label = self.attachments.files()[index].label.clone();
        if self.refuse_if_too_large(&label, tokens, others) {
            self.attachments.remove(index);
            return;
        }
        self.attachments.set_tokens(index, tokens);
        if let Tokens::Counted(_) = tokens {
            self.info(format!("attached {label}: {}, it goes with your next message", tokens.describe()));
        }
    }

    /// Refuses a file of `tokens` that cannot go with the next message (with `others` tokens
    /// of files attached, in this context, with room for the reply): the reason in the
    /// transcript and the status line. Returns whether it was refused.
    fn refuse_if_too_large(&mut self, path: &str, tokens: Tokens, others: usize) -> bool {
        match self.cannot_fit(path, tokens, others) {
            Some((short, full)) => {
                // The whole reason in the transcript: the status line is too narrow for it.
                self.transcript.push(Author::Notice, full, EntryState::Complete);
                self.error(short);
                true
            }
            None => false,
        }
    }

    /// Why a file of `tokens` cannot go with the next message (with `others` tokens of files
    /// already attached, in this context and with room for the reply), and what to do, for the
    /// status line and in full; `None` if it fits.
    pub(super) fn cannot_fit(&self, path: &str, tokens: Tokens, others: usize) -> Option<(String, String)> {
        let ModelStatus::Ready(info) = &self.session.model else {
            return None;
        };
        let total = tokens.value() + others;
        let max_tokens = self.session.sampling.max_tokens;
        if fits(total, max_tokens, info.n_ctx) {
            return None;
        }
        let with = if others > 0 { " with the files already attached" } else { "" };
        let (short, advice) = match context_that_fits(total, max_tokens, info.n_ctx_train) {
            Some(n) if info.threads > 0 => {
                (format!("/ctx {n} would fit it"), format!("/ctx {n} would fit it, or attach a smaller file"))
            }
            Some(_) | None => (
                "attach a smaller file".to_string(),
                format!("attach a smaller file or part of it (this model was trained on {} tokens)", info.n_ctx_train),
            ),
        };
        let full = format!(
            "Not attached: {path} is {} and{with} cannot fit in the context of {} with room for a reply; {advice}.",
            tokens.describe(),
            info.n_ctx
        );
        Some((format!("not attached: too large for the context of {} · {short}", info.n_ctx), full))
    }

    pub(super) fn on_saved(&mut self, path: &str, result: Result<usize, SaveError>) {
        match result {
            Ok(bytes) => {
                self.ui.overlay = None;
                self.info(format!("saved {bytes} bytes to {path}"));
            }
            Err(SaveError::Exists) => {
                if let Some(Overlay::SavePrompt { confirm_overwrite, .. }) = &mut self.ui.overlay {
                    *confirm_overwrite = true;
                    self.error(format!("{path} exists: Enter again to overwrite, or change the name"));
                } else {
                    self.error(format!("{path} exists: /save N PATH with another name"));
                }
            }
            Err(SaveError::Other(e)) => self.error(format!("cannot save {path}: {e}")),
        }
    }

    pub(super) fn on_copied(&mut self, number: usize, result: Result<String, String>) {
        match result {
            Ok(how) => self.info(format!("code block {number} {how}")),
            Err(e) => self.error(format!("code block {number} {e}")),
        }
    }

    pub(super) fn on_recorded(&mut self, result: Result<Option<i64>, String>) {
        match result {
            // Replies come in order: after /new the next one is None, then the new id.
            Ok(id) => self.session.conversation_id = id,
            Err(e) => {
                self.session.saving = false;
                self.error(format!("history is off for this session: {e}"));
            }
        }
    }
}
