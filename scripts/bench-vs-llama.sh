#!/usr/bin/env bash
# ember against llama.cpp's own tools, side by side, on the default model (or $MODEL):
#
#   scripts/bench-vs-llama.sh            # ~5 minutes once built; first run builds llama.cpp's tools
#
# It builds llama-bench and llama-completion from the llama.cpp tree ember vendors, with ember's
# own build flags (scripts/build-llama-tools.sh --as-ember), then alternates the two programs
# for $ROUNDS rounds and prints one `name=value` line per figure:
#
#   - prompt processing and generation (tok/s): `ember bench` against `llama-bench`, same
#     threads, same batch sizes, flash attention off in both (ember's choice on the CPU; see
#     BENCHMARKS.md), medians over rounds of 5 repetitions each;
#   - first token at turns 2 and 30 of a conversation, against llama-bench evaluating as many
#     new tokens at the same depth (what the KV cache leaves to compute), and at turn 31 with
#     its question evaluated ahead while typed, as the TUI does;
#   - generation through the whole pipe-mode path (engine thread, channel, printer) against
#     llama.cpp's own decode time within the same run;
#   - cold start: wall time of a whole process that loads the model and gives one token for
#     the same prompt text, `ember` (pipe mode, history on) against `llama-completion`;
#   - peak RSS of each at the same context size;
#   - ember's generation speed at 1, 2, physical and logical thread counts, on an idle machine
#     and with one core kept busy.
#
# The last two lines are pp_ratio and tg_ratio (ember / llama-bench, medians). Environment:
# MODEL (a .gguf path), ROUNDS (default 5), THREADS (default: physical cores), SWEEP=0 skips
# the thread sweep, JSON_OUT=FILE also writes every figure there.
set -euo pipefail
cd "$(dirname "$0")/.."

ember=$(scripts/bench-prepare.sh)
tools=$(scripts/build-llama-tools.sh --as-ember llama-bench llama-completion)
llama_bench=$(echo "$tools" | sed -n 1p)
llama_completion=$(echo "$tools" | sed -n 2p)
model=${MODEL:-${XDG_DATA_HOME:-$HOME/.local/share}/ember/models/SmolLM2-135M-Instruct.Q4_1.gguf}

exec python3 - "$ember" "$llama_bench" "$llama_completion" "$model" <<'PY'
import json, os, re, statistics, subprocess, sys, tempfile, time

ember, llama_bench, llama_completion, model = sys.argv[1:5]
rounds = int(os.environ.get("ROUNDS", "5"))
sweep = os.environ.get("SWEEP", "1") != "0"
figures = {}

def say(name, value):
    figures[name] = value
    print(f"{name}={value}", flush=True)

def run(cmd, env=None, stdin=subprocess.DEVNULL):
    """Runs cmd; returns (stdout, wall seconds)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin, env=env)
    out, err = p.communicate()
    wall = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"bench-vs-llama: {' '.join(cmd)} failed ({p.returncode}):\n{err.decode(errors='replace')[-2000:]}")
    return out.decode(), wall

def rss(cmd, env=None):
    """Peak resident memory (MiB) of one run of cmd, from the kernel's accounting of that child."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"bench-vs-llama: {' '.join(cmd)} failed ({status})")
    return usage.ru_maxrss / 1024

def fmt(x):
    return f"{x:.2f}"

data = tempfile.mkdtemp(prefix="ember-bench-")
env = dict(os.environ, XDG_DATA_HOME=data, XDG_CONFIG_HOME=data, XDG_STATE_HOME=data, NO_COLOR="1")

