/* cpu_kernels_neon.c - AArch64 NEON kernels, compiled twice:
 *   - as itself for baseline ARMv8.0 (no dotprod or fp16 arithmetic
 *     assumed: any 64-bit Arm, Cortex-A53/A72 as on a Raspberry Pi 3/4),
 *     variant "neon";
 *   - included by cpu_kernels_neon_dotprod.c, built with +dotprod
 *     (ARMv8.2 Cortex-A55/A76 as on a Raspberry Pi 5, Jetson Orin's A78AE),
 *     variant "neon-dotprod": the int8 block sums become SDOT instructions.
 * cpu_kernels_init picks the second where the CPU reports dotprod (HWCAP).
 *
 * Provided: vec_dot for F32, F16, BF16, Q8_0, Q4_0 and the Q8_0 / F16 / BF16
 * activation converters; gemm tiles for F32, F16, BF16, Q8_0 and Q4_0
 * (prefill, the ViT's products, a prefill's attention; cpu_quant_neon.c has
 * the newer block types' dots and tiles); the F32 NN product (the ViT's
 * attention); attn_pv in the lanes of this file's dot and tile. BF16 is
 * widened to float by a shift (exact) and multiplied in the F32/F16 lanes
 * below: BFDOT and BFMMLA need ARMv8.6's BF16 extension, which the
 * Cortex-A76 (Raspberry Pi 5) and A78AE (Jetson Orin) lack. Without
 * dotprod, int8 dots widen with vmull_s8 and add pairs with vpadalq_s16;
 * both forms give the same exact integer sums.
 * vrndaq_f32 rounds half away from zero, exactly roundf, so the Q8_0
 * quantizer matches the reference bit for bit.
 *
 * Lanes: llama.cpp's ARM kernels (fp16 accumulation where the CPU has fp16
 * arithmetic) are not reproduced bit for bit; these sum in float, in the
 * lanes below, which every product of this file shares:
 *   vec_dot (F32, F16, BF16): value t in slot t % 8 (two 4-lane
 *       accumulators), then lane i = slot i + slot i + 4, then
 *       (l0 + l1) + (l2 + l3);
 *   gemm tile (F32, F16, BF16): value t in slot t % 4, then
 *       (l0 + l1) + (l2 + l3).
 * attn_pv sums its columns in the same slots, so a prefill's block
 * attention (tiles) is cpu_attend_head's (attn_pv) bit for bit. */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "cpu_kernels_impl.h"

#define INLINE static inline __attribute__((always_inline))
#include "cpu_neon_tiles.h"

/* (l0 + l1) + (l2 + l3), written out: the order every sum here ends in */
INLINE float hsum4(float32x4_t v) {
    return (vgetq_lane_f32(v, 0) + vgetq_lane_f32(v, 1)) + (vgetq_lane_f32(v, 2) + vgetq_lane_f32(v, 3));
}

INLINE float32x4_t f16x4_load(const em_fp16 *p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

/* The float forms of the dots and tiles: ty, a constant after inlining. */
enum { TY_F32, TY_F16, TY_BF16 };

/* Value i of a row of type ty, as a float (the tails past whole vectors). */
INLINE float fval(int ty, const void *p, int64_t i) {
    return ty == TY_F16 ? em_fp16_to_fp32(((const em_fp16 *)p)[i])
         : ty == TY_BF16 ? em_bf16_to_fp32(((const em_bf16 *)p)[i]) : ((const float *)p)[i];
}

/* Eight values from i on, widened to two float vectors (values i..i+3,
 * i+4..i+7); a bf16 is the top half of its float, so a shift widens it. */
INLINE void load8(int ty, const void *p, int64_t i, float32x4_t *lo, float32x4_t *hi) {
    if (ty == TY_F16) {
        const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16((const em_fp16 *)p + i));
        *lo = vcvt_f32_f16(vget_low_f16(h));
        *hi = vcvt_high_f32_f16(h);
    } else if (ty == TY_BF16) {
        const uint16x8_t h = vld1q_u16((const em_bf16 *)p + i);
        *lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
        *hi = vreinterpretq_f32_u32(vshll_high_n_u16(h, 16));
    } else {
        *lo = vld1q_f32((const float *)p + i);
        *hi = vld1q_f32((const float *)p + i + 4);
    }
}

