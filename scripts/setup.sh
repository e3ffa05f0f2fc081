#!/usr/bin/env bash
# Installs what Ember's build, tests and benchmarks need on a Debian machine.
# Idempotent: packages already present are not reinstalled, and npm is skipped
# when the peer is already installed at the locked version.
#   scripts/setup.sh          build + test dependencies, and the llama.cpp peer
#   scripts/setup.sh --no-peer  skip the npm peer (build-only machines)
set -euo pipefail
cd "$(dirname "$0")/.."

want_peer=1
for a in "$@"; do
  case "$a" in
    --no-peer) want_peer=0 ;;
    *) echo "setup.sh: unknown option '$a' (known: --no-peer)" >&2; exit 2 ;;
  esac
done

# Vulkan: headers (the loader is opened at run time), glslc + spirv-val to build
# the shaders, lavapipe (a CPU Vulkan device) and the validation layer for tests.
# Robot link: libzmq (with libsodium: CurveZMQ), cJSON, cairo + DejaVu fonts for
# the simulated robot's camera; python3-zmq for the Python controller example
# and the end-to-end tests; clang's libFuzzer for the fuzz tests.
# Vision: libpng and libjpeg-turbo; Debian's Pillow (python3-pil) for the
# reference of transformers' preprocessing, numpy and torch for the PyTorch
# reference of the preprocessing, SigLIP and the projector (tests), and the
# default model's trainer (tools/train/): libopenblas0-pthread gives Debian's
# torch (built against the generic libblas.so.3) OpenBLAS's kernels, ~15x the
# reference BLAS on this machine's matrix products.
# NEON: gcc's aarch64 cross compiler and qemu-user run the Arm kernels' tests
# on this x86 machine (scripts/test.sh).
pkgs=(build-essential cmake pkg-config libpcre2-dev nodejs npm
      libvulkan-dev glslc spirv-tools mesa-vulkan-drivers vulkan-validationlayers
      libzmq3-dev libcjson-dev libcairo2-dev fonts-dejavu-core python3 python3-zmq
      clang libclang-rt-dev libpng-dev libjpeg62-turbo-dev python3-numpy python3-torch python3-pil libopenblas0-pthread
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from outside Debian (a preinstalled node): accept any on PATH.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -ra missing <<<"${missing[*]:-}"
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "$want_peer" = 1 ]; then
  # node-llama-cpp 3.x needs Node.js 20 or newer (Debian 12's own nodejs is 18).
  node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$node_major" -lt 20 ]; then
    echo "setup: Node.js $(node --version 2>/dev/null || echo missing) is too old for the llama.cpp peer (node-llama-cpp needs >= 20);" >&2
    echo "setup: install Node.js 20+ (e.g. from your distribution's backports), or use --no-peer to build without it" >&2
    exit 1
  fi
  # llama.cpp's prebuilt library, through node-llama-cpp: the peer for the
  # conformance tests and the benchmarks. Pinned by bench/peer/package-lock.json.
  # Installed at the pinned versions? (read the files: the packages' "exports" hide package.json from require)
  if ! (cd bench/peer && node -e '
      const fs = require("fs"), want = require("./package.json").dependencies;
      for (const [name, ver] of Object.entries(want))
        if (JSON.parse(fs.readFileSync("node_modules/" + name + "/package.json")).version !== ver) process.exit(1);
    ' 2>/dev/null); then
    echo "setup: installing the llama.cpp peer (npm, bench/peer)" >&2
    (cd bench/peer && npm ci --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi
echo "setup: ok" >&2
