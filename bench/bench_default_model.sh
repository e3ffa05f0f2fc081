#!/usr/bin/env bash
# bench_default_model.sh - the default model's held-out figures in one run
# (tools/train/README.md reports them):
#   1. `ember eval` on the CPU: N held-out items per family (exact match, ms
#      per item) and E closed-loop episodes with --fail-rate 0.2 (success,
#      steps and replans per episode, time from the first frame to the first
#      published step), peak memory;
#   2. the same episodes' first E_VOTES with --votes 5;
#   3. E_VK episodes on Vulkan (lavapipe without a GPU): time to the first step.
#
#   bench/bench_default_model.sh [--items N] [--episodes E] [--votes-episodes E] [--vk-episodes E] [--threads T]
set -euo pipefail
cd "$(dirname "$0")/.."
items=500 episodes=200 ev=50 evk=10 threads=2
while [ $# -gt 0 ]; do
  case "$1" in
    --items) items=$2; shift 2 ;;
    --episodes) episodes=$2; shift 2 ;;
    --votes-episodes) ev=$2; shift 2 ;;
    --vk-episodes) evk=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "bench_default_model.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
ember=${EMBER_BIN:-build/ember}
m=assets/ember-default
files=(-m $m.gguf --mmproj $m-mmproj.gguf --state-encoder $m-state.gguf)
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(grep -q avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2)"
echo "== files: $(du -cb $m.gguf $m-mmproj.gguf $m-state.gguf | tail -n1 | cut -f1) bytes"
echo "== CPU, $threads threads: $items items per family, $episodes episodes (--fail-rate 0.2)"
/usr/bin/time -f "wall %e s, peak %M KiB" "$ember" eval "${files[@]}" -t "$threads" --backend cpu --items "$items" \
  --episodes "$episodes" --fail-rate 0.2
echo "== CPU, $threads threads: $ev episodes with --votes 5"
"$ember" eval "${files[@]}" -t "$threads" --backend cpu --items 0 --episodes "$ev" --fail-rate 0.2 --votes 5 | tail -n 1
echo "== Vulkan ($("$ember" devices 2>/dev/null | sed -n 's/^ *0: //p' | head -n1)): $evk episodes"
"$ember" eval "${files[@]}" --backend vulkan --items 0 --episodes "$evk" --fail-rate 0.2 | tail -n 1
