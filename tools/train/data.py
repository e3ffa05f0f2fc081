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
