/* cpu_quant_neon.c - NEON dots for the newer block types: Q4_1, Q5_0, Q5_1
 * and IQ4_NL against Q8_0 / Q8_1 activations, and the K-quants (Q2_K..Q6_K)
 * against Q8_K. Compiled twice, as cpu_kernels_neon.c is: as itself
 * (baseline ARMv8.0, "neon") and included by cpu_quant_neon_dotprod.c
 * (+dotprod, "neon-dotprod": the int8 sums become SDOT). And their gemm
 * tiles (prefill, cpu_neon_tiles.h's shape): a weight block is unpacked
 * once for TN activation rows and an activation block loaded once for TM
 * weight rows.
 *
 * The integer sums are exact in either form. A 32-value block adds one
 * float step d_w * d_x * sum (Q4_1 and Q5_1 also m * s, in a second
 * running sum added last); a K-quant block unpacks as the AVX2 variant
 * does (cpu_quant_k_avx2.c: unsigned values, a scale per 16 values, the
 * offsets through the activations' bsums) and adds one float step. These
 * orders are their own: results agree with the reference, and with
 * llama.cpp, within rounding (tests/test_kernels.c). A tile takes the
 * dot's integers and the dot's float steps (q32_step, kq_step), per block
 * in block order, and this file is compiled without contraction into
 * fused multiply-adds (core/cpu/CMakeLists.txt), so each output of a tile
 * is the dot's bits: a prompt and the decode steps after it see one
 * product (tests/test_kernels.c: test_neon_gemm_bits). */
#include <arm_neon.h>
#include <string.h>

#include "cpu_kernels_impl.h"

#define INLINE static inline __attribute__((always_inline))
#include "cpu_neon_tiles.h"

/* acc + the products of 16 signed bytes, 4 consecutive ones per lane. */
INLINE int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

// ---- 32-value blocks ----------------------------------------------------------------

/* The 32 nibbles as bytes: lo = values 0..15 (low nibbles), hi = 16..31. */
INLINE void nibbles(const uint8_t *qs, uint8x16_t *lo, uint8x16_t *hi) {
    const uint8x16_t v = vld1q_u8(qs);
    *lo = vandq_u8(v, vdupq_n_u8(0x0F));
    *hi = vshrq_n_u8(v, 4);
}

/* Q5's fifth bits: 0x10 at value j where bit j % 8 of qh[j / 8] is set. */
INLINE void fifth_bits(const uint8_t qh[4], uint8x16_t *lo, uint8x16_t *hi) {
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t m = vld1q_u8(bit);
    const uint8x16_t b01 = vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1]));
    const uint8x16_t b23 = vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3]));
    *lo = vandq_u8(vtstq_u8(b01, m), vdupq_n_u8(0x10));
    *hi = vandq_u8(vtstq_u8(b23, m), vdupq_n_u8(0x10));
}

INLINE int32_t block_dot(int8x16_t lo, int8x16_t hi, const int8_t *q) {
    return vaddvq_s32(dot16(dot16(vdupq_n_s32(0), lo, vld1q_s8(q)), hi, vld1q_s8(q + 16)));
}

#define Q32_MIN(T) ((T) == EM_TYPE_Q4_1 || (T) == EM_TYPE_Q5_1) /* an offset m, Q8_1 activations */

/* Block b of a Q4_1, Q5_0, Q5_1 or IQ4_NL row as bytes multiplied as signed
 * (lo: values 0..15, hi: 16..31): Q5_0 as q - 16, IQ4_NL its levels, Q4_1
 * and Q5_1 as stored (at most 31); its scale and offset. */
