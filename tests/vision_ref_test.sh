#!/usr/bin/env bash
# vision_ref_test.sh - Ember's image path against the PyTorch reference
# (tests/vision_ref.py, Debian python3-torch): random-weight SmolVLM pairs
# written by mkmodel --smolvlm and mkmmproj, test images of several shapes,
# `ember run --dump` compared on pixels, ViT features, projected tokens, the
# prompt layout and the greedy answer.
#   vision_ref_test.sh [cpu|vulkan] [tiny|256m]
# Each case names its preprocessing (vision/preprocess.h): "auto" is the
# projector's (transformers' Idefics3 processor unless the file says
# ember.vision.image_resize), or the --image-resize given; the reference
# (tests/preprocess_ref.py) follows the same mode.
# tiny: a tiny pair on five images: transformers (grid 2x2; 3x2 with a Q8_0
# projector; a single tile, grid 0x0, with --image-longest-edge 64), llamacpp
# by the flag (1x1 + overview) and by the projector's key (1x2 + overview);
# 256m: SmolVLM-256M's shapes (SmolLM2-135M Q8_0 + SigLIP 768/12 layers F16,
# longest edge 512) on a 512x384 frame: transformers (one tile, no grid) and
# llamacpp (one tile + the overview); both shapes also run an f16 projector
# written through bf16 (mkmmproj --from-bf16) with --vision-weights bf16,
# against a reference that takes its matrices and activations as bf16.
# Exit 77 (skipped) when torch is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-cpu} shape=${2:-tiny}
build=${EMBER_BUILD:-build}
ember=${EMBER_BIN:-$build/ember}
py=/usr/bin/python3
if ! $py -c 'import torch, numpy' 2>/dev/null; then
  echo "SKIP: Debian's python3-torch / python3-numpy missing (scripts/setup.sh installs them)"
  exit 77
fi
dir=$(mktemp -d /tmp/ember-vref.XXXXXX)
trap 'rm -rf "$dir"' EXIT
extra=()
# Vulkan's quantized products take fp32 activations (the CPU rounds them to
# Q8_0 blocks, as llama.cpp's CPU path does): the reference follows suit.
if [ "$backend" = vulkan ]; then export EMBER_VK_VALIDATE=1; extra=(--exact-act); fi
vocab=../shared/vocab/ggml-vocab-gpt-2.gguf
case "$shape" in
  tiny)
    "$build/mkmodel" --vocab $vocab --smolvlm --dim 128 --layers 2 --heads 4 --kv-heads 2 --ffn 256 --ctx 2048 \
      -o "$dir/m.gguf" 2>/dev/null
    "$build/mkmmproj" --preset tiny --text-dim 128 -o "$dir/p.gguf" 2>/dev/null
    # a Q8_0 projector too: the quantized products on the ViT's path
    "$build/mkmmproj" --preset tiny --text-dim 128 --type q8_0 --seed 7 -o "$dir/pq.gguf" 2>/dev/null
    # one that says it was trained on llama.cpp's pixels
    "$build/mkmmproj" --preset tiny --text-dim 128 --image-resize llamacpp -o "$dir/pl.gguf" 2>/dev/null
    # an f16 one converted from a bf16 checkpoint, multiplied as bf16 (--vision-weights bf16)
    "$build/mkmmproj" --preset tiny --text-dim 128 --type f16 --from-bf16 -o "$dir/pb.gguf" 2>/dev/null
    cases="100x60:p:auto 64x64:p:llamacpp 37x90:pl:auto 300x200:pq:transformers 100x60:p:auto:64 100x60:pb:auto::bf16" ;;
  256m)
    "$build/mkmodel" --vocab $vocab --smolvlm --preset smollm2-135m --ctx 4096 --type q8_0 --std 0.02 -o "$dir/m.gguf" 2>/dev/null
    "$build/mkmmproj" --preset smolvlm-256m --text-dim 576 --preproc-size 512 --type f16 -o "$dir/p.gguf" 2>/dev/null
    "$build/mkmmproj" --preset smolvlm-256m --text-dim 576 --preproc-size 512 --type f16 --from-bf16 -o "$dir/pb.gguf" 2>/dev/null
    cases="512x384:p:auto 512x384:p:llamacpp 512x384:pb:auto::bf16" ;;
  *) echo "vision_ref_test.sh: shape '$shape': expected tiny or 256m" >&2; exit 2 ;;
