#!/usr/bin/env bash
# bench_rio.sh - the robot link's figures on this machine, over tcp:// and
# ipc:// loopback, in one table:
#   latency     a step's send -> its "accepted" feedback (bench_rio latency),
#               beside a plain pyzmq DEALER/ROUTER echo of the same size
#               (bench/rio_pyzmq_rtt.py), with the ratio of medians and p99s;
#   throughput  steps done per second with 32 in flight, and messages per
#               second on the command channel (bench_rio throughput);
#   frames      640x480 rgb8 at 30 Hz rendered by the sim: delivered fps and
#               the consumer's lag, fast consumer and one that sleeps 100 ms
#               per frame (bench_rio frames).
#
#   bench/bench_rio.sh
# Environment: BENCH_RIO (default build/bench_rio), PYTHON (default
# /usr/bin/python3, which has python3-zmq), N (latency round trips, 2000),
# DURATION (seconds per throughput/frames run, 10), PORT (first TCP port of
# the block used, 5755; each run takes three), TRANSPORTS ("tcp ipc").
# Keep other work off the machine while measuring: both sides, libzmq's I/O
# threads and the renderer share its cores.
set -euo pipefail
cd "$(dirname "$0")/.."

bench="${BENCH_RIO:-build/bench_rio}"
python="${PYTHON:-/usr/bin/python3}"
n="${N:-2000}"
dur="${DURATION:-10}"
port="${PORT:-5755}"
transports="${TRANSPORTS:-tcp ipc}"
[ -x "$bench" ] || { echo "bench_rio.sh: '$bench' missing (cmake --build build --target bench_rio, or set BENCH_RIO)" >&2; exit 1; }
"$python" -c 'import zmq' 2>/dev/null || { echo "bench_rio.sh: $python has no zmq module (apt-get install python3-zmq)" >&2; exit 1; }
case "$n$dur$port" in *[!0-9.]*) echo "bench_rio.sh: N, DURATION, PORT must be numbers" >&2; exit 2 ;; esac

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
field() { sed -n "s/.*[ :]$1=\([^ ]*\).*/\1/p" | tail -n1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

next_ep() { # sets ep: a fresh endpoint per run (tcp ports PORT, PORT+3, ...; ipc paths in tmp)
    if [ "$1" = tcp ]; then ep="tcp://127.0.0.1:$port"; else ep="ipc://$tmp/rio-$port"; fi
    port=$((port + 3))
}

run() { # run NAME CMD...: show the human lines, keep the machine line
    local name="$1"; shift
    if ! "$@" > "$tmp/$name.out" 2> "$tmp/$name.err"; then
        cat "$tmp/$name.out" "$tmp/$name.err" >&2
        echo "bench_rio.sh: $name failed" >&2
        exit 1
    fi
    grep -v '^bench_rio: \|^rio_pyzmq: ' "$tmp/$name.out" || true
}

echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for tr in $transports; do
    next_ep "$tr"; run "lat_$tr" "$bench" latency --n "$n" --endpoint "$ep"
    next_ep "$tr"; run "py_$tr" "$python" bench/rio_pyzmq_rtt.py --n "$n" --endpoint "$ep" \
        --bytes "$(field step_bytes < "$tmp/lat_$tr.out")"
    next_ep "$tr"; run "tp_$tr" "$bench" throughput --seconds "$dur" --endpoint "$ep"
    next_ep "$tr"; run "fr_$tr" "$bench" frames --seconds "$dur" --fps 30 --size 640x480 --endpoint "$ep"
    next_ep "$tr"; run "frs_$tr" "$bench" frames --seconds "$dur" --fps 30 --size 640x480 --slow-ms 100 --endpoint "$ep"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the table ----------------------------------------------------------------
printf '\n%-44s' "figure"
for tr in $transports; do printf '%22s' "$tr"; done
printf '\n'
row() { # row LABEL FORMAT-FN
    printf '%-44s' "$1"
    for tr in $transports; do printf '%22s' "$("$2" "$tr")"; done
    printf '\n'
}
g() { field "$2" < "$tmp/$1.out"; }
lat_ours() { echo "$(g "lat_$1" acc_p50_us) / $(g "lat_$1" acc_p99_us)"; }
lat_done() { echo "$(g "lat_$1" done_p50_us) / $(g "lat_$1" done_p99_us)"; }
lat_py() { echo "$(g "py_$1" p50_us) / $(g "py_$1" p99_us)"; }
lat_ratio() { echo "$(ratio "$(g "lat_$1" acc_p50_us)" "$(g "py_$1" p50_us)") / $(ratio "$(g "lat_$1" acc_p99_us)" "$(g "py_$1" p99_us)")"; }
tp_steps() { echo "$(g "tp_$1" steps_per_s)"; }
tp_trend() { echo "$(g "tp_$1" steps_per_s_first) -> $(g "tp_$1" steps_per_s_last)"; }
tp_msgs() { echo "$(g "tp_$1" msgs_per_s)"; }
fr_fps() { echo "$(g "fr_$1" delivered_fps) ($(g "fr_$1" delivered)/$(g "fr_$1" published))"; }
fr_lag() { echo "$(g "fr_$1" lag_p50_ms) / $(g "fr_$1" lag_p99_ms)"; }
frs_fps() { echo "$(g "frs_$1" delivered_fps) ($(g "frs_$1" delivered)/$(g "frs_$1" published))"; }
frs_lag() { echo "$(g "frs_$1" lag_p50_ms) / $(g "frs_$1" lag_p99_ms)"; }
frs_trend() { echo "$(g "frs_$1" lag_first_p50_ms) -> $(g "frs_$1" lag_last_p50_ms)"; }
row "latency step->accepted p50 / p99 (us)" lat_ours
row "latency step->done p50 / p99 (us)" lat_done
row "pyzmq echo p50 / p99 (us)" lat_py
row "ratio ours/pyzmq p50 / p99" lat_ratio
row "throughput steps/s (whole run)" tp_steps
row "throughput steps/s first s -> last s" tp_trend
row "throughput messages/s (command channel)" tp_msgs
row "frames 30 Hz fps (delivered/published)" fr_fps
row "frames lag p50 / p99 (ms)" fr_lag
row "frames, consumer +100 ms: fps" frs_fps
row "frames, consumer +100 ms: lag p50 / p99" frs_lag
row "frames, consumer +100 ms: lag 1st -> 3rd third" frs_trend

line="bench_rio.sh:"
for tr in $transports; do
    line="$line ${tr}_lat_p50_us=$(g "lat_$tr" acc_p50_us) ${tr}_lat_p99_us=$(g "lat_$tr" acc_p99_us)"
    line="$line ${tr}_pyzmq_p50_us=$(g "py_$tr" p50_us) ${tr}_pyzmq_p99_us=$(g "py_$tr" p99_us)"
    line="$line ${tr}_steps_per_s=$(g "tp_$tr" steps_per_s) ${tr}_msgs_per_s=$(g "tp_$tr" msgs_per_s)"
    line="$line ${tr}_fps=$(g "fr_$tr" delivered_fps) ${tr}_lag_p50_ms=$(g "fr_$tr" lag_p50_ms) ${tr}_lag_p99_ms=$(g "fr_$tr" lag_p99_ms)"
    line="$line ${tr}_slow_fps=$(g "frs_$tr" delivered_fps) ${tr}_slow_lag_p50_ms=$(g "frs_$tr" lag_p50_ms) ${tr}_slow_lag_p99_ms=$(g "frs_$tr" lag_p99_ms)"
done
echo
echo "$line"
