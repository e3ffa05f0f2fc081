/* cpu_quant_k.c - the K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) on the CPU:
 * reference dequantizers and quantizers, the Q8_K activation quantizer, and
 * scalar dot products, registered into the kernel table by
 * cpu_kernels_init_kquants (from cpu_kernels_init_ref).
 *
 * Every function follows llama.cpp's mainline ggml (ggml-quants.c and
 * ggml-cpu/quants.c) in what it computes and in the order it rounds, so:
 *   - the quantizers write the blocks llama-quantize writes from the same
 *     floats without an importance matrix (quantize_row_q*_K_ref). That
 *     includes mainline's make_qx_quants for Q6_K/Q3_K; ik_llama.cpp's
 *     variant also tries positive scales and refines greedily, so its Q6_K
 *     blocks differ from these;
 *   - activations are quantized to Q8_K as ggml's x86 CPU backend does it
 *     (its quantize_row_q8_K is the reference one: scale -127/max with the
 *     sign of the largest value, round to nearest even);
 *   - the dots sum as ggml's generic C code does: integer products per
 *     sub-block in 8 lanes, one float multiply-add per lane and block, the
 *     mins through the activation's 16-value sums (bsums).
 * This file is compiled with -ffp-contract=off (CMakeLists.txt): every
 * product is rounded as written, as in ggml's baseline x86-64 build, so the
 * blocks come out the same on machines that have a fused multiply-add.
 *
 * Workload: the quantizers run once per weight in tools (mkmodel, tests);
 * their searches try up to 21 scales per 16 or 32 values. The dots are the
 * decode path on a CPU without a SIMD variant for these types. */
#include <math.h>
#include <stdbool.h>

#include "cpu_kernels_impl.h"

#define QK EM_QK_K
/* Sub-blocks whose largest magnitude is below this are all zero (ggml's GROUP_MAX_EPS). */
#define KQ_EPS 1e-15f

// ---- helpers -----------------------------------------------------------------

/* Round to nearest, ties to even, as ggml's nearest_int: adding 1.5 * 2^23
 * puts the integer in the low mantissa bits. The same as nearbyintf for
 * |v| < 2^22, and defined (if meaningless) past it, where ggml asserts and a
 * release build gets these bits. */
static inline int kq_round(float v) {
    const float f = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

static inline int kq_clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The value of largest magnitude among x[0..n), with its sign (the first
 * such, as llama.cpp keeps it); its magnitude goes to *amax. */
static inline float kq_signed_max(int n, const float *x, float *amax) {
    float a = 0, max = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > a) {
            a = ax;
            max = x[i];
        }
    }
    *amax = a;
    return max;
}

/* Q4_K/Q5_K's 12 bytes: sub-blocks 0-3 keep scale and min in the low 6 bits
 * of bytes 0-3 and 4-7; sub-blocks 4-7 keep their low 4 bits as nibbles of
 * bytes 8-11 and their top 2 bits in the spare top bits of bytes 0-7. */
