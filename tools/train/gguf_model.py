"""gguf_model.py - the default model read back from its three exported GGUF
files (export.py writes them): the PyTorch model with the files' weights, its
config, tokenizer and state layout. The references (tests/default_model_ref.py)
run it against Ember; train.py --init starts a run from it."""
import numpy as np
import torch

import gguf_read
import model as M
import tok


def strs(a):
    return [x.decode("utf-8") if isinstance(x, bytes) else x for x in a]


def load(model_path, mmproj_path, state_path):
    """-> (net in eval mode, config, tok.Tokenizer, state field names)."""
    g, v, s = gguf_read.GGUF(model_path), gguf_read.GGUF(mmproj_path), gguf_read.GGUF(state_path)
    kv, vk, sk = g.kv, v.kv, s.kv
    c = dict(M.DEFAULT)
    c.update(dim=int(kv["llama.embedding_length"]), layers=int(kv["llama.block_count"]), ff=int(kv["llama.feed_forward_length"]),
             heads=int(kv["llama.attention.head_count"]), kv_heads=int(kv["llama.attention.head_count_kv"]),
             rope_base=float(kv["llama.rope.freq_base"]), norm_eps=float(kv["llama.attention.layer_norm_rms_epsilon"]),
             ctx=int(kv["llama.context_length"]),
             vocab=len(kv["tokenizer.ggml.tokens"]), image=int(vk["clip.vision.image_size"]), patch=int(vk["clip.vision.patch_size"]),
             vit_dim=int(vk["clip.vision.embedding_length"]), vit_layers=int(vk["clip.vision.block_count"]),
             vit_heads=int(vk["clip.vision.attention.head_count"]), vit_ff=int(vk["clip.vision.feed_forward_length"]),
             scale_factor=int(vk["clip.vision.projector.scale_factor"]), vit_eps=float(vk["clip.vision.attention.layer_norm_epsilon"]),
             state_hidden=int(sk["ember.state.hidden_length"]), state_k=int(sk["ember.state.tokens"]),
             n_state=len(sk["ember.state.fields"]))
    net = M.Model(c, list(sk["ember.state.mean"]), list(sk["ember.state.scale"]))
    files = {"text": g, "mmproj": v, "state": s}
    sd = {mine: torch.from_numpy(np.array(files[f].tensor(theirs), dtype=np.float32))
          for f, pairs in M.gguf_names(c).items() for mine, theirs in pairs}
    sd["state.mean"], sd["state.scale"] = net.state.mean, net.state.scale
    net.load_state_dict(sd, strict=True)
    net.eval()
    tk = tok.Tokenizer(strs(kv["tokenizer.ggml.tokens"]), [tuple(m.split(" ")) for m in strs(kv["tokenizer.ggml.merges"])])
    return net, c, tk, strs(sk["ember.state.fields"])
