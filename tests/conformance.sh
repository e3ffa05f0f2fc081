#!/usr/bin/env bash
# conformance.sh - Ember against llama.cpp on the same random-weight models.
#
# For each model variant (tensor type x shape), and each prompt (fixed token id
# lists, GPT-2 vocabulary), run `ember generate --probs-out` and the peer
# (bench/peer/peer.mjs: llama.cpp's prebuilt CPU library through node-llama-cpp)
# for a 64-token greedy continuation. The peer follows Ember's tokens (peer.mjs
# --follow), so both see the same context at every step and all 64 steps compare
# even after a near-tie the two break differently; probcmp --forced then holds
# every step to max |dp| <= tol, and lets the greedy tokens differ only at
# near-ties (each side prefers its own token over the other's by <= tol).
#
# Tolerances are the issue's: max |dp| <= 1e-3 for F32/F16, 1e-2 for the
# quantized types (and BF16, whose 8-bit mantissa rounds like one). Greedy
# tokens must be the same at every step except at a near-tie (each side prefers
# its own token over the other's by <= tol): activations are rounded to the
# weights' dot type (F16, BF16, Q8_0 blocks) as llama.cpp does, so a 1-ulp
# difference upstream (summation order) can flip one rounding; Ember's own
# scalar and SIMD kernels break such ties differently too.
#
# Models: weights N(0, 0.04), with the final norm scaled (mkmodel --logit-scale)
# so next-token distributions are sharp (top probabilities ~0.05-0.5); without
# it a 50k-token softmax is so flat (top ~2e-4) that no |dp| bound could catch
# anything. Scale 5 for the float types, which carry the fine checks (a RoPE
# base 10% off gives |dp| ~2e-2 there, 20x the tolerance); 2.5 for Q8_0/Q4_0
# (and the other 32-value block types: Q4_1, Q5_0, Q5_1, IQ4_NL),
# whose coarser roundings a sharper softmax would amplify past 1e-2 (measured:
# at 2.5 the worst case is ~5e-3; at 3, one Q4_0 prompt reaches 1.3e-2 against
# llama.cpp and 1.2e-2 between Ember's own scalar and AVX-512 paths).
#
# Bit-level agreement: Ember's x86 kernels sum where llama.cpp's CPU backend
# sums on the same machine (see core/cpu/cpu_kernels.h), so on the CPU backend, when
# Ember's kernels (AVX2 or AVX-512) and the build of ggml llama.cpp loads
# (bench/peer/peer.mjs variant: "haswell" for AVX2, "zen4", "icelake"... for
# AVX-512) are a matching pair, F32 and F16 models (and BF16 ones on AVX2,
# and on AVX-512 where both use AVX512_BF16's vdpbf16ps) must agree to 1e-6 (what is
# left is the final softmax: node-llama-cpp's in float, Ember's in double):
# any ulp of difference upstream would show as ~1e-4 here. But on AVX-512,
# F16 models, and Q4_1, Q5_0 and Q5_1 ones everywhere, must agree so only
# fed one token at a time (--batch 1 on both sides, for the first prompt):
# llama.cpp runs their single-row products through its vec_dot (no tile, no
# repacking), whose sums Ember's x86 dots repeat, and Ember's F16/Q8_0/Q8_1
# activations are its bits (measured: 1.5e-8 at most). A batched prompt
# takes Ember's prefill tiles for them, which sum in their own order
# (Q4_1..Q5_1: ~7x faster than llama.cpp's rows; F16 on AVX-512: the
# outer-product tile, gemm_fx, 5-14% faster a prompt than tinyBLAS's order
# allowed), so the whole runs keep the tolerances below.
# BF16 on other AVX-512 pairs, Q8_0, Q4_0 and IQ4_NL (llama.cpp repacks IQ4_NL weights
# into interleaved rows and sums them in another order: ~8e-4 measured) keep
# the tolerances below.
#
# Cost, and the limit mode's 16 steps. CI runs the Vulkan half on lavapipe
# (Mesa's CPU Vulkan device) with the validation layer on. There the V3D
# limit mode (EMBER_VK_LIMITS=v3d) makes a greedy step 4.5-8x dearer than the
# plain mode (F32, measured on a shared 2-core AVX-512 machine: 2 layers at
# dim 256 165 ms against 20 ms; 30 layers at dim 128 219 ms against 49 ms),
# most of it the output product over the 50257-token vocabulary (a 1-layer
# model takes 150 ms), which the mode sizes for a GPU: 2 rows and up to 128
# invocations a workgroup, summed in shared memory, ~25000 workgroups a step.
# At 64 steps x 4 prompts x 3 variants, conformance_vk_v3d_f32 took 300-600 s
# here (by load) and ran past its 900 s timeout on an AVX2-only machine. So
# the limit-mode ctest tests run --gen 16: every variant (deep30 with its 30
# layers), every prompt, against llama.cpp and against the CPU, for 16 steps
# instead of 64. What the mode changes is which kernels run and how they are
# sized (core/vulkan/vk_device.c apply_switches: 16 KiB shared memory, 256
# invocations, no fp16/int8 arithmetic, no 8/16-bit storage, no subgroup
# arithmetic; GPU sizing), and each such choice is made from shapes and
# limits, never from the step or the position:
#   - the prompts pick the prefill paths: 1 token the matrix-vector kernel and
#     split attention (as a decode step), 10 tokens the 64x16 matmul tile, 29
#     and 100 tokens the 64x32 tile (the largest under 16 KiB; one and four
#     column tiles, both ragged), flash attention blocks of 16 or 32 rows;
#   - step 1 comes from the prefill; steps 2-16 replay the recorded decode
#     command buffer with new positions: every layer's matrix-vector products
#     (32-128 invocations by row length; the deep30 shapes are where a Q8_0 row
#     of 16 quarter blocks leaves half of 32 idle), RMS norms and split
#     attention without subgroup arithmetic, over a cache of 2-116 rows. The
#     dropped steps 17-64 would replay the same dispatches at later positions
#     (one attention chunk up to the 256-token context either way).
# The 64-step continuations, where a drift through the KV cache would build
# up, still run in the plain Vulkan mode (conformance_vk_<type>) and on the
# CPU (conformance_<type>). The deep30 variants keep their 30 layers in the
# limit mode: depth is where its own summation orders (shared-memory sums
# instead of subgroup adds) would compound, and at 16 steps f32-deep30 costs
# ~55 s (Vulkan ~35 s, llama.cpp ~20 s) of conformance_vk_v3d_f32's 90-150 s
# here (by load).
#
#   tests/conformance.sh [--only TYPE[,TYPE..]] [--backend B] [--cpu-isa avx2] [--gen N] [--peer-only] [--keep]
#     --only       run the variants of these types (f32 f16 bf16 q8_0 q4_0, and
#                  quantize: F32 models through `ember quantize`; not in the
#                  default list: q4_1 q5_0 q5_1 iq4_nl q2_k q3_k q4_k q5_k
#                  q6_k, which Vulkan runs too)
#     --cpu-isa avx2  play an AVX2-only machine on an AVX-512 one: Ember's AVX2
#                  kernels (EMBER_CPU_DISABLE_AVX512=1) against llama.cpp's AVX2
#                  build (peer.mjs --cpu-variant haswell), with the bit-level
#                  check; exits 77 (skipped) where AVX2 is already the default
#     --backend    Ember's backend (cpu, the default, or vulkan). With vulkan each
#                  run is also compared with Ember's CPU backend on the same
#                  prompt (probcmp --ties, same tolerance): the same greedy tokens
#                  up to a near-tie, the same distributions. EMBER_VK_LIMITS=v3d
#                  in the environment runs it in the Raspberry Pi 5 limit mode.
#     --gen        greedy steps per prompt (default 64; the limit-mode ctest
#                  tests run 16, see "Cost" above)
#     --peer-only  check only the peer half: each distribution is finite and sums
#                  to 1, the recorded token is its argmax, and a run is bit-identical
#                  with 1 and 2 threads (what can be checked without Ember)
#     --keep       keep the models and probability files (printed at the end)
# Environment: EMBER_BIN (the ember binary; default build/ember), EMBER_BUILD (the
# build folder holding mkmodel and probcmp; default build), EMBER_SHARED (the
# folder holding vocab/; default ../shared or ../../shared beside the checkout),
# EMBER_THREADS (Ember's threads, default 2), PEER_THREADS (default 1).
#
# A missing peer is a failure, not a skip: run scripts/setup.sh.
# Models: weights N(0, 0.04) and --logit-scale 5: calm blocks (little
# amplification of rounding) but sharp next-token distributions (top
# probabilities ~0.05-0.5), without which a 50k-token softmax is so flat (top
# ~2e-4) that no |dp| bound could catch anything.
set -euo pipefail
cd "$(dirname "$0")/.."

