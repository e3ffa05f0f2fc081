#!/usr/bin/env bash
# plan_grammar_peer.sh - the plan grammars against llama.cpp's GBNF engine:
# test_plan_text writes each registry's grammar and its plans and mutants
# with Ember's parser's verdicts (EMBER_PLAN_DUMP), then plan_grammar_peer
# asks llama.cpp (bench/peer's libllama) for its verdicts; any difference
# fails. Exit 77 (skipped) without the peer.
set -euo pipefail
: "${EMBER_BUILD:?EMBER_BUILD must name the build directory}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
EMBER_PLAN_DUMP="$dir" "$EMBER_BUILD/tests/test_plan_text" > /dev/null
"$EMBER_BUILD/tests/plan_grammar_peer" "$dir"
