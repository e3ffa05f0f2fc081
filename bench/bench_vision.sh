#!/usr/bin/env bash
# bench_vision.sh - SmolVLM image question answering, Ember beside llama.cpp's
# llama-mtmd-cli on the same files: same greedy answer?, time to encode one
# tile, time to the first answer token, peak memory.
#
#   bench/bench_vision.sh [--shape tiny|smolvlm-256m] [--edge N] [--mtmd PATH] [--threads N]
#                         [--backend cpu|vulkan] [--runs N] [--keep DIR]
#                         [--image-resize llamacpp|transformers] [--mmproj-type f16|bf16|q8_0]
#                         [--vision-weights stored|bf16]
#
# The pair is random-weight, written by tools/mkmodel (--smolvlm) and
# tools/mkmmproj in the shape asked for: smolvlm-256m is SmolLM2-135M (30
# layers, dim 576, Q8_0) with SmolVLM-256M's SigLIP (12 layers, dim 768,
# 512 px tiles of 16 px patches, scale 4: 64 tokens a tile, F16, or the
# --mmproj-type given). --vision-weights bf16 writes the f16 projector through
# bf16 (mkmmproj --from-bf16: a file converted from a bf16 checkpoint; both
# tools read the same file) and runs Ember with
# --vision-weights bf16 (its matrices multiplied as bf16).
# --edge sets the mmproj's longest edge (clip.vision.preproc_image_size):
# 512 gives one tile + the overview for the 512x384 test frame, 2048 (the
# published files' value) 4 x 3 tiles + the overview.
# --image-resize: Ember's preprocessing (vision/preprocess.h). llamacpp, the
# default here, gives Ember llama-mtmd-cli's pixels and tiles (a 1 x 1 grid +
# the overview at --edge 512), so tile counts, times and answers compare;
# transformers (Ember's default for SmolVLM files) times Ember as a user runs
# it (one tile at --edge 512: no overview), beside nothing of llama.cpp's.
# llama-mtmd-cli is optional: give its path (or set LLAMA_MTMD_CLI); a
# llama.cpp built here with `cmake --build build --target llama-mtmd-cli`.
# Without it only Ember's figures are printed.
set -euo pipefail
cd "$(dirname "$0")/.."

shape=smolvlm-256m edge=512 mtmd=${LLAMA_MTMD_CLI:-} threads=2 backend=cpu runs=3 keep="" resize=llamacpp mmtype=f16 vweights=stored
while [ $# -gt 0 ]; do
  case "$1" in
    --shape) shape=$2; shift 2 ;;
    --edge) edge=$2; shift 2 ;;
    --mtmd) mtmd=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --image-resize) resize=$2; shift 2 ;;
    --mmproj-type) mmtype=$2; shift 2 ;;
    --vision-weights) vweights=$2; shift 2 ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "bench_vision.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$resize" in llamacpp|transformers) ;; *) echo "bench_vision.sh: --image-resize '$resize': expected llamacpp or transformers" >&2; exit 2 ;; esac
case "$mmtype" in f16|bf16|q8_0) ;; *) echo "bench_vision.sh: --mmproj-type '$mmtype': expected f16, bf16 or q8_0" >&2; exit 2 ;; esac
case "$vweights" in stored) fb=() ;; bf16) fb=(--from-bf16) ;; *) echo "bench_vision.sh: --vision-weights '$vweights': expected stored or bf16" >&2; exit 2 ;; esac
build=${EMBER_BUILD:-build}
ember=${EMBER_BIN:-$build/ember}
for t in "$ember" "$build/mkmodel" "$build/mkmmproj"; do
  [ -x "$t" ] || { echo "bench_vision.sh: $t missing: build first (cmake --build $build)" >&2; exit 1; }
