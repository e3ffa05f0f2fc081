/* cpu_kernels_ref.c - the portable scalar reference kernels.
 *
 * Every SIMD variant is tested against these. Rounding follows llama.cpp's
 * reference quantizers (quantize_row_q8_0_ref / quantize_row_q4_0_ref) so the
 * blocks Ember writes, and the activations it quantizes, are the ones
 * llama.cpp would produce. Dots accumulate in double like ggml's scalar path. */
#include <math.h>

#include "cpu_kernels_impl.h"

// ---- conversions ---------------------------------------------------------

static void f32_to_float(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }
static void f32_from_float(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }

static void f16_to_float(const void *src, float *dst, int64_t n) {
    const em_fp16 *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = em_fp16_to_fp32(h[i]);
}
static void f16_from_float(const float *src, void *dst, int64_t n) {
    em_fp16 *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = em_fp32_to_fp16(src[i]);
}
static void bf16_to_float(const void *src, float *dst, int64_t n) {
    const em_bf16 *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = em_bf16_to_fp32(h[i]);
}
static void bf16_from_float(const float *src, void *dst, int64_t n) {
    em_bf16 *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = em_fp32_to_bf16(src[i]);
}

static void q8_0_to_float(const void *src, float *dst, int64_t n) {
    const em_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / EM_QK8_0; i++) {
        float d = em_fp16_to_fp32(b[i].d);
        for (int j = 0; j < EM_QK8_0; j++) dst[i * EM_QK8_0 + j] = d * b[i].qs[j];
    }
}

static void q4_0_to_float(const void *src, float *dst, int64_t n) {
    const em_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / EM_QK4_0; i++) {
        float d = em_fp16_to_fp32(b[i].d);
        for (int j = 0; j < EM_QK4_0 / 2; j++) {
            dst[i * EM_QK4_0 + j] = d * ((b[i].qs[j] & 0x0F) - 8);
            dst[i * EM_QK4_0 + j + 16] = d * ((b[i].qs[j] >> 4) - 8);
        }
    }
}

// ---- reference quantizers (llama.cpp's rounding) -------------------------

/* d = amax/127, q = roundf(x/d) (half away from zero), via the reciprocal. */
void cpu_quantize_row_q8_0_ref(const float *x, em_block_q8_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / EM_QK8_0; i++, x += EM_QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < EM_QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = em_fp32_to_fp16(d);
        for (int j = 0; j < EM_QK8_0; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

/* The scale keeps the sign of the value of largest magnitude, so that value
 * maps to -8 exactly and the 16 levels -8..7 are used asymmetrically as
 * llama.cpp does: d = max/-8, q = min(15, (int8)(x/d + 8.5)). */
void cpu_quantize_row_q4_0_ref(const float *x, em_block_q4_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / EM_QK4_0; i++, x += EM_QK4_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < EM_QK4_0; j++) {
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = em_fp32_to_fp16(d);
        for (int j = 0; j < EM_QK4_0 / 2; j++) {
            /* volatile: keep x*id rounded before the add, as written, even
             * where the compiler would fuse it into an FMA (aarch64). */
            volatile float x0 = x[j] * id, x1 = x[j + 16] * id;
            int xi0 = (int8_t)(x0 + 8.5f), xi1 = (int8_t)(x1 + 8.5f);
            if (xi0 > 15) xi0 = 15;
            if (xi1 > 15) xi1 = 15;
            y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

/* Activations (the dot type of Q8_0/Q4_0 weights) are quantized the way
 * llama.cpp's x86 runtime quantizer does it, not its _ref: the multiplier is
 * 127/amax (not 1/d) and the rounding is to nearest, ties to even. The two
 * differ in the last bit often enough that, at every layer, a few activations
 * land on another integer; matching the runtime keeps Ember's distributions
 * on top of llama.cpp's. (Weights written by tools use the _ref rounding,
 * as llama.cpp's quantizer does.) */
void cpu_quantize_row_q8_0_act(const float *x, em_block_q8_0 *y, int64_t n) {
    for (int64_t i = 0; i < n / EM_QK8_0; i++, x += EM_QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < EM_QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = em_fp32_to_fp16(d);
        for (int j = 0; j < EM_QK8_0; j++) y[i].qs[j] = (int8_t)nearbyintf(x[j] * id);
    }
}

static void q8_0_from_float(const float *src, void *dst, int64_t n) { cpu_quantize_row_q8_0_act(src, dst, n); }
static void q4_0_from_float(const float *src, void *dst, int64_t n) { cpu_quantize_row_q4_0_ref(src, dst, n); }

// ---- dot products ----------------------------------------------------------

static float f32_dot(int64_t n, const void *a, const void *b) {
    const float *x = a, *y = b;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)(x[i] * y[i]);
    return (float)s;
}

static float f16_dot(int64_t n, const void *a, const void *b) {
    const em_fp16 *x = a, *y = b;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)(em_fp16_to_fp32(x[i]) * em_fp16_to_fp32(y[i]));
    return (float)s;
}

static float bf16_dot(int64_t n, const void *a, const void *b) {
    const em_bf16 *x = a, *y = b;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)(em_bf16_to_fp32(x[i]) * em_bf16_to_fp32(y[i]));
    return (float)s;
}

/* Integer dot per block, then one float multiply-add with both scales. */
static float q8_0_dot(int64_t n, const void *a, const void *b) {
    const em_block_q8_0 *x = a, *y = b;
    float s = 0;
    for (int64_t i = 0; i < n / EM_QK8_0; i++) {
        int sumi = 0;
        for (int j = 0; j < EM_QK8_0; j++) sumi += x[i].qs[j] * y[i].qs[j];
        s += sumi * (em_fp16_to_fp32(x[i].d) * em_fp16_to_fp32(y[i].d));
    }
    return s;
}

static float q4_0_dot(int64_t n, const void *a, const void *b) {
    const em_block_q4_0 *x = a;
    const em_block_q8_0 *y = b;
    float s = 0;
    for (int64_t i = 0; i < n / EM_QK4_0; i++) {
        int sumi = 0;
        for (int j = 0; j < EM_QK4_0 / 2; j++) {
            sumi += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        }
        s += sumi * (em_fp16_to_fp32(x[i].d) * em_fp16_to_fp32(y[i].d));
    }
    return s;
}

// ---- attention and activation rows -------------------------------------------

static double softmax_exp(int64_t n, float *y, const float *x, float max) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        y[i] = expf(x[i] - max);
        sum += y[i];
    }
    return sum;
}