INLINE void q32_unpack(int T, const void *row, int64_t b, int8x16_t *lo, int8x16_t *hi, float *d, float *m) {
    uint8x16_t l, h, h0, h1;
    if (T == EM_TYPE_Q4_1) {
        const em_block_q4_1 *x = (const em_block_q4_1 *)row + b;
        nibbles(x->qs, &l, &h);
        *d = em_fp16_to_fp32(x->d);
        *m = em_fp16_to_fp32(x->m);
    } else if (T == EM_TYPE_Q5_1) {
        const em_block_q5_1 *x = (const em_block_q5_1 *)row + b;
        nibbles(x->qs, &l, &h);
        fifth_bits(x->qh, &h0, &h1);
        l = vorrq_u8(l, h0);
        h = vorrq_u8(h, h1);
        *d = em_fp16_to_fp32(x->d);
        *m = em_fp16_to_fp32(x->m);
    } else if (T == EM_TYPE_Q5_0) {
        const em_block_q5_0 *x = (const em_block_q5_0 *)row + b;
        nibbles(x->qs, &l, &h);
        fifth_bits(x->qh, &h0, &h1);
        *lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(l, h0)), vdupq_n_s8(16));
        *hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(h, h1)), vdupq_n_s8(16));
        *d = em_fp16_to_fp32(x->d);
        *m = 0.0f;
        return;
    } else { /* IQ4_NL */
        const em_block_iq4_nl *x = (const em_block_iq4_nl *)row + b;
        const int8x16_t table = vld1q_s8(cpu_iq4nl_values);
        nibbles(x->qs, &l, &h);
        *lo = vqtbl1q_s8(table, l);
        *hi = vqtbl1q_s8(table, h);
        *d = em_fp16_to_fp32(x->d);
        *m = 0.0f;
        return;
    }
    *lo = vreinterpretq_s8_u8(l);
    *hi = vreinterpretq_s8_u8(h);
}

/* One block's float step: s += isum * (d * dx), and for the offset types
 * sm += m * sx (sx: the activation block's Q8_1 s). */
INLINE void q32_step(int T, float *s, float *sm, int32_t isum, float d, float m, float dx, float sx) {
    *s += (float)isum * (d * dx);
    if (Q32_MIN(T)) *sm += m * sx;
}

INLINE float q32_dot(int T, int64_t n, const void *a, const void *b) {
    float s = 0, sm = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int8x16_t lo, hi;
        float d, m;
        q32_unpack(T, a, i, &lo, &hi, &d, &m);
        if (Q32_MIN(T)) {
            const em_block_q8_1 *y = (const em_block_q8_1 *)b + i;
            q32_step(T, &s, &sm, block_dot(lo, hi, y->qs), d, m, em_fp16_to_fp32(y->d), em_fp16_to_fp32(y->s));
        } else {
            const em_block_q8_0 *y = (const em_block_q8_0 *)b + i;
            q32_step(T, &s, &sm, block_dot(lo, hi, y->qs), d, m, em_fp16_to_fp32(y->d), 0.0f);
        }
    }
    return Q32_MIN(T) ? s + sm : s;
}

static float q4_1_dot(int64_t n, const void *a, const void *b) { return q32_dot(EM_TYPE_Q4_1, n, a, b); }
static float q5_0_dot(int64_t n, const void *a, const void *b) { return q32_dot(EM_TYPE_Q5_0, n, a, b); }
static float q5_1_dot(int64_t n, const void *a, const void *b) { return q32_dot(EM_TYPE_Q5_1, n, a, b); }
static float iq4_nl_dot(int64_t n, const void *a, const void *b) { return q32_dot(EM_TYPE_IQ4_NL, n, a, b); }

/* TM weight rows x NC activation rows in the panel layout
 * (cpu_kernels_impl.h: the Q8_0 values, d as a float, and for Q8_1 its s
 * as a float): q32_dot per output, each weight block unpacked once. */
INLINE void q32_tile(int T, int NC, int64_t k, const char *const *wr, const char *const *xr, float *y, int64_t ldy,
                     int nr) {
    const int64_t nb = k / 32;
    float s[TM][TN] = {{0}}, sm[TM][TN] = {{0}};
    const float *xd[TN], *xs[TN];
    for (int c = 0; c < NC; c++) {
        xd[c] = cpu_q8p_d(xr[c], nb);
        xs[c] = cpu_q8p_s1(xr[c], nb);
    }
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t x0[TN], x1[TN];
        neon_panel_block(NC, xr, b, x0, x1);
        for (int r = 0; r < TM; r++) {
            int8x16_t lo, hi;
            float d, m;
            q32_unpack(T, wr[r], b, &lo, &hi, &d, &m);
            for (int c = 0; c < NC; c++) {
                const int32_t isum = vaddvq_s32(dot16(dot16(vdupq_n_s32(0), lo, x0[c]), hi, x1[c]));
                q32_step(T, &s[r][c], &sm[r][c], isum, d, m, xd[c][b], Q32_MIN(T) ? xs[c][b] : 0.0f);
            }
        }
    }
    for (int c = 0; c < NC; c++)
        for (int r = 0; r < TM; r++)
            if (r < nr) y[c * ldy + r] = Q32_MIN(T) ? s[r][c] + sm[r][c] : s[r][c];
}

