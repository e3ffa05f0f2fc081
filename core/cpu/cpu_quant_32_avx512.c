/* cpu_quant_32_avx512.c - the decode dots of Q4_1, Q5_0, Q5_1 and IQ4_NL
 * with AVX-512 (BW, VL, VNNI), on 256-bit vectors.
 *
 * Each gives the bits of its AVX2 dot (cpu_quant_32_avx2.c), and so of
 * llama.cpp's x86 dots: the float steps are the same (one multiply-add of
 * the block's 8 int32 lane sums into one 8-lane accumulator per block,
 * IQ4_NL's two), and each int32 lane is the same integer, the sum of 4
 * consecutive byte products, however it is made. What changes is the
 * instruction count of the integer part, which bounded a decode step (a
 * Q5_0 row ran at ~25 instructions a block, ~35% under its bytes' share of
 * the memory bandwidth):
 *   - Q5_0's and Q5_1's fifth bits: the 32-bit qh is a byte mask, one
 *     masked OR sets 0x10 where it is set (AVX2 builds the bytes with 5
 *     shuffles and compares);
 *   - vpdpbusd (unsigned x signed bytes, 4 to a lane) in place of
 *     vpmaddubsw + vpmaddwd, and of the sign tricks a signed weight needed:
 *     Q5_0 multiplies the stored q (0..31) and takes 16 * (each lane's
 *     activation sum) off, IQ4_NL its levels + 128 and 128 * the sum. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "cpu_kernels_impl.h"

#define FP16(h) _cvtsh_ss(h)

/* ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)), as the AVX2 dots' hsum8. */
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The 32 nibbles as bytes in value order: low nibbles are values 0..15. */
static inline __m256i nibbles32(const uint8_t *qs) {
    const __m128i v = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
}

/* Nibbles with the fifth bit j of qh (little-endian, as the file) at value j. */
static inline __m256i fives32(const uint8_t *qs, const uint8_t qh[4]) {
    uint32_t h;
    memcpy(&h, qh, 4);
    const __m256i q = nibbles32(qs);
    return _mm256_mask_add_epi8(q, (__mmask32)h, q, _mm256_set1_epi8(0x10)); /* q < 16: add is OR */
}

static inline __m256i dpbusd(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

static float q4_1_dot(int64_t n, const void *a, const void *b) {
    const em_block_q4_1 *x = a;
    const em_block_q8_1 *y = b;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t i = 0; i < n / 32; i++) {
        summs = fmaf(FP16(x[i].m), FP16(y[i].s), summs);
        const __m256i p = dpbusd(nibbles32(x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc) + summs;
}

static float q5_0_dot(int64_t n, const void *a, const void *b) {
    const em_block_q5_0 *x = a;
    const em_block_q8_0 *y = b;
    const __m256i sixteen = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++) {
        const __m256i yq = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i p = _mm256_sub_epi32(dpbusd(fives32(x[i].qs, x[i].qh), yq), dpbusd(sixteen, yq));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc);
}

static float q5_1_dot(int64_t n, const void *a, const void *b) {
    const em_block_q5_1 *x = a;
    const em_block_q8_1 *y = b;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t i = 0; i < n / 32; i++) {
        summs = fmaf(FP16(x[i].m), FP16(y[i].s), summs);
        const __m256i p = dpbusd(fives32(x[i].qs, x[i].qh), _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d)), acc);
    }
    return hsum8(acc) + summs;
}

/* IQ4_NL's levels + 128 (1..241), unsigned. */
static inline __m256i iq4nl_ulevels(__m128i table, const uint8_t *qs) {
    const __m128i v = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(v, 4), m)),
                            _mm_shuffle_epi8(table, _mm_and_si128(v, m)));
}

static inline __m256i iq4nl_lanes(__m128i table, const uint8_t *qs, const int8_t *ys) {
    const __m256i yq = _mm256_loadu_si256((const __m256i *)ys);
    return _mm256_sub_epi32(dpbusd(iq4nl_ulevels(table, qs), yq), dpbusd(_mm256_set1_epi8((char)0x80), yq));
}

static float iq4_nl_dot(int64_t n, const void *a, const void *b) {
    const em_block_iq4_nl *x = a;
    const em_block_q8_0 *y = b;
    const int64_t nb = n / 32;
    const __m128i table = _mm_add_epi8(_mm_loadu_si128((const __m128i *)cpu_iq4nl_values), _mm_set1_epi8((char)0x80));
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t i = 0;
    for (; i + 1 < nb; i += 2) {
        const __m256i p0 = iq4nl_lanes(table, x[i].qs, y[i].qs);
        const __m256i p1 = iq4nl_lanes(table, x[i + 1].qs, y[i + 1].qs);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(FP16(y[i].d) * FP16(x[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(FP16(y[i + 1].d) * FP16(x[i + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
    }
    float s = hsum8(_mm256_add_ps(acc0, acc1));
    for (; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += y[i].qs[j] * cpu_iq4nl_values[x[i].qs[j] & 0x0F] + y[i].qs[j + 16] * cpu_iq4nl_values[x[i].qs[j] >> 4];
        s = fmaf(FP16(y[i].d) * FP16(x[i].d), (float)sumi, s);
    }
    return s;
}

void cpu_quant_32_init_avx512(cpu_kernels *k) {
    k->vec_dot[EM_TYPE_Q4_1] = q4_1_dot;
    k->vec_dot[EM_TYPE_Q5_0] = q5_0_dot;
    k->vec_dot[EM_TYPE_Q5_1] = q5_1_dot;
    k->vec_dot[EM_TYPE_IQ4_NL] = iq4_nl_dot;
}