only="f32,f16,bf16,q8_0,q4_0,quantize"
backend=cpu
cpu_isa=""
peer_only=0
keep=0
n_gen=64
while [ $# -gt 0 ]; do
  case "$1" in
    --only) [ $# -ge 2 ] || { echo "conformance: --only needs a value" >&2; exit 2; }; only="$2"; shift ;;
    --backend) [ $# -ge 2 ] || { echo "conformance: --backend needs a value" >&2; exit 2; }; backend="$2"; shift ;;
    --gen) [ $# -ge 2 ] || { echo "conformance: --gen needs a value" >&2; exit 2; }; n_gen="$2"; shift ;;
    --peer-only) peer_only=1 ;;
    --keep) keep=1 ;;
    --cpu-isa) [ $# -ge 2 ] || { echo "conformance: --cpu-isa needs a value" >&2; exit 2; }; cpu_isa="$2"; shift ;;
    *) echo "conformance: unknown option '$1' (known: --only, --backend, --cpu-isa, --gen, --peer-only, --keep)" >&2; exit 2 ;;
  esac
  shift
done

build="${EMBER_BUILD:-build}"
ember="${EMBER_BIN:-$build/ember}"
mkmodel="$build/mkmodel"
probcmp="$build/probcmp"
ember_threads="${EMBER_THREADS:-2}"
peer_threads="${PEER_THREADS:-1}"
ctx=256
# The longest prompt is 100 tokens: prompt and continuation fit the context.
case "$n_gen" in
  ''|*[!0-9]*) echo "conformance: --gen '$n_gen': expected a number of steps, 1 to 156" >&2; exit 2 ;;
