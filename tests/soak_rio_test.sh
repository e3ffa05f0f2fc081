#!/usr/bin/env bash
# ctest robot_soak: a 25 s soak of the robot link (bench/soak_rio.sh): sim at
# 30 Hz rgb8 frames + 30 Hz state, a monitor, a plan every 10 s; VmRSS of sim
# and monitor after a 10 s warm-up must grow by no more than 10 % + 4 MiB.
# Over ipc:// in a private folder, so no TCP port can collide with another
# test running beside it. The monitor need only take a quarter of the
# published rate (a loaded 2-core CI machine), still thousands of messages.
# Under AddressSanitizer RSS says nothing about leaks (its quarantine grows
# by design): the test is skipped (exit 77).
set -euo pipefail
cd "$(dirname "$0")/.."
ember="${EMBER_BIN:-build/ember}"
if ldd "$ember" 2>/dev/null | grep -q 'libasan'; then
    echo "robot_soak: $ember is built with AddressSanitizer; RSS is not meaningful there: skipped"
    exit 77
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
EMBER_BIN="$ember" ENDPOINT="ipc://$tmp/soak" MIN_RATE_PCT=25 bench/soak_rio.sh 25
