"""model.py - the default model in PyTorch: the architecture Ember runs, so
the trained weights export one to one (export.py):

  ViT      SigLIP: Conv2d(3, D, P, stride P) + bias, + learned position
           embeddings, pre-norm blocks (LayerNorm; attention with biases,
           scale 1/sqrt(head_dim), no mask; LayerNorm, fc1, GELU tanh, fc2),
           a final LayerNorm                       -> mmproj v.*
  connector Idefics3: pixel shuffle by sf, bias-free linear to the text width
                                                  -> mmproj mm.model.fc
  state    (v - mean) / scale, GELU (tanh) MLP, k rows of the text width
                                                  -> ember-state GGUF
  decoder  LLaMA: RMSNorm, RoPE on adjacent pairs (GGUF's layout, so no
           permutation at export), GQA, SwiGLU, tied output embedding
                                                  -> llama GGUF
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT = dict(
    image=320, patch=16, vit_dim=128, vit_layers=4, vit_heads=4, vit_ff=512, scale_factor=2,
    dim=192, layers=4, heads=3, kv_heads=3, ff=512, vocab=1536, ctx=2048, rope_base=10000.0,
    norm_eps=1e-5, vit_eps=1e-6, state_hidden=128, state_k=4, n_state=33,
)


class ViT(nn.Module):
    def __init__(self, c):
        super().__init__()
        D = c["vit_dim"]
        self.c = c
        self.patch = nn.Conv2d(3, D, c["patch"], stride=c["patch"])
        n = (c["image"] // c["patch"]) ** 2
        self.pos = nn.Parameter(torch.randn(n, D) * 0.02)
        self.blocks = nn.ModuleList()
        for _ in range(c["vit_layers"]):
            b = nn.Module()
            b.ln1, b.ln2 = nn.LayerNorm(D, eps=c["vit_eps"]), nn.LayerNorm(D, eps=c["vit_eps"])
            b.q, b.k, b.v, b.o = (nn.Linear(D, D) for _ in range(4))
            b.up, b.down = nn.Linear(D, c["vit_ff"]), nn.Linear(c["vit_ff"], D)
            self.blocks.append(b)
        self.post_ln = nn.LayerNorm(D, eps=c["vit_eps"])

    def forward(self, pix):  # [n][3][S][S] normalised -> [n][patches][D]
        x = self.patch(pix).flatten(2).transpose(1, 2) + self.pos
        n, T, D = x.shape
        H = self.c["vit_heads"]
        hd = D // H
        for b in self.blocks:
            h = b.ln1(x)
            q, k, v = (f(h).view(n, T, H, hd).transpose(1, 2) for f in (b.q, b.k, b.v))
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1) @ v
            x = x + b.o(a.transpose(1, 2).reshape(n, T, D))
            x = x + b.down(F.gelu(b.up(b.ln2(x)), approximate="tanh"))
        return self.post_ln(x)


def pixel_shuffle(x, sf):
    """HF Idefics3Connector.pixel_shuffle: [n][seq][D] -> [n][seq/sf^2][D*sf^2]."""
    n, seq, D = x.shape
    h = w = int(round(math.sqrt(seq)))
    x = x.reshape(n, h, w // sf, D * sf).permute(0, 2, 1, 3)
    x = x.reshape(n, w // sf, h // sf, D * sf * sf).permute(0, 2, 1, 3)
    return x.reshape(n, seq // (sf * sf), D * sf * sf)


class StateEnc(nn.Module):
    def __init__(self, c, mean, scale):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        self.fc0 = nn.Linear(c["n_state"], c["state_hidden"])
        self.out = nn.Linear(c["state_hidden"], c["state_k"] * c["dim"])
        self.k, self.dim = c["state_k"], c["dim"]

    def forward(self, v):  # [n][n_state] -> [n][k][dim]
        h = F.gelu(self.fc0((v - self.mean) / self.scale), approximate="tanh")
        return self.out(h).view(-1, self.k, self.dim)


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        d, hd = c["dim"], c["dim"] // c["heads"]
        self.embed = nn.Embedding(c["vocab"], d)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.blocks = nn.ModuleList()
        for _ in range(c["layers"]):
            b = nn.Module()
            b.attn_norm, b.ffn_norm = RMSNorm(d, c["norm_eps"]), RMSNorm(d, c["norm_eps"])
            b.q = nn.Linear(d, c["heads"] * hd, bias=False)
            b.k = nn.Linear(d, c["kv_heads"] * hd, bias=False)
            b.v = nn.Linear(d, c["kv_heads"] * hd, bias=False)
            b.o = nn.Linear(c["heads"] * hd, d, bias=False)
            b.gate = nn.Linear(d, c["ff"], bias=False)
            b.up = nn.Linear(d, c["ff"], bias=False)
            b.down = nn.Linear(c["ff"], d, bias=False)
            self.blocks.append(b)
        self.norm = RMSNorm(d, c["norm_eps"])
        i = torch.arange(hd // 2, dtype=torch.float64)
        self.register_buffer("inv_freq", (c["rope_base"] ** (-2.0 * i / hd)).float(), persistent=False)

    def rope(self, x, pos):  # x [B][H][T][hd], pos [T] or [B][T]; adjacent pairs
        th = pos[..., None].float() * self.inv_freq
        cos, sin = th.cos(), th.sin()
        if pos.dim() == 2:
            cos, sin = cos[:, None], sin[:, None]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        return torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).flatten(-2)

    def forward(self, x, pos=None, allow=None):
        """x [B][T][dim] input rows -> hidden [B][T][dim] (before the output
        product). By default one causal sequence per row; a packed batch
        (data.pack) gives each row's positions pos [B][T] and allow [B][T][T]
        (True where row i may attend to row j: its ancestors in the trie)."""
        B, T, d = x.shape
        H, KV = self.c["heads"], self.c["kv_heads"]
        hd = d // H
        if pos is None:
            pos = torch.arange(T, device=x.device)
            mask = torch.full((T, T), float("-inf"), device=x.device).triu(1)
        else:
            mask = torch.zeros(allow.shape, device=x.device).masked_fill(~allow, float("-inf"))[:, None]
        mask = mask.expand(B, H, T, T).reshape(B * H, T, T)  # once, not per layer
        for b in self.blocks:
            h = b.attn_norm(x)
            q = self.rope(b.q(h).view(B, T, H, hd).transpose(1, 2), pos)
            k = self.rope(b.k(h).view(B, T, KV, hd).transpose(1, 2), pos)
            v = b.v(h).view(B, T, KV, hd).transpose(1, 2)
            if KV != H:
                k = k.repeat_interleave(H // KV, dim=1)
                v = v.repeat_interleave(H // KV, dim=1)
            s = torch.baddbmm(mask, q.reshape(B * H, T, hd),
                              k.reshape(B * H, T, hd).transpose(1, 2), alpha=1 / math.sqrt(hd))
            a = torch.softmax(s, dim=-1).view(B, H, T, T) @ v
            x = x + b.o(a.transpose(1, 2).reshape(B, T, d))
            h = b.ffn_norm(x)
            x = x + b.down(F.silu(b.gate(h)) * b.up(h))
        return self.norm(x)

    def logits(self, h):
        return h @ self.embed.weight.t()


class Model(nn.Module):
    def __init__(self, c, state_mean, state_scale):
        super().__init__()
        self.c = c
        self.vit = ViT(c)
        self.fc = nn.Linear(c["vit_dim"] * c["scale_factor"] ** 2, c["dim"], bias=False)
        self.state = StateEnc(c, state_mean, state_scale)
        self.lm = Llama(c)

    def image_rows(self, pix):  # [n][3][S][S] -> [n][tokens per tile][dim]
        return self.fc(pixel_shuffle(self.vit(pix), self.c["scale_factor"]))


def gguf_names(c):
    """The one map between this module's parameters and the exported files'
    tensors: {file: [(state_dict name, GGUF tensor name), ...]} for "text",
    "mmproj" and "state" (export.py writes by it, tests/default_model_ref.py
    reads back by it)."""
    text = [("lm.embed.weight", "token_embd.weight")]
    for i in range(c["layers"]):
        for mine, theirs in (("attn_norm", "attn_norm"), ("q", "attn_q"), ("k", "attn_k"), ("v", "attn_v"),
                             ("o", "attn_output"), ("ffn_norm", "ffn_norm"), ("gate", "ffn_gate"), ("up", "ffn_up"),
                             ("down", "ffn_down")):
            text.append((f"lm.blocks.{i}.{mine}.weight", f"blk.{i}.{theirs}.weight"))
    text.append(("lm.norm.weight", "output_norm.weight"))
    mmproj = [("vit.patch.weight", "v.patch_embd.weight"), ("vit.patch.bias", "v.patch_embd.bias"),
              ("vit.pos", "v.position_embd.weight")]
    for i in range(c["vit_layers"]):
        for mine, theirs in (("ln1", "ln1"), ("ln2", "ln2"), ("q", "attn_q"), ("k", "attn_k"), ("v", "attn_v"),
                             ("o", "attn_out"), ("up", "ffn_up"), ("down", "ffn_down")):
            for w in ("weight", "bias"):
                mmproj.append((f"vit.blocks.{i}.{mine}.{w}", f"v.blk.{i}.{theirs}.{w}"))
    mmproj += [("vit.post_ln.weight", "v.post_ln.weight"), ("vit.post_ln.bias", "v.post_ln.bias"),
               ("fc.weight", "mm.model.fc.weight")]
    state = [(f"state.{m}.{w}", f"state.{m}.{w}") for m in ("fc0", "out") for w in ("weight", "bias")]
    return {"text": text, "mmproj": mmproj, "state": state}
