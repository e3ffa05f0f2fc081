#!/usr/bin/env python3
"""End-to-end tests of `ember agent` over the robot link on loopback, with
`ember sim` as the robot and random-weight models (no trained model exists
yet): a SmolVLM-shaped text model and mmproj and a state encoder, written
here by mkmodel, mkmmproj and mkstate. At temperature 1.5 the plans are
noise, but every one must parse and name offered skills with valid
arguments (the grammar), replanning must follow injected failures, each
budget must end the run cleanly, the decision log must be complete, and
every step must run exactly once through agent and controller restarts
(read from the sim's journal).

Run by ctest (agent_e2e) with EMBER_BIN set; one scenario by name:
    EMBER_BIN=build/ember /usr/bin/python3 tests/agent_e2e.py episodes
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robot_e2e as R  # noqa: E402  (its helpers: sim, journal, commits, check, ...)

BUILD = os.path.dirname(R.EMBER)
VOCAB = os.path.join(R.ROOT, "..", "shared", "vocab", "ggml-vocab-gpt-2.gguf")
M = {}


def models():
    """A tiny SmolVLM-shaped pair (text dim 128) and a state encoder for the sim's layout."""
    if M:
        return M
    M["text"] = os.path.join(R.TMP, "m.gguf")
    M["mmproj"] = os.path.join(R.TMP, "p.gguf")
    M["state"] = os.path.join(R.TMP, "s.gguf")
    M["plain"] = os.path.join(R.TMP, "plain.gguf")
    subprocess.run([os.path.join(BUILD, "mkmodel"), "--vocab", VOCAB, "--smolvlm", "--dim", "128", "--layers", "2",
                    "--heads", "4", "--kv-heads", "2", "--ffn", "256", "--ctx", "4096", "-o", M["text"]],
                   check=True, capture_output=True)
    subprocess.run([os.path.join(BUILD, "mkmodel"), "--vocab", VOCAB, "--dim", "64", "--layers", "1",
                    "--heads", "4", "--ffn", "128", "--ctx", "2048", "-o", M["plain"]],
                   check=True, capture_output=True)
    subprocess.run([os.path.join(BUILD, "mkmmproj"), "--preset", "tiny", "--text-dim", "128", "-o", M["mmproj"]],
                   check=True, capture_output=True)
    subprocess.run([os.path.join(BUILD, "mkstate"), "--fields",
                    "gripper.x,gripper.y,gripper.z,gripper.open,gripper.holding,obj0.x,obj0.y,obj1.x,obj1.y",
                    "--k", "2", "--n-embd", "128", "--hidden", "64", "-o", M["state"]],
                   check=True, capture_output=True)
    return M


def log_records(path):
    return [json.loads(l) for l in open(path) if l.strip()]


def agent_args(ep, log, *extra, seed=1):
    m = models()
    return ["agent", "-m", m["text"], "--mmproj", m["mmproj"], "--state-encoder", m["state"], "--connect", ep,
            "--temp", "1.5", "--seed", str(seed), "--log", log, "--timeout", "30", "--threads", "2"] + list(extra)


def check_log(name, path, expect_end=None):
    """A complete log: a run record, each plan followed by its outcome, a
    fate for every step of a finished plan, one end record last."""
    recs = log_records(path)
    runs = [r for r in recs if r["type"] == "run"]
    R.check(len(runs) >= 1, name + ": the log has a run record")
    run = runs[-1]["run"]
    mine = [r for r in recs if r["run"] == run]
    R.check(mine[-1]["type"] == "end", name + ": the log ends with an end record: %s" % mine[-1]["type"])
    end = mine[-1]
    if expect_end:
        R.check(end["result"] in expect_end, name + ": ended %s (%s), expected %s" % (end["result"], end["why"], expect_end))
    plans = [r for r in mine if r["type"] == "plan"]
    for p in plans:
        R.check(p["steps"] and p["plan_text"] and p["prompt_positions"] > 0 and "saw" in p and "timings_ms" in p,
                name + ": plan %d has steps, text, prompt size, observation, timings" % p["cycle"])
        outs = [r for r in mine if r["type"] == "outcome" and r.get("cycle") == p["cycle"] and "instance" in r]
        R.check(len(outs) == 1, name + ": plan %d has one outcome (%d)" % (p["cycle"], len(outs)))
        if outs and outs[0]["end"] == "finished":
            fates = {r["step"] for r in mine if r["type"] == "fate" and r["cycle"] == p["cycle"]}
            ids = {s["id"] for s in p["steps"]}
            R.check(fates == ids, name + ": plan %d: a fate for every step (%s of %s)" % (p["cycle"], fates, ids))
    by_cycle = {p["cycle"]: [s["id"] for s in p["steps"]] for p in plans}  # a resumed plan logs its cycle again
    ids = [i for v in by_cycle.values() for i in v]
    R.check(len(ids) == len(set(ids)), name + ": step ids unique over the run (the sim keys a step's fate on its id): %s" % ids)
    R.check(end["cycles"] == len([r for r in mine if r["type"] == "plan" or
                                  (r["type"] == "outcome" and r.get("end") == "not_sent")]),
            name + ": the end counts every cycle")
    return mine, end


