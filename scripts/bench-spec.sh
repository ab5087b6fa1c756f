#!/usr/bin/env bash
# Speculative decoding (`--speculate ngram`) against plain decoding and llama.cpp's own n-gram
# speculation, on the default model (or $MODEL), greedy, over the fixed tasks in bench/spec:
#
#   scripts/bench-spec.sh        # or: make bench-spec. Minutes; first run builds llama-server
#
# bench/spec/tasks.tsv lists the tasks, one a line: their kind (edit: a whole-file rewrite;
# explain: an explanation or review of a file; control: new code or prose, with nothing to
# copy), a name, the input file and the instruction. For each task, rounds alternate plain
# ember (--speculate off), speculative ember (--speculate ngram) and llama-server from the same
# llama.cpp tree built with ember's flags (scripts/build-llama-tools.sh --as-ember) with
# --spec-type ngram-mod and ngram-simple, given ember's exact prompt (ember --print-prompt)
# and reading its `timings`. Each row: the median tokens/s of each, the acceptance rates, and
# whether the greedy output is byte-identical with speculation on and off; then, per task, where
# speculative ember's time went (from its debug log): the drafts and their mean length, tokens
# per decode, the cost of a decode of 8 tokens in decodes of one as ember measured it, and
# ember's own time per token outside llama.cpp. First, llama-bench's time for a decode of 1, 2,
# 4, 8 and 16 tokens at depth 512 on these threads (it computes the logits of the last token
# only; a verification needs them all, so ember's own figure is the one that counts).
#
# It ends with medians over the tasks of each kind: edit_speedup, explain_speedup, prose_ratio
# (speculative / plain ember), edit_vs_llama (speculative ember / llama.cpp's better n-gram
# mode) and greedy_identical=yes|no. Environment: MODEL, ROUNDS (default 3), THREADS (default
# 2), MAX_TOKENS (default 400), TASKS (a file in tasks.tsv's format).
set -euo pipefail
cd "$(dirname "$0")/.."

# The tools, the model, ember and llama-server (built once, several minutes).
scripts/install-deps.sh; scripts/fetch-model.sh >/dev/null; cargo build --release --locked --quiet
ember=${CARGO_TARGET_DIR:-target}/release/ember
model=${MODEL:-${XDG_DATA_HOME:-$HOME/.local/share}/ember/models/SmolLM2-135M-Instruct.Q4_1.gguf}
mapfile -t tools < <(scripts/build-llama-tools.sh --as-ember llama-server llama-bench)

exec python3 - "$ember" "${tools[0]}" "$model" "${tools[1]}" <<'PY'
import json, os, re, socket, statistics, subprocess, sys, tempfile, time, urllib.request

ember, server, model, llama_bench = sys.argv[1:5]
rounds = int(os.environ.get("ROUNDS", "3"))
threads = os.environ.get("THREADS", "2")
max_tokens = int(os.environ.get("MAX_TOKENS", "400"))
tasks_file = os.environ.get("TASKS", "bench/spec/tasks.tsv")

tasks = []
for line in open(tasks_file, encoding="utf-8"):
    if line.strip() and not line.startswith("#"):
        kind, name, path, instruction = line.rstrip("\n").split("\t")
        tasks.append((kind, name, None if path == "-" else os.path.join("bench/spec", path), instruction))

def ember_args(path, instruction):
    args = [ember, "--model", model, "--no-history", "--threads", threads, "--temperature", "0",
            "--seed", "1", "--max-tokens", str(max_tokens)]
    return args + (["--file", path] if path else []) + [instruction]

def decode_costs():
    """llama-bench's milliseconds for a decode of 1, 2, 4, 8 and 16 tokens at depth 512."""
    p = subprocess.run([llama_bench, "-m", model, "-p", "1,2,4,8,16", "-n", "0", "-d", "512", "-r", "3",
                        "-t", threads, "-fa", "0", "-o", "json"], capture_output=True, text=True, check=True)
    return {r["n_prompt"]: 1000.0 * r["n_prompt"] / r["avg_ts"] for r in json.loads(p.stdout)}

