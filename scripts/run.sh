#!/usr/bin/env bash
# Set up, build, and run Ember's main job on the default model in assets/.
#   scripts/run.sh                       generate from a sample robot instruction
#   scripts/run.sh -p "TEXT" [options]   any `ember generate` options
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-peer
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
model=assets/ember-default.gguf
if [ $# -eq 0 ]; then
  set -- -p "Instruction: pick up the red cup and place it on the tray. Plan:" -n 48 --seed 1
fi
exec build/ember generate -m "$model" "$@"
