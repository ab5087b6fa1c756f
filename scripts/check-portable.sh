#!/usr/bin/env bash
# Checks the portable build (scripts/dist.sh) as a user gets it, with scripts/smoke-archive.sh
# (SHA-256, at most 30 MB, `ember --version`, the CPU variant `ember doctor` names, loaded from the
# archive's folder, and one greedy answer on the default model):
#   1. on this CPU;
#   2. on an older CPU, emulated (qemu-x86_64 -cpu Nehalem: SSE4.2, no AVX; an x86-64-v2 model),
#      where the SSE4.2 variant must be the one chosen;
#   3. on a CPU older than every variant shipped (qemu-x86_64 -cpu Penryn: a Core 2, SSE4.1, no
#      SSE4.2), where ember must refuse with a clear error, not die with an illegal instruction;
#   4. and the native build (`make run`'s) on the Nehalem CPU dies with an illegal instruction.
# x86-64 Linux only; needs qemu-user (apt-get install qemu-user). Emulation is slow: minutes.
#
#   scripts/check-portable.sh [ARCHIVE]    # default: build one with scripts/dist.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -sm)" != "Linux x86_64" ]; then
    echo "check-portable: x86-64 Linux only (this is $(uname -sm))" >&2
    exit 1
fi
command -v qemu-x86_64 >/dev/null || { echo "check-portable: qemu-x86_64 is missing: apt-get install qemu-user" >&2; exit 1; }
scripts/fetch-model.sh
model=${XDG_DATA_HOME:-$HOME/.local/share}/ember/models/SmolLM2-135M-Instruct.Q4_1.gguf
archive=${1:-$(scripts/dist.sh)}
cargo build --release --locked --quiet
native=$(realpath "${CARGO_TARGET_DIR:-target}/release/ember")

fail() { echo "check-portable: FAILED: $*" >&2; exit 1; }
scripts/smoke-archive.sh "$archive" | sed 's/^/this CPU: /'
# Nehalem: SSE4.2 and no AVX, so the SSE4.2 variant is the best one.
old=$(scripts/smoke-archive.sh "$archive" qemu-x86_64 -cpu Nehalem)
echo "$old" | sed 's/^/qemu -cpu Nehalem: /'
[[ $old == *"CPU backend: sse42,"* ]] || fail "qemu -cpu Nehalem: the SSE4.2 variant was not the one chosen"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xzf "$archive"
set +e
XDG_STATE_HOME=$work XDG_CONFIG_HOME=$work EMBER_NO_HISTORY=1 \
    qemu-x86_64 -cpu Penryn "$work"/ember-*/ember --model "$model" --max-tokens 1 "Say hi." > "$work/penryn" 2>&1
status=$?
set -e
echo "the archive under qemu -cpu Penryn: exit status $status: $(tail -1 "$work/penryn")"
[ "$status" -ne 0 ] && [ "$status" -lt 128 ] || fail "qemu -cpu Penryn: expected a clear error, got status $status"
grep -q "llama.cpp could not start: none of the 6 CPU backend libraries" "$work/penryn" \
    || fail "qemu -cpu Penryn: the error does not say why"

set +e
XDG_STATE_HOME=$work EMBER_NO_HISTORY=1 \
    qemu-x86_64 -cpu Nehalem "$native" --model "$model" --max-tokens 1 --threads 2 "Say hi." > "$work/out" 2>&1
status=$?
set -e
echo "native build under qemu -cpu Nehalem: exit status $status: $(tail -1 "$work/out")"
[ "$status" -eq 132 ] || grep -q 'Illegal instruction' "$work/out" \
    || fail "the native build did not die with an illegal instruction (status $status)"

echo "check-portable: all good"