done
dir=${keep:-$(mktemp -d /tmp/ember-bvis.XXXXXX)}
mkdir -p "$dir"
[ -n "$keep" ] || trap 'rm -rf "$dir"' EXIT
# ik_llama.cpp's mtmd writes llama.log into its working directory: run it in $dir
dir=$(cd "$dir" && pwd)
case "$mtmd" in
  "") ;;
  */*) mtmd=$(cd "$(dirname "$mtmd")" && pwd)/$(basename "$mtmd") ;;
  *) mtmd=$(command -v "$mtmd" || echo "$mtmd") ;;
esac

case "$shape" in
  tiny)
    "$build/mkmodel" --vocab ../shared/vocab/ggml-vocab-gpt-2.gguf --smolvlm --dim 128 --layers 2 --heads 4 --kv-heads 2 \
      --ffn 256 --ctx 2048 -o "$dir/model.gguf" >/dev/null
    "$build/mkmmproj" --preset tiny --text-dim 128 --preproc-size "$edge" -o "$dir/mmproj.gguf" >/dev/null ;;
  smolvlm-256m)
    "$build/mkmodel" --vocab ../shared/vocab/ggml-vocab-gpt-2.gguf --smolvlm --preset smollm2-135m --ctx 8192 --type q8_0 \
      --std 0.02 -o "$dir/model.gguf" >/dev/null
    "$build/mkmmproj" --preset smolvlm-256m --text-dim 576 --preproc-size "$edge" --type "$mmtype" "${fb[@]}" -o "$dir/mmproj.gguf" >/dev/null ;;
  *) echo "bench_vision.sh: --shape '$shape': expected tiny or smolvlm-256m" >&2; exit 2 ;;
esac
# a 512 x 384 test frame: gradients, blocks and text-like strokes
python3 - "$dir/frame.png" <<'EOF'
import struct, sys, zlib
w, h = 512, 384
rows = bytearray()
for y in range(h):
    rows.append(0)
    for x in range(w):
        r = (x * 255) // w; g = (y * 255) // h; b = ((x // 32 + y // 32) % 2) * 200
        if 100 < y < 140 and (x // 6) % 3 == 0 and 40 < x < 470: r = g = b = 20
        rows += bytes((r, g, b))
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b"")
open(sys.argv[1], "wb").write(png)
EOF

q="What is in the image?"
n=16
echo "pair: $shape (longest edge $edge, mmproj $mmtype${fb:+ from bf16}, Ember --vision-weights $vweights), frame 512x384, prompt \"$q\", $n greedy tokens, $threads threads, backend $backend, Ember's preprocessing $resize"
med() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# Time to first token, whole process: load, image decode, tiles, encoder,
# prefill and one sampled token (-n 1), the way a robot's one-shot query runs.
# Peak memory from /usr/bin/time. Per-tile encode time from each tool's log.
e_wall=() e_rss=() e_tile=() p_wall=() p_rss=() p_tile=()
for i in $(seq "$runs"); do
  t0=$(now_ms)
  /usr/bin/time -f 'maxrss_kb=%M' "$ember" run -m "$dir/model.gguf" --mmproj "$dir/mmproj.gguf" --image "$dir/frame.png" \
    -p "$q" -n 1 --temp 0 -t "$threads" --backend "$backend" --image-resize "$resize" --vision-weights "$vweights" >"$dir/ember.out" 2>"$dir/ember.err" || { cat "$dir/ember.err" >&2; exit 1; }
  e_wall+=($(( $(now_ms) - t0 )))
  e_rss+=("$(sed -n 's/^maxrss_kb=\([0-9]*\)/\1/p' "$dir/ember.err" | awk '{printf "%.1f", $1/1024}')")
  e_tile+=("$(sed -n 's/.* encode_ms_per_tile=\([0-9.]*\).*/\1/p' "$dir/ember.err")")
  e_tiles=$(sed -n 's/.* tiles=\([0-9]*\).*/\1/p' "$dir/ember.err")
  if [ -n "$mtmd" ]; then
    t0=$(now_ms)
    (cd "$dir" && /usr/bin/time -f 'maxrss_kb=%M' "$mtmd" -m "$dir/model.gguf" --mmproj "$dir/mmproj.gguf" --image "$dir/frame.png" -p "$q" \
      -n 1 --temp 0 -t "$threads" -ngl 0 >"$dir/peer.out" 2>"$dir/peer.err") || { tail -20 "$dir/peer.err" >&2; exit 1; }
    p_wall+=($(( $(now_ms) - t0 )))
    p_rss+=("$(sed -n 's/^maxrss_kb=\([0-9]*\)/\1/p' "$dir/peer.err" | awk '{printf "%.1f", $1/1024}')")
    # image chunks are the ones taking more than a few ms; the first also
    # carries llama.cpp's one-time graph set-up, so the median is quoted
    # (mainline logs "mtmd batch encoding done in N ms" to stderr, ik_llama.cpp
    # "image slice encoded in N ms" to stdout)
    p_tile+=("$(cat "$dir/peer.err" "$dir/peer.out" | sed -n 's/.*\(mtmd batch encoding done\|image slice encoded\) in \([0-9]*\) ms.*/\2/p' |
      awk '$1 > 2' | med)")
  fi
