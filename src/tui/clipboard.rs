//! Copying to the clipboard, and saying truthfully how it was copied. ember writes OSC 52 to the
//! terminal (it cannot know whether the terminal accepted it) and also hands the text to a
//! system tool when one is there (its exit status says whether it worked). Inside tmux, OSC 52
//! reaches the clipboard only with tmux's `set-clipboard` on, so ember reads it and says so.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A clipboard program: its name, its arguments, and the variable that must be set for it to
/// work (none for pbcopy).
pub struct Tool {
    pub name: &'static str,
    pub args: &'static [&'static str],
    pub needs: &'static str,
}

/// The system tools tried, in order.
pub const TOOLS: &[Tool] = &[
    Tool { name: "wl-copy", args: &[], needs: "WAYLAND_DISPLAY" },
    Tool { name: "xclip", args: &["-selection", "clipboard"], needs: "DISPLAY" },
    Tool { name: "xsel", args: &["--clipboard", "--input"], needs: "DISPLAY" },
    Tool { name: "pbcopy", args: &[], needs: "" },
];

/// How long a tool may take before it counts as failed (xclip and wl-copy hand the text to a
/// background process and return at once).
const TOOL_TIMEOUT: Duration = Duration::from_secs(3);

/// Copies `text` with a system tool and, with `osc` (whether OSC 52 could be written to the
/// terminal), says how it went: `Ok` with how it was copied, `Err` with what went wrong and what
/// to do. Blocks on the tool: run it off the render path.
pub fn copy(text: &str, osc: Result<(), String>) -> Result<String, String> {
    let usable = TOOLS.iter().filter(|t| t.needs.is_empty() || std::env::var_os(t.needs).is_some());
    let tool = copy_with(usable, text);
    let tmux = std::env::var_os("TMUX").is_some().then(tmux_set_clipboard).flatten();
    report(osc, tool, tmux.as_deref())
}

/// Runs the tools in turn until one takes `text` and exits successfully; its name.
pub fn copy_with<'t>(tools: impl IntoIterator<Item = &'t Tool>, text: &str) -> Option<&'static str> {
    tools.into_iter().find(|t| run_tool(t, text)).map(|t| t.name)
}

fn run_tool(tool: &Tool, text: &str) -> bool {
    let Ok(mut child) = Command::new(tool.name)
        .args(tool.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let written = child.stdin.take().is_some_and(|mut stdin| stdin.write_all(text.as_bytes()).is_ok());
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return written && status.success(),
            Ok(None) if start.elapsed() < TOOL_TIMEOUT => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// tmux's `set-clipboard` option (`on`, `external` or `off`), when tmux answers.
fn tmux_set_clipboard() -> Option<String> {
    let out = Command::new("tmux").args(["show", "-gv", "set-clipboard"]).stderr(Stdio::null()).output().ok()?;
    let value = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !value.is_empty()).then(|| crate::render::sanitize(&value).into_owned())
}

/// What a copy did, from what OSC 52 writing gave, the tool that worked (if any) and tmux's
/// `set-clipboard` (inside tmux).
pub fn report(osc: Result<(), String>, tool: Option<&str>, tmux: Option<&str>) -> Result<String, String> {
    if let Some(tool) = tool {
        return Ok(format!("copied with {tool}"));
    }
    if let Err(e) = osc {
        return Err(format!("not copied: the terminal could not be written ({e}) and no clipboard tool worked"));
    }
    match tmux {
        None => Ok("sent to the terminal (OSC 52)".into()),
        Some("on") => Ok("sent to tmux and the terminal (OSC 52)".into()),
        Some(setting) => Err(format!(
            "sent as OSC 52, but tmux's set-clipboard is {setting}, so it may not reach the clipboard: \
             add `set -g set-clipboard on` to ~/.tmux.conf"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes the text, then fails.
    const FAILS: Tool = Tool { name: "sh", args: &["-c", "cat > /dev/null; exit 3"], needs: "" };
    const MISSING: Tool = Tool { name: "ember-no-such-clipboard-tool", args: &[], needs: "" };
    const TAKES_IT: Tool = Tool { name: "cat", args: &[], needs: "" };

    #[test]
    fn a_tool_counts_only_when_it_exits_successfully() {
        assert_eq!(copy_with([&MISSING, &FAILS], "x"), None);
        assert_eq!(copy_with([&MISSING, &FAILS, &TAKES_IT], "x"), Some("cat"));
        assert_eq!(copy_with([&TAKES_IT, &FAILS], "x"), Some("cat"), "the first that works");
    }

    #[test]
    fn the_report_says_how_it_was_copied() {
        assert_eq!(report(Ok(()), Some("xclip"), Some("off")), Ok("copied with xclip".into()));
        assert_eq!(report(Ok(()), None, None), Ok("sent to the terminal (OSC 52)".into()));
        assert_eq!(report(Ok(()), None, Some("on")), Ok("sent to tmux and the terminal (OSC 52)".into()));
        let external = report(Ok(()), None, Some("external")).unwrap_err();
        assert!(external.contains("set-clipboard is external"), "{external}");
        assert!(external.contains("set -g set-clipboard on"), "{external}");
        let broken = report(Err("broken pipe".into()), None, None).unwrap_err();
        assert!(broken.starts_with("not copied"), "{broken}");
    }
}
