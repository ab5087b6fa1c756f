//! Unit tests of the reasoning parsers: every family, at every cut of its output.

use super::*;
use SegmentKind::{Answer, Reasoning, ToolCall as Tool};

const TEXT: i32 = 1000;

#[derive(Debug, Default, PartialEq)]
struct Outcome {
    reasoning: String,
    answer: String,
    tool: String,
    reasoning_tokens: usize,
}

fn run(format: ReasoningFormat, script: &[(i32, String)]) -> (Outcome, Vec<SegmentDelta>) {
    let mut parser = ReasoningParser::new(format);
    let mut deltas = Vec::new();
    for (token, piece) in script {
        // One Vec per token, as the engine would do: merging happens only within a call.
        let mut out = Vec::new();
        parser.push(*token, piece, &mut out);
        deltas.extend(out);
    }
    let mut out = Vec::new();
    parser.finish(&mut out);
    deltas.extend(out);
    let mut outcome = Outcome { reasoning_tokens: parser.reasoning_tokens(), ..Outcome::default() };
    for d in &deltas {
        assert!(!d.text.is_empty(), "an empty delta: {deltas:?}");
        match d.kind {
            Reasoning => outcome.reasoning.push_str(&d.text),
            Answer => outcome.answer.push_str(&d.text),
            Tool => outcome.tool.push_str(&d.text),
        }
    }
    (outcome, deltas)
}

fn owned(script: &[(i32, &str)]) -> Vec<(i32, String)> {
    script.iter().map(|&(t, p)| (t, p.to_string())).collect()
}

/// The script with each text piece in turn split in two at every character boundary (a token
/// that is a tag or a control token is never split: it is one token).
fn two_way_splits(script: &[(i32, &str)]) -> Vec<Vec<(i32, String)>> {
    let mut all = Vec::new();
    for (index, &(token, piece)) in script.iter().enumerate().filter(|(_, &(token, _))| token == TEXT) {
        for (at, _) in piece.char_indices().skip(1) {
            let mut s = owned(script);
            s[index] = (token, piece[..at].to_string());
            s.insert(index + 1, (token, piece[at..].to_string()));
            all.push(s);
        }
    }
    all
}

/// The script with every text piece given one character at a time.
fn char_per_piece(script: &[(i32, &str)]) -> Vec<(i32, String)> {
    script
        .iter()
        .flat_map(|&(token, piece)| {
            if token != TEXT || piece.is_empty() {
                vec![(token, piece.to_string())]
            } else {
                piece.chars().map(|c| (token, c.to_string())).collect()
            }
        })
        .collect()
}

/// Every way of cutting the script into pieces checked against one expected outcome
/// (token counts aside: splitting a token makes more tokens).
fn check_all_splits(format: ReasoningFormat, script: &[(i32, &str)], reasoning: &str, answer: &str, tool: &str) {
    let expect = |s: &[(i32, String)], how: &str| {
        let (got, deltas) = run(format, s);
        assert_eq!(
            (got.reasoning.as_str(), got.answer.as_str(), got.tool.as_str()),
            (reasoning, answer, tool),
            "{how}: {s:?} gave {deltas:?}"
        );
    };
    expect(&owned(script), "as scripted");
    for s in two_way_splits(script) {
        expect(&s, "split in two");
    }
    expect(&char_per_piece(script), "one character per piece");
}

fn tags(tags: ThinkTags, starts_inside: bool) -> ReasoningFormat {
    ReasoningFormat::Tags(TagFormat::new(tags, starts_inside))
}

#[test]
fn every_tag_family_splits_reasoning_from_answer_at_every_cut() {
    for t in ThinkTags::ALL {
        let (open, close) = (t.open(), t.close());
        let whole = format!("{open}\nLet me see: 2+2 is 4.\n{close}\n\nThe answer is **4**.");
        let expect_r = "Let me see: 2+2 is 4.\n";
        let expect_a = "The answer is **4**.";
        check_all_splits(tags(t, false), &[(TEXT, &whole)], expect_r, expect_a, "");
        // Leading whitespace before the block, and the tags glued to words.
        let glued = format!("\n{open}Hmm{close}Sure.");
        check_all_splits(tags(t, false), &[(TEXT, &glued)], "Hmm", "Sure.", "");
        // The generation prompt opened the block: the output starts inside it.
        let inside = format!("Sure{close}\n\nThe answer");
        check_all_splits(tags(t, true), &[(TEXT, &inside)], "Sure", "The answer", "");
    }
}

