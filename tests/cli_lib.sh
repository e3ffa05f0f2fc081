# cli_lib.sh - what the command-line tests share (sourced, from the source
# root): paths, a scratch folder, the pass/fail counters, expect(), and a
# small Q8_0 test model at $tmp/m.gguf.
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
