/* cpu_quant_32.c - the 32-value block types after Q8_0 and Q4_0: Q4_1,
 * Q5_0, Q5_1 and IQ4_NL weights, and Q8_1, the activation type of the two
 * with an offset (Q4_1, Q5_1). Portable scalar kernels: dequantization, the
 * file quantizers, the activation quantizer and the dot products.
 *
 * Where the bits come from (llama.cpp's ggml, read from its public source):
 *   - the weight quantizers are its quantize_row_*_ref (and, for IQ4_NL, the
 *     quantizer llama-quantize runs, which is not its _ref): a file Ember
 *     writes holds the blocks llama.cpp would write. tests/test_quant_peer.c
 *     checks this against llama.cpp's own library, byte for byte;
 *   - the Q8_1 activation quantizer is its x86 runtime quantize_row_q8_1
 *     (127/amax multiplier, ties to even, s from the unrounded scale), as
 *     cpu_quantize_row_q8_0_act is for Q8_0;
 *   - the dots add one block at a time in float, in the order of its
 *     portable (generic) vec_dot: integer sums per block, then one product
 *     with both scales, plus m * s for the types with an offset.
 * This file is built with -ffp-contract=off (CMakeLists.txt): each product
 * and sum rounds as written, as in llama.cpp's x86-64 baseline build, not
 * fused into an FMA where the target has one (aarch64).
 *
 * Weights with an offset: value = d q + m. Against activations x = dx qx
 * the block's product is d dx sum(q qx) + m dx sum(qx); the second term is
 * m * s with s = dx sum(qx) precomputed by the activation quantizer (and
 * rounded to fp16 there, which the result inherits, as llama.cpp's does). */
#include <float.h>
#include <math.h>

#include "cpu_kernels_impl.h"

const int8_t cpu_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* The 32-bit qh of a Q5 block, bit j the 5th bit of value j; little-endian
 * in the file, whatever the host. */
static inline uint32_t q5_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}
static inline void q5_set_qh(uint8_t qh[4], uint32_t v) {
    for (int i = 0; i < 4; i++) qh[i] = (uint8_t)(v >> (8 * i));
}

// ---- dequantization -----------------------------------------------------------

static void q4_1_to_float(const void *src, float *dst, int64_t n) {
    const em_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / EM_QK32; i++, dst += EM_QK32) {
        const float d = em_fp16_to_fp32(b[i].d), m = em_fp16_to_fp32(b[i].m);
        for (int j = 0; j < EM_QK32 / 2; j++) {
            dst[j] = (b[i].qs[j] & 0x0F) * d + m;
            dst[j + 16] = (b[i].qs[j] >> 4) * d + m;
        }
    }
}

static void q5_0_to_float(const void *src, float *dst, int64_t n) {
    const em_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / EM_QK32; i++, dst += EM_QK32) {
        const float d = em_fp16_to_fp32(b[i].d);
        const uint32_t qh = q5_qh(b[i].qh);
        for (int j = 0; j < EM_QK32 / 2; j++) {
            const int q0 = (b[i].qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
            const int q1 = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            dst[j] = (q0 - 16) * d;
            dst[j + 16] = (q1 - 16) * d;
        }
    }
}

static void q5_1_to_float(const void *src, float *dst, int64_t n) {
    const em_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / EM_QK32; i++, dst += EM_QK32) {
        const float d = em_fp16_to_fp32(b[i].d), m = em_fp16_to_fp32(b[i].m);
        const uint32_t qh = q5_qh(b[i].qh);
        for (int j = 0; j < EM_QK32 / 2; j++) {
            const int q0 = (b[i].qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
            const int q1 = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            dst[j] = q0 * d + m;
            dst[j + 16] = q1 * d + m;
        }
    }
}

static void iq4_nl_to_float(const void *src, float *dst, int64_t n) {
    const em_block_iq4_nl *b = src;
    for (int64_t i = 0; i < n / EM_QK32; i++, dst += EM_QK32) {
        const float d = em_fp16_to_fp32(b[i].d);
        for (int j = 0; j < EM_QK32 / 2; j++) {
            dst[j] = d * cpu_iq4nl_values[b[i].qs[j] & 0x0F];
            dst[j + 16] = d * cpu_iq4nl_values[b[i].qs[j] >> 4];
        }
    }
}