esac
[ "$n_gen" -ge 1 ] && [ "$n_gen" -le 156 ] || { echo "conformance: --gen $n_gen: expected 1 to 156 steps" >&2; exit 2; }

fail() { echo "conformance: FAIL: $*" >&2; exit 1; }

# Wall-clock seconds of each half, summed over the run and printed per variant
# and at the end, so a log shows where a slow test spends its time.
t_now() { echo "${EPOCHREALTIME/,/.}"; }
t_add() { # var start: var += now - start
  printf -v "$1" '%s' "$(awk -v a="${!1}" -v s="$2" -v n="$(t_now)" 'BEGIN { printf "%.2f", a + n - s }')"
}
t_tot_ember=0 t_tot_cpu=0 t_tot_peer=0

for t in "$mkmodel" "$probcmp"; do
  [ -x "$t" ] || fail "$t is not built (cmake --build $build)"
done
if [ "$peer_only" = 0 ] && [ ! -x "$ember" ]; then
  fail "ember binary '$ember' is missing (build it, or set EMBER_BIN)"
fi
command -v node >/dev/null || fail "node is not installed: run scripts/setup.sh"
[ -d bench/peer/node_modules/node-llama-cpp ] || fail "the llama.cpp peer is not installed (bench/peer/node_modules): run scripts/setup.sh"

shared="${EMBER_SHARED:-}"
if [ -z "$shared" ]; then
  for d in ../shared ../../shared; do
    [ -f "$d/vocab/ggml-vocab-gpt-2.gguf" ] && { shared="$d"; break; }
  done
