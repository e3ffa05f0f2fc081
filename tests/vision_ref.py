#!/usr/bin/python3
"""vision_ref.py - an independent PyTorch reference of Ember's SmolVLM (Idefics3)
image path, and the check of `ember run --dump` against it.

Written from the published architecture (SigLIP, HF Idefics3, LLaMA) and from
the preprocessing transformers and llama.cpp's mtmd apply to Idefics3
(tests/preprocess_ref.py); no code is shared with Ember. Float32 torch on the CPU throughout.

  preprocessing  S = clip.vision.image_size, L = clip.vision.preproc_image_size,
                 in the mode Ember ran with (--image-resize; the projector's
                 ember.vision.image_resize, transformers when absent): the
                 references of tests/preprocess_ref.py, transformers' Idefics3
                 processor with Pillow's LANCZOS or mainline llama.cpp's mtmd
                 ported operation by operation. Grid tiles row-major, the
                 global image / overview last; planar [3][S][S].
  vision         SigLIP: Conv2d(3, D, P, stride P) + bias, patches row-major,
                 + learned position embeddings; pre-norm blocks (LayerNorm,
                 attention with biases and scale 1/sqrt(head_dim), no mask;
                 LayerNorm, fc1, GELU (tanh), fc2), then a final LayerNorm.
  connector      Idefics3: pixel shuffle by sf (HF Idefics3Connector), then the
                 bias-free linear mm.model.fc to the text model's n_embd.
  text           LLaMA: RMSNorm, RoPE "normal" (adjacent pairs), GQA, SwiGLU,
                 causal attention, fp32 KV; image positions take the projected
                 rows in place of token embeddings.

Activations are rounded to the weight's dot type before each product (F16 for
F16 weights, Q8_0 blocks for Q8_0 and Q4_0 weights), as llama.cpp and Ember's
CPU backend do; --exact-act turns that off (plain fp32 activations).

Commands:
  vision_ref.py selftest [--model M --mmproj P]
      pixel shuffle against a brute-force index formula, the resizers on
      hand-checked values, the PNG writer/reader, and (given files written by
      mkmodel/mkmmproj) the GGUF reader, its dequantization and a forward pass.
  vision_ref.py image OUT.png W H [--seed N]
      write a deterministic 8-bit RGB test image (gradients, blocks, noise).
  vision_ref.py check --model M --mmproj P --image IMG.png --dump DIR
      compare DIR (written by `ember run ... --dump DIR`) with the reference:
        DIR/pixels.f32  [n_tiles][3][S][S] float32 LE, grid tiles row-major, overview last
        DIR/vit.f32     [n_tiles][(S/P)^2][D]  post-LayerNorm ViT outputs
        DIR/proj.f32    [n_tiles][(S/P/sf)^2][n_embd_text]
        DIR/prompt.json {"tokens": [...], "embd_rows": [...], "grid": [gx, gy],
                         "n_tiles": n, "answer": [...]}
  vision_ref.py run --model M --mmproj P --image IMG.png --tokens "IDS" [-n N] [--dump DIR]
      the reference alone: IDS is the prompt with -1 where the image block goes;
      prints the greedy answer, and writes DIR in the dump format above.

Tolerances of `check` (each can be overridden by its option):
  pixels  |diff| <= 1e-5, except at most 0.1% of values that may differ by one
          8-bit level (1/255/std + 1e-5): the bicubic resize rounds a float
          cubic to 8 bits, and an FMA or another operation order moves a value
          sitting on .5 to the next level.
  vit     max|diff| / max|ref| <= 2e-3 for F32/F16 matrices, 1e-2 with Q8_0: the
          reference and Ember differ by summation order, and where a 1-ulp
          difference flips the rounding of one activation to F16 or to a Q8_0
          block (1/254 of the block's largest value for Q8_0), the error carries
          through the remaining blocks. The bounds hold with --exact-act as well
          (the rounding itself is then the difference), so an Ember backend
          that keeps activations in fp32 passes too.
  proj    the same bounds as vit.
  answer  Ember's greedy tokens are followed (teacher forcing), and at every
          step Ember's token must be the reference's argmax, or within
          --tol-margin (default 0.05 in logits, with logits of std ~1-2 in these
          models) of it: a near-tie, which numerics may break either way.
"""
import json
import math
import os
import struct
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "train"))  # gguf_read
import gguf_read  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from preprocess_ref import Report, preprocess, test_image  # noqa: E402  (exits 77 without python3-pil)

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("SKIP: python3 torch is not installed (Debian: python3-torch)")
    sys.exit(77)

f32 = np.float32
torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))

# ------------------------------------------------------------------ PNG


