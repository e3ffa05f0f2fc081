#!/usr/bin/env bash
# Set up, build, and run Ember's main job: one closed-loop episode of the
# default model (assets/ember-default*.gguf) on the simulated robot.
#   scripts/run.sh [--seed N] [--fail-rate P] [--frames DIR]
# `ember sim` (the journaled controller, its camera at 320x320, a scrambled
# held-out world, a random task, injected grasp slips) and `ember agent`
# (frame + state + instruction -> plan under the skills' grammar -> steps
# over the robot link -> feedback -> replan) run as two processes, as on a
# robot. It prints the instruction, each plan as published, each step's
# fate, the replans and the end; the frames each plan was made from are
# saved as PNG files (default: demo-frames/). Exit 0 when the goal is met.
# The default seed is held-out episode 10 of `ember eval` (the same world and
# task: "put the block labelled K7 into the cyan bowl"), one the shipped model
# completes; it completes 10.5% of 200 held-out episodes (tools/train/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
seed=1000000000011 fail=0.2 frames=demo-frames
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) seed=$2; shift 2 ;;
    --fail-rate) fail=$2; shift 2 ;;
    --frames) frames=$2; shift 2 ;;
    *) echo "run.sh: unknown option '$1' (known: --seed N, --fail-rate P, --frames DIR)" >&2; exit 2 ;;
  esac
done
scripts/setup.sh --no-peer
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
m=assets/ember-default
work=$(mktemp -d /tmp/ember-demo.XXXXXX)
ep="ipc://$work/robot"
cleanup() { [ -n "${sim_pid:-}" ] && kill "$sim_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
# The world of a held-out seed, scrambled as the training scenes are (seed mod 4 earlier moves).
build/ember sim --bind "$ep" --seed "$seed" --scramble $((seed % 4)) --random-goal --fail-rate "$fail" \
  --frame-size 320x320 --fps 10 --step-s 0.3 --journal "$work/sim.journal" --fresh --quiet 2>"$work/sim.log" &
sim_pid=$!
for _ in $(seq 100); do grep -q '^sim: goal: ' "$work/sim.log" 2>/dev/null && break; sleep 0.1; done
task=$(sed -n 's/^sim: goal: //p' "$work/sim.log" | head -n1)
[ -n "$task" ] || { cat "$work/sim.log" >&2; echo "run.sh: the sim did not start" >&2; exit 1; }
rm -rf "$frames"
set +e
build/ember agent -m $m.gguf --mmproj $m-mmproj.gguf --state-encoder $m-state.gguf --connect "$ep" \
  --save-frames "$frames" --max-replans 4 "$task"
rc=$?
set -e
echo "frames the plans were made from: $frames/ ($(ls "$frames" 2>/dev/null | wc -l) PNG files)"
exit $rc
