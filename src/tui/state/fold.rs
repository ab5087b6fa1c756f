//! Folding long code blocks in the transcript: `z` in the code pane (the selected block) or in
//! the transcript (the reply at the top of the view, else the latest), `/fold [N]`, and a click
//! on a long block's header or fold marker. Only the view changes: the block stays whole.

use super::{AppState, Scroll};
use crate::tui::transcript::FOLD_OVER;

impl AppState {
    /// Folds or unfolds code block `index` (into the code block list): `z` in the code pane,
    /// `/fold N`.
    pub(super) fn toggle_fold(&mut self, index: usize) {
        let number = index + 1;
        match self.transcript.toggle_fold(number) {
            Some(true) => self.info(format!("code block {number} folded: z or /fold {number} unfolds it")),
            Some(false) => self.info(format!("code block {number} unfolded: z or /fold {number} folds it")),
            None => self.info(format!("code block {number} is short: blocks of more than {FOLD_OVER} lines fold")),
        }
    }

    /// `z` in the transcript, `/fold`: the long code blocks of the reply at the top of the view
    /// (the latest such reply when following the end) unfold when one of them is folded, else
    /// fold.
    pub(super) fn toggle_folds_in_view(&mut self) {
        let count = self.transcript.len();
        let long = |i: &usize| !self.transcript.foldable_blocks(*i).is_empty();
        let from_top = match self.ui.scroll {
            Scroll::Anchor { entry, .. } => (entry..count).find(long),
            Scroll::Follow => None,
        };
        let Some(i) = from_top.or_else(|| (0..count).rev().find(long)) else {
            self.info(format!("no long code block to fold: blocks of more than {FOLD_OVER} lines fold"));
            return;
        };
        let blocks = self.transcript.foldable_blocks(i);
        let fold = !blocks.iter().any(|&n| self.transcript.folded(n) == Some(true));
        for &n in &blocks {
            self.transcript.set_fold(n, fold);
        }
        let list = blocks.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        self.info(format!(
            "code block{} {list} {}",
            if blocks.len() == 1 { "" } else { "s" },
            if fold { "folded" } else { "unfolded" }
        ));
    }
}
