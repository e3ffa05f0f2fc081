#!/usr/bin/env bash
# grammar_check_test.sh - Ember's GBNF engine (lm/grammar.h, through
# tools/gbnf_check) against two judges:
#   plans     the plan parser's verdicts (agent/plan_text.h) on every text
#             test_plan_text generates (grammars of several skill registries,
#             random plans and their mutations): the engine must accept
#             exactly the plans the parser accepts;
#   examples  llama.cpp itself (bench/peer's libllama, through
#             plan_grammar_peer) on llama.cpp's example grammars (json,
#             json_arr, arithmetic, list, chess, c, english, japanese, as
#             node-llama-cpp ships them) and the texts in tests/data/grammar:
#             the same accept/reject verdict on every text. Exit 77 (skipped)
#             without the peer.
#   grammar_check_test.sh plans|examples
set -euo pipefail
: "${EMBER_BUILD:?EMBER_BUILD must name the build directory}"
mode=${1:?plans or examples}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0
case "$mode" in
  plans)
    EMBER_PLAN_DUMP="$dir" "$EMBER_BUILD/tests/test_plan_text" > /dev/null
    for g in "$dir"/*.gbnf; do
      base=${g%.gbnf}
      cut -f2- "$base.cases" | "$EMBER_BUILD/gbnf_check" "$g" > "$base.ours"
      n=$(wc -l < "$base.cases")
      bad=$(paste <(cut -c1 "$base.cases") <(cut -c1 "$base.ours") | awk '$1 != $2' | wc -l)
      echo "$(basename "$base"): $n texts, $bad verdicts differ from the plan parser's"
      [ "$bad" = 0 ] || { fail=1; paste <(cut -c1 "$base.ours") "$base.cases" | awk -F'\t' '$1 != $2' | head -3; }
    done ;;
  examples)
    grammars=bench/peer/node_modules/node-llama-cpp/llama/grammars
    [ -d "$grammars" ] || { echo "skipped: no $grammars (run scripts/setup.sh)"; exit 77; }
    for t in tests/data/grammar/*.txt; do
      name=$(basename "$t" .txt)
      cp "$grammars/$name.gbnf" "$dir/$name.gbnf"
      "$EMBER_BUILD/gbnf_check" "$dir/$name.gbnf" < "$t" > "$dir/$name.cases"
    done
    "$EMBER_BUILD/tests/plan_grammar_peer" "$dir" || fail=1 ;;
  *) echo "grammar_check_test.sh: plans or examples, not '$mode'" >&2; exit 2 ;;
esac
exit $fail