def no_step_twice(name, jp, log=None):
    """Every step the sim ran is committed once in its journal; with the
    agent's log, every step the log says was done is one of them."""
    c = R.commits(jp)
    R.check(all(v == 1 for v in c.values()), name + ": a step committed more than once: %s" %
            {k: v for k, v in c.items() if v != 1})
    if log:
        recs = log_records(log)
        inst = {r["cycle"]: r["instance"] for r in recs if r["type"] == "plan"}
        done = [(inst[r["cycle"]], r["step"]) for r in recs if r["type"] == "fate" and r["status"] == "done"
                and r["cycle"] in inst]
        R.check(all(c.get(k) == 1 for k in done), name + ": a step done in the log is not committed once: %s" %
                [k for k in done if c.get(k) != 1][:3])
    return c


def t_episodes():
    """Several seeds, injected failures: each run ends cleanly on success or a budget."""
    for seed in range(1, 5):
        name = "episode%d" % seed
        ep, jp, sim = R.new_sim(name, "ipc", "--fail-rate", "0.3", "--random-goal", "--fps", "5")
        log = os.path.join(R.TMP, name + ".jsonl")
        frames = os.path.join(R.TMP, name + "-frames")
        rc, out, err = R.run(agent_args(ep, log, "--max-steps", "10", "--max-replans", "3", "--save-frames", frames,
                                        "put a block in a container", seed=seed), timeout=300)
        R.check(rc in (0, 1), name + ": exit 0 or 1, got %d:\n%s" % (rc, err[-2000:]))
        R.check("agent: " in out, name + ": the final line is printed:\n" + out[-1000:])
        mine, end = check_log(name, log, ("success", "step_budget", "replan_budget"))
        R.check((rc == 0) == (end["result"] == "success"), name + ": exit 0 exactly on success")
        for p in [r for r in mine if r["type"] == "plan"]:
            for f in p["saw"]["frames"]:
                R.check(os.path.exists(f["path"]) and open(f["path"], "rb").read(8) == b"\x89PNG\r\n\x1a\n",
                        name + ": saved frame %s is a PNG" % f.get("path"))
            R.check(len(p["saw"]["state"]) == 33, name + ": the state vector is logged")
        if end["result"] != "success" and end["cycles"] > 1:
            R.check(any(r["type"] == "outcome" and r["feedback"] for r in mine), name + ": a replan says why")
        no_step_twice(name, jp, log)
        R.stop(sim)


def t_budgets():
    """--max-replans 0 and --max-steps 1 end the run on the budget (or success)."""
    ep, jp, sim = R.new_sim("budget", "ipc", "--fail-rate", "1", "--random-goal", "--fps", "2")
    log = os.path.join(R.TMP, "budget.jsonl")
    rc, out, err = R.run(agent_args(ep, log, "--max-replans", "0", "--max-steps", "6", "pick something"))
    mine, end = check_log("budget_replans", log, ("replan_budget", "step_budget", "success"))
    R.check(end["cycles"] == 1, "budget: one plan with --max-replans 0 (%d)" % end["cycles"])
    log2 = os.path.join(R.TMP, "budget2.jsonl")
    rc, out, err = R.run(agent_args(ep, log2, "--max-steps", "1", "--max-replans", "5", "pick something"))
    mine, end = check_log("budget_steps", log2, ("step_budget", "success"))
    R.check(end["steps_sent"] == 1, "budget: one step with --max-steps 1 (%d)" % end["steps_sent"])
    no_step_twice("budget", jp)
    R.stop(sim)


