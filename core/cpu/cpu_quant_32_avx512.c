/* cpu_quant_32_avx512.c - the decode dots of Q4_1, Q5_0, Q5_1 and IQ4_NL
 * with AVX-512 (BW, VL, VNNI): Q4_1, Q5_0, Q5_1 a block on 256 bits,
 * IQ4_NL two blocks on 512.
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
 *     activation sum) off, IQ4_NL its levels + 128 and 128 * the sum. */
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

/* IQ4_NL two blocks a 512-bit register. Q32_DOT_IQ4NL keeps the even
 * blocks' sums in one 8-lane accumulator and the odd ones' in another;
 * here they are the low and the high half of one, so each lane sees the
 * same integers, products and fused adds, and the halves' sum the same
 * tree: AVX2's bits, with half the instructions a block. What depends only
 * on the activations (a pair's bytes side by side, their bias, the pair's
 * two scales) is made once a call of iq4_nl_dot_rows for all its rows
 * (up to IQ4_PREP pairs; longer rows make it per row). */
#define IQ4_PREP 128 /* pairs: rows up to 8,192 values, 24 KB of stack */

struct iq4_act {
    __m512i q;    /* blocks i, i+1's 64 bytes */
    __m512i bias; /* each lane's sum starts at -128 * (its 4 bytes' sum) */
    __m512 d;     /* lanes 0-7 block i's scale, 8-15 block i+1's */
};

/* The fp16 scales of two blocks (wherever they lie) as 8 + 8 lanes. */
static inline __m512 iq4_scales2(em_fp16 d0, em_fp16 d1) {
    const __m128 f = _mm_cvtph_ps(_mm_insert_epi16(_mm_cvtsi32_si128(d0), d1, 1));
    return _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                 _mm512_castps128_ps512(f));
}

static inline struct iq4_act iq4_act_pair(const em_block_q8_0 *y) {
    struct iq4_act a;
    a.q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)y[0].qs)),
                             _mm256_loadu_si256((const __m256i *)y[1].qs), 1);
    const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), a.q);
    a.bias = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(s, 7));
    a.d = iq4_scales2(y[0].d, y[1].d);
    return a;
}

/* Blocks i, i+1's levels + 128 (1..241) in value order: the 16 bytes of
 * each twice, the second copy a nibble down, masked and looked up. */
static inline __m512i iq4_levels2(const em_block_iq4_nl *x, __m512i table) {
    const __m256i v = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)x[1].qs), _mm_loadu_si128((const __m128i *)x[0].qs));
    const __m512i w = _mm512_permutexvar_epi64(_mm512_set_epi64(3, 2, 3, 2, 1, 0, 1, 0), _mm512_castsi256_si512(v));
    const __m512i nib = _mm512_and_si512(_mm512_srlv_epi64(w, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0)),
                                         _mm512_set1_epi8(0x0F));
    return _mm512_shuffle_epi8(table, nib);
}

static inline __attribute__((always_inline)) float iq4_nl_row(const em_block_iq4_nl *x, const em_block_q8_0 *y, int64_t nb,
                                                              const struct iq4_act *pre) {
    const __m512i table = _mm512_broadcast_i32x4(
        _mm_add_epi8(_mm_loadu_si128((const __m128i *)cpu_iq4nl_values), _mm_set1_epi8((char)0x80)));
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const struct iq4_act a = pre ? pre[i / 2] : iq4_act_pair(y + i);
        const __m512i p = _mm512_dpbusd_epi32(a.bias, iq4_levels2(x + i, table), a.q);
        acc = _mm512_fmadd_ps(_mm512_mul_ps(a.d, iq4_scales2(x[i].d, x[i + 1].d)), _mm512_cvtepi32_ps(p), acc);
    }
    float s = q32_hsum8(_mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1)));
    if (i < nb) s = q32_iq4nl_block(&x[i], &y[i], s);
    return s;
}

static float iq4_nl_dot(int64_t n, const void *a, const void *b) { return iq4_nl_row(a, b, n / 32, NULL); }

/* cpu_vec_dot_rows_fn: the rows one after another, as iq4_nl_dot steps
 * through them, the activations prepared once. */
static void iq4_nl_dot_rows(int64_t n, const void *rows, size_t stride, int64_t nrows, const void *b, float *out) {
    const int64_t nb = n / 32;
    struct iq4_act pre[IQ4_PREP];
    const int keep = nb / 2 <= IQ4_PREP;
    for (int64_t i = 0; keep && i + 2 <= nb; i += 2) pre[i / 2] = iq4_act_pair((const em_block_q8_0 *)b + i);
    for (int64_t r = 0; r < nrows; r++) {
        const em_block_iq4_nl *x = (const em_block_iq4_nl *)((const char *)rows + (size_t)r * stride);
        out[r] = keep ? iq4_nl_row(x, b, nb, pre) : iq4_nl_row(x, b, nb, NULL);
    }
}

void cpu_quant_32_init_avx512(cpu_kernels *k) {
    k->vec_dot[EM_TYPE_Q4_1] = q4_1_dot;
    k->vec_dot[EM_TYPE_Q5_0] = q5_0_dot;
    k->vec_dot[EM_TYPE_Q5_1] = q5_1_dot;
    k->vec_dot[EM_TYPE_IQ4_NL] = iq4_nl_dot;
    k->vec_dot_rows[EM_TYPE_IQ4_NL] = iq4_nl_dot_rows;
}