#[test]
fn kimi_tags_split_inside_their_multibyte_characters_are_held() {
    let mut parser = ReasoningParser::new(tags(ThinkTags::Kimi, false));
    let mut out = Vec::new();
    parser.push(TEXT, "◁th", &mut out);
    assert!(out.is_empty(), "a possible tag is held: {out:?}");
    parser.push(TEXT, "ink▷deep◁/", &mut out);
    parser.push(TEXT, "think▷ok", &mut out);
    parser.finish(&mut out);
    assert_eq!(
        out,
        vec![SegmentDelta { kind: Reasoning, text: "deep".into() }, SegmentDelta { kind: Answer, text: "ok".into() }]
    );
}

#[test]
fn a_repeated_opening_tag_when_the_prompt_opened_the_block_is_dropped() {
    let script = [(TEXT, "<think>\nplan</think>\n\nanswer")];
    check_all_splits(tags(ThinkTags::Think, true), &script, "plan", "answer", "");
}

#[test]
fn an_unclosed_block_stays_reasoning() {
    let script = [(TEXT, "<think>\nstill thinking, 3 < 4 and </th")];
    check_all_splits(tags(ThinkTags::Think, false), &script, "still thinking, 3 < 4 and </th", "", "");
    let inside = [(TEXT, "cut by max tokens mid-thought")];
    check_all_splits(tags(ThinkTags::Think, true), &inside, "cut by max tokens mid-thought", "", "");
}

#[test]
fn a_tag_cut_at_the_end_is_text_of_its_segment() {
    for (start, expect) in [("<", "<"), ("<th", "<th"), ("<think", "<think")] {
        let mut parser = ReasoningParser::new(tags(ThinkTags::Think, false));
        let mut out = Vec::new();
        parser.push(TEXT, start, &mut out);
        assert!(out.is_empty(), "{start:?} must be held: {out:?}");
        parser.finish(&mut out);
        assert_eq!(out, vec![SegmentDelta { kind: Answer, text: expect.into() }]);
    }
    let (got, _) = run(tags(ThinkTags::Magistral, true), &owned(&[(TEXT, "x [/THI")]));
    assert_eq!(got.reasoning, "x [/THI");
}

#[test]
fn lookalikes_are_text() {
    let think = tags(ThinkTags::Think, false);
    check_all_splits(think, &[(TEXT, "<thinking about it>")], "", "<thinking about it>", "");
    check_all_splits(think, &[(TEXT, "a < b and <th")], "", "a < b and <th", "");
    check_all_splits(think, &[(TEXT, "<thin>x</think>")], "", "<thin>x</think>", "");
    let magistral = tags(ThinkTags::Magistral, false);
    check_all_splits(magistral, &[(TEXT, "[THINKING] [/THINK]")], "", "[THINKING] [/THINK]", "");
    // Inside reasoning, near-misses of the closing tag stay reasoning.
    check_all_splits(think, &[(TEXT, "<think>a </thinker> <</think>b")], "a </thinker> <", "b", "");
}

#[test]
fn an_opening_tag_after_answer_text_is_literal() {
    let think = tags(ThinkTags::Think, false);
    check_all_splits(think, &[(TEXT, "Use <think> tags.")], "", "Use <think> tags.", "");
    check_all_splits(think, &[(TEXT, "<think>a</think>Use <think>b</think>")], "a", "Use <think>b</think>", "");
    // Right after a block, before any answer text, another block is still reasoning.
    check_all_splits(think, &[(TEXT, "<think>a</think>\n<think>b</think>c")], "ab", "c", "");
}