static float scale_max(int64_t n, float *x, float scale) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        x[i] *= scale;
        if (x[i] > m) m = x[i];
    }
    return m;
}

static float softmax_row(int64_t n, float *x, float scale) {
    float m = x[0];
    for (int64_t i = 1; i < n; i++)
        if (x[i] > m) m = x[i];
    const float nb = -(scale * m);
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(fmaf(x[i], scale, nb));
        sum += x[i];
    }
    return sum;
}

static void swiglu(int64_t n, float *y, const float *g, const float *u) {
    for (int64_t i = 0; i < n; i++) y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* 0.5 v (1 + tanh(u)) written as v / (1 + exp(-2u)): the same function,
 * and an exp costs a fraction of a tanh (a ViT tile evaluates 37 M of
 * these; the SIMD variants use their vector exp). At large |u| exp goes to
 * 0 or inf and the quotient to v or -0: no NaN. */
/* fmaf is the FMA instruction where the CPU has one (glibc picks it at load
 * time), and exact in software where not: the same bits either way. */
static void rope(int64_t n_pairs, float *x, const float *cs) {
    for (int64_t i = 0; i < n_pairs; i++) {
        const float x0 = x[2 * i], x1 = x[2 * i + 1], c = cs[2 * i], s = cs[2 * i + 1];
        x[2 * i] = fmaf(x0, c, -(x1 * s));
        x[2 * i + 1] = fmaf(x0, s, x1 * c);
    }
}

static void gelu(int64_t n, float *y, const float *x) {
    const float c2 = 2.0f * 0.7978845608028654f; /* 2 sqrt(2 / pi) */
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        y[i] = v / (1.0f + expf(-c2 * (v + 0.044715f * v * v * v)));
    }
}

static void resample_u8(int64_t n, uint8_t *dst, const uint8_t *src, size_t stride, const int32_t *k, int ntaps) {
    cpu_resample_u8_cols(0, n, dst, src, stride, k, ntaps);
}

