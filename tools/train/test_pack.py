#!/usr/bin/python3
"""test_pack.py - the trainer's packed batches (data.pack) compute exactly
what each item alone would: a small random model, items that share a system
prompt, an image and question prefixes (and one repeated item), two frames;
the logits at every answer position of the packed trie must equal those of
the item's own causal pass, and the repeated item must be packed once."""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import model as M  # noqa: E402


def item(prefix, img_frame_tokens, tail, answer, T):
    """-> encode_item-shaped tuple: prefix, 2T image rows, 4 state rows, tail, answer."""
    s = list(prefix)
    ip = list(range(len(s), len(s) + 2 * T))
    s += [1] * (2 * T)
    sp = list(range(len(s), len(s) + 4))
    s += [1] * 4
    s += tail
    n = len(s)
    return (s + answer, ip, sp, n)


def main():
    torch.manual_seed(0)
    c = dict(M.DEFAULT, vocab=50, image=64, patch=16, scale_factor=2, dim=48, heads=3, kv_heads=3, ff=64, layers=2,
             vit_dim=32, vit_layers=1, vit_heads=2, vit_ff=64, n_state=5)
    net = M.Model(c, [0.0] * 5, [1.0] * 5).eval()
    T = (c["image"] // c["patch"] // c["scale_factor"]) ** 2
    sysp = [3, 4, 5, 6, 7]
    items = [item(sysp, 0, [10, 11, 12], [20, 21, 2], T),
             item(sysp, 0, [10, 11, 13], [22, 2], T),          # shares through the question's first tokens
             item(sysp, 1, [10, 11, 12], [23, 24, 25, 2], T),  # same text, the other frame
             item([3, 8], 0, [14], [26, 2], T),                 # another prefix, one shared token
             item(sysp, 0, [10, 11, 12], [20, 21, 2], T)]       # a repeat of the first
    frames = [0, 0, 1, 0, 0]
    pix = torch.randn(2, 3, c["image"], c["image"])
    st = torch.randn(2, 5)
    with torch.no_grad():
        rows = torch.cat([net.image_rows(pix)] * 2, 1)
        srows = net.state(st)
        p = data.pack(items, frames)
        N = len(p["ids"]) + 3  # and some padding
        ids = torch.zeros(1, N, dtype=torch.long)
        ids[0, :len(p["ids"])] = torch.tensor(p["ids"])
        pos = torch.zeros(1, N, dtype=torch.long)
        pos[0, :len(p["pos"])] = torch.tensor(p["pos"])
        allow = torch.from_numpy(data.allow_matrix(p["parent"], N))[None]
        x = net.lm.embed(ids)
        for node, f, r in p["img"]:
            x[0, node] = rows[f, r]
        for node, f, r in p["state"]:
            x[0, node] = srows[f, r]
        hp = net.lm(x, pos, allow)[0]
        assert len(p["items"]) == 4, f"{len(p['items'])} items packed, want 4 (the repeat once)"
        total = sum(len(s) for s, _, _, _ in items[:4])
        assert len(p["ids"]) < total - 2 * T, f"{len(p['ids'])} nodes for {total} tokens: nothing shared"
        worst = 0.0
        for j, nodes, tgt in p["items"]:
            s, ip, sp, n = items[j]
            xe = net.lm.embed(torch.tensor(s))
            for m, q in enumerate(ip):
                xe[q] = rows[frames[j], m]
            for m, q in enumerate(sp):
                xe[q] = srows[frames[j], m]
            he = net.lm(xe[None])[0]
            assert tgt == s[n:], "targets are not the answer"
            d = (net.lm.logits(hp[nodes]) - net.lm.logits(he[n - 1:len(s) - 1])).abs().max().item()
            worst = max(worst, d)
        assert worst < 1e-5, f"packed logits differ from the item's own pass by {worst}"
    print(f"test_pack: {len(p['items'])} items in {len(p['ids'])} nodes ({total} tokens alone); logits within {worst:.1e}")


if __name__ == "__main__":
    main()
