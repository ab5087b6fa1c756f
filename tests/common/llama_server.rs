//! A real llama.cpp llama-server for the tests, started on a free loopback port with the default
//! model and killed when dropped.
//!
//! The binary is `$EMBER_LLAMA_SERVER` when set, else what `scripts/build-llama-tools.sh
//! llama-server` prints (it builds it once into ~/.cache/ember/llama-tools; `make test` runs it
//! first, so here it only prints the cached path).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The llama-server binary, built when missing.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("EMBER_LLAMA_SERVER") {
        return PathBuf::from(path);
    }
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-llama-tools.sh");
        let out = Command::new(&script).arg("llama-server").stderr(Stdio::inherit()).output().unwrap();
        assert!(out.status.success(), "{} llama-server failed", script.display());
        let stdout = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(stdout.lines().last().expect("the script printed no path").trim())
    })
    .clone()
}

/// A free loopback port (nothing listens on it once this returns).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running llama-server.
pub struct LlamaServer {
    child: Option<Child>,
    pub port: u16,
    /// Its log (stdout and stderr), shown when it fails to start.
    pub log: tempfile::NamedTempFile,
}

impl LlamaServer {
    /// Starts llama-server with the default model and a 2048-token context, one slot, and waits
    /// until `/health` says it is ready. One thread: llama.cpp's threads spin while they wait for
    /// each other, and on a machine whose cores are busy with other work (the tests' own ember,
    /// parallel builds) 2 threads generated at 2.7 tokens/s where 1 made 31.
    pub fn start() -> LlamaServer {
        Self::start_with(&[])
    }

    /// Like [`LlamaServer::start`], with extra arguments (e.g. `["--api-key", "k"]`).
    pub fn start_with(extra: &[&str]) -> LlamaServer {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "-c", "2048", "-np", "1", "-t", "1"])
            .args(["--slots", "--no-webui", "--no-warmup"])
            .arg("-m")
            .arg(super::default_model())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .spawn()
            .unwrap();
        let mut server = LlamaServer { child: Some(child), port, log };
        server.wait_ready(Duration::from_secs(120));
        server
    }

    /// The API base URL for `--endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// The server's root URL (llama-server's own endpoints).
    pub fn root(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_ready(&mut self, limit: Duration) {
        let start = Instant::now();
        let client = reqwest::blocking::Client::new();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("llama-server exited ({status}) while starting:\n{}", self.log_text());
                }
            }
            let health = client.get(format!("{}/health", self.root())).timeout(Duration::from_secs(2)).send();
            if health.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(start.elapsed() < limit, "llama-server not ready after {limit:?}:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The server process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// Kills the server at once (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether a slot is generating now (from `/slots`).
    pub fn busy(&self) -> bool {
        let slots: serde_json::Value =
            reqwest::blocking::get(format!("{}/slots", self.root())).unwrap().json().unwrap();
        slots.as_array().unwrap().iter().any(|s| s["is_processing"].as_bool().unwrap_or(false))
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        self.kill();
    }
}