fi
vocab="$shared/vocab/ggml-vocab-gpt-2.gguf"
[ -n "$shared" ] && [ -f "$vocab" ] || fail "GPT-2 vocabulary not found in ../shared/vocab or ../../shared/vocab (set EMBER_SHARED)"

mkdir -p "$build/tmp"
work="$(mktemp -d "$build/tmp/conformance.XXXXXX")"
cleanup() { if [ "$keep" = 0 ]; then rm -rf "$work"; else echo "conformance: kept $work" >&2; fi; }
trap cleanup EXIT

# Prompts: token ids of the GPT-2 vocabulary (no BOS). A one-token prompt, an
# English sentence, a mixed punctuation/emoji line from llama.cpp's tokenizer test
# vectors, and a 100-token prompt that crosses the batch kernels' tile sizes.
prompts=(
  "15496"
  "464 2068 7586 21831 18045 625 262 16931 3290 13"
  "15496 11 331 6 439 0 1374 389 345 30325 223 5633 22755 239 46349 111 28839 101 18040 32432 98 43291 1485 1415 24309 25465 171 121 252"
  "$(seq 0 99 | awk '{ printf "%s%d", (NR > 1 ? " " : ""), ($1 * 7919 + 13) % 50000 + 200 }')"
)

# Variants: name type tied layers dim heads kv_heads ffn. Each type appears with
# grouped-query attention, and tied and untied output matrices are both covered;
# the deep30 variants stack 30 layers (std 0.04 as for a real-depth model), where
# rounding differences would compound if any step differed systematically.
variants=(
  "f32-gqa-untied f32 0 2 256 8 2 512"
  "f32-mha-tied   f32 1 3 192 6 6 384"
  "f32-deep30-tied f32 1 30 128 4 2 256"
  "f16-gqa-tied   f16 1 2 256 8 2 512"
  "bf16-gqa-untied bf16 0 2 256 8 2 512"
  "q8_0-gqa-untied q8_0 0 2 256 8 2 512"
  "q8_0-mqa-tied  q8_0 1 2 256 4 1 512"
  "q8_0-deep30-tied q8_0 1 30 128 4 2 256"
  "q4_0-gqa-tied  q4_0 1 2 256 8 2 512"
  "q4_0-gqa-untied q4_0 0 2 256 8 2 512"
  "q4_1-gqa-tied  q4_1 1 2 256 8 2 512"
  "q4_1-gqa-untied q4_1 0 2 256 8 2 512"
  "q5_0-gqa-tied  q5_0 1 2 256 8 2 512"
  "q5_0-gqa-untied q5_0 0 2 256 8 2 512"
  "q5_1-gqa-tied  q5_1 1 2 256 8 2 512"
  "q5_1-gqa-untied q5_1 0 2 256 8 2 512"
  "iq4_nl-gqa-tied iq4_nl 1 2 256 8 2 512"
  "iq4_nl-gqa-untied iq4_nl 0 2 256 8 2 512"
  # type "quantize": an F32 model through `ember quantize` to the mix named
  # last (its files are byte-identical to llama-quantize's for these mixes)
  "quantize-q4_0-tied quantize 1 2 192 6 2 384 Q4_0"
  "quantize-q8_0-untied quantize 0 2 256 8 2 512 Q8_0"
  # The K-quants: 256-value super-blocks, so dim and ffn are multiples of 256.
  "q2_k-gqa-tied  q2_k 1 2 256 8 2 512"
  "q2_k-gqa-untied q2_k 0 2 256 8 2 512"
  "q3_k-gqa-tied  q3_k 1 2 256 8 2 512"
  "q3_k-gqa-untied q3_k 0 2 256 8 2 512"
  "q4_k-gqa-tied  q4_k 1 2 256 8 2 512"
  "q4_k-gqa-untied q4_k 0 2 256 8 2 512"
  "q5_k-gqa-tied  q5_k 1 2 256 8 2 512"
  "q5_k-gqa-untied q5_k 0 2 256 8 2 512"
  "q6_k-gqa-tied  q6_k 1 2 256 8 2 512"
  "q6_k-gqa-untied q6_k 0 2 256 8 2 512"
)

