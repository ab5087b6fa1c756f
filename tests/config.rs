//! Configuration file, precedence, roles and the informational subcommands, through the real
//! binary with its own XDG folders.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use predicates::prelude::*;

/// The binary with XDG folders under `home` and no EMBER_* from the caller's environment.
fn ember_in(home: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("ember").unwrap();
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("EMBER_MODELS_DIR", common::default_model().parent().unwrap())
        .env("EMBER_NO_HISTORY", "1");
    for var in ["EMBER_MODEL", "EMBER_CONFIG", "EMBER_ROLE", "EMBER_TEMPERATURE", "EMBER_CTX", "EMBER_LOG", "NO_COLOR"]
    {
        cmd.env_remove(var);
    }
    cmd
}

fn write_config(home: &Path, text: &str) -> std::path::PathBuf {
    let dir = home.join("config/ember");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_broken_config_line_is_named() {
    let home = tempfile::tempdir().unwrap();
    let path = write_config(home.path(), "model = \"x.gguf\"\n\n[sampling]\ntempreature = 0.2\n");
    ember_in(home.path())
        .args(["--print-prompt", "hi"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("invalid config file {}, line 4", path.display())))
        .stderr(predicate::str::contains("unknown key `tempreature`"));
    // A syntax error and a wrong type, too.
    write_config(home.path(), "ctx = 4096\nthreads = = 2\n");
    ember_in(home.path()).arg("roles").assert().code(2).stderr(predicate::str::contains("line 2"));
    write_config(home.path(), "history = \"yes\"\n");
    ember_in(home.path()).arg("roles").assert().code(2).stderr(predicate::str::contains("line 1"));
    // The commands that find and fix the file still work.
    ember_in(home.path()).args(["config", "--path"]).assert().success().stdout(format!("{}\n", path.display()));
    ember_in(home.path())
        .args(["config", "--default"])
        .assert()
        .success()
        .stdout(predicate::str::contains("[sampling]"));
}

#[test]
fn the_default_config_is_a_valid_config() {
    let home = tempfile::tempdir().unwrap();
    let out = ember_in(home.path()).args(["config", "--default"]).assert().success().get_output().stdout.clone();
    write_config(home.path(), &String::from_utf8(out).unwrap());
    ember_in(home.path()).arg("config").assert().success();
}

#[test]
fn flags_beat_environment_beats_file_beats_defaults() {
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), "ctx = 1024\n[sampling]\ntemperature = 0.9\ntop_k = 5\n");
    let out = ember_in(home.path()).arg("config").assert().success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("sampling.temperature = 0.9") && out.contains("# config file"), "{out}");
    assert!(out.contains("sampling.min_p = 0.05") && out.contains("# default"), "{out}");
    let out = ember_in(home.path()).env("EMBER_TEMPERATURE", "0.3").arg("config").output().unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    assert!(out.contains("sampling.temperature = 0.3") && out.contains("environment (EMBER_TEMPERATURE)"), "{out}");
    let out = ember_in(home.path()).env("EMBER_TEMPERATURE", "0.3").args(["-t", "0.1", "config"]).output().unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    assert!(out.contains("sampling.temperature = 0.1") && out.contains("command line"), "{out}");
    assert!(out.contains("sampling.top_k = 5"), "{out}");
    // The file's context size really reaches the engine, and the environment's beats it.
    // (llama.cpp rounds a context up to a multiple of 256.)
    write_config(home.path(), "ctx = 300\n");
    let long = "word ".repeat(1000);
    ember_in(home.path())
        .args(["-t", "0", "--max-tokens", "2", &long])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("but the context holds 512"));
    ember_in(home.path())
        .env("EMBER_CTX", "600")
        .args(["-t", "0", "--max-tokens", "2", &long])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("but the context holds 768"));
}