def png_write(path, img):
    """img: uint8 [h][w][3]. 8-bit RGB, filter 0 on every row."""
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def png_read(path):
    """8-bit RGB or RGBA (alpha dropped, as a 3-channel load does), not interlaced."""
    with open(path, "rb") as f:
        b = f.read()
    if b[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, hdr = 8, [], None
    while pos < len(b):
        n, kind = struct.unpack(">I4s", b[pos:pos + 8])
        data = b[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat.append(data)
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f"{path}: PNG depth {depth} color type {ctype} interlace {interlace}: "
                         "only 8-bit RGB/RGBA, not interlaced")
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1).astype(np.int32)
        cur = np.zeros(stride, dtype=np.int32)
        if ft == 0:
            cur = line
        elif ft == 2:
            cur = (line + prev) & 255
        else:  # 1 (sub), 3 (average), 4 (Paeth) depend on the pixel to the left
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                c = prev[i - bpp] if i >= bpp else 0
                if ft == 1:
                    p = a
                elif ft == 3:
                    p = (a + prev[i]) >> 1
                elif ft == 4:
                    pa, pb, pc = abs(prev[i] - c), abs(a - c), abs(a + prev[i] - 2 * c)
                    p = a if pa <= pb and pa <= pc else (prev[i] if pb <= pc else c)
                else:
                    raise ValueError(f"{path}: row {y}: filter type {ft}")
                cur[i] = (line[i] + p) & 255
        out[y] = cur
        prev = cur
    return out.reshape(h, w, bpp)[:, :, :3].copy()


# ------------------------------------------------------------------ products in the weights' dot types

# Debian's torch links the reference BLAS (about 2 GFLOPS here), but its oneDNN
# convolutions run at 30+; a product is therefore computed as a 1x1 convolution
# (groups for batches), in fp32 all the same. EMBER_REF_MATMUL=1 uses plain
# torch.matmul instead (the self-test compares the two).
USE_CONV = torch.backends.mkldnn.is_available() and os.environ.get("EMBER_REF_MATMUL") != "1"


def mm_nt(a, b):
    """a [G][T][K] @ b[G][M][K]^T -> [G][T][M]; 2-D operands are one group."""
    if a.dim() == 2:
        return mm_nt(a[None], b[None])[0]
    if not USE_CONV:
        return a @ b.transpose(-1, -2)
    G, T, K = a.shape
    M = b.shape[1]
    x = a.permute(0, 2, 1).reshape(1, G * K, T, 1)
    y = F.conv2d(x, b.reshape(G * M, K, 1, 1), groups=G)
    return y.view(G, M, T).transpose(1, 2)



class Lin:
    """A weight matrix [out][in] (float32, dequantized) with its storage type,
    which decides how activations are rounded before the product."""

    def __init__(self, g, name, exact_act, as_bf16=False):
        self.w = torch.from_numpy(g.tensor(name).copy())
        self.type = g.type_of(name)
        self.exact = exact_act
        if as_bf16 and self.type == gguf_read.GGML_F16:   # Ember's --vision-weights bf16
            self.w, self.type = self.w.bfloat16().float(), gguf_read.GGML_BF16

    def __call__(self, x, bias=None):
        x = round_act(x, self.type, self.exact)
        y = mm_nt(x.reshape(-1, x.shape[-1]), self.w).reshape(*x.shape[:-1], self.w.shape[0])
        return y if bias is None else y + bias


