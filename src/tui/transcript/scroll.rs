//! What is on screen: the visible rows from an anchor or from the end, scrolling, and the entry
//! at a row. Cost follows what is on screen, not the transcript's length.

use ratatui::text::Line;

use super::{EntryRows, Scroll, Transcript};

impl Transcript {
    /// The entry and row of that entry shown at row `y` of a view of `height` rows (the same
    /// walk as [`visible`](Self::visible)).
    pub fn position_at(&self, width: u16, height: usize, scroll: Scroll, y: usize) -> Option<(usize, usize)> {
        if y >= height || self.entries.is_empty() {
            return None;
        }
        if let Scroll::Anchor { entry, row } = scroll {
            // The view starts at the anchor when the rows below it fill the view.
            let mut below = 0;
            let mut found = None;
            let (mut i, mut r) = (entry, row);
            while i < self.entries.len() && below < height {
                let h = self.height(i, width);
                while r < h && below < height {
                    if below == y {
                        found = Some((i, r));
                    }
                    below += 1;
                    r += 1;
                }
                i += 1;
                r = 0;
            }
            if below == height {
                return found;
            }
        }
        // From the bottom.
        let mut total = 0;
        let mut i = self.entries.len();
        while i > 0 && total < height {
            i -= 1;
            total += self.height(i, width);
        }
        // Row `y` of the view is row `skip + y` counted from the top of entry `i`.
        let mut at = total.saturating_sub(height) + y;
        while i < self.entries.len() {
            let h = self.height(i, width);
            if at < h {
                return Some((i, at));
            }
            at -= h;
            i += 1;
        }
        None
    }

    /// The rows to show in a view of `height` rows, and the scroll state corrected for the end.
    pub fn visible(&self, width: u16, height: usize, scroll: Scroll) -> Vec<Line<'static>> {
        if height == 0 || self.entries.is_empty() {
            return Vec::new();
        }
        let from_top = match scroll {
            Scroll::Anchor { entry, row } if entry < self.entries.len() => {
                let mut out = Vec::with_capacity(height);
                let mut i = entry;
                let mut r = row;
                while out.len() < height && i < self.entries.len() {
                    let rows = self.rows(i, width);
                    while r < rows.len() && out.len() < height {
                        if let Some(line) = rows.get(r) {
                            out.push(line.clone());
                        }
                        r += 1;
                    }
                    i += 1;
                    r = 0;
                }
                (out.len() == height).then_some(out)
            }
            Scroll::Anchor { .. } | Scroll::Follow => None,
        };
        if let Some(out) = from_top {
            return out;
        }
        // From the bottom.
        let mut chunks: Vec<EntryRows> = Vec::new();
        let mut total = 0;
        for i in (0..self.entries.len()).rev() {
            let rows = self.rows(i, width);
            total += rows.len();
            chunks.push(rows);
            if total >= height {
                break;
            }
        }
        // Copy only the rows on screen: the top entry can be far taller than the view (a long
        // reply, a pasted file), and copying a row allocates each of its spans.
        let mut skip = total.saturating_sub(height);
        let mut out: Vec<Line<'static>> = Vec::with_capacity(total.min(height));
        for rows in chunks.iter().rev() {
            let first = skip.min(rows.len());
            skip -= first;
            out.extend((first..rows.len()).filter_map(|r| rows.get(r).cloned()));
        }
        out
    }

    /// Scrolls up by `n` rows from `scroll` in a view of `height` rows.
    pub fn scroll_up(&self, scroll: Scroll, n: usize, width: u16, height: usize) -> Scroll {
        let (mut entry, mut row) = match scroll {
            Scroll::Anchor { entry, row } => (entry, row),
            Scroll::Follow => match self.top_of_bottom_view(width, height) {
                Some(top) => top,
                None => return Scroll::Follow,
            },
        };
        let mut left = n;
        while left > 0 {
            if row >= left {
                row -= left;
                left = 0;
            } else {
                left -= row;
                if entry == 0 {
                    row = 0;
                    break;
                }
                entry -= 1;
                row = self.height(entry, width);
            }
        }
        Scroll::Anchor { entry, row }
    }

    /// Scrolls down by `n` rows; reaching the end switches back to following.
    pub fn scroll_down(&self, scroll: Scroll, n: usize, width: u16, height: usize) -> Scroll {
        let Scroll::Anchor { mut entry, mut row } = scroll else { return Scroll::Follow };
        let mut left = n;
        while left > 0 && entry < self.entries.len() {
            let h = self.height(entry, width);
            // After a resize an anchor may point past its entry's end.
            row = row.min(h);
            if row + left < h {
                row += left;
                left = 0;
            } else {
                left -= h - row;
                entry += 1;
                row = 0;
            }
        }
        // At the end if fewer than `height` rows remain below the anchor.
        let mut below = 0;
        let mut i = entry;
        let mut r = row;
        while i < self.entries.len() && below <= height {
            below += self.height(i, width).saturating_sub(r);
            r = 0;
            i += 1;
        }
        if below <= height {
            Scroll::Follow
        } else {
            Scroll::Anchor { entry, row }
        }
    }

    /// The (entry, row) at the top of a view that shows the end.
    fn top_of_bottom_view(&self, width: u16, height: usize) -> Option<(usize, usize)> {
        let mut total = 0;
        for i in (0..self.entries.len()).rev() {
            let h = self.height(i, width);
            total += h;
            if total >= height {
                return Some((i, total - height));
            }
        }
        None
    }
}