#[test]
fn the_coder_role_sets_the_system_prompt_and_its_temperature() {
    let home = tempfile::tempdir().unwrap();
    ember_in(home.path())
        .args(["--role", "coder", "--print-prompt", "sort a list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("<|im_start|>system\nYou are an expert programmer"));
    let out = ember_in(home.path()).args(["--role", "coder", "config"]).output().unwrap();
    let out = String::from_utf8(out.stdout).unwrap();
    assert!(out.contains("sampling.temperature = 0.2") && out.contains("# role"), "{out}");
    // An explicit flag still wins over the role.
    let out = ember_in(home.path()).args(["--role", "coder", "-t", "1", "config"]).output().unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("sampling.temperature = 1.0"));
    ember_in(home.path())
        .args(["--role", "poet", "hi"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no role named \"poet\"").and(predicate::str::contains("coder")));
}

#[test]
fn user_roles_add_and_override_with_variables() {
    let home = tempfile::tempdir().unwrap();
    let roles = home.path().join("config/ember/roles");
    std::fs::create_dir_all(&roles).unwrap();
    std::fs::write(roles.join("tutor.md"), "---\ndescription: Teaches {{language}}\n---\nYou teach {{language}}.")
        .unwrap();
    std::fs::write(roles.join("fr.md"), "---\ndescription: Translates to French\n---\nTranslate to French:\n{{input}}")
        .unwrap();
    ember_in(home.path())
        .arg("roles")
        .assert()
        .success()
        .stdout(predicate::str::contains("tutor\tTeaches {{language}}"))
        .stdout(predicate::str::contains("fr\tTranslates to French"))
        .stdout(predicate::str::contains("commit\t"));
    ember_in(home.path())
        .args(["--role", "tutor", "--var", "language=Rust", "--print-prompt", "lifetimes?"])
        .assert()
        .success()
        .stdout(predicate::str::contains("system\nYou teach Rust.<|im_end|>"));
    ember_in(home.path())
        .args(["--role", "tutor", "--print-prompt", "lifetimes?"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--var language=VALUE"));
    // An {{input}} role wraps the question (and piped input) into the user's message.
    ember_in(home.path())
        .args(["--role", "fr", "--print-prompt", "good morning"])
        .assert()
        .success()
        .stdout(predicate::str::contains("<|im_start|>user\nTranslate to French:\ngood morning<|im_end|>"));
    // A broken role file is named with its line.
    std::fs::write(roles.join("bad.md"), "---\ntemprature: 1\n---\nx").unwrap();
    ember_in(home.path()).arg("roles").assert().code(2).stderr(predicate::str::contains("bad.md, line 2"));
    ember_in(home.path())
        .args(["--role", "coder", "hi"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.md, line 2"));
}

#[test]
fn the_config_chooses_the_model_role_and_history() {
    let home = tempfile::tempdir().unwrap();
    write_config(home.path(), "role = \"shell\"\nhistory = false\n");
    ember_in(home.path())
        .env_remove("EMBER_NO_HISTORY")
        .args(["--print-prompt", "list files"])
        .assert()
        .success()
        .stdout(predicate::str::contains("one shell command"));
    write_config(home.path(), "model = \"no-such-model.gguf\"\n");
    ember_in(home.path())
        .args(["-t", "0", "hi"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no-such-model.gguf"));
}

#[test]
fn completions_man_page_and_doctor() {
    let home = tempfile::tempdir().unwrap();
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef ember"), ("fish", "complete -c ember")] {
        ember_in(home.path()).args(["completions", shell]).assert().success().stdout(predicate::str::contains(marker));
    }
    ember_in(home.path()).arg("man").assert().success().stdout(predicate::str::contains(".TH ember 1"));
    ember_in(home.path())
        .arg("doctor")
        .assert()
        .success()
        .stdout(predicate::str::contains("compute devices llama.cpp sees:"))
        .stdout(predicate::str::contains("CPU"))
        .stdout(predicate::str::contains("architecture llama · 30 layers"))
        .stdout(predicate::str::contains("threads: "))
        .stdout(predicate::str::contains(format!(
            "config:   {}",
            home.path().join("config/ember/config.toml").display()
        )));
}

#[test]
fn an_unknown_theme_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    ember_in(home.path())
        .args(["--theme", "neon", "roles"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown theme \"neon\"").and(predicate::str::contains("InspiredGitHub")));
    ember_in(home.path()).args(["--theme", "light", "roles"]).assert().success();
}

#[test]
fn the_config_remote_section_chooses_a_server_and_loads_no_model() {
    let home = tempfile::tempdir().unwrap();
    // A port nothing listens on: the error shows the configured endpoint was used, and the
    // configured model name (not a local file) went with it.
    write_config(
        home.path(),
        "model = \"no-such-local-model.gguf\"\n[remote]\nendpoint = \"http://127.0.0.1:9/v1\"\nmodel = \"server-model\"\nconnect_timeout = 2\n",
    );
    ember_in(home.path())
        .args(["-t", "0", "hi"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot connect to http://127.0.0.1:9/v1"))
        .stderr(predicate::str::contains("no-such-local-model").not());
    // A flag beats the file's endpoint.
    ember_in(home.path())
        .args(["--endpoint", "http://127.0.0.1:7/v1", "-t", "0", "hi"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("http://127.0.0.1:7/v1"));
}

/// Whether ember maps its model file while answering, seen from /proc/PID/maps once the answer
/// has begun (the model is loaded then); ember must then finish the answer successfully.
fn maps_the_model(extra: &[&str]) -> bool {
    use std::io::Read;
    let home = tempfile::tempdir().unwrap();
    let model = common::default_model();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(["--model"])
        .arg(&model)
        .args(extra)
        .args(["-t", "0", "--max-tokens", "300", "Write a long story about a lighthouse."])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("EMBER_NO_HISTORY", "1")
        .env_remove("EMBER_MMAP")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    assert_eq!(stdout.read(&mut first).unwrap(), 1, "no answer began");
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", child.id())).unwrap();
    assert!(child.try_wait().unwrap().is_none(), "ember ended before its memory map was read");
    let name = model.file_name().unwrap().to_string_lossy().into_owned();
    let mapped = maps.contains(&name);
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&out.stderr));
    mapped
}

#[test]
fn the_model_is_read_unless_mmap_is_asked_for() {
    assert!(!maps_the_model(&[]), "the model file was mapped by default");
    assert!(maps_the_model(&["--mmap"]), "--mmap did not map the model file");
}

#[test]
fn bad_environment_values_are_usage_errors_that_name_the_variable() {
    let home = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("EMBER_CTX", "lots"),
        ("EMBER_CTX", "8"),
        ("EMBER_THREADS", "0"),
        ("EMBER_TEMPERATURE", "hot"),
        ("EMBER_TOP_P", "1.5"),
        ("EMBER_TOP_K", "-1"),
        ("EMBER_MIN_P", "nan"),
        ("EMBER_REPEAT_PENALTY", "0"),
        ("EMBER_MAX_TOKENS", "0"),
        ("EMBER_SEED", "x"),
        ("EMBER_MMAP", "perhaps"),
        ("EMBER_NO_HISTORY", "perhaps"),
        ("EMBER_GPU_LAYERS", "many"),
    ] {
        let out = ember_in(home.path()).env(var, value).args(["-p", "hi"]).assert().code(2).get_output().clone();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("'{value}'")) && err.contains(var), "{var}={value}: {err}");
        assert!(out.stdout.is_empty(), "{var}={value}: answered anyway");
    }
    // Names that do not resolve are errors too, each saying what was wrong.
    ember_in(home.path())
        .env("EMBER_THEME", "neon")
        .args(["-p", "hi"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown theme \"neon\""));
    ember_in(home.path())
        .env("EMBER_ROLE", "no-such-role")
        .args(["-p", "hi"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no-such-role"));
    ember_in(home.path())
        .env("EMBER_MODEL", "/nonexistent/model.gguf")
        .args(["-p", "hi"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/nonexistent/model.gguf"));
    ember_in(home.path())
        .env("EMBER_ENDPOINT", "not a url")
        .args(["-p", "hi"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a url"));
}

#[test]
fn a_broken_remote_section_is_named() {
    let home = tempfile::tempdir().unwrap();
    for (text, line, says) in [
        ("[remote]\nendpoint = 8080\n", 2, "endpoint"),
        ("[remote]\nendpoint = \"http://127.0.0.1:9/v1\"\nmodle = \"x\"\n", 3, "unknown key `modle`"),
        ("[remote]\nread_timeout = -1\n", 2, "read_timeout"),
        ("[remote]\nconnect_timeout = \"soon\"\n", 2, "connect_timeout"),
        ("[remote]\nctx = 1.5\n", 2, "ctx"),
        ("remote = \"http://127.0.0.1:9/v1\"\n", 1, "remote"),
    ] {
        let path = write_config(home.path(), text);
        let out = ember_in(home.path()).args(["-p", "hi"]).assert().code(2).get_output().clone();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("invalid config file {}, line {line}", path.display())) && err.contains(says),
            "{text:?}: {err}"
        );
    }
    // An endpoint that is not a URL is named with where it came from.
    write_config(home.path(), "[remote]\nendpoint = \"localhost port 8080\"\n");
    ember_in(home.path()).args(["-p", "hi"]).assert().failure().stderr(predicate::str::contains("localhost port 8080"));
}