def round_act(x, wtype, exact=False):
    """x rounded to the dot type of weights of type wtype (llama.cpp's
    vec_dot_type): F16 -> F16, BF16 -> BF16, Q8_0 and Q4_0 -> Q8_0 blocks of 32
    with d = amax/127 stored as fp16 and q = round-half-even(x * 127/amax)."""
    if exact or wtype == gguf_read.GGML_F32:
        return x
    if wtype == gguf_read.GGML_F16:
        return x.half().float()
    if wtype == gguf_read.GGML_BF16:
        return x.bfloat16().float()
    if wtype in (gguf_read.GGML_Q8_0, gguf_read.GGML_Q4_0):
        shp = x.shape
        b = x.reshape(-1, shp[-1] // 32, 32)
        amax = b.abs().amax(dim=-1, keepdim=True)
        d = amax / 127.0
        inv = torch.where(amax > 0, 127.0 / amax, torch.zeros_like(amax))
        q = torch.round(b * inv)
        return (q * d.half().float()).reshape(shp)
    raise ValueError(f"weight type {wtype}: no dot type known")

# ------------------------------------------------------------------ the vision encoder and connector


class Vision:
    def __init__(self, path, exact_act=False, weights="stored"):
        g = self.g = gguf_read.GGUF(path)
        kv = g.kv
        bf = weights == "bf16"
        if kv.get("general.architecture") != "clip" or kv.get("clip.projector_type") != "idefics3":
            raise ValueError(f"{path}: not an idefics3 clip mmproj (architecture {kv.get('general.architecture')}, "
                             f"projector {kv.get('clip.projector_type')})")
        self.S = int(kv["clip.vision.image_size"])
        self.P = int(kv["clip.vision.patch_size"])
        self.D = int(kv["clip.vision.embedding_length"])
        self.FF = int(kv["clip.vision.feed_forward_length"])
        self.n_layer = int(kv["clip.vision.block_count"])
        self.n_head = int(kv["clip.vision.attention.head_count"])
        self.eps = float(kv["clip.vision.attention.layer_norm_epsilon"])
        self.sf = int(kv["clip.vision.projector.scale_factor"])
        self.L = int(kv.get("clip.vision.preproc_image_size", self.S))
        self.resize = kv.get("ember.vision.image_resize", "transformers")
        self.n_embd_text = int(kv["clip.vision.projection_dim"])
        self.mean = np.asarray(kv["clip.vision.image_mean"], dtype=f32)
        self.std = np.asarray(kv["clip.vision.image_std"], dtype=f32)
        self.side = self.S // self.P
        self.n_pos = self.side * self.side
        self.tpt = (self.side // self.sf) ** 2   # tokens per tile
        t = lambda n: torch.from_numpy(g.tensor(n).copy())  # noqa: E731
        self.patch_w, self.patch_b = t("v.patch_embd.weight"), t("v.patch_embd.bias")
        self.patch_type = g.type_of("v.patch_embd.weight")
        self.pos = t("v.position_embd.weight")
        self.exact = exact_act
        self.layers = []
        for i in range(self.n_layer):
            p = f"v.blk.{i}."
            L = {k: Lin(g, p + k + ".weight", exact_act, bf) for k in ("attn_q", "attn_k", "attn_v", "attn_out", "ffn_up", "ffn_down")}
            for k in ("attn_q", "attn_k", "attn_v", "attn_out", "ffn_up", "ffn_down", "ln1", "ln2"):
                L[k + ".b"] = t(p + k + ".bias")
            L["ln1.w"], L["ln2.w"] = t(p + "ln1.weight"), t(p + "ln2.weight")
            self.layers.append(L)
        self.post_w, self.post_b = t("v.post_ln.weight"), t("v.post_ln.bias")
        self.fc = Lin(g, "mm.model.fc.weight", exact_act, bf)
        assert self.patch_w.shape == (self.D, 3, self.P, self.P), self.patch_w.shape
        assert self.pos.shape == (self.n_pos, self.D), self.pos.shape
        assert self.fc.w.shape == (self.n_embd_text, self.D * self.sf * self.sf), self.fc.w.shape

    def encode(self, pixels):
        """pixels [n][3][S][S] -> post-LayerNorm outputs [n][n_pos][D]."""
        x = torch.from_numpy(pixels)
        x = round_act(x, self.patch_type, self.exact)            # im2col in the kernel's type
        x = F.conv2d(x, self.patch_w, self.patch_b, stride=self.P)  # [n][D][side][side]
        x = x.flatten(2).transpose(1, 2) + self.pos              # [n][n_pos][D], index py*side + px
        n, hd = x.shape[0], self.D // self.n_head
        for L in self.layers:
            h = F.layer_norm(x, (self.D,), L["ln1.w"], L["ln1.b"], self.eps)
            heads = lambda t: t.view(n, self.n_pos, self.n_head, hd).transpose(1, 2).reshape(n * self.n_head, self.n_pos, hd)  # noqa: E731
            q = heads(L["attn_q"](h, L["attn_q.b"]))
            k = heads(L["attn_k"](h, L["attn_k.b"]))
            v = heads(L["attn_v"](h, L["attn_v.b"]))
            p = torch.softmax(mm_nt(q, k) * (1.0 / math.sqrt(hd)), dim=-1)   # [n*H][q][k]
            a = mm_nt(p, v.transpose(1, 2))                                    # [n*H][q][hd]
            a = a.view(n, self.n_head, self.n_pos, hd).transpose(1, 2).reshape(n, self.n_pos, self.D)
            x = x + L["attn_out"](a, L["attn_out.b"])
            h = F.layer_norm(x, (self.D,), L["ln2.w"], L["ln2.b"], self.eps)
            h = F.gelu(L["ffn_up"](h, L["ffn_up.b"]), approximate="tanh")
            x = x + L["ffn_down"](h, L["ffn_down.b"])
        return F.layer_norm(x, (self.D,), self.post_w, self.post_b, self.eps)

    def project(self, vit):
        """[n][n_pos][D] -> [n][tpt][n_embd_text]: pixel shuffle, then mm.model.fc."""
        return self.fc(pixel_shuffle(vit, self.sf))


def pixel_shuffle(x, sf):
    """HF Idefics3Connector.pixel_shuffle on [n][seq][D] -> [n][seq/sf^2][D*sf^2]."""
    n, seq, D = x.shape
    h = w = int(round(math.sqrt(seq)))
    x = x.view(n, h, w, D)
    x = x.view(n, h, w // sf, D * sf)
    x = x.permute(0, 2, 1, 3)
    x = x.reshape(n, w // sf, h // sf, D * sf * sf)
    x = x.permute(0, 2, 1, 3)
    return x.reshape(n, seq // (sf * sf), D * sf * sf)

# ------------------------------------------------------------------ the text decoder


class Llama:
    def __init__(self, path, exact_act=False):
        g = self.g = gguf_read.GGUF(path)
        kv = g.kv
        arch = kv.get("general.architecture")
        if arch != "llama":
            raise ValueError(f"{path}: architecture {arch}, expected llama")
        self.dim = int(kv["llama.embedding_length"])
        self.n_layer = int(kv["llama.block_count"])
        self.n_head = int(kv["llama.attention.head_count"])
        self.n_head_kv = int(kv.get("llama.attention.head_count_kv", self.n_head))
        self.hd = self.dim // self.n_head
        self.n_rot = int(kv.get("llama.rope.dimension_count", self.hd))
        self.base = float(kv.get("llama.rope.freq_base", 10000.0))
        self.eps = float(kv["llama.attention.layer_norm_rms_epsilon"])
        t = lambda n: torch.from_numpy(g.tensor(n).copy())  # noqa: E731
        self.tok_embd = t("token_embd.weight")                  # [n_vocab][dim]
        self.n_vocab = self.tok_embd.shape[0]
        self.layers = []
        for i in range(self.n_layer):
            p = f"blk.{i}."
            L = {k: Lin(g, p + k + ".weight", exact_act)
                 for k in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")}
            L["attn_norm"], L["ffn_norm"] = t(p + "attn_norm.weight"), t(p + "ffn_norm.weight")
            self.layers.append(L)
        self.out_norm = t("output_norm.weight")
        self.output = Lin(g, "output.weight" if "output.weight" in g.tensors else "token_embd.weight", exact_act)

    def rmsnorm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def rope(self, x, pos):
        """x [T][H][hd]: pairs (x[2i], x[2i+1]), i < n_rot/2, rotated by pos * base^(-2i/n_rot)."""
        i = torch.arange(self.n_rot // 2, dtype=torch.float64)
        theta = pos.to(torch.float64)[:, None] * self.base ** (-2.0 * i / self.n_rot)[None, :]
        cos, sin = theta.cos().float()[:, None, :], theta.sin().float()[:, None, :]
        r = x[..., :self.n_rot]
        x0, x1 = r[..., 0::2], r[..., 1::2]
        out = torch.stack([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1).flatten(-2)
        return torch.cat([out, x[..., self.n_rot:]], dim=-1)

    def embed(self, tokens, embd_rows, proj_rows):
        """Rows of the prompt: token embeddings, or proj_rows[r] where embd_rows >= 0."""
        x = self.tok_embd[torch.tensor(tokens, dtype=torch.long)].clone()
        for i, r in enumerate(embd_rows):
            if r >= 0:
                x[i] = proj_rows[r]
        return x

    def forward(self, x):
        """x [T][dim] input rows at positions 0..T-1 -> logits [T][n_vocab]."""
        T = x.shape[0]
        pos = torch.arange(T)
        mask = torch.full((T, T), float("-inf")).triu(1)
        rep = self.n_head // self.n_head_kv
        for L in self.layers:
            h = self.rmsnorm(x, L["attn_norm"])
            q = self.rope(L["attn_q"](h).view(T, self.n_head, self.hd), pos)
            k = self.rope(L["attn_k"](h).view(T, self.n_head_kv, self.hd), pos)
            v = L["attn_v"](h).view(T, self.n_head_kv, self.hd)
            # query head j reads key/value head j // rep
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
            q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)   # [H][T][hd]
            s = mm_nt(q, k) * (1.0 / math.sqrt(self.hd)) + mask
            a = mm_nt(torch.softmax(s, dim=-1), v.transpose(1, 2)).transpose(0, 1).reshape(T, self.dim)
            x = x + L["attn_output"](a)
            h = self.rmsnorm(x, L["ffn_norm"])
            x = x + L["ffn_down"](F.silu(L["ffn_gate"](h)) * L["ffn_up"](h))
        return self.output(self.rmsnorm(x, self.out_norm))

    def greedy(self, x, n, eog=()):
        """Greedy continuation of the rows x: up to n tokens, stopping after an EOG token."""
        out = []
        for _ in range(n):
            tok = int(self.forward(x)[-1].argmax())
            out.append(tok)
            if tok in eog:
                break
            x = torch.cat([x, self.tok_embd[tok][None]], dim=0)
        return out

# ------------------------------------------------------------------ vocabulary and the image token layout


def _gpt2_byte_decoder():
    """GPT-2's byte-level BPE alphabet: printable bytes stand for themselves,
    the others (0-32, 127-160, 173) map to code points 256 upward, in order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cps, n = {}, 0
    for b in range(256):
        if b in keep:
            cps[b] = b
        else:
            cps[b] = 256 + n
            n += 1
    return {chr(c): b for b, c in cps.items()}


class Vocab:
    CONTROL = 3

    def __init__(self, g):
        self.strs = g.tokens()
        self.types = g.kv.get("tokenizer.ggml.token_type")
        self.model = g.kv.get("tokenizer.ggml.model", "gpt2")
        self.ids = {}
        for i, s in enumerate(self.strs):
            self.ids.setdefault(s, i)
        self._dec = _gpt2_byte_decoder()
        eos = g.kv.get("tokenizer.ggml.eos_token_id")
        self.eog = {eos} if eos is not None else set()
        for s in (b"<end_of_utterance>", b"<|im_end|>", b"<|endoftext|>"):
            if s in self.ids:
                self.eog.add(self.ids[s])

    def special(self, text):
        i = self.ids.get(text.encode())
        if i is None:
            raise ValueError(f"the vocabulary has no token {text}")
        return i

    def piece(self, i):
        """The bytes a token stands for."""
        s = self.strs[i]
        if self.types is not None and self.types[i] == self.CONTROL:
            return s
        if self.model == "gpt2":
            t = s.decode("utf-8", "replace")
            return bytes(self._dec.get(c, ord("?")) for c in t)
        if len(s) == 6 and s.startswith(b"<0x") and s.endswith(b">"):
            return bytes([int(s[3:5], 16)])
        return s.replace("\u2581".encode(), b" ")

    def text_token(self, text):
        """The non-control token whose text is exactly `text` (as llama.cpp's
        lookup of "\\n" and "\\n\\n" finds it)."""
        want = text.encode()
        for i in range(len(self.strs)):
            if (self.types is None or self.types[i] != self.CONTROL) and self.piece(i) == want:
                return i
        raise ValueError(f"the vocabulary has no token for {text!r}")

    def name(self, i):
        if i < 0 or i >= len(self.strs):
            return f"<id {i}>"
        return repr(self.piece(i).decode("utf-8", "replace"))


def image_block(vocab, grid, tpt):
    """The tokens and embd_rows of one image, as llama.cpp's mtmd lays out
    Idefics3: per grid row r and column c (1-based) <fake_token_around_image>
    <row_r_col_c> and tpt image rows; "\\n" after each row but the last; then
    "\\n\\n" <fake_token_around_image> <global-img>, the overview's tpt rows,
    <fake_token_around_image>; an image of one tile (grid 0 x 0) only the
    last three. Image rows carry the <image> token id."""
    gx, gy = grid
    fake, glob, img = vocab.special("<fake_token_around_image>"), vocab.special("<global-img>"), vocab.special("<image>")
    nl, nl2 = vocab.text_token("\n"), vocab.text_token("\n\n")
    toks, rows, r = [], [], 0

    def add_text(*ids):
        toks.extend(ids)
        rows.extend([-1] * len(ids))

    def add_image():
        nonlocal r
        toks.extend([img] * tpt)
        rows.extend(range(r, r + tpt))
        r += tpt

    for y in range(gy):
        for x in range(gx):
            add_text(fake, vocab.special(f"<row_{y + 1}_col_{x + 1}>"))
            add_image()
        if y != gy - 1:
            add_text(nl)
    if gx * gy:
        add_text(nl2)
    add_text(fake, glob)  # a single tile (grid 0 x 0, transformers' layout): the global image alone
    add_image()
    add_text(fake)
    return toks, rows

# ------------------------------------------------------------------ the comparison with Ember's dump


def read_f32(path, shape):
    a = np.fromfile(path, dtype="<f4")
    n = int(np.prod(shape))
    if a.size != n:
        raise ValueError(f"{path}: {a.size} floats, expected {n} = {' x '.join(map(str, shape))}")
    return a.reshape(shape)


def compare_rel(rep, what, ember, ref, tol, per_tile=True):
    d = np.abs(ember.astype(np.float64) - ref.astype(np.float64))
    scale = float(np.abs(ref).max())
    rel = float(d.max()) / scale if scale > 0 else float(d.max())
    nmse = float((d ** 2).sum() / max(1e-30, (ref.astype(np.float64) ** 2).sum()))
    finite = bool(np.isfinite(ember).all())
    msg = f"{what}: max|diff| {d.max():.3g} / max|ref| {scale:.3g} = {rel:.3g} (tol {tol:g}), nmse {nmse:.3g}"
    if per_tile and ember.ndim >= 2:
        msg += "; per tile " + " ".join(f"{float(d[t].max()) / scale:.2g}" for t in range(ember.shape[0]))
    return rep.ok(finite and rel <= tol, msg)


def matrix_kind(vis):
    """The coarsest storage type among the encoder's matrices (sets the tolerance)."""
    ts = {L[k].type for L in vis.layers for k in ("attn_q", "attn_k", "attn_v", "attn_out", "ffn_up", "ffn_down")}
    ts.add(vis.fc.type)
    return ("quant" if ts & {gguf_read.GGML_Q8_0, gguf_read.GGML_Q4_0} else
            "bf16" if gguf_read.GGML_BF16 in ts else "float")


def resize_mode(a, vis):
    """The preprocessing Ember ran with: --image-resize, else the projector's."""
    return vis.resize if a.image_resize == "auto" else a.image_resize


def cmd_check(a):
    rep = Report()
    vis = Vision(a.mmproj, a.exact_act, a.vision_weights)
    lm = Llama(a.model, a.exact_act)
    vocab = Vocab(lm.g)
    img = png_read(a.image)
    S, D = vis.S, vis.D
    mode, L = resize_mode(a, vis), a.longest_edge or vis.L
    pix, grid, _ = preprocess(img, S, L, vis.mean, vis.std, mode)
    n_tiles = pix.shape[0]
    print(f"image {a.image}: {img.shape[1]}x{img.shape[0]}, {mode} preprocessing (L {L}) -> grid {grid[0]}x{grid[1]} "
          f"+ {'overview' if mode == 'llamacpp' else 'global image'} = {n_tiles} tiles "
          f"of {S}x{S}; vision {matrix_kind(vis)} ({gguf_read.TYPE_NAMES.get(vis.fc.type)}), "
          f"text {gguf_read.TYPE_NAMES.get(lm.output.type)}, act rounding {'off' if a.exact_act else 'on'}")

    with open(os.path.join(a.dump, "prompt.json")) as f:
        pj = json.load(f)
    rep.ok(list(pj.get("grid", [])) == list(grid), f"grid: ember {pj.get('grid')}, reference {list(grid)}")
    rep.ok(pj.get("n_tiles") == n_tiles, f"n_tiles: ember {pj.get('n_tiles')}, reference {n_tiles}")
    if rep.failed:
        return 1

    # pixels
    e_pix = read_f32(os.path.join(a.dump, "pixels.f32"), pix.shape)
    d = np.abs(e_pix.astype(np.float64) - pix)
    level = 1.0 / 255.0 / float(vis.std.min()) + 1e-5
    off = d > a.tol_pixel
    frac = off.sum() / d.size
    where = ""
    if off.any():
        t, c, y, x = np.argwhere(off)[0]
        where = f"; first at tile {t} channel {c} (x {x}, y {y}): ember {e_pix[t, c, y, x]:.6f} ref {pix[t, c, y, x]:.6f}"
    rep.ok(d.max() <= level and frac <= a.max_off_frac,
           f"pixels: {off.sum()} of {d.size} values ({100 * frac:.4f}%) differ by more than {a.tol_pixel:g} "
           f"(allowed {100 * a.max_off_frac:g}%), max |diff| {d.max():.3g} (one 8-bit level = {level:.3g}){where}")

    # ViT and projector, each from the reference's own pixels
    with torch.no_grad():
        vit = vis.encode(pix)
        proj = vis.project(vit)
    # bf16 rounds as coarsely as a quantized type's activations (8-bit mantissa)
    quant = matrix_kind(vis) in ("quant", "bf16")
    tol_vit = a.tol_vit if a.tol_vit is not None else (1e-2 if quant else 2e-3)
    tol_proj = a.tol_proj if a.tol_proj is not None else tol_vit
    e_vit = read_f32(os.path.join(a.dump, "vit.f32"), (n_tiles, vis.n_pos, D))
    compare_rel(rep, "vit", e_vit, vit.numpy(), tol_vit)
    e_proj = read_f32(os.path.join(a.dump, "proj.f32"), (n_tiles, vis.tpt, vis.n_embd_text))
    compare_rel(rep, "proj", e_proj, proj.numpy(), tol_proj)

    # the prompt's image tokens
    toks, rows = list(pj["tokens"]), list(pj["embd_rows"])
    rep.ok(len(toks) == len(rows), f"prompt: {len(toks)} tokens, {len(rows)} embd_rows")
    bt, br = image_block(vocab, grid, vis.tpt)
    fake = vocab.special("<fake_token_around_image>")
    start = toks.index(fake) if fake in toks else -1
    if rep.ok(start >= 0, f"prompt: image block found at position {start} of {len(toks)}"):
        got_t, got_r = toks[start:start + len(bt)], rows[start:start + len(bt)]
        bad = [i for i in range(len(bt)) if i >= len(got_t) or got_t[i] != bt[i] or got_r[i] != br[i]]
        msg = f"prompt: image block of {len(bt)} tokens ({n_tiles} x {vis.tpt} image rows) in llama.cpp's Idefics3 layout"
        if bad:
            i = bad[0]
            gt = got_t[i] if i < len(got_t) else None
            gr = got_r[i] if i < len(got_r) else None
            msg += (f"; first difference at block offset {i}: ember token {gt} ({vocab.name(gt) if gt is not None else '-'}) "
                    f"row {gr}, expected {bt[i]} ({vocab.name(bt[i])}) row {br[i]}")
        rep.ok(not bad, msg)
        outside = [i for i in range(len(toks)) if not start <= i < start + len(bt) and rows[i] != -1]
        rep.ok(not outside, f"prompt: no image rows outside the block{'' if not outside else f' (found at {outside[:5]})'}")
    n_img = sum(1 for r in rows if r >= 0)
    rep.ok(n_img == n_tiles * vis.tpt, f"prompt: {n_img} image rows, expected {n_tiles * vis.tpt}")
    if rep.failed:
        print(f"vision_ref: {rep.failed} check(s) failed")
        return 1

    # the answer: Ember's prompt with the reference's own image rows, Ember's tokens followed
    answer = list(pj.get("answer", []))
    text = b"".join(vocab.piece(t) for t in toks if t != vocab.special("<image>")).decode("utf-8", "replace")
    print(f"prompt text (image rows left out): {text!r}")
    with torch.no_grad():
        x = lm.embed(toks + answer, rows + [-1] * len(answer), proj.reshape(-1, vis.n_embd_text))
        logits = lm.forward(x)[len(toks) - 1:]
    ref_greedy, worst = [], 0.0
    for k, t in enumerate(answer):
        lg = logits[k]
        top2 = torch.topk(lg, 2)
        best = int(top2.indices[0])
        ref_greedy.append(best)
        if t != best:
            gap = float(lg[best] - lg[t])
            worst = max(worst, gap)
            rep.ok(gap <= a.tol_margin,
                   f"answer step {k}: ember {t} ({vocab.name(t)}), reference {best} ({vocab.name(best)}); the reference "
                   f"prefers its token by {gap:.4g} logits (tol {a.tol_margin:g}; its top-2 margin "
                   f"{float(top2.values[0] - top2.values[1]):.4g})")
    ans_text = b"".join(vocab.piece(t) for t in answer).decode("utf-8", "replace")
    rep.ok(len(answer) > 0, f"answer: {len(answer)} tokens {answer} {ans_text!r}; reference argmax "
           f"{'the same' if ref_greedy == answer else ref_greedy} (worst gap {worst:.3g})")
    print(f"vision_ref: {'all checks passed' if not rep.failed else f'{rep.failed} check(s) failed'}")
    return 1 if rep.failed else 0

# ------------------------------------------------------------------ the reference alone


def cmd_run(a):
    vis = Vision(a.mmproj, a.exact_act, a.vision_weights)
    lm = Llama(a.model, a.exact_act)
    vocab = Vocab(lm.g)
    img = png_read(a.image)
    pix, grid, _ = preprocess(img, vis.S, a.longest_edge or vis.L, vis.mean, vis.std, resize_mode(a, vis))
    with torch.no_grad():
        vit = vis.encode(pix)
        proj = vis.project(vit)
        bt, br = image_block(vocab, grid, vis.tpt)
        toks, rows = [], []
        for t in (int(s) for s in a.tokens.split()):
            if t == -1:
                toks += bt
                rows += br
            else:
                toks.append(t)
                rows.append(-1)
        x = lm.embed(toks, rows, proj.reshape(-1, vis.n_embd_text))
        answer = lm.greedy(x, a.n, vocab.eog)
    print(f"grid {grid[0]}x{grid[1]}, {pix.shape[0]} tiles, {len(toks)} prompt tokens")
    print("answer:", " ".join(map(str, answer)))
    print("text:", repr(b"".join(vocab.piece(t) for t in answer).decode("utf-8", "replace")))
    if a.dump:
        os.makedirs(a.dump, exist_ok=True)
        pix.astype("<f4").tofile(os.path.join(a.dump, "pixels.f32"))
        vit.numpy().astype("<f4").tofile(os.path.join(a.dump, "vit.f32"))
        proj.numpy().astype("<f4").tofile(os.path.join(a.dump, "proj.f32"))
        with open(os.path.join(a.dump, "prompt.json"), "w") as f:
            json.dump({"tokens": toks, "embd_rows": rows, "grid": list(grid), "n_tiles": int(pix.shape[0]),
                       "answer": answer}, f)
    return 0

# ------------------------------------------------------------------ self-test


def selftest(a):
    rep = Report()

    # pixel shuffle against the index formula derived from HF's view/permute:
    # out[t = i'*(w/sf) + j'][f = dy*(D*sf) + dx*D + c] = x[(i'*sf + dy)*w + j'*sf + dx][c]
    for side, sf, D in ((4, 2, 3), (8, 4, 5), (6, 3, 2)):
        x = torch.arange(side * side * D, dtype=torch.float32).view(1, side * side, D)
        out = pixel_shuffle(x, sf)
        want = torch.zeros_like(out)
        for ti in range(side // sf):
            for tj in range(side // sf):
                for dy in range(sf):
                    for dx in range(sf):
                        for c in range(D):
                            want[0, ti * (side // sf) + tj, dy * D * sf + dx * D + c] = x[0, (ti * sf + dy) * side + tj * sf + dx, c]
        rep.ok(torch.equal(out, want), f"pixel shuffle side {side} sf {sf} D {D} matches the index formula")

    # the resamplers and both modes' sizes: tests/preprocess_ref.py selftest

    # PNG round trip
    tmp = os.path.join(a.tmp or "/tmp", f"vision_ref_selftest_{os.getpid()}.png")
    img = test_image(37, 23, 9)
    png_write(tmp, img)
    back = png_read(tmp)
    os.unlink(tmp)
    rep.ok(np.array_equal(img, back), "PNG write/read round trip")

    # the products as convolutions against plain matmul
    ga, gb = torch.randn(3, 37, 40, dtype=torch.float64).float(), torch.randn(3, 29, 40, dtype=torch.float64).float()
    err = float((mm_nt(ga, gb) - ga @ gb.transpose(1, 2)).abs().max())
    rep.ok(err < 1e-4, f"products ({'oneDNN 1x1 convolutions' if USE_CONV else 'torch.matmul'}) match torch.matmul within {err:.2g}")

    # Q8_0 activation rounding: exact on values already on the grid
    x = torch.tensor([[127.0, -64.0] + [0.0] * 30])
    rep.ok(torch.equal(round_act(x, gguf_read.GGML_Q8_0), x), "Q8_0 activation rounding keeps grid values")

    # GGUF files written by mkmodel / mkmmproj
    if a.mmproj:
        g = gguf_read.GGUF(a.mmproj)
        kv = g.kv
        rep.ok(kv.get("general.architecture") == "clip" and kv.get("general.type") == "mmproj"
               and kv.get("clip.projector_type") == "idefics3" and kv.get("clip.has_vision_encoder") is True
               and kv.get("clip.use_gelu") is True and g.kv_types.get("clip.vision.image_size") == 4
               and g.kv_types.get("clip.vision.attention.layer_norm_epsilon") == 6
               and g.kv_types.get("clip.vision.image_mean") == ("array", 6) and len(kv["clip.vision.image_mean"]) == 3,
               f"mmproj {a.mmproj}: keys and their types")
        vis = Vision(a.mmproj)
        for name in ("v.patch_embd.weight", "v.position_embd.weight", "v.blk.0.ln1.weight", "v.blk.0.attn_q.bias"):
            rep.ok(g.type_of(name) == gguf_read.GGML_F32, f"mmproj {name} is F32")
        w = g.tensor("v.blk.0.attn_q.weight")
        rep.ok(w.shape == (vis.D, vis.D) and abs(float(w.std()) - 1.0 / math.sqrt(vis.D)) < 0.2 / math.sqrt(vis.D),
               f"mmproj attn_q: shape {w.shape}, std {float(w.std()):.4f} (~1/sqrt(D) = {1 / math.sqrt(vis.D):.4f}), "
               f"type {gguf_read.TYPE_NAMES.get(g.type_of('v.blk.0.attn_q.weight'))}")
        ln = g.tensor("v.blk.0.ln1.weight")
        rep.ok(abs(float(ln.mean()) - 1.0) < 0.05, f"mmproj ln1 weight mean {float(ln.mean()):.3f} (1 + noise)")
        if a.mmproj_f32:
            w32 = gguf_read.GGUF(a.mmproj_f32).tensor("v.blk.0.ffn_down.weight")
            wq = g.tensor("v.blk.0.ffn_down.weight")
            err = float(np.abs(w32 - wq).max() / np.abs(w32).max())
            rep.ok(err < 1e-2, f"dequantized ffn_down matches the F32 file of the same seed within {err:.2g}")
        pix, grid, _ = preprocess(test_image(100, 60, 1), vis.S, vis.L, vis.mean, vis.std, vis.resize)
        with torch.no_grad():
            vit = vis.encode(pix)
            proj = vis.project(vit)
            vit_x = Vision(a.mmproj, exact_act=True).encode(pix)
        rep.ok(bool(torch.isfinite(proj).all()) and 0.2 < float(vit.std()) < 5 and 0.1 < float(proj.std()) < 20,
               f"forward pass: {pix.shape[0]} tiles, vit std {float(vit.std()):.3f}, proj std {float(proj.std()):.3f} "
               f"(activations O(1)); act rounding moves vit by {float((vit - vit_x).abs().max() / vit_x.abs().max()):.2g}")
    if a.model:
        g = gguf_read.GGUF(a.model)
        vocab = Vocab(g)
        ok = all(vocab.types[vocab.special(s)] == 3 for s in ("<|im_start|>", "<image>", "<row_6_col_6>", "<global-img>"))
        rep.ok(ok and g.kv.get("tokenizer.ggml.eos_token_id") == vocab.special("<end_of_utterance>")
               and "<end_of_utterance>" in g.kv.get("tokenizer.chat_template", ""),
               "model: SmolVLM tokens are CONTROL, EOS is <end_of_utterance>, chat template set")
        rep.ok(vocab.piece(vocab.text_token("\n")) == b"\n" and vocab.text_token("\n") != vocab.text_token("\n\n"),
               f"model: \"\\n\" is token {vocab.text_token(chr(10))}, \"\\n\\n\" token {vocab.text_token(chr(10) * 2)}")
        lm = Llama(a.model)
        rep.ok(lm.tok_embd.shape[0] == len(vocab.strs), f"model: token_embd has {lm.tok_embd.shape[0]} rows, one per token")
        with torch.no_grad():
            lg = lm.forward(lm.tok_embd[torch.tensor([1, 2, 3, 4])])
            # causality: a later token does not change earlier logits
            lg2 = lm.forward(lm.tok_embd[torch.tensor([1, 2, 3, 5])])
        rep.ok(bool(torch.isfinite(lg).all()) and torch.allclose(lg[:3], lg2[:3], atol=1e-5),
               f"model: forward pass finite and causal; logit std {float(lg.std()):.3f}")
    print(f"selftest: {'all passed' if not rep.failed else f'{rep.failed} failed'}")
    return 1 if rep.failed else 0

# ------------------------------------------------------------------ command line


def main(argv):
    import argparse
    p = argparse.ArgumentParser(prog="vision_ref.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("selftest")
    s.add_argument("--model")
    s.add_argument("--mmproj")
    s.add_argument("--mmproj-f32", help="an F32 mmproj of the same seed, to check dequantization of --mmproj")
    s.add_argument("--tmp")
    s = sub.add_parser("image")
    s.add_argument("out")
    s.add_argument("w", type=int)
    s.add_argument("h", type=int)
    s.add_argument("--seed", type=int, default=1)
    for name in ("check", "run"):
        s = sub.add_parser(name)
        s.add_argument("--model", required=True)
        s.add_argument("--mmproj", required=True)
        s.add_argument("--image", required=True)
        s.add_argument("--exact-act", action="store_true", help="keep activations in fp32 before every product")
        s.add_argument("--image-resize", choices=("auto", "transformers", "llamacpp"), default="auto",
                       help="the preprocessing Ember ran with (auto: the projector's)")
        s.add_argument("--longest-edge", type=int, default=0, help="Ember's --image-longest-edge (0: the projector's)")
        s.add_argument("--vision-weights", choices=("stored", "bf16"), default="stored",
                       help="Ember's --vision-weights: bf16 takes f16 matrices as bf16, activations rounded to bf16")
        if name == "check":
            s.add_argument("--dump", required=True)
            s.add_argument("--tol-pixel", type=float, default=1e-5)
            s.add_argument("--max-off-frac", type=float, default=1e-3)
            s.add_argument("--tol-vit", type=float)
            s.add_argument("--tol-proj", type=float)
            s.add_argument("--tol-margin", type=float, default=0.05)
        else:
            s.add_argument("--tokens", required=True, help="prompt token ids, -1 where the image goes")
            s.add_argument("-n", type=int, default=8)
            s.add_argument("--dump")
    a = p.parse_args(argv)
    if a.cmd == "selftest":
        return selftest(a)
    if a.cmd == "image":
        if a.w < 1 or a.h < 1:
            p.error("W and H must be positive")
        png_write(a.out, test_image(a.w, a.h, a.seed))
        return 0
    if a.cmd == "check":
        return cmd_check(a)
    return cmd_run(a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
