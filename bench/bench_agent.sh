#!/usr/bin/env bash
# bench_agent.sh - the embodied agent's latencies on the simulated robot:
# time from a new frame to the first published step, and from a failed step
# to the next plan sent (replanning), with peak memory, for a
# SmolVLM-256M-shaped pair (random weights: SmolLM2-135M Q8_0 text model,
# SigLIP-256M F16 mmproj with 512 px tiles) plus a state encoder, a 512x512
# camera frame, and grasps failing at --fail-rate.
#
#   bench/bench_agent.sh [--shape tiny|smolvlm-256m] [--backend cpu|vulkan] [--threads N]
#                        [--episodes N] [--votes K] [--keep DIR]
#
# Each episode: `ember sim` (a fresh world from the episode's seed, a
# random feasible goal) and `ember agent` at temperature 1 with a 3-replan
# budget; the figures are read from the agent's timings line and its log.
set -euo pipefail
cd "$(dirname "$0")/.."

shape=smolvlm-256m backend=cpu threads=2 episodes=2 votes=1 keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --shape) shape=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --episodes) episodes=$2; shift 2 ;;
    --votes) votes=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "bench_agent.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
build=${EMBER_BUILD:-build}
ember=${EMBER_BIN:-$build/ember}
for t in "$ember" "$build/mkmodel" "$build/mkmmproj" "$build/mkstate"; do
  [ -x "$t" ] || { echo "bench_agent.sh: $t missing: build first (cmake --build $build)" >&2; exit 1; }
done
dir=${keep:-$(mktemp -d /tmp/ember-bagent.XXXXXX)}
mkdir -p "$dir"
[ -n "$keep" ] || trap 'rm -rf "$dir"; kill $(jobs -p) 2>/dev/null || true' EXIT
vocab=../shared/vocab/ggml-vocab-gpt-2.gguf
fields=gripper.x,gripper.y,gripper.z,gripper.open,gripper.holding,objects.count
for i in $(seq 0 11); do fields="$fields,obj$i.x,obj$i.y"; done
case "$shape" in
  tiny)
    dim=128
    "$build/mkmodel" --vocab $vocab --smolvlm --dim 128 --layers 2 --heads 4 --kv-heads 2 --ffn 256 --ctx 4096 \
      -o "$dir/model.gguf" >/dev/null
    "$build/mkmmproj" --preset tiny --text-dim 128 -o "$dir/mmproj.gguf" >/dev/null ;;
  smolvlm-256m)
    dim=576
    "$build/mkmodel" --vocab $vocab --smolvlm --preset smollm2-135m --ctx 4096 --type q8_0 --std 0.02 \
      -o "$dir/model.gguf" >/dev/null
    "$build/mkmmproj" --preset smolvlm-256m --text-dim 576 --preproc-size 512 --type f16 -o "$dir/mmproj.gguf" >/dev/null ;;
  *) echo "bench_agent.sh: --shape '$shape': expected tiny or smolvlm-256m" >&2; exit 2 ;;
esac
"$build/mkstate" --fields "$fields" --k 4 --n-embd $dim --hidden 256 -o "$dir/state.gguf" >/dev/null

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
isa=avx2; grep -qw avx512f /proc/cpuinfo && [ -z "${EMBER_CPU_DISABLE_AVX512:-}" ] && isa=avx512
echo "bench_agent: shape $shape, backend $backend, $threads threads, votes $votes, $cpu ($isa)"
printf '%-8s %-14s %8s %10s %12s %12s %10s\n' episode result plans steps first_step_ms replan_ms rss_mib
for e in $(seq 1 "$episodes"); do
  ep="ipc://$dir/sim$e"
  "$ember" sim --bind "$ep" --seed "$e" --fail-rate 0.5 --random-goal --frame-size 512x512 --fps 2 --step-s 0.2 \
    --journal "$dir/sim$e.journal" --quiet 2>"$dir/sim$e.log" &
  sim=$!
  set +e
  EMBER_BACKEND=$backend "$ember" agent -m "$dir/model.gguf" --mmproj "$dir/mmproj.gguf" --state-encoder "$dir/state.gguf" \
    --connect "$ep" --temp 1.0 --seed "$e" --threads "$threads" --votes "$votes" --max-replans 3 --max-steps 12 \
    --timeout 60 --log "$dir/agent$e.jsonl" --quiet "put a block in a container" >"$dir/agent$e.out" 2>"$dir/agent$e.err"
  set -e
  kill $sim 2>/dev/null; wait $sim 2>/dev/null || true
  t=$(grep '^timings:' "$dir/agent$e.err" | tail -1)
  [ -n "$t" ] || { echo "bench_agent: episode $e: no timings line:"; tail -5 "$dir/agent$e.err"; continue; }
  get() { echo "$t" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  result=$(sed -n 's/^agent: \([a-z_]*\).*/\1/p' "$dir/agent$e.out")
  plans=$(grep -c '"type":"plan"' "$dir/agent$e.jsonl" || true)
  steps=$(sed -n 's/.*"steps_sent":\([0-9]*\).*/\1/p' "$dir/agent$e.jsonl" | tail -1)
  printf '%-8s %-14s %8s %10s %12s %12s %10s\n' "$e" "$result" "$plans" "$steps" "$(get first_step_ms)" \
    "$(get replan_ms)" "$(get peak_rss_mib)"
done
echo "per plan (encode / prefill / generate ms, from the logs):"
cat "$dir"/agent*.jsonl | /usr/bin/python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
for r in rows:
    if r["type"] == "plan":
        t = r["timings_ms"]
        print("  cycle %d: %d positions (%d reused): encode %.0f, prefill %.0f, generate %.0f, frame to send %.0f" % (
            r["cycle"], r["prompt_positions"], r["prompt_reused"], t["encode"], t["prefill"], t["generate"], t["frame_to_send"]))'
