//! `@` mentions and `!command`: the finder opens on `@` and lists the files off the render
//! path, picks with Tab or Enter, the mentioned files are read before sending and refused with
//! the counts when they cannot fit; a command's output is attached, and Esc stops it.

use super::*;
use crate::conversation::Attachment;
use crate::tui::finder::FileList;
use crate::tui::shell::{CommandOutput, Ending};

fn listed(paths: &[(&str, u64)]) -> AppEvent {
    AppEvent::FilesListed(FileList { files: paths.iter().map(|(p, n)| (p.to_string(), *n)).collect(), capped: false })
}

const FILES: &[(&str, u64)] = &[("README.md", 900), ("src/tui/mod.rs", 300), ("src/main.rs", 3000)];

#[test]
fn at_opens_the_finder_and_tab_picks_the_best_match() {
    let mut s = ready_state();
    type_text(&mut s, "explain ");
    assert_eq!(
        update(&mut s, key(KeyCode::Char('@'))),
        vec![Effect::ListFiles],
        "files are listed off the render path"
    );
    type_text(&mut s, "src/ma");
    assert!(s.finder.matches.is_empty(), "nothing listed yet");
    update(&mut s, listed(FILES));
    assert_eq!(s.finder.matches, vec![2], "src/main.rs, and no file without those letters in order");
    assert_eq!(update(&mut s, key(KeyCode::Tab)), vec![]);
    assert_eq!(s.composer.text(), "explain @src/main.rs ");
    assert_eq!(s.finder_query(), None, "the finder closes once picked");
    assert_eq!(s.ui.focus, Focus::Composer, "Tab picked: it did not move the focus");
    assert_eq!(
        s.attachment_summary(),
        vec!["@src/main.rs (about 1,000 tokens)"],
        "the composer shows what it will take"
    );
}

#[test]
fn arrows_choose_enter_picks_and_esc_closes_the_finder() {
    let mut s = ready_state();
    type_text(&mut s, "@");
    update(&mut s, listed(FILES));
    assert_eq!(s.finder.matches.len(), 3, "an empty query lists files in order");
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::Down));
    update(&mut s, key(KeyCode::Up));
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty(), "Enter picks, it does not send");
    assert_eq!(s.composer.text(), "@src/tui/mod.rs ");
    type_text(&mut s, "and @zz");
    assert!(s.finder.matches.is_empty());
    update(&mut s, key(KeyCode::Esc));
    assert_eq!(s.finder_query(), None, "Esc closes it for this mention");
    type_text(&mut s, "z");
    assert_eq!(s.finder_query(), None, "and it stays closed while the mention is typed");
    assert_eq!(s.composer.text(), "@src/tui/mod.rs and @zzz");
}

#[test]
fn a_message_with_mentions_is_sent_once_its_files_are_read() {
    let mut s = ready_state();
    type_text(&mut s, "what does @src/a.rs#L2-3 do? ask @bob");
    let effects = update(&mut s, key(KeyCode::Enter));
    let [Effect::ReadMentions { text, tokens }] = effects.as_slice() else { panic!("{effects:?}") };
    assert_eq!(tokens, &vec!["src/a.rs#L2-3".to_string(), "bob".to_string()]);
    assert_eq!(s.composer.text(), "what does @src/a.rs#L2-3 do? ask @bob", "kept until it is sent");
    let file = Attachment { label: "src/a.rs#L2-3".into(), text: "b\nc\n".into() };
    let results = vec![("src/a.rs#L2-3".into(), Ok(Some((file, None)))), ("bob".into(), Ok(None))];
    let effects = update(&mut s, AppEvent::MentionsRead { text: text.clone(), results });
    let Some(Effect::Generate(req)) = effects.iter().find(|e| matches!(e, Effect::Generate(_))) else { panic!() };
    assert_eq!(
        req.messages.last().unwrap().content,
        "src/a.rs#L2-3:\n```rust\nb\nc\n```\n\nwhat does @src/a.rs#L2-3 do? ask @bob"
    );
    assert!(s.composer.is_empty() && s.attachments.is_empty());
    assert_eq!(status(&s), ("sent as text, no such file: @bob".into(), false));
}

