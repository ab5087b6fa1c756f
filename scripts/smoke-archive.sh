#!/usr/bin/env bash
# Checks a release archive (scripts/dist.sh) as a user gets it, unpacked in a fresh folder: its
# SHA-256 file, the size of the binary with the libraries it loads (at most 30 MB, symbols kept),
# `ember --version`, the CPU backend `ember doctor` names (in a portable build, a variant loaded
# from the archive's folder) and one greedy answer on the default model (scripts/fetch-model.sh
# first). Linux and macOS.
#
#   scripts/smoke-archive.sh ARCHIVE [RUNNER...]   # e.g. RUNNER: qemu-x86_64 -cpu Nehalem
#   NO_ANSWER=1 scripts/smoke-archive.sh ARCHIVE   # where the model cannot run
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 ARCHIVE [RUNNER...]" >&2; exit 2; }
archive=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
cd "$(dirname "$0")/.."
fail() { echo "smoke-archive: FAILED: $*" >&2; exit 1; }
# The default model where scripts/fetch-model.sh puts it.
model=${EMBER_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/ember/models}/SmolLM2-135M-Instruct.Q4_1.gguf

if command -v sha256sum >/dev/null; then sha=(sha256sum); else sha=(shasum -a 256); fi
(cd "$(dirname "$archive")" && "${sha[@]}" -c "$(basename "$archive").sha256") >&2 || fail "SHA-256"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -C "$work" -xzf "$archive"
dir=$(echo "$work"/ember-*)
for f in ember README.md LICENSE-MIT LICENSE-APACHE LICENSE-llama.cpp THIRD-PARTY-LICENSES.txt; do
    [ -f "$dir/$f" ] || fail "$f is missing from the archive"
done
export XDG_CONFIG_HOME=$work/home XDG_DATA_HOME=$work/home XDG_STATE_HOME=$work/home EMBER_NO_HISTORY=1

# What one process maps: the binary, the libraries it links and the largest CPU variant (it loads
# one); and the whole folder, every variant included.
size() { find "$dir" -type f "$@" -exec wc -c {} + | awk '{ if ($2 != "total") t += $1 } END { print t + 0 }'; }
libs=$(find "$dir" -name 'lib*.so*' -o -name '*.dylib' | wc -l | tr -d ' ')
linked=$(size \( -name ember -o -name 'lib*.so*' -o -name '*.dylib' \) ! -name 'libggml-cpu-*')
largest=$(find "$dir" -name 'libggml-cpu-*.so' -exec wc -c {} + | awk '$2 != "total" && $1 > m { m = $1 } END { print m + 0 }')
loaded=$((linked + largest))
all=$(size \( -name ember -o -name 'lib*.so*' -o -name '*.dylib' \))
echo "size: binary $(wc -c < "$dir/ember" | tr -d ' ') bytes; loaded (with its libraries and the largest" \
    "CPU variant) $loaded bytes; with all $libs libraries $all bytes; archive $(wc -c < "$archive" | tr -d ' ') bytes"
[ "$loaded" -le $((30 * 1000 * 1000)) ] || fail "the binary with the libraries it loads exceeds 30 MB"
[ "$all" -le $((30 * 1000 * 1000)) ] || fail "the binary with all its libraries exceeds 30 MB"
nm "$dir/ember" > "$work/symbols"
grep -q ' T _\{0,1\}main$' "$work/symbols" || fail "the binary has lost its symbols"

# Run as a user who linked it onto their PATH would, unless emulated.
exe=$dir/ember
if [ $# -eq 0 ]; then
    mkdir "$work/bin"
    ln -s "$dir/ember" "$work/bin/ember"
    exe=$work/bin/ember
fi
"$@" "$exe" --version | grep -q "^ember " || fail "--version"
# The OpenMP runtime shipped beside the binary is the one it runs with, not the system's.
if [ -f "$dir/libgomp.so.1" ] && [ $# -eq 0 ]; then
    LD_DEBUG=libs "$exe" --version 2> "$work/loader" >/dev/null || fail "--version"
    grep -q "calling init: $dir/libgomp.so.1" "$work/loader" || fail "libgomp.so.1 was not loaded from the archive's folder"
fi
line=$("$@" "$exe" --model "$model" doctor | grep 'CPU backend:') || fail "doctor names no CPU backend"
echo "$line"
if [ "$libs" -gt 0 ] && [[ $line != *"chosen on start"*"($dir/libggml-cpu-"* ]]; then
    fail "the CPU variant was not loaded from the archive's folder"
fi
[ "${NO_ANSWER:-}" = 1 ] && exit 0
answer=$("$@" "$exe" --model "$model" --temperature 0 --seed 42 --max-tokens 8 --threads 2 "Say hi.") \
    || fail "no answer"
[ -n "$answer" ] || fail "an empty answer"
echo "answer: $answer"
