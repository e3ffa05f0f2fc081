#!/usr/bin/env bash
# bench_types.sh - each weight type's speed beside a built llama-bench, one file per type.
#
#   LLAMA_BENCH=PATH/llama-bench bench/bench_types.sh [THREADS] [TYPE...]
# Environment: EMBER_BIN (default build/ember), EMBER_BUILD (default build),
# PROMPT (default 512), GEN (default 128), REPS (default 2), ROUNDS (default 2).
#
# For each TYPE (default: every type Ember computes with but F32, F16, BF16)
# tools/mkmodel writes a random-weight model of that type in one shape every
# type fits (dim 1024, ffn 2816, 16 layers, 16 heads / 4 KV: widths that are
# multiples of the K-quants' 256), tied to the GPT-2 vocabulary, so the types
# differ only in their blocks. Then ROUNDS pairs of llama-bench (pp PROMPT,
# and GEN tokens after the prompt where it has -gp) and `ember bench` right
# after it, the same threads; per type the medians of the pairs' ratios
# (the machine's speed drifts between pairs). One line per type, then a
# table. Decode here includes the tied 50k-row output product in the type.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-$(nproc)}"
[ $# -ge 1 ] && shift
types=("$@")
[ ${#types[@]} -gt 0 ] || types=(q8_0 q4_0 q4_1 q5_0 q5_1 iq4_nl q2_K q3_K q4_K q5_K q6_K)
ember="${EMBER_BIN:-build/ember}" build="${EMBER_BUILD:-build}"
plen="${PROMPT:-512}" gen="${GEN:-128}" reps="${REPS:-2}" rounds="${ROUNDS:-2}"
lb="${LLAMA_BENCH:?set LLAMA_BENCH to a built llama-bench (ik_llama.cpp or llama.cpp)}"
[ -x "$lb" ] || { echo "bench_types: $lb is not an executable" >&2; exit 1; }
vocab="../shared/vocab/ggml-vocab-gpt-2.gguf"
[ -f "$vocab" ] || { echo "bench_types: $vocab missing (../shared beside the checkout)" >&2; exit 1; }
tmp="$(mktemp -d /tmp/ember-btypes.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

. "$(dirname "$0")/lib.sh" # lb_args_for, lb_col, field, median
lb_args_for "$lb" "$plen" "$gen"

printf '%-7s %10s %10s %7s %9s %9s %7s\n' type "ember pp" "peer pp" ratio "ember tg" "peer tg" ratio >"$tmp/table"
for t in "${types[@]}"; do
  m="$tmp/$t.gguf"
  "$build/mkmodel" --vocab "$vocab" --type "$t" --layers 16 --dim 1024 --heads 16 --kv-heads 4 --ffn 2816 --ctx 2048 \
    --std 0.04 --tied -o "$m" >/dev/null 2>&1 || { echo "bench_types: mkmodel --type $t failed" >&2; exit 1; }
  : >"$tmp/rp"; : >"$tmp/rd"; : >"$tmp/ep"; : >"$tmp/ed"; : >"$tmp/pp"; : >"$tmp/pd"
  for r in $(seq 1 "$rounds"); do
    "$lb" -m "$m" "${lb_args[@]}" -t "$threads" -r "$reps" -o csv >"$tmp/lb.csv" 2>"$tmp/err" \
      || { echo "bench_types: llama-bench failed on $t:" >&2; cat "$tmp/err" >&2; exit 1; }
    p=$(lb_col "$tmp/lb.csv" pp avg_ts); d=$(lb_col "$tmp/lb.csv" "$lb_tg" avg_ts)
    l="$("$ember" bench -m "$m" -p "$plen" -n "$gen" -r "$reps" --threads "$threads" --backend cpu -q 2>&1 | grep '^bench:')" \
      || { echo "bench_types: ember bench failed on $t" >&2; exit 1; }
    ep=$(field pp_tps <<<"$l"); ed=$(field tg_tps <<<"$l")
    echo "$ep" >>"$tmp/ep"; echo "$ed" >>"$tmp/ed"; echo "$p" >>"$tmp/pp"; echo "$d" >>"$tmp/pd"
    awk -v a="$ep" -v b="$p" 'BEGIN { print a / b }' >>"$tmp/rp"
    awk -v a="$ed" -v b="$d" 'BEGIN { print a / b }' >>"$tmp/rd"
    echo "$t round $r: ember pp $ep tg $ed; llama-bench pp $p tg $d"
  done
  printf '%-7s %10.1f %10.1f %7.2f %9.1f %9.1f %7.2f\n' "$t" "$(median <"$tmp/ep")" "$(median <"$tmp/pp")" \
    "$(median <"$tmp/rp")" "$(median <"$tmp/ed")" "$(median <"$tmp/pd")" "$(median <"$tmp/rd")" >>"$tmp/table"
done
echo "shape: dim 1024, ffn 2816, 16 layers, tied GPT-2 vocabulary; $threads threads; pp$plen, tg$gen after the prompt ($lb_tg)"
cat "$tmp/table"
