use super::*;

#[test]
fn output_and_exit_status_come_back() {
    let out = run("echo hi; echo oops >&2; exit 3", TIMEOUT);
    assert_eq!(out.ending, Ending::Exit(3));
    assert!(out.text.contains("hi\n") && out.text.contains("oops"), "{:?}", out.text);
    assert_eq!(out.cut, 0);
    assert_eq!(run("true", TIMEOUT).text, "(no output)");
}

#[test]
fn long_output_is_cut_with_a_note() {
    let out = run("head -c 100000 /dev/zero | tr '\\0' x", TIMEOUT);
    assert_eq!(out.ending, Ending::Exit(0));
    assert_eq!(out.cut, 100_000 - OUTPUT_CAP);
    assert!(out.text.starts_with(&"x".repeat(OUTPUT_CAP)));
    assert!(out.text.ends_with(&format!("[ember: output cut at 64 KiB; {} more bytes left out]", out.cut)));
}

#[test]
fn escape_sequences_are_removed_and_controls_shown() {
    let out = run(r"printf 'a\033[31mred\033[0m\033]0;title\007b\033]8;;x\033\\c\a\rd'", TIMEOUT);
    assert_eq!(out.text, "aredbc␇␍d");
    assert_eq!(strip_escapes("x\x1b[2J\x1b[?25ly\x1b"), "xy\x1b");
}

/// Whether process `pid` is gone (or a zombie waiting for its parent to notice).
fn gone(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(") ").next().is_some_and(|rest| rest.starts_with('Z')),
        Err(_) => true,
    }
}

/// Waits for `pid` to be gone, for at most ten seconds.
fn wait_gone(pid: &str) -> bool {
    (0..500).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        gone(pid)
    })
}

#[test]
fn stopping_kills_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let (tx, rx) = mpsc::channel();
    let running =
        start(&format!("sleep 60 & echo $! > {}; echo started; wait", pidfile.display()), TIMEOUT, move |o| {
            let _ = tx.send(o);
        });
    let pid = (0..500)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            std::fs::read_to_string(&pidfile).ok().filter(|p| p.ends_with('\n'))
        })
        .unwrap();
    let pid = pid.trim();
    assert!(!gone(pid), "the background sleep runs");
    running.stop();
    let out = rx.recv().unwrap();
    assert_eq!(out.ending, Ending::Stopped);
    assert!(out.text.contains("started"), "output so far is kept: {:?}", out.text);
    assert!(wait_gone(pid), "the background child was killed with the group");
}

#[test]
fn dropping_a_running_command_kills_it_and_a_timeout_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let running = start(&format!("echo $$ > {}; exec sleep 60", pidfile.display()), TIMEOUT, |_| {});
    let pid = (0..500)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            std::fs::read_to_string(&pidfile).ok().filter(|p| p.ends_with('\n'))
        })
        .unwrap();
    drop(running);
    assert!(wait_gone(pid.trim()), "ember quitting leaves nothing running");
    let out = run("sleep 60", Duration::from_millis(200));
    assert_eq!(out.ending, Ending::TimedOut(Duration::from_millis(200)));
}

#[test]
fn a_missing_shell_is_reported() {
    assert!(Ending::NotStarted("zsh: not found".into()).to_string().contains("could not start"));
    assert_eq!(Ending::Exit(0).to_string(), "exit 0");
}
