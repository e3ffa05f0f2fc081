/* cpu_quant_32_avx2.c - AVX2 + FMA + F16C dots for the 32-value block types
 * of cpu_quant_32.c (Q4_1, Q5_0, Q5_1, IQ4_NL): the byte products of a
 * block as llama.cpp's "haswell" build makes them, with vpmaddubsw and
 * vpmaddwd; the float steps are cpu_quant_32_x86.h's, so these give its
 * bits (tests/kernels_peer.c compares them with llama.cpp's own library).
 * The AVX-512 variant has its own (cpu_quant_32_avx512.c, the same bits). */
#include <string.h>

#include "cpu_quant_32_x86.h"

/* Unsigned bytes u (at most 31) times signed bytes s, 8 int32 lanes of 4
 * values each: the pair sums stay far below vpmaddubsw's saturation. */
static inline __m256i dot_u8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* Signed bytes a, b (|a| <= 127): |a| times b with a's sign. */
static inline __m256i dot_i8(__m256i a, __m256i b) {
    return dot_u8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

static inline __m256i q4_1_lanes(const em_block_q4_1 *x, __m256i y) { return dot_u8(q32_nibbles(x->qs), y); }

static inline __m256i q5_0_lanes(const em_block_q5_0 *x, __m256i y) {
    const __m256i q = _mm256_or_si256(q32_nibbles(x->qs), q32_fifth_bits(x->qh));
    return dot_i8(_mm256_sub_epi8(q, _mm256_set1_epi8(16)), y);
}

static inline __m256i q5_1_lanes(const em_block_q5_1 *x, __m256i y) {
    return dot_u8(_mm256_or_si256(q32_nibbles(x->qs), q32_fifth_bits(x->qh)), y);
}

static inline __m256i iq4_nl_lanes(const em_block_iq4_nl *x, __m256i y) {
    const __m128i table = _mm_loadu_si128((const __m128i *)cpu_iq4nl_values);
    const __m128i v = _mm_loadu_si128((const __m128i *)x->qs), m = _mm_set1_epi8(0x0F);
    const __m256i l = _mm256_set_m128i(_mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(v, 4), m)),
                                       _mm_shuffle_epi8(table, _mm_and_si128(v, m)));
    return dot_i8(l, y);
}

/* Q8_1 activations, cpu_quantize_row_q8_1_act's bits: 127/amax, ties to
 * even (vroundps where the portable one calls nearbyintf), s = d * sum(q)
 * from the float d. The prefill panels of Q4_1 and Q5_1 quantize every
 * activation row through this: in plain C it took ~40% of such a prefill. */
static void q8_1_from_float(const float *src, void *dst, int64_t n) {
    em_block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        __m256i q[4];
        const float d = q32_act_block(src, q);
        const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        y[i].d = em_fp32_to_fp16(d);
        y[i].s = em_fp32_to_fp16(d * (float)q32_hsum_i32(sum));
        _mm256_storeu_si256((__m256i *)y[i].qs, q32_act_bytes(q));
    }
}

Q32_DOT_DM(q4_1_dot, em_block_q4_1, q4_1_lanes)
Q32_DOT_D(q5_0_dot, em_block_q5_0, q5_0_lanes)
Q32_DOT_DM(q5_1_dot, em_block_q5_1, q5_1_lanes)
Q32_DOT_IQ4NL(iq4_nl_dot, iq4_nl_lanes)

void cpu_quant_32_init_avx2(cpu_kernels *k) {
    k->from_float[EM_TYPE_Q8_1] = q8_1_from_float;
    k->vec_dot[EM_TYPE_Q4_1] = q4_1_dot;
    k->vec_dot[EM_TYPE_Q5_0] = q5_0_dot;
    k->vec_dot[EM_TYPE_Q5_1] = q5_1_dot;
    k->vec_dot[EM_TYPE_IQ4_NL] = iq4_nl_dot;
}