/* s is not needed to recover the values: it only shortens the dots. */
static void q8_1_to_float(const void *src, float *dst, int64_t n) {
    const em_block_q8_1 *b = src;
    for (int64_t i = 0; i < n / EM_QK32; i++, dst += EM_QK32) {
        const float d = em_fp16_to_fp32(b[i].d);
        for (int j = 0; j < EM_QK32; j++) dst[j] = d * b[i].qs[j];
    }
}

// ---- file quantizers (llama.cpp's rounding) ----------------------------------

/* The block's range [min, max] in 15 steps: m = min, d = (max - min) / 15,
 * q = the step below (x - min) / d + 0.5, at most 15. */
void cpu_quantize_row_q4_1_ref(const float *x, em_block_q4_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / EM_QK32; i++, x += EM_QK32) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < EM_QK32; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = em_fp32_to_fp16(d);
        y[i].m = em_fp32_to_fp16(min);
        for (int j = 0; j < EM_QK32 / 2; j++) {
            int q0 = (int8_t)((x[j] - min) * id + 0.5f), q1 = (int8_t)((x[j + 16] - min) * id + 0.5f);
            if (q0 > 15) q0 = 15;
            if (q1 > 15) q1 = 15;
            y[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* As Q4_0 with 32 levels: the value of largest magnitude maps to -16
 * exactly (d = max / -16), q = min(31, (int8)(x/d + 16.5)). */
void cpu_quantize_row_q5_0_ref(const float *x, em_block_q5_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / EM_QK32; i++, x += EM_QK32) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < EM_QK32; j++) {
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        }
        const float d = max / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = em_fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < EM_QK32 / 2; j++) {
            int q0 = (int8_t)(x[j] * id + 16.5f), q1 = (int8_t)(x[j + 16] * id + 16.5f);
            if (q0 > 31) q0 = 31;
            if (q1 > 31) q1 = 31;
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | (q1 & 0x0F) << 4);
            qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
        }
        q5_set_qh(y[i].qh, qh);
    }
}

/* As Q4_1 in 31 steps; llama.cpp does not clamp here: (x - min) / d + 0.5
 * stays below 32 for every finite block. */
void cpu_quantize_row_q5_1_ref(const float *x, em_block_q5_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / EM_QK32; i++, x += EM_QK32) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < EM_QK32; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = em_fp32_to_fp16(d);
        y[i].m = em_fp32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < EM_QK32 / 2; j++) {
            const int q0 = (uint8_t)((x[j] - min) * id + 0.5f), q1 = (uint8_t)((x[j + 16] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((q0 & 0x0F) | (q1 & 0x0F) << 4);
            qh |= (uint32_t)((q0 >> 4) & 1) << j | (uint32_t)((q1 >> 4) & 1) << (j + 16);
        }
        q5_set_qh(y[i].qh, qh);
    }
}

