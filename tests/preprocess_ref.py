#!/usr/bin/python3
"""preprocess_ref.py - independent references of SmolVLM's (Idefics3's) image
preprocessing in both of Ember's modes, and the check of Ember's against them.

  transformers  transformers' Idefics3 image processor (the "slow" one SmolVLM
                was trained with), step by step, with Pillow's own LANCZOS
                (Debian's python3-pil): resize so the longest side is L (the
                other int(L / aspect), rounded up to even; sides capped at
                4096); resize to multiples of S (the longer side rounded up,
                the shorter int(longer / aspect) rounded up); if larger than
                S x S, the S x S crops row by row and then the global image,
                the second resize resized to S x S; else that image alone;
                rescale u8 * (1/255) in float64 to float32, normalise
                (x - mean) / std in float32; planar [3][S][S].
  llamacpp      mainline llama.cpp mtmd (mtmd-image.cpp), ported operation by
                operation in float32: the refined image by its point-sampled
                bicubic into a black canvas (aspect kept, "pad ceil"), the
                overview by its bilinear stepping (src - 1) / S from 0;
                u8 / 255 - mean) / std in float32.

No code is shared with Ember. The resamplers here are numpy (llama.cpp's) or
Pillow (transformers').

Commands:
  preprocess_ref.py check --tool BUILD/preprocess_dump [--quick]
      draws images of odd sizes, aspect ratios, tiny and huge ones, runs
      Ember's preprocessing on each (tools/preprocess_dump) in both modes
      and compares every tile value with the reference of the same mode:
      transformers within 1 8-bit level (max), llamacpp bit-exact; checks
      Ember's LANCZOS resize alone against Pillow over many size pairs
      (bytes equal); prints per mode the max and mean level difference to
      the Pillow (transformers) reference and Ember's preprocessing time per
      megapixel of tiles (grid tiles and the global image / overview).
  preprocess_ref.py selftest
      the references on hand-checked values.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

try:
    from PIL import Image
except ImportError:
    print("SKIP: python3 PIL is not installed (Debian: python3-pil)")
    sys.exit(77)

f32 = np.float32
LANCZOS = Image.Resampling.LANCZOS if hasattr(Image, "Resampling") else Image.LANCZOS
HF_MAX_SIDE = 4096  # transformers' MAX_IMAGE_SIZE


def test_image(w, h, seed):
    """Deterministic RGB: horizontal and vertical gradients, a checkerboard of
    blocks, a few flat rectangles, and noise, so resizers and tiles all see
    edges, ramps and texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    img[..., 0] = 255 * xx / max(1, w - 1)
    img[..., 1] = 255 * yy / max(1, h - 1)
    blk = max(3, min(w, h) // 7)
    img[..., 2] = np.where(((xx // blk + yy // blk) % 2) == 0, 40, 215)
    for _ in range(4):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = min(w, x0 + rng.integers(2, max(3, w // 3))), min(h, y0 + rng.integers(2, max(3, h // 3)))
        img[y0:y1, x0:x1] = rng.integers(0, 256, 3)
    img += rng.normal(0, 18, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def normalise(u8, mean, std, mode):
    """u8 [n][S][S][3] -> float32 [n][3][S][S]."""
    if mode == "transformers":
        v = (u8.astype(np.float64) * (1 / 255)).astype(f32)  # rescale(): float64 product, then float32
    else:
        v = u8.astype(f32) / f32(255.0)
    v = (v - np.asarray(mean, dtype=f32)) / np.asarray(std, dtype=f32)
    return np.ascontiguousarray(v.transpose(0, 3, 1, 2))

# ------------------------------------------------------------------ transformers (Idefics3ImageProcessor)


def hf_sizes(w, h, S, L):
    """(w1, h1): _resize_output_size_rescale_to_max_len then
    _resize_output_size_scale_below_upper_bound; (w2, h2):
    resize_for_vision_encoder. Python's float arithmetic, as transformers'."""
    aspect = w / h
    if w >= h:
        nw = L
        nh = int(nw / aspect)
        if nh % 2 != 0:
            nh += 1
    else:
        nh = L
        nw = int(nh * aspect)
        if nw % 2 != 0:
            nw += 1
    nh, nw = max(nh, 1), max(nw, 1)
    aspect = nw / nh
    if nw >= nh and nw > HF_MAX_SIDE:
        nw = HF_MAX_SIDE
        nh = int(nw / aspect)
    elif nh > nw and nh > HF_MAX_SIDE:
        nh = HF_MAX_SIDE
        nw = int(nh * aspect)
    nh, nw = max(nh, 1), max(nw, 1)
    aspect = nw / nh
    if nw >= nh:
        W = math.ceil(nw / S) * S
        H = math.ceil(int(W / aspect) / S) * S
    else:
        H = math.ceil(nh / S) * S
        W = math.ceil(int(H * aspect) / S) * S
    return (nw, nh), (W, H)


def pil_resize(u8, tw, th):
    """PIL.Image.resize with LANCZOS on uint8 RGB, as transformers' resize()
    calls it (reducing_gap None)."""
    return np.asarray(Image.fromarray(u8, "RGB").resize((tw, th), resample=LANCZOS))


def preprocess_transformers(img, S, L, mean, std):
    h, w = img.shape[:2]
    (w1, h1), (w2, h2) = hf_sizes(w, h, S, L)
    r = pil_resize(pil_resize(img, w1, h1), w2, h2)
    if w2 > S or h2 > S:
        gx, gy = w2 // S, h2 // S
        u8 = [r[ty * S:(ty + 1) * S, tx * S:(tx + 1) * S] for ty in range(gy) for tx in range(gx)]
        u8.append(pil_resize(r, S, S))
    else:
        gx = gy = 0
        u8 = [r]
    u8 = np.stack(u8)
    return normalise(u8, mean, std, "transformers"), (gx, gy), u8

# ------------------------------------------------------------------ llama.cpp (mainline mtmd)


def _round_half_away(v):
    v = v.astype(np.float64)
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def _cubic_coeffs(d0, d2, d3):
    """a1, a2, a3 as the C++ computes them: double constants (1.0/3, 1.0/6,
    1.0/2) make each expression double, stored to a float."""
    d0, d2, d3 = d0.astype(np.float64), d2.astype(np.float64), d3.astype(np.float64)
    a1 = ((-1.0 / 3) * d0 + d2 - (1.0 / 6) * d3).astype(f32)
    a2 = ((1.0 / 2) * d0 + (1.0 / 2) * d2).astype(f32)
    a3 = ((-1.0 / 6) * d0 - (1.0 / 2) * d2 + (1.0 / 6) * d3).astype(f32)
    return a1, a2, a3


def _cubic_eval(a0, a1, a2, a3, t):
    """a0 + a1*t + a2*t*t + a3*t*t*t in float32, left to right, no FMA."""
    return a0 + a1 * t + a2 * t * t + a3 * t * t * t


def resize_bicubic(img, tw, th):
    """llama.cpp's resize_bicubic: a cubic through 4 samples along x around
    floor(tx*j), then along y, rounded half away from zero and clamped to
    0..255. Float32 variables, double temporaries, as the C++."""
    h, w = img.shape[:2]
    tx, ty = f32(w) / f32(tw), f32(h) / f32(th)
    fx = tx * np.arange(tw).astype(f32)
    fy = ty * np.arange(th).astype(f32)
    x, y = fx.astype(np.int64), fy.astype(np.int64)
    dx = (fx - x.astype(f32))[None, :, None]
    dy = (fy - y.astype(f32))[:, None, None]
    p = img.astype(np.int32)
    cols = [np.clip(x + k, 0, w - 1) for k in (-1, 0, 1, 2)]
    C = []
    for jj in range(4):
        r = np.clip(y - 1 + jj, 0, h - 1)
        rows = p[r]                                       # [th][w][3]
        pm, p0, p1, p2 = (rows[:, c, :] for c in cols)    # [th][tw][3]
        d0, d2, d3 = (pm - p0).astype(f32), (p1 - p0).astype(f32), (p2 - p0).astype(f32)
        a1, a2, a3 = _cubic_coeffs(d0, d2, d3)
        C.append(_cubic_eval(p0.astype(f32), a1, a2, a3, dx))
    d0, d2, d3 = C[0] - C[1], C[2] - C[1], C[3] - C[1]
    a1, a2, a3 = _cubic_coeffs(d0, d2, d3)
    Cc = _cubic_eval(C[1], a1, a2, a3, dy)
    return np.clip(_round_half_away(Cc), 0, 255).astype(np.uint8)


def resize_bilinear(img, tw, th):
    """mainline llama.cpp's resize_bilinear: x_ratio = (w - 1) / tw in float32,
    px = x_ratio * x, the left sample min(int(px), w - 2), lerp(s, e, t) =
    s + (e - s) * t along x then y, truncated to 8 bits. (Mainline asserts
    w, h >= 2; a 1-pixel side here repeats its sample, as Ember does.)"""
    h, w = img.shape[:2]
    xr, yr = f32(w - 1) / f32(tw), f32(h - 1) / f32(th)
    px = xr * np.arange(tw).astype(f32)
    py = yr * np.arange(th).astype(f32)
    x0 = np.minimum(px.astype(np.int64), max(w - 2, 0))
    y0 = np.minimum(py.astype(np.int64), max(h - 2, 0))
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    xf = (px - x0.astype(f32))[None, :, None]
    yf = (py - y0.astype(f32))[:, None, None]
    p = img.astype(f32)
    p00, p10 = p[y0][:, x0], p[y0][:, x1]
    p01, p11 = p[y1][:, x0], p[y1][:, x1]
    top = p00 + (p10 - p00) * xf
    bottom = p01 + (p11 - p01) * xf
    return (top + (bottom - top) * yf).astype(np.int64).astype(np.uint8)


def refined_size(w, h, S, L):
    """Longest side to L, aspect kept, each side rounded up to a multiple of S
    (llama.cpp's calc_size_preserved_ratio with longest_edge, in float32)."""
    scale = min(f32(L) / f32(w), f32(L) / f32(h))
    wb = int(np.ceil(f32(f32(w) * scale) / f32(S))) * S
    hb = int(np.ceil(f32(f32(h) * scale) / f32(S))) * S
    return wb, hb


def resize_pad_ceil(img, tw, th):
    """Aspect-preserving bicubic resize into a black tw x th canvas, centred
    (llama.cpp's img_tool::resize with padding); a copy if the size is equal."""
    h, w = img.shape[:2]
    if (w, h) == (tw, th):
        return img.copy()
    s = min(f32(tw) / f32(w), f32(th) / f32(h))
    nw = min(int(np.ceil(f32(w) * s)), tw)
    nh = min(int(np.ceil(f32(h) * s)), th)
    out = np.zeros((th, tw, 3), dtype=np.uint8)
    ox, oy = (tw - nw) // 2, (th - nh) // 2
    out[oy:oy + nh, ox:ox + nw] = resize_bicubic(img, nw, nh)
    return out


def preprocess_llamacpp(img, S, L, mean, std):
    h, w = img.shape[:2]
    wb, hb = refined_size(w, h, S, L)
    gx, gy = wb // S, hb // S
    refined = resize_pad_ceil(img, wb, hb)
    u8 = [refined[ty * S:(ty + 1) * S, tx * S:(tx + 1) * S] for ty in range(gy) for tx in range(gx)]
    u8.append(img.copy() if (w, h) == (S, S) else resize_bilinear(img, S, S))
    u8 = np.stack(u8)
    return normalise(u8, mean, std, "llamacpp"), (gx, gy), u8


def preprocess(img, S, L, mean, std, mode):
    """-> (tiles float32 [n][3][S][S], (grid_x, grid_y), u8 tiles [n][S][S][3]):
    grid tiles row-major, then the global image / overview."""
    if mode == "transformers":
        return preprocess_transformers(img, S, L, mean, std)
    if mode == "llamacpp":
        return preprocess_llamacpp(img, S, L, mean, std)
    raise ValueError(f"resize mode {mode!r}")

# ------------------------------------------------------------------ the check


class Report:
    def __init__(self):
        self.failed = 0
        self.passed = 0

    def ok(self, cond, msg):
        print(("ok   " if cond else "FAIL ") + msg, flush=True)
        if cond:
            self.passed += 1
        else:
            self.failed += 1
        return cond


def run_tool(tool, png, out, *args):
    r = subprocess.run([tool, png, "-o", out, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{tool} {png} {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout)


# (w, h): odd sizes, both aspects, extreme ratios, tiny, a tile exactly, and
# large frames (a phone photo downscaled to 2048, a 4K frame)
SIZES_FULL = [(300, 200), (199, 301), (1, 1), (2, 3), (7, 5), (64, 64), (65, 63), (512, 512), (640, 480),
              (1000, 333), (333, 1000), (1, 700), (900, 2), (1921, 1079), (3000, 4000), (3840, 2160)]
SIZES_QUICK = [(300, 200), (199, 301), (1, 1), (7, 5), (64, 64), (1000, 333), (1, 700), (1280, 720)]
# (S, L): SmolVLM-256M's (512, 2048), a smaller projector's, one whose L is a tile
CONFIGS = [(512, 2048), (64, 256), (64, 64)]


def cmd_check(a):
    rep = Report()
    tool = a.tool
    sizes = SIZES_QUICK if a.quick else SIZES_FULL
    mean, std = [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]
    stats = {m: {"max": 0.0, "sum": 0.0, "n": 0, "ms": 0.0, "mp": 0.0} for m in ("transformers", "llamacpp")}
    with tempfile.TemporaryDirectory(prefix="preprocess_ref_") as tmp:
        out = os.path.join(tmp, "tiles.f32")
        # LANCZOS alone: bytes equal to Pillow's, down and up, each axis alone
        img = test_image(97, 61, 7)
        png = os.path.join(tmp, "lz.png")
        Image.fromarray(img, "RGB").save(png)
        pairs = [(97, 61), (1, 1), (3, 2), (48, 61), (97, 30), (200, 61), (97, 140), (13, 7), (250, 250), (31, 200)]
        bad = []
        for tw, th in pairs:
            run_tool(tool, png, out, "--lanczos", f"{tw}x{th}")
            got = np.fromfile(out, dtype=np.uint8).reshape(th, tw, 3)
            if not np.array_equal(got, pil_resize(img, tw, th)):
                bad.append((tw, th, int(np.abs(got.astype(int) - pil_resize(img, tw, th)).max())))
        rep.ok(not bad, f"LANCZOS resize of 97x61 to {len(pairs)} sizes: bytes equal to Pillow's {Image.__version__} (differ: {bad})")
        # and a 640 x 480 frame with a longest edge past transformers' 4096 cap (8 x 6 tiles;
        # transformers' mode only: llama.cpp's has no cap and would make 16 x 12 tiles)
        for i, (w, h) in enumerate(sizes + [(640, 480)]):
            img = test_image(w, h, 100 + i)
            png = os.path.join(tmp, f"img{i}.png")
            Image.fromarray(img, "RGB").save(png)
            for S, L in CONFIGS if i < len(sizes) else [(512, 8192)]:
                if a.quick and S == 512 and w * h > 2e6:
                    continue
                hf_pix, hf_grid, _ = preprocess_transformers(img, S, L, mean, std)
                for mode in ("transformers", "llamacpp") if L <= HF_MAX_SIDE else ("transformers",):
                    try:
                        meta = run_tool(tool, png, out, "--tile", str(S), "--longest-edge", str(L), "--image-resize", mode)
                    except RuntimeError as e:
                        rep.ok(False, str(e))
                        continue
                    got = np.fromfile(out, dtype=np.float32)
                    pix, grid, _ = preprocess(img, S, L, mean, std, mode)
                    what = f"{mode} {w}x{h} S {S} L {L}"
                    if (meta["grid_x"], meta["grid_y"]) != grid or got.size != pix.size:
                        rep.ok(False, f"{what}: Ember grid {meta['grid_x']}x{meta['grid_y']} ({got.size} values), "
                                      f"reference {grid[0]}x{grid[1]} ({pix.size})")
                        continue
                    got = got.reshape(pix.shape)
                    lv = np.abs(got - pix) * np.asarray(std, dtype=f32)[:, None, None] * 255  # in 8-bit levels
                    if mode == "transformers":
                        rep.ok(float(lv.max()) <= 1.0 + 1e-3,
                               f"{what}: grid {grid[0]}x{grid[1]}, max {float(lv.max()):.3g} levels from the Pillow reference "
                               f"({int((lv > 1e-3).sum())} of {lv.size} values differ)")
                    else:
                        rep.ok(np.array_equal(got, pix), f"{what}: grid {grid[0]}x{grid[1]}, bit-exact with the mainline port "
                               f"(max {float(lv.max()):.3g} levels)")
                    # every mode against the Pillow reference: what a model trained on transformers' pixels sees
                    s = stats[mode]
                    if got.shape == hf_pix.shape:
                        d = np.abs(got - hf_pix) * f32(0.5 * 255)
                        s["max"] = max(s["max"], float(d.max()))
                        s["sum"] += float(d.sum())
                        s["n"] += d.size
                    if S == 512 and L == 2048:  # time per megapixel of the image the tiles are cut from
                        s["ms"] += meta["ms"]
                        s["mp"] += got.shape[0] * S * S / 1e6
    for mode, s in stats.items():
        print(f"figure {mode}: vs the Pillow (transformers) reference, tiles of equal layout: max {s['max']:.1f} levels, "
              f"mean {s['sum'] / max(1, s['n']):.3f} levels over {s['n']} values; "
              f"preprocessing (S 512, L 2048) {s['ms'] / max(s['mp'], 1e-9):.1f} ms per megapixel of tiles "
              f"({s['ms']:.0f} ms for {s['mp']:.1f} MP)")
    print(f"{rep.passed} passed, {rep.failed} failed")
    return 1 if rep.failed else 0


def cmd_selftest(_a):
    rep = Report()
    # transformers' sizes on hand-checked cases
    cases = {(300, 200, 512, 2048): ((2048, 1366), (2048, 1536)),   # 1365.33 -> 1365, odd -> 1366; 1536
             (100, 1000, 512, 2048): ((204, 2048), (512, 2048)),    # 204.8 -> 204 (even)
             (1, 20000, 512, 2048): ((1, 2048), (512, 2048)),       # 0.1 -> 0 -> 1
             (640, 480, 512, 512): ((512, 384), (512, 512))}        # one tile: no grid
    for (w, h, S, L), want in cases.items():
        got = hf_sizes(w, h, S, L)
        rep.ok(got == want, f"transformers sizes of {w}x{h} (S {S}, L {L}): {got}, expected {want}")
    pix, grid, u8 = preprocess_transformers(test_image(640, 480, 1), 512, 512, [0.5] * 3, [0.5] * 3)
    rep.ok(grid == (0, 0) and pix.shape == (1, 3, 512, 512), f"transformers: an image of one tile is that tile alone ({grid})")
    # mainline's bilinear steps by (w - 1) / tw: [0, 100, 200] to 4 samples x = 0, .5, 1, 1.5
    row = np.array([[[0] * 3, [100] * 3, [200] * 3]], dtype=np.uint8)
    out = resize_bilinear(row, 4, 1)[0, :, 0].tolist()
    rep.ok(out == [0, 50, 100, 150], f"bilinear [0, 100, 200] -> 4: {out} (hand: 0, 50, 100, 150)")
    two = np.array([[[0] * 3, [255] * 3]] * 2, dtype=np.uint8)
    out = resize_bilinear(two, 3, 2)[0, :, 0].tolist()
    rep.ok(out == [0, 85, 170], f"bilinear [0, 255] -> 3: {out} (hand: 255 * 1/3 = 85.0000017 -> 85, 170)")
    # bicubic: upscaling 2x along x of the row [0, 90]: x = int(0.5*j), dx = 0.5*j - x;
    # j=1: x=0, dx=.5, samples (0,0,90,90): d0=0 d2=90 d3=90: a1=75 a2=45 a3=-30
    # C = 0 + 37.5 + 11.25 - 3.75 = 45; j=3: x=1, dx=.5, samples (0,90,90,90): d0=-90 d2=0 d3=0:
    # a1=30 a2=-45 a3=15: 90 + 15 - 11.25 + 1.875 = 95.625 -> 96 (overshoot, clamped only at 255)
    src = np.zeros((1, 2, 3), dtype=np.uint8)
    src[0, 1] = 90
    out = resize_bicubic(src, 4, 1)[0, :, 0].tolist()
    rep.ok(out == [0, 45, 90, 96], f"bicubic [0, 90] -> 4 wide: {out} (hand: 0, 45, 90, 95.625 -> 96)")
    # float32 matters: for [0, 1] at j=1 the exact value is 0.5 (-> 1), but in
    # float32 a1 = 0.8333333, a3 = -0.33333334 and the sum is
    # 0.41666666 + 0.125 - 0.041666668 = 0.49999997 -> 0
    src[0, 1] = 1
    out = resize_bicubic(src, 4, 1)[0, :, 0].tolist()
    rep.ok(out == [0, 0, 1, 1], f"bicubic [0, 1] -> 4 wide: {out} (hand, float32: 0, 0.49999997 -> 0, 1, 1.0625 -> 1)")
    # round half away from zero: [0, 3] at j=1 gives exactly 1.5 -> 2
    src[0, 1] = 3
    out = resize_bicubic(src, 4, 1)[0, :, 0].tolist()
    rep.ok(out == [0, 2, 3, 3], f"bicubic [0, 3] -> 4 wide: {out} (hand: 0, 1.5 -> 2, 3, 3.1875 -> 3)")
    img = test_image(17, 11, 3)
    rep.ok(np.array_equal(resize_bicubic(img, 17, 11), img), "bicubic to the same size is the identity")
    cases = {(100, 60, 64, 128): (128, 128), (300, 200, 64, 128): (128, 128), (37, 90, 64, 128): (64, 128),
             (512, 384, 512, 512): (512, 512), (640, 480, 512, 2048): (2048, 1536), (64, 64, 64, 128): (128, 128)}
    for (w, h, S, L), want in cases.items():
        got = refined_size(w, h, S, L)
        rep.ok(got == want, f"refined size of {w}x{h} (S {S}, L {L}): {got}, expected {want}")
    img = test_image(37, 90, 5)
    out = resize_pad_ceil(img, 64, 128)
    # 37x90 into 64x128: s = min(64/37, 128/90) = 1.4222, nw = ceil(52.62) = 53, nh = 128; offset x 5
    rep.ok(out[:, :5].max() == 0 and out[:, 58:].max() == 0 and out[:, 5:58].max() > 0,
           "pad ceil: 37x90 -> 53x128 centred in 64x128 (black columns 0-4 and 58-63)")
    pix, grid, u8 = preprocess_llamacpp(test_image(100, 60, 1), 64, 128, [0.5] * 3, [0.5] * 3)
    rep.ok(pix.shape == (5, 3, 64, 64) and grid == (2, 2), f"llamacpp 100x60, S 64, L 128: {pix.shape}, grid {grid}")
    rep.ok(abs(float(pix[0, 1, 3, 7]) - (u8[0, 3, 7, 1] / 255.0 - 0.5) / 0.5) < 1e-6, "normalisation and planar layout")
    print(f"{rep.passed} passed, {rep.failed} failed")
    return 1 if rep.failed else 0


def main(argv):
    import argparse
    p = argparse.ArgumentParser(prog="preprocess_ref.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("check")
    s.add_argument("--tool", required=True, help="Ember's tools/preprocess_dump")
    s.add_argument("--quick", action="store_true", help="fewer and smaller images (sanitizer builds)")
    sub.add_parser("selftest")
    a = p.parse_args(argv)
    return cmd_check(a) if a.cmd == "check" else cmd_selftest(a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
