//! Folding long code blocks in the transcript: `z` in the code pane (the selected block) or in
//! the transcript (the message at the top of the view, else the latest with a long block),
//! `/fold [N]`, and a click on a long block's header or fold marker. Only the view changes: the
//! block stays whole. The user's own long blocks (attached files, pasted code) fold too.

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

    /// A click on a long code block of the user's message `i`, the `k`-th block in it.
    pub(super) fn toggle_own_fold(&mut self, i: usize, k: usize) {
        match self.transcript.toggle_own_fold(i, k) {
            Some(true) => self.info("your code block folded: z or a click unfolds it"),
            Some(false) => self.info("your code block unfolded: z or a click folds it"),
            None => {}
        }
    }

    /// `z` in the transcript, `/fold`: the long code blocks of the message at the top of the
    /// view (the latest such message when following the end) unfold when one of them is folded,
    /// else fold.
    pub(super) fn toggle_folds_in_view(&mut self) {
        let count = self.transcript.len();
        let long =
            |i: &usize| !self.transcript.foldable_blocks(*i).is_empty() || !self.transcript.own_folds(*i).is_empty();
        let from_top = match self.ui.scroll {
            Scroll::Anchor { entry, .. } => (entry..count).find(long),
            Scroll::Follow => None,
        };
        let Some(i) = from_top.or_else(|| (0..count).rev().find(long)) else {
            self.info(format!("no long code block to fold: blocks of more than {FOLD_OVER} lines fold"));
            return;
        };
        let blocks = self.transcript.foldable_blocks(i);
        if blocks.is_empty() {
            let own = self.transcript.own_folds(i);
            let fold = !own.contains(&true);
            self.transcript.set_own_folds(i, fold);
            let (noun, state) =
                (if own.len() == 1 { "block" } else { "blocks" }, if fold { "folded" } else { "unfolded" });
            self.info(format!("the long code {noun} of your message {state}"));
            return;
        }
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
