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

/* IQ4_NL two blocks at a time. llama.cpp's steps keep the even blocks'
 * lanes in one 8-lane accumulator and the odd ones' in another; here each
 * 256-bit register holds half of both: values 0-15 of blocks i and i + 1
 * (lanes 0-3 of each) side by side, so one and, one shift and two vpshufb
 * unpack two blocks, and no lane crosses a 128-bit half. The two
 * accumulators are regrouped once at the end: every lane sees the same
 * integers, products and fused adds, so the bits are llama.cpp's. What
 * depends only on the activations (their halves side by side, the pairs'
 * scales) is made once a call of iq4_nl_dot_rows. */
#define IQ4_PREP 128 /* pairs: rows up to 8,192 values, 20 KB of stack */

struct iq4_act {
    __m256i lo, hi; /* values 0-15 of blocks i, i + 1; values 16-31 */
    __m128 d;       /* the two blocks' scales in lanes 0, 1 */
};

static inline __m128 iq4_d2(em_fp16 d0, em_fp16 d1) { return _mm_cvtph_ps(_mm_insert_epi16(_mm_cvtsi32_si128(d0), d1, 1)); }

static inline struct iq4_act iq4_act_pair(const em_block_q8_0 *y) {
    const __m256i a = _mm256_loadu_si256((const __m256i *)y[0].qs), b = _mm256_loadu_si256((const __m256i *)y[1].qs);
    struct iq4_act r = {_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31), iq4_d2(y[0].d, y[1].d)};
    return r;
}

static inline __attribute__((always_inline)) float iq4_nl_row(const em_block_iq4_nl *x, const em_block_q8_0 *y, int64_t nb,
                                                              const struct iq4_act *pre) {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)cpu_iq4nl_values));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 lo = _mm256_setzero_ps(), hi = lo; /* lanes 0-3 | 4-7 of the even blocks' sums | the odd ones' */
    int64_t i = 0;
    for (; i + 1 < nb; i += 2) {
        const struct iq4_act a = pre ? pre[i / 2] : iq4_act_pair(y + i);
        const __m256i v = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)x[i + 1].qs), _mm_loadu_si128((const __m128i *)x[i].qs));
        const __m256i pl = dot_i8(_mm256_shuffle_epi8(table, _mm256_and_si256(v, m4)), a.lo);
        const __m256i ph = dot_i8(_mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4)), a.hi);
        const __m128 d2 = _mm_mul_ps(a.d, iq4_d2(x[i].d, x[i + 1].d));
        const __m256 d = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(d2), _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
        lo = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(pl), lo);
        hi = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(ph), hi);
    }
    const __m256 acc0 = _mm256_permute2f128_ps(lo, hi, 0x20), acc1 = _mm256_permute2f128_ps(lo, hi, 0x31);
    const float s = q32_hsum8(_mm256_add_ps(acc0, acc1));
    return i < nb ? q32_iq4nl_block(&x[i], &y[i], s) : s;
}

static float iq4_nl_dot(int64_t n, const void *a, const void *b) { return iq4_nl_row(a, b, n / 32, NULL); }

/* cpu_vec_dot_rows_fn: the rows one after another, the activations
 * prepared once. */
static void iq4_nl_dot_rows(int64_t n, const void *rows, size_t stride, int64_t nrows, const void *b, float *out) {
    const int64_t nb = n / 32;
    struct iq4_act pre[IQ4_PREP];
    const int keep = nb / 2 <= IQ4_PREP;
    for (int64_t i = 0; keep && i + 1 < nb; i += 2) pre[i / 2] = iq4_act_pair((const em_block_q8_0 *)b + i);
    for (int64_t r = 0; r < nrows; r++) {
        const em_block_iq4_nl *x = (const em_block_iq4_nl *)((const char *)rows + (size_t)r * stride);
        out[r] = keep ? iq4_nl_row(x, b, nb, pre) : iq4_nl_row(x, b, nb, NULL);
    }
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

void cpu_quant_32_init_avx2(cpu_kernels *k) {
    k->from_float[EM_TYPE_Q8_1] = q8_1_from_float;
    k->vec_dot[EM_TYPE_Q4_1] = q4_1_dot;
    k->vec_dot[EM_TYPE_Q5_0] = q5_0_dot;
    k->vec_dot[EM_TYPE_Q5_1] = q5_1_dot;
    k->vec_dot[EM_TYPE_IQ4_NL] = iq4_nl_dot;
    k->vec_dot_rows[EM_TYPE_IQ4_NL] = iq4_nl_dot_rows;
}
