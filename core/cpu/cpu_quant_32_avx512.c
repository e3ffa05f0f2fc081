/* cpu_quant_32_avx512.c - the decode dots of Q4_1, Q5_0 and Q5_1 with
 * AVX-512 (BW, VL, VNNI), a block on 256 bits (IQ4_NL's, two blocks on 512
 * beside Q4_0's, are in cpu_kernels_avx512.c).
 *
 * Each gives the bits of its AVX2 dot (cpu_quant_32_avx2.c), and so of
 * llama.cpp's x86 dots: the float steps are the same (cpu_quant_32_x86.h),
 * and each int32 lane is the same integer, the sum of 4 consecutive byte
 * products, however it is made. What changes is the instruction count of
 * the integer part, which bounded a decode step (a Q5_0 row ran at ~25
 * instructions a block, ~35% under its bytes' share of the bandwidth):
 *   - Q5_0's and Q5_1's fifth bits: the 32-bit qh is a byte mask, one
 *     masked add sets 0x10 where it is set (AVX2 builds the bytes with 5
 *     shuffles and compares);
 *   - vpdpbusd (unsigned x signed bytes, 4 to a lane) in place of
 *     vpmaddubsw + vpmaddwd, and of the sign tricks a signed weight needed:
 *     Q5_0 multiplies the stored q (0..31) and takes 16 * (each lane's
 *     activation sum) off. */
#include <string.h>

#include "cpu_quant_32_x86.h"

static inline __m256i dpbusd(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}

/* Nibbles with the fifth bit j of qh (little-endian, as the file) at value j. */
static inline __m256i fives32(const uint8_t *qs, const uint8_t qh[4]) {
    uint32_t h;
    memcpy(&h, qh, 4);
    const __m256i q = q32_nibbles(qs);
    return _mm256_mask_add_epi8(q, (__mmask32)h, q, _mm256_set1_epi8(0x10)); /* q < 16: add is OR */
}

static inline __m256i q4_1_lanes(const em_block_q4_1 *x, __m256i y) { return dpbusd(q32_nibbles(x->qs), y); }

static inline __m256i q5_0_lanes(const em_block_q5_0 *x, __m256i y) {
    return _mm256_sub_epi32(dpbusd(fives32(x->qs, x->qh), y), dpbusd(_mm256_set1_epi8(16), y));
}

static inline __m256i q5_1_lanes(const em_block_q5_1 *x, __m256i y) { return dpbusd(fives32(x->qs, x->qh), y); }

Q32_DOT_DM(q4_1_dot, em_block_q4_1, q4_1_lanes)
Q32_DOT_D(q5_0_dot, em_block_q5_0, q5_0_lanes)
Q32_DOT_DM(q5_1_dot, em_block_q5_1, q5_1_lanes)

void cpu_quant_32_init_avx512(cpu_kernels *k) {
    k->vec_dot[EM_TYPE_Q4_1] = q4_1_dot;
    k->vec_dot[EM_TYPE_Q5_0] = q5_0_dot;
    k->vec_dot[EM_TYPE_Q5_1] = q5_1_dot;
}
