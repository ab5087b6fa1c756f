//! What effects yield, back as events: $EDITOR's text, a file read, a file saved, a copy, the
//! history thread's writes.

use super::{AppState, EditorPurpose, Focus, Overlay, SaveError};
use crate::conversation::Attachment;

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

    pub(super) fn on_file_read(&mut self, path: &str, result: Result<(Attachment, Option<String>), String>) {
        match result {
            Ok((attachment, warning)) => {
                let size = attachment.text.len();
                self.attachments.push(attachment);
                match warning {
                    Some(w) => self.error(w),
                    None => self.info(format!("attached {path} ({size} bytes): it goes with your next message")),
                }
            }
            Err(e) => self.error(e),
        }
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
