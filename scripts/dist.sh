#!/usr/bin/env bash
# The shipped build of ember, packed: an archive with the binary, the llama.cpp libraries it
# needs, README and licences, and its SHA-256. Prints the archive's path (the rest goes to stderr).
#
#   scripts/dist.sh                 # into ${CARGO_TARGET_DIR:-target}/ember-dist/
#   FEATURES=vulkan scripts/dist.sh # more cargo features
#   VARIANTS="sse42 haswell" scripts/dist.sh   # which CPU variants to ship (Linux; see below)
#
# Linux: feature `portable`. llama.cpp's CPU code is one library per instruction-set level
# (libggml-cpu-<variant>.so: x86-64 from plain x64 and SSE4.2 to AVX-512 and AMX; aarch64 from
# armv8.0 to armv9.2); ember loads the best one for the host from its own folder on start. The
# rest of the program is built for the architecture's baseline (no target-cpu), so it starts on
# any CPU of the architecture. The binary finds its libraries through an rpath of $ORIGIN.
# macOS (arm64, Metal): one static binary for the target's default CPU, Apple M1, the baseline of
# every Apple Silicon CPU (llama.cpp's Metal backend does the work there).
#
# llama-cpp-sys-2 builds every variant ggml knows (14 on x86-64), but the archive ships a set,
# to stay under 30 MB unpacked: on x86-64 sse42 (x86-64-v2, the oldest level shipped), haswell
# (AVX2), alderlake (AVX2 with AVX-VNNI: Intel's desktop CPUs since 2021), skylakex (AVX-512),
# icelake (AVX-512 with VBMI and VNNI, which Zen 4 and 5 run too) and sapphirerapids (AMX). A CPU
# between two of them gets the lower one: Sandy Bridge to Piledriver SSE4.2, Zen 4 icelake (BF16
# unused). A CPU without SSE4.2 (before 2009: Core 2, Phenom) gets a clear error saying to build
# from source (`VARIANTS="x64 ..."` ships the baseline variant too). On aarch64 all 8 (armv8.0 to
# armv9.2).
#
# GCC's OpenMP runtime (libgomp.so.1), which llama.cpp's libraries need and slim distributions
# (container images) lack, is shipped beside them, and the binary names it among the libraries it
# needs (patchelf --add-needed): the loader then finds it through the binary's RUNPATH before any
# library asks for it, and the libraries themselves stay as built.
#
# Profile `dist`: release without debug information but with symbols (backtraces still name
# functions). llama.cpp's libraries keep only the symbols they export (strip --strip-unneeded):
# the functions they export still name themselves in a crash report, and ggml's own crash
# backtraces read only those.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-target}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
triple=$(rustc -vV | sed -n 's/^host: //p')
name="ember-$version-$triple"
out="$target_dir/ember-dist"
stage="$out/$name"

case "$(uname -s)" in
    Linux)
        features="portable${FEATURES:+,$FEATURES}"
        # RUSTFLAGS replaces .cargo/config.toml's target-cpu=native (the baseline, then).
        export RUSTFLAGS='-C link-arg=-Wl,-rpath,$ORIGIN'
        # Checked before the long build: the archive's OpenMP runtime is named with it (below).
        command -v patchelf >/dev/null || { echo "dist: patchelf is missing (apt-get install patchelf)" >&2; exit 1; }
        ;;
    Darwin)
        features="${FEATURES:-}"
        # Any RUSTFLAGS replaces target-cpu=native: this one only names the binary's folder.
        export RUSTFLAGS='-C link-arg=-Wl,-rpath,@executable_path'
        ;;
    *)
        echo "dist: $(uname -s) is not supported (Linux and macOS are)" >&2
        exit 1
        ;;
esac

echo "dist: building ember $version for $triple (features: ${features:-none})" >&2
cargo build --profile dist --locked ${features:+--features "$features"} >&2

rm -rf "$stage" "$out/$name.tar.gz" "$out/$name.tar.gz.sha256"
mkdir -p "$stage"
cp "$target_dir/dist/ember" "$stage/"
cp README.md LICENSE-MIT LICENSE-APACHE "$stage/"
sys=$(find "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/ -maxdepth 1 -name "llama-cpp-sys-2-$(sed -n '/^name = "llama-cpp-sys-2"/{n;s/^version = "\(.*\)"/\1/p;}' Cargo.lock)" | head -1)
cp "$sys/llama.cpp/LICENSE" "$stage/LICENSE-llama.cpp"
# The licences of the Rust crates compiled in.
python3 scripts/third-party-licenses.py "$stage/THIRD-PARTY-LICENSES.txt" "$features"

if [[ $features == *portable* ]]; then
    # The newest llama.cpp build of this profile with backend libraries (the feature's build).
    llama_out=$(ls -td "$target_dir"/dist/build/llama-cpp-sys-2-*/out/backends | head -1)
    llama_out=${llama_out%/backends}
    # The libraries the binary links (by their sonames), then the CPU variants shipped.
    for lib in $(readelf -d "$stage/ember" | sed -n 's/.*Shared library: \[\(lib\(llama\|ggml\)[^]]*\)\]/\1/p'); do
        cp -L "$(find "$llama_out"/lib* -name "$lib" | head -1)" "$stage/$lib"
    done
    case "$(uname -m)" in
        x86_64) variants=${VARIANTS:-sse42 haswell alderlake skylakex icelake sapphirerapids} ;;
        *) variants=${VARIANTS:-$(cd "$llama_out/backends" && ls libggml-cpu-*.so | sed 's/^libggml-cpu-\(.*\)\.so$/\1/')} ;;
    esac
    for variant in $variants; do
        cp -L "$llama_out/backends/libggml-cpu-$variant.so" "$stage/"
    done
    # Any other backend built alongside (a GPU one, with FEATURES).
    find "$llama_out/backends" -name '*.so' ! -name 'libggml-cpu-*' -exec cp -L {} "$stage/" \;
    # The OpenMP runtime the libraries link, where this build found it.
    gomp=$(ldd "$stage/libggml-base.so.0" | awk '$1 == "libgomp.so.1" { print $3 }')
    if [ -n "$gomp" ]; then
        cp -L "$gomp" "$stage/libgomp.so.1"
    fi
    chmod u+w "$stage"/lib*.so*
    strip --strip-unneeded "$stage"/lib*.so*
    if [ -n "$gomp" ]; then
        patchelf --add-needed libgomp.so.1 "$stage/ember"
    fi
fi

tar -C "$out" -czf "$out/$name.tar.gz" "$name"
if command -v sha256sum >/dev/null; then
    (cd "$out" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
else
    (cd "$out" && shasum -a 256 "$name.tar.gz" > "$name.tar.gz.sha256")
fi
du -sh "$stage"/* >&2
echo "$out/$name.tar.gz"