// ---- K-quants ---------------------------------------------------------------------

#define QK EM_QK_K

/* A block unpacked (as cpu_quant_k_x86.h's kq_blk): u unsigned values
 * (Q3_K: q + 4, Q6_K: q + 32), a scale and an offset factor per 16 values
 * (the mins, or the bias times the scale), the float scales. */
typedef struct kq_blk {
    uint8_t u[QK];
    int16_t sc[16], cm[16];
    float d, dmin;
} kq_blk;

#define KQ_SINGLE(T) ((T) == EM_TYPE_Q3_K || (T) == EM_TYPE_Q6_K)
#define KQ_TYPE(T) ((T) == EM_TYPE_Q2_K || (T) == EM_TYPE_Q3_K || (T) == EM_TYPE_Q4_K || (T) == EM_TYPE_Q5_K || KQ_SINGLE(T))

INLINE void kq_unpack(int T, const void *row, int64_t i, kq_blk *o) {
    const uint8x16_t m3 = vdupq_n_u8(3), m4 = vdupq_n_u8(0x0F), one = vdupq_n_u8(1);
    if (T == EM_TYPE_Q2_K) {
        const em_block_q2_K *x = (const em_block_q2_K *)row + i;
        for (int h = 0; h < 2; h++)
            for (int p = 0; p < 2; p++) {
                const uint8x16_t q = vld1q_u8(x->qs + 32 * h + 16 * p);
                vst1q_u8(o->u + 128 * h + 16 * p, vandq_u8(q, m3));
                vst1q_u8(o->u + 128 * h + 32 + 16 * p, vandq_u8(vshrq_n_u8(q, 2), m3));
                vst1q_u8(o->u + 128 * h + 64 + 16 * p, vandq_u8(vshrq_n_u8(q, 4), m3));
                vst1q_u8(o->u + 128 * h + 96 + 16 * p, vshrq_n_u8(q, 6));
            }
        for (int g = 0; g < 16; g++) {
            o->sc[g] = x->scales[g] & 0x0F;
            o->cm[g] = x->scales[g] >> 4;
        }
        o->d = em_fp16_to_fp32(x->d);
        o->dmin = em_fp16_to_fp32(x->dmin);
    } else if (T == EM_TYPE_Q3_K) {
        const em_block_q3_K *x = (const em_block_q3_K *)row + i;
        for (int p = 0; p < 2; p++) {
            const uint8x16_t hm = vld1q_u8(x->hmask + 16 * p);
            for (int h = 0; h < 2; h++) {
                const uint8x16_t q = vld1q_u8(x->qs + 32 * h + 16 * p);
                for (int s = 0; s < 4; s++) {
                    /* the third bit of values 128 h + 32 s + l: bit 4 h + s of hmask[l] */
                    const uint8x16_t hb = vandq_u8(vshlq_u8(hm, vdupq_n_s8((int8_t)-(4 * h + s))), one);
                    const uint8x16_t lo = vandq_u8(vshlq_u8(q, vdupq_n_s8((int8_t)(-2 * s))), m3);
                    vst1q_u8(o->u + 128 * h + 32 * s + 16 * p, vorrq_u8(lo, vshlq_n_u8(hb, 2)));
                }
            }
        }
        uint32_t w[4];
        uint8_t s16[16];
        cpu_kq_q3_scales(x->scales, w);
        memcpy(s16, w, 16);
        for (int g = 0; g < 16; g++) {
            o->sc[g] = (int16_t)(s16[g] - 32);
            o->cm[g] = (int16_t)(4 * o->sc[g]);
        }
        o->d = em_fp16_to_fp32(x->d);
        o->dmin = 0.0f;
    } else if (T == EM_TYPE_Q4_K || T == EM_TYPE_Q5_K) {
        /* values of sub-block j are nibble j % 2 of bytes 32 (j / 2) .. +31 */
        const em_block_q4_K *x4 = T == EM_TYPE_Q4_K ? (const em_block_q4_K *)row + i : NULL;
        const em_block_q5_K *x5 = T == EM_TYPE_Q5_K ? (const em_block_q5_K *)row + i : NULL;
        const uint8_t *qs = x4 ? x4->qs : x5->qs, *s = x4 ? x4->scales : x5->scales;
        for (int p = 0; p < 2; p++) {
            const uint8x16_t hv = x5 ? vld1q_u8(x5->qh + 16 * p) : vdupq_n_u8(0);
            for (int c = 0; c < 4; c++) {
                const uint8x16_t q = vld1q_u8(qs + 32 * c + 16 * p);
                uint8x16_t lo = vandq_u8(q, m4), hi = vshrq_n_u8(q, 4);
                if (x5) {
                    lo = vorrq_u8(lo, vshlq_n_u8(vandq_u8(vshlq_u8(hv, vdupq_n_s8((int8_t)(-2 * c))), one), 4));
                    hi = vorrq_u8(hi, vshlq_n_u8(vandq_u8(vshlq_u8(hv, vdupq_n_s8((int8_t)(-2 * c - 1))), one), 4));
                }
                vst1q_u8(o->u + 64 * c + 16 * p, lo);
                vst1q_u8(o->u + 64 * c + 32 + 16 * p, hi);
            }
        }
        uint32_t w[4];
        uint8_t s8[8], m8[8];
        cpu_kq_scales_mins(s, w);
        memcpy(s8, w, 8);
        memcpy(m8, w + 2, 8);
        for (int g = 0; g < 16; g++) {
            o->sc[g] = s8[g / 2];
            o->cm[g] = m8[g / 2];
        }
        o->d = em_fp16_to_fp32(x4 ? x4->d : x5->d);
        o->dmin = em_fp16_to_fp32(x4 ? x4->dmin : x5->dmin);
    } else { /* Q6_K */
        const em_block_q6_K *x = (const em_block_q6_K *)row + i;
        for (int h = 0; h < 2; h++)
            for (int p = 0; p < 2; p++) {
                const uint8x16_t l0 = vld1q_u8(x->ql + 64 * h + 16 * p);
                const uint8x16_t l1 = vld1q_u8(x->ql + 64 * h + 32 + 16 * p);
                const uint8x16_t qh = vld1q_u8(x->qh + 32 * h + 16 * p);
                for (int c = 0; c < 4; c++) {
                    /* values 128 h + 32 c + l: nibble (c / 2) of ql[l + 32 (c % 2)], bits 2c.. of qh[l] */
                    const uint8x16_t l = c % 2 ? l1 : l0;
                    const uint8x16_t lo = c / 2 ? vshrq_n_u8(l, 4) : vandq_u8(l, m4);
                    const uint8x16_t hi = vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)(-2 * c))), m3);
                    vst1q_u8(o->u + 128 * h + 32 * c + 16 * p, vorrq_u8(lo, vshlq_n_u8(hi, 4)));
                }
            }
        for (int g = 0; g < 16; g++) {
            o->sc[g] = x->scales[g];
            o->cm[g] = (int16_t)(32 * x->scales[g]);
        }
        o->d = em_fp16_to_fp32(x->d);
        o->dmin = 0.0f;
    }
}