#[test]
fn tags_that_are_tokens_are_read_by_id_even_without_text() {
    // Magistral: [THINK] and [/THINK] are control tokens, so their text is empty.
    let format = ReasoningFormat::Tags(TagFormat {
        tags: ThinkTags::Magistral,
        starts_inside: false,
        open_id: Some(34),
        close_id: Some(35),
    });
    let script = [(34, ""), (TEXT, "Let me think."), (TEXT, " Done."), (35, ""), (TEXT, "Answer.")];
    check_all_splits(format, &script, "Let me think. Done.", "Answer.", "");
    let (got, _) = run(format, &owned(&script));
    assert_eq!(got.reasoning_tokens, 4, "[THINK], two reasoning tokens and [/THINK]");
    // Qwen3: <think> is one token that comes with its text; read once, by id.
    let qwen = ReasoningFormat::Tags(TagFormat {
        tags: ThinkTags::Think,
        starts_inside: false,
        open_id: Some(151667),
        close_id: Some(151668),
    });
    let script = [(151667, "<think>"), (TEXT, "\nhm\n"), (151668, "</think>"), (TEXT, "\n\nYes")];
    check_all_splits(qwen, &script, "hm\n", "Yes", "");
    // A held "<" before the tag token is plain text; the tag after answer text is literal.
    let script = [(TEXT, "a<"), (151667, "<think>")];
    check_all_splits(qwen, &script, "", "a<<think>", "");
}

#[test]
fn reasoning_tokens_count_the_block_and_its_tags() {
    let script = [
        (TEXT, "<think>"),
        (TEXT, "\n"),
        (TEXT, "Two"),
        (TEXT, " plus two.\n"),
        (TEXT, "</think>"),
        (TEXT, "\n\n"),
        (TEXT, "Four"),
        (TEXT, "."),
    ];
    let (got, _) = run(tags(ThinkTags::Think, false), &owned(&script));
    assert_eq!(got.reasoning_tokens, 5);
    // A tag split over tokens: both halves count; a token holding the end of the
    // reasoning and the start of the answer counts as reasoning.
    let script = [(TEXT, "<th"), (TEXT, "ink>a"), (TEXT, "b</th"), (TEXT, "ink>c"), (TEXT, "d")];
    let (got, _) = run(tags(ThinkTags::Think, false), &owned(&script));
    assert_eq!((got.reasoning.as_str(), got.answer.as_str()), ("ab", "cd"));
    assert_eq!(got.reasoning_tokens, 4);
    // Starting inside, a cut turn is all reasoning.
    let (got, _) = run(tags(ThinkTags::Think, true), &owned(&[(TEXT, "a"), (TEXT, "b"), (TEXT, "</th")]));
    assert_eq!(got.reasoning_tokens, 3);
}

#[test]
fn deltas_are_merged_within_a_push_and_never_empty() {
    let mut parser = ReasoningParser::new(tags(ThinkTags::Think, false));
    let mut out = Vec::new();
    parser.push(TEXT, "<think>a", &mut out);
    parser.push(TEXT, "b", &mut out);
    parser.push(TEXT, "</think>", &mut out);
    parser.push(TEXT, "\n\n", &mut out);
    parser.push(TEXT, "c", &mut out);
    parser.finish(&mut out);
    assert_eq!(
        out,
        vec![SegmentDelta { kind: Reasoning, text: "ab".into() }, SegmentDelta { kind: Answer, text: "c".into() }]
    );
    let mut calls = Vec::new();
    parser.push_with(TEXT, "", |k, t| calls.push((k, t.to_string())));
    assert!(calls.is_empty());
}

#[test]
fn none_passes_everything_through() {
    let script = [(TEXT, "  <think>x</think> "), (7, ""), (TEXT, "[THINK]")];
    let (got, deltas) = run(ReasoningFormat::None, &owned(&script));
    assert_eq!(got.answer, "  <think>x</think> [THINK]");
    assert_eq!(deltas.len(), 2, "one delta per non-empty piece: {deltas:?}");
    assert_eq!(got.reasoning_tokens, 0);
    let mut parser = ReasoningParser::new(ReasoningFormat::None);
    let mut seen = Vec::new();
    parser.push_with(TEXT, "<th", |k, t| seen.push((k, t.to_string())));
    assert_eq!(seen, vec![(Answer, "<th".to_string())], "nothing is held");
}

