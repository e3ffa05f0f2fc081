"""data.py - a split written by mkdata (frames.u8, states.f32, items.jsonl,
meta.json) as token sequences with the image and state rows' positions, laid
out as Ember lays out the prompt (agent/mm_prompt.h, agent/vlm_prompt.c):

  <img>    <fake_token_around_image><row_1_col_1>, T image rows, "\\n\\n"
           <fake_token_around_image><global-img>, T image rows,
           <fake_token_around_image>   (the frame is one tile: a 1 x 1 grid
           and the overview, both the frame itself)
  <state>  k state rows
The answer follows the prompt, then <|im_end|>; the loss is on those.
"""
import json
import os

import numpy as np

PLACEHOLDERS = ("<img>", "<state>")


class Split:
    def __init__(self, d):
        self.dir = d
        self.meta = json.load(open(os.path.join(d, "meta.json")))
        S = self.meta["frame_size"]
        self.S = S
        self.n_layout = len(self.meta["layout"])
        self.frames = np.memmap(os.path.join(d, "frames.u8"), dtype=np.uint8, mode="r").reshape(-1, S, S, 3)
        self.states = np.fromfile(os.path.join(d, "states.f32"), dtype=np.float32).reshape(-1, self.n_layout)
        self.items = [json.loads(l) for l in open(os.path.join(d, "items.jsonl"))]

    def texts(self):
        """The text pieces a tokenizer is trained on (specials and placeholders cut out)."""
        import re
        from tok import SPECIALS
        cut = re.compile("|".join(re.escape(s) for s in SPECIALS + list(PLACEHOLDERS)))
        for it in self.items:
            for t in (it["prompt"], it["answer"]):
                for p in cut.split(t):
                    if p:
                        yield p


def encode_item(tk, item, tokens_per_tile, state_k):
    """-> (ids, img_pos, state_pos, n_prompt): ids include the answer and
    <|im_end|>; image and state positions hold the <image> token id."""
    sp = tk.special
    img_tok = sp["<image>"]
    nlnl = tk.id["\u010a\u010a"]
    ids, img_pos, state_pos = [], [], []
    text = item["prompt"]
    pos = 0
    while True:
        a = [(text.find(p, pos), p) for p in PLACEHOLDERS]
        a = [x for x in a if x[0] >= 0]
        if not a:
            ids.extend(tk.encode(text[pos:]))
            break
        at, p = min(a)
        ids.extend(tk.encode(text[pos:at]))
        if p == "<img>":
            ids.extend(tk.encode("<fake_token_around_image><row_1_col_1>"))
            img_pos.extend(range(len(ids), len(ids) + tokens_per_tile))
            ids.extend([img_tok] * tokens_per_tile)
            ids.extend([nlnl, sp["<fake_token_around_image>"], sp["<global-img>"]])
            img_pos.extend(range(len(ids), len(ids) + tokens_per_tile))
            ids.extend([img_tok] * tokens_per_tile)
            ids.append(sp["<fake_token_around_image>"])
        else:
            state_pos.extend(range(len(ids), len(ids) + state_k))
            ids.extend([img_tok] * state_k)
        pos = at + len(p)
    n_prompt = len(ids)
    ids.extend(tk.encode(item["answer"]))
    ids.append(sp["<|im_end|>"])
    return ids, img_pos, state_pos, n_prompt


def pack(encs, frames):
    """The items of one scene (encode_item's tuples, each with its frame) as
    one sequence: the trie of their token sequences, so a system prompt, an
    image and a question prefix the items share are computed once. Image and
    state rows are keyed by frame, so two frames never share a node. Each
    node attends to its ancestors and itself, at its depth as position: for
    every item this is exactly the causal sequence it would be alone.
    Identical items are kept once.
    -> dict ids [N], pos [N], parent [N] (-1 at a root), img and state
       [(node, frame, row)], items [(input index, nodes of the target
       positions, target ids)]."""
    ids, pos, parent, img, state, items = [], [], [], [], [], []
    child = {}
    seen = set()
    for j, ((s, ip, sp, n), fr) in enumerate(zip(encs, frames)):
        ipx = {p: m for m, p in enumerate(ip)}
        spx = {p: m for m, p in enumerate(sp)}
        keys = tuple(("i", fr, ipx[k]) if k in ipx else ("s", fr, spx[k]) if k in spx else t for k, t in enumerate(s))
        if keys in seen:
            continue
        seen.add(keys)
        path, node = [], -1
        for k, key in enumerate(keys):
            nxt = child.get((node, key))
            if nxt is None:
                nxt = len(ids)
                child[(node, key)] = nxt
                ids.append(s[k])
                pos.append(k)
                parent.append(node)
                if k in ipx:
                    img.append((nxt, fr, ipx[k]))
                elif k in spx:
                    state.append((nxt, fr, spx[k]))
            node = nxt
            path.append(node)
        items.append((j, path[n - 1:len(s) - 1], s[n:]))
    return dict(ids=ids, pos=pos, parent=parent, img=img, state=state, items=items)


def allow_matrix(parent, N):
    """[N][N] bool: row i True at i's ancestors and i (nodes come after their parents)."""
    a = np.zeros((N, N), dtype=bool)
    for i, p in enumerate(parent):
        if p >= 0:
            a[i] = a[p]
        a[i, i] = True
    for i in range(len(parent), N):  # padding: itself only
        a[i, i] = True
    return a
