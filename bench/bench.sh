#!/usr/bin/env bash
# bench.sh - Ember against llama.cpp on one GGUF file, same threads, side by side.
#
#   bench/bench.sh MODEL.gguf [THREADS]      (THREADS default: nproc)
# Environment: EMBER_BIN (default build/ember), REPS (default 3), PROMPT (prompt
# tokens, default 128), GEN (generated tokens, default 128), BACKEND (cpu, the
# default, or vulkan: Ember with --backend vulkan beside llama.cpp's Vulkan build,
# every layer offloaded; where the only Vulkan device is a CPU one (lavapipe),
# llama.cpp is pointed at it with GGML_VK_VISIBLE_DEVICES=0, as it skips such
# devices by default; Ember's line adds dispatches, barriers and submits per token).
#
# Both evaluate the same PROMPT-token prompt (fixed ids below 1000, so any
# vocabulary works), then GEN greedy single-token decode steps; model loading is
# not timed. Each side loads the model once and runs REPS timed times after an
# untimed first run, each from an empty cache, and reports the median (Ember:
# `ember bench`, whose first run is also shown: the first prompt after loading
# pays the first touch of every page). Peak memory is
# each process's max RSS (/usr/bin/time); for the peer also node's RSS with
# llama.cpp loaded but no model, so the model's own share can be compared.
# The peer is run with 1 thread and with THREADS, and its better rate is used:
# node's event loop and libuv thread compete for the same cores, and llama.cpp's
# spinning workers slow down badly when a core is taken.
# PEER_CPU_VARIANT=NAME runs the peer on only llama.cpp's libggml-cpu-NAME.so
# ("haswell": its AVX2 build, beside EMBER_CPU_DISABLE_AVX512=1 on an AVX-512
# machine); by default llama.cpp picks the best build for the CPU.
# LLAMA_BENCH=PATH adds a built llama-bench (ik_llama.cpp's or llama.cpp's;
# CPU only) on the same file and THREADS: its pp PROMPT rate and its rate for
# GEN tokens generated after the PROMPT-token prompt (-gp, where it has it), the
# mean of REPS after its own warm-up. It runs ROUNDS times (default 3), each
# followed at once by an `ember bench`; the ratios are taken within each such
# pair and their median reported, as the machine's speed drifts between pairs.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: bench/bench.sh MODEL.gguf [THREADS]" >&2; exit 2; }
model="$1"
threads="${2:-$(nproc)}"
ember="${EMBER_BIN:-build/ember}"
reps="${REPS:-3}"
rounds="${ROUNDS:-3}"
plen="${PROMPT:-128}"
gen="${GEN:-128}"
backend="${BACKEND:-cpu}"
case "$backend" in cpu) peer_gpu=off ;; vulkan) peer_gpu=vulkan ;; *) echo "bench: BACKEND=$backend (known: cpu, vulkan)" >&2; exit 2 ;; esac
if [ "$backend" = vulkan ] && [ -z "${GGML_VK_VISIBLE_DEVICES:-}" ] && ! "${EMBER_BIN:-build/ember}" devices 2>/dev/null | grep -q 'type \(discrete\|integrated\|virtual\) GPU'; then
  export GGML_VK_VISIBLE_DEVICES=0
fi
[ -f "$model" ] || { echo "bench: $model: no such file" >&2; exit 1; }
[ -x "$ember" ] || { echo "bench: ember binary '$ember' missing (cmake --build build, or set EMBER_BIN)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
[ -d bench/peer/node_modules/node-llama-cpp ] || { echo "bench: the llama.cpp peer is not installed: run scripts/setup.sh" >&2; exit 1; }
case "$threads$reps$rounds$plen$gen" in *[!0-9]*) echo "bench: THREADS, REPS, ROUNDS, PROMPT, GEN must be integers" >&2; exit 2 ;; esac

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
ctx=$((plen + gen + 16))
# The peer's formula (peer.mjs bench), so both see the same prompt.
prompt="$(seq 0 $((plen - 1)) | awk '{ printf "%s%d", (NR > 1 ? " " : ""), 1 + ($1 * 7919) % 997 }')"

. "$(dirname "$0")/lib.sh" # lb_args_for, lb_col, field, median

# ---- Ember: `ember bench`, one process, the first run apart and the median of
# the REPS after it (as the peers: llama-bench and peer.mjs time after an
# untimed warm-up)
if ! /usr/bin/time -f "%M" -o "$tmp/rss" "$ember" bench -m "$model" -p "$plen" -n "$gen" -r "$reps" \
    --threads "$threads" --backend "$backend" -q >"$tmp/eb" 2>"$tmp/err"; then
  echo "bench: ember bench failed:" >&2; cat "$tmp/err" "$tmp/eb" >&2; exit 1