/* One block's integers against the Q8_K block (values yq, 16-value sums
 * bsums, scale yd), added to sumf as one float step. */
INLINE float kq_step(int T, float sumf, const kq_blk *k, const int8_t *yq, const int16_t *bsums, float yd) {
    int32x4_t acc = vdupq_n_s32(0);
    for (int g = 0; g < 16; g++) { /* u <= 63 fits a signed byte */
        const int32x4_t p = dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(vld1q_u8(k->u + 16 * g)), vld1q_s8(yq + 16 * g));
        acc = vmlaq_n_s32(acc, p, k->sc[g]);
    }
    const int16x8_t c0 = vld1q_s16(k->cm), c1 = vld1q_s16(k->cm + 8);
    const int16x8_t b0 = vld1q_s16(bsums), b1 = vld1q_s16(bsums + 8);
    int32x4_t m = vmull_s16(vget_low_s16(c0), vget_low_s16(b0));
    m = vmlal_high_s16(m, c0, b0);
    m = vmlal_s16(m, vget_low_s16(c1), vget_low_s16(b1));
    m = vmlal_high_s16(m, c1, b1);
    const int32_t isum = vaddvq_s32(acc), summ = vaddvq_s32(m);
    if (KQ_SINGLE(T)) return sumf + k->d * yd * (float)(isum - summ);
    return sumf + k->d * yd * (float)isum - k->dmin * yd * (float)summ;
}

