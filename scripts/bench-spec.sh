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
# whether the greedy output is byte-identical with speculation on and off.
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
server=$(scripts/build-llama-tools.sh --as-ember llama-server)

exec python3 - "$ember" "$server" "$model" <<'PY'
import json, os, re, socket, statistics, subprocess, sys, time, urllib.request

ember, server, model = sys.argv[1:4]
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

def run_ember(path, instruction, speculate):
    p = subprocess.run(ember_args(path, instruction) + ["--speculate", speculate, "--stats"],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900)
    if p.returncode != 0:
        sys.exit(f"ember failed ({p.returncode}): {p.stderr}")
    reply = re.search(r"reply: (\d+) tokens at ([\d.]+) tok/s", p.stderr)
    spec = re.search(r"speculation: (\d+) of (\d+) drafted", p.stderr)
    accepted = (int(spec.group(1)), int(spec.group(2))) if spec else (0, 0)
    return float(reply.group(2)), int(reply.group(1)), accepted, p.stdout

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
                    tps, n, acc, out = run_ember(path, instruction, mode)
                    outputs.setdefault(name, {}).setdefault(mode, set()).add(out)
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
median = lambda xs: f"{statistics.median(xs):.2f}" if xs else "-"
print(f"edit_speedup={median(by_kind.get('edit', []))}")
print(f"explain_speedup={median(by_kind.get('explain', []))}")
print(f"prose_ratio={median(by_kind.get('control', []))}")
print(f"edit_vs_llama={median(vs_llama)}")
print(f"greedy_identical={'yes' if identical else 'no'}")
PY