def t_votes():
    ep, jp, sim = R.new_sim("votes", "ipc", "--fps", "2")
    log = os.path.join(R.TMP, "votes.jsonl")
    rc, out, err = R.run(agent_args(ep, log, "--votes", "3", "--max-replans", "0", "--max-steps", "4", "home"))
    mine, end = check_log("votes", log)
    p = [r for r in mine if r["type"] == "plan"][0]
    R.check(len(p["votes"]) == 3, "votes: three plans sampled: %s" % p.get("votes"))
    first = [v.split("\n")[0] for v in p["votes"]]
    R.check(p["plan_text"].split("\n")[0] == max(first, key=first.count),
            "votes: the kept plan's first step is the majority's: %s of %s" % (p["plan_text"], first))
    R.stop(sim)


def wait_log(path, pred, timeout=60):
    t = time.time()
    while time.time() - t < timeout:
        if os.path.exists(path):
            try:
                if pred(log_records(path)):
                    return True
            except (ValueError, KeyError):
                pass
        time.sleep(0.05)
    return False


def t_kill_agent():
    """kill -9 mid-plan, start again with the same log: the run goes on, no step runs twice."""
    ep, jp, sim = R.new_sim("kill_agent", "ipc", "--step-s", "0.6", "--fps", "2")
    log = os.path.join(R.TMP, "kill_agent.jsonl")
    a = R.start(agent_args(ep, log, "--max-steps", "8", "--max-plan-steps", "8", "--max-replans", "1", "stack"),
                "kill_agent.agent.log")
    # kill while a plan is out: a step of it has its fate, the plan has no outcome yet
    def open_plan_with_fate(r):
        done = {x["cycle"] for x in r if x["type"] == "outcome"}
        return any(x["type"] == "fate" and x["cycle"] not in done for x in r)
    ok = wait_log(log, open_plan_with_fate)
    R.check(ok, "kill_agent: a step's fate logged while its plan was out")
    a.send_signal(signal.SIGKILL)
    a.wait()
    R.check(not any(x["type"] == "end" for x in log_records(log)), "kill_agent: killed before the run ended")
    rc, out, err = R.run(agent_args(ep, log, "--max-steps", "8", "--max-plan-steps", "8", "--max-replans", "1", "stack"))
    R.check("resuming instance" in out, "kill_agent: the restarted agent resumes the open plan:\n" + out)
    mine, end = check_log("kill_agent", log)
    R.check(len([r for r in mine if r["type"] == "run"]) == 1, "kill_agent: one run in the log")
    no_step_twice("kill_agent", jp, log)
    # a finished run: the same command starts a new run
    rc, out, err = R.run(agent_args(ep, log, "--max-steps", "1", "--max-replans", "0", "stack"))
    R.check("resuming" not in out, "kill_agent: a finished run is not resumed")
    # another instruction while a run is open is refused with a clear message
    R.stop(sim)


def t_restart_controller():
    """The sim is killed mid-plan and restarted on its journal: the agent goes on."""
    ep, jp, sim = R.new_sim("restart_ctrl", "ipc", "--step-s", "0.6", "--fps", "2")
    log = os.path.join(R.TMP, "restart_ctrl.jsonl")
    a = R.start(agent_args(ep, log, "--max-steps", "6", "--max-plan-steps", "6", "--max-replans", "1", "stack"),
                "restart_ctrl.agent.log")
    R.check(R.wait_journal(jp, lambda r: any(x["rec"] == "commit" for x in r), timeout=60),
            "restart_ctrl: a step committed")
    sim.send_signal(signal.SIGKILL)
    sim.wait()
    time.sleep(0.5)
    sim = R.sim(ep, jp, "--seed", "3", "--step-s", "0.6", "--fps", "2")
    out = R.stop(a, sig=0) if False else None
    try:
        out, _ = a.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        a.kill()
        out, _ = a.communicate()
        R.check(False, "restart_ctrl: the agent did not finish")
    out = out.decode(errors="replace")
    R.check("agent: " in out, "restart_ctrl: the agent ended cleanly:\n" + out)
    check_log("restart_ctrl", log)
    no_step_twice("restart_ctrl", jp, log)
    R.stop(sim)


