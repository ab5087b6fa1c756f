//! The Markdown and code-block renderer on arbitrary model output, streamed in arbitrary pieces:
//! no panic, no control character in any rendered span, and code blocks kept byte-exact.
#![no_main]

use ember_fuzz::render::fence::{Chunk, FenceTracker};
use ember_fuzz::render::markdown::{render_code, render_prose, split_blocks, Block, RenderOptions};
use ember_fuzz::render::sanitize::is_unsafe;
use libfuzzer_sys::fuzz_target;

fn check(lines: &[ratatui::text::Line<'_>]) {
    for line in lines {
        for span in &line.spans {
            assert!(!span.content.chars().any(|c| is_unsafe(c) || c == '\n'), "unsafe span {:?}", span.content);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let width = u16::from(first % 100);
    let color = first & 0x80 != 0;
    let text = String::from_utf8_lossy(rest);
    let opts = RenderOptions { width, color };
    let mut number = 0;
    for block in split_blocks(&text) {
        match block {
            Block::Prose(p) => check(&render_prose(&p, opts)),
            Block::Code { lang, code, .. } => {
                number += 1;
                check(&render_code(number, &lang, &code, opts));
            }
        }
    }
    // Streamed in pieces of (first % 13 + 1) characters, the fence tracker sees the same text.
    let step = usize::from(first % 13) + 1;
    let chars: Vec<char> = text.chars().collect();
    let mut seen = String::new();
    let mut tracker = FenceTracker::default();
    let mut collect = |chunk: Chunk<'_>| match chunk {
        Chunk::Text(t) | Chunk::CodeLine(t) => seen.push_str(t),
        Chunk::FenceOpen { line, .. } | Chunk::FenceClose { line } => seen.push_str(line),
    };
    for piece in chars.chunks(step) {
        tracker.push(&piece.iter().collect::<String>(), &mut collect);
    }
    tracker.finish(&mut collect);
    assert_eq!(seen, text, "the fence tracker lost or changed text");
});