esac
fail=0
for c in $cases; do
  IFS=: read -r size proj mode edge weights <<<"$c"
  w=${size%x*} h=${size#*x}
  opts=(--image-resize "$mode") refopts=(--image-resize "$mode")
  if [ -n "$edge" ]; then opts+=(--image-longest-edge "$edge"); refopts+=(--longest-edge "$edge"); fi
  if [ -n "$weights" ]; then opts+=(--vision-weights "$weights"); refopts+=(--vision-weights "$weights"); fi
  img="$dir/img_$size.png"
  $py tests/vision_ref.py image "$img" "$w" "$h" --seed "$w" >/dev/null
  rm -rf "$dir/dump"
  if ! "$ember" run -q -m "$dir/m.gguf" --mmproj "$dir/$proj.gguf" --image "$img" -p "What is in the image?" -n 8 \
       --temp 0 -t 2 --backend "$backend" "${opts[@]}" --dump "$dir/dump" >"$dir/out" 2>"$dir/err"; then
    echo "FAIL: ember run on $size ($backend):"; cat "$dir/err"; fail=1; continue
  fi
  echo "== $size ($proj, --image-resize $mode${edge:+, longest edge $edge}${weights:+, --vision-weights $weights}, $backend): $(grep '^timings' "$dir/err" | tr ' ' '\n' | grep -E 'tiles=|encode_ms_per_tile=' | tr '\n' ' ')"
  if ! $py tests/vision_ref.py check --model "$dir/m.gguf" --mmproj "$dir/$proj.gguf" --image "$img" --dump "$dir/dump" \
       "${refopts[@]}" "${extra[@]}"; then
    fail=1
  fi
done
# Bad input and the cache, on the tiny pair: clear messages, exit codes 1/2.
if [ "$shape" = tiny ]; then
  img="$dir/img_100x60.png"
  expect() { # expect RC PATTERN -- ember run args
    local want=$1 pat=$2; shift 3
    local rc=0; "$ember" run -q -t 2 --backend "$backend" "$@" >"$dir/o" 2>"$dir/e" || rc=$?
    if [ "$rc" != "$want" ] || ! grep -q -- "$pat" "$dir/e"; then
      echo "FAIL: ember run $* -> rc $rc (want $want), stderr:"; cat "$dir/e"; fail=1
    else echo "ok    rc $want: $pat"; fi
  }
  expect 1 "not a vision projector.*it is a language model: give it to -m" -- -m "$dir/m.gguf" --mmproj "$dir/m.gguf" --image "$img" -p x
  # every input is checked before the first tile is encoded (--progress shows tiles)
  noenc() { if grep -q "tile [0-9]" "$dir/e"; then echo "FAIL: tiles encoded before the error: $1"; fail=1; else echo "ok    nothing encoded: $1"; fi; }
  expect 1 "none.png" -- -m "$dir/m.gguf" --mmproj "$dir/p.gguf" --image "$img" --image "$dir/none.png" -p x --progress
  noenc "a missing second image"
  expect 1 "the prompt takes" -- -m "$dir/m.gguf" --mmproj "$dir/p.gguf" --image "$img" -p x --ctx 64 --progress
  noenc "a prompt past the context"
  expect 1 "none.txt" -- -m "$dir/m.gguf" --mmproj "$dir/p.gguf" --image "$img" -f "$dir/none.txt" --progress
  noenc "a missing prompt file"
  expect 0 "image 1/1: tile 5/5, .* s left" -- -m "$dir/m.gguf" --mmproj "$dir/p.gguf" --image "$img" -p x -n 1 --progress
  expect 2 "needs --mmproj" -- -m "$dir/m.gguf" --image "$img" -p x
  head -c 100 "$img" >"$dir/trunc.png"
  expect 1 "truncated" -- -m "$dir/m.gguf" --mmproj "$dir/p.gguf" --image "$dir/trunc.png" -p x
  expect 1 "No such file" -- -m "$dir/m.gguf" --mmproj "$dir/p.gguf" --image "$dir/none.png" -p x
  expect 2 "marker" -- -m "$dir/m.gguf" --mmproj "$dir/p.gguf" --image "$img" -p "<__media__> <__media__>"
  "$build/mkmmproj" --preset tiny --text-dim 64 -o "$dir/p64.gguf" 2>/dev/null
  expect 1 "width 64" -- -m "$dir/m.gguf" --mmproj "$dir/p64.gguf" --image "$img" -p x
  "$build/mkmodel" --vocab $vocab --dim 128 --layers 1 --heads 4 --ffn 256 -o "$dir/plain.gguf" 2>/dev/null
  expect 1 "no <fake_token_around_image> token" -- -m "$dir/plain.gguf" --mmproj "$dir/p.gguf" --image "$img" -p x
  # --vision-weights bf16 where the CPU kernels have no vdpbf16ps: said, and run all the same
  if [ "$backend" = cpu ]; then
    EMBER_CPU_DISABLE_BF16=1 expect 0 "note: --vision-weights bf16 pays off only on CPUs with AVX512_BF16" -- \
      -m "$dir/m.gguf" --mmproj "$dir/pb.gguf" --image "$img" -p x -n 1 --vision-weights bf16
  fi
  # the same frame twice: encoded once
  expect 0 "image cache: hits=1 misses=1" -- -m "$dir/m.gguf" --mmproj "$dir/p.gguf" --image "$img" --image "$img" -p x -n 2
fi
[ $fail = 0 ] && echo "vision_ref_test: all passed ($backend, $shape)"
exit $fail
