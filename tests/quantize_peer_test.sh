#!/usr/bin/env bash
# `ember quantize` against llama.cpp's quantizer (bench/peer's libllama,
# llama_model_quantize) on the same F32 files, byte for byte, every mix
# Ember writes: an 8-layer model of SmolLM2-135M's widths (576: the K types
# fall back per tensor, the output is tied) and one of 256-multiple widths
# (no fallbacks, an untied output).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${EMBER_BUILD:-build}
shared=${EMBER_SHARED:-../shared}
vocab=$shared/vocab/ggml-vocab-gpt-2.gguf
[ -f "$vocab" ] || { echo "FAIL: $vocab missing"; exit 1; }
[ -d bench/peer/node_modules/@node-llama-cpp ] || { echo "SKIP: bench/peer not installed (scripts/setup.sh)"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ember-qpeer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mixes="F16 BF16 Q8_0 Q6_K Q5_K_M Q5_K_S Q5_1 Q5_0 Q4_K_M Q4_K_S Q4_1 Q4_0 IQ4_NL Q3_K_L Q3_K_M Q3_K_S Q2_K"
"$build/mkmodel" --vocab "$vocab" --preset smollm2-135m --layers 8 --std 0.02 -o "$tmp/w576.gguf" 2>/dev/null || { echo "FAIL: mkmodel"; exit 1; }
"$build/mkmodel" --vocab "$vocab" --dim 256 --ffn 512 --heads 8 --kv-heads 2 --layers 8 --std 0.02 -o "$tmp/w256.gguf" 2>/dev/null || { echo "FAIL: mkmodel"; exit 1; }
rc=0
for m in w576 w256; do
  echo "== $m"
  # shellcheck disable=SC2086
  "$build/quantize_peer" "$tmp/$m.gguf" "$tmp/$m" $mixes 2>/dev/null | grep -E "^(ok|FAIL|skip|SKIP)|all equal|FAILED"
  r=${PIPESTATUS[0]}
  [ "$r" = 77 ] && exit 77
  [ "$r" = 0 ] || rc=1
done
exit $rc