INLINE float kq_dot(int T, int64_t n, const void *a, const void *b) {
    const em_block_q8_K *y = b;
    kq_blk k;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        kq_unpack(T, a, i, &k);
        sumf = kq_step(T, sumf, &k, y[i].qs, y[i].bsums, y[i].d);
    }
    return sumf;
}

/* TM weight rows x NC Q8_K activation rows: kq_dot per output, each
 * weight block unpacked once for the NC activation rows. */
INLINE void kq_tile(int T, int NC, int64_t k, const char *const *wr, const char *const *xr, float *y, int64_t ldy,
                    int nr) {
    float s[TM][TN] = {{0}};
    kq_blk u[TM];
    for (int64_t i = 0; i < k / QK; i++) {
        for (int r = 0; r < TM; r++) kq_unpack(T, wr[r], i, &u[r]);
        for (int c = 0; c < NC; c++) {
            const em_block_q8_K *x = (const em_block_q8_K *)xr[c] + i;
            for (int r = 0; r < TM; r++) s[r][c] = kq_step(T, s[r][c], &u[r], x->qs, x->bsums, x->d);
        }
    }
    for (int c = 0; c < NC; c++)
        for (int r = 0; r < TM; r++)
            if (r < nr) y[c * ldy + r] = s[r][c];
}

static float q2_K_dot(int64_t n, const void *a, const void *b) { return kq_dot(EM_TYPE_Q2_K, n, a, b); }
static float q3_K_dot(int64_t n, const void *a, const void *b) { return kq_dot(EM_TYPE_Q3_K, n, a, b); }
static float q4_K_dot(int64_t n, const void *a, const void *b) { return kq_dot(EM_TYPE_Q4_K, n, a, b); }
static float q5_K_dot(int64_t n, const void *a, const void *b) { return kq_dot(EM_TYPE_Q5_K, n, a, b); }
static float q6_K_dot(int64_t n, const void *a, const void *b) { return kq_dot(EM_TYPE_Q6_K, n, a, b); }

// ---- gemm ---------------------------------------------------------------------------

/* form: the weight type (a constant after inlining) */
INLINE void block_tile(int T, int NC, int64_t k, const char *const *wr, const char *const *xr, float *y,
                       int64_t ldy, int nr) {
    if (KQ_TYPE(T)) kq_tile(T, NC, k, wr, xr, y, ldy, nr);
    else q32_tile(T, NC, k, wr, xr, y, ldy, nr);
}

NEON_TILES(block_tiles, block_tile)

#define QGEMM(name, T)                                                                                            \
    static void name(int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int64_t nc, \
                     float *y, int64_t ldy) {                                                                     \
        block_tiles(T, k, w, w_stride, nr, x, x_stride, nc, y, ldy);                                              \
    }
QGEMM(gemm_q4_1, EM_TYPE_Q4_1)
QGEMM(gemm_q5_0, EM_TYPE_Q5_0)
QGEMM(gemm_q5_1, EM_TYPE_Q5_1)
QGEMM(gemm_iq4_nl, EM_TYPE_IQ4_NL)
QGEMM(gemm_q2_K, EM_TYPE_Q2_K)
QGEMM(gemm_q3_K, EM_TYPE_Q3_K)
QGEMM(gemm_q4_K, EM_TYPE_Q4_K)
QGEMM(gemm_q5_K, EM_TYPE_Q5_K)
QGEMM(gemm_q6_K, EM_TYPE_Q6_K)