/* The level nearest to v (the lower one on a tie), by bisection. */
static int iq4nl_nearest(float v) {
    const int8_t *t = cpu_iq4nl_values;
    if (v <= t[0]) return 0;
    if (v >= t[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (v < t[mid]) hi = mid;
        else lo = mid;
    }
    return v - t[lo] < t[hi] - v ? lo : hi;
}

/* sum w q x and sum w q^2 over the block for levels L, w = x^2 (llama.cpp's
 * weighting without an importance matrix: large values matter most). */
static void iq4nl_sums(const float *x, const uint8_t *L, float *sqx, float *sq2) {
    float a = 0.0f, b = 0.0f;
    for (int j = 0; j < EM_QK32; j++) {
        const float q = cpu_iq4nl_values[L[j]], w = x[j] * x[j];
        a += w * q * x[j];
        b += w * q * q;
    }
    *sqx = a;
    *sq2 = b;
}

/* One IQ4_NL block, llama.cpp's search: levels for a first scale that puts
 * the largest value on an end of the table, then the least-squares scale
 * for those levels; with ntry > 0, 2 ntry + 1 further trial scales (the
 * least-squares scale of each one's levels kept where the weighted error is
 * smaller), and the levels chosen again for the final scale (in float, as
 * llama.cpp does, not the fp16 the block stores). L carries the levels between calls: with ntry <= 0 a block of zeros keeps
 * the previous block's levels, as llama.cpp's _ref does (their value is 0
 * either way). */
static void iq4nl_block(const float *x, em_block_iq4_nl *y, uint8_t *L, int ntry) {
    const int8_t *t = cpu_iq4nl_values;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < EM_QK32; j++) {
        if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
    }
    float d = 0.0f;
    if (amax >= 1e-15f) {
        d = ntry > 0 ? -max / t[0] : max / t[0];
        float id = 1.0f / d, sqx, sq2;
        for (int j = 0; j < EM_QK32; j++) L[j] = (uint8_t)iq4nl_nearest(id * x[j]);
        iq4nl_sums(x, L, &sqx, &sq2);
        d = sqx / sq2;
        float best = d * sqx;
        for (int itry = -ntry; itry <= ntry; itry++) {
            uint8_t La[EM_QK32];
            id = (float)(itry + t[0]) / max;
            for (int j = 0; j < EM_QK32; j++) La[j] = (uint8_t)iq4nl_nearest(id * x[j]);
            iq4nl_sums(x, La, &sqx, &sq2);
            if (sq2 > 0 && sqx * sqx > best * sq2) {
                d = sqx / sq2;
                best = d * sqx;
            }
        }
    }
    y->d = em_fp32_to_fp16(d);
    if (ntry > 0) {
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int j = 0; j < EM_QK32; j++) L[j] = (uint8_t)iq4nl_nearest(id * x[j]);
    }
    for (int j = 0; j < EM_QK32 / 2; j++) y->qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
}

void cpu_quantize_row_iq4_nl_ref(const float *x, em_block_iq4_nl *y, int64_t n) {
    uint8_t L[EM_QK32] = {0};
    for (int64_t i = 0; i < n / EM_QK32; i++) iq4nl_block(x + i * EM_QK32, &y[i], L, -1);
}

void cpu_quantize_row_iq4_nl(const float *x, em_block_iq4_nl *y, int64_t n) {
    uint8_t L[EM_QK32];
    for (int64_t i = 0; i < n / EM_QK32; i++) iq4nl_block(x + i * EM_QK32, &y[i], L, 7);
}

// ---- the activation quantizer --------------------------------------------------

/* Q8_1 as llama.cpp's x86 runtime makes it (cf. cpu_quantize_row_q8_0_act):
 * the multiplier 127/amax, ties to even, and s = d * sum(q) from the float d
 * before d is rounded to fp16. */