#[test]
fn a_mention_that_cannot_fit_or_is_binary_is_refused_and_nothing_is_lost() {
    let mut s = ready_state();
    update(&mut s, AppEvent::Engine(EngineEvent::Ready(ModelInfo { n_ctx: 2048, ..info() })));
    type_text(&mut s, "see @big.rs");
    let effects = update(&mut s, key(KeyCode::Enter));
    let [Effect::ReadMentions { text, .. }] = effects.as_slice() else { panic!("{effects:?}") };
    let big = Attachment { label: "big.rs".into(), text: "x".repeat(12_000) };
    let effects = update(
        &mut s,
        AppEvent::MentionsRead { text: text.clone(), results: vec![("big.rs".into(), Ok(Some((big, None))))] },
    );
    assert!(effects.is_empty(), "nothing sent");
    assert_eq!(status(&s), ("not attached: too large for the context of 2048 · /ctx 6144 would fit it".into(), true));
    assert!(s.transcript.entries().last().unwrap().content.contains("@big.rs is about 4,000 tokens"));
    assert_eq!(s.composer.text(), "see @big.rs", "the message stays");
    assert!(s.attachments.is_empty());
    // A binary file: refused with the reader's reason.
    let effects = update(&mut s, key(KeyCode::Enter));
    let [Effect::ReadMentions { text, .. }] = effects.as_slice() else { panic!("{effects:?}") };
    let why = "big.rs looks binary (a NUL byte at offset 4); ember reads text only".to_string();
    update(&mut s, AppEvent::MentionsRead { text: text.clone(), results: vec![("big.rs".into(), Err(why))] });
    assert_eq!(
        status(&s),
        ("not sent: big.rs looks binary (a NUL byte at offset 4); ember reads text only".into(), true)
    );
    assert_eq!(s.composer.text(), "see @big.rs");
}

#[test]
fn a_command_runs_off_the_render_path_and_its_output_goes_with_the_next_message() {
    let mut s = ready_state();
    type_text(&mut s, "!echo hi");
    let effects = update(&mut s, key(KeyCode::Enter));
    assert_eq!(effects, vec![Effect::RunCommand { id: 1, command: "echo hi".into() }]);
    assert!(s.composer.is_empty());
    type_text(&mut s, "!ls");
    assert!(update(&mut s, key(KeyCode::Enter)).is_empty(), "one command at a time");
    assert_eq!(status(&s), ("!echo hi is still running: Esc stops it".into(), true));
    let output = CommandOutput { text: "hi\n".into(), ending: Ending::Exit(0), cut: 0 };
    update(&mut s, AppEvent::CommandDone { id: 1, output });
    assert_eq!(s.attachments.files(), [Attachment { label: "$ echo hi (exit 0)".into(), text: "hi\n".into() }]);
    assert_eq!(s.attachment_summary(), vec!["$ echo hi (exit 0) (about 1 token)"]);
    s.composer.clear();
    type_text(&mut s, "why?");
    let effects = update(&mut s, key(KeyCode::Enter));
    let Some(Effect::Generate(req)) = effects.first() else { panic!("{effects:?}") };
    assert_eq!(req.messages.last().unwrap().content, "$ echo hi (exit 0):\n```text\nhi\n```\n\nwhy?");
}

#[test]
fn esc_stops_a_command_and_what_it_printed_is_kept() {
    let mut s = ready_state();
    type_text(&mut s, "!sleep 100");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(update(&mut s, key(KeyCode::Esc)), vec![Effect::StopCommand(1)]);
    let output = CommandOutput { text: "(no output)".into(), ending: Ending::Stopped, cut: 0 };
    update(&mut s, AppEvent::CommandDone { id: 1, output });
    assert_eq!(s.attachments.files()[0].label, "$ sleep 100 (stopped by Esc)");
    assert_eq!(update(&mut s, key(KeyCode::Esc)), vec![], "nothing left to stop");
    type_text(&mut s, "!  ");
    update(&mut s, key(KeyCode::Enter));
    assert_eq!(status(&s), ("type a command after the !, e.g. !git diff --staged".into(), true));
}

#[test]
fn snapshot_finder_over_the_composer() {
    let mut s = ready_state();
    type_text(&mut s, "look at @ma");
    update(&mut s, listed(&[("src/main.rs", 3000), ("\x1b[31mevil\x1b[0m_main.md", 30), ("docs/manual.md", 12)]));
    insta::assert_snapshot!(screen(&s, 80, 16));
}

#[test]
fn the_mention_summary_follows_every_change_of_the_message() {
    let mut s = ready_state();
    type_text(&mut s, "see @src/main.rs and @README.md");
    assert!(s.attachment_summary().is_empty(), "sizes are not known before the listing");
    update(&mut s, listed(FILES));
    assert_eq!(s.attachment_summary(), ["@src/main.rs (about 1,000 tokens)", "@README.md (about 300 tokens)"]);
    // Ctrl-C clears the message outside the composer's keys: the summary goes with it.
    update(&mut s, ctrl('c'));
    assert!(s.attachment_summary().is_empty());
    update(&mut s, key(KeyCode::Up));
    assert_eq!(s.attachment_summary().len(), 2, "the message recalled brings its mentions back");
}
