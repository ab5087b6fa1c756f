//! End to end in a real terminal: a code block of a saved conversation applied to a file with
//! `/apply` (the diff shown, then confirmed), `/undo`, and `/undo` again after a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use common::tmux::Tmux;
use ember::store::{NewConversation, NewMessage, Store, StoredRole};

const BEFORE: &str = "def greet():\n    print('hi')\n";
const AFTER: &str = "def greet():\n    print('HI!')\n";

/// A saved conversation whose answer holds a block for `greet.py`; its id.
fn conversation(data: &Path, cwd: &Path) -> i64 {
    let mut store = Store::open(&data.join("ember/history.db")).unwrap();
    let new = NewConversation { model: "m".into(), system_prompt: None, cwd: cwd.display().to_string() };
    let id = store.create_conversation(&new).unwrap();
    let user = store.add_message(id, None, &NewMessage::new(StoredRole::User, "make it louder")).unwrap();
    let answer = format!("Here:\n\n```python greet.py\n{AFTER}```\n");
    store.add_message(id, Some(user), &NewMessage::new(StoredRole::Assistant, &answer)).unwrap();
    id
}

/// ember continuing conversation `id` in `work`, in a tmux of its own.
fn start(data: &Path, work: &Path, id: i64) -> Tmux {
    let command = format!(
        "XDG_DATA_HOME='{}' EMBER_MODELS_DIR=/nonexistent {} --model '{}' -t 0 --seed 1 --session {id}; echo EXIT=$?; sleep 60",
        data.display(),
        env!("CARGO_BIN_EXE_ember"),
        common::default_model().display()
    );
    let tmux = Tmux::start(&command, work);
    // The model loaded too: its Ready replaces the status line, where the test reads replies.
    tmux.wait_for("the conversation and the model", Duration::from_secs(60), |s| {
        s.contains("[1] python") && s.contains("○ idle") && s.contains(" ctx ")
    });
    tmux
}

fn quit(tmux: &Tmux) {
    tmux.keys(&["C-d"]);
    let end = tmux.wait_for("ember to exit", Duration::from_secs(30), |s| s.contains("EXIT="));
    assert!(end.contains("EXIT=0"), "{end}");
}

/// `/apply 1`: the diff is shown, and written on `y`.
fn apply(tmux: &Tmux, file: &Path) {
    tmux.keys(&["/apply 1", "Enter"]);
    let screen = tmux.wait_for("the diff", Duration::from_secs(10), |s| s.contains("y apply · n cancel"));
    assert!(screen.contains("apply to greet.py (named in the fence) · 1 hunk · +1 −1"), "{screen}");
    assert!(screen.contains("-    print('hi')") && screen.contains("+    print('HI!')"), "{screen}");
    assert_eq!(std::fs::read(file).unwrap(), BEFORE.as_bytes(), "written before it was confirmed");
    tmux.keys(&["y"]);
    tmux.wait_for("the write", Duration::from_secs(10), |s| s.contains("applied to greet.py"));
    assert_eq!(std::fs::read(file).unwrap(), AFTER.as_bytes());
}

fn undo(tmux: &Tmux, file: &Path) {
    tmux.keys(&["/undo", "Enter"]);
    tmux.wait_for("the undo", Duration::from_secs(10), |s| s.contains("restored greet.py"));
    assert_eq!(std::fs::read(file).unwrap(), BEFORE.as_bytes());
}

#[test]
fn apply_a_block_with_its_diff_undo_it_and_undo_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (data, work) = (dir.path().join("data"), dir.path().join("work"));
    std::fs::create_dir_all(&work).unwrap();
    let file = work.join("greet.py");
    std::fs::write(&file, BEFORE).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o754)).unwrap();
    let id = conversation(&data, &work);

    let tmux = start(&data, &work, id);
    // Cancelling writes nothing.
    tmux.keys(&["/apply 1", "Enter"]);
    tmux.wait_for("the diff", Duration::from_secs(10), |s| s.contains("y apply · n cancel"));
    tmux.keys(&["n"]);
    tmux.wait_for("the cancel", Duration::from_secs(10), |s| s.contains("not applied"));
    assert_eq!(std::fs::read(&file).unwrap(), BEFORE.as_bytes());

    apply(&tmux, &file);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o754, "the file's mode changed");
    undo(&tmux, &file);
    apply(&tmux, &file);
    quit(&tmux);
    drop(tmux);

    // The edit was kept with the conversation: a new ember undoes it.
    let tmux = start(&data, &work, id);
    undo(&tmux, &file);
    tmux.keys(&["/undo", "Enter"]);
    tmux.wait_for("nothing left", Duration::from_secs(10), |s| s.contains("nothing to undo"));
    quit(&tmux);
    let names: Vec<_> = std::fs::read_dir(&work).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["greet.py"], "a temporary file was left behind");
}