/* The sum of 32 int8 products in four int32 lanes (exact, in either form). */
INLINE int32x4_t dot32_i8(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), a0, b0), a1, b1);
#else
    int32x4_t s = vpaddlq_s16(vmull_s8(vget_low_s8(a0), vget_low_s8(b0)));
    s = vpadalq_s16(s, vmull_high_s8(a0, b0));
    s = vpadalq_s16(s, vmull_s8(vget_low_s8(a1), vget_low_s8(b1)));
    return vpadalq_s16(s, vmull_high_s8(a1, b1));
#endif
}

/* A Q4_0 block's 32 values as signed bytes: low nibbles are values 0..15,
 * high nibbles 16..31, each minus 8. */
INLINE void q4_unpack(const uint8_t *qs, int8x16_t *lo, int8x16_t *hi) {
    const uint8x16_t v = vld1q_u8(qs);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F))), vdupq_n_s8(8));
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), vdupq_n_s8(8));
}

// ---- conversions --------------------------------------------------------------

static void f16_from_float(const float *src, void *dst, int64_t n) {
    em_fp16 *h = dst;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1_u16(h + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
    for (; i < n; i++) h[i] = em_fp32_to_fp16(src[i]);
}

static void f16_to_float(const void *src, float *dst, int64_t n) {
    const em_fp16 *h = src;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, f16x4_load(h + i));
    for (; i < n; i++) dst[i] = em_fp16_to_fp32(h[i]);
}

static void bf16_to_float(const void *src, float *dst, int64_t n) {
    const em_bf16 *h = src;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(h + i), 16)));
    for (; i < n; i++) dst[i] = em_bf16_to_fp32(h[i]);
}

/* As em_fp32_to_bf16: round to nearest even on the integer bits, a NaN
 * kept a quiet NaN. */
static void bf16_from_float(const float *src, void *dst, int64_t n) {
    em_bf16 *h = dst;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32x4_t u = vreinterpretq_u32_f32(vld1q_f32(src + i));
        const uint32x4_t odd = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1));
        const uint32x4_t r = vshrq_n_u32(vaddq_u32(u, vaddq_u32(odd, vdupq_n_u32(0x7fff))), 16);
        const uint32x4_t qnan = vorrq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(64));
        const uint32x4_t nan = vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7fffffff)), vdupq_n_u32(0x7f800000));
        vst1_u16(h + i, vmovn_u32(vbslq_u32(nan, qnan, r)));
    }
    for (; i < n; i++) h[i] = em_fp32_to_bf16(src[i]);
}

static void q8_0_from_float(const float *src, void *dst, int64_t n) {
    em_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        float32x4_t v[8], amax = vdupq_n_f32(0.0f);
        for (int j = 0; j < 8; j++) {
            v[j] = vld1q_f32(src + 4 * j);
            amax = vmaxq_f32(amax, vabsq_f32(v[j]));
        }
        /* as cpu_quantize_row_q8_0_act: 127/amax, ties to even */
        const float amaxs = vmaxvq_f32(amax);
        const float d = amaxs / 127.0f;
        const float id = amaxs != 0.0f ? 127.0f / amaxs : 0.0f;
        y[i].d = em_fp32_to_fp16(d);
        for (int j = 0; j < 8; j += 2) {
            int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(v[j], id));
            int32x4_t b = vcvtnq_s32_f32(vmulq_n_f32(v[j + 1], id));
            int16x8_t h = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
            vst1_s8(y[i].qs + 4 * j, vmovn_s16(h));
        }
    }
}

// ---- dot products (decode) -------------------------------------------------------

INLINE float fdot(int ty, int64_t n, const void *a, const void *b) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t xl, xh, yl, yh;
        load8(ty, a, i, &xl, &xh);
        load8(ty, b, i, &yl, &yh);
        s0 = vfmaq_f32(s0, xl, yl);
        s1 = vfmaq_f32(s1, xh, yh);
    }
    float s = hsum4(vaddq_f32(s0, s1));
    for (; i < n; i++) s += fval(ty, a, i) * fval(ty, b, i);
    return s;
}

static float f32_dot(int64_t n, const void *a, const void *b) { return fdot(TY_F32, n, a, b); }
static float f16_dot(int64_t n, const void *a, const void *b) { return fdot(TY_F16, n, a, b); }
static float bf16_dot(int64_t n, const void *a, const void *b) { return fdot(TY_BF16, n, a, b); }

