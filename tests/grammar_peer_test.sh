#!/usr/bin/env bash
# grammar_peer_test.sh - llama.cpp's verdicts on texts under its own example grammars,
# recorded in tests/data/grammar/NAME.expected, held against llama.cpp itself and against a
# checker (Ember's grammar engine, tools/gbnf_check).
#
#   tests/grammar_peer_test.sh [--update] [--peer-only] [CHECKER [ARGS...]]
#
# For each NAME in json json_arr arithmetic list chess c english japanese, with the grammar
# bench/peer/node_modules/node-llama-cpp/llama/grammars/NAME.gbnf (llama.cpp's examples, as
# node-llama-cpp ships them) and the texts tests/data/grammar/NAME.txt:
#  (a) bench/peer/grammar_check.mjs asks llama.cpp for its verdicts again and they must equal
#      NAME.expected (a different llama.cpp that judges differently shows here first);
#      --update rewrites the .expected files instead (their header names the versions);
#  (b) with CHECKER: `CHECKER [ARGS...] NAME.gbnf < NAME.txt` must print one line per text
#      whose first tab-separated field is "accept" or "1" (accepted: the grammar can produce
#      the whole text and end after it) or "reject" or "0", and agree with NAME.expected on
#      every line. --peer-only skips (b).
#
# Texts file form (NAME.txt): one text per line, UTF-8, with the escapes \n \t \r \\ and \xHH
# (any byte; \x20 keeps a trailing space visible); a backslash before anything else is itself.
# An empty line is the empty text. A checker decodes these itself (tools/gbnf_check does).
# .expected form: a header line starting with "#", then "accept" or "reject" per text.
#
# Environment: EMBER_SHARED (the folder holding vocab/; default ../shared or ../../shared
# beside the checkout): grammar_check.mjs needs ggml-vocab-gpt-2.gguf for its byte-token
# cross-check. A missing peer is a failure, not a skip: run scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

update=0
peer_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --update) update=1 ;;
    --peer-only) peer_only=1 ;;
    --) shift; break ;;
    -*) echo "grammar_peer_test: unknown option '$1' (known: --update, --peer-only)" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
checker=("$@")

fail() { echo "grammar_peer_test: FAIL: $*" >&2; exit 1; }

names="json json_arr arithmetic list chess c english japanese"
data=tests/data/grammar
nlc=bench/peer/node_modules/node-llama-cpp
grammars="$nlc/llama/grammars"

command -v node >/dev/null || fail "node is not installed: run scripts/setup.sh"
[ -d "$nlc" ] || fail "the llama.cpp peer is not installed (bench/peer/node_modules): run scripts/setup.sh"

shared="${EMBER_SHARED:-}"
if [ -z "$shared" ]; then
  for d in ../shared ../../shared; do
    [ -f "$d/vocab/ggml-vocab-gpt-2.gguf" ] && { shared="$d"; break; }
  done
fi
vocab="$shared/vocab/ggml-vocab-gpt-2.gguf"
[ -f "$vocab" ] || fail "no ggml-vocab-gpt-2.gguf under '$shared/vocab' (set EMBER_SHARED)"

# The versions the verdicts come from, for the .expected header.
nlc_version="$(node -e 'console.log(require(process.argv[1]).version)' "$PWD/$nlc/package.json")"
lcpp_tag="$(node -e 'const j=require(process.argv[1]); console.log(j.tag + " (" + j.llamaCppGithubRepo + ")")' \
  "$PWD/$nlc/llama/llama.cpp.info.json")"
header="# llama.cpp verdicts (bench/peer/grammar_check.mjs): node-llama-cpp $nlc_version, llama.cpp $lcpp_tag"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

checks=0
for n in $names; do
  g="$grammars/$n.gbnf" t="$data/$n.txt" e="$data/$n.expected"
  [ -f "$g" ] || fail "$g is missing"
  [ -f "$t" ] || fail "$t is missing"
  # (a) llama.cpp now
  node bench/peer/grammar_check.mjs "$vocab" "$g" "$t" >"$work/$n.peer" 2>"$work/$n.err" \
    || { cat "$work/$n.err" >&2; fail "$n: grammar_check.mjs failed"; }
  if [ "$update" = 1 ]; then
    { echo "$header"; cat "$work/$n.peer"; } >"$e"
    echo "grammar_peer_test: $n: wrote $e ($(grep -c '^accept' "$e") accept, $(grep -c '^reject' "$e") reject)"
    continue
  fi
  [ -f "$e" ] || fail "$e is missing (--update writes it)"
  head -n1 "$e" | grep -q '^#' || fail "$e: no header line"
  [ "$(head -n1 "$e")" = "$header" ] \
    || echo "grammar_peer_test: note: $e was recorded with another peer: $(head -n1 "$e" | cut -c3-)" >&2
  tail -n +2 "$e" >"$work/$n.exp"
  [ "$(wc -l <"$work/$n.exp")" = "$(wc -l <"$t")" ] || fail "$e: $(wc -l <"$work/$n.exp") verdicts for $(wc -l <"$t") texts"
  if ! cmp -s "$work/$n.peer" "$work/$n.exp"; then
    paste "$work/$n.exp" "$work/$n.peer" "$t" | awk -F'\t' -v n="$n" \
      '$1 != $2 { printf "  %s line %d: expected %s, llama.cpp now says %s: %s\n", n, NR, $1, $2, $3 }' >&2
    fail "$n: llama.cpp's verdicts differ from $e"
  fi
  checks=$((checks + $(wc -l <"$t")))
  # (b) the checker
  if [ "$peer_only" = 0 ] && [ ${#checker[@]} -gt 0 ]; then
    "${checker[@]}" "$g" <"$t" >"$work/$n.chk" 2>"$work/$n.chkerr" \
      || { cat "$work/$n.chkerr" >&2; fail "$n: '${checker[*]} $g' failed"; }
    awk -F'\t' '{ v = $1; if (v == "1") v = "accept"; else if (v == "0") v = "reject"; print v }' \
      "$work/$n.chk" >"$work/$n.chkv"
    [ "$(wc -l <"$work/$n.chkv")" = "$(wc -l <"$t")" ] \
      || fail "$n: the checker printed $(wc -l <"$work/$n.chkv") lines for $(wc -l <"$t") texts"
    if ! cmp -s "$work/$n.chkv" "$work/$n.exp"; then
      paste "$work/$n.exp" "$work/$n.chkv" "$t" | awk -F'\t' -v n="$n" \
        '$1 != $2 { printf "  %s line %d: llama.cpp %s, checker %s: %s\n", n, NR, $1, $2, $3 }' >&2
      fail "$n: the checker disagrees with llama.cpp"
    fi
    checks=$((checks + $(wc -l <"$t")))
  fi
done
[ "$update" = 1 ] && exit 0
if [ ${#checker[@]} -gt 0 ] && [ "$peer_only" = 0 ]; then
  echo "grammar_peer_test: ok: $checks verdicts (llama.cpp again, and '${checker[*]}') agree with tests/data/grammar/*.expected"
else
  echo "grammar_peer_test: ok: $checks verdicts of llama.cpp agree with tests/data/grammar/*.expected (no checker given)"
fi
