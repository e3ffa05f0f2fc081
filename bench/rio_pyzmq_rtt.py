#!/usr/bin/python3
"""rio_pyzmq_rtt.py - the floor under bench_rio's latency: a plain pyzmq round
trip on the same machine, with the robot link's socket pattern and payload
size but none of its work (no schema, no acks, no outbox, no step table).

A DEALER (the "agent", main thread) sends one JSON message of about the size
of a step envelope; a ROUTER (the "controller", a second thread, its own
socket) echoes it back at once; the next message goes when the echo arrived.
Median, p90, p99 and max of send -> echo in microseconds.

    /usr/bin/python3 bench/rio_pyzmq_rtt.py [--n 2000] [--warmup 200]
        [--endpoint tcp://127.0.0.1:5795] [--bytes 174]

--bytes: envelope size; bench_rio prints its own as step_bytes= (bench_rio.sh
passes it). The last line is `rio_pyzmq: key=value ...` for scripts.
"""
import argparse
import json
import math
import sys
import threading
import time

import zmq


def payload(i, size):
    """A step-shaped JSON envelope padded to `size` bytes."""
    m = {"type": "step", "seq": i, "from": "bench-agent", "plan": "lat",
         "step": {"id": "s%d" % i, "index": i, "skill": "noop"}, "pad": ""}
    base = len(json.dumps(m, separators=(",", ":")).encode())
    m["pad"] = "x" * max(0, size - base)
    return json.dumps(m, separators=(",", ":")).encode()


def echo(ctx, endpoint, ready, stop):
    s = ctx.socket(zmq.ROUTER)
    s.setsockopt(zmq.LINGER, 0)
    s.bind(endpoint)
    ready.set()
    poller = zmq.Poller()
    poller.register(s, zmq.POLLIN)
    while not stop.is_set():
        if not poller.poll(50):
            continue
        while True:
            try:
                route, body = s.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            s.send_multipart([route, body])
    s.close()


def pct(v, q):
    """Nearest-rank percentile of a sorted list, as bench_rio computes it."""
    k = max(0, min(len(v) - 1, math.ceil(q * len(v)) - 1))
    return v[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--endpoint", default="tcp://127.0.0.1:5795")
    ap.add_argument("--bytes", type=int, default=174)
    a = ap.parse_args()
    if a.n < 1 or a.warmup < 0 or a.bytes < 1:
        ap.error("--n, --bytes must be positive, --warmup not negative")

    ctx = zmq.Context()
    ready, stop = threading.Event(), threading.Event()
    t = threading.Thread(target=echo, args=(ctx, a.endpoint, ready, stop), daemon=True)
    t.start()
    ready.wait(5)
    d = ctx.socket(zmq.DEALER)
    d.setsockopt(zmq.LINGER, 0)
    d.connect(a.endpoint)
    poller = zmq.Poller()
    poller.register(d, zmq.POLLIN)
    msgs = [payload(i, a.bytes) for i in range(a.warmup + a.n)]
    rtt = []
    for i, m in enumerate(msgs):
        t0 = time.perf_counter()
        d.send(m)
        if not poller.poll(10000):
            print("rio_pyzmq: no echo within 10 s", file=sys.stderr)
            return 1
        back = d.recv()
        dt = (time.perf_counter() - t0) * 1e6
        if back != m:
            print("rio_pyzmq: the echo differs from what was sent", file=sys.stderr)
            return 1
        if i >= a.warmup:
            rtt.append(dt)
    stop.set()
    t.join()
    d.close()
    ctx.term()
    rtt.sort()
    med = pct(rtt, .5)
    tr = "ipc" if a.endpoint.startswith("ipc://") else "tcp"
    print("pyzmq %s %s: DEALER->ROUTER echo, %d bytes: median %.1f us  p90 %.1f  p99 %.1f  max %.1f  (n=%d)"
          % (tr, a.endpoint, len(msgs[-1]), med, pct(rtt, .9), pct(rtt, .99), rtt[-1], len(rtt)))
    print("rio_pyzmq: transport=%s n=%d bytes=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f pyzmq=%s libzmq=%s"
          % (tr, len(rtt), len(msgs[-1]), med, pct(rtt, .9), pct(rtt, .99), rtt[-1], zmq.pyzmq_version(),
             zmq.zmq_version()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