fi
line="$(grep '^bench:' "$tmp/eb" || true)"
[ -n "$line" ] || { echo "bench: no 'bench:' line from ember bench:" >&2; cat "$tmp/eb" >&2; exit 1; }
e_pre=$(field pp_tps <<<"$line"); e_dec=$(field tg_tps <<<"$line")
e_pre1=$(field first_pp_tps <<<"$line"); e_dec1=$(field first_tg_tps <<<"$line")
e_rss=$(tail -n1 "$tmp/rss")
if [ "$backend" = vulkan ]; then
  # What a step costs the driver, from one `ember generate`: the prefill,
  # then one forward pass per decoded token; per token = totals / (GEN + 1)
  # passes, submits per token counted over the GEN - 1 decode steps plus the prefill.
  "$ember" generate -m "$model" --prompt-tokens "$prompt" -n "$gen" --temp 0 --threads "$threads" --ctx "$ctx" \
    --ignore-eos --backend "$backend" -q >/dev/null 2>"$tmp/err" || { echo "bench: ember generate failed:" >&2; cat "$tmp/err" >&2; exit 1; }
  vk="$(grep '^vulkan:' "$tmp/err" || true)"
  sub=$(field submits <<<"$vk"); dis=$(field dispatches <<<"$vk"); bar=$(field barriers <<<"$vk")
  echo "  ember vulkan per decoded token: $(awk -v d="$dis" -v b="$bar" -v s="$sub" -v n="$gen" 'BEGIN { printf "%.0f dispatches, %.0f barriers, %.2f submits", d / (n + 1), b / (n + 1), s / n }') (${vk#vulkan: })"
fi

# ---- llama.cpp (the peer), 1 thread and THREADS
peer_threads="1"
[ "$threads" != 1 ] && peer_threads="1 $threads"
best_pre=0; best_dec=0; best_pre_t=0; best_dec_t=0; p_rss=0; p_base=0
for t in $peer_threads; do
  if ! /usr/bin/time -f "%M" -o "$tmp/rss" node bench/peer/peer.mjs bench --model "$model" --prompt-len "$plen" \
      --gen "$gen" --threads "$t" --reps "$reps" --gpu "$peer_gpu" ${PEER_CPU_VARIANT:+--cpu-variant "$PEER_CPU_VARIANT"} \
      >"$tmp/peer" 2>"$tmp/err"; then
    echo "bench: peer.mjs bench failed:" >&2; cat "$tmp/err" >&2; exit 1
  fi
  line="$(grep '^peer:' "$tmp/peer")"
  echo "  llama.cpp threads=$t: ${line#peer: }"
  pre=$(field prefill_tps <<<"$line"); dec=$(field decode_tps <<<"$line")
  awk -v a="$pre" -v b="$best_pre" 'BEGIN { exit !(a > b) }' && { best_pre=$pre; best_pre_t=$t; }
  awk -v a="$dec" -v b="$best_dec" 'BEGIN { exit !(a > b) }' && { best_dec=$dec; best_dec_t=$t; }
  rss=$(tail -n1 "$tmp/rss"); [ "$rss" -gt "$p_rss" ] && p_rss=$rss
  p_base=$(field rss_base_mb <<<"$line")
done

