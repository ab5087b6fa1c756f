//! Reasoning models in a real terminal: the real binary and the real default model inside tmux,
//! with DeepSeek-R1-style chat templates (ChatML, like the model's own, whose generation prompt
//! opens `<think>`). The model then "thinks" until it writes `</think>`; a template with two
//! example turns teaches it to write one, so that an answer follows. Greedy decoding with a
//! fixed seed makes every reply the same each run (for a given llama.cpp build).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::tmux::Tmux;
use common::tui::ember_command;

/// ChatML: the model's own format, `examples` before the conversation, and `generation_prompt`
/// after `<|im_start|>assistant\n`.
fn template(dir: &Path, name: &str, examples: &str, generation_prompt: &str) -> PathBuf {
    let source = format!(
        "{examples}{{% for m in messages %}}<|im_start|>{{{{ m.role }}}}\n{{{{ m.content }}}}<|im_end|>\n{{% endfor %}}\
         {{% if add_generation_prompt %}}<|im_start|>assistant\n{generation_prompt}{{% endif %}}"
    );
    let path = dir.join(name);
    std::fs::write(&path, source).unwrap();
    path
}

/// The generation prompt opens the reasoning, R1-style.
fn opens_thinking(dir: &Path) -> PathBuf {
    template(dir, "r1.jinja", "", "<think>\n")
}

/// Two example turns that close their reasoning and then answer, and a generation prompt that
/// opens the reasoning: the model thinks one sentence, closes it and answers.
fn thinks_then_answers(dir: &Path) -> PathBuf {
    let examples = "<|im_start|>user\nWhat is 1+1?<|im_end|>\n<|im_start|>assistant\n\
                    <think>One plus one is two.</think>The answer is 2.<|im_end|>\n\
                    <|im_start|>user\nWhat is the capital of Italy?<|im_end|>\n<|im_start|>assistant\n\
                    <think>Italy's capital is Rome.</think>The answer is Rome.<|im_end|>\n";
    template(dir, "examples.jinja", examples, "<think>")
}

/// The screen with its attributes (`capture-pane -e`).
fn styled_screen(tmux: &Tmux) -> String {
    tmux.out(&["capture-pane", "-p", "-e", "-t", "e2e"])
}

/// Whether the text from `needle` on in `line` of a `capture-pane -e` screen is drawn dim: the
/// last attribute set before it (SGR) turned dim on (2) and nothing since turned it off (22, 0).
fn dim_at(line: &str, needle: &str) -> bool {
    let Some(end) = line.find(needle) else { return false };
    let mut dim = false;
    let mut rest = &line[..end];
    while let Some(at) = rest.find("\x1b[") {
        rest = &rest[at + 2..];
        let Some(m) = rest.find(|c: char| !(c.is_ascii_digit() || c == ';')) else { break };
        if rest[m..].starts_with('m') {
            let params: Vec<&str> = rest[..m].split(';').collect();
            let mut i = 0;
            while i < params.len() {
                match params[i] {
                    "" | "0" | "22" => dim = false,
                    "2" => dim = true,
                    // Colours: 38;5;N and 38;2;R;G;B (likewise 48, 58) carry numbers that are
                    // not attributes.
                    "38" | "48" | "58" => i += if params.get(i + 1) == Some(&"5") { 2 } else { 4 },
                    _ => {}
                }
                i += 1;
            }
        }
    }
    dim
}

fn row_of(screen: &str, needle: &str) -> Option<usize> {
    screen.lines().position(|l| l.contains(needle))
}

#[test]
fn reasoning_folds_to_a_dim_line_above_the_answer_and_t_unfolds_it() {
    let dir = tempfile::tempdir().unwrap();
    let template = thinks_then_answers(dir.path());
    let args = format!("--no-history --max-tokens 60 --template-file '{}'", template.display());
    let command = format!("{}; echo EXIT=$?; sleep 60", ember_command(dir.path(), &args));
    let tmux = Tmux::start(&command, dir.path());
    tmux.wait_loaded();
    tmux.keys(&["What is 2+2?", "Enter"]);
    let screen = tmux
        .wait_for("the answer", Duration::from_secs(120), |s| s.contains("○ idle") && s.contains("The answer is 4."));
    let folded = row_of(&screen, "▸ thought for ").unwrap_or_else(|| panic!("no folded reasoning:\n{screen}"));
    let answer = row_of(&screen, "The answer is 4.").unwrap();
    assert!(folded < answer, "the reasoning comes before the answer:\n{screen}");
    assert!(screen.lines().nth(folded).unwrap().contains(" tokens"), "{screen}");
    assert!(!screen.contains("Two plus two is four."), "folded, the reasoning's text is hidden:\n{screen}");
    assert!(!screen.contains("think>"), "no tag reaches the screen:\n{screen}");
    let styled = styled_screen(&tmux);
    let line = styled.lines().find(|l| l.contains("thought for")).unwrap();
    assert!(dim_at(line, "thought for"), "the folded line is dim: {line:?}");
    let line = styled.lines().find(|l| l.contains("The answer is 4.")).unwrap();
    assert!(!dim_at(line, "The answer is 4."), "the answer is not dim: {line:?}");

    // t in the transcript unfolds it, dim; t again folds it.
    tmux.keys(&["Tab", "t"]);
    let screen =
        tmux.wait_for("the reasoning unfolded", Duration::from_secs(10), |s| s.contains("┊ Two plus two is four."));
    assert!(row_of(&screen, "▾ thought for ").unwrap() < row_of(&screen, "The answer is 4.").unwrap(), "{screen}");
    assert_eq!(screen.matches("Two plus two is four.").count(), 1, "{screen}");
    let styled = styled_screen(&tmux);
    let line = styled.lines().find(|l| l.contains("Two plus two is four.")).unwrap();
    assert!(dim_at(line, "Two plus two is four."), "the reasoning is dim: {line:?}");
    tmux.keys(&["t"]);
    tmux.wait_for("the reasoning folded again", Duration::from_secs(10), |s| {
        s.contains("▸ thought for ") && !s.contains("Two plus two is four.")
    });
    tmux.keys(&["Escape", "C-c", "C-c"]);
    tmux.wait_for("ember to quit", Duration::from_secs(10), |s| s.contains("EXIT=0"));
}

