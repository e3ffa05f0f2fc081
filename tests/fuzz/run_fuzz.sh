#!/bin/sh
# run_fuzz.sh BINARY SEED_CORPUS WORK_DIR SECONDS [extra libFuzzer flags]
# Fuzz on a fresh copy of the seed corpus in WORK_DIR, so the source tree is
# never written; crash inputs (libFuzzer) land in WORK_DIR too. The schema's
# keys come as a dictionary (the fallback driver ignores -dict).
set -e
bin=$1 seeds=$2 work=$3 secs=$4
shift 4
rm -rf "$work"
mkdir -p "$work/corpus"
cp "$seeds"/* "$work/corpus/"
dict=$(dirname "$seeds")/rio_msg.dict
exec "$bin" -dict="$dict" -max_total_time="$secs" -max_len=4096 -timeout=5 -rss_limit_mb=1024 \
    -artifact_prefix="$work/" -print_final_stats=1 "$@" "$work/corpus"