def t_estop():
    """An estop during execution ends the run; nothing is sent after it."""
    ep, jp, sim = R.new_sim("estop_agent", "ipc", "--step-s", "1.0", "--fps", "2")
    log = os.path.join(R.TMP, "estop_agent.jsonl")
    a = R.start(agent_args(ep, log, "--max-steps", "8", "--max-plan-steps", "8", "--max-replans", "3", "stack"),
                "estop_agent.agent.log")
    R.check(R.wait_journal(jp, lambda r: any(x["rec"] == "start" for x in r), timeout=60), "estop: a step started")
    rc, out, err = R.run(["act", "--connect", ep, "--estop", "test"])
    R.check(rc == 0, "estop: acknowledged: " + err)
    try:
        out, _ = a.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        a.kill()
        out, _ = a.communicate()
    out = out.decode(errors="replace")
    R.check(a.returncode == 1, "estop: the agent exits 1 (%s):\n%s" % (a.returncode, out))
    mine, end = check_log("estop", log, ("estop",))
    n_plans = len([r for r in mine if r["type"] == "plan"])
    R.check(n_plans == 1, "estop: no plan after the estop (%d plans)" % n_plans)
    # while the estop is on, a new run sends nothing
    log2 = os.path.join(R.TMP, "estop_agent2.jsonl")
    rc, out, err = R.run(agent_args(ep, log2, "--max-steps", "4", "stack"))
    R.check(rc == 1, "estop: a run during the estop fails")
    mine2, end2 = check_log("estop2", log2, ("estop",))
    R.check(not [r for r in mine2 if r["type"] == "plan"], "estop: a run started during the estop sends nothing")
    R.run(["act", "--connect", ep, "--reset"])
    no_step_twice("estop", jp)
    R.stop(sim)


def t_interrupt_cancel():
    """Ctrl-C ends the run (exit 130) and cancels the plan on the controller;
    an operator's cancel of the running plan ends it as cancelled (exit 1)."""
    ep, jp, sim = R.new_sim("interrupt", "ipc", "--step-s", "3.0", "--fps", "2")  # a wide window for the cancel
    for how in ("sigint", "cancel"):
        log = os.path.join(R.TMP, "interrupt_%s.jsonl" % how)
        a = R.start(agent_args(ep, log, "--max-steps", "8", "--max-replans", "3", "stack"), "interrupt.agent.log")
        R.check(wait_log(log, lambda r: any(x["type"] == "run" for x in r)), how + ": the run started")
        run = log_records(log)[-1]["run"]
        # a step of this run running on the sim (started, not committed): interrupt it there
        def running(recs):
            done = {(x["plan"], x["step"]) for x in recs if x["rec"] == "commit"}
            now = time.time() * 1e6  # running for 0.3 s at least: not a step refused at its start
            return [x for x in recs if x["rec"] == "start" and x["plan"].startswith(run) and
                    (x["plan"], x["step"]) not in done and now - x["us"] > 3e5]
        R.check(R.wait_journal(jp, lambda r: running(r), timeout=60), how + ": a step is running")
        if how == "sigint":
            a.send_signal(signal.SIGINT)
        else:
            inst = running(R.journal(jp))[-1]["plan"]
            rc, out, err = R.run(["act", "--connect", ep, "--cancel", inst])
            R.check(rc == 0, "cancel: acknowledged: " + err)
        try:
            out, _ = a.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            a.kill()
            out, _ = a.communicate()
        want = 130 if how == "sigint" else 1
        R.check(a.returncode == want, "%s: exit %d (got %s)" % (how, want, a.returncode))
        check_log(how, log, ("interrupted",) if how == "sigint" else ("cancelled",))
    no_step_twice("interrupt", jp)
    R.stop(sim)


def t_timeout():
    """A plan that does not finish within --timeout is cancelled and replanned from a new observation."""
    ep, jp, sim = R.new_sim("timeout_agent", "ipc", "--step-s", "2.0", "--fps", "2")
    log = os.path.join(R.TMP, "timeout.jsonl")
    rc, out, err = R.run(agent_args(ep, log, "--timeout", "0.6", "--max-replans", "1", "--max-steps", "6", "stack"))
    mine, end = check_log("timeout", log, ("replan_budget", "success", "step_budget"))
    outs = [r for r in mine if r["type"] == "outcome" and r.get("end") == "timed_out"]
    R.check(outs and "did not finish" in outs[0]["feedback"], "timeout: a plan timed out and said so: %s" % outs[:1])
    if outs and outs[0]["cycle"] < end["cycles"]:
        R.check(any(r["type"] == "plan" and r["cycle"] == outs[0]["cycle"] + 1 for r in mine),
                "timeout: the next plan followed")
    no_step_twice("timeout", jp, log)
    R.stop(sim)