def spec_log(log):
    """The figures of the last `speculation` line of an ember.log (EMBER_LOG=debug)."""
    lines = [l for l in open(log, encoding="utf-8", errors="replace") if " speculation decodes=" in l] \
        if os.path.exists(log) else []
    return dict(re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", lines[-1])) if lines else {}

def run_ember(path, instruction, speculate):
    with tempfile.TemporaryDirectory() as state:
        env = dict(os.environ, XDG_STATE_HOME=state, EMBER_LOG="debug")
        p = subprocess.run(ember_args(path, instruction) + ["--speculate", speculate, "--stats"], env=env,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900)
        figures = spec_log(os.path.join(state, "ember", "ember.log"))
    if p.returncode != 0:
        sys.exit(f"ember failed ({p.returncode}): {p.stderr}")
    reply = re.search(r"reply: (\d+) tokens at ([\d.]+) tok/s", p.stderr)
    spec = re.search(r"speculation: (\d+) of (\d+) drafted", p.stderr)
    accepted = (int(spec.group(1)), int(spec.group(2))) if spec else (0, 0)
    return float(reply.group(2)), int(reply.group(1)), accepted, p.stdout, figures

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def start_server(spec_type):
    port = free_port()
    proc = subprocess.Popen([server, "-m", model, "-c", "8192", "-t", threads, "-tb", threads, "-np", "1",
                             "-fa", "off", "--host", "127.0.0.1", "--port", str(port), "--spec-type", spec_type],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    sys.exit(f"llama-server --spec-type {spec_type} did not start")

def run_server(port, prompt):
    body = {"prompt": prompt, "n_predict": max_tokens, "temperature": 0, "top_k": 40, "top_p": 0.95,
            "min_p": 0.05, "repeat_penalty": 1.1, "repeat_last_n": 64, "seed": 1, "cache_prompt": False}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=900) as r:
        t = json.load(r)["timings"]
    return t["predicted_per_second"], (t.get("draft_n_accepted", 0), t.get("draft_n", 0))

costs = decode_costs()
print("llama-bench, a decode of n tokens at depth 512, ms (and in decodes of 1): " +
      ", ".join(f"{n}: {ms:.1f} ({ms / costs[1]:.2f})" for n, ms in sorted(costs.items())))
breakdown = {}
prompts = {}
for kind, name, path, instruction in tasks:
    p = subprocess.run(ember_args(path, instruction) + ["--print-prompt"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, check=True)
    prompts[name] = p.stdout

servers = {t: start_server(t) for t in ("ngram-mod", "ngram-simple")}
results = {name: {"off": [], "ngram": [], "ngram-mod": [], "ngram-simple": []} for _, name, _, _ in tasks}
accepts = {name: {} for _, name, _, _ in tasks}
outputs = {}
try:
    for r in range(rounds):
        for kind, name, path, instruction in tasks:
            order = ["off", "ngram", "ngram-mod", "ngram-simple"]
            for mode in (order if r % 2 == 0 else order[::-1]):
                if mode in servers:
                    tps, acc = run_server(servers[mode][1], prompts[name])
                else:
                    tps, n, acc, out, figures = run_ember(path, instruction, mode)
                    outputs.setdefault(name, {}).setdefault(mode, set()).add(out)
                    if mode == "ngram":
                        breakdown[name] = (n, figures)
                results[name][mode].append(tps)
                accepts[name][mode] = acc
            print(f"# round {r + 1}/{rounds}: {name} done", file=sys.stderr, flush=True)
finally:
    for proc, _ in servers.values():
        proc.terminate()
        proc.wait()

def rate(acc):
    return f"{acc[0] / acc[1]:.2f}" if acc[1] else "-"

print(f"{'task':<12} {'kind':<8} {'plain':>7} {'spec':>7} {'ratio':>6} {'mod':>7} {'simple':>7} "
      f"{'acc':>5} {'acc_mod':>7} {'acc_simple':>10} identical")
by_kind, vs_llama, identical = {}, [], True
for kind, name, _, _ in tasks:
    med = {m: statistics.median(v) for m, v in results[name].items()}
    ratio = med["ngram"] / med["off"]
    same = outputs[name]["off"] == outputs[name]["ngram"] and len(outputs[name]["off"]) == 1
    identical &= same
    by_kind.setdefault(kind, []).append(ratio)
    if kind == "edit":
        vs_llama.append(med["ngram"] / max(med["ngram-mod"], med["ngram-simple"]))
    a = accepts[name]
    print(f"{name:<12} {kind:<8} {med['off']:>7.1f} {med['ngram']:>7.1f} {ratio:>6.2f} {med['ngram-mod']:>7.1f} "
          f"{med['ngram-simple']:>7.1f} {rate(a['ngram']):>5} {rate(a['ngram-mod']):>7} {rate(a['ngram-simple']):>10} "
          f"{'yes' if same else 'no'}")
print(f"\n{'task':<12} {'drafts':>6} {'mean_len':>8} {'tok/decode':>10} {'cost(8)':>7} {'single_ms':>9} "
      f"{'own_us/tok':>10} acceptance by n-gram length 3..6")
for kind, name, _, _ in tasks:
    n, f = breakdown.get(name, (0, {}))
    drafts, decodes = int(f.get("drafts", 0)), int(f.get("decodes", 0))
    mean_len = f"{int(f['drafted']) / drafts:.1f}" if drafts else "-"
    per = f"{n / (decodes + 1):.2f}" if f else "-"
    cost8 = f"{1 + 7 * float(f['extra_per_draft_token']):.2f}" if f else "-"
    print(f"{name:<12} {drafts:>6} {mean_len:>8} {per:>10} {cost8:>7} {float(f.get('single_decode_ms', 0)):>9.1f} "
          f"{float(f.get('own_us_per_token', 0)):>10.0f} {f.get('acceptance_by_ngram', '-').strip(chr(34))}")
median = lambda xs: f"{statistics.median(xs):.2f}" if xs else "-"
print(f"edit_speedup={median(by_kind.get('edit', []))}")
print(f"explain_speedup={median(by_kind.get('explain', []))}")
print(f"prose_ratio={median(by_kind.get('control', []))}")
print(f"edit_vs_llama={median(vs_llama)}")
print(f"greedy_identical={'yes' if identical else 'no'}")
PY