tol_for() {
  case "$1" in
    f32) echo 1e-3 ;;
    # F16 on a GPU backend: 1.5e-3. Activations are rounded to fp16 before
    # every F16 product (as the CPU and llama.cpp do), so an input one fp32
    # ulp away (a GPU's exp, sin/cos, sum order) can land on the other side of
    # an fp16 rounding and move a product by 2^-11: measured on lavapipe, the
    # 100-token prompt reaches 1.03e-3 against llama.cpp and 1.14e-3 against
    # Ember's CPU (1.19e-3 with an F32 cache, so not attention), greedy tokens
    # identical throughout; llama.cpp against Ember's CPU reaches 8e-4.
    f16) if [ "$backend" = cpu ]; then echo 1e-3; else echo 1.5e-3; fi ;;
    *) echo 1e-2 ;;
  esac
}

logit_scale_for() {
  case "$1" in
    f32|f16|bf16) echo 5 ;;
    *) echo 2.5 ;;
  esac
}

# --cpu-isa avx2: both sides on their AVX2 code.
ember_env=()
peer_args=()
case "$cpu_isa" in
  "") ;;
  avx2)
    [ "$backend" = cpu ] || fail "--cpu-isa is for the CPU backend"
    ember_env=(EMBER_CPU_DISABLE_AVX512=1)
    peer_args=(--cpu-variant haswell) ;;
  *) echo "conformance: --cpu-isa: '$cpu_isa' (known: avx2)" >&2; exit 2 ;;
esac
if [ "$cpu_isa" = avx2 ] && [ "$(node bench/peer/peer.mjs variant)" = haswell ]; then
  echo "conformance: skipped: this machine's default is the AVX2 pair already (the plain test covers it)"
  exit 77
fi
peer_variant=""
if [ "$backend" = cpu ] && [ "$peer_only" = 0 ]; then
  peer_variant="$(node bench/peer/peer.mjs variant "${peer_args[@]}")" || fail "the peer could not load (see above)"
fi

# Whether Ember's kernels ($1: the isa `ember generate` names) and llama.cpp's
# CPU build sum alike for type $2 (see the header).
exact_pair() {
  case "$2" in f32|f16|bf16|q4_1|q5_0|q5_1) ;; *) return 1 ;; esac
  case "$1:$peer_variant" in
    avx2:haswell) return 0 ;;
    # BF16: vdpbf16ps on both sides (Ember's avx512-bf16 where the CPU has
    # AVX512_BF16, llama.cpp's builds that enable it); other AVX-512 builds
    # sum BF16 products in their own order
    avx512-bf16:zen4|avx512-bf16:cooperlake) return 0 ;;
    *:*) [ "$2" != bf16 ] || return 1 ;;
  esac
  case "$1:$peer_variant" in
    avx512:zen4|avx512:icelake|avx512:cascadelake|avx512:cooperlake|avx512:skylakex|avx512:cannonlake) return 0 ;;
    avx512-bf16:icelake|avx512-bf16:cascadelake|avx512-bf16:skylakex|avx512-bf16:cannonlake) return 0 ;;
    avx512*:sapphirerapids) [ "$2" = f32 ] ;; # its F16 dot runs in AVX512-FP16 arithmetic
    *) return 1 ;;
  esac
}
exact_tol=1e-6
# Types that agree to the bit only token by token (the header): $1 the isa, $2 the type.
exact_rows_only() {
  case "$2" in
    q4_1|q5_0|q5_1) return 0 ;;
    f16) case "$1" in avx512*) return 0 ;; esac ;;
  esac
  return 1
}

peer_probs() { # model tokens threads out [peer.mjs options]
  local m="$1" t="$2" th="$3" o="$4"
  shift 4
  node bench/peer/peer.mjs probs --model "$m" --tokens "$t" --n "$n_gen" --threads "$th" --ctx "$ctx" --out "$o" \
    "${peer_args[@]}" "$@"
}

