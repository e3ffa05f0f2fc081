#!/usr/bin/python3
"""export.py - a training run's checkpoint to the three GGUF files Ember
loads through the same paths as published models:

  /usr/bin/python3 tools/train/export.py --run RUN --out assets/ [--name ember-tiny-palme]

  NAME.gguf          the text model: general.architecture "llama", a
                     byte-level BPE vocabulary (tokenizer.ggml.model "gpt2",
                     pre "smollm"), ChatML template; loads in llama.cpp too
  NAME-mmproj.gguf   the vision projector: clip, projector_type "idefics3"
  NAME-state.gguf    the state encoder: "ember-state" (projector/STATE_FORMAT.md)

All weights F32: the whole model is about 13 MB, well under the 30 MB budget,
and F32 keeps PyTorch, Ember and llama.cpp on the same numbers."""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_write as G  # noqa: E402
import model as M  # noqa: E402
import tok  # noqa: E402

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def load(run):
    ck = torch.load(os.path.join(run, "ckpt.pt"))
    c = ck["config"]
    net = M.Model(c, c["state_mean"], c["state_scale"])
    net.load_state_dict(ck["model"])
    net.eval()
    return net, c, tok.Tokenizer.from_json(ck["tokenizer"]), ck["step"]


def np_(t):
    return t.detach().float().cpu().numpy()


def tensors(w, net, pairs):
    sd = net.state_dict()
    for mine, theirs in pairs:
        w.tensor(theirs, np_(sd[mine]))


def export(net, c, tk, out, name, step):
    os.makedirs(out, exist_ok=True)
    names = M.gguf_names(c)
    desc = f"{name}: Ember's default embodied model, trained on the simulated tabletop (step {step})"
    # ---- text model
    w = G.Writer()
    hd = c["dim"] // c["heads"]
    w.add("general.architecture", G.STR, "llama")
    w.add("general.name", G.STR, name)
    w.add("general.description", G.STR, desc)
    w.add("general.file_type", G.U32, 0)
    w.add("llama.context_length", G.U32, c["ctx"])
    w.add("llama.embedding_length", G.U32, c["dim"])
    w.add("llama.block_count", G.U32, c["layers"])
    w.add("llama.feed_forward_length", G.U32, c["ff"])
    w.add("llama.attention.head_count", G.U32, c["heads"])
    w.add("llama.attention.head_count_kv", G.U32, c["kv_heads"])
    w.add("llama.rope.freq_base", G.F32, c["rope_base"])
    w.add("llama.rope.dimension_count", G.U32, hd)
    w.add("llama.attention.layer_norm_rms_epsilon", G.F32, c["norm_eps"])
    w.add("llama.vocab_size", G.U32, len(tk.tokens))
    w.add("tokenizer.ggml.model", G.STR, "gpt2")
    w.add("tokenizer.ggml.pre", G.STR, "smollm")
    w.add("tokenizer.ggml.tokens", G.ARR, tk.tokens, G.STR)
    w.add("tokenizer.ggml.token_type", G.ARR, [3 if t in tk.special else 1 for t in tk.tokens], G.I32)
    w.add("tokenizer.ggml.merges", G.ARR, [a + " " + b for a, b in tk.merges], G.STR)
    w.add("tokenizer.ggml.bos_token_id", G.U32, tk.special["<|im_start|>"])
    w.add("tokenizer.ggml.eos_token_id", G.U32, tk.special["<|im_end|>"])
    w.add("tokenizer.ggml.padding_token_id", G.U32, tk.special["<|endoftext|>"])
    w.add("tokenizer.ggml.add_bos_token", G.BOOL, False)
    w.add("tokenizer.chat_template", G.STR, CHATML)
    tensors(w, net, names["text"])
    w.write(os.path.join(out, name + ".gguf"))
    # ---- vision projector
    w = G.Writer()
    w.add("general.architecture", G.STR, "clip")
    w.add("general.name", G.STR, name + "-mmproj")
    w.add("general.description", G.STR, desc)
    w.add("clip.has_vision_encoder", G.BOOL, True)
    w.add("clip.projector_type", G.STR, "idefics3")
    w.add("clip.use_gelu", G.BOOL, True)
    w.add("clip.vision.image_size", G.U32, c["image"])
    w.add("clip.vision.patch_size", G.U32, c["patch"])
    w.add("clip.vision.embedding_length", G.U32, c["vit_dim"])
    w.add("clip.vision.feed_forward_length", G.U32, c["vit_ff"])
    w.add("clip.vision.block_count", G.U32, c["vit_layers"])
    w.add("clip.vision.attention.head_count", G.U32, c["vit_heads"])
    w.add("clip.vision.attention.layer_norm_epsilon", G.F32, c["vit_eps"])
    w.add("clip.vision.projection_dim", G.U32, c["dim"])
    w.add("clip.vision.projector.scale_factor", G.U32, c["scale_factor"])
    w.add("clip.vision.preproc_image_size", G.U32, c["image"])
    # the layout the trainer feeds (data.py: the frame as a 1 x 1 grid plus the
    # overview) is llama.cpp's Idefics3 preprocessing, not transformers'
    w.add("ember.vision.image_resize", G.STR, "llamacpp")
    w.add("clip.vision.image_mean", G.ARR, [0.5, 0.5, 0.5], G.F32)
    w.add("clip.vision.image_std", G.ARR, [0.5, 0.5, 0.5], G.F32)
    tensors(w, net, names["mmproj"])
    w.write(os.path.join(out, name + "-mmproj.gguf"))
    # ---- state encoder
    w = G.Writer()
    w.add("general.architecture", G.STR, "ember-state")
    w.add("general.name", G.STR, name + "-state")
    w.add("ember.state.fields", G.ARR, c["layout"], G.STR)
    w.add("ember.state.mean", G.ARR, c["state_mean"], G.F32)
    w.add("ember.state.scale", G.ARR, c["state_scale"], G.F32)
    w.add("ember.state.tokens", G.U32, c["state_k"])
    w.add("ember.state.embedding_length", G.U32, c["dim"])
    w.add("ember.state.hidden_length", G.U32, c["state_hidden"])
    w.add("ember.state.layers", G.U32, 1)
    w.add("ember.state.activation", G.STR, "gelu")
    tensors(w, net, names["state"])
    w.write(os.path.join(out, name + "-state.gguf"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", default="ember-tiny-palme")
    a = ap.parse_args()
    net, c, tk, step = load(a.run)
    export(net, c, tk, a.out, a.name, step)
    print(f"export: step {step} -> {a.out}/{a.name}{{,-mmproj,-state}}.gguf", file=sys.stderr)


if __name__ == "__main__":
    main()
