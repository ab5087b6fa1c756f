#!/usr/bin/env bash
# The cost of an output constraint: the same prompt answered by the default model, greedy,
# with a small JSON Schema and without, interleaved, REPS times each. Prints each run's
# generation speed (tokens/s, from --stats) and the medians. Usage:
#   scripts/bench-grammar.sh [REPS]      (EMBER=path/to/ember; default target/release/ember)
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
ember=${EMBER:-${CARGO_TARGET_DIR:-target}/release/ember}
schema=tests/fixtures/constraint/person.json
prompt="Describe a famous scientist: name and age."
export EMBER_NO_HISTORY=1
rate() { sed -n 's/.*reply: [0-9]* tokens at \([0-9.]*\) tok\/s.*/\1/p'; }
run() { "$ember" -t 0 --seed 1 --threads 1 --max-tokens 64 --stats "$@" "$prompt" 2>&1 >/dev/null | rate; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
plain=(); constrained=()
for i in $(seq "$reps"); do
    plain+=("$(run)")
    constrained+=("$(run --json-schema "$schema")")
    echo "run $i: unconstrained ${plain[-1]} tok/s, constrained ${constrained[-1]} tok/s"
done
p=$(printf '%s\n' "${plain[@]}" | median)
c=$(printf '%s\n' "${constrained[@]}" | median)
echo "median: unconstrained $p tok/s, constrained $c tok/s ($(awk -v p="$p" -v c="$c" 'BEGIN {printf "%+.1f%%", (c/p-1)*100}') tokens/s)"