#[test]
fn code_in_the_reasoning_stays_out_of_the_code_pane() {
    let dir = tempfile::tempdir().unwrap();
    let template = opens_thinking(dir.path());
    let args = format!("--no-history --max-tokens 120 --template-file '{}'", template.display());
    let command = format!("{}; echo EXIT=$?; sleep 60", ember_command(dir.path(), &args));
    let tmux = Tmux::start(&command, dir.path());
    tmux.wait_loaded();
    // The model never closes its reasoning here: all of its reply, code included, is thinking.
    tmux.keys(&["Show me hello world in Rust, in a markdown code block.", "Enter"]);
    let screen = tmux.wait_for("the reply", Duration::from_secs(120), |s| s.contains("○ idle") && s.contains("```"));
    assert!(screen.contains("▾ thought for "), "no answer: the reasoning stays shown:\n{screen}");
    assert!(screen.contains("┊ ```rust"), "its code is plain reasoning text:\n{screen}");
    assert!(screen.contains("No code yet."), "the code pane has nothing:\n{screen}");
    assert!(!screen.contains("[1] rust"), "no numbered code block:\n{screen}");
    tmux.keys(&["/copy 1", "Enter"]);
    tmux.wait_for("no code block", Duration::from_secs(10), |s| s.contains("there is no code block yet"));
}

#[test]
fn a_reply_stopped_while_thinking_keeps_its_reasoning() {
    let dir = tempfile::tempdir().unwrap();
    let template = opens_thinking(dir.path());
    let args = format!("--no-history --max-tokens 3000 --template-file '{}'", template.display());
    let command = format!("{}; echo EXIT=$?; sleep 60", ember_command(dir.path(), &args));
    let tmux = Tmux::start(&command, dir.path());
    tmux.wait_loaded();
    tmux.keys(&["Write a long story about a dragon and a knight.", "Enter"]);
    let streaming = tmux.wait_for("the reasoning to stream", Duration::from_secs(120), |s| {
        s.contains("▾ thinking… ") && s.contains("┊ ")
    });
    assert!(streaming.contains("● answering"), "{streaming}");
    tmux.keys(&["Escape"]);
    let screen = tmux.wait_for("the stop", Duration::from_secs(30), |s| s.contains("○ idle") || s.contains("stopped"));
    let screen = if screen.contains("[stopped]") {
        screen
    } else {
        tmux.wait_for("the stopped reply", Duration::from_secs(30), |s| s.contains("[stopped]"))
    };
    assert!(screen.contains("▾ thought for ") && !screen.contains("thinking…"), "{screen}");
    assert!(screen.contains("┊ "), "the reasoning stays shown:\n{screen}");
    assert!(screen.contains("No code yet."), "{screen}");
}

#[test]
fn a_prompt_that_closes_the_reasoning_shows_only_the_answer_and_think_says_there_is_no_switch() {
    let dir = tempfile::tempdir().unwrap();
    let template = template(dir.path(), "closed.jinja", "", "<think>\nOK.\n</think>\n\n");
    let args = format!("--no-history --max-tokens 60 --template-file '{}'", template.display());
    let command = format!("{}; echo EXIT=$?; sleep 60", ember_command(dir.path(), &args));
    let tmux = Tmux::start(&command, dir.path());
    tmux.wait_loaded();
    tmux.keys(&["What is 2+2?", "Enter"]);
    let screen =
        tmux.wait_for("the answer", Duration::from_secs(120), |s| s.contains("○ idle") && s.contains("2+2 = 4"));
    assert!(!screen.contains("thought") && !screen.contains("┊"), "no reasoning:\n{screen}");

    // This template reads no reasoning setting: /think says so rather than nothing.
    tmux.keys(&["/think on", "Enter"]);
    tmux.wait_for("the notice", Duration::from_secs(10), |s| s.contains("no reasoning switch"));
    tmux.keys(&["/think auto", "Enter"]);
    tmux.wait_for("auto", Duration::from_secs(10), |s| s.contains("reasoning auto from the next answer"));
}