/* fdot of x against many rows (cpu_vec_dot_rows_fn), 4 rows at a time: two
 * pairwise adds sum the 4 rows' hsum4 trees together, the same additions
 * ((l0 + l1) + (l2 + l3)) in every lane; the leftovers past n & ~7 are added
 * per row as fdot adds them. The query is widened once (up to 256 values). */
INLINE void dot_rows(int ty, int64_t n, const void *rows, size_t stride, int64_t nrows, const void *x, float *out) {
    const int64_t n8 = n & ~(int64_t)7;
    int64_t t = 0;
    if (n8 > 0 && n8 <= 256) {
        float xw[256];
        for (int64_t i = 0; i < n8; i += 8) {
            float32x4_t lo, hi;
            load8(ty, x, i, &lo, &hi);
            vst1q_f32(xw + i, lo);
            vst1q_f32(xw + i + 4, hi);
        }
        for (; t + 4 <= nrows; t += 4) {
            float32x4_t v[4];
            for (int r = 0; r < 4; r++) {
                const char *row = (const char *)rows + (size_t)(t + r) * stride;
                float32x4_t s0 = vdupq_n_f32(0), s1 = s0;
                for (int64_t i = 0; i < n8; i += 8) {
                    float32x4_t wl, wh;
                    load8(ty, row, i, &wl, &wh);
                    s0 = vfmaq_f32(s0, wl, vld1q_f32(xw + i));
                    s1 = vfmaq_f32(s1, wh, vld1q_f32(xw + i + 4));
                }
                v[r] = vaddq_f32(s0, s1);
            }
            float hs[4];
            vst1q_f32(hs, vpaddq_f32(vpaddq_f32(v[0], v[1]), vpaddq_f32(v[2], v[3])));
            for (int r = 0; r < 4; r++) {
                const char *a = (const char *)rows + (size_t)(t + r) * stride;
                float s = hs[r];
                for (int64_t i = n8; i < n; i++) s += fval(ty, a, i) * fval(ty, x, i);
                out[t + r] = s;
            }
        }
    }
    for (; t < nrows; t++) out[t] = fdot(ty, n, (const char *)rows + (size_t)t * stride, x);
}

static void f32_dot_rows(int64_t n, const void *rows, size_t stride, int64_t nrows, const void *x, float *out) {
    dot_rows(TY_F32, n, rows, stride, nrows, x, out);
}

static void f16_dot_rows(int64_t n, const void *rows, size_t stride, int64_t nrows, const void *x, float *out) {
    dot_rows(TY_F16, n, rows, stride, nrows, x, out);
}

static float q8_0_dot(int64_t n, const void *a, const void *b) {
    const em_block_q8_0 *x = a, *y = b;
    float s = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        const int32_t sumi = vaddvq_s32(dot32_i8(vld1q_s8(x[i].qs), vld1q_s8(x[i].qs + 16), vld1q_s8(y[i].qs),
                                                 vld1q_s8(y[i].qs + 16)));
        s += sumi * (em_fp16_to_fp32(x[i].d) * em_fp16_to_fp32(y[i].d));
    }
    return s;
}

static float q4_0_dot(int64_t n, const void *a, const void *b) {
    const em_block_q4_0 *x = a;
    const em_block_q8_0 *y = b;
    float s = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int8x16_t lo, hi;
        q4_unpack(x[i].qs, &lo, &hi);
        const int32_t sumi = vaddvq_s32(dot32_i8(lo, hi, vld1q_s8(y[i].qs), vld1q_s8(y[i].qs + 16)));
        s += sumi * (em_fp16_to_fp32(x[i].d) * em_fp16_to_fp32(y[i].d));
    }
    return s;
}

// ---- gemm tiles (prefill) -------------------------------------------------------

/* F32 / F16 / BF16: TM weight rows x up to TN activation rows, a 4-lane float
 * accumulator per output (value t in lane t % 4). 16 accumulators, the 8
 * widened activation vectors and a widened weight row take 26 of the 32
 * registers; each weight vector is widened once for TN products and each
 * activation vector once for TM. k is a multiple of 8 (gemm_k). */
