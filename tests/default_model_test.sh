#!/usr/bin/env bash
# default_model_test.sh - the shipped default model (assets/ember-default*.gguf).
#
#   default_model_test.sh ref cpu|vulkan   PyTorch (tests/default_model_ref.py, the trainer's model code
#                                          on the exported files) against Ember on held-out items:
#                                          the same prompt positions, the same greedy answers
#   default_model_test.sh peer             the text model in llama.cpp (node-llama-cpp): next-token
#                                          distributions of text prompts within 1e-3, same greedy tokens
#   default_model_test.sh eval             `ember eval` on a small held-out set and a few closed-loop
#                                          episodes, failing below the thresholds in this file
#   default_model_test.sh eval-small       one item per family and one episode (the sanitizer pass)
set -euo pipefail
cd "$(dirname "$0")/.."
ember="$(realpath -m "${EMBER_BIN:-build/ember}")"
build="$(realpath -m "${EMBER_BUILD:-build}")"
m=assets/ember-default
for f in $m.gguf $m-mmproj.gguf $m-state.gguf; do [ -f "$f" ] || { echo "default_model_test: $f is missing" >&2; exit 1; }; done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mode="${1:-}"

case "$mode" in
ref)
  backend="${2:-cpu}"
  "$build/mkdata" --split heldout --scenes 8 -o "$work/data" 2>/dev/null
  # --kv-type f32: the reference keeps keys and values in float32 (Ember and llama.cpp default to f16)
  "$ember" eval -m $m.gguf --mmproj $m-mmproj.gguf --state-encoder $m-state.gguf --backend "$backend" -t 2 --kv-type f32 \
    --items 6 --free-plans --answers "$work/answers.jsonl" >"$work/eval.out" 2>"$work/eval.err" \
    || { cat "$work/eval.out" "$work/eval.err"; exit 1; }
  # Ember's first-step logits sit within ~1.3e-5 of PyTorch's on the CPU and on
  # lavapipe (F32 weights, f32 KV): 1e-3 for them and for a near-tie.
  /usr/bin/python3 tests/default_model_ref.py --model $m.gguf --mmproj $m-mmproj.gguf --state $m-state.gguf \
    --data "$work/data" --answers "$work/answers.jsonl" --max-plans 4 --tie 1e-3 --logit-tol 1e-3
  ;;
peer)
  node=$(command -v node || true)
  [ -n "$node" ] && [ -d bench/peer/node_modules/node-llama-cpp ] || { echo "default_model_test: no llama.cpp peer (scripts/setup.sh)"; exit 77; }
  sys="You control a robot arm. Answer with a plan: one skill call per line, arguments as name=value, then an empty line."
  prompts=(
    "<|im_start|>user
Question: What is written on the red cube?<|im_end|>
<|im_start|>assistant
"
    "<|im_start|>system
$sys<|im_end|>
<|im_start|>user
Task: put the block labelled K7 in the blue bowl
Plan:<|im_end|>
<|im_start|>assistant
"
    "<|im_start|>system
$sys<|im_end|>
<|im_start|>user
Task: clear the green tray
So far:
step 2 pick(object=\"red_cube\") failed: grasp_slipped
Plan:<|im_end|>
<|im_start|>assistant
pick(object=\""
  )
  fails=0
  # the tokenizers: llama.cpp's against Ember's on held-out prompts and answers (specials parsed)
  "$build/mkdata" --split heldout --scenes 4 -o "$work/data" 2>/dev/null
  /usr/bin/python3 -c 'import json,sys; sys.stdout.write("".join(j["prompt"] + j["answer"] for j in map(json.loads, open(sys.argv[1]))))' \
    "$work/data/items.jsonl" >"$work/text.txt"
  a="$("$ember" tokenize -m $m.gguf --parse-special -f "$work/text.txt")"
  b="$(node bench/peer/peer.mjs tokenize --model $m.gguf --text-file "$work/text.txt")"
  if [ "$a" = "$b" ]; then echo "ok   tokenizer: $(wc -w <<<"$a") tokens of held-out prompts and answers, the same ids as llama.cpp's"
  else echo "FAIL tokenizer: Ember and llama.cpp tokenize the held-out text differently"; fails=$((fails + 1)); fi
  for i in "${!prompts[@]}"; do
    toks="$("$ember" tokenize -m $m.gguf --parse-special -p "${prompts[$i]}")"
    "$ember" generate -m $m.gguf --prompt-tokens "$toks" -n 32 --temp 0 --ignore-eos --backend cpu -t 2 \
      --probs-out "$work/e$i.bin" >/dev/null 2>"$work/e.err" || { cat "$work/e.err"; exit 1; }
    node bench/peer/peer.mjs probs --model $m.gguf --tokens "$toks" --n 32 --threads 2 --ctx 1024 \
      --out "$work/p$i.bin" --follow "$work/e$i.bin" || { echo "default_model_test: the peer failed"; exit 1; }
    if out="$("$build/probcmp" "$work/e$i.bin" "$work/p$i.bin" --tol 1e-3 --forced)"; then
      echo "ok   prompt $i ($(wc -w <<<"$toks") tokens) against llama.cpp: $(tail -n1 <<<"$out")"
    else
      echo "FAIL prompt $i against llama.cpp:"; echo "$out"; fails=$((fails + 1))
    fi
  done
  exit $((fails > 0))
  ;;
eval)
  # Thresholds below what the shipped model measures on these items (the first 20
  # held-out items of each family; greedy, so the same answers every run up to
  # near-ties between instruction sets): a regression in the runtime (layout,
  # tokenizer, kernels, grammar, the loop) falls under them.
  "$ember" eval -m $m.gguf --mmproj $m-mmproj.gguf --state-encoder $m-state.gguf -t 2 \
    --items 20 --episodes 4 --fail-rate 0.2 \
    --min-exact visual=0.2 --min-exact state=0.6 --min-exact plan=0.1 --min-exact replan=0.05
  ;;
eval-small)
  "$ember" eval -m $m.gguf --mmproj $m-mmproj.gguf --state-encoder $m-state.gguf -t 2 --items 1 --episodes 1 -v
  ;;
*)
  echo "usage: default_model_test.sh ref cpu|vulkan | peer | eval | eval-small" >&2; exit 2 ;;
esac
