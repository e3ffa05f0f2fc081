/* cpu_quant_32_x86.h - private to the x86 kernel files (built with at least
 * AVX2 + FMA + F16C): the float steps of the Q4_1, Q5_0, Q5_1 and IQ4_NL
 * dots, written once; and what the prefill packs of every x86 tile are
 * filled with: a 32-value block in one vector (q32_values) and the 8 x 8
 * word transpose.
 *
 * These are llama.cpp's x86 steps (its "haswell" build, and its AVX-512
 * builds, which run the same code for these types): each block's 32 byte
 * products as 8 int32 lanes of 4 consecutive values, converted to float
 * and multiply-added with the block's scale product into one 8-lane
 * accumulator (IQ4_NL: two, even and odd blocks, its tail block in
 * scalar), the lanes summed as ggml's hsum_float_8; the offset terms
 * m * s of Q4_1 and Q5_1 a scalar fused running sum added last. A file
 * supplies only how a block's lanes are made (LANES(x block, y values)):
 * they are exact integers whichever instructions make them, so every
 * variant built on these steps gives the same bits. */
#ifndef EMBER_CPU_QUANT_32_X86_H
#define EMBER_CPU_QUANT_32_X86_H

#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "cpu_kernels_impl.h"

#define Q32_FP16(h) _cvtsh_ss(h)

/* ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)): ggml's hsum_float_8, and
 * also the order of llama.cpp's tinyBLAS tile and of its softmax's
 * per-vector sums, so the F32/F16 dots and tiles use it too. */
static inline float q32_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The sum of acc's 8 int32 lanes (exact, so any order gives the same). */
static inline int32_t q32_hsum_i32(__m256i acc) {
    const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    const __m128i s2 = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
}

/* The 32 nibbles as bytes 0..15 in value order: low nibbles are values 0..15. */
static inline __m256i q32_nibbles(const uint8_t *qs) {
    const __m128i v = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
}

/* Q5's 5th bits as bytes: 0x10 at value j where bit j of qh is set. Byte j
 * takes byte j/8 of qh and tests bit j%8. */
static inline __m256i q32_fifth_bits(const uint8_t qh[4]) {
    uint32_t v;
    memcpy(&v, qh, 4); /* x86 is little-endian, as the file */
    const __m256i sel = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), sel);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(b, bit), bit), _mm256_set1_epi8(0x10));
}

/* Block b of a row of a 32-value block type (Q8_0, Q4_0, Q5_0, Q4_1, Q5_1,
 * IQ4_NL) as its 32 values in order, one byte each: the signed value for
 * Q8_0 and IQ4_NL (its level), else the unsigned stored one (Q4_0: q + 8,
 * Q5_0: q + 16, Q4_1 and Q5_1 as stored, their offset in *m, else *m = 0);
 * *d the scale. The prefill packs of both x86 variants read blocks through
 * this (test_kernels' matmul cases hold their products to the reference). */
static inline __m256i q32_values(enum em_type t, const void *row, int64_t b, float *d, float *m) {
    *m = 0.0f;
    switch (t) {
    case EM_TYPE_Q8_0: {
        const em_block_q8_0 *B = (const em_block_q8_0 *)row + b;
        *d = Q32_FP16(B->d);
        return _mm256_loadu_si256((const __m256i *)B->qs);
    }
    case EM_TYPE_Q4_0: {
        const em_block_q4_0 *B = (const em_block_q4_0 *)row + b;
        *d = Q32_FP16(B->d);
        return q32_nibbles(B->qs);
    }
    case EM_TYPE_IQ4_NL: {
        const em_block_iq4_nl *B = (const em_block_iq4_nl *)row + b;
        *d = Q32_FP16(B->d);
        const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)cpu_iq4nl_values));
        return _mm256_shuffle_epi8(table, q32_nibbles(B->qs));
    }
    case EM_TYPE_Q5_0: {
        const em_block_q5_0 *B = (const em_block_q5_0 *)row + b;
        *d = Q32_FP16(B->d);
        return _mm256_or_si256(q32_nibbles(B->qs), q32_fifth_bits(B->qh));
    }
    case EM_TYPE_Q4_1: {
        const em_block_q4_1 *B = (const em_block_q4_1 *)row + b;
        *d = Q32_FP16(B->d), *m = Q32_FP16(B->m);
        return q32_nibbles(B->qs);
    }
    default: { /* Q5_1 */
        const em_block_q5_1 *B = (const em_block_q5_1 *)row + b;
        *d = Q32_FP16(B->d), *m = Q32_FP16(B->m);
        return _mm256_or_si256(q32_nibbles(B->qs), q32_fifth_bits(B->qh));
    }
    }
}

/* v[0..7] (8 dwords each) transposed: v[j] becomes dword j of each, the
 * 4-value words of 8 weight rows side by side, as the prefill packs hold
 * them (24 shuffles for 64 words). */
static inline __attribute__((always_inline)) void x86_transpose8x8(__m256i v[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]); /* i, i+1 of dwords 0, 1 | 4, 5 */
        t[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]); /* 2, 3 | 6, 7 */
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);     /* 4 rows' dword 0 | 4 */
        u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]); /* 1 | 5 */
        u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]); /* 2 | 6 */
        u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]); /* 3 | 7 */
    }
    for (int j = 0; j < 4; j++) {
        v[j] = _mm256_permute2x128_si256(u[j], u[j + 4], 0x20);
        v[j + 4] = _mm256_permute2x128_si256(u[j], u[j + 4], 0x31);
    }
}

