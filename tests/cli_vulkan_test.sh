#!/usr/bin/env bash
# The `ember` command line's backend choice (--backend, --device, ember
# devices, EMBER_BACKEND), as cli_test.sh checks the rest.
set -uo pipefail
cd "$(dirname "$0")/.."
. tests/cli_lib.sh

# backends: a bad choice is a usage error; auto falls back to the CPU (saying
# why) where the only Vulkan device is a CPU one; vulkan insists and runs on
# lavapipe; a device index that does not exist is a runtime failure
expect 2 "--backend 'gpu'" -- "$ember" generate -m "$tmp/m.gguf" -p hi --backend gpu
expect 2 "--device '-1'" -- "$ember" generate -m "$tmp/m.gguf" -p hi --device -1
EMBER_BACKEND=tpu expect 2 "EMBER_BACKEND 'tpu'" -- "$ember" generate -m "$tmp/m.gguf" -p hi
if "$ember" devices >"$tmp/dev" 2>&1; then
  passed=$((passed + 1))
  if grep -q "type CPU" "$tmp/dev" && ! grep -q "GPU," "$tmp/dev"; then
    expect 0 "no Vulkan GPU.*running on the CPU" -- "$ember" generate -m "$tmp/m.gguf" -p hi -n 2 --backend auto
  fi
  expect 0 "vulkan: submits=" -- "$ember" generate -m "$tmp/m.gguf" -p hi -n 4 --backend vulkan
  # the library names the problem; the command line adds the flag or command
  expect 1 "device 9 asked for.*see .ember devices." -- "$ember" generate -m "$tmp/m.gguf" -p hi -n 2 --backend vulkan --device 9
  VK_ICD_FILENAMES=/nonexistent.json expect 1 "--backend vulkan: vulkan: no Vulkan driver.*\(use --backend cpu\)" -- \
    "$ember" generate -m "$tmp/m.gguf" -p hi -n 2 --backend vulkan
  # a device too small: the weights, then the KV cache, named in a clean failure
  EMBER_VK_MAX_MEMORY=1000000 expect 1 "out of device memory.*weight token_embd" -- "$ember" generate -m "$tmp/m.gguf" -p hi --backend vulkan
  EMBER_VK_MAX_MEMORY=30000000 expect 1 "out of device memory.*k_cache" -- "$ember" generate -m "$tmp/m.gguf" -p hi --backend vulkan --ctx 1000000
  # Q2_K, the last of the CPU's weight types to get Vulkan shaders: no type is
  # left for Vulkan to refuse at load or for auto to take back to the CPU, so
  # the 2-bit model runs on Vulkan, to the CPU's greedy text (1 layer: random
  # weights rounded to 2 bits, no near-ties expected either)
  "$build/mkmodel" --vocab "$vocab" --type q2_K --layers 1 --dim 256 --heads 4 --ffn 256 --tied -o "$tmp/k.gguf" 2>/dev/null \
    || { failed=$((failed + 1)); echo "FAIL: mkmodel --type q2_K"; }
  "$ember" generate -m "$tmp/k.gguf" -p "The robot" -n 12 --temp 0 --backend cpu >"$tmp/kc.txt" 2>/dev/null
  expect 0 "vulkan: submits=" -- "$ember" generate -m "$tmp/k.gguf" -p "The robot" -n 12 --temp 0 --backend vulkan
  [ -s "$tmp/kc.txt" ] && cmp -s "$tmp/kc.txt" "$tmp/out" && passed=$((passed + 1)) ||
    { failed=$((failed + 1)); echo "FAIL: cpu and vulkan greedy text differ on the q2_K model"; }
  # auto with a Vulkan device index (lavapipe here) runs on it
  expect 0 "vulkan: submits=" -- "$ember" generate -m "$tmp/m.gguf" -p hi -n 2 --backend auto --device 0
  # the same greedy text on both backends (a 2-layer model: no near-ties expected)
  "$ember" generate -m "$tmp/m.gguf" -p "The robot" -n 12 --temp 0 --backend cpu >"$tmp/c.txt" 2>/dev/null
  "$ember" generate -m "$tmp/m.gguf" -p "The robot" -n 12 --temp 0 --backend vulkan >"$tmp/v.txt" 2>/dev/null
  cmp -s "$tmp/c.txt" "$tmp/v.txt" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: cpu and vulkan greedy text differ"; }
else
  failed=$((failed + 1))
  echo "FAIL: ember devices: $(head -c 300 "$tmp/dev") (scripts/setup.sh installs lavapipe)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
