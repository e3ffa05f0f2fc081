#!/usr/bin/env python3
"""state_ref.py - the PyTorch reference of the sensor-state encoder
(projector/STATE_FORMAT.md), in float64, from the GGUF file alone:

    /usr/bin/python3 tests/state_ref.py STATE.gguf LAYOUT VALUES...

LAYOUT: the controller's field names, comma-separated (any order, extras
allowed); VALUES: one state vector per argument, comma-separated, in the
layout's order. Prints k * n_embd numbers per vector, one per line, for
tests/test_state_enc.c to compare with Ember's encoding on each backend.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "train"))  # gguf_read
from gguf_read import GGUF  # noqa: E402


def main():
    g = GGUF(sys.argv[1])
    layout = sys.argv[2].split(",")
    fields = [f.decode() if isinstance(f, bytes) else f for f in g.kv["ember.state.fields"]]
    mean = torch.tensor(np.array(g.kv["ember.state.mean"], dtype=np.float64))
    scale = torch.tensor(np.array(g.kv["ember.state.scale"], dtype=np.float64))
    layers = int(g.kv.get("ember.state.layers", 1))
    ws = [torch.tensor(g.tensor("state.fc%d.weight" % i).astype(np.float64)) for i in range(layers)]
    bs = [torch.tensor(g.tensor("state.fc%d.bias" % i).astype(np.float64)) for i in range(layers)]
    wo = torch.tensor(g.tensor("state.out.weight").astype(np.float64))
    bo = torch.tensor(g.tensor("state.out.bias").astype(np.float64))
    idx = [layout.index(f) for f in fields]  # by name: a missing field raises
    for arg in sys.argv[3:]:
        v = [float(x) for x in arg.split(",")]
        x = (torch.tensor([v[i] for i in idx], dtype=torch.float64) - mean) / scale
        for w, b in zip(ws, bs):
            x = torch.nn.functional.gelu(x @ w.T + b, approximate="tanh")
        out = x @ wo.T + bo
        for y in out.tolist():
            print("%.17g" % y)


if __name__ == "__main__":
    main()
