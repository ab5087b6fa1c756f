#!/usr/bin/env bash
# Installs the system packages ember's build and tests need, when they are missing:
# cmake and a C/C++ compiler (llama.cpp), clang + libclang (bindgen), tmux (terminal tests),
# python3 with pip (to fetch the default model by package name), patchelf (make dist).
set -euo pipefail

missing=()
have() { command -v "$1" >/dev/null 2>&1; }
have cmake || missing+=(cmake)
have c++ || missing+=(g++)
have clang || missing+=(clang)
# bindgen loads libclang.so at build time.
if ! compgen -G '/usr/lib/llvm-*/lib/libclang.so' >/dev/null && ! compgen -G '/usr/lib/*/libclang.so' >/dev/null; then
  missing+=(libclang-dev)
fi
have tmux || missing+=(tmux)
# The release archive's libraries find each other through a RUNPATH it sets (scripts/dist.sh).
have patchelf || missing+=(patchelf)
# pgrep and kill, used by the terminal tests.
have pgrep || missing+=(procps)
have python3 || missing+=(python3)
if ! python3 -m pip --version >/dev/null 2>&1; then missing+=(python3-pip); fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "ember: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if have sudo; then sudo=(sudo); else
    echo "ember: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
