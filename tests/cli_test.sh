#!/usr/bin/env bash
# The `ember` command line as a script sees it: exit codes (0 ok, 1 runtime
# failure, 2 usage), messages that name the problem, generated text alone on
# stdout, and bad files refused cleanly (never a crash: a signal exit fails).
set -uo pipefail
cd "$(dirname "$0")/.."
# The CPU backend throughout (cli_vulkan_test.sh covers --backend).
export EMBER_BACKEND=cpu
. tests/cli_lib.sh

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
# one rule for a prompt file in run and generate: the whole file is the
# prompt, so a NUL byte (which would cut it) is refused, before the model loads
printf 'Hello\0world' >"$tmp/nul.txt"
expect 1 "nul.txt: a NUL byte at offset 5" -- "$ember" generate -m "$tmp/m.gguf" -f "$tmp/nul.txt" -n 1
expect 1 "nul.txt: a NUL byte at offset 5" -- "$ember" run -m "$tmp/nope.gguf" -f "$tmp/nul.txt" -n 1
expect 1 "is a directory" -- "$ember" generate -m "$tmp/m.gguf" -f "$tmp"
expect 1 "is a directory" -- "$ember" run -m "$tmp/m.gguf" -f "$tmp"
printf 'Hello world' >"$tmp/hw.txt"
expect 0 "prefill_tokens=2 " -- "$ember" generate -m "$tmp/m.gguf" -f "$tmp/hw.txt" -n 1
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
# --stop: the text ends before the first occurrence, which is not printed
full=$(cat "$tmp/s1")
stop=${full: -6:4}
prefix=${full%%"$stop"*}
"$ember" generate -m "$tmp/m.gguf" -p "The robot" -n 12 --temp 1 --seed 42 --ignore-eos -q --stop "$stop" >"$tmp/st" 2>/dev/null
if [ -n "$stop" ] && [ -n "$prefix" ] && [ "$(cat "$tmp/st")" = "$prefix" ]; then passed=$((passed + 1))
else failed=$((failed + 1)); echo "FAIL: --stop '$stop': got '$(cat "$tmp/st")', want '$prefix'"; fi
# run and generate share the model and sampling options (and their ranges)
expect 0 "^timings: " -- "$ember" run -m "$tmp/m.gguf" -p "The robot" -n 2 --seed 18446744073709551615 --temp 1 --repeat-penalty 1.1 -q
expect 2 "^ember run: --seed '-1'" -- "$ember" run -m "$tmp/m.gguf" -p hi --seed -1
expect 2 "^ember run: --top-k 'x': expected an integer" -- "$ember" run -m "$tmp/m.gguf" -p hi --top-k x
expect 1 "^ember run: -f: .*nope.txt" -- "$ember" run -m "$tmp/m.gguf" -f "$tmp/nope.txt"
expect 2 "^ember run: --image needs --mmproj" -- "$ember" run -m "$tmp/m.gguf" -p hi --image x.png
# --chat formats with the template (ChatML for a file without one): the prompt grows by the markers
expect 0 "prefill_tokens=(1[0-9]|[2-9][0-9])" -- "$ember" generate -m "$tmp/m.gguf" -p "hi" -n 1 --chat
expect 0 "" -- "$ember" info "$tmp/m.gguf"
grep -q "blk.1.ffn_down.weight" "$tmp/out" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: info lists tensors"; }
# ember quantize: usage errors, bad input, a refused requantization, a mix written
expect 2 "expected IN.gguf OUT.gguf MIX" -- "$ember" quantize "$tmp/m.gguf" "$tmp/q.gguf"
expect 2 "mix 'Q4_X' unknown; known: F32 F16" -- "$ember" quantize "$tmp/m.gguf" "$tmp/q.gguf" Q4_X
expect 1 "trunc.gguf" -- "$ember" quantize "$tmp/trunc.gguf" "$tmp/q.gguf" Q8_0
expect 1 "already q8_0: requantizing" -- "$ember" quantize "$tmp/m.gguf" "$tmp/q.gguf" Q4_0
[ ! -e "$tmp/q.gguf" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: a refused quantize wrote its output"; }
expect 0 "wrote .*q.gguf" -- "$ember" quantize --allow-requantize "$tmp/m.gguf" "$tmp/q.gguf" Q4_0
expect 0 "" -- "$ember" info "$tmp/q.gguf"
grep -q "file type: 2 (Q4_0)" "$tmp/out" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: quantize output's info: $(tail -5 "$tmp/out")"; }
expect 0 "" -- "$ember" quantize --dry-run --allow-requantize "$tmp/m.gguf" - Q4_K_M
grep -Eq "^blk.0.attn_q.weight +q8_0 +q5_0" "$tmp/out" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: quantize --dry-run: $(head -5 "$tmp/out")"; }
# a vision projector: the matrices quantized, the patch and position embeddings kept (as llama.cpp's rules)
"$build/mkmmproj" --text-dim 64 --preset tiny -o "$tmp/mmp.gguf" 2>/dev/null
expect 0 "wrote" -- "$ember" quantize -q "$tmp/mmp.gguf" "$tmp/mmp-q8.gguf" Q8_0
expect 0 "" -- "$ember" info "$tmp/mmp-q8.gguf"
grep -Eq "^  v.blk.0.attn_q.weight +q8_0" "$tmp/out" && grep -Eq "^  v.patch_embd.weight +f32" "$tmp/out" &&
  grep -Eq "^  v.position_embd.weight +f32" "$tmp/out" && passed=$((passed + 1)) ||
  { failed=$((failed + 1)); echo "FAIL: mmproj quantize: $(grep -E 'attn_q.weight|embd' "$tmp/out" | head -4)"; }
expect 0 "" -- "$ember" tokenize -m "$vocab" -p "Hello world"
[ "$(cat "$tmp/out")" = "15496 995" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: tokenize: $(cat "$tmp/out")"; }
expect 0 "" -- "$ember" --help
expect 0 "" -- "$ember" --version
grep -Eq "^ember [0-9]+\.[0-9]+\.[0-9]+ " "$tmp/out" && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: --version: $(cat "$tmp/out")"; }

# bench: the first run apart, then REPS runs each from an empty cache (a run
# that reused the cache or decoded nothing is a failure), their median on a
# machine-readable line
expect 0 "" -- "$ember" bench -m "$tmp/m.gguf" -p 16 -n 4 -r 2 -q
if [ "$(grep -Ec '^(first|1|2|median) +[0-9.]+ +[0-9.]+$' "$tmp/out")" = 4 ] &&
   grep -Eq '^bench: pp_tps=[1-9][0-9.]* tg_tps=[1-9][0-9.]* first_pp_tps=[1-9][0-9.]* first_tg_tps=[1-9][0-9.]* ' "$tmp/out"
then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: bench output: $(head -c 400 "$tmp/out")"; fi
expect 2 "do not fit a context of 8" -- "$ember" bench -m "$tmp/m.gguf" -p 16 -n 4 --ctx 8
expect 2 "^ember bench: -r '0': expected an integer in 1..1000" -- "$ember" bench -m "$tmp/m.gguf" -r 0
expect 2 "no model" -- "$ember" bench -p 4
expect 2 "^ember bench: -n must be at least 2 tokens" -- "$ember" bench -m "$tmp/m.gguf" -n 1
expect 1 "trunc.gguf" -- "$ember" bench -m "$tmp/trunc.gguf" -p 4 -n 2

# a full context cuts the answer short: a failure (1), the text still printed
expect 1 "context full" -- "$ember" generate -m "$tmp/m.gguf" --prompt-tokens "1 2 3 4" --ctx 8 -n 20 --ignore-eos --temp 0
[ -s "$tmp/out" ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: context full: no text on stdout"; }
expect 1 "context full" -- "$ember" run -m "$tmp/m.gguf" -p "The robot" --ctx 34 -n 20 --ignore-eos
# a sampled run says its seed, so it can be repeated; a greedy one has none to say
expect 0 "^timings: .* seed=42$" -- "$ember" generate -m "$tmp/m.gguf" -p hi -n 2 --temp 1 --seed 42
expect 0 "^timings: .*decode_tps=[0-9.]+$" -- "$ember" generate -m "$tmp/m.gguf" -p hi -n 2 --temp 0
# warnings: more threads than cores, a context past the training length (512 here)
over=$(( $(nproc) * 2 ))
expect 0 "warning: --threads $over is more than the $(nproc) cores" -- "$ember" generate -m "$tmp/m.gguf" -p hi -n 1 --threads "$over"
expect 0 "warning: --ctx 1024 is past the 512 positions" -- "$ember" generate -m "$tmp/m.gguf" -p hi -n 1 --ctx 1024
# files the GGUF writer makes honour the umask (not always 0600)
(umask 022 && "$build/mkmodel" --vocab "$vocab" --type f32 --layers 1 --dim 64 --heads 4 --ffn 64 -o "$tmp/um.gguf" 2>/dev/null)
[ "$(stat -c %a "$tmp/um.gguf")" = 644 ] && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "FAIL: umask 022 gave mode $(stat -c %a "$tmp/um.gguf")"; }
# a language model and its projector given the wrong way round: named as swapped, both ways
"$build/mkmmproj" --text-dim 64 -o "$tmp/mm.gguf" 2>/dev/null || { failed=$((failed + 1)); echo "FAIL: mkmmproj"; }
expect 1 "mm.gguf.*it is a vision projector: give it to --mmproj" -- "$ember" run -m "$tmp/mm.gguf" --mmproj "$tmp/m.gguf" -p hi --image x.png
expect 1 "m.gguf.*it is a language model: give it to -m" -- "$ember" run -m "$tmp/m.gguf" --mmproj "$tmp/m.gguf" -p hi --image x.png
expect 1 "it is a vision projector" -- "$ember" generate -m "$tmp/mm.gguf" -p hi
# --image-resize: a name it does not know; a projector whose ember.vision.image_resize is neither mode
expect 2 "^ember run: --image-resize 'bicubic': expected auto, transformers or llamacpp" -- "$ember" run -m "$tmp/m.gguf" -p hi --image-resize bicubic
expect 2 "^ember run: --vision-weights 'f8': expected stored or bf16" -- "$ember" run -m "$tmp/m.gguf" -p hi --vision-weights f8
expect 2 "^ember agent: --vision-weights 'fp16': expected stored or bf16" -- "$ember" agent -m "$tmp/m.gguf" --vision-weights fp16
"$build/mkmmproj" --text-dim 64 --image-resize llamacpp -o "$tmp/mml.gguf" 2>/dev/null && perl -0777 -pe 's/llamacpp/llamaxpp/' "$tmp/mml.gguf" >"$tmp/mmx.gguf"
expect 1 "ember.vision.image_resize is 'llamaxpp'; expected 'transformers' or 'llamacpp'" -- "$ember" run -m "$tmp/m.gguf" --mmproj "$tmp/mmx.gguf" -p hi --image x.png
# ember eval: its three files are required; a text model where the projector goes is named
expect 2 "--mmproj and --state-encoder are required" -- "$ember" eval -m "$tmp/m.gguf"
expect 2 "--fail-rate '2'" -- "$ember" eval -m "$tmp/m.gguf" --mmproj x --state-encoder y --fail-rate 2
expect 1 "not a vision projector .general.architecture is .llama." -- "$ember" eval -m "$tmp/m.gguf" --mmproj "$tmp/m.gguf" --state-encoder "$tmp/m.gguf"
expect 2 "--min-exact 'foo=0.5'" -- "$ember" eval -m "$tmp/m.gguf" --mmproj x --state-encoder y --min-exact foo=0.5
expect 2 "--scramble '17'" -- "$ember" sim --bind ipc://$tmp/s --scramble 17
# a file shorter than the GGUF magic, and the start of it: truncated
printf 'GG' >"$tmp/gg.gguf"
expect 1 "gg.gguf: truncated" -- "$ember" info "$tmp/gg.gguf"
# the KV cache that does not fit says what the asked context needs (not under
# ASan, whose shadow memory cannot live under a virtual memory limit)
if [ -z "${ASAN_OPTIONS:-}" ]; then
  (ulimit -v 3000000; expect 1 "KV cache for a context of 16777216 positions needs 4096.0 MiB" -- \
    "$ember" generate -m "$tmp/m.gguf" -p hi --ctx 16777216 -n 1; echo "$passed $failed" >"$tmp/counts")
  read -r passed failed <"$tmp/counts"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
