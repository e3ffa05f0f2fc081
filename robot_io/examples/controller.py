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
resending until the agent acks it; answer a step seen before with its
remembered fate marked "replayed" (and the time it was reached), never run
it again; ack a cancel of a plan it never heard of with reason
"unknown_plan"; heartbeat every client (agent or monitor) heard from in the
last peer timeout on the command channel; publish a heartbeat on the two
PUB sockets so subscribers know they are connected.
"""
import argparse
import json
import os
import sys
import time

import zmq

SCHEMA = "1.1"
PEER_TIMEOUT = 2.0  # seconds of silence after which a client is forgotten (TRANSPORT.md)
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
        self.clients = {}          # routing id -> last heard (monotonic): agents and monitors, all heartbeated
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

    def feedback(self, key, status, reason=None, text=None, replayed=False):
        rec = self.steps[key]
        if not replayed:
            rec.update(status=status, reason=reason, text=text, at=int(time.time() * 1e6))
        f = {"plan": key[0], "step": key[1], "status": status}
        if replayed:  # memory, not news: the agent must not report it as just happened
            f.update(replayed=True, fate_ts=rec["at"])
        if status == "failed":
            f.update(reason=rec["reason"], text=rec["text"] or "")
        if self.agent is not None:
            self.send(self.agent, self.envelope("feedback", **f), reliable=True)
        print("controller: %s/%s %s" % (key[0], key[1], status), file=sys.stderr, flush=True)

    def on_step(self, plan, st):
        key = (plan, st["id"])
        if key in self.steps:              # seen before: never again, say where it stood
            self.feedback(key, self.steps[key]["status"], replayed=True)
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
        self.clients[route] = time.monotonic()
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
            ack = {"ack": {"session": msg["session"], "seq": msg["seq"]}}
            if t == "cancel" and not any(k[0] == msg["plan"] for k in self.steps):
                ack.update(reason="unknown_plan", text="no plan %s was sent here" % msg["plan"])
            self.send(route, self.envelope("ack", **ack))
            if t == "cancel" and "reason" not in ack:
                for key in self.order:     # the whole plan (a step-level cancel is not offered here)
                    if key[0] == msg["plan"] and self.steps[key]["status"] in ("accepted", "running"):
                        if self.running and self.running[0] == key:
                            self.running = None
                        self.feedback(key, "failed", "cancelled", "cancelled by the agent")
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
                # every client heard from lately, monitors too: a monitor
                # declares us lost after the peer timeout without them
                now = time.monotonic()
                for route, heard in list(self.clients.items()):
                    if now - heard > PEER_TIMEOUT:
                        del self.clients[route]
                    else:
                        self.send(route, self.envelope("heartbeat"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bind", required=True)
    ap.add_argument("--name", default="pyctrl")
    ap.add_argument("--duration", type=float, default=0)
    a = ap.parse_args()
    Controller(a.bind, a.name).run(a.duration)


if __name__ == "__main__":
    main()
