/* cpu_quant_k_avx2.c - the K-quants' dot products with AVX2 (compiled with
 * -mavx2 -mfma -mf16c, x86-64 only; the AVX-512 variant keeps them).
 *
 * One scheme for all five types: a block's 256 values are first unpacked to
 * unsigned bytes u (Q6_K: q + 32, Q3_K: q + 4, the others as stored), then
 * multiplied with the activations 32 at a time (vpmaddubsw: unsigned x
 * signed bytes, pairs summed to int16, never saturating as u <= 63) and
 * scaled per 16 values (vpmaddwd with the sub-block scales), all in int32.
 * The biases and the mins come off through the activations' 16-value sums
 * (bsums): sum sc * (u - bias) * q8 = sum sc * u * q8 - bias * sum sc * bsum.
 * The integer part is exact; each block adds one float product (two with
 * mins), so the result differs from the reference's 8-lane float sums only by
 * rounding (tests/test_kernels.c holds it within 1e-5 of the magnitude).
 * llama.cpp's own x86 kernels sum in yet other orders (repacked Q4_K/Q2_K
 * tiles, per-type AVX2 lanes): like Ember's Q4_0, these agree with it within
 * rounding, not bit for bit. */
#include <immintrin.h>
#include <stdalign.h>

#include "cpu_kernels_impl.h"

#define QK EM_QK_K

/* Sum over the 16 sub-blocks g of sc[g] * (u . q8 over g's 16 values). */
static inline int32_t kq_block_dot(const uint8_t *u, const int8_t *q8, const int16_t *sc) {
    __m256i acc = _mm256_setzero_si256();
    for (int k = 0; k < 8; k++) {
        const __m256i uv = _mm256_loadu_si256((const __m256i *)(u + 32 * k));
        const __m256i qv = _mm256_loadu_si256((const __m256i *)(q8 + 32 * k));
        const __m256i p16 = _mm256_maddubs_epi16(uv, qv); /* 16 pair sums: bytes 0-15 sub-block 2k, 16-31 2k+1 */
        const __m256i s16 = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(sc[2 * k])),
                                                    _mm_set1_epi16(sc[2 * k + 1]), 1);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, s16));
    }
    const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    const __m128i s2 = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
}

/* sum over g of sc[g] * bsums[g] */
static inline int32_t kq_scaled_bsums(const int16_t *bsums, const int16_t *sc) {
    const __m256i p = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums),
                                        _mm256_loadu_si256((const __m256i *)sc));
    const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    const __m128i s2 = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
}

static inline void store32(uint8_t *dst, __m256i v) { _mm256_storeu_si256((__m256i *)dst, v); }

/* Q4_K/Q5_K's 12 bytes (layout in cpu_quant_k.c) to 8 scales and 8 mins,
 * four at a time with 32-bit masks: a shift by 6 or 4 brings the next byte's
 * bits in at the top of each byte, and the mask drops them. */
static inline void kq_scales_mins(const uint8_t *s, uint8_t *sc, uint8_t *m) {
    const uint32_t lo6 = 0x3f3f3f3f, lo4 = 0x0f0f0f0f, two = 0x03030303;
    uint32_t a[3], v[4];
    memcpy(a, s, 12);
    v[0] = a[0] & lo6;                                         /* scales 0-3 */
    v[1] = (a[2] & lo4) | (((a[0] >> 6) & two) << 4);          /* scales 4-7 */
    v[2] = a[1] & lo6;                                         /* mins 0-3 */
    v[3] = ((a[2] >> 4) & lo4) | (((a[1] >> 6) & two) << 4);   /* mins 4-7 */
    memcpy(sc, v, 8);
    memcpy(m, v + 2, 8);
}

/* Q3_K's 16 6-bit scales, unbiased, as int16: low nibbles from bytes 0-7,
 * top bit pairs from bytes 8-11 (pair j / 4 of byte 8 + j % 4). */
static inline void kq_q3_scales(const uint8_t *s, int16_t *sc) {
    const uint32_t lo4 = 0x0f0f0f0f, two = 0x03030303;
    uint32_t a[3], v[4];
    memcpy(a, s, 12);
    v[0] = (a[0] & lo4) | ((a[2] & two) << 4);
    v[1] = (a[1] & lo4) | (((a[2] >> 2) & two) << 4);
    v[2] = ((a[0] >> 4) & lo4) | (((a[2] >> 4) & two) << 4);
    v[3] = ((a[1] >> 4) & lo4) | (((a[2] >> 6) & two) << 4);
    const __m128i b = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)v), _mm_set1_epi8(32));
    _mm256_storeu_si256((__m256i *)sc, _mm256_cvtepi8_epi16(b));
}