void cpu_quantize_row_q8_1_act(const float *x, em_block_q8_1 *y, int64_t n) {
    for (int64_t i = 0; i < n / EM_QK32; i++, x += EM_QK32) {
        float amax = 0.0f;
        for (int j = 0; j < EM_QK32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < EM_QK32; j++) {
            y[i].qs[j] = (int8_t)nearbyintf(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].d = em_fp32_to_fp16(d);
        y[i].s = em_fp32_to_fp16(d * (float)sum);
    }
}

static void q4_1_from_float(const float *src, void *dst, int64_t n) { cpu_quantize_row_q4_1_ref(src, dst, n); }
static void q5_0_from_float(const float *src, void *dst, int64_t n) { cpu_quantize_row_q5_0_ref(src, dst, n); }
static void q5_1_from_float(const float *src, void *dst, int64_t n) { cpu_quantize_row_q5_1_ref(src, dst, n); }
static void iq4_nl_from_float(const float *src, void *dst, int64_t n) { cpu_quantize_row_iq4_nl(src, dst, n); }
static void q8_1_from_float(const float *src, void *dst, int64_t n) { cpu_quantize_row_q8_1_act(src, dst, n); }

// ---- dot products ------------------------------------------------------------

static float q4_1_dot(int64_t n, const void *a, const void *b) {
    const em_block_q4_1 *x = a;
    const em_block_q8_1 *y = b;
    float s = 0.0f;
    for (int64_t i = 0; i < n / EM_QK32; i++) {
        int sumi = 0;
        for (int j = 0; j < EM_QK32 / 2; j++)
            sumi += (x[i].qs[j] & 0x0F) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        s += (em_fp16_to_fp32(x[i].d) * em_fp16_to_fp32(y[i].d)) * (float)sumi +
             em_fp16_to_fp32(x[i].m) * em_fp16_to_fp32(y[i].s);
    }
    return s;
}

static float q5_0_dot(int64_t n, const void *a, const void *b) {
    const em_block_q5_0 *x = a;
    const em_block_q8_0 *y = b;
    float s = 0.0f;
    for (int64_t i = 0; i < n / EM_QK32; i++) {
        const uint32_t qh = q5_qh(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < EM_QK32 / 2; j++) {
            const int q0 = ((x[i].qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4) - 16;
            const int q1 = ((x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - 16;
            sumi += q0 * y[i].qs[j] + q1 * y[i].qs[j + 16];
        }
        s += (em_fp16_to_fp32(x[i].d) * em_fp16_to_fp32(y[i].d)) * (float)sumi;
    }
    return s;
}

static float q5_1_dot(int64_t n, const void *a, const void *b) {
    const em_block_q5_1 *x = a;
    const em_block_q8_1 *y = b;
    float s = 0.0f;
    for (int64_t i = 0; i < n / EM_QK32; i++) {
        const uint32_t qh = q5_qh(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < EM_QK32 / 2; j++) {
            const int q0 = (x[i].qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
            const int q1 = (x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            sumi += q0 * y[i].qs[j] + q1 * y[i].qs[j + 16];
        }
        s += (em_fp16_to_fp32(x[i].d) * em_fp16_to_fp32(y[i].d)) * (float)sumi +
             em_fp16_to_fp32(x[i].m) * em_fp16_to_fp32(y[i].s);
    }
    return s;
}

static float iq4_nl_dot(int64_t n, const void *a, const void *b) {
    const em_block_iq4_nl *x = a;
    const em_block_q8_0 *y = b;
    float s = 0.0f;
    for (int64_t i = 0; i < n / EM_QK32; i++) {
        const float d = em_fp16_to_fp32(y[i].d) * em_fp16_to_fp32(x[i].d);
        int sumi = 0;
        for (int j = 0; j < EM_QK32 / 2; j++)
            sumi += y[i].qs[j] * cpu_iq4nl_values[x[i].qs[j] & 0x0F] +
                    y[i].qs[j + 16] * cpu_iq4nl_values[x[i].qs[j] >> 4];
        s += d * (float)sumi;
    }
    return s;
}

// ---- table -------------------------------------------------------------------

void cpu_quant_32_init_ref(cpu_kernels *k) {
    k->dot_type[EM_TYPE_Q4_1] = EM_TYPE_Q8_1;
    k->dot_type[EM_TYPE_Q5_0] = EM_TYPE_Q8_0;
    k->dot_type[EM_TYPE_Q5_1] = EM_TYPE_Q8_1;
    k->dot_type[EM_TYPE_IQ4_NL] = EM_TYPE_Q8_0;

    k->to_float[EM_TYPE_Q4_1] = q4_1_to_float;
    k->to_float[EM_TYPE_Q5_0] = q5_0_to_float;
    k->to_float[EM_TYPE_Q5_1] = q5_1_to_float;
    k->to_float[EM_TYPE_IQ4_NL] = iq4_nl_to_float;
    k->to_float[EM_TYPE_Q8_1] = q8_1_to_float;

    k->from_float[EM_TYPE_Q4_1] = q4_1_from_float;
    k->from_float[EM_TYPE_Q5_0] = q5_0_from_float;
    k->from_float[EM_TYPE_Q5_1] = q5_1_from_float;
    k->from_float[EM_TYPE_IQ4_NL] = iq4_nl_from_float;
    k->from_float[EM_TYPE_Q8_1] = q8_1_from_float;

    k->vec_dot[EM_TYPE_Q4_1] = q4_1_dot;
    k->vec_dot[EM_TYPE_Q5_0] = q5_0_dot;
    k->vec_dot[EM_TYPE_Q5_1] = q5_1_dot;
    k->vec_dot[EM_TYPE_IQ4_NL] = iq4_nl_dot;
}
