#!/usr/bin/env bash
# The `ember` command line as a script sees it: exit codes (0 ok, 1 runtime
# failure, 2 usage), messages that name the problem, generated text alone on
# stdout, and bad files refused cleanly (never a crash: a signal exit fails).
set -uo pipefail
cd "$(dirname "$0")/.."
ember=${EMBER_BIN:-build/ember}
build=${EMBER_BUILD:-build}
shared=${EMBER_SHARED:-../shared}
[ -d "$shared/vocab" ] || { echo "FAIL: $shared/vocab missing (the tests need ../shared beside the checkout)"; exit 1; }
vocab=$shared/vocab/ggml-vocab-gpt-2.gguf
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ember-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

# expect CODE PATTERN -- command...: exit code CODE and stderr matching PATTERN
expect() {
  local code=$1 pat=$2; shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" -eq "$code" ] && { [ -z "$pat" ] || grep -Eq -- "$pat" "$tmp/err"; }; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $* -> exit $rc (want $code), stderr: $(head -c 300 "$tmp/err")"
  fi
}

"$build/mkmodel" --vocab "$vocab" --type q8_0 --layers 2 --dim 64 --heads 4 --kv-heads 2 --ffn 128 --tied -o "$tmp/m.gguf" 2>/dev/null \
  || { echo "FAIL: mkmodel"; exit 1; }

# usage errors: exit 2
expect 2 "unknown command" -- "$ember" frobnicate
expect 2 "unknown option '--bogus'" -- "$ember" generate -m "$tmp/m.gguf" -p hi --bogus
expect 2 "no model" -- "$ember" generate -p hi
expect 2 "exactly one of" -- "$ember" generate -m "$tmp/m.gguf"
expect 2 "-n 'ten'.*integer" -- "$ember" generate -m "$tmp/m.gguf" -p hi -n ten
expect 2 "--temp '-1'" -- "$ember" generate -m "$tmp/m.gguf" -p hi --temp -1
expect 2 "--threads '0'" -- "$ember" generate -m "$tmp/m.gguf" -p hi --threads 0
expect 2 "needs a value" -- "$ember" generate -m "$tmp/m.gguf" -p
expect 2 "--kv-type 'q4'" -- "$ember" generate -m "$tmp/m.gguf" -p hi --kv-type q4
expect 2 "chat-template 'x'" -- "$ember" generate -m "$tmp/m.gguf" -p hi --chat --chat-template x
expect 2 "not a token id" -- "$ember" generate -m "$tmp/m.gguf" --prompt-tokens "1 two 3"

# runtime failures: exit 1 with the file named
expect 1 "nope.gguf" -- "$ember" generate -m "$tmp/nope.gguf" -p hi
head -c 5000 "$tmp/m.gguf" >"$tmp/trunc.gguf"
expect 1 "trunc.gguf" -- "$ember" generate -m "$tmp/trunc.gguf" -p hi
printf 'not a gguf file at all' >"$tmp/text.gguf"
expect 1 "text.gguf" -- "$ember" generate -m "$tmp/text.gguf" -p hi
expect 1 "architecture" -- "$ember" generate -m "$vocab" -p hi
expect 1 "^ember generate: -f: .*nope.txt" -- "$ember" generate -m "$tmp/m.gguf" -f "$tmp/nope.txt"
expect 1 "^ember tokenize: .*nope.txt" -- "$ember" tokenize -m "$vocab" -f "$tmp/nope.txt"
# a prompt file is read whole, NUL bytes included ("Hello", NUL, "world": 3 tokens)
printf 'Hello\0world' >"$tmp/nul.txt"
expect 0 "prefill_tokens=3 " -- "$ember" generate -m "$tmp/m.gguf" -f "$tmp/nul.txt" -n 1
expect 1 "outside the vocabulary" -- "$ember" generate -m "$tmp/m.gguf" --prompt-tokens "1 999999"
expect 1 "context" -- "$ember" generate -m "$tmp/m.gguf" --prompt-tokens "1 2 3 4 5 6 7 8 9 10" --ctx 8
expect 1 "trunc.gguf" -- "$ember" info "$tmp/trunc.gguf"
expect 1 "trunc.gguf" -- "$ember" tokenize -m "$tmp/trunc.gguf" -p hi

# success: stdout holds the text only, timings go to stderr
expect 0 "^timings: prefill_tokens=2 .*decode_tokens=4 " -- "$ember" generate -m "$tmp/m.gguf" -p "The robot" -n 5 --temp 0 --ignore-eos
if grep -q "timings\|ember:" "$tmp/out" || [ ! -s "$tmp/out" ]; then
  failed=$((failed + 1)); echo "FAIL: stdout should hold only the generated text: $(head -c 200 "$tmp/out")"
else passed=$((passed + 1)); fi
# greedy is deterministic; seeded sampling repeats with the same seed
"$ember" generate -m "$tmp/m.gguf" -p "The robot" -n 12 --temp 0 --ignore-eos -q >"$tmp/g1" 2>/dev/null
"$ember" generate -m "$tmp/m.gguf" -p "The robot" -n 12 --temp 0 --ignore-eos -q --threads 1 >"$tmp/g2" 2>/dev/null
"$ember" generate -m "$tmp/m.gguf" -p "The robot" -n 12 --temp 1 --seed 42 --ignore-eos -q >"$tmp/s1" 2>/dev/null
"$ember" generate -m "$tmp/m.gguf" -p "The robot" -n 12 --temp 1 --seed 42 --ignore-eos -q >"$tmp/s2" 2>/dev/null
if cmp -s "$tmp/g1" "$tmp/g2" && cmp -s "$tmp/s1" "$tmp/s2"; then passed=$((passed + 1))
else failed=$((failed + 1)); echo "FAIL: greedy or seeded output not reproducible"; fi
# --chat formats with the template (ChatML for a file without one): the prompt grows by the markers
expect 0 "prefill_tokens=(1[0-9]|[2-9][0-9])" -- "$ember" generate -m "$tmp/m.gguf" -p "hi" -n 1 --chat
expect 0 "" -- "$ember" info "$tmp/m.gguf"
grep -q "blk.1.ffn_down.weight" "$tmp/out" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: info lists tensors"; }
expect 0 "" -- "$ember" tokenize -m "$vocab" -p "Hello world"
[ "$(cat "$tmp/out")" = "15496 995" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: tokenize: $(cat "$tmp/out")"; }
expect 0 "" -- "$ember" --help

# backends: a bad choice is a usage error; auto falls back to the CPU (saying
# why) where the only Vulkan device is a CPU one; vulkan insists and runs on
# lavapipe; a device index that does not exist is a runtime failure
expect 2 "--backend 'gpu'" -- "$ember" generate -m "$tmp/m.gguf" -p hi --backend gpu
expect 2 "--device '-1'" -- "$ember" generate -m "$tmp/m.gguf" -p hi --device -1
if "$ember" devices >"$tmp/dev" 2>&1; then
  passed=$((passed + 1))
  if grep -q "type CPU" "$tmp/dev" && ! grep -q "GPU," "$tmp/dev"; then
    expect 0 "no Vulkan GPU.*running on the CPU" -- "$ember" generate -m "$tmp/m.gguf" -p hi -n 2 --backend auto
  fi
  expect 0 "vulkan: submits=" -- "$ember" generate -m "$tmp/m.gguf" -p hi -n 4 --backend vulkan
  expect 1 "device 9 asked for" -- "$ember" generate -m "$tmp/m.gguf" -p hi -n 2 --backend vulkan --device 9
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
