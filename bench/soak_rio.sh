#!/usr/bin/env bash
# soak_rio.sh - resident memory of the robot link under a camera-rate load,
# which must stay bounded:
#   `ember sim` publishes 640x480 rgb8 frames at 30 Hz and state at 30 Hz;
#   `ember monitor` takes all of it (one JSON line per message, to /dev/null);
#   every ~10 s `ember act` runs a fresh two-step plan (home, open_gripper:
#   skills that always succeed) on the sim, so the command path turns too.
# VmRSS of sim and monitor is read from /proc/PID/status every SAMPLE_S
# seconds. Printed per process: first, median, last and max RSS, and the
# growth = last - first sample at steady state (after WARMUP_S: sockets,
# libzmq's buffers and malloc's arenas have taken their size by then).
#
#   bench/soak_rio.sh [SECONDS]          (default 600)
# Environment: EMBER_BIN (default build/ember), PORT (TCP command port;
# state and frames use the next two; default 5855) or ENDPOINT (any command
# endpoint, e.g. ipc:///tmp/soak; overrides PORT), SAMPLE_S (5), WARMUP_S
# (10), ACT_EVERY_S (10), GROWTH_PCT (10) and GROWTH_MIB (4): the bound;
# MIN_RATE_PCT (50): the share of the 60 messages/s published that the
# monitor must receive.
#
# Exit 0 when, for both processes, growth <= GROWTH_PCT % of the first
# steady sample + GROWTH_MIB MiB, both ran to the end, the monitor received
# at least MIN_RATE_PCT % of the messages published, and every act succeeded.
# Exit 1 otherwise, 2 on bad usage. A short run is ctest `robot_soak`.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-600}"
ember="${EMBER_BIN:-build/ember}"
port="${PORT:-5855}"
sample_s="${SAMPLE_S:-5}"
warmup_s="${WARMUP_S:-10}"
act_every="${ACT_EVERY_S:-10}"
growth_pct="${GROWTH_PCT:-10}"
growth_mib="${GROWTH_MIB:-4}"
min_rate_pct="${MIN_RATE_PCT:-50}"
case "$secs$port$sample_s$warmup_s$act_every$growth_pct$growth_mib$min_rate_pct" in
    *[!0-9]*) echo "soak_rio.sh: SECONDS and the settings must be whole numbers" >&2; exit 2 ;;
esac
[ "$secs" -gt "$warmup_s" ] || { echo "soak_rio.sh: SECONDS ($secs) must exceed WARMUP_S ($warmup_s)" >&2; exit 2; }
[ -x "$ember" ] || { echo "soak_rio.sh: ember binary '$ember' missing (cmake --build build, or set EMBER_BIN)" >&2; exit 1; }

ep="${ENDPOINT:-tcp://127.0.0.1:$port}"
tmp="$(mktemp -d)"
sim_pid=""
mon_pid=""
act_pid=""
cleanup() {
    for p in $act_pid $mon_pid $sim_pid; do kill "$p" 2>/dev/null || true; done
    for p in $act_pid $mon_pid $sim_pid; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true; }

"$ember" sim --bind "$ep" --fps 30 --state-hz 30 --encoding rgb8 --frame-size 640x480 --fresh \
    --journal "$tmp/sim.journal" --quiet 2> "$tmp/sim.err" &
sim_pid=$!
"$ember" monitor --connect "$ep" --wait 20 > /dev/null 2> "$tmp/monitor.err" &
mon_pid=$!

acts=0
act_fail=0
act_run() { # a fresh plan id each time: a step id seen before would not run again
    local k="$1"
    printf '{"plan": "soak-%d", "steps": [{"id": "h%d", "skill": "home", "args": {}}, {"id": "o%d", "skill": "open_gripper", "args": {}}]}\n' \
        "$k" "$k" "$k" > "$tmp/plan.json"
    "$ember" act --connect "$ep" --quiet --wait 20 --timeout 60 "$tmp/plan.json" > "$tmp/act-$k.out" 2>&1 &
    act_pid=$!
}
act_reap() {
    [ -n "$act_pid" ] || return 0
    if ! wait "$act_pid"; then
        act_fail=$((act_fail + 1))
        echo "soak_rio.sh: act run $acts failed:" >&2
        cat "$tmp/act-$acts.out" >&2
    fi
    act_pid=""
}

