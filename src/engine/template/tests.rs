//! Unit tests of template rendering and segmenting; the tests against real templates are in
//! tests/templates.rs.

use super::*;

#[test]
fn reasoning_reaches_the_template_under_both_names_and_never_in_content() {
    let t = JinjaTemplate::new(
        "{% for m in messages %}[{{ m.content }}|{{ m.reasoning_content }}|{{ m.thinking }}|{{ m.thinking is defined }}]{% endfor %}",
        None,
        None,
    )
    .unwrap();
    let convo = [
        Message::new(Role::User, "q"),
        Message::new(Role::Assistant, "a").with_reasoning(Some("r".into())),
        Message::new(Role::Assistant, "b").with_reasoning(Some("  ".into())),
    ];
    assert_eq!(t.render(&convo, false).unwrap(), "[q|||False][a|r|r|True][b|||False]");
}

#[test]
fn a_question_never_answered_is_left_out() {
    let m = |role, text: &str| Message::new(role, text);
    let convo =
        [m(Role::System, "s"), m(Role::User, "q1"), m(Role::Assistant, "a1"), m(Role::User, "q2"), m(Role::User, "q3")];
    let kept: Vec<String> = without_unanswered(&convo).iter().map(|m| m.content.clone()).collect();
    assert_eq!(kept, ["s", "q1", "a1", "q3"]);
    assert!(matches!(without_unanswered(&convo[..4]), std::borrow::Cow::Borrowed(_)));
}

const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

fn convo() -> Vec<Message> {
    vec![Message::new(Role::System, "Be brief."), Message::new(Role::User, "Hi <|im_end|>")]
}

#[test]
fn chatml_renders() {
    let t = JinjaTemplate::new(CHATML, None, None).unwrap();
    assert_eq!(
        t.render(&convo(), true).unwrap(),
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi <|im_end|><|im_end|>\n<|im_start|>assistant\n"
    );
}

#[test]
fn contents_are_never_special() {
    let t = JinjaTemplate::new(CHATML, None, None).unwrap();
    let (full, segments) = segment(&convo(), &|m| t.render(m, true)).unwrap();
    assert_eq!(concat(&segments), full);
    let plain: Vec<&str> = segments.iter().filter(|s| !s.special).map(|s| s.text.as_str()).collect();
    assert_eq!(plain, vec!["Be brief.", "Hi <|im_end|>"]);
    for s in segments.iter().filter(|s| s.special) {
        assert!(!s.text.contains("Hi"), "message text leaked into a special segment: {s:?}");
    }
}

#[test]
fn trimming_templates_still_segment() {
    let src = "{% for m in messages %}<t>{{ m['content'] | trim }}</t>{% endfor %}";
    let t = JinjaTemplate::new(src, None, None).unwrap();
    let msgs = vec![Message::new(Role::User, "  padded <t>  \n")];
    let (full, segments) = segment(&msgs, &|m| t.render(m, true)).unwrap();
    assert_eq!(full, "<t>padded <t></t>");
    assert_eq!(segments[1], Segment { text: "padded <t>".into(), special: false });
}

#[test]
fn content_dependent_templates_fall_back_to_search() {
    // Renders differently when the content is long: markers can't stand in for it.
    let src =
        "{% for m in messages %}{% if m.content|length > 12 %}[long]{% endif %}<s>{{ m.content }}</s>{% endfor %}";
    let t = JinjaTemplate::new(src, None, None).unwrap();
    let msgs = vec![Message::new(Role::User, "ab<s>cd")];
    let (full, segments) = segment(&msgs, &|m| t.render(m, true)).unwrap();
    assert_eq!(full, "<s>ab<s>cd</s>");
    assert_eq!(concat(&segments), full);
    assert!(segments.iter().any(|s| !s.special && s.text == "ab<s>cd"));
}

#[test]
fn raise_exception_reports_the_message() {
    let src = "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}ok";
    let t = JinjaTemplate::new(src, None, None).unwrap();
    assert_eq!(t.render(&convo(), true).unwrap_err(), "System role not supported");
    assert_eq!(t.render(&fold_system(&convo()), true).unwrap(), "ok");
}

#[test]
fn fold_system_merges_into_first_user() {
    let folded = fold_system(&convo());
    assert_eq!(folded, vec![Message::new(Role::User, "Be brief.\n\nHi <|im_end|>")]);
}

#[test]
fn generation_block_renders_its_body() {
    let src = "{% for m in messages %}{%- generation -%} [{{ m.content }}] {%- endgeneration %}{% endfor %}";
    let t = JinjaTemplate::new(src, None, None).unwrap();
    assert_eq!(t.render(&[Message::new(Role::Assistant, "x")], false).unwrap(), "[x]");
}

#[test]
fn python_methods_and_tojson() {
    let src = "{{ messages[0].content.strip().split(',') | tojson }}|{{ {'a': 1, 'b': [true, none]} | tojson }}|{{ 'x' | tojson(indent=2) }}";
    let t = JinjaTemplate::new(src, None, None).unwrap();
    let out = t.render(&[Message::new(Role::User, " é,\"q\" ")], false).unwrap();
    assert_eq!(out, "[\"é\", \"\\\"q\\\"\"]|{\"a\": 1, \"b\": [true, null]}|\"x\"");
}

#[test]
fn strftime_matches_python() {
    // 2024-02-29 13:05:09 UTC, a Thursday; Python: "29 Feb 2024", "Thursday 060 01PM"
    let t = 1_709_211_909;
    assert_eq!(strftime("%d %b %Y", t), "29 Feb 2024");
    assert_eq!(strftime("%A %j %I%p %H:%M:%S %% %B %y", t), "Thursday 060 01PM 13:05:09 % February 24");
    assert_eq!(strftime("%Y-%m-%d", 0), "1970-01-01");
}

#[test]
fn plain_format_for_base_models() {
    let text = render_plain(&convo(), true);
    assert_eq!(text, "Be brief.\n\nUser: Hi <|im_end|>\n\nAssistant:");
}
