#!/usr/bin/env bash
# ember against llama-bench with every layer on an NVIDIA GPU, as one short run (build included):
#
#   scripts/bench-gpu.sh
#
# Needs nvidia-smi and the CUDA toolkit (nvcc, on PATH or in /usr/local/cuda/bin). Builds ember
# with `--features cuda` and llama.cpp's llama-bench from the same llama.cpp tree, both for this
# GPU's architecture only (CMAKE_CUDA_ARCHITECTURES, e.g. 90 for H100/H200; set it to override),
# then alternates `llama-bench -ngl 99` and `ember --gpu-layers all bench` for $ROUNDS rounds.
# Prints name=value lines ending with pp_ratio and tg_ratio (ember / llama-bench, medians).
# Builds go to target/cuda and ~/.cache/ember/llama-tools/build-*-cuda; reruns reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvidia-smi >/dev/null; then
  echo "bench-gpu: no nvidia-smi here: this needs an NVIDIA GPU and its driver" >&2
  exit 1
fi
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=/usr/local/cuda/bin:$PATH
fi
if ! command -v nvcc >/dev/null; then
  echo "bench-gpu: no nvcc: install the CUDA toolkit (Debian: nvidia-cuda-toolkit)" >&2
  exit 1
fi
# "9.0" -> 90: only this GPU's architecture is compiled, which keeps the build short.
arch=${CMAKE_CUDA_ARCHITECTURES:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')}
export CMAKE_CUDA_ARCHITECTURES=$arch
jobs=$(nproc)
export CMAKE_BUILD_PARALLEL_LEVEL=$jobs
echo "# GPU: $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -1) · CUDA arch $arch · $jobs cores" >&2

scripts/install-deps.sh
scripts/fetch-model.sh >/dev/null
model=${MODEL:-${XDG_DATA_HOME:-$HOME/.local/share}/ember/models/SmolLM2-135M-Instruct.Q4_1.gguf}

# The two builds run side by side: each is mostly nvcc compiling ggml's CUDA kernels.
start=$(date +%s)
export CARGO_TARGET_DIR=${CUDA_TARGET_DIR:-$PWD/target/cuda}
cargo build --release --locked --features cuda --quiet &
ember_build=$!
tools=$(scripts/build-llama-tools.sh --cuda llama-bench)
wait "$ember_build"
echo "# built in $(($(date +%s) - start)) s" >&2
ember=$CARGO_TARGET_DIR/release/ember
llama_bench=$tools

exec python3 - "$ember" "$llama_bench" "$model" <<'PY'
import json, os, statistics, subprocess, sys

ember, llama_bench, model = sys.argv[1:4]
rounds = int(os.environ.get("ROUNDS", "3"))

def run(cmd):
    p = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        sys.exit(f"bench-gpu: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr.decode(errors='replace')[-2000:]}")
    return p.stdout.decode()

def say(name, value):
    print(f"{name}={value}", flush=True)

pp = {"ember": [], "llama": []}
tg = {"ember": [], "llama": []}
for r in range(rounds):
    for test in json.loads(run([llama_bench, "-m", model, "-ngl", "99", "-p", "512", "-n", "128", "-r", "5", "-o", "json"])):
        (pp if test["n_prompt"] > 0 else tg)["llama"].append(statistics.median(test["samples_ts"]))
    e = json.loads(run([ember, "--model", model, "--gpu-layers", "all", "bench", "-p", "512", "-n", "128", "-r", "5",
                        "--no-conversation", "--json"]))
    pp["ember"].append(e["pp_tps"]["median"])
    tg["ember"].append(e["tg_tps"]["median"])
    print(f"# round {r + 1}/{rounds}: pp llama-bench {pp['llama'][-1]:.0f} ember {pp['ember'][-1]:.0f} · "
          f"tg llama-bench {tg['llama'][-1]:.0f} ember {tg['ember'][-1]:.0f} tok/s", flush=True)
say("model", os.path.basename(model))
for name, d in (("pp", pp), ("tg", tg)):
    say(f"{name}_llama_bench_tps", f"{statistics.median(d['llama']):.1f}")
    say(f"{name}_ember_tps", f"{statistics.median(d['ember']):.1f}")
say("pp_ratio", f"{statistics.median(pp['ember']) / statistics.median(pp['llama']):.2f}")
say("tg_ratio", f"{statistics.median(tg['ember']) / statistics.median(tg['llama']):.2f}")
PY