static float q2_K_dot(int64_t n, const void *a, const void *b) {
    const em_block_q2_K *x = a;
    const em_block_q8_K *y = b;
    const __m256i m3 = _mm256_set1_epi8(3);
    alignas(32) uint8_t u[QK];
    alignas(32) int16_t sc[16], mn[16];
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        for (int h = 0; h < 2; h++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int s = 0; s < 4; s++) store32(u + 128 * h + 32 * s, _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), m3));
        }
        for (int g = 0; g < 16; g++) {
            sc[g] = x[i].scales[g] & 0x0F;
            mn[g] = x[i].scales[g] >> 4;
        }
        const int32_t isum = kq_block_dot(u, y[i].qs, sc), summs = kq_scaled_bsums(y[i].bsums, mn);
        const float dall = y[i].d * em_fp16_to_fp32(x[i].d), dmin = y[i].d * em_fp16_to_fp32(x[i].dmin);
        sumf += dall * (float)isum - dmin * (float)summs;
    }
    return sumf;
}

static float q3_K_dot(int64_t n, const void *a, const void *b) {
    const em_block_q3_K *x = a;
    const em_block_q8_K *y = b;
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    alignas(32) uint8_t u[QK];
    alignas(32) int16_t sc[16];
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        for (int h = 0; h < 2; h++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int s = 0; s < 4; s++) {
                /* the third bit of values 128 h + 32 s + l: bit 4 h + s of hmask[l] */
                const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + s), one);
                const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), m3);
                store32(u + 128 * h + 32 * s, _mm256_or_si256(lo, _mm256_slli_epi16(hb, 2)));
            }
        }
        kq_q3_scales(x[i].scales, sc);
        const int32_t isum = kq_block_dot(u, y[i].qs, sc) - 4 * kq_scaled_bsums(y[i].bsums, sc);
        sumf += em_fp16_to_fp32(x[i].d) * y[i].d * (float)isum;
    }
    return sumf;
}

/* Q4_K (qh NULL) and Q5_K: values of sub-block j are nibble j % 2 of bytes 32 (j / 2) .. +31.
 * Inlined into each, so the type tests fold away. */
static inline __attribute__((always_inline)) float q45_K_dot(int64_t n, const em_block_q4_K *x4, const em_block_q5_K *x5, const em_block_q8_K *y) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    alignas(32) uint8_t u[QK];
    alignas(32) int16_t sc[16], mn[16];
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        const uint8_t *qs = x4 ? x4[i].qs : x5[i].qs, *s = x4 ? x4[i].scales : x5[i].scales;
        const __m256i hv = x5 ? _mm256_loadu_si256((const __m256i *)x5[i].qh) : _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (x5) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 2 * c), one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 2 * c + 1), one), 4));
            }
            store32(u + 64 * c, lo);
            store32(u + 64 * c + 32, hi);
        }
        uint8_t s8[8], m8[8];
        kq_scales_mins(s, s8, m8);
        /* per 16 values: each sub-block's scale and min twice */
        const __m128i sv = _mm_loadl_epi64((const __m128i *)s8), mv = _mm_loadl_epi64((const __m128i *)m8);
        _mm256_store_si256((__m256i *)sc, _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(sv, sv)));
        _mm256_store_si256((__m256i *)mn, _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mv, mv)));
        const int32_t isum = kq_block_dot(u, y[i].qs, sc), summ = kq_scaled_bsums(y[i].bsums, mn);
        const float d = em_fp16_to_fp32(x4 ? x4[i].d : x5[i].d) * y[i].d;
        const float dmin = em_fp16_to_fp32(x4 ? x4[i].dmin : x5[i].dmin) * y[i].d;
        sumf += d * (float)isum - dmin * (float)summ;
    }
    return sumf;
}

static float q4_K_dot(int64_t n, const void *a, const void *b) { return q45_K_dot(n, a, NULL, b); }
static float q5_K_dot(int64_t n, const void *a, const void *b) { return q45_K_dot(n, NULL, a, b); }

static float q6_K_dot(int64_t n, const void *a, const void *b) {
    const em_block_q6_K *x = a;
    const em_block_q8_K *y = b;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    alignas(32) uint8_t u[QK];
    alignas(32) int16_t sc[16];
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            for (int c = 0; c < 4; c++) {
                /* values 128 h + 32 c + l: low nibble (c / 2) of ql[l + 32 (c % 2)], bits 2c.. of qh[l] */
                const __m256i l = c % 2 ? l1 : l0;
                const __m256i lo = _mm256_and_si256(c / 2 ? _mm256_srli_epi16(l, 4) : l, m4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), m3);
                store32(u + 128 * h + 32 * c, _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)));
            }
        }
        for (int g = 0; g < 16; g++) sc[g] = x[i].scales[g];
        const int32_t isum = kq_block_dot(u, y[i].qs, sc) - 32 * kq_scaled_bsums(y[i].bsums, sc);
        sumf += em_fp16_to_fp32(x[i].d) * y[i].d * (float)isum;
    }
    return sumf;
}

void cpu_kernels_init_kquants_avx2(cpu_kernels *k) {
    k->vec_dot[EM_TYPE_Q2_K] = q2_K_dot;
    k->vec_dot[EM_TYPE_Q3_K] = q3_K_dot;
    k->vec_dot[EM_TYPE_Q4_K] = q4_K_dot;
    k->vec_dot[EM_TYPE_Q5_K] = q5_K_dot;
    k->vec_dot[EM_TYPE_Q6_K] = q6_K_dot;
}