/* cpu_quantize_row_q8_K in vectors, the same bits: the first value of the
 * largest magnitude (vmaxnm skips a NaN, as the reference's ax > a does)
 * sets iscale = -127 / max; FCVTNS rounds each product to nearest even (as
 * the reference's magic-number add for |v| < 2^22) and makes a NaN 0 (as
 * it does, also where an infinity makes iscale 0); SQXTN saturates to 127,
 * as the reference's min(v, 127). A K-quant prefill quantizes each activation
 * row once per matrix group; on x86 this in plain C cost ~30% as much as
 * the products. */
static void q8_K_from_float(const float *src, void *dst, int64_t n) {
    em_block_q8_K *y = dst;
    for (int64_t i = 0; i < n / QK; i++, src += QK) {
        float32x4_t am = vdupq_n_f32(0.0f);
        for (int j = 0; j < QK; j += 4) am = vmaxnmq_f32(am, vabsq_f32(vld1q_f32(src + j)));
        const float amax = vmaxnmvq_f32(am);
        if (!(amax > 0.0f)) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        int first = 0;
        while (fabsf(src[first]) != amax) first++; /* amax is one of them */
        const float iscale = -127.0f / src[first];
        for (int j = 0; j < QK; j += 16) {
            int16x8_t h[2];
            for (int l = 0; l < 2; l++) {
                const int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(src + j + 8 * l), iscale));
                const int32x4_t b = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(src + j + 8 * l + 4), iscale));
                h[l] = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
            }
            const int8x16_t q = vcombine_s8(vqmovn_s16(h[0]), vqmovn_s16(h[1]));
            vst1q_s8(y[i].qs + j, q);
            y[i].bsums[j / 16] = (int16_t)vaddlvq_s8(q);
        }
        y[i].d = 1 / iscale;
    }
}

#if defined(__ARM_FEATURE_DOTPROD)
void cpu_quant_init_neon_dotprod(cpu_kernels *k) {
#else
void cpu_quant_init_neon(cpu_kernels *k) {
#endif
    k->from_float[EM_TYPE_Q8_K] = q8_K_from_float;
    k->vec_dot[EM_TYPE_Q4_1] = q4_1_dot;
    k->vec_dot[EM_TYPE_Q5_0] = q5_0_dot;
    k->vec_dot[EM_TYPE_Q5_1] = q5_1_dot;
    k->vec_dot[EM_TYPE_IQ4_NL] = iq4_nl_dot;
    k->vec_dot[EM_TYPE_Q2_K] = q2_K_dot;
    k->vec_dot[EM_TYPE_Q3_K] = q3_K_dot;
    k->vec_dot[EM_TYPE_Q4_K] = q4_K_dot;
    k->vec_dot[EM_TYPE_Q5_K] = q5_K_dot;
    k->vec_dot[EM_TYPE_Q6_K] = q6_K_dot;
    k->gemm[EM_TYPE_Q4_1] = gemm_q4_1;
    k->gemm[EM_TYPE_Q5_0] = gemm_q5_0;
    k->gemm[EM_TYPE_Q5_1] = gemm_q5_1;
    k->gemm[EM_TYPE_IQ4_NL] = gemm_iq4_nl;
    k->gemm[EM_TYPE_Q2_K] = gemm_q2_K;
    k->gemm[EM_TYPE_Q3_K] = gemm_q3_K;
    k->gemm[EM_TYPE_Q4_K] = gemm_q4_K;
    k->gemm[EM_TYPE_Q5_K] = gemm_q5_K;
    k->gemm[EM_TYPE_Q6_K] = gemm_q6_K;
    static const enum em_type kts[] = {EM_TYPE_Q2_K, EM_TYPE_Q3_K, EM_TYPE_Q4_K, EM_TYPE_Q5_K, EM_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof kts / sizeof kts[0]; i++) k->gemm_k[kts[i]] = QK;
}