// Harmony, with gpt-oss's ids (o200k_harmony).
const H: HarmonyTokens = HarmonyTokens {
    channel: CHANNEL,
    message: MESSAGE,
    start: Some(START),
    end: Some(END),
    return_: Some(RETURN),
    call: Some(CALL),
    constrain: Some(CONSTRAIN),
};
const START: i32 = 200006;
const CHANNEL: i32 = 200005;
const MESSAGE: i32 = 200008;
const END: i32 = 200007;
const RETURN: i32 = 200002;
const CALL: i32 = 200012;
const CONSTRAIN: i32 = 200003;

fn harmony() -> ReasoningFormat {
    ReasoningFormat::Harmony(H)
}

#[test]
fn harmony_analysis_then_final() {
    let script = [
        (CHANNEL, ""),
        (TEXT, "analysis"),
        (MESSAGE, ""),
        (TEXT, "The user"),
        (TEXT, " greets."),
        (END, ""),
        (START, ""),
        (TEXT, "assistant"),
        (CHANNEL, ""),
        (TEXT, "final"),
        (MESSAGE, ""),
        (TEXT, "Hello"),
        (TEXT, "!"),
        (RETURN, ""),
    ];
    check_all_splits(harmony(), &script, "The user greets.", "Hello!", "");
    let (got, _) = run(harmony(), &owned(&script));
    assert_eq!(got.reasoning_tokens, 6, "<|channel|>analysis<|message|>, two text tokens, <|end|>");
}

#[test]
fn harmony_commentary_without_recipient_is_reasoning_and_turns_end_at_any_end_token() {
    for last in [END, RETURN, CALL] {
        let script = [(CHANNEL, ""), (TEXT, "commentary"), (MESSAGE, ""), (TEXT, "Checking."), (last, "")];
        check_all_splits(harmony(), &script, "Checking.", "", "");
        let script = [(CHANNEL, ""), (TEXT, "final"), (MESSAGE, ""), (TEXT, "Done."), (last, "")];
        check_all_splits(harmony(), &script, "", "Done.", "");
    }
    // The stray `<|channel|>commentary to=assistant` some gpt-oss-20b runs start with.
    let stray = [(CHANNEL, ""), (TEXT, "commentary to=assistant"), (CHANNEL, ""), (TEXT, "analysis")];
    let script = [&stray[..], &[(MESSAGE, ""), (TEXT, "think"), (END, "")]].concat();
    check_all_splits(harmony(), &script, "think", "", "");
}

#[test]
fn harmony_tool_calls_in_the_channel_or_the_role_header() {
    let script = [
        (CHANNEL, ""),
        (TEXT, "analysis"),
        (MESSAGE, ""),
        (TEXT, "Need the weather."),
        (END, ""),
        (START, ""),
        (TEXT, "assistant"),
        (CHANNEL, ""),
        (TEXT, "commentary to=functions.get_weather "),
        (CONSTRAIN, ""),
        (TEXT, "json"),
        (MESSAGE, ""),
        (TEXT, "{\"city\":"),
        (TEXT, "\"Paris\"}"),
        (CALL, ""),
    ];
    check_all_splits(harmony(), &script, "Need the weather.", "", "{\"city\":\"Paris\"}");
    let mut parser = ReasoningParser::new(harmony());
    let mut out = Vec::new();
    for (t, p) in script {
        parser.push(t, p, &mut out);
    }
    parser.finish(&mut out);
    assert_eq!(
        parser.tool_calls(),
        [ToolCall {
            recipient: "functions.get_weather".into(),
            content_type: Some("json".into()),
            arguments: "{\"city\":\"Paris\"}".into()
        }]
    );
    // As the template renders past calls: the recipient in the role header.
    let script = [
        (START, ""),
        (TEXT, "assistant to=functions.lookup"),
        (CHANNEL, ""),
        (TEXT, "commentary json"),
        (MESSAGE, ""),
        (TEXT, "{}"),
        (CALL, ""),
    ];
    check_all_splits(harmony(), &script, "", "", "{}");
    let mut parser = ReasoningParser::new(harmony());
    script.iter().for_each(|&(t, p)| parser.push(t, p, &mut Vec::new()));
    assert_eq!(parser.tool_calls()[0].recipient, "functions.lookup");
    assert_eq!(parser.tool_calls()[0].content_type.as_deref(), Some("json"));
}

