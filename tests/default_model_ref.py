#!/usr/bin/python3
"""default_model_ref.py - the default model's exported GGUF files run in
PyTorch (the trainer's own model code, tools/train/model.py, with weights
read back from the files by tools/train/gguf_model.py) against Ember on held-out
items (`ember eval --answers`): the same prompt positions (the byte-level
BPE tokenizer of tools/train/tok.py against Ember's, and the image/state
layout), and the same greedy answers.

  default_model_ref.py --model M --mmproj P --state S --data DIR --answers FILE [--max-plans N]

DIR is a held-out split written by mkdata (frames.u8, states.f32,
items.jsonl); FILE holds Ember's answers to items of those scenes. Where
the greedy texts differ, the first step where they part is looked at: a
near-tie (PyTorch's top two logits within --tie of each other) is numerics,
anything wider fails.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "tools", "train"))
import data  # noqa: E402
import gguf_model  # noqa: E402


def greedy(net, tk, x, n_max):
    """x [T][dim] prompt rows -> (tokens, margins): greedy steps until an
    end-of-turn token, the top-two logit margin of each step."""
    eog = {tk.special["<|im_end|>"], tk.special["<|endoftext|>"]}
    out, margins = [], []
    with torch.no_grad():
        for _ in range(n_max):
            logits = net.lm.logits(net.lm(x[None])[0, -1])
            top = torch.topk(logits, 2)
            margins.append(float(top.values[0] - top.values[1]))
            t = int(top.indices[0])
            out.append(t)
            if t in eog:
                break
            x = torch.cat([x, net.lm.embed.weight[t][None]], 0)
    return out, margins


def text_of(tk, ids):
    return tk.decode([i for i in ids if tk.tokens[i] not in tk.special])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for k in ("--model", "--mmproj", "--state", "--data", "--answers"):
        ap.add_argument(k, required=True)
    ap.add_argument("--max-plans", type=int, default=4)
    ap.add_argument("--tie", type=float, default=1e-2)
    ap.add_argument("--logit-tol", type=float, default=1e-2, help="first step's top-3 logits, |Ember - PyTorch|")
    a = ap.parse_args()
    torch.set_num_threads(2)
    net, c, tk, fields = gguf_model.load(a.model, a.mmproj, a.state)
    split = data.Split(a.data)
    assert list(split.meta["layout"]) == fields, "the split's state layout is not the encoder's"
    by_scene = {}
    for it in split.items:
        by_scene.setdefault(it["scene"], []).append(it)
    tpt = (c["image"] // c["patch"] // c["scale_factor"]) ** 2
    n = same = ties = bad = bad_pos = plans = 0
    worst = 0.0
    for line in open(a.answers):
        e = json.loads(line)
        it = by_scene[e["scene"]][e["item"]]
        assert it["answer"] == e["want"], "the split and Ember's answers are not the same items"
        is_plan = it["family"] in ("plan", "replan")
        if is_plan:
            if plans >= a.max_plans:
                continue
            plans += 1
        ids, ip, sp, n_prompt = data.encode_item(tk, it, tpt, c["state_k"])
        mine = list(ids[:n_prompt])
        for p in ip + sp:
            mine[p] = -1
        n += 1
        if mine != e["tokens"]:
            k = next((i for i, (u, v) in enumerate(zip(mine, e["tokens"])) if u != v), min(len(mine), len(e["tokens"])))
            print(f"FAIL {e['scene']}/{e['item']} {it['family']}: prompt positions differ at {k} "
                  f"(PyTorch {mine[k:k + 5]}, Ember {e['tokens'][k:k + 5]}; lengths {len(mine)}, {len(e['tokens'])})")
            bad += 1
            bad_pos += 1
            continue
        with torch.no_grad():
            f = it["frame"]
            pix = (torch.from_numpy(np.ascontiguousarray(split.frames[[f]])).float().permute(0, 3, 1, 2) / 255.0 - 0.5) / 0.5
            rows = net.image_rows(pix)[0]
            srows = net.state(torch.from_numpy(split.states[[f]]))[0]
            x = net.lm.embed(torch.tensor(ids[:n_prompt]))
            x[torch.tensor(ip)] = torch.cat([rows, rows], 0)
            x[torch.tensor(sp)] = srows
        with torch.no_grad():
            first = net.lm.logits(net.lm(x[None])[0, -1])
        d = max(abs(float(first[int(i)]) - float(v)) for i, v in e.get("first_top", []))
        worst = max(worst, d)
        if d > a.logit_tol:
            bad += 1
            print(f"FAIL {e['scene']}/{e['item']} {it['family']}: first-step logits differ by {d:.2e} (> {a.logit_tol})")
            continue
        out, margins = greedy(net, tk, x, 240 if is_plan else 48)
        got = text_of(tk, out)
        if got == e["got"]:
            same += 1
            continue
        k = 0
        while k < len(out) and e["got"].startswith(text_of(tk, out[:k + 1])):
            k += 1
        m = margins[min(k, len(margins) - 1)]
        if m <= a.tie:
            ties += 1
            print(f"tie  {e['scene']}/{e['item']} {it['family']}: the answers part at step {k}, a near-tie (margin {m:.2e})")
        else:
            bad += 1
            print(f"FAIL {e['scene']}/{e['item']} {it['family']}: PyTorch {got!r}, Ember {e['got']!r} (step {k}, margin {m:.3f})")
    print(f"default_model_ref: {n} items, prompt positions equal in {n - bad_pos}, greedy answers identical in {same}, "
          f"near-ties {ties}, failures {bad}; first-step top-3 logits within {worst:.2e} of PyTorch's")
    sys.exit(1 if bad or n == 0 else 0)


if __name__ == "__main__":
    main()