static inline void kq_scale_min(int j, const uint8_t *s, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

static void kq_pack_scale_min(uint8_t *s, const uint8_t *ls, const uint8_t *lm) {
    for (int j = 0; j < 4; j++) {
        s[j] = ls[j];
        s[j + 4] = lm[j];
    }
    for (int j = 4; j < 8; j++) {
        s[j + 4] = (uint8_t)((ls[j] & 0x0F) | ((lm[j] & 0x0F) << 4));
        s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
        s[j] |= (uint8_t)((lm[j] >> 4) << 6);
    }
}

/* Q3_K's 16 6-bit scales (stored biased by 32): low 4 bits as nibbles of
 * bytes 0-7 (sub-blocks 0-7 low nibbles, 8-15 high), top 2 bits in bytes
 * 8-11 (byte 8 + j%4, bit pair j/4). Returns them unbiased. */
static void kq_q3_scales(const uint8_t *s, int8_t *out) {
    for (int j = 0; j < 16; j++) {
        const int lo = j < 8 ? s[j] & 0x0F : s[j - 8] >> 4;
        const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

/* Four 2-bit values (L[j], L[j+32], L[j+64], L[j+96]) per byte, per half of a block. */
static void kq_pack_2bit(uint8_t *qs, const uint8_t *L) {
    for (int j = 0; j < QK; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

// ---- scale searches (ggml's make_qkx2_quants, make_qx_quants, make_q3_quants) ----

/* Asymmetric fit of n values to 0..nmax: x ~ scale * L - min with min >= 0,
 * minimising the weighted squared (or, use_abs, absolute) error. Starts from
 * the range (min(x, 0) .. max) over nmax steps, then tries nstep + 1 other
 * step counts (nmax + rmin + rdelta * is) with the least-squares scale and
 * min for each rounding, keeping the best. Returns the scale; *neg_min = min. */
static float kq_fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *neg_min,
                              uint8_t *Laux, float rmin, float rdelta, int nstep, bool use_abs) {
    float lo = x[0], hi = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (lo > 0) lo = 0;
    if (hi == lo) {
        memset(L, 0, (size_t)n);
        *neg_min = -lo;
        return 0.0f;
    }
    float iscale = nmax / (hi - lo);
    float scale = 1 / iscale;
    float best = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)kq_clamp(kq_round(iscale * (x[i] - lo)), 0, nmax);
        float diff = scale * L[i] + lo - x[i];
        diff = use_abs ? fabsf(diff) : diff * diff;
        best += w[i] * diff;
    }
    if (nstep < 1) {
        *neg_min = -lo;
        return scale;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (hi - lo);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = kq_clamp(kq_round(iscale * (x[i] - lo)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * Laux[i] + this_min - x[i];
            diff = use_abs ? fabsf(diff) : diff * diff;
            err += w[i] * diff;
        }
        if (err < best) {
            memcpy(L, Laux, (size_t)n);
            best = err;
            scale = this_scale;
            lo = this_min;
        }
    }
    *neg_min = -lo;
    return scale;
}

/* Symmetric fit of n values to -nmax..nmax-1 (stored +nmax), weights x^2:
 * the scale that maps the value of largest magnitude to -nmax, then 18 more
 * (-(nmax +- 0.1 k) / max), each with its least-squares scale, keeping the
 * one that explains most of the weighted sum of squares. */
static float kq_fit_scale(int n, int nmax, const float *x, int8_t *L) {
    float amax;
    const float max = kq_signed_max(n, x, &amax);
    if (amax < KQ_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = kq_clamp(kq_round(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = kq_clamp(kq_round(iscale * x[i]), -nmax, nmax - 1);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + kq_clamp(kq_round(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's symmetric fit: start from -nmax / max, then up to 5 passes that move
 * single values to the level their own least-squares solution asks for when
 * that explains more of the weighted (x^2) sum of squares. */
static float kq_fit_scale_q3(int n, int nmax, const float *x, int8_t *L) {
    float amax;
    const float max = kq_signed_max(n, x, &amax);
    if (amax < KQ_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = kq_clamp(kq_round(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (!(slx > 0)) continue;
            float sl2 = suml2 - w * L[i] * L[i];
            const int nl = kq_clamp(kq_round(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (nl == L[i]) continue;
            slx += w * x[i] * nl;
            sl2 += w * nl * nl;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)nl;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// ---- Q2_K: 2 bits, 16 x 16 values, 4-bit scales and mins -----------------------

void cpu_quantize_row_q2_K_ref(const float *x, em_block_q2_K *y, int64_t n) {
    uint8_t L[QK], Laux[16];
    float w[16], mins[QK / 16], scales[QK / 16];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK / 16; j++) {
            for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * j + l]);
            scales[j] = kq_fit_scale_min(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = 15.0f / max_scale;
            for (int j = 0; j < QK / 16; j++) y[i].scales[j] = (uint8_t)kq_round(iscale * scales[j]);
            y[i].d = em_fp32_to_fp16(max_scale / 15.0f);
        } else {
            memset(y[i].scales, 0, sizeof y[i].scales);
            y[i].d = em_fp32_to_fp16(0.0f);
        }
        if (max_min > 0) {
            const float iscale = 15.0f / max_min;
            for (int j = 0; j < QK / 16; j++) y[i].scales[j] |= (uint8_t)(kq_round(iscale * mins[j]) << 4);
            y[i].dmin = em_fp32_to_fp16(max_min / 15.0f);
        } else {
            y[i].dmin = em_fp32_to_fp16(0.0f);
        }
        /* requantize against the scales as stored (4 bits, fp16 d) */
        for (int j = 0; j < QK / 16; j++) {
            const float d = em_fp16_to_fp32(y[i].d) * (y[i].scales[j] & 0x0F);
            if (!d) continue;
            const float dm = em_fp16_to_fp32(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int l = 0; l < 16; l++) L[16 * j + l] = (uint8_t)kq_clamp(kq_round((x[16 * j + l] + dm) / d), 0, 3);
        }
        kq_pack_2bit(y[i].qs, L);
    }
}

static void q2_K_to_float(const void *src, float *dst, int64_t n) {
    const em_block_q2_K *b = src;
    for (int64_t i = 0; i < n / QK; i++) {
        const float d = em_fp16_to_fp32(b[i].d), dmin = em_fp16_to_fp32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32)
            for (int shift = 0; shift < 8; shift += 2)
                for (int part = 0; part < 2; part++) {
                    const uint8_t sc = b[i].scales[is++];
                    const float dl = d * (sc & 0x0F), ml = dmin * (sc >> 4);
                    for (int l = 0; l < 16; l++) *dst++ = dl * ((q[16 * part + l] >> shift) & 3) - ml;
                }
    }
}

/* ggml's generic order: per block one integer sum of scaled products, and the
 * mins from bsums, folded into one float sum. */
static float q2_K_dot(int64_t n, const void *a, const void *b) {
    const em_block_q2_K *x = a;
    const em_block_q8_K *y = b;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        const uint8_t *q2 = x[i].qs, *sc = x[i].scales;
        const int8_t *q8 = y[i].qs;
        int summs = 0;
        for (int j = 0; j < 16; j++) summs += y[i].bsums[j] * (sc[j] >> 4);
        const float dall = y[i].d * em_fp16_to_fp32(x[i].d);
        const float dmin = y[i].d * em_fp16_to_fp32(x[i].dmin);
        int isum = 0, is = 0;
        for (int half = 0; half < 2; half++, q2 += 32)
            for (int shift = 0; shift < 8; shift += 2, q8 += 32)
                for (int part = 0; part < 2; part++) {
                    int s = 0;
                    for (int l = 16 * part; l < 16 * part + 16; l++) s += q8[l] * ((q2[l] >> shift) & 3);
                    isum += (sc[is++] & 0x0F) * s;
                }
        sumf += dall * isum - dmin * summs;
    }
    return sumf;
}

// ---- Q3_K: 3 bits, 16 x 16 values, 6-bit signed scales --------------------------

void cpu_quantize_row_q3_K_ref(const float *x, em_block_q3_K *y, int64_t n) {
    int8_t L[QK];
    float scales[QK / 16];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax;
        for (int j = 0; j < QK / 16; j++) scales[j] = kq_fit_scale_q3(16, 4, x + 16 * j, L + 16 * j);
        const float max_scale = kq_signed_max(QK / 16, scales, &amax);
        memset(y[i].scales, 0, sizeof y[i].scales);
        if (max_scale) {
            const float iscale = -32.0f / max_scale;
            for (int j = 0; j < QK / 16; j++) {
                int l = kq_clamp((int8_t)kq_round(iscale * scales[j]), -32, 31) + 32;
                if (j < 8) y[i].scales[j] = (uint8_t)(l & 0x0F);
                else y[i].scales[j - 8] |= (uint8_t)((l & 0x0F) << 4);
                y[i].scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            y[i].d = em_fp32_to_fp16(1 / iscale);
        } else {
            y[i].d = em_fp32_to_fp16(0.0f);
        }
        int8_t sc[16];
        kq_q3_scales(y[i].scales, sc);
        for (int j = 0; j < QK / 16; j++) {
            const float d = em_fp16_to_fp32(y[i].d) * sc[j];
            if (!d) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (int8_t)(kq_clamp(kq_round(x[16 * j + l] / d), -4, 3) + 4);
        }
        /* the third bit: value j's in hmask[j % 32], bit j / 32 */
        memset(y[i].hmask, 0, sizeof y[i].hmask);
        uint8_t low[QK];
        for (int j = 0; j < QK; j++) {
            int l = L[j];
            if (l > 3) {
                y[i].hmask[j % 32] |= (uint8_t)(1u << (j / 32));
                l -= 4;
            }
            low[j] = (uint8_t)l;
        }
        kq_pack_2bit(y[i].qs, low);
    }
}

static void q3_K_to_float(const void *src, float *dst, int64_t n) {
    const em_block_q3_K *b = src;
    for (int64_t i = 0; i < n / QK; i++) {
        const float d = em_fp16_to_fp32(b[i].d);
        int8_t sc[16];
        kq_q3_scales(b[i].scales, sc);
        const uint8_t *q = b[i].qs, *hm = b[i].hmask;
        int is = 0;
        uint8_t m = 1;
        for (int half = 0; half < 2; half++, q += 32)
            for (int shift = 0; shift < 8; shift += 2, m <<= 1)
                for (int part = 0; part < 2; part++) {
                    const float dl = d * sc[is++];
                    for (int l = 16 * part; l < 16 * part + 16; l++)
                        *dst++ = dl * (((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                }
    }
}

/* Values of one Q3_K block as int8 (-4..3), in order. */
static void q3_K_values(const em_block_q3_K *b, int8_t *v) {
    uint8_t m = 1;
    for (int half = 0; half < 2; half++)
        for (int shift = 0; shift < 8; shift += 2, m <<= 1)
            for (int l = 0; l < 32; l++)
                *v++ = (int8_t)(((b->qs[32 * half + l] >> shift) & 3) - ((b->hmask[l] & m) ? 0 : 4));
}

// ---- Q4_K / Q5_K: 4 or 5 bits, 8 x 32 values, 6-bit scales and mins ------------

/* The part the two share: per sub-block of 32 the weighted min/scale fit
 * (weights sqrt(mean x^2) + |x|), the 6-bit scales and mins against the
 * largest, then every value requantized against the stored ones. */
static void q45_K_quantize(const float *x, int nmax, float rmin, float rdelta, int nstep, em_fp16 *yd, em_fp16 *ydmin,
                           uint8_t *s, uint8_t *L) {
    uint8_t Laux[32], ls[8], lm[8];
    float w[32], mins[8], scales[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = kq_fit_scale_min(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < 8; j++) {
        /* (uint8_t) as ggml stores it, then at most 63 */
        uint8_t a = (uint8_t)kq_round(inv_scale * scales[j]), b = (uint8_t)kq_round(inv_min * mins[j]);
        ls[j] = a < 63 ? a : 63;
        lm[j] = b < 63 ? b : 63;
    }
    kq_pack_scale_min(s, ls, lm);
    *yd = em_fp32_to_fp16(max_scale / 63.0f);
    *ydmin = em_fp32_to_fp16(max_min / 63.0f);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        kq_scale_min(j, s, &sc, &m);
        const float d = em_fp16_to_fp32(*yd) * sc;
        if (!d) continue;
        const float dm = em_fp16_to_fp32(*ydmin) * m;
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)kq_clamp(kq_round((x[32 * j + l] + dm) / d), 0, nmax);
    }
}

void cpu_quantize_row_q4_K_ref(const float *x, em_block_q4_K *y, int64_t n) {
    uint8_t L[QK];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        q45_K_quantize(x, 15, -1.0f, 0.1f, 20, &y[i].d, &y[i].dmin, y[i].scales, L);
        /* byte l of each 32: value l (low nibble) and value l + 32 (high) of each 64 */
        for (int j = 0; j < QK; j += 64)
            for (int l = 0; l < 32; l++) y[i].qs[j / 2 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void cpu_quantize_row_q5_K_ref(const float *x, em_block_q5_K *y, int64_t n) {
    uint8_t L[QK];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        q45_K_quantize(x, 31, -0.5f, 0.1f, 15, &y[i].d, &y[i].dmin, y[i].scales, L);
        /* low nibbles as Q4_K; the fifth bit of value l + 64 c (+ 32) in qh[l], bit 2c (+ 1) */
        memset(y[i].qh, 0, sizeof y[i].qh);
        for (int j = 0; j < QK; j += 64)
            for (int l = 0; l < 32; l++) {
                const int v0 = L[j + l], v1 = L[j + l + 32];
                y[i].qh[l] |= (uint8_t)(((v0 >> 4) << (j / 32)) | ((v1 >> 4) << (j / 32 + 1)));
                y[i].qs[j / 2 + l] = (uint8_t)((v0 & 0x0F) | ((v1 & 0x0F) << 4));
            }
    }
}

static void q4_K_to_float(const void *src, float *dst, int64_t n) {
    const em_block_q4_K *b = src;
    for (int64_t i = 0; i < n / QK; i++) {
        const float d = em_fp16_to_fp32(b[i].d), dmin = em_fp16_to_fp32(b[i].dmin);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            kq_scale_min(j, b[i].scales, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            const uint8_t *q = b[i].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) *dst++ = dl * ((q[l] >> shift) & 0x0F) - ml;
        }
    }
}

static void q5_K_to_float(const void *src, float *dst, int64_t n) {
    const em_block_q5_K *b = src;
    for (int64_t i = 0; i < n / QK; i++) {
        const float d = em_fp16_to_fp32(b[i].d), dmin = em_fp16_to_fp32(b[i].dmin);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            kq_scale_min(j, b[i].scales, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            const uint8_t *q = b[i].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++)
                *dst++ = dl * (((q[l] >> shift) & 0x0F) + ((b[i].qh[l] >> j) & 1 ? 16 : 0)) - ml;
        }
    }
}

/* The values of sub-block j (0..7) of a Q4_K or Q5_K block (qh NULL for Q4_K). */
static void q45_K_values(const uint8_t *qs, const uint8_t *qh, int8_t *v) {
    for (int j = 0; j < 8; j++) {
        const uint8_t *q = qs + 32 * (j / 2);
        const int shift = 4 * (j % 2);
        for (int l = 0; l < 32; l++)
            *v++ = (int8_t)(((q[l] >> shift) & 0x0F) + (qh && ((qh[l] >> j) & 1) ? 16 : 0));
    }
}

/* ggml's generic order for the 8-lane dots (Q3_K..Q6_K): the integer
 * products of a block, each times its sub-block's scale, summed in 8 lanes
 * (lane = position mod 8); then per lane one float multiply-add by the
 * block's d times the activation's d; the lanes added in order at the end,
 * onto whatever else (the mins) the dot has accumulated in sumf. */
static void kq_lanes(int32_t *lanes, const int8_t *v, const int8_t *q8, const int *scale_of_16) {
    for (int l = 0; l < 8; l++) lanes[l] = 0;
    for (int p = 0; p < QK; p++) lanes[p % 8] += scale_of_16[p / 16] * (v[p] * q8[p]);
}

static float q45_K_dot(int64_t n, const em_block_q4_K *x4, const em_block_q5_K *x5, const em_block_q8_K *y) {
    float sums[8] = {0}, sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        const uint8_t *s = x4 ? x4[i].scales : x5[i].scales;
        int8_t v[QK];
        int sc16[16], mins[8];
        int32_t lanes[8];
        q45_K_values(x4 ? x4[i].qs : x5[i].qs, x4 ? NULL : x5[i].qh, v);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            kq_scale_min(j, s, &sc, &m);
            sc16[2 * j] = sc16[2 * j + 1] = sc;
            mins[j] = m;
        }
        int summ = 0;
        for (int j = 0; j < 16; j++) summ += y[i].bsums[j] * mins[j / 2];
        kq_lanes(lanes, v, y[i].qs, sc16);
        const float d = em_fp16_to_fp32(x4 ? x4[i].d : x5[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * lanes[l];
        const float dmin = em_fp16_to_fp32(x4 ? x4[i].dmin : x5[i].dmin) * y[i].d;
        sumf -= dmin * summ;
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

static float q4_K_dot(int64_t n, const void *a, const void *b) { return q45_K_dot(n, a, NULL, b); }
static float q5_K_dot(int64_t n, const void *a, const void *b) { return q45_K_dot(n, NULL, a, b); }

static float q3_K_dot(int64_t n, const void *a, const void *b) {
    const em_block_q3_K *x = a;
    const em_block_q8_K *y = b;
    float sums[8] = {0}, sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int8_t v[QK], sc[16];
        int sc16[16];
        int32_t lanes[8];
        q3_K_values(&x[i], v);
        kq_q3_scales(x[i].scales, sc);
        for (int j = 0; j < 16; j++) sc16[j] = sc[j];
        kq_lanes(lanes, v, y[i].qs, sc16);
        const float d = em_fp16_to_fp32(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * lanes[l];
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

// ---- Q6_K: 6 bits, 16 x 16 values, int8 scales ------------------------------------

void cpu_quantize_row_q6_K_ref(const float *x, em_block_q6_K *y, int64_t n) {
    int8_t L[QK];
    float scales[QK / 16];
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float max_abs;
        for (int j = 0; j < QK / 16; j++) scales[j] = kq_fit_scale(16, 32, x + 16 * j, L + 16 * j);
        const float max_scale = kq_signed_max(QK / 16, scales, &max_abs);
        if (max_abs < KQ_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -128.0f / max_scale;
        y[i].d = em_fp32_to_fp16(1 / iscale);
        for (int j = 0; j < QK / 16; j++) {
            const int s = kq_round(iscale * scales[j]);
            y[i].scales[j] = (int8_t)(s < 127 ? s : 127);
        }
        for (int j = 0; j < QK / 16; j++) {
            const float d = em_fp16_to_fp32(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (int8_t)(kq_clamp(kq_round(x[16 * j + l] / d), -32, 31) + 32);
        }
        /* per half of 128: low nibbles of values l and l + 64 in ql[l], of
         * l + 32 and l + 96 in ql[l + 32]; the four top bit pairs in qh[l] */
        for (int h = 0; h < 2; h++) {
            const int8_t *Lh = L + 128 * h;
            uint8_t *ql = y[i].ql + 64 * h, *qh = y[i].qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((Lh[l] & 0x0F) | ((Lh[l + 64] & 0x0F) << 4));
                ql[l + 32] = (uint8_t)((Lh[l + 32] & 0x0F) | ((Lh[l + 96] & 0x0F) << 4));
                qh[l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
            }
        }
    }
}

/* The values of one Q6_K block, -32..31, in order. */
static void q6_K_values(const em_block_q6_K *b, int8_t *v) {
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        for (int c = 0; c < 4; c++) /* values 32 c + l of this half */
            for (int l = 0; l < 32; l++) {
                const int lo = (ql[l + 32 * (c % 2)] >> (4 * (c / 2))) & 0x0F;
                const int hi = (qh[l] >> (2 * c)) & 3;
                v[128 * h + 32 * c + l] = (int8_t)((lo | (hi << 4)) - 32);
            }
    }
}

static void q6_K_to_float(const void *src, float *dst, int64_t n) {
    const em_block_q6_K *b = src;
    for (int64_t i = 0; i < n / QK; i++) {
        const float d = em_fp16_to_fp32(b[i].d);
        int8_t v[QK];
        q6_K_values(&b[i], v);
        for (int p = 0; p < QK; p++) dst[p] = d * b[i].scales[p / 16] * v[p];
        dst += QK;
    }
}

static float q6_K_dot(int64_t n, const void *a, const void *b) {
    const em_block_q6_K *x = a;
    const em_block_q8_K *y = b;
    float sums[8] = {0}, sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        int8_t v[QK];
        int sc16[16];
        int32_t lanes[8];
        q6_K_values(&x[i], v);
        for (int j = 0; j < 16; j++) sc16[j] = x[i].scales[j];
        kq_lanes(lanes, v, y[i].qs, sc16);
        const float d = em_fp16_to_fp32(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++) sums[l] += d * lanes[l];
    }
    for (int l = 0; l < 8; l++) sumf += sums[l];
    return sumf;
}

// ---- Q8_K: the activations -------------------------------------------------------

/* Scale -127/max, max the value of largest magnitude with its sign, so that
 * value lands on -127 exactly; round to nearest even, at most 127. An
 * all-zero block gets d = 0, zero values and zero sums. */
void cpu_quantize_row_q8_K(const float *x, em_block_q8_K *y, int64_t n) {
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        float amax;
        const float max = kq_signed_max(QK, x, &amax);
        if (!amax) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK; j++) {
            const int v = kq_round(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK / 16; j++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)s;
        }
        y[i].d = 1 / iscale;
    }
}

static void q8_K_to_float(const void *src, float *dst, int64_t n) {
    const em_block_q8_K *b = src;
    for (int64_t i = 0; i < n / QK; i++)
        for (int j = 0; j < QK; j++) *dst++ = b[i].d * b[i].qs[j];
}

static void q2_K_from_float(const float *src, void *dst, int64_t n) { cpu_quantize_row_q2_K_ref(src, dst, n); }
static void q3_K_from_float(const float *src, void *dst, int64_t n) { cpu_quantize_row_q3_K_ref(src, dst, n); }
static void q4_K_from_float(const float *src, void *dst, int64_t n) { cpu_quantize_row_q4_K_ref(src, dst, n); }
static void q5_K_from_float(const float *src, void *dst, int64_t n) { cpu_quantize_row_q5_K_ref(src, dst, n); }
static void q6_K_from_float(const float *src, void *dst, int64_t n) { cpu_quantize_row_q6_K_ref(src, dst, n); }
static void q8_K_from_float(const float *src, void *dst, int64_t n) { cpu_quantize_row_q8_K(src, dst, n); }

// ---- table -------------------------------------------------------------------------

void cpu_kernels_init_kquants(cpu_kernels *k) {
    static const struct {
        enum em_type t;
        cpu_to_float_fn to_float;
        cpu_from_float_fn from_float;
        cpu_vec_dot_fn dot;
    } kq[] = {
        {EM_TYPE_Q2_K, q2_K_to_float, q2_K_from_float, q2_K_dot},
        {EM_TYPE_Q3_K, q3_K_to_float, q3_K_from_float, q3_K_dot},
        {EM_TYPE_Q4_K, q4_K_to_float, q4_K_from_float, q4_K_dot},
        {EM_TYPE_Q5_K, q5_K_to_float, q5_K_from_float, q5_K_dot},
        {EM_TYPE_Q6_K, q6_K_to_float, q6_K_from_float, q6_K_dot},
    };
    for (size_t i = 0; i < sizeof kq / sizeof kq[0]; i++) {
        k->dot_type[kq[i].t] = EM_TYPE_Q8_K;
        k->to_float[kq[i].t] = kq[i].to_float;
        k->from_float[kq[i].t] = kq[i].from_float;
        k->vec_dot[kq[i].t] = kq[i].dot;
    }
    /* Q8_K is an activation type only: converted to and read back, never a weight */
    k->to_float[EM_TYPE_Q8_K] = q8_K_to_float;
    k->from_float[EM_TYPE_Q8_K] = q8_K_from_float;
}