INLINE void ftile(int ty, int NC, int64_t k, const char *const *wr, const char *const *xr, float *y, int64_t ldy,
                  int nr) {
    float32x4_t acc[TM][TN];
    for (int r = 0; r < TM; r++)
        for (int c = 0; c < NC; c++) acc[r][c] = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < k; i += 8) {
        float32x4_t xl[TN], xh[TN];
        for (int c = 0; c < NC; c++) load8(ty, xr[c], i, &xl[c], &xh[c]);
        for (int r = 0; r < TM; r++) {
            float32x4_t wl, wh;
            load8(ty, wr[r], i, &wl, &wh);
            for (int c = 0; c < NC; c++) acc[r][c] = vfmaq_f32(vfmaq_f32(acc[r][c], wl, xl[c]), wh, xh[c]);
        }
    }
    for (int c = 0; c < NC; c++)
        for (int r = 0; r < TM; r++)
            if (r < nr) y[c * ldy + r] = hsum4(acc[r][c]);
}

/* Q8_0 / Q4_0 weights by activations in the panel layout
 * (cpu_kernels_impl.h; its signed values and float scales are used, not the
 * block sums): TM rows x up to TN activation rows, each block's int32 lanes
 * converted and scaled into a float accumulator per output, so a weight
 * block is loaded (and for Q4_0 unpacked) once per TN activations and an
 * activation block once per TM rows. */
INLINE void qtile(int q4, int NC, int64_t nb, const char *const *wr, const char *const *xr, float *y, int64_t ldy,
                  int nr) {
    float32x4_t acc[TM][TN];
    for (int r = 0; r < TM; r++)
        for (int c = 0; c < NC; c++) acc[r][c] = vdupq_n_f32(0.0f);
    const float *xd[TN];
    for (int c = 0; c < NC; c++) xd[c] = cpu_q8p_d(xr[c], nb);
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t x0[TN], x1[TN];
        neon_panel_block(NC, xr, b, x0, x1);
        for (int r = 0; r < TM; r++) {
            int8x16_t w0, w1;
            float wd;
            if (q4) {
                const em_block_q4_0 *B = (const em_block_q4_0 *)wr[r] + b;
                q4_unpack(B->qs, &w0, &w1);
                wd = em_fp16_to_fp32(B->d);
            } else {
                const em_block_q8_0 *B = (const em_block_q8_0 *)wr[r] + b;
                w0 = vld1q_s8(B->qs);
                w1 = vld1q_s8(B->qs + 16);
                wd = em_fp16_to_fp32(B->d);
            }
            for (int c = 0; c < NC; c++)
                acc[r][c] = vfmaq_n_f32(acc[r][c], vcvtq_f32_s32(dot32_i8(w0, w1, x0[c], x1[c])), wd * xd[c][b]);
        }
    }
    for (int c = 0; c < NC; c++)
        for (int r = 0; r < TM; r++)
            if (r < nr) y[c * ldy + r] = hsum4(acc[r][c]);
}

/* The tiles over all activation rows, TN at a time. form: the float forms
 * (TY_F32, TY_F16, TY_BF16), then Q8_0 and Q4_0 (a constant after
 * inlining). */
enum { FORM_F32 = TY_F32, FORM_F16 = TY_F16, FORM_BF16 = TY_BF16, FORM_Q8_0, FORM_Q4_0 };

INLINE void tile(int form, int NC, int64_t k, const char *const *wr, const char *const *xr, float *y, int64_t ldy,
                 int nr) {
    if (form <= FORM_BF16) ftile(form, NC, k, wr, xr, y, ldy, nr);
    else qtile(form == FORM_Q4_0, NC, k / 32, wr, xr, y, ldy, nr);
}

NEON_TILES(gemm_tiles, tile)

static void gemm_f32(int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int64_t nc,
                     float *y, int64_t ldy) {
    gemm_tiles(FORM_F32, k, w, w_stride, nr, x, x_stride, nc, y, ldy);
}

static void gemm_f16(int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int64_t nc,
                     float *y, int64_t ldy) {
    gemm_tiles(FORM_F16, k, w, w_stride, nr, x, x_stride, nc, y, ldy);
}

static void gemm_bf16(int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int64_t nc,
                      float *y, int64_t ldy) {
    gemm_tiles(FORM_BF16, k, w, w_stride, nr, x, x_stride, nc, y, ldy);
}

