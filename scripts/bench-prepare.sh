#!/usr/bin/env bash
# What every benchmark script needs first: the system packages, the default model and a release
# build of ember. Prints the path of the ember binary (everything else goes to stderr).
#
#   ember=$(scripts/bench-prepare.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh >&2
scripts/fetch-model.sh >/dev/null
cargo build --release --locked --quiet
echo "${CARGO_TARGET_DIR:-target}/release/ember"
