//! `ember models` with 100 models on disk: finding them in every store and reading their GGUF
//! headers must take well under a second.
//!
//! Each fixture is the real default model's header (metadata with its 49,152-token vocabulary
//! and merges, 272 tensor descriptions: 1.8 MB to read) in a sparse file of the model's full
//! size, spread over ember's folder, the Hugging Face cache (symlinks into blobs/), LM Studio's
//! folder and Ollama's store (manifests naming blobs).
//!
//! cargo bench --bench models
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ember::models::discover::{self, Roots};
use ember::models::info;

/// The default model's header region (it ends at byte 1,785,664) and its full size.
fn real_header() -> (Vec<u8>, u64) {
    let path = ember::config::Paths::discover().models_dir.join(ember::models::DEFAULT_MODEL_FILE);
    let mut file = std::fs::File::open(&path).expect("the default model: run `make model`");
    let len = file.metadata().unwrap().len();
    let mut head = vec![0u8; 2 << 20];
    file.read_exact(&mut head).unwrap();
    (head, len)
}

fn write_model(path: &Path, head: &[u8], len: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(head).unwrap();
    f.set_len(len).unwrap();
}

/// 100 models: 40 in ember's folder, 20 in each other store.
fn fixture(home: &Path) -> Roots {
    let (head, len) = real_header();
    for i in 0..40 {
        write_model(&home.join(format!("ember/model-{i:03}.Q4_1.gguf")), &head, len);
    }
    for i in 0..20 {
        let repo = home.join(format!("hf/models--org--repo-{i:03}"));
        write_model(&repo.join("blobs/b0b0"), &head, len);
        let snap = repo.join("snapshots/abc");
        std::fs::create_dir_all(&snap).unwrap();
        std::os::unix::fs::symlink("../../blobs/b0b0", snap.join(format!("repo-{i:03}-Q4_1.gguf"))).unwrap();
        write_model(&home.join(format!("lms/pub/repo-{i:03}/lms-{i:03}.gguf")), &head, len);
        let digest = format!("{i:064x}");
        write_model(&home.join(format!("ollama/blobs/sha256-{digest}")), &head, len);
        let manifest = home.join(format!("ollama/manifests/registry.ollama.ai/library/m{i:03}/latest"));
        std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
        let json = format!(
            r#"{{"layers":[{{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{digest}"}}]}}"#
        );
        std::fs::write(manifest, json).unwrap();
    }
    Roots {
        ember: home.join("ember"),
        huggingface: vec![home.join("hf")],
        llama_cpp: vec![home.join("llama.cpp")],
        lm_studio: vec![home.join("lms")],
        ollama: vec![home.join("ollama")],
    }
}

fn list(roots: &Roots) -> Vec<info::ModelInfo> {
    info::describe_all(&discover::find(roots))
}

fn bench(c: &mut Criterion) {
    let home = tempfile::tempdir().unwrap();
    let roots = fixture(home.path());
    let models = list(&roots);
    assert_eq!(models.len(), 100);
    assert!(models.iter().all(|m| m.architecture.as_deref() == Some("llama") && m.error.is_none()));
    let started = Instant::now();
    list(&roots);
    println!("100 models, one listing: {:?}", started.elapsed());
    let mut group = c.benchmark_group("models");
    group.sample_size(10).measurement_time(Duration::from_secs(5));
    group.bench_function("find and describe 100 models", |b| b.iter(|| list(&roots)));
    group.bench_function("find 100 models (no headers)", |b| b.iter(|| discover::find(&roots)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