static void gemm_q8_0(int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int64_t nc,
                      float *y, int64_t ldy) {
    gemm_tiles(FORM_Q8_0, k, w, w_stride, nr, x, x_stride, nc, y, ldy);
}

static void gemm_q4_0(int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int64_t nc,
                      float *y, int64_t ldy) {
    gemm_tiles(FORM_Q4_0, k, w, w_stride, nr, x, x_stride, nc, y, ldy);
}

// ---- attention ------------------------------------------------------------------

/* The attention's p . V in the slots of fdot (tiled == 0: value t in slot
 * t % 8) or of ftile (tiled == 1: slot t % 4), as if the rows past n were
 * zeros. Each slot is a row of ncols partial sums, so the products stay
 * vectors over d. */
static void attn_pv(int64_t n, const void *v, size_t v_stride, enum em_type vt, const void *p, int ncols,
                    float *out, float *work, int tiled) {
    const int S = tiled ? 4 : 8, f16 = vt == EM_TYPE_F16;
    /* a short row count fills only the first n slots: clear those and one
     * zero row that stands for the rest */
    const int used = n < S ? (int)n : S;
    memset(work, 0, (size_t)(used < S ? used + 1 : S) * (size_t)ncols * sizeof(float));
    /* Slot by slot: a slot's chain (rows t = s, s + S, ...) stays in
     * registers, 32 columns at a time, instead of a load and a store of the
     * slot per row; the same FMAs in the same order. */
    const int d4 = ncols & ~3;
    for (int d = 0; d < d4; d += 32) {
        const int nv = d4 - d >= 32 ? 8 : (d4 - d) / 4;
        for (int sl = 0; sl < used; sl++) {
            float32x4_t acc[8];
            for (int j = 0; j < 8; j++) acc[j] = vdupq_n_f32(0.0f);
            for (int64_t t = sl; t < n; t += S) {
                const char *row = (const char *)v + (size_t)t * v_stride;
                const float pt = f16 ? em_fp16_to_fp32(((const em_fp16 *)p)[t]) : ((const float *)p)[t];
                for (int j = 0; j < nv; j++) {
                    const int c = d + 4 * j;
                    const float32x4_t rv = f16 ? f16x4_load((const em_fp16 *)row + c) : vld1q_f32((const float *)row + c);
                    acc[j] = vfmaq_n_f32(acc[j], rv, pt);
                }
            }
            float *w = work + (size_t)sl * (size_t)ncols + d;
            for (int j = 0; j < nv; j++) vst1q_f32(w + 4 * j, acc[j]);
        }
    }
    for (int64_t t = 0; t < n && d4 < ncols; t++) {
        const char *row = (const char *)v + (size_t)t * v_stride;
        const float pt = f16 ? em_fp16_to_fp32(((const em_fp16 *)p)[t]) : ((const float *)p)[t];
        float *acc = work + (size_t)(t % S) * (size_t)ncols;
        for (int d = d4; d < ncols; d++)
            acc[d] = fmaf(f16 ? em_fp16_to_fp32(((const em_fp16 *)row)[d]) : ((const float *)row)[d], pt, acc[d]);
    }
    const float *L[8];
    for (int s = 0; s < S; s++) L[s] = work + (size_t)(s < used ? s : used) * (size_t)ncols;
    for (int d = 0; d < ncols; d++) {
        if (tiled) {
            out[d] = (L[0][d] + L[1][d]) + (L[2][d] + L[3][d]);
        } else {
            const float l0 = L[0][d] + L[4][d], l1 = L[1][d] + L[5][d];
            const float l2 = L[2][d] + L[6][d], l3 = L[3][d] + L[7][d];
            out[d] = (l0 + l1) + (l2 + l3);
        }
    }
}

// ---- F32 NN product ----------------------------------------------------------------

/* MR <= 6 rows of a by NV 4-column vectors of b (up to 16 columns): 24
 * accumulators, 4 vectors of b. Every output is one fused chain over p in
 * order, as the reference's fmaf, so the bits are the reference's. */