/* Plain running sums in t order (no lanes to mimic). */
static void attn_pv(int64_t n, const void *v, size_t v_stride, enum em_type vt, const void *p, int ncols,
                    float *out, float *work, int tiled) {
    (void)work;
    (void)tiled;
    for (int d = 0; d < ncols; d++) out[d] = 0.0f;
    for (int64_t t = 0; t < n; t++) {
        const char *row = (const char *)v + (size_t)t * v_stride;
        if (vt == EM_TYPE_F16) {
            const float pt = em_fp16_to_fp32(((const em_fp16 *)p)[t]);
            for (int d = 0; d < ncols; d++) out[d] += pt * em_fp16_to_fp32(((const em_fp16 *)row)[d]);
        } else {
            const float pt = ((const float *)p)[t];
            for (int d = 0; d < ncols; d++) out[d] += pt * ((const float *)row)[d];
        }
    }
}

// ---- the outer-product tile's model -----------------------------------------

/* One fmaf chain per output over p in order (cpu_kernels.h): what every
 * variant's gemm_fx computes. Not in the scalar table: the scalar variant
 * keeps its vec_dot loops, and this is the model the tests hold gemm_fx to. */
void cpu_gemm_fx_ref(int64_t k, const void *w, size_t w_stride, int nr, const float *x, size_t x_stride,
                     int64_t nc, float *y, int64_t ldy) {
    for (int64_t c = 0; c < nc; c++) {
        const float *xc = (const float *)((const char *)x + (size_t)c * x_stride);
        for (int r = 0; r < nr; r++) {
            const char *wr = (const char *)w + (size_t)r * w_stride;
            float acc = 0.0f;
            for (int64_t p = 0; p < k; p++)
                acc = fmaf(em_fp16_to_fp32(((const em_fp16 *)wr)[p]), xc[p], acc);
            y[c * ldy + r] = acc;
        }
    }
}

// ---- F32 NN product ---------------------------------------------------------

/* One fmaf chain per output over p in order: what every variant computes. */
static void sgemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                  int64_t ldc) {
    for (int64_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        for (int64_t j = 0; j < n; j++) ci[j] = 0.0f;
        for (int64_t p = 0; p < k; p++) {
            const float av = a[i * lda + p];
            const float *bp = b + p * ldb;
            for (int64_t j = 0; j < n; j++) ci[j] = fmaf(av, bp[j], ci[j]);
        }
    }
}

// ---- table -----------------------------------------------------------------

void cpu_kernels_init_ref(cpu_kernels *k) {
    memset(k, 0, sizeof *k);
    k->isa = "scalar";
    k->dot_type[EM_TYPE_F32] = EM_TYPE_F32;
    k->dot_type[EM_TYPE_F16] = EM_TYPE_F16;
    k->dot_type[EM_TYPE_BF16] = EM_TYPE_BF16;
    k->dot_type[EM_TYPE_Q8_0] = EM_TYPE_Q8_0;
    k->dot_type[EM_TYPE_Q4_0] = EM_TYPE_Q8_0;

    k->to_float[EM_TYPE_F32] = f32_to_float;
    k->to_float[EM_TYPE_F16] = f16_to_float;
    k->to_float[EM_TYPE_BF16] = bf16_to_float;
    k->to_float[EM_TYPE_Q8_0] = q8_0_to_float;
    k->to_float[EM_TYPE_Q4_0] = q4_0_to_float;

    k->from_float[EM_TYPE_F32] = f32_from_float;
    k->from_float[EM_TYPE_F16] = f16_from_float;
    k->from_float[EM_TYPE_BF16] = bf16_from_float;
    k->from_float[EM_TYPE_Q8_0] = q8_0_from_float;
    k->from_float[EM_TYPE_Q4_0] = q4_0_from_float;

    k->vec_dot[EM_TYPE_F32] = f32_dot;
    k->vec_dot[EM_TYPE_F16] = f16_dot;
    k->vec_dot[EM_TYPE_BF16] = bf16_dot;
    k->vec_dot[EM_TYPE_Q8_0] = q8_0_dot;
    k->vec_dot[EM_TYPE_Q4_0] = q4_0_dot;
    cpu_quant_32_init_ref(k); /* Q4_1, Q5_0, Q5_1, IQ4_NL (cpu_quant_32.c) */

    for (int t = 0; t < EM_TYPE_COUNT; t++) k->gemm_k[t] = k->gemm_m[t] = 1;
    k->softmax_exp = softmax_exp;
    k->softmax_chunk = 1;
    k->scale_max = scale_max;
    k->softmax_row = softmax_row;
    k->swiglu = swiglu;
    k->gelu = gelu;
    k->rope = rope;
    k->attn_pv = attn_pv;
    k->pv_work = 1;
    k->sgemm = sgemm;
    k->resample_u8 = resample_u8;
    cpu_kernels_init_kquants(k);
}