echo "# soak: ${secs} s, sim rgb8 640x480 @ 30 Hz + state @ 30 Hz on $ep, monitor, act every ${act_every} s; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%6s %12s %12s\n' "t(s)" "sim_kib" "monitor_kib"
start=$(date +%s)
next_act=$((start + 2))
: > "$tmp/samples"
t=0
while :; do
    now=$(date +%s)
    t=$((now - start))
    for p in $sim_pid $mon_pid; do
        if ! kill -0 "$p" 2>/dev/null; then
            echo "soak_rio.sh: a process died at t=$t s (pid $p)" >&2
            cat "$tmp/sim.err" "$tmp/monitor.err" >&2
            exit 1
        fi
    done
    s=$(rss_kib "$sim_pid")
    m=$(rss_kib "$mon_pid")
    printf '%6d %12s %12s\n' "$t" "$s" "$m"
    echo "$t $s $m" >> "$tmp/samples"
    [ "$t" -ge "$secs" ] && break
    if [ "$now" -ge "$next_act" ]; then
        act_reap
        acts=$((acts + 1))
        act_run "$acts"
        next_act=$((now + act_every))
    fi
    sleep_for=$((start + t + sample_s - $(date +%s)))
    [ "$((t + sleep_for))" -gt "$secs" ] && sleep_for=$((secs - t))
    [ "$sleep_for" -gt 0 ] && sleep "$sleep_for"
done
act_reap

# Stop both and keep their last words (stats lines).
kill -TERM "$mon_pid" "$sim_pid" 2>/dev/null || true
wait "$mon_pid" 2>/dev/null || true
wait "$sim_pid" 2>/dev/null || true
mon_pid=""
sim_pid=""
echo "# $(tail -n1 "$tmp/monitor.err")"
echo "# $(tail -n1 "$tmp/sim.err")"

fail=0
report() { # report NAME COLUMN
    local med
    med=$(awk -v col="$2" '{ print $col }' "$tmp/samples" | sort -n |
          awk '{ a[NR] = $1 } END { print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
    awk -v name="$1" -v col="$2" -v med="$med" -v warm="$warmup_s" -v pct="$growth_pct" -v mib="$growth_mib" '
        { v[NR] = $col; t[NR] = $1; if (v[NR] > max) max = v[NR]; if (first_ss == "" && $1 >= warm) first_ss = v[NR] }
        END {
            growth = v[NR] - first_ss
            bound = first_ss * pct / 100 + mib * 1024
            printf "%-8s RSS MiB: first %.1f  median %.1f  last %.1f  max %.1f;  steady-state growth (t>=%ds) %+.2f MiB, bound %.2f MiB: %s\n",
                name, v[1] / 1024, med / 1024, v[NR] / 1024, max / 1024, warm, growth / 1024, bound / 1024,
                growth <= bound ? "ok" : "GREW"
            printf "%s_first_kib=%d %s_median_kib=%d %s_last_kib=%d %s_max_kib=%d %s_steady_first_kib=%d %s_growth_kib=%d %s_bound_kib=%d\n",
                name, v[1], name, med, name, v[NR], name, max, name, first_ss, name, growth, name, bound > "/dev/stderr"
            exit growth <= bound ? 0 : 1
        }' "$tmp/samples" 2>> "$tmp/machine" || fail=1
}
report sim 2
report monitor 3

# The monitor must actually have taken the load: at least MIN_RATE_PCT % of
# what was published (frames + state at 30 Hz each) over the run.
msgs=$(sed -n 's/^ember monitor: \([0-9]*\) messages.*/\1/p' "$tmp/monitor.err" | tail -n1)
want=$((secs * 60 * min_rate_pct / 100))
echo "monitor: ${msgs:-0} messages received (at least $want expected); act: $acts runs, $act_fail failed"
[ "${msgs:-0}" -ge "$want" ] || { echo "soak_rio.sh: the monitor received too little" >&2; fail=1; }
[ "$acts" -ge 1 ] && [ "$act_fail" -eq 0 ] || { echo "soak_rio.sh: act runs failed or none ran" >&2; fail=1; }

echo "soak_rio: seconds=$secs acts=$acts act_failed=$act_fail monitor_msgs=${msgs:-0} $(tr '\n' ' ' < "$tmp/machine")result=$([ "$fail" = 0 ] && echo ok || echo fail)"
exit "$fail"