INLINE void sgemm_tile(int MR, int NV, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                       int64_t ldc) {
    float32x4_t acc[6][4];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = vdupq_n_f32(0.0f);
    for (int64_t p = 0; p < k; p++) {
        const float *bp = b + p * ldb;
        float32x4_t bv[4];
        for (int v = 0; v < NV; v++) bv[v] = vld1q_f32(bp + 4 * v);
        for (int r = 0; r < MR; r++) {
            const float av = a[r * lda + p];
            for (int v = 0; v < NV; v++) acc[r][v] = vfmaq_n_f32(acc[r][v], bv[v], av);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) vst1q_f32(c + r * ldc + 4 * v, acc[r][v]);
}

static void sgemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                  int64_t ldc) {
    int64_t j = 0;
    for (; j + 16 <= n; j += 16)
        for (int64_t i = 0; i < m; i += 6) {
            const float *ai = a + i * lda;
            float *ci = c + i * ldc + j;
            switch (m - i < 6 ? m - i : 6) {
            case 1: sgemm_tile(1, 4, k, ai, lda, b + j, ldb, ci, ldc); break;
            case 2: sgemm_tile(2, 4, k, ai, lda, b + j, ldb, ci, ldc); break;
            case 3: sgemm_tile(3, 4, k, ai, lda, b + j, ldb, ci, ldc); break;
            case 4: sgemm_tile(4, 4, k, ai, lda, b + j, ldb, ci, ldc); break;
            case 5: sgemm_tile(5, 4, k, ai, lda, b + j, ldb, ci, ldc); break;
            default: sgemm_tile(6, 4, k, ai, lda, b + j, ldb, ci, ldc); break;
            }
        }
    /* the right edge: whole vectors a row at a time, then single columns */
    const int nv = (int)((n - j) / 4);
    for (int64_t i = 0; nv > 0 && i < m; i++) {
        switch (nv) {
        case 1: sgemm_tile(1, 1, k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc); break;
        case 2: sgemm_tile(1, 2, k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc); break;
        default: sgemm_tile(1, 3, k, a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc); break;
        }
    }
    for (j += 4 * nv; j < n; j++)
        for (int64_t i = 0; i < m; i++) {
            float s = 0.0f;
            for (int64_t p = 0; p < k; p++) s = fmaf(a[i * lda + p], b[p * ldb + j], s);
            c[i * ldc + j] = s;
        }
}

// ---- table ---------------------------------------------------------------------------

#if defined(__ARM_FEATURE_DOTPROD)
void cpu_kernels_init_neon_dotprod(cpu_kernels *k) {
    k->isa = "neon-dotprod";
#else
void cpu_kernels_init_neon(cpu_kernels *k) {
    k->isa = "neon";
#endif
    k->to_float[EM_TYPE_F16] = f16_to_float;
    k->from_float[EM_TYPE_F16] = f16_from_float;
    k->to_float[EM_TYPE_BF16] = bf16_to_float;
    k->from_float[EM_TYPE_BF16] = bf16_from_float;
    k->from_float[EM_TYPE_Q8_0] = q8_0_from_float;
    k->vec_dot[EM_TYPE_F32] = f32_dot;
    k->vec_dot[EM_TYPE_F16] = f16_dot;
    k->vec_dot[EM_TYPE_BF16] = bf16_dot;
    k->vec_dot_rows[EM_TYPE_F32] = f32_dot_rows;
    k->vec_dot_rows[EM_TYPE_F16] = f16_dot_rows;
    k->vec_dot[EM_TYPE_Q8_0] = q8_0_dot;
    k->vec_dot[EM_TYPE_Q4_0] = q4_0_dot;
    k->gemm[EM_TYPE_F32] = gemm_f32;
    k->gemm[EM_TYPE_F16] = gemm_f16;
    k->gemm[EM_TYPE_BF16] = gemm_bf16;
    k->gemm[EM_TYPE_Q8_0] = gemm_q8_0;
    k->gemm[EM_TYPE_Q4_0] = gemm_q4_0;
    for (int t = 0; t < EM_TYPE_COUNT; t++) {
        k->gemm_rows[t] = TM;
        k->gemm_k[t] = t == EM_TYPE_F32 || t == EM_TYPE_F16 || t == EM_TYPE_BF16 ? 8 : 32;
        k->gemm_m[t] = 1;
    }
    k->attn_pv = attn_pv;
    k->pv_work = 8;
    k->sgemm = sgemm;
#if defined(__ARM_FEATURE_DOTPROD)
    cpu_quant_init_neon_dotprod(k); /* Q4_1 .. IQ4_NL, the K-quants (cpu_quant_neon.c) */
#else
    cpu_quant_init_neon(k);
#endif
}
