#!/usr/bin/env python3
"""A robot controller in Python, written from robot_io/SCHEMA.md and
TRANSPORT.md alone (Debian's python3-zmq, no Ember code): it offers two
skills, takes a plan from `ember act`, and reports each step's fate.

    /usr/bin/python3 robot_io/examples/controller.py --bind tcp://127.0.0.1:5600
    ember act --connect tcp://127.0.0.1:5600 robot_io/examples/wave_plan.json

What a controller must do, per the schema: answer hello with its skills;
ack every reliable message (plan, step, cancel, estop, reset) by the
sender's session and seq; run each step at most once by (plan, step) id, in
index order; send feedback (accepted, running, done | failed) reliably,
resending until the agent acks it; heartbeat; publish a heartbeat on the two
PUB sockets so subscribers know they are connected.
"""
import argparse
import json
import os
import sys
import time

import zmq

SCHEMA = "1.0"
SKILLS = [
    {"name": "wave", "doc": "wave the arm N times",
     "args": [{"name": "times", "type": "integer", "min": 1, "max": 5}]},
    {"name": "say", "doc": "say a short text",
     "args": [{"name": "text", "type": "string"},
              {"name": "loud", "type": "bool", "optional": True}]},
]


def derived(ep, k, suffix):
    if ep.startswith("ipc://"):
        return ep + "." + suffix
    host, port = ep.rsplit(":", 1)
    return "%s:%d" % (host, int(port) + k)


class Controller:
    def __init__(self, ep, name):
        self.ctx = zmq.Context()
        self.cmd = self.ctx.socket(zmq.ROUTER)
        self.cmd.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.cmd.setsockopt(zmq.LINGER, 200)
        self.cmd.bind(ep)
        self.pubs = []
        for k, suffix in ((1, "state"), (2, "frames")):
            s = self.ctx.socket(zmq.PUB)
            s.setsockopt(zmq.LINGER, 200)
            s.bind(derived(ep, k, suffix))
            self.pubs.append(s)
        self.name, self.session, self.seq = name, os.urandom(8).hex(), 0
        self.agent = None          # routing id of the commanding agent
        self.steps = {}            # (plan, step) -> {"step":..., "status":...}
        self.order = []            # (plan, step) in arrival order
        self.outbox = {}           # seq -> [bytes, next_send, interval]
        self.running = None        # (key, finish_time)

    def envelope(self, type_, **fields):
        self.seq += 1
        m = {"v": SCHEMA, "type": type_, "seq": self.seq, "ts": int(time.time() * 1e6),
             "from": self.name, "session": self.session}
        m.update(fields)
        return m

    def send(self, route, msg, reliable=False):
        data = json.dumps(msg, separators=(",", ":")).encode()
        if reliable:
            self.outbox[msg["seq"]] = [data, time.monotonic() + 0.1, 0.1]
        try:
            self.cmd.send_multipart([route, data], zmq.DONTWAIT)
        except zmq.ZMQError:
            pass  # agent gone or not yet there: the outbox resends

    def feedback(self, key, status, reason=None, text=None):
        self.steps[key]["status"] = status
        f = {"plan": key[0], "step": key[1], "status": status}
        if status == "failed":
            f.update(reason=reason, text=text)
        if self.agent is not None:
            self.send(self.agent, self.envelope("feedback", **f), reliable=True)
        print("controller: %s/%s %s" % (key[0], key[1], status), file=sys.stderr, flush=True)

    def on_step(self, plan, st):
        key = (plan, st["id"])
        if key in self.steps:              # seen before: never again, say where it stands
            self.feedback(key, self.steps[key]["status"])
            return
        self.steps[key] = {"step": st, "status": "accepted"}
        self.order.append(key)
        skill = next((s for s in SKILLS if s["name"] == st["skill"]), None)
        if skill is None:
            self.feedback(key, "failed", "unknown_skill", "no skill %r here" % st["skill"])
        else:
            self.feedback(key, "accepted")

    def handle(self, route, msg):
        t = msg.get("type")
        major = int(str(msg.get("v", "0.0")).split(".")[0])
        if major != 1:
            print("controller: refused schema %s" % msg.get("v"), file=sys.stderr)
            return
        if t == "ack":
            if msg["ack"]["session"] == self.session:
                self.outbox.pop(msg["ack"]["seq"], None)
            return
        if t == "hello":
            if msg.get("role") == "agent":
                self.agent = route
            self.send(route, self.envelope("hello", role="controller", skills=SKILLS,
                                           layout=["busy"], cameras=[]))
            return
        if t == "heartbeat":
            return
        if t in ("plan", "step", "cancel", "estop", "reset"):
            self.agent = route
            self.send(route, self.envelope("ack", ack={"session": msg["session"], "seq": msg["seq"]}))
            if t == "plan":
                for i, st in enumerate(msg["steps"]):
                    st.setdefault("index", i)
                    self.on_step(msg["plan"], st)
            elif t == "step":
                st = {"id": msg["step"], "index": msg.get("index", 0), "skill": msg["skill"],
                      "args": msg.get("args", {})}
                self.on_step(msg["plan"], st)

    def tick(self):
        now = time.monotonic()
        if self.running and now >= self.running[1]:
            self.feedback(self.running[0], "done")
            self.running = None
        if not self.running:
            for key in self.order:   # next accepted step, in arrival (index) order
                if self.steps[key]["status"] == "accepted":
                    st = self.steps[key]["step"]
                    self.feedback(key, "running")
                    secs = 0.1 * st["args"].get("times", 1) if st["skill"] == "wave" else 0.1
                    if st["skill"] == "say":
                        print("controller says: %s" % st["args"]["text"], file=sys.stderr)
                    self.running = (key, now + secs)
                    break
        for seq, entry in list(self.outbox.items()):
            if now >= entry[1] and self.agent is not None:
                try:
                    self.cmd.send_multipart([self.agent, entry[0]], zmq.DONTWAIT)
                except zmq.ZMQError:
                    pass
                entry[2] = min(entry[2] * 2, 1.6)
                entry[1] = now + entry[2]

    def run(self, duration):
        t_end = time.monotonic() + duration if duration else None
        next_hb = 0.0
        poller = zmq.Poller()
        poller.register(self.cmd, zmq.POLLIN)
        while t_end is None or time.monotonic() < t_end:
            for sock, _ in poller.poll(20):
                while True:
                    try:
                        parts = self.cmd.recv_multipart(zmq.DONTWAIT)
                    except zmq.Again:
                        break
                    try:
                        self.handle(parts[0], json.loads(parts[1]))
                    except (ValueError, KeyError, IndexError, TypeError) as e:
                        print("controller: refused a malformed message: %s" % e, file=sys.stderr)
            self.tick()
            if time.monotonic() >= next_hb:
                next_hb = time.monotonic() + 0.25
                hb = json.dumps(self.envelope("heartbeat"), separators=(",", ":")).encode()
                for p in self.pubs:
                    p.send_multipart([b"heartbeat", hb])
                if self.agent is not None:
                    self.send(self.agent, self.envelope("heartbeat"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bind", required=True)
    ap.add_argument("--name", default="pyctrl")
    ap.add_argument("--duration", type=float, default=0)
    a = ap.parse_args()
    Controller(a.bind, a.name).run(a.duration)


if __name__ == "__main__":
    main()