#[test]
fn harmony_text_outside_any_header_is_answer_and_cut_headers_vanish() {
    check_all_splits(harmony(), &[(TEXT, "Plain reply.")], "", "Plain reply.", "");
    let script = [(CHANNEL, ""), (TEXT, "analysis"), (MESSAGE, ""), (TEXT, "a"), (END, ""), (START, "")];
    let script = [&script[..], &[(TEXT, "assistant"), (CHANNEL, ""), (TEXT, "fin")]].concat();
    check_all_splits(harmony(), &script, "a", "", "");
    // Cut mid-analysis (max tokens, cancel): what came is reasoning.
    let script = [(CHANNEL, ""), (TEXT, "analysis"), (MESSAGE, ""), (TEXT, "so far")];
    check_all_splits(harmony(), &script, "so far", "", "");
}

// Detection, on fragments of real templates (llama.cpp's models/templates and the models'
// own chat templates) and on the two real templates kept in tests/fixtures.
fn vocab(tokens: &'static [(&'static str, i32)]) -> impl Fn(&str) -> Option<i32> {
    move |s| tokens.iter().find(|(t, _)| *t == s).map(|&(_, id)| id)
}

fn no_vocab(_: &str) -> Option<i32> {
    None
}

const GPT_OSS_VOCAB: &[(&str, i32)] = &[
    ("<|channel|>", 200005),
    ("<|message|>", 200008),
    ("<|start|>", 200006),
    ("<|end|>", 200007),
    ("<|return|>", 200002),
    ("<|call|>", 200012),
    ("<|constrain|>", 200003),
];

#[test]
fn detects_harmony_only_with_single_control_tokens() {
    let gpt_oss = r#"{{- "<|start|>assistant<|channel|>final<|message|>" + message.content + "<|end|>" }}
{%- if add_generation_prompt -%}
<|start|>assistant
{%- endif -%}"#;
    assert_eq!(detect(Some(gpt_oss), "<|start|>assistant", vocab(GPT_OSS_VOCAB)), harmony());
    assert_eq!(detect(Some(gpt_oss), "<|start|>assistant", no_vocab), ReasoningFormat::None);
    let partial: &[(&str, i32)] = &[("<|channel|>", 1)];
    assert_eq!(detect(Some(gpt_oss), "", vocab(partial)), ReasoningFormat::None);
}

fn detected(template: &str, tail: &str) -> ReasoningFormat {
    detect(Some(template), tail, no_vocab)
}

#[test]
fn detects_think_tags_and_whether_the_prompt_opened_them() {
    let qwen3 = include_str!("../../../tests/fixtures/templates/qwen.jinja");
    assert_eq!(detected(qwen3, "<|im_start|>assistant\n"), tags(ThinkTags::Think, false));
    // enable_thinking=false renders an empty, closed block.
    assert_eq!(detected(qwen3, "<|im_start|>assistant\n<think>\n\n</think>\n\n"), tags(ThinkTags::Think, false));
    // Qwen3 thinking-2507 and QwQ open the block in the generation prompt.
    let qwq = "{%- set content = message.content.split('</think>')[-1].lstrip('\\n') %}\n\
               {%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n<think>\\n' }}\n{%- endif %}";
    assert_eq!(detected(qwq, "<|im_start|>assistant\n<think>\n"), tags(ThinkTags::Think, true));
    let r1 = include_str!("../../../tests/fixtures/templates/deepseek.jinja");
    assert_eq!(detected(r1, "<｜Assistant｜><think>\n"), tags(ThinkTags::Think, true));
    // DeepSeek-V3.1's non-thinking prompt closes a block it never opened.
    assert_eq!(detected(r1, "<｜Assistant｜></think>"), tags(ThinkTags::Think, false));
    let smollm3 = "structure your response into two main sections: Thought and Solution using the specified \
                   format: <think> Thought section </think> Solution section.";
    assert_eq!(detected(smollm3, "<|im_start|>assistant\n<think>\n\n</think>\n"), tags(ThinkTags::Think, false));
    let glm45 = "{%- else -%}\n{{ '\\n<think></think>' }}\n{%- endif -%}";
    assert_eq!(detected(glm45, "<|assistant|>"), tags(ThinkTags::Think, false));
    let kimi_k2_thinking = "<|im_assistant|>{{role_name}}<|im_middle|>\n<think></think>{{render_content(message)}}";
    assert_eq!(detected(kimi_k2_thinking, "<|im_assistant|>assistant<|im_middle|>"), tags(ThinkTags::Think, false));
    // The ids come from the vocabulary when the tags are single tokens.
    let qwen_vocab: &[(&str, i32)] = &[("<think>", 151667), ("</think>", 151668)];
    let ReasoningFormat::Tags(f) = detect(Some(qwen3), "", vocab(qwen_vocab)) else {
        panic!("Qwen3 has think tags");
    };
    assert_eq!((f.open_id, f.close_id), (Some(151667), Some(151668)));
}