/* How far ahead of the row being unpacked the prefill packs' fills fetch
 * (bytes of the weight rows as they lie): a call's 32 or 64 rows come from
 * memory in one burst, which the hardware prefetcher follows late. */
#define Q32_FILL_AHEAD 8192

/* The largest of v's 8 lanes. */
static inline float q32_hmax8(__m256 v) {
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    return _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
}

/* One block of 32 activations as llama.cpp's x86 runtime quantizes them,
 * for Q8_0 and Q8_1 alike (cpu_quantize_row_q8_0_act's bits): the
 * multiplier 127/amax, ties to even (vroundps). q[j] gets values 8j..8j+7 as
 * int32; the return is d = amax / 127, before its rounding to fp16. */
static inline float q32_act_block(const float *src, __m256i q[4]) {
    const __m256 signmask = _mm256_set1_ps(-0.0f);
    __m256 v[4], amax = _mm256_setzero_ps();
    for (int j = 0; j < 4; j++) {
        v[j] = _mm256_loadu_ps(src + 8 * j);
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(signmask, v[j]));
    }
    const float amaxs = q32_hmax8(amax);
    const float id = amaxs != 0.0f ? 127.0f / amaxs : 0.0f;
    for (int j = 0; j < 4; j++)
        q[j] = _mm256_cvtps_epi32(
            _mm256_round_ps(_mm256_mul_ps(v[j], _mm256_set1_ps(id)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    return amaxs / 127.0f;
}

/* q[0..3] (32 int32, |q| <= 127 as q32_act_block makes them; larger ones
 * saturate) as 32 bytes in value order. */
static inline __m256i q32_act_bytes(const __m256i q[4]) {
    /* packs interleave 128-bit lanes; the permute restores element order */
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* The two fp16 halves at p (a block's d and m, Q8_1's d and s) as floats in
 * lanes 0 and 1: one conversion for both. */
static inline __m128 q32_fp16x2(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm_cvtph_ps(_mm_cvtsi32_si128(v));
}

/* Q4_1, Q5_1 (X: the block type) against Q8_1: scales d * d, offsets m * s.
 * Lane 0 of xdm * yds is d * d; lane 1 of the running fused sum is the
 * scalar fmaf(m, s, summs) chain, so the bits are those of four scalar
 * conversions, with two. */
#define Q32_DOT_DM(NAME, X, LANES)                                                                        \
    static float NAME(int64_t n, const void *a, const void *b) {                                          \
        const X *x = a;                                                                                   \
        const em_block_q8_1 *y = b;                                                                       \
        __m256 acc = _mm256_setzero_ps();                                                                 \
        __m128 summs = _mm_setzero_ps();                                                                  \
        for (int64_t i = 0; i < n / 32; i++) {                                                            \
            const __m128 xdm = q32_fp16x2(&x[i].d), yds = q32_fp16x2(&y[i].d);                            \
            summs = _mm_fmadd_ps(xdm, yds, summs);                                                        \
            const __m256i p = LANES(&x[i], _mm256_loadu_si256((const __m256i *)y[i].qs));                 \
            acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_mul_ps(xdm, yds)), _mm256_cvtepi32_ps(p), acc); \
        }                                                                                                 \
        return q32_hsum8(acc) + _mm_cvtss_f32(_mm_movehdup_ps(summs));                                   \
    }

/* Q5_0 against Q8_0. */
#define Q32_DOT_D(NAME, X, LANES)                                                                         \
    static float NAME(int64_t n, const void *a, const void *b) {                                          \
        const X *x = a;                                                                                   \
        const em_block_q8_0 *y = b;                                                                       \
        __m256 acc = _mm256_setzero_ps();                                                                 \
        for (int64_t i = 0; i < n / 32; i++) {                                                            \
            const __m256i p = LANES(&x[i], _mm256_loadu_si256((const __m256i *)y[i].qs));                 \
            acc = _mm256_fmadd_ps(_mm256_set1_ps(Q32_FP16(x[i].d) * Q32_FP16(y[i].d)), _mm256_cvtepi32_ps(p), \
                                  acc);                                                                   \
        }                                                                                                 \
        return q32_hsum8(acc);                                                                            \
    }

/* IQ4_NL against Q8_0 takes llama.cpp's steps too: two accumulators (the
 * even blocks', the odd ones'), their sum by q32_hsum8, then the odd last
 * block, here, in scalar, fused into that sum s. Each variant holds the two
 * accumulators in its own registers (cpu_quant_32_avx2.c,
 * cpu_kernels_avx512.c). */
static inline float q32_iq4nl_block(const em_block_iq4_nl *x, const em_block_q8_0 *y, float s) {
    int sumi = 0;
    for (int j = 0; j < 16; j++)
        sumi += y->qs[j] * cpu_iq4nl_values[x->qs[j] & 0x0F] + y->qs[j + 16] * cpu_iq4nl_values[x->qs[j] >> 4];
    return fmaf(Q32_FP16(y->d) * Q32_FP16(x->d), (float)sumi, s);
}

#endif
