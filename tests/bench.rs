//! `ember bench` through the real binary and the real model, at a small size.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

/// `ember ARGS` with its JSON report parsed.
fn bench_json(args: &[&str]) -> serde_json::Value {
    let out = common::ember().args(args).assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn bench_reports_llama_bench_style_figures_as_json() {
    let report = bench_json(&["bench", "-p", "64", "-n", "16", "-r", "2", "--no-conversation", "--json"]);
    // Exactly the tokens asked for are generated (end of text is masked, as in llama-bench).
    assert_eq!(report["tg_tokens"], 16, "{report}");
    let pp = report["pp_tokens"].as_u64().unwrap();
    assert!((64..100).contains(&pp), "prompt of {pp} tokens for -p 64");
    for key in ["pp_tps", "tg_tps", "ttft_warm_ms"] {
        let f = &report[key];
        let (min, median, max) =
            (f["min"].as_f64().unwrap(), f["median"].as_f64().unwrap(), f["max"].as_f64().unwrap());
        assert!(min > 0.0 && min <= median && median <= max, "{key}: {f}");
    }
    assert!(report["ttft_cold_ms"].as_f64().unwrap() > 0.0);
    assert!(report["peak_rss_mib"].as_f64().unwrap() > 50.0, "the model alone is ~100 MB: {report}");
    assert_eq!(report["reps"], 2);
    // As llama-bench: contexts just large enough for each test (llama.cpp pads to 256).
    assert_eq!((report["pp_ctx"].as_u64(), report["tg_ctx"].as_u64()), (Some(256), Some(256)), "{report}");
}

#[test]
fn bench_keeps_a_context_size_that_was_asked_for() {
    let report =
        bench_json(&["--ctx", "1024", "bench", "-p", "32", "-n", "8", "-r", "1", "--no-conversation", "--json"]);
    assert_eq!((report["pp_ctx"].as_u64(), report["tg_ctx"].as_u64()), (Some(1024), Some(1024)), "{report}");
}