#[test]
fn detects_the_other_tag_families() {
    let magistral = "{%- set default_system_message = 'First draft your thinking process ... Your thinking \
                     process must follow the template below:[THINK]Your thoughts or/and draft, like working \
                     through an exercise on scratch paper. ...[/THINK]Here, provide a self-contained response.' %}";
    let mistral_vocab: &[(&str, i32)] = &[("[THINK]", 34), ("[/THINK]", 35)];
    assert_eq!(
        detect(Some(magistral), "[INST]Hi[/INST]", vocab(mistral_vocab)),
        ReasoningFormat::Tags(TagFormat {
            tags: ThinkTags::Magistral,
            starts_inside: false,
            open_id: Some(34),
            close_id: Some(35)
        })
    );
    let seed = "{%- set think_begin_token      = '<seed:think>'             -%}\n\
                {%- set think_end_token        = '</seed:think>'            -%}";
    assert_eq!(detected(seed, "<seed:bos>assistant\n"), tags(ThinkTags::Seed, false));
    // thinking_budget = 0 opens the block in the prompt.
    let budget0 = "<seed:bos>assistant\n<seed:think><seed:cot_budget_reflect>";
    assert_eq!(detected(seed, budget0), tags(ThinkTags::Seed, true));
    let kimi_vl = "{%- if add_generation_prompt -%}<|im_assistant|>assistant<|im_middle|>{%- endif -%}";
    assert_eq!(detected(kimi_vl, "<|im_assistant|>assistant<|im_middle|>"), tags(ThinkTags::Kimi, false));
    let kimi_dev = "{{ content.split('◁/think▷')[-1] }}";
    assert_eq!(detected(kimi_dev, ""), tags(ThinkTags::Kimi, false));
}

#[test]
fn templates_without_reasoning_markers_are_none() {
    let mistral_small = "{{- '[SYSTEM_PROMPT]' + system_message + '[/SYSTEM_PROMPT]' }}\n\
                         {{- '[INST]' + message['content'] + '[/INST]' }}";
    assert_eq!(detected(mistral_small, "[INST]Hi[/INST]"), ReasoningFormat::None);
    let llama3 = include_str!("../../../tests/fixtures/templates/llama3.jinja");
    assert_eq!(detected(llama3, "<|start_header_id|>assistant<|end_header_id|>\n\n"), ReasoningFormat::None);
    let qwen3_coder = "{{- '\\n<tool_call>\\n<function=' + tool_call.name + '>\\n' }}";
    assert_eq!(detected(qwen3_coder, "<|im_start|>assistant\n"), ReasoningFormat::None);
    assert_eq!(detect(None, "Assistant:", no_vocab), ReasoningFormat::None);
    // No template, but the prompt format opens a block anyway.
    assert_eq!(detect(None, "<|im_start|>assistant\n<think>\n", no_vocab), tags(ThinkTags::Think, true));
}