def t_refused():
    """A controller that refuses a step: planning with a skill it does not offer (--skills) is
    refused step by step (unknown_skill) and replanned from the failure."""
    ep, jp, sim = R.new_sim("refused", "ipc", "--fps", "2")
    skills = R.write_json("skills.json", {"skills": [
        {"name": "fly", "doc": "fly away", "args": [{"name": "height", "type": "integer", "min": 1, "max": 9}]}]})
    log = os.path.join(R.TMP, "refused.jsonl")
    rc, out, err = R.run(agent_args(ep, log, "--skills", skills, "--max-replans", "1", "fly"))
    R.check(rc == 1, "refused: exit 1")
    mine, end = check_log("refused", log, ("replan_budget", "step_budget"))
    fails = [r for r in mine if r["type"] == "fate" and r["status"] == "failed"]
    R.check(fails and fails[0]["reason"] == "unknown_skill", "refused: failed unknown_skill: %s" % fails[:1])
    outs = [r for r in mine if r["type"] == "outcome"]
    R.check(outs and "failed: unknown_skill" in outs[0]["feedback"], "refused: the failure is in the next prompt")
    R.stop(sim)


def t_usage():
    m = models()
    ep = R.endpoint("ipc")
    for args, what in (
        (["agent", "--connect", ep, "x"], "no model"),
        (["agent", "-m", m["text"], "x"], "no endpoint"),
        (["agent", "-m", m["text"], "--connect", ep], "no instruction"),
        (["agent", "-m", m["text"], "--connect", ep, "--votes", "0", "x"], "bad votes"),
    ):
        rc, out, err = R.run(args)
        R.check(rc == 2 and "ember agent:" in err, "usage: %s: exit 2 with a message (%d): %s" % (what, rc, err))
    # a prompt naming a camera the controller lacks; a state encoder whose fields the layout lacks
    ep, jp, sim = R.new_sim("usage_agent", "ipc", "--fps", "2")
    rc, out, err = R.run(agent_args(ep, os.path.join(R.TMP, "u.jsonl"), "--prompt", "<img:side> {instruction}", "x"))
    R.check(rc == 2 and "side" in err, "usage: an unknown camera is named (%d): %s" % (rc, err))
    bad = os.path.join(R.TMP, "bad_state.gguf")
    subprocess.run([os.path.join(BUILD, "mkstate"), "--fields", "gripper.x,wrist.torque", "--k", "1", "--n-embd", "128",
                    "--hidden", "16", "-o", bad], check=True, capture_output=True)
    args = agent_args(ep, os.path.join(R.TMP, "u2.jsonl"), "x")
    args[args.index("--state-encoder") + 1] = bad
    rc, out, err = R.run(args)
    R.check(rc != 0 and "wrist.torque" in err, "usage: a missing state field is named (%d): %s" % (rc, err))
    R.stop(sim)


def t_python_example():
    """The Python example drives `ember agent` against the Python controller example."""
    m = models()
    r = subprocess.run([sys.executable, os.path.join(R.ROOT, "robot_io/examples/agent_driver.py"), "--ember", R.EMBER,
                        "--model", m["plain"], "--endpoint", R.endpoint("ipc"),
                        "--log", os.path.join(R.TMP, "py.jsonl"), "wave"],
                       capture_output=True, text=True, timeout=180)
    R.check(r.returncode == 0, "python example: exit 0 (%d):\n%s\n%s" % (r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    R.check("agent> agent: success" in r.stdout, "python example: the agent succeeded:\n" + r.stdout[-2000:])
    check_log("python", os.path.join(R.TMP, "py.jsonl"), ("success",))


SCENARIOS = {
    "usage": t_usage,
    "episodes": t_episodes,
    "budgets": t_budgets,
    "votes": t_votes,
    "refused": t_refused,
    "timeout": t_timeout,
    "interrupt_cancel": t_interrupt_cancel,
    "kill_agent": t_kill_agent,
    "restart_controller": t_restart_controller,
    "estop": t_estop,
    "python_example": t_python_example,
}

if __name__ == "__main__":
    R.SCENARIOS = SCENARIOS
    R.main()
