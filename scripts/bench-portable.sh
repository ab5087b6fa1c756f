#!/usr/bin/env bash
# The portable build (scripts/dist.sh, unpacked as a user gets it) against the native build
# (`make run`'s, target-cpu=native), side by side: `ember bench` prompt processing and generation,
# ROUNDS rounds (default 5) alternating which goes first, medians. Minutes. Figures in
# BENCHMARKS.md; the last two lines are pp_ratio and tg_ratio (portable / native: the median of
# each round's ratio).
#
#   scripts/bench-portable.sh [ARCHIVE]    # default: build one with scripts/dist.sh
set -euo pipefail
cd "$(dirname "$0")/.."

native=$(scripts/bench-prepare.sh)
archive=${1:-$(scripts/dist.sh)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xzf "$archive"
portable=$(echo "$work"/ember-*/ember)
model=${MODEL:-${XDG_DATA_HOME:-$HOME/.local/share}/ember/models/SmolLM2-135M-Instruct.Q4_1.gguf}

exec python3 - "$native" "$portable" "$model" <<'PY'
import json, os, re, statistics, subprocess, sys, tempfile

native, portable, model = sys.argv[1:4]
rounds = int(os.environ.get("ROUNDS", "5"))
data = tempfile.mkdtemp(prefix="ember-bench-")
env = dict(os.environ, XDG_DATA_HOME=data, XDG_CONFIG_HOME=data, XDG_STATE_HOME=data, NO_COLOR="1")

def run(cmd):
    p = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL, env=env)
    if p.returncode != 0:
        sys.exit(f"bench-portable: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr.decode(errors='replace')[-2000:]}")
    return p.stdout.decode()

def say(name, value):
    print(f"{name}={value}", flush=True)

doctor = {who: run([exe, "--model", model, "doctor"]) for who, exe in (("native", native), ("portable", portable))}
threads = int(os.environ.get("THREADS", re.search(r"(\d+) physical cores", doctor["native"]).group(1)))
say("model", os.path.basename(model))
say("threads", threads)
say("cpu", next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"))
for who in ("native", "portable"):
    say(f"{who}_cpu_backend", re.search(r"CPU backend: (.*)", doctor[who]).group(1))

pp = {"native": [], "portable": []}
tg = {"native": [], "portable": []}
def bench(who):
    exe = native if who == "native" else portable
    e = json.loads(run([exe, "--model", model, "--threads", str(threads), "bench", "-p", "512", "-n", "128", "-r", "5",
                        "--no-conversation", "--json"]))
    pp[who].append(e["pp_tps"]["median"])
    tg[who].append(e["tg_tps"]["median"])

for r in range(rounds):
    # Who goes first alternates, so neither always runs on a machine warmed by the other.
    for who in (("native", "portable") if r % 2 == 0 else ("portable", "native")):
        bench(who)
    print(f"# round {r + 1}/{rounds}: pp native {pp['native'][-1]:.1f} portable {pp['portable'][-1]:.1f} · "
          f"tg native {tg['native'][-1]:.1f} portable {tg['portable'][-1]:.1f} tok/s", flush=True)
for name, d in (("pp", pp), ("tg", tg)):
    for who in ("native", "portable"):
        say(f"{name}_{who}_tps", f"{statistics.median(d[who]):.2f}")
        say(f"{name}_{who}_spread", f"{min(d[who]):.1f}..{max(d[who]):.1f}")
# Each round's ratio (the two ran back to back, under the same load), then their median.
for name, d in (("pp", pp), ("tg", tg)):
    say(f"{name}_ratio", f"{statistics.median(p / n for p, n in zip(d['portable'], d['native'])):.3f}")
PY
