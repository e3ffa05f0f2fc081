#!/usr/bin/env bash
# probcmp_test.sh - probcmp on hand-made probability files: agreement passes, and
# each kind of difference or bad input is caught with the right exit status
# (planted mismatches prove the checks fire).
set -euo pipefail
cd "$(dirname "$0")/.."
probcmp="$(realpath -m "${EMBER_BUILD:-build}/probcmp")"
[ -x "$probcmp" ] || { echo "probcmp_test: $probcmp is not built" >&2; exit 1; }
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT

# Little-endian bytes of a uint32/int32 and of a few float32 values.
u32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))\\x$(printf %02x $((($1 >> 16) & 255)))\\x$(printf %02x $((($1 >> 24) & 255)))"; }
f() { # float32 by name
  case "$1" in
    0.5) printf '\x00\x00\x00\x3f' ;;   0.25) printf '\x00\x00\x80\x3e' ;;
    0.125) printf '\x00\x00\x00\x3e' ;; 0) printf '\x00\x00\x00\x00' ;;
    0.375) printf '\x00\x00\xc0\x3e' ;; 0.2) printf '\xcd\xcc\x4c\x3e' ;;
    0.3) printf '\x9a\x99\x99\x3e' ;;   nan) printf '\x00\x00\xc0\x7f' ;;
    *) echo "probcmp_test: no float '$1'" >&2; exit 1 ;;
  esac
}
step() { u32 "$1"; shift; for p in "$@"; do f "$p"; done; } # token, then n_vocab probs

# n_vocab 4, two steps.
{ u32 4; step 0 0.5 0.25 0.125 0.125; step 1 0.25 0.5 0.125 0.125; } >"$dir/a.bin"
cp "$dir/a.bin" "$dir/same.bin"
{ u32 4; step 0 0.5 0.25 0.125 0.125; step 1 0.25 0.375 0.25 0.125; } >"$dir/close.bin"     # |dp| 0.125, same tokens
{ u32 4; step 0 0.5 0.25 0.125 0.125; step 2 0.25 0.25 0.5 0; } >"$dir/diverge.bin"          # step 1 token differs
{ u32 4; step 0 0.5 0.25 0.125 0.125; step 1 0.25 0.375 0.375 0; } >"$dir/tiea.bin"            # 1 and 2 tie at step 1
{ u32 4; step 0 0.5 0.25 0.125 0.125; step 2 0.25 0.375 0.375 0; } >"$dir/tieb.bin"
{ u32 4; step 0 0.5 0.25 0.125 0.125; step 0 0.25 0.5 0.125 0.125; } >"$dir/notgreedy.bin"   # token 0 is not the argmax
{ u32 4; step 0 0.5 0.25 0.125 0.125; step 1 0.3 0.3 0.2 0.3; } >"$dir/badsum.bin"           # sums to 1.1
{ u32 4; step 0 0.5 0.25 0.125 0.125; step 1 0.25 nan 0.125 0.125; } >"$dir/nan.bin"
{ u32 4; step 0 0.5 0.25 0.125 0.125; } >"$dir/short.bin"                                    # one step only
{ u32 5; step 0 0.5 0.25 0.125 0.125 0; } >"$dir/vocab5.bin"
head -c 30 "$dir/a.bin" >"$dir/trunc.bin"
{ u32 4; step 9 0.5 0.25 0.125 0.125; } >"$dir/badtok.bin"
u32 0 >"$dir/zero.bin"
printf 'ab' >"$dir/tiny.bin"

fails=0
expect() { # status args...
  local want="$1"; shift
  local got=0
  "$probcmp" "$@" >"$dir/out" 2>&1 || got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: probcmp $* exited $got, expected $want:"; cat "$dir/out"; fails=$((fails + 1))
  else
    echo "ok   probcmp $* -> $got"
  fi
}
cd "$dir"
expect 0 a.bin same.bin
expect 0 a.bin same.bin --tol 0
expect 1 a.bin close.bin                 # 0.125 > 1e-3
expect 0 a.bin close.bin --tol 0.2
expect 1 a.bin diverge.bin --tol 1
grep -q "identical up to step 1" out || { echo "FAIL: divergence step not reported"; cat out; fails=$((fails + 1)); }
expect 1 a.bin diverge.bin --ties          # parted with a wide margin
expect 1 tiea.bin tieb.bin
expect 0 tiea.bin tieb.bin --ties          # parted at an exact tie
expect 0 tiea.bin tieb.bin --forced        # same contexts, tokens differ at a tie
expect 1 a.bin diverge.bin --forced --tol 0.3   # preference 0.375 > tol
expect 1 a.bin close.bin --forced          # |dp| 0.125 > tol at a same-token step
expect 1 a.bin notgreedy.bin --tol 1
expect 1 a.bin badsum.bin --tol 1
expect 1 a.bin nan.bin --tol 1
expect 1 a.bin short.bin --tol 1          # step counts differ
expect 2 a.bin vocab5.bin
expect 2 a.bin trunc.bin
expect 2 a.bin badtok.bin
expect 2 zero.bin a.bin
expect 2 tiny.bin a.bin
expect 2 a.bin missing.bin
expect 2 a.bin
expect 2 a.bin same.bin --tol x
expect 2 a.bin same.bin --bogus
[ "$fails" = 0 ] || { echo "probcmp_test: $fails failures" >&2; exit 1; }
echo "probcmp_test: ok"