# Physical cores (ember's default on an idle machine) unless THREADS says; llama-bench gets the same.
doctor = run([ember, "--model", model, "doctor"], env)[0]
physical = int(re.search(r"(\d+) physical cores", doctor).group(1))
threads = int(os.environ.get("THREADS", physical))
say("model", os.path.basename(model))
say("threads", threads)
say("cpu", next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"))
say("cores_logical", os.cpu_count())

# Prompt processing and generation, alternating.
pp = {"ember": [], "llama": []}
tg = {"ember": [], "llama": []}
def llama_round():
    out = run([llama_bench, "-m", model, "-p", "512", "-n", "128", "-r", "5", "-t", str(threads), "-fa", "0", "-o", "json"])[0]
    for test in json.loads(out):
        key = pp if test["n_prompt"] > 0 else tg
        key["llama"].append(statistics.median(test["samples_ts"]))

def ember_round():
    out = run([ember, "--model", model, "--threads", str(threads), "bench", "-p", "512", "-n", "128", "-r", "5", "--no-conversation", "--json"], env)[0]
    e = json.loads(out)
    pp["ember"].append(e["pp_tps"]["median"])
    tg["ember"].append(e["tg_tps"]["median"])
    tg_decode.append(e["tg_llama_decode_tps"]["median"])

tg_decode = []
for r in range(rounds):
    # Who goes first alternates, so neither always runs on a machine warmed by the other.
    for step in ((llama_round, ember_round) if r % 2 == 0 else (ember_round, llama_round)):
        step()
    print(f"# round {r + 1}/{rounds}: pp llama-bench {pp['llama'][-1]:.1f} ember {pp['ember'][-1]:.1f} · "
          f"tg llama-bench {tg['llama'][-1]:.1f} ember {tg['ember'][-1]:.1f} tok/s", flush=True)
for name, d in (("pp", pp), ("tg", tg)):
    for who in ("llama", "ember"):
        label = "llama_bench" if who == "llama" else "ember"
        say(f"{name}_{label}_tps", fmt(statistics.median(d[who])))
        say(f"{name}_{label}_spread", f"{min(d[who]):.1f}..{max(d[who]):.1f}")

# ember's own loop (sampling, detokenizing, streaming) against llama.cpp's decode in the same runs.
say("tg_ember_llama_decode_tps", fmt(statistics.median(tg_decode)))
say("tg_ember_over_its_decode", fmt(statistics.median(tg["ember"]) / statistics.median(tg_decode)))

# Cold start: a whole process, model load to one token, the same prompt text in both.
question = "Name three primary colors."
prompt = run([ember, "--model", model, "--print-prompt", question], env)[0]
cold = {"ember": [], "llama": []}
for _ in range(max(5, rounds)):
    cold["llama"].append(run([llama_completion, "-m", model, "-p", prompt, "-n", "1", "-no-cnv", "--no-warmup",
                              "-fa", "off", "-t", str(threads), "--temp", "0", "--no-display-prompt"])[1])
    cold["ember"].append(run([ember, "--model", model, "--threads", str(threads), "--max-tokens", "1",
                              "--temperature", "0", question], env)[1])
say("cold_llama_completion_ms", fmt(1e3 * statistics.median(cold["llama"])))
say("cold_ember_ms", fmt(1e3 * statistics.median(cold["ember"])))
say("cold_ratio", fmt(statistics.median(cold["ember"]) / statistics.median(cold["llama"])))

# The whole pipe-mode path (engine thread, event channel, printer) against llama.cpp's own decode
# time in the same run (its timings, as --stats shows them).
pipe = {"ember": [], "decode": []}
for _ in range(max(3, rounds)):
    err = subprocess.run([ember, "--model", model, "--threads", str(threads), "--no-history", "--temperature", "0",
                          "--max-tokens", "128", "--ctx", "256", "--stats", "Write a long story about a dragon and a knight."],
                         capture_output=True, stdin=subprocess.DEVNULL, env=env).stderr.decode()
    m = re.search(r"reply: (\d+) tokens at ([\d.]+) tok/s \(llama.cpp decode alone: ([\d.]+)\)", err)
    if not m:
        sys.exit(f"bench-vs-llama: no figures from ember --stats:\n{err}")
    pipe["ember"].append(float(m.group(2)))
    pipe["decode"].append(float(m.group(3)))
say("pipe_reply_tokens", m.group(1))
say("pipe_ember_tps", fmt(statistics.median(pipe["ember"])))
say("pipe_llama_decode_tps", fmt(statistics.median(pipe["decode"])))
say("pipe_over_decode", fmt(statistics.median(pipe["ember"]) / statistics.median(pipe["decode"])))

# A conversation: first token at turns 2 and 30 (ember bench's scripted conversation, default
# context), against llama-bench evaluating the same number of new tokens at the same depth.
turns = {"ember2": [], "ember30": [], "ember31": [], "llama2": [], "llama30": []}
for _ in range(rounds):
    e = json.loads(run([ember, "--model", model, "--threads", str(threads), "bench", "-p", "16", "-n", "4", "-r", "1", "--json"], env)[0])
    turns["ember2"].append(e["ttft_turns_ms"][0])
    turns["ember30"].append(e["ttft_turns_ms"][2])
    turns["ember31"].append(e["ttft_turn31_typed_ahead_ms"])
    for i, key in ((0, "llama2"), (2, "llama30")):
        evaluated = e["turns_evaluated_tokens"][i]
        depth = e["turns_prompt_tokens"][i] - evaluated
        out = run([llama_bench, "-m", model, "-p", str(evaluated), "-n", "0", "-d", str(depth), "-r", "5",
                   "-t", str(threads), "-fa", "0", "-o", "json"])[0]
        turns[key].append(1e3 * evaluated / statistics.median(json.loads(out)[0]["samples_ts"]))
    say_depths = (e["turns_prompt_tokens"], e["turns_evaluated_tokens"])
m = {k: statistics.median(v) for k, v in turns.items()}
say("turns_prompt_tokens", "/".join(map(str, say_depths[0])))
say("turns_evaluated_tokens", "/".join(map(str, say_depths[1])))
say("ttft_turn2_ember_ms", fmt(m["ember2"]))
say("ttft_turn30_ember_ms", fmt(m["ember30"]))
say("ttft_turn30_over_turn2_ember", fmt(m["ember30"] / m["ember2"]))
say("same_tokens_at_turn2_depth_llama_bench_ms", fmt(m["llama2"]))
say("same_tokens_at_turn30_depth_llama_bench_ms", fmt(m["llama30"]))
say("turn30_over_turn2_llama_bench", fmt(m["llama30"] / m["llama2"]))
say("ttft_turn30_ember_over_llama_bench", fmt(m["ember30"] / m["llama30"]))
# Turn 31 with its question evaluated ahead, as the TUI does while it is typed.
say("ttft_turn31_typed_ahead_ember_ms", fmt(m["ember31"]))
say("ttft_turn31_typed_ahead_over_turn2", fmt(m["ember31"] / m["ember2"]))

# Peak RSS at the same context size (768: llama-bench's pp542 context, padded as llama.cpp pads).
rss_llama = rss([llama_bench, "-m", model, "-p", "542", "-n", "128", "-r", "1", "-t", str(threads), "-fa", "0"])
rss_ember = rss([ember, "--model", model, "--ctx", "768", "--threads", str(threads), "bench", "-p", "512", "-n", "128",
                 "-r", "1", "--no-conversation"], env)
say("rss_llama_bench_mib", fmt(rss_llama))
say("rss_ember_mib", fmt(rss_ember))
say("rss_delta_mib", fmt(rss_ember - rss_llama))

# Thread count: ember's generation speed, idle and with one core busy.
if sweep:
    counts = sorted({1, 2, physical, os.cpu_count() or 1})
    for loaded in (False, True):
        hog = None
        if loaded:
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            state = "loaded" if loaded else "idle"
            # None: ember's default, which looks at what else runs.
            for n in counts + [None]:
                flag = ["--threads", str(n)] if n else []
                # Smaller when loaded: 2 threads then run at a few tokens a second.
                size = ["-p", "64", "-n", "32", "-r", "1"] if loaded else ["-p", "128", "-n", "64", "-r", "3"]
                e = json.loads(run([ember, "--model", model] + flag + ["bench"] + size + ["--no-conversation", "--json"], env)[0])
                name = f"threads_{n}" if n else "threads_default"
                if not n:
                    say(f"{name}_{state}_chose", e["threads"])
                say(f"{name}_{state}_pp_tps", fmt(e["pp_tps"]["median"]))
                say(f"{name}_{state}_tg_tps", fmt(e["tg_tps"]["median"]))
        finally:
            if hog:
                hog.kill()
                hog.wait()

say("pp_ratio", fmt(statistics.median(pp["ember"]) / statistics.median(pp["llama"])))
say("tg_ratio", fmt(statistics.median(tg["ember"]) / statistics.median(tg["llama"])))
if os.environ.get("JSON_OUT"):
    with open(os.environ["JSON_OUT"], "w") as f:
        json.dump(figures, f, indent=2)
PY
