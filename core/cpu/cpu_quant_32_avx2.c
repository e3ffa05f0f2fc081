/* cpu_quant_32_avx2.c - AVX2 + FMA + F16C dots for the 32-value block types
 * of cpu_quant_32.c (Q4_1, Q5_0, Q5_1, IQ4_NL). The AVX-512 variant keeps
 * them (cpu_kernels_init_isa overlays AVX-512 on AVX2).
 *
 * They sum as llama.cpp's x86 dots do (its "haswell" build, and its AVX-512
 * builds, which run the same code for these types): each block's 32 byte
 * products as 8 int32 lanes of 4 consecutive values, converted to float and
 * multiply-added with the block's scale product into one 8-lane
 * accumulator (IQ4_NL: two, even and odd blocks, its tail block in scalar),
 * the lanes summed as ggml's hsum_float_8; the offset terms m * s of Q4_1
 * and Q5_1 are a scalar fused running sum added last. tests/kernels_peer.c
 * compares them with llama.cpp's own library. The integer lane sums are
 * exact whichever instructions make them, so only these float steps matter. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "cpu_kernels_impl.h"

#define FP16(h) _cvtsh_ss(h)

/* ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)), ggml's hsum_float_8. */
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* The 32 nibbles as bytes 0..15 in value order: low nibbles are values 0..15. */
static inline __m256i nibbles32(const uint8_t *qs) {
    const __m128i v = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
}

/* Q5's 5th bits as bytes: 0x10 at value j where bit j of qh is set. Byte j
 * takes byte j/8 of qh and tests bit j%8. */
static inline __m256i fifth_bits32(const uint8_t qh[4]) {
    uint32_t v;
    memcpy(&v, qh, 4); /* x86 is little-endian, as the file */
    const __m256i sel = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), sel);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(b, bit), bit), _mm256_set1_epi8(0x10));
}

/* Unsigned bytes u (at most 31) times signed bytes s, 8 int32 lanes of 4
 * values each: the pair sums stay far below vpmaddubsw's saturation. */
static inline __m256i dot_u8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* Signed bytes a, b (|a| <= 127): |a| times b with a's sign. */
static inline __m256i dot_i8(__m256i a, __m256i b) {
    return dot_u8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

static float q4_1_dot(int64_t n, const void *a, const void *b) {
    const em_block_q4_1 *x = a;
    const em_block_q8_1 *y = b;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int64_t i = 0; i < n / 32; i++) {
        summs = fmaf(FP16(x[i].m), FP16(y[i].s), summs);
        const __m256i p = dot_u8(nibbles32(x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    return hsum8(acc) + summs;
}

static float q5_0_dot(int64_t n, const void *a, const void *b) {
    const em_block_q5_0 *x = a;
    const em_block_q8_0 *y = b;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++) {
        const __m256i q = _mm256_sub_epi8(_mm256_or_si256(nibbles32(x[i].qs), fifth_bits32(x[i].qh)),
                                          _mm256_set1_epi8(16));
        const __m256i p = dot_i8(q, _mm256_loadu_si256((const __m256i *)y[i].qs));
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
        const __m256i q = _mm256_or_si256(nibbles32(x[i].qs), fifth_bits32(x[i].qh));
        const __m256i p = dot_u8(q, _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d)), acc);
    }
    return hsum8(acc) + summs;
}

static inline __m256i iq4nl_levels(__m128i table, const uint8_t *qs) {
    const __m128i v = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(v, 4), m)),
                            _mm_shuffle_epi8(table, _mm_and_si128(v, m)));
}

static float iq4_nl_dot(int64_t n, const void *a, const void *b) {
    const em_block_iq4_nl *x = a;
    const em_block_q8_0 *y = b;
    const int64_t nb = n / 32;
    const __m128i table = _mm_loadu_si128((const __m128i *)cpu_iq4nl_values);
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t i = 0;
    for (; i + 1 < nb; i += 2) {
        const __m256i p0 = dot_i8(iq4nl_levels(table, x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        const __m256i p1 = dot_i8(iq4nl_levels(table, x[i + 1].qs), _mm256_loadu_si256((const __m256i *)y[i + 1].qs));
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

void cpu_quant_32_init_avx2(cpu_kernels *k) {
    k->vec_dot[EM_TYPE_Q4_1] = q4_1_dot;
    k->vec_dot[EM_TYPE_Q5_0] = q5_0_dot;
    k->vec_dot[EM_TYPE_Q5_1] = q5_1_dot;
    k->vec_dot[EM_TYPE_IQ4_NL] = iq4_nl_dot;
}
