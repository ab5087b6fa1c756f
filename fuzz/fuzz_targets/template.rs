//! The chat-template renderer and segmenter on arbitrary conversations, with the real templates
//! of the seven model families in tests/fixtures/templates: no panic, no endless loop, and the
//! segments put together are exactly the rendering.
#![no_main]

use ember_fuzz::message::{Message, Role};
use ember_fuzz::template::{segment, JinjaTemplate};
use libfuzzer_sys::fuzz_target;

const TEMPLATES: [&str; 7] = [
    include_str!("../../tests/fixtures/templates/smollm2.jinja"),
    include_str!("../../tests/fixtures/templates/qwen.jinja"),
    include_str!("../../tests/fixtures/templates/llama3.jinja"),
    include_str!("../../tests/fixtures/templates/gemma.jinja"),
    include_str!("../../tests/fixtures/templates/mistral.jinja"),
    include_str!("../../tests/fixtures/templates/phi.jinja"),
    include_str!("../../tests/fixtures/templates/deepseek.jinja"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let source = TEMPLATES[usize::from(first) % TEMPLATES.len()];
    let Ok(template) = JinjaTemplate::with_clock(source, Some("<s>"), Some("</s>"), Some(0)) else { return };
    // Messages are separated by invalid UTF-8 (read as U+FFFD); each one's first byte picks its role.
    let text = String::from_utf8_lossy(rest);
    let messages: Vec<Message> = text
        .split('\u{FFFD}')
        .take(12)
        .map(|part| {
            let role = match part.bytes().next().unwrap_or(0) % 3 {
                0 => Role::System,
                1 => Role::User,
                _ => Role::Assistant,
            };
            Message::new(role, part.chars().skip(1).collect::<String>())
        })
        .collect();
    let render = |m: &[Message]| template.render(m, true);
    if let Ok((full, segments)) = segment(&messages, &render) {
        let joined: String = segments.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(joined, full, "the segments do not make up the rendering");
    }
});
