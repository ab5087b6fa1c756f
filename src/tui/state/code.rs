//! Code blocks: copying, saving and opening them in $EDITOR, and naming their files.

use super::{AppState, EditorPurpose, Effect, Overlay};
use crate::tui::composer::Composer;

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
    pub(super) fn block_index(&mut self, number: usize) -> Option<usize> {
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

    pub(super) fn copy(&mut self, index: usize) -> Vec<Effect> {
        match self.transcript.code_blocks().get(index) {
            Some(block) => vec![Effect::Copy { number: block.number, text: block.code.clone() }],
            None => Vec::new(),
        }
    }

    pub(super) fn ask_save(&mut self, index: usize) {
        let Some(block) = self.transcript.code_blocks().get(index) else { return };
        let mut path = Composer::default();
        path.set_text(suggested_name(block.number, &block.lang));
        self.ui.overlay = Some(Overlay::SavePrompt { index, path, confirm_overwrite: false });
    }

    pub(super) fn open_in_editor(&mut self, index: usize) -> Vec<Effect> {
        match self.transcript.code_blocks().get(index) {
            Some(block) => vec![Effect::OpenEditor {
                text: block.code.clone(),
                purpose: EditorPurpose::ViewCode,
                extension: extension_for(&block.lang),
            }],
            None => Vec::new(),
        }
    }
}