done
echo "ember:  tiles=$e_tiles encode_ms_per_tile=$(printf '%s\n' "${e_tile[@]}" | med) first_token_ms=$(printf '%s\n' "${e_wall[@]}" | med) (whole process) peak_rss_mib=$(printf '%s\n' "${e_rss[@]}" | med)"
"$ember" run -q -m "$dir/model.gguf" --mmproj "$dir/mmproj.gguf" --image "$dir/frame.png" -p "$q" -n $n --temp 0 \
  -t "$threads" --backend "$backend" --image-resize "$resize" --vision-weights "$vweights" >"$dir/ember.out" 2>"$dir/ember.err"
echo "ember answer: $(tr -d '\n' <"$dir/ember.out" | head -c 200)"
if [ -z "$mtmd" ]; then
  echo "llama-mtmd-cli: not given (--mtmd PATH): no peer figures"
  exit 0
fi
echo "llama:  encode_ms_per_tile=$(printf '%s\n' "${p_tile[@]}" | med) first_token_ms=$(printf '%s\n' "${p_wall[@]}" | med) (whole process) peak_rss_mib=$(printf '%s\n' "${p_rss[@]}" | med)"
(cd "$dir" && "$mtmd" -m "$dir/model.gguf" --mmproj "$dir/mmproj.gguf" --image "$dir/frame.png" -p "$q" -n $n --temp 0 \
  -t "$threads" -ngl 0 >"$dir/peer.out" 2>"$dir/peer.err")
# ik_llama.cpp's mtmd logs its progress to stdout: those lines are not the answer
grep -Ev '^ *[0-9]+: +CPU$|^encoding image slice|^image slice encoded|^decoding image batch|^image decoded' "$dir/peer.out" \
  >"$dir/peer.ans" || true
if [ ! -s "$dir/peer.ans" ]; then
  echo "peer answer:  (none on stdout: this build prints it among its log, in peer.err; --keep DIR keeps it)"
else
  echo "peer answer:  $(tr -d '\n' <"$dir/peer.ans" | head -c 200)"
fi
awk -v a="$(printf '%s\n' "${e_tile[@]}" | med)" -v b="$(printf '%s\n' "${p_tile[@]}" | med)" \
    -v c="$(printf '%s\n' "${e_wall[@]}" | med)" -v d="$(printf '%s\n' "${p_wall[@]}" | med)" \
    -v e="$(printf '%s\n' "${e_rss[@]}" | med)" -v f="$(printf '%s\n' "${p_rss[@]}" | med)" \
  'BEGIN {printf "ratio ember/llama (lower is better for Ember): encode per tile %.2f, first token %.2f, peak memory %.2f\n", a/b, c/d, e/f}'
if [ "$(tr -d '\n' <"$dir/ember.out")" = "$(tr -d '\n' <"$dir/peer.ans")" ]; then
  echo "answers: identical"
else
  echo "answers: differ (compare the top-two margin at the first difference before calling it a bug)"
fi