# ---- llama-bench (optional)
lb_pre="" lb_dec=""
if [ -n "${LLAMA_BENCH:-}" ]; then
  [ -x "$LLAMA_BENCH" ] || { echo "bench: LLAMA_BENCH=$LLAMA_BENCH is not an executable" >&2; exit 1; }
  lb_args_for "$LLAMA_BENCH" "$plen" "$gen"
  # ROUNDS pairs, each llama-bench then `ember bench` right after it: on a
  # shared machine the speed drifts by tens of percent over minutes, so each
  # ratio is taken within a pair and the median of the pairs' ratios counts.
  : >"$tmp/lb_pre"; : >"$tmp/lb_dec"; : >"$tmp/r_pre"; : >"$tmp/r_dec"; : >"$tmp/r_pre1"
  for r in $(seq 1 "$rounds"); do
    if ! "$LLAMA_BENCH" -m "$model" "${lb_args[@]}" -t "$threads" -r "$reps" -o csv >"$tmp/lb" 2>"$tmp/err"; then
      echo "bench: llama-bench failed:" >&2; cat "$tmp/err" >&2; exit 1
    fi
    p=$(lb_col "$tmp/lb" pp avg_ts); d=$(lb_col "$tmp/lb" "$lb_tg" avg_ts)
    [ -n "$p" ] && [ -n "$d" ] || { echo "bench: no pp/tg rows in llama-bench's CSV:" >&2; cat "$tmp/lb" >&2; exit 1; }
    "$ember" bench -m "$model" -p "$plen" -n "$gen" -r "$reps" --threads "$threads" --backend "$backend" -q \
      >"$tmp/eb" 2>"$tmp/err" || { echo "bench: ember bench failed:" >&2; cat "$tmp/err" >&2; exit 1; }
    l="$(grep '^bench:' "$tmp/eb")"
    echo "$p" >>"$tmp/lb_pre"; echo "$d" >>"$tmp/lb_dec"
    awk -v a="$(field pp_tps <<<"$l")" -v b="$p" 'BEGIN { print a / b }' >>"$tmp/r_pre"
    awk -v a="$(field tg_tps <<<"$l")" -v b="$d" 'BEGIN { print a / b }' >>"$tmp/r_dec"
    awk -v a="$(field first_pp_tps <<<"$l")" -v b="$p" 'BEGIN { print a / b }' >>"$tmp/r_pre1"
    echo "  round $r: llama-bench pp $p tg $d; ember pp $(field pp_tps <<<"$l") tg $(field tg_tps <<<"$l") (first run pp $(field first_pp_tps <<<"$l"))"
  done
  [ "$lb_tg" = gp ] || echo "note: this llama-bench has no -gp: its decode rate is from an empty cache" >&2
  lb_pre=$(median <"$tmp/lb_pre"); lb_dec=$(median <"$tmp/lb_dec")
  lbr_pre=$(median <"$tmp/r_pre"); lbr_dec=$(median <"$tmp/r_dec"); lbr_pre1=$(median <"$tmp/r_pre1")
  span() { sort -g "$1" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f", lo, hi }'; }
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
p_model=$(awk -v p="$p_rss" -v b="$p_base" 'BEGIN { printf "%.1f", p / 1024 - b }')
printf "model %s, backend %s, threads %s, prompt %s, generated %s, reps %s (median)\n" "$model" "$backend" "$threads" "$plen" "$gen" "$reps"
printf "%-22s %14s %14s %12s\n" "" "prefill tok/s" "decode tok/s" "peak RSS MiB"
printf "%-22s %14.2f %14.2f %12s\n" "ember" "$e_pre" "$e_dec" "$(mib "$e_rss")"
printf "%-22s %14.2f %14.2f\n" "  first run" "$e_pre1" "$e_dec1"
printf "%-22s %14.2f %14.2f %12s\n" "llama.cpp (best)" "$best_pre" "$best_dec" "$(mib "$p_rss")"
printf "%-22s %14s %14s %12s\n" "  at threads" "$best_pre_t" "$best_dec_t" ""
printf "%-22s %14s %14s %12s\n" "  node, no model" "" "" "$p_base"
printf "%-22s %14s %14s %12s\n" "  above node" "" "" "$p_model"
printf "%-22s %14s %14s\n" "ratio ember/llama.cpp" "$(ratio "$e_pre" "$best_pre")" "$(ratio "$e_dec" "$best_dec")"
if [ -n "$lb_pre" ]; then
  printf "%-22s %14.2f %14.2f\n" "llama-bench (median)" "$lb_pre" "$lb_dec"
  printf "%-22s %14.2f %14.2f   (median of %s paired rounds; range %s / %s)\n" "ratio ember/llama-bench" "$lbr_pre" "$lbr_dec" \
    "$rounds" "$(span "$tmp/r_pre")" "$(span "$tmp/r_dec")"
  printf "%-22s %14.2f\n" "  ember's first run" "$lbr_pre1"
  echo "bench: llama_bench_prefill_tps=$lb_pre llama_bench_decode_tps=$lb_dec" \
    "ratio_prefill_llama_bench=$(printf %.2f "$lbr_pre") ratio_decode_llama_bench=$(printf %.2f "$lbr_dec")" \
    "ratio_first_prefill_llama_bench=$(printf %.2f "$lbr_pre1")"
fi
echo "bench: ember_prefill_tps=$e_pre ember_decode_tps=$e_dec ember_first_prefill_tps=$e_pre1 ember_first_decode_tps=$e_dec1 peer_prefill_tps=$best_pre peer_decode_tps=$best_dec" \
  "ratio_prefill=$(ratio "$e_pre" "$best_pre") ratio_decode=$(ratio "$e_dec" "$best_dec")" \
  "ember_rss_mib=$(mib "$e_rss") peer_rss_mib=$(mib "$p_rss") peer_base_rss_mib=$p_base"
