#!/usr/bin/env python3
"""Drive `ember agent` against the Python controller example: start the
controller (robot_io/examples/controller.py: skills wave and say), give the
agent an instruction, follow what it prints (each plan, each step's fate,
replans, the end) line by line, and read its decision log (one JSON object
per line) afterwards.

    /usr/bin/python3 robot_io/examples/agent_driver.py \
        --ember build/ember --model assets/ember-default.gguf "wave twice, then say hello"

A user's own program would do the same with its own controller: `ember
agent` is the planner, the controller is the robot; the robot link between
them is robot_io/SCHEMA.md. Exit status: the agent's (0 only on success).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("instruction", nargs="?", default="wave twice, then say hello")
    ap.add_argument("--ember", default="build/ember", help="the ember binary")
    ap.add_argument("--model", default="assets/ember-default.gguf")
    ap.add_argument("--endpoint", default="ipc://%s/ember-agent-example" % tempfile.gettempdir())
    ap.add_argument("--log", default=None, help="the agent's decision log (default: a temporary file)")
    ap.add_argument("--temp", default="0.8")
    ap.add_argument("--seed", default="1")
    a = ap.parse_args()

    log = a.log or os.path.join(tempfile.mkdtemp(prefix="ember-agent-"), "agent.jsonl")
    ctrl = subprocess.Popen([sys.executable, os.path.join(HERE, "controller.py"), "--bind", a.endpoint],
                            stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)  # the controller binds; the agent's connect would wait for it anyway
        cmd = [a.ember, "agent", "-m", a.model, "--connect", a.endpoint, "--log", log, "--temp", a.temp,
               "--seed", a.seed, "--max-steps", "8", "--max-replans", "2", "--timeout", "20", a.instruction]
        print("$ " + " ".join(cmd), flush=True)
        agent = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        for line in agent.stdout:  # the agent's stdout: plans, fates, replans, the end
            print("agent> " + line.rstrip(), flush=True)
        rc = agent.wait()
    finally:
        ctrl.terminate()
        ctrl.wait()

    # The decision log: what the agent saw, planned, and what became of it.
    records = [json.loads(l) for l in open(log) if l.strip()]
    plans = [r for r in records if r["type"] == "plan"]
    fates = [r for r in records if r["type"] == "fate"]
    end = [r for r in records if r["type"] == "end"]
    print("log %s: %d plans, %d step fates, end: %s" %
          (log, len(plans), len(fates), end[-1]["result"] if end else "none"))
    for p in plans:
        print("  plan %d (%d prompt positions, %.0f ms to generate):" %
              (p["cycle"], p["prompt_positions"], p["timings_ms"]["generate"]))
        for line in p["plan_text"].splitlines():
            if line:
                print("    " + line)
    return rc


if __name__ == "__main__":
    sys.exit(main())