failures=0
checks=0
for v in "${variants[@]}"; do
  read -r name type tied layers dim heads kvh ffn mix <<<"$v"
  case ",$only," in *",$type,"*) ;; *) continue ;; esac
  model="$work/$name.gguf"
  tied_flag=()
  [ "$tied" = 1 ] && tied_flag=(--tied)
  mk_type="$type"
  [ "$type" = quantize ] && mk_type=f32
  "$mkmodel" --vocab "$vocab" --type "$mk_type" --layers "$layers" --dim "$dim" --heads "$heads" \
    --kv-heads "$kvh" --ffn "$ffn" --ctx "$ctx" --std 0.04 --logit-scale "$(logit_scale_for "$type")" --seed 7 "${tied_flag[@]}" -o "$model" 2>/dev/null \
    || fail "mkmodel could not write $name"
  if [ "$type" = quantize ]; then
    "$ember" quantize -q "$model" "$work/$name.$mix.gguf" "$mix" || fail "ember quantize $mix could not write $name"
    model="$work/$name.$mix.gguf"
  fi
  tol="$(tol_for "$type")"
  t_ember=0 t_cpu=0 t_peer=0
  for i in "${!prompts[@]}"; do
    toks="${prompts[$i]}"
    peer="$work/$name.p$i.peer.bin"
    checks=$((checks + 1))
    if [ "$peer_only" = 1 ]; then
      peer_probs "$model" "$toks" "$peer_threads" "$peer" || fail "$name prompt $i: the peer failed (see above)"
      # The peer's file against itself: probcmp's own checks (finite, sums to 1,
      # each token the argmax). For one prompt also against a 2-thread run, which
      # must be bit-identical (one prompt only: with 2 threads on 2 busy cores
      # llama.cpp's spinning workers slow down several times).
      against="$peer"
      if [ "$i" = 1 ]; then
        against="$work/$name.p$i.peer2.bin"
        peer_probs "$model" "$toks" 2 "$against" || fail "$name prompt $i: the peer failed (2 threads)"
      fi
      if out="$("$probcmp" "$peer" "$against" --tol 0)"; then
        echo "ok   $name prompt $i (peer$([ "$i" = 1 ] && echo ", 1 vs 2 threads")): $(tail -n1 <<<"$out")"
      else
        echo "FAIL $name prompt $i (peer):"; echo "$out"; failures=$((failures + 1))
      fi
      continue
    fi
    mine="$work/$name.p$i.ember.bin"
    t0="$(t_now)"
    if ! env "${ember_env[@]}" "$ember" generate -m "$model" --prompt-tokens "$toks" -n "$n_gen" --temp 0 --threads "$ember_threads" \
        --ctx "$ctx" --ignore-eos --backend "$backend" --probs-out "$mine" >/dev/null 2>"$work/ember.err"; then
      echo "FAIL $name prompt $i: ember generate failed:"; cat "$work/ember.err"; failures=$((failures + 1)); continue
    fi
    t_add t_ember "$t0"
    if [ "$backend" != cpu ]; then
      cpu="$work/$name.p$i.cpu.bin"
      t0="$(t_now)"
      "$ember" generate -m "$model" --prompt-tokens "$toks" -n "$n_gen" --temp 0 --threads "$ember_threads" \
        --ctx "$ctx" --ignore-eos --backend cpu --probs-out "$cpu" >/dev/null 2>"$work/ember.err" \
        || { cat "$work/ember.err"; fail "$name prompt $i: ember on the CPU failed"; }
      t_add t_cpu "$t0"
      if out="$("$probcmp" "$mine" "$cpu" --tol "$tol" --ties)"; then
        echo "ok   $name prompt $i ($backend vs cpu): $(tail -n1 <<<"$out")"
      else
        echo "FAIL $name prompt $i (A = ember $backend, B = ember cpu):"; echo "$out"; failures=$((failures + 1))
      fi
    fi
    t0="$(t_now)"
    peer_probs "$model" "$toks" "$peer_threads" "$peer" --follow "$mine" \
      || fail "$name prompt $i: the peer failed (see above)"
    t_add t_peer "$t0"
    isa=""
    [ "$backend" = cpu ] && isa="$(sed -n 's/.*cpu: [0-9]* threads*, \([a-z0-9-]*\).*/\1/p' "$work/ember.err")"
    if [ "$cpu_isa" = avx2 ] && [ "$isa" != avx2 ]; then
      fail "EMBER_CPU_DISABLE_AVX512=1 did not give the AVX2 kernels (ember says '${isa:-nothing}')"
    fi
    vs="llama.cpp"
    [ -n "$peer_variant" ] && vs="llama.cpp $peer_variant"
    if exact_pair "$isa" "$type" && exact_rows_only "$isa" "$type" && [ "$i" = 0 ]; then
      mine1="$work/$name.p$i.ember1.bin" peer1="$work/$name.p$i.peer1.bin"
      checks=$((checks + 1))
      if ! env "${ember_env[@]}" "$ember" generate -m "$model" --prompt-tokens "$toks" -n "$n_gen" --temp 0 --threads "$ember_threads" \
          --ctx "$ctx" --ignore-eos --backend cpu --batch 1 --probs-out "$mine1" >/dev/null 2>"$work/ember.err"; then
        echo "FAIL $name prompt $i: ember generate --batch 1 failed:"; cat "$work/ember.err"; failures=$((failures + 1))
      else
        peer_probs "$model" "$toks" "$peer_threads" "$peer1" --batch 1 --follow "$mine1" \
          || fail "$name prompt $i: the peer failed with --batch 1 (see above)"
        if out="$("$probcmp" "$mine1" "$peer1" --tol "$exact_tol" --forced)"; then
          echo "ok   $name prompt $i ($isa vs $vs, one token at a time): $(tail -n1 <<<"$out")"
        else
          echo "FAIL $name prompt $i (A = ember $isa --batch 1, B = $vs --batch 1): a matching pair, but not within $exact_tol:"
          echo "$out"; failures=$((failures + 1))
        fi
      fi
    fi
    if out="$("$probcmp" "$mine" "$peer" --tol "$tol" --forced)"; then
      if exact_pair "$isa" "$type" && ! exact_rows_only "$isa" "$type" && ! out="$("$probcmp" "$mine" "$peer" --tol "$exact_tol" --forced)"; then
        echo "FAIL $name prompt $i (A = ember $isa, B = $vs): a matching pair, but not within $exact_tol:"; echo "$out"
        failures=$((failures + 1))
      else
        echo "ok   $name prompt $i ($backend${isa:+ $isa} vs $vs): $(tail -n1 <<<"$out")"
      fi
    else
      echo "FAIL $name prompt $i (A = ember $backend, B = llama.cpp on A's tokens):"; echo "$out"; failures=$((failures + 1))
    fi
  done
  if [ "$peer_only" = 0 ]; then
    echo "time $name: ember $backend ${t_ember} s$([ "$backend" != cpu ] && echo ", ember cpu ${t_cpu} s"), llama.cpp ${t_peer} s"
    t_tot_ember="$(awk -v a="$t_tot_ember" -v b="$t_ember" 'BEGIN { printf "%.2f", a + b }')"
    t_tot_cpu="$(awk -v a="$t_tot_cpu" -v b="$t_cpu" 'BEGIN { printf "%.2f", a + b }')"
    t_tot_peer="$(awk -v a="$t_tot_peer" -v b="$t_peer" 'BEGIN { printf "%.2f", a + b }')"
  fi
done
[ "$checks" -gt 0 ] || fail "no variant matched --only '$only'"
[ "$peer_only" = 1 ] || echo "time: ember $backend ${t_tot_ember} s$([ "$backend" != cpu ] && echo ", ember cpu ${t_tot_cpu} s"), llama.cpp ${t_tot_peer} s"
if [ "$failures" -gt 0 ]; then
  fail "$failures of $checks comparisons differ"
fi
echo "conformance: all $checks comparisons agree"
