/* cpu_kernels_avx512.c - AVX-512 (F/BW/VL/DQ/VNNI) kernels: the Q8_0 / Q4_0
 * matrix products, decode and prefill alike, on the panel layout of
 * cpu_kernels_impl.h, IQ4_NL's decode beside Q4_0's, and the prefill tile
 * of the other 32-value block types (Q5_0, Q4_1, Q5_1, IQ4_NL). What is not
 * here stays AVX2.
 *
 * The product of a weight block and an activation block is one vpdpbusd
 * (unsigned x signed bytes, 4 products summed into each int32 lane), which
 * needs the weights unsigned: Q8_0 stores q, so the kernel feeds q ^ 0x80 =
 * q + 128; Q4_0 stores the nibble, already q + 8. The bias is taken out by
 * starting each lane's sum at -bias * s / 8 (s = sum of the activation block,
 * 8 lanes per block: -16 s for Q8_0, -s for Q4_0), so it costs nothing per
 * product. A 512-bit register holds two blocks; lanes stay unreduced, scaled
 * per block in float, and are summed once per output. A tile of RM weight rows
 * x up to RN activation rows keeps RM*RN accumulators in registers: each
 * weight pair is unpacked once per RN activations and each activation pair
 * loaded once per RM rows.
 *
 * The F32/F16 products, the softmax and SiLU round as llama.cpp's CPU backend
 * does on an AVX-512 machine (ggml's AVX-512 builds without AVX512-FP16, e.g.
 * "zen4"): 16 lanes, its order of the final sums, its AVX-512 exp (which
 * differs from its AVX2 one in the last bit). See cpu_kernels_avx2.c. */
#include <immintrin.h>
#include <stdalign.h>
#include <math.h>
#include <string.h>

#include "cpu_kernels_impl.h"
#include "cpu_quant_32_x86.h"

#define RM 4 /* weight rows per tile */
#define RN 4 /* activation rows per tile */

#define PF_ROWS 12 /* prefetch distance in weight rows */
#define INLINE static inline __attribute__((always_inline))

/* Two fp16 scales -> 16 floats: lanes 0-7 the first, lanes 8-15 the second. */
INLINE __m512 scales2_f16(em_fp16 d0, em_fp16 d1) {
    __m128 f = _mm_cvtph_ps(_mm_insert_epi16(_mm_cvtsi32_si128(d0), d1, 1));
    return _mm512_permutexvar_ps(_mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
                                 _mm512_castps128_ps512(f));
}

/* Weight blocks b, b+1 of one row as 64 unsigned bytes, in value order. */
INLINE __m512i wpair(int q4, const char *row, int64_t b) {
    if (q4) {
        const em_block_q4_0 *B = (const em_block_q4_0 *)row + b;
        __m256i v = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)B[1].qs), _mm_loadu_si128((const __m128i *)B[0].qs));
        const __m256i m4 = _mm256_set1_epi8(0x0F);
        __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        /* [lo0 lo1 hi0 hi1] -> [lo0 hi0 lo1 hi1] (128-bit lanes) */
        __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
    }
    const em_block_q8_0 *B = (const em_block_q8_0 *)row + b;
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)B[0].qs)),
                                   _mm256_loadu_si256((const __m256i *)B[1].qs), 1);
    return _mm512_xor_si512(z, _mm512_set1_epi8((char)0x80));
}

INLINE __m512 wscales2(int q4, const char *row, int64_t b) {
    if (q4) { const em_block_q4_0 *B = (const em_block_q4_0 *)row + b; return scales2_f16(B[0].d, B[1].d); }
    const em_block_q8_0 *B = (const em_block_q8_0 *)row + b;
    return scales2_f16(B[0].d, B[1].d);
}

/* One odd last block: the same in 256 bits. */
INLINE __m256i wone(int q4, const char *row, int64_t b) {
    if (q4) {
        const em_block_q4_0 *B = (const em_block_q4_0 *)row + b;
        __m128i v = _mm_loadu_si128((const __m128i *)B->qs);
        const __m128i m4 = _mm_set1_epi8(0x0F);
        return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
    }
    const em_block_q8_0 *B = (const em_block_q8_0 *)row + b;
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)B->qs), _mm256_set1_epi8((char)0x80));
}

INLINE float wscale1(int q4, const char *row, int64_t b) {
    return _cvtsh_ss(q4 ? ((const em_block_q4_0 *)row)[b].d : ((const em_block_q8_0 *)row)[b].d);
}

/* Tile of RM weight rows x nc (<= RN, a constant after inlining) activations. */
INLINE void tile(int q4, int nc, int pf, int64_t nb, const char *const *wr, size_t w_stride, const char *const *xr, float *y,
                 int64_t ldy, int nr) {
    const int64_t bsz = q4 ? (int64_t)sizeof(em_block_q4_0) : (int64_t)sizeof(em_block_q8_0);
    __m512 acc[RM][RN];
    _Pragma("GCC unroll 4")
    for (int r = 0; r < RM; r++)
        _Pragma("GCC unroll 4")
        for (int c = 0; c < nc; c++) acc[r][c] = _mm512_setzero_ps();
    const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const int shift = q4 ? 0 : 4; /* bias/8: 1 for Q4_0, 16 for Q8_0 */
    const float *xd[RN];
    const int32_t *xs[RN];
    _Pragma("GCC unroll 4")
    for (int c = 0; c < nc; c++) { xd[c] = cpu_q8p_d(xr[c], nb); xs[c] = cpu_q8p_s(xr[c], nb); }

    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m512i wq[RM];
        __m512 wd[RM];
        _Pragma("GCC unroll 4")
        for (int r = 0; r < RM; r++) {
            /* the hardware prefetcher does not follow RM short interleaved
             * row streams well: fetch the next tile's rows (once, in the
             * first column tile, while the weights come from memory) */
            if (pf) {
                _mm_prefetch(wr[r] + PF_ROWS * w_stride + b * bsz, _MM_HINT_T0);
                _mm_prefetch(wr[r] + PF_ROWS * w_stride + b * bsz + 64, _MM_HINT_T0);
            }
            wq[r] = wpair(q4, wr[r], b);
            wd[r] = wscales2(q4, wr[r], b);
        }
        _Pragma("GCC unroll 4")
        for (int c = 0; c < nc; c++) {
            __m512i xq = _mm512_loadu_si512(xr[c] + b * 32);
            __m512 d = _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(_mm_castpd_ps(_mm_load_sd((const double *)(xd[c] + b)))));
            __m512i s = _mm512_permutexvar_epi32(idx, _mm512_castsi128_si512(_mm_loadl_epi64((const __m128i *)(xs[c] + b))));
            s = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(s, shift));
            _Pragma("GCC unroll 4")
            for (int r = 0; r < RM; r++) {
                __m512i t = _mm512_dpbusd_epi32(s, wq[r], xq);
                acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_mul_ps(wd[r], d), acc[r][c]);
            }
        }
    }
    if (b < nb) {
        __m256i wq[RM];
        __m256 wd[RM];
        _Pragma("GCC unroll 4")
        for (int r = 0; r < RM; r++) { wq[r] = wone(q4, wr[r], b); wd[r] = _mm256_set1_ps(wscale1(q4, wr[r], b)); }
        _Pragma("GCC unroll 4")
        for (int c = 0; c < nc; c++) {
            __m256i xq = _mm256_loadu_si256((const __m256i *)(xr[c] + b * 32));
            __m256 d = _mm256_set1_ps(xd[c][b]);
            __m256i s = _mm256_set1_epi32(-xs[c][b] * (1 << shift));
            _Pragma("GCC unroll 4")
            for (int r = 0; r < RM; r++) {
                __m256i t = _mm256_dpbusd_epi32(s, wq[r], xq);
                __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(t), _mm256_mul_ps(wd[r], d));
                acc[r][c] = _mm512_add_ps(acc[r][c], _mm512_zextps256_ps512(f));
            }
        }
    }
    _Pragma("GCC unroll 4")
    for (int c = 0; c < nc; c++)
        _Pragma("GCC unroll 4")
        for (int r = 0; r < RM; r++)
            if (r < nr) y[c * ldy + r] = _mm512_reduce_add_ps(acc[r][c]);
}

INLINE void gemm_q(int q4, int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                   int64_t nc, float *y, int64_t ldy) {
    const int64_t nb = k / 32;
    const char *wr[RM];
    /* rows past nr repeat the last one: computed, never stored */
    _Pragma("GCC unroll 4")
    for (int r = 0; r < RM; r++) wr[r] = (const char *)w + (r < nr ? r : nr - 1) * w_stride;
    int64_t c = 0;
    for (; c + RN <= nc; c += RN) {
        const char *xr[RN];
        _Pragma("GCC unroll 4")
        for (int j = 0; j < RN; j++) xr[j] = (const char *)x + (c + j) * x_stride;
        tile(q4, RN, c == 0, nb, wr, w_stride, xr, y + c * ldy, ldy, nr);
    }
    const char *xr[RN];
    _Pragma("GCC unroll 4")
    for (int j = 0; j < RN; j++) xr[j] = (const char *)x + (c + j < nc ? c + j : c) * x_stride;
    switch (nc - c) {
    case 3: tile(q4, 3, c == 0, nb, wr, w_stride, xr, y + c * ldy, ldy, nr); break;
    case 2: tile(q4, 2, c == 0, nb, wr, w_stride, xr, y + c * ldy, ldy, nr); break;
    case 1: tile(q4, 1, c == 0, nb, wr, w_stride, xr, y + c * ldy, ldy, nr); break;
    default: break;
    }
}

/* The prefill form: weight rows interleaved, 4 bytes at a time.
 *
 * In the tile above every (row, activation) pair pays a convert, a multiply
 * and an FMA per vpdpbusd, to scale its own sums. Here the IR weight rows
 * of a call are first copied, IKB blocks at a time, into a layout where one
 * 64-byte vector holds 4 bytes of each of 16 rows (the 4 values at
 * 4j..4j+3 of a block, j = 0..7); then one vpdpbusd against an activation's
 * 4 bytes, broadcast, advances 16 rows at once, the int32 lanes are whole
 * row sums (no horizontal adds), and the scaling (convert, multiply, FMA)
 * is paid once per 8 vpdpbusd. Weights are stored unsigned (Q8_0 q + 128,
 * Q4_0 the raw nibble q + 8); each block's int32 sums start at -bias * s
 * (s = the activation block's sum, from the panel). The copy (ipack_fill)
 * is paid once per call whatever the number of activation rows; below
 * IMIN of them it does not pay, and the tile above takes them. The outputs
 * are the same integers scaled in the same way as the tile's, summed over
 * blocks in another order. */
#define IR 32   /* weight rows per call: two 16-lane vectors */
#define IRN 6   /* activation rows per register tile: 24 accumulators */
#define IKB 32  /* blocks per repacked chunk: 37 KB on the stack */
#define IMIN 8  /* fewer activation rows take the tile above: from 8 rows the packs win (jpack_fill's figures) */

typedef struct ipack {
    alignas(64) uint8_t q[IKB][8][IR][4];
    alignas(64) float d[IKB][IR];
    alignas(64) float m[IKB][IR]; /* Q4_1, Q5_1: the offset */
} ipack;

/* The weights' bias as stored here: signed types (Q8_0, IQ4_NL's levels)
 * are stored + 128, Q4_0 and Q5_0 are stored as q + 8 and q + 16 anyway,
 * Q4_1 and Q5_1 are unsigned with an offset m (times Q8_1's s). */
#define I_BIAS(t) ((t) == EM_TYPE_Q8_0 || (t) == EM_TYPE_IQ4_NL ? 128 : (t) == EM_TYPE_Q4_0 ? 8 : (t) == EM_TYPE_Q5_0 ? 16 : 0)
#define I_MIN(t) ((t) == EM_TYPE_Q4_1 || (t) == EM_TYPE_Q5_1)

/* Blocks [b0, b0 + nbk) of rows [0, nr) of w into p; rows past nr zero.
 * As AVX2's jpack_fill: the rows' values in vectors row after row (one
 * stream), then 8 rows at a time transposed in registers, a 32-byte store
 * per 4-value word of 8 rows. */
INLINE void ipack_fill(enum em_type t, ipack *p, const char *w, size_t w_stride, int nr, int64_t b0, int nbk) {
    alignas(32) int8_t v[IR][IKB][32];
    const size_t bb = em_type_block_bytes(t);
    const __m256i bias = _mm256_set1_epi8(I_BIAS(t) == 128 ? (char)0x80 : 0);
    for (int r = 0; r < IR; r++) {
        const char *row = w + (size_t)r * w_stride;
        for (int b = 0; b < nbk; b++) {
            __m256i q = _mm256_setzero_si256();
            _mm_prefetch((const char *)((uintptr_t)row + (size_t)(b0 + b) * bb + Q32_FILL_AHEAD), _MM_HINT_T0);
            if (r < nr) q = _mm256_xor_si256(q32_values(t, row, b0 + b, &p->d[b][r], &p->m[b][r]), bias);
            else p->d[b][r] = p->m[b][r] = 0.0f;
            _mm256_store_si256((__m256i *)v[r][b], q);
        }
    }
    for (int r8 = 0; r8 < IR; r8 += 8)
        for (int b = 0; b < nbk; b++) {
            __m256i a[8];
            for (int i = 0; i < 8; i++) a[i] = _mm256_load_si256((const __m256i *)v[r8 + i][b]);
            x86_transpose8x8(a);
            for (int j = 0; j < 8; j++) _mm256_store_si256((__m256i *)p->q[b][j][r8], a[j]);
        }
}

/* IR rows x NC activation rows over the nbk blocks in p (blocks b0.. of the
 * activations); stores (first chunk) or adds the sums to y. */
INLINE void itile(enum em_type t, int NC, const ipack *p, int nbk, int64_t b0, int64_t nb, const char *const *xr,
                  float *y, int64_t ldy, int nr, int first) {
    __m512 f[IRN][2];
    const float *xd[IRN];
    const int32_t *xs[IRN];
    for (int c = 0; c < NC; c++) {
        f[c][0] = f[c][1] = _mm512_setzero_ps();
        xd[c] = cpu_q8p_d(xr[c], nb);
        xs[c] = cpu_q8p_s(xr[c], nb);
    }
    for (int b = 0; b < nbk; b++) {
        __m512i a[IRN][2];
        for (int c = 0; c < NC; c++) a[c][0] = a[c][1] = _mm512_set1_epi32(I_BIAS(t) ? -xs[c][b0 + b] * I_BIAS(t) : 0);
        for (int j = 0; j < 8; j++) {
            const __m512i w0 = _mm512_load_si512(p->q[b][j][0]), w1 = _mm512_load_si512(p->q[b][j][16]);
            for (int c = 0; c < NC; c++) {
                int32_t xv;
                memcpy(&xv, xr[c] + (b0 + b) * 32 + 4 * j, 4);
                const __m512i xb = _mm512_set1_epi32(xv);
                a[c][0] = _mm512_dpbusd_epi32(a[c][0], w0, xb);
                a[c][1] = _mm512_dpbusd_epi32(a[c][1], w1, xb);
            }
        }
        const __m512 d0 = _mm512_load_ps(p->d[b]), d1 = _mm512_load_ps(p->d[b] + 16);
        for (int c = 0; c < NC; c++) {
            const __m512 xdv = _mm512_set1_ps(xd[c][b0 + b]);
            f[c][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[c][0]), _mm512_mul_ps(d0, xdv), f[c][0]);
            f[c][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[c][1]), _mm512_mul_ps(d1, xdv), f[c][1]);
            if (I_MIN(t)) { /* m * the activation block's sum, Q8_1's s */
                const __m512 xsum = _mm512_set1_ps(cpu_q8p_s1(xr[c], nb)[b0 + b]);
                f[c][0] = _mm512_fmadd_ps(_mm512_load_ps(p->m[b]), xsum, f[c][0]);
                f[c][1] = _mm512_fmadd_ps(_mm512_load_ps(p->m[b] + 16), xsum, f[c][1]);
            }
        }
    }
    const __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    for (int c = 0; c < NC; c++) {
        float *yc = y + c * ldy;
        if (!first) {
            f[c][0] = _mm512_add_ps(f[c][0], _mm512_maskz_loadu_ps(m0, yc));
            f[c][1] = _mm512_add_ps(f[c][1], _mm512_maskz_loadu_ps(m1, yc + 16));
        }
        _mm512_mask_storeu_ps(yc, m0, f[c][0]);
        _mm512_mask_storeu_ps(yc + 16, m1, f[c][1]);
    }
}

INLINE void gemm_qi(enum em_type t, int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                    int64_t nc, float *y, int64_t ldy) {
    if (nc < IMIN && (t == EM_TYPE_Q8_0 || t == EM_TYPE_Q4_0)) { /* (the other types: the tile below) */
        for (int r0 = 0; r0 < nr; r0 += RM)
            gemm_q(t == EM_TYPE_Q4_0, k, (const char *)w + (size_t)r0 * w_stride, w_stride, nr - r0 < RM ? nr - r0 : RM, x, x_stride,
                   nc, y + r0, ldy);
        return;
    }
    const int64_t nb = k / 32;
    ipack p;
    for (int64_t b0 = 0; b0 < nb; b0 += IKB) {
        const int nbk = (int)(nb - b0 < IKB ? nb - b0 : IKB);
        ipack_fill(t, &p, w, w_stride, nr, b0, nbk);
        for (int64_t c0 = 0; c0 < nc; c0 += IRN) {
            const char *xr[IRN];
            for (int c = 0; c < IRN; c++) xr[c] = (const char *)x + (size_t)(c0 + c < nc ? c0 + c : c0) * x_stride;
            float *yt = y + c0 * ldy;
            switch (nc - c0 < IRN ? nc - c0 : IRN) {
            case 1: itile(t, 1, &p, nbk, b0, nb, xr, yt, ldy, nr, b0 == 0); break;
            case 2: itile(t, 2, &p, nbk, b0, nb, xr, yt, ldy, nr, b0 == 0); break;
            case 3: itile(t, 3, &p, nbk, b0, nb, xr, yt, ldy, nr, b0 == 0); break;
            case 4: itile(t, 4, &p, nbk, b0, nb, xr, yt, ldy, nr, b0 == 0); break;
            case 5: itile(t, 5, &p, nbk, b0, nb, xr, yt, ldy, nr, b0 == 0); break;
            default: itile(t, 6, &p, nbk, b0, nb, xr, yt, ldy, nr, b0 == 0); break;
            }
        }
    }
}

#define IGEMM(name, t)                                                                                            \
    static void name(int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int64_t nc, \
                     float *y, int64_t ldy) {                                                                     \
        gemm_qi(t, k, w, w_stride, nr, x, x_stride, nc, y, ldy);                                                  \
    }
IGEMM(gemm_q8_0, EM_TYPE_Q8_0)
IGEMM(gemm_q4_0, EM_TYPE_Q4_0)
IGEMM(gemm_q5_0, EM_TYPE_Q5_0)
IGEMM(gemm_q4_1, EM_TYPE_Q4_1)
IGEMM(gemm_q5_1, EM_TYPE_Q5_1)
IGEMM(gemm_iq4_nl, EM_TYPE_IQ4_NL)

/* Decode dot, one row streaming: two blocks per register, |w| x sign(x, w)
 * via a byte mask (no vpsignb in AVX-512), scaled per block pair. yd: the
 * activations' pair scales already widened (q8_0_dot_rows), or NULL. */
INLINE float q8_0_row(const em_block_q8_0 *x, const em_block_q8_0 *y, int64_t nb, const __m512 *yd) {
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m512i wq = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)x[i].qs)),
                                        _mm256_loadu_si256((const __m256i *)x[i + 1].qs), 1);
        __m512i xq = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)y[i].qs)),
                                        _mm256_loadu_si256((const __m256i *)y[i + 1].qs), 1);
        __mmask64 neg = _mm512_movepi8_mask(wq);
        xq = _mm512_mask_sub_epi8(xq, neg, _mm512_setzero_si512(), xq);
        __m512i t = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_abs_epi8(wq), xq);
        __m512 d = _mm512_mul_ps(scales2_f16(x[i].d, x[i + 1].d), yd ? yd[i / 2] : scales2_f16(y[i].d, y[i + 1].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), d, acc);
    }
    float s = _mm512_reduce_add_ps(acc);
    for (; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < 32; j++) sumi += x[i].qs[j] * y[i].qs[j];
        s += sumi * (_cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d));
    }
    return s;
}

static float q8_0_dot(int64_t n, const void *a, const void *b) { return q8_0_row(a, b, n / 32, NULL); }

/* q8_0_dot over rows (cpu_vec_dot_rows_fn): row after row, as q8_0_dot
 * steps through them (one stream the prefetcher follows), with what
 * depends only on the activations done once a call: each pair of blocks'
 * scales widened to a vector (the same values, so the same bits). */
static void q8_0_dot_rows(int64_t n, const void *rows, size_t stride, int64_t nrows, const void *b, float *out) {
    const em_block_q8_0 *y = b;
    const int64_t nb = n / 32;
    __m512 yd[64];
    const int keep = nb / 2 <= 64; /* else one row at a time */
    for (int64_t i = 0; keep && i + 2 <= nb; i += 2) yd[i / 2] = scales2_f16(y[i].d, y[i + 1].d);
    for (int64_t r = 0; r < nrows; r++) {
        const em_block_q8_0 *x = (const em_block_q8_0 *)((const char *)rows + (size_t)r * stride);
        out[r] = keep ? q8_0_row(x, y, nb, yd) : q8_0_row(x, y, nb, NULL);
    }
}

/* The decode dots of the nibble types, Q4_0 and IQ4_NL (18-byte blocks: a
 * scale, 16 bytes of nibbles): two blocks a register. vpdpbusd multiplies
 * unsigned weights, Q4_0's raw nibble (q + 8) or IQ4_NL's level + 128
 * (1..241, looked up by vpshufb), and each lane's sum starts at minus the
 * bias (8 or 128) times its 4 activations' sum. What depends only on the
 * activations (a pair's 64 bytes side by side, that bias, the two scales)
 * is made once a call of nib_dot_rows for all its rows (up to NIB_PREP
 * pairs; longer rows make it per row, as the single-row dots do).
 *
 * The float steps are each type's before: Q4_0's a 16-lane accumulator
 * summed by _mm512_reduce_add_ps; IQ4_NL's llama.cpp's x86 steps
 * (cpu_quant_32_x86.h: the even blocks in one 8-lane accumulator, the odd
 * in another, here the two halves of one, so each lane sees the same
 * products and fused adds, and the halves' sum the same tree), so its bits
 * are the AVX2 dot's. The integers are exact either way. */
#define NIB_PREP 128 /* pairs: rows up to 8,192 values, 24 KB of stack */

struct nib_act {
    __m512i q;    /* blocks i, i+1's 64 bytes */
    __m512i bias; /* each lane's sum starts at -bias * (its 4 bytes' sum) */
    __m512 d;     /* lanes 0-7 block i's scale, 8-15 block i+1's */
};

INLINE struct nib_act nib_act_pair(int iq4, const em_block_q8_0 *y) {
    struct nib_act a;
    a.q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)y[0].qs)),
                             _mm256_loadu_si256((const __m256i *)y[1].qs), 1);
    const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), a.q);
    a.bias = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(s, iq4 ? 7 : 3));
    a.d = scales2_f16(y[0].d, y[1].d);
    return a;
}

/* Blocks i, i+1's nibbles in value order, unsigned (IQ4_NL: looked up in
 * table): each block's 16 bytes twice, the second copy a nibble down. */
INLINE __m512i nib_pair(int iq4, const em_block_q4_0 *x, __m512i table) {
    const __m256i v = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)x[1].qs), _mm_loadu_si128((const __m128i *)x[0].qs));
    const __m512i w = _mm512_permutexvar_epi64(_mm512_set_epi64(3, 2, 3, 2, 1, 0, 1, 0), _mm512_castsi256_si512(v));
    const __m512i nib = _mm512_and_si512(_mm512_srlv_epi64(w, _mm512_set_epi64(4, 4, 0, 0, 4, 4, 0, 0)),
                                         _mm512_set1_epi8(0x0F));
    return iq4 ? _mm512_shuffle_epi8(table, nib) : nib;
}

/* One row; x: Q4_0 or IQ4_NL blocks (the same layout), pre: the prepared
 * activations or NULL. */
INLINE float nib_row(int iq4, const em_block_q4_0 *x, const em_block_q8_0 *y, int64_t nb, const struct nib_act *pre) {
    const __m512i table = _mm512_broadcast_i32x4(
        _mm_add_epi8(_mm_loadu_si128((const __m128i *)cpu_iq4nl_values), _mm_set1_epi8((char)0x80)));
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const struct nib_act a = pre ? pre[i / 2] : nib_act_pair(iq4, y + i);
        const __m512i p = _mm512_dpbusd_epi32(a.bias, nib_pair(iq4, x + i, table), a.q);
        acc = _mm512_fmadd_ps(_mm512_mul_ps(scales2_f16(x[i].d, x[i + 1].d), a.d), _mm512_cvtepi32_ps(p), acc);
    }
    if (iq4) {
        const float s = q32_hsum8(_mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1)));
        return i < nb ? q32_iq4nl_block((const em_block_iq4_nl *)&x[i], &y[i], s) : s;
    }
    float s = _mm512_reduce_add_ps(acc);
    for (; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j] + ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + 16];
        s += sumi * (_cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d));
    }
    return s;
}

/* cpu_vec_dot_rows_fn: the rows one after another, as the dot steps
 * through them, the activations prepared once. */
INLINE void nib_dot_rows(int iq4, int64_t n, const void *rows, size_t stride, int64_t nrows, const void *b, float *out) {
    const int64_t nb = n / 32;
    struct nib_act pre[NIB_PREP];
    const int keep = nb / 2 <= NIB_PREP;
    for (int64_t i = 0; keep && i + 2 <= nb; i += 2) pre[i / 2] = nib_act_pair(iq4, (const em_block_q8_0 *)b + i);
    for (int64_t r = 0; r < nrows; r++) {
        const em_block_q4_0 *x = (const em_block_q4_0 *)((const char *)rows + (size_t)r * stride);
        out[r] = nib_row(iq4, x, b, nb, keep ? pre : NULL);
    }
}

static float q4_0_dot(int64_t n, const void *a, const void *b) { return nib_row(0, a, b, n / 32, NULL); }
static float iq4_nl_dot(int64_t n, const void *a, const void *b) { return nib_row(1, a, b, n / 32, NULL); }
static void q4_0_dot_rows(int64_t n, const void *rows, size_t stride, int64_t nrows, const void *b, float *out) {
    nib_dot_rows(0, n, rows, stride, nrows, b, out);
}
static void iq4_nl_dot_rows(int64_t n, const void *rows, size_t stride, int64_t nrows, const void *b, float *out) {
    nib_dot_rows(1, n, rows, stride, nrows, b, out);
}

/* Sum of 16 lanes as a halving tree: l_i + l_(i+8), then + the element 4
 * on, then ((q0+q2) + (q1+q3)); the order of GCC's _mm512_reduce_add_ps,
 * which llama.cpp's (GCC-built) AVX-512 kernels use, written out so another
 * compiler cannot change it. */
static inline float hsum16(__m512 v) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
}

/* 16 values as floats, lanes past m zero; f16: a constant where inlined */
INLINE __m512 load16(int f16, const void *p, int64_t i, __mmask16 m) {
    return f16 ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i))
               : _mm512_maskz_loadu_ps(m, (const float *)p + i);
}

/* ggml's vec_dot for F32 and F16 on AVX-512: 4 accumulators of 16 lanes over
 * steps of 64 values, reduced as acc0 + acc2, acc1 + acc3, their sum, then
 * hsum16; the n % 64 values left over are added one by one (double for F16,
 * float for F32). */
INLINE float dot4x16(int f16, int64_t np, const void *x, const void *y) {
    __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            s[j] = _mm512_fmadd_ps(load16(f16, x, i + 16 * j, 0xffff), load16(f16, y, i + 16 * j, 0xffff), s[j]);
    return hsum16(_mm512_add_ps(_mm512_add_ps(s[0], s[2]), _mm512_add_ps(s[1], s[3])));
}

/* Activations to F16 before each F16 product (and the KV cache's stores):
 * 16 at a time, vcvtps2ph rounding to nearest even as em_fp32_to_fp16; the
 * tail masked. */
static void f16_from_float16(const float *src, void *dst, int64_t n) {
    em_fp16 *h = dst;
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(h + i, m,
                                 _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT));
    }
}

static float f32_dot16(int64_t n, const void *a, const void *b) {
    const float *x = a, *y = b;
    const int64_t np = n & ~(int64_t)63;
    float s = dot4x16(0, np, x, y);
    for (int64_t i = np; i < n; i++) s = fmaf(x[i], y[i], s);
    return s;
}

static float f16_dot16(int64_t n, const void *a, const void *b) {
    const em_fp16 *x = a, *y = b;
    const int64_t np = n & ~(int64_t)63;
    double s = dot4x16(1, np, x, y);
    for (int64_t i = np; i < n; i++) s += (double)(_cvtsh_ss(x[i]) * _cvtsh_ss(y[i]));
    return (float)s;
}

/* vec_dot of x against many rows (cpu_vec_dot_rows_fn), 16 rows at a time:
 * each row's 4 accumulators are combined as dot4x16 does, and the 16 hsum16
 * trees are summed together by a transposed reduction: at each level a
 * shuffle pairs the halves hsum16 would add, for two vectors at once, so
 * every lane sees the same additions in the same tree (45 shuffles and adds
 * for 16 rows, where 16 separate trees and calls cost several times that).
 * The result lands with row 4a + b in lane 4b + a; one permute orders it.
 * The leftovers past n & ~63 are added per row as the dots add them.
 * PAIR_ADD is a macro, not a function, so the shuffles' selectors stay
 * immediates in an unoptimised (sanitizer) build. */
#define PAIR_ADD(a, b, lo, hi) _mm512_add_ps(_mm512_shuffle_f32x4((a), (b), (lo)), _mm512_shuffle_f32x4((a), (b), (hi)))

/* out[i] = hsum16(v[i]) for i < 16, bit for bit, in one transposed reduction. */
INLINE void hsum16x16(const __m512 *v, float *out) {
    const __m512i order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    __m512 w[8], u[4], y[2];
    for (int i = 0; i < 8; i++) w[i] = PAIR_ADD(v[2 * i], v[2 * i + 1], 0x44, 0xEE); /* 256-bit halves */
    for (int i = 0; i < 4; i++) u[i] = PAIR_ADD(w[2 * i], w[2 * i + 1], 0x88, 0xDD); /* 128-bit halves */
    for (int i = 0; i < 2; i++) /* 64-bit halves */
        y[i] = _mm512_add_ps(
            _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(u[2 * i]), _mm512_castps_pd(u[2 * i + 1]))),
            _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(u[2 * i]), _mm512_castps_pd(u[2 * i + 1]))));
    const __m512 z = _mm512_add_ps(_mm512_shuffle_ps(y[0], y[1], 0x88), _mm512_shuffle_ps(y[0], y[1], 0xDD));
    _mm512_storeu_ps(out, _mm512_permutexvar_ps(order, z));
}

INLINE void dot_rows(int f16, int64_t n, const void *rows, size_t stride, int64_t nrows, const void *x, float *out) {
    const int64_t np = n & ~(int64_t)63;
    int64_t t = 0;
    if (np > 0 && np <= 256) { /* x widened once; a query of up to 256 values */
        __m512 xv[16];
        for (int64_t i = 0; i < np; i += 16) xv[i / 16] = load16(f16, x, i, 0xffff);
        for (; t + 16 <= nrows; t += 16) {
            __m512 v[16];
            for (int r = 0; r < 16; r++) {
                const char *row = (const char *)rows + (size_t)(t + r) * stride;
                __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
                for (int64_t i = 0; i < np; i += 64)
                    for (int j = 0; j < 4; j++)
                        s[j] = _mm512_fmadd_ps(load16(f16, row, i + 16 * j, 0xffff), xv[i / 16 + j], s[j]);
                v[r] = _mm512_add_ps(_mm512_add_ps(s[0], s[2]), _mm512_add_ps(s[1], s[3]));
            }
            float hs[16];
            hsum16x16(v, hs);
            for (int r = 0; r < 16; r++)
                out[t + r] = cpu_dot_leftover(f16, hs[r], (const char *)rows + (size_t)(t + r) * stride, x, np, n);
        }
    }
    for (; t < nrows; t++)
        out[t] = f16 ? f16_dot16(n, (const char *)rows + (size_t)t * stride, x)
                     : f32_dot16(n, (const char *)rows + (size_t)t * stride, x);
}

static void f32_dot_rows(int64_t n, const void *rows, size_t stride, int64_t nrows, const void *x, float *out) {
    dot_rows(0, n, rows, stride, nrows, x, out);
}

static void f16_dot_rows(int64_t n, const void *rows, size_t stride, int64_t nrows, const void *x, float *out) {
    dot_rows(1, n, rows, stride, nrows, x, out);
}

/* F32 and F16 products over several activation rows (prefill, and a ViT's
 * 1024-row tiles): tinyBLAS's sums (one 16-lane accumulator per output,
 * k % 16 == 0, which gemm_k asks of every caller), in any tile shape. FRM
 * weight rows against NC <= 4 activation rows at a time: 24 accumulators,
 * 4 activation vectors and a weight vector of the 32 registers. Each step
 * widens 6 + 4 vectors for 24 FMAs, where row-by-row dots widen 2 per FMA;
 * that, not the arithmetic, is what bounds the vec_dot loop. NC is a
 * constant after inlining, so a single activation row (the attention's
 * scores of one query) costs only its own products. The loops are unrolled
 * by pragma: gcc's own limit stops short of 6 x 4, and then keeps the
 * accumulators in memory (4 x 4 fits its limit; 6 x 4 unrolled is 8-15%
 * faster on one core, F16, n = 128..512, Zen 4-class AVX-512). */
#define FRM 6
#define FG 4 /* tiles of FRM rows a call may take (gemm_group) */

/* y[c * ldy + r] = hsum16(acc[r][c]) for r < nr, c < NC: the NC * FRM sums
 * reduced 16 at a time by hsum16x16 (the same bits, a third of the
 * shuffles and adds of separate trees), each activation row's nr sums
 * stored by one masked store (a loop of nr floats became a memcpy call,
 * with a vzeroupper, per row: 2% of an F16 prefill). */
INLINE void gemm_store(int NC, __m512 acc[FRM][4], float *y, int64_t ldy, int nr) {
    __m512 v[32];
    float hs[48] = {0}; /* 32 sums, and room for the last row's 16-float load */
    const int n = NC * FRM;
#pragma GCC unroll 8
    for (int c = 0; c < NC; c++)
#pragma GCC unroll 8
        for (int r = 0; r < FRM; r++) v[c * FRM + r] = acc[r][c];
    for (int i = n; i < (n + 15) / 16 * 16; i++) v[i] = _mm512_setzero_ps();
    hsum16x16(v, hs);
    if (n > 16) hsum16x16(v + 16, hs + 16);
    const __mmask16 m = (__mmask16)((1u << nr) - 1);
    for (int c = 0; c < NC; c++) _mm512_mask_storeu_ps(y + c * ldy, m, _mm512_loadu_ps(hs + c * FRM));
}
INLINE void gemm_block(int f16, int NC, int64_t k, const char *const *wr, const char *const *xr, float *y,
                       int64_t ldy, int nr) {
    __m512 acc[FRM][4];
#pragma GCC unroll 8
    for (int r = 0; r < FRM; r++)
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) acc[r][c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < k; i += 16) {
        __m512 xv[4];
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) xv[c] = load16(f16, xr[c], i, 0xffff);
#pragma GCC unroll 8
        for (int r = 0; r < FRM; r++) {
            const __m512 wv = load16(f16, wr[r], i, 0xffff);
#pragma GCC unroll 8
            for (int c = 0; c < NC; c++) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    gemm_store(NC, acc, y, ldy, nr);
}

/* The walk over the activation rows, 4 at a time, that gemm_tile and
 * gemm_bf16_dp share: BLOCK(NC, GR) runs the tile on NC rows against GR
 * weight rows (a macro, so that each caller keeps its own instruction set:
 * vdpbf16ps needs its own). A call takes up to FG tiles of FRM weight rows
 * (gemm_group), and each group of 4 activation rows meets them all while it
 * is in L1: the activations stream from L2 a quarter as often (n = 512, one
 * thread, 3 alternating runs: F16 95-96 -> 97 GFLOP/s, BF16 187-192 ->
 * 200-204). Each output sums as before. */
#define GEMM_WALK(BLOCK)                                                                                  \
    const int ng = (nr + FRM - 1) / FRM;                                                                  \
    const char *wrg[FG][FRM];                                                                             \
    for (int g = 0; g < ng; g++)                                                                          \
        for (int r = 0; r < FRM; r++)                                                                     \
            wrg[g][r] = (const char *)w + (size_t)(g * FRM + (r < nr - g * FRM ? r : 0)) * w_stride;      \
    for (int64_t c0 = 0; c0 < nc; c0 += 4) {                                                              \
        const char *xr[4];                                                                                \
        for (int c = 0; c < 4; c++) xr[c] = (const char *)x + (size_t)(c0 + c < nc ? c0 + c : c0) * x_stride; \
        for (int g = 0; g < ng; g++) {                                                                    \
            const char *const *wr = wrg[g];                                                               \
            const int gr = nr - g * FRM < FRM ? nr - g * FRM : FRM;                                       \
            float *yc = y + c0 * ldy + g * FRM;                                                           \
            switch (nc - c0 < 4 ? nc - c0 : 4) {                                                          \
            case 1: BLOCK(1, gr); break;                                                                  \
            case 2: BLOCK(2, gr); break;                                                                  \
            case 3: BLOCK(3, gr); break;                                                                  \
            default: BLOCK(4, gr); break;                                                                 \
            }                                                                                             \
        }                                                                                                 \
    }

INLINE void gemm_tile(int f16, int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                      int64_t nc, float *y, int64_t ldy) {
#define FLOAT_BLOCK(NC, GR) gemm_block(f16, NC, k, wr, xr, yc, ldy, GR)
    GEMM_WALK(FLOAT_BLOCK)
#undef FLOAT_BLOCK
}

static void gemm_f32(int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int64_t nc,
                     float *y, int64_t ldy) {
    gemm_tile(0, k, w, w_stride, nr, x, x_stride, nc, y, ldy);
}

static void gemm_f16(int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int64_t nc,
                     float *y, int64_t ldy) {
    gemm_tile(1, k, w, w_stride, nr, x, x_stride, nc, y, ldy);
}

// ---- BF16 with AVX512_BF16 ---------------------------------------------------------

/* Where the CPU has AVX512_BF16, llama.cpp's AVX-512 builds that enable it
 * ("zen4", "cooperlake", "sapphirerapids") multiply BF16 by BF16 with
 * vdpbf16ps: each 32-bit lane adds the products of its two value pairs, the
 * odd one first, each a single-rounded fused step (inputs and results below
 * FLT_MIN as zeros), twice the values an FMA takes. Its dot (ggml_vec_dot_bf16)
 * runs two accumulators over steps of 64 and adds their hsum16s in double, the
 * n % 64 left over one by one as the AVX2 dot does; its tile (tinyBLAS for
 * bf16) one accumulator per output over steps of 32, hsum16 at the end. Both
 * are repeated here, so BF16 models agree with such builds bit for bit. These
 * functions take the instruction set by attribute; cpu_kernels.c enters them
 * only where the CPU reports it (cpu_kernels_init_avx512_bf16). */
#define BF16_TARGET __attribute__((target("avx512bf16")))

BF16_TARGET static float bf16_dot_dp(int64_t n, const void *a, const void *b) {
    const em_bf16 *x = a, *y = b;
    const int64_t np = n & ~(int64_t)63;
    __m512 c1 = _mm512_setzero_ps(), c2 = _mm512_setzero_ps();
    for (int64_t i = 0; i < np; i += 64) {
        c1 = _mm512_dpbf16_ps(c1, (__m512bh)_mm512_loadu_si512(x + i), (__m512bh)_mm512_loadu_si512(y + i));
        c2 = _mm512_dpbf16_ps(c2, (__m512bh)_mm512_loadu_si512(x + i + 32), (__m512bh)_mm512_loadu_si512(y + i + 32));
    }
    double s = hsum16(c1);
    s += hsum16(c2);
    for (int64_t i = np; i < n; i++) s += (double)(em_bf16_to_fp32(x[i]) * em_bf16_to_fp32(y[i]));
    return (float)s;
}

/* The tile of gemm_block's shape (FRM weight rows x NC <= 4 activation
 * rows), 32 values a step: k % 32 == 0 (gemm_k). */
BF16_TARGET INLINE void gemm_block_bf16(int NC, int64_t k, const char *const *wr, const char *const *xr, float *y,
                                        int64_t ldy, int nr) {
    __m512 acc[FRM][4];
#pragma GCC unroll 8
    for (int r = 0; r < FRM; r++)
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) acc[r][c] = _mm512_setzero_ps();
    for (int64_t i = 0; i < k; i += 32) {
        __m512bh xv[4];
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) xv[c] = (__m512bh)_mm512_loadu_si512((const em_bf16 *)xr[c] + i);
#pragma GCC unroll 8
        for (int r = 0; r < FRM; r++) {
            const __m512bh wv = (__m512bh)_mm512_loadu_si512((const em_bf16 *)wr[r] + i);
#pragma GCC unroll 8
            for (int c = 0; c < NC; c++) acc[r][c] = _mm512_dpbf16_ps(acc[r][c], wv, xv[c]);
        }
    }
    gemm_store(NC, acc, y, ldy, nr);
}

BF16_TARGET static void gemm_bf16_dp(int64_t k, const void *w, size_t w_stride, int nr, const void *x,
                                     size_t x_stride, int64_t nc, float *y, int64_t ldy) {
#define BF16_BLOCK(NC, GR) gemm_block_bf16(NC, k, wr, xr, yc, ldy, GR)
    GEMM_WALK(BF16_BLOCK)
#undef BF16_BLOCK
}

// ---- exp, softmax, SiLU ------------------------------------------------------------

/* e^x in 16 lanes, in the form ggml's AVX-512 builds use: the method of
 * cpu_kernels_avx2.c's exp8, but 1 + b c1 is formed inside the polynomial
 * and 2^n applied with vscalefps, so a few results differ from exp8's in the
 * last bit. |n| > 192 gives 0 or inf. */
static inline __m512 exp16(__m512 x) {
    const __m512 shift = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), shift);
    const __m512 n = _mm512_sub_ps(z, shift);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __mmask16 out = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192.0f), _CMP_GT_OQ);
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    const __m512 r = _mm512_scalef_ps(j, n);
    if (!out) return r;
    const __m512 sat = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ),
                                            _mm512_set1_ps(INFINITY), _mm512_setzero_ps());
    return _mm512_mask_blend_ps(out, r, sat);
}

static double softmax_exp16(int64_t n, float *y, const float *x, float max) {
    double sum = 0.0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), _mm512_set1_ps(max)));
        _mm512_storeu_ps(y + i, e);
        sum += hsum16(e);
    }
    for (; i < n; i++) {
        y[i] = expf(x[i] - max);
        sum += y[i];
    }
    return sum;
}

/* As the AVX2 one: a read-only max pass, then one FMA and the exp per
 * value into 2 sum accumulators; tails masked (masked-off lanes add 0). */
static float softmax_row16(int64_t n, float *x, float scale) {
    __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        m0 = _mm512_max_ps(m0, _mm512_loadu_ps(x + i));
        m1 = _mm512_max_ps(m1, _mm512_loadu_ps(x + i + 16));
    }
    for (; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        m0 = _mm512_mask_max_ps(m0, k, _mm512_maskz_loadu_ps(k, x + i), m0);
    }
    const float m = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1)), nb = -(scale * m);
    const __m512 sv = _mm512_set1_ps(scale), bv = _mm512_set1_ps(nb);
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    for (i = 0; i + 32 <= n; i += 32) {
        const __m512 e0 = exp16(_mm512_fmadd_ps(_mm512_loadu_ps(x + i), sv, bv));
        const __m512 e1 = exp16(_mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), sv, bv));
        _mm512_storeu_ps(x + i, e0);
        _mm512_storeu_ps(x + i + 16, e1);
        s0 = _mm512_add_ps(s0, e0);
        s1 = _mm512_add_ps(s1, e1);
    }
    for (; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 e = exp16(_mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, x + i), sv, bv));
        _mm512_mask_storeu_ps(x + i, k, e);
        s0 = _mm512_mask_add_ps(s0, k, s0, e);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

/* max(x, m) keeps m where x is NaN, as the reference's x > m does; the
 * tail is masked (its lanes stay -inf). */
static float scale_max16(int64_t n, float *x, float scale) {
    const __m512 sv = _mm512_set1_ps(scale);
    __m512 mv = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sv);
        _mm512_mask_storeu_ps(x + i, m, v);
        mv = _mm512_mask_max_ps(mv, m, v, mv);
    }
    return _mm512_reduce_max_ps(mv);
}

static void swiglu16(int64_t n, float *y, const float *g, const float *u) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 x = _mm512_loadu_ps(g + i);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), x));
        const __m512 silu = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
        _mm512_storeu_ps(y + i, _mm512_mul_ps(silu, _mm512_loadu_ps(u + i)));
    }
    for (; i < n; i++) y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* GELU as in cpu_kernels_avx2.c, with exp16 */
static void gelu16(int64_t n, float *y, const float *x) {
    const float c2 = 2.0f * 0.7978845608028654f;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        const __m512 v3 = _mm512_mul_ps(_mm512_mul_ps(v, v), v);
        const __m512 z = _mm512_mul_ps(_mm512_set1_ps(-c2), _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), v3, v));
        _mm512_storeu_ps(y + i, _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), exp16(z))));
    }
    for (; i < n; i++) y[i] = x[i] / (1.0f + expf(-c2 * (x[i] + 0.044715f * x[i] * x[i] * x[i])));
}

/* p . V in vec_dot's lanes (64 slots: t in slot t % 64, = accumulator
 * (t / 16) % 4, lane t % 16) or the tile's (16 slots); cf. the AVX2 one. */
static void attn_pv16(int64_t n, const void *v, size_t v_stride, enum em_type vt, const void *p, int ncols,
                      float *out, float *work, int tiled) {
    const int S = tiled ? 16 : 64, f16 = vt == EM_TYPE_F16;
    /* a short row count fills only the first n slots; one zero row stands
     * for the rest. The slots below used are stored whole below, so need no
     * clearing (a 16 KB memset a head was 7% of a decode's attention). */
    const int used = n < S ? (int)n : S;
    if (used < S) memset(work + (size_t)used * (size_t)ncols, 0, (size_t)ncols * sizeof(float));
    const int d16 = ncols & ~15;
    const __mmask16 tail = (__mmask16)((1u << (ncols - d16)) - 1);
    /* Slot by slot: a slot's chain (rows t = s, s + S, ...) stays in
     * registers, 4 columns vectors at a time, instead of a load and a store
     * of the slot per row; the same FMAs in the same order. */
    for (int d = 0; d <= d16; d += 64) {
        __mmask16 m[4];
        for (int j = 0; j < 4; j++) {
            const int c = d + 16 * j;
            m[j] = c < d16 ? (__mmask16)0xffff : c == d16 ? tail : 0;
        }
        if (!m[0]) break;
        for (int sl = 0; sl < used; sl++) {
            __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
            for (int64_t t = sl; t < n; t += S) {
                const char *row = (const char *)v + (size_t)t * v_stride;
                const __m512 pv = _mm512_set1_ps(f16 ? _cvtsh_ss(((const em_fp16 *)p)[t]) : ((const float *)p)[t]);
                for (int j = 0; j < 4; j++) {
                    const int c = d + 16 * j;
                    const __m512 x = f16 ? _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m[j], (const em_fp16 *)row + c))
                                         : _mm512_maskz_loadu_ps(m[j], (const float *)row + c);
                    acc[j] = _mm512_fmadd_ps(x, pv, acc[j]);
                }
            }
            float *w = work + (size_t)sl * (size_t)ncols;
            for (int j = 0; j < 4; j++) _mm512_mask_storeu_ps(w + d + 16 * j, m[j], acc[j]);
        }
    }
    /* each column's own sums, 16 columns to a vector (masked at the end) */
    const float *L[64];
    for (int s = 0; s < S; s++) L[s] = work + (size_t)(s < used ? s : used) * (size_t)ncols;
    for (int d = 0; d <= d16; d += 16) {
        const __mmask16 m = d < d16 ? (__mmask16)0xffff : tail;
        if (!m) break;
        __m512 l[16], h[8];
        for (int i = 0; i < 16; i++) {
            l[i] = _mm512_maskz_loadu_ps(m, L[i] + d);
            if (!tiled)
                l[i] = _mm512_add_ps(_mm512_add_ps(l[i], _mm512_maskz_loadu_ps(m, L[32 + i] + d)),
                                     _mm512_add_ps(_mm512_maskz_loadu_ps(m, L[16 + i] + d),
                                                   _mm512_maskz_loadu_ps(m, L[48 + i] + d)));
        }
        for (int i = 0; i < 8; i++) h[i] = _mm512_add_ps(l[i], l[i + 8]);
        const __m512 q0 = _mm512_add_ps(h[0], h[4]), q1 = _mm512_add_ps(h[1], h[5]);
        const __m512 q2 = _mm512_add_ps(h[2], h[6]), q3 = _mm512_add_ps(h[3], h[7]);
        _mm512_mask_storeu_ps(out + d, m, _mm512_add_ps(_mm512_add_ps(q0, q2), _mm512_add_ps(q1, q3)));
    }
}

/* The F32 NN product (cpu_sgemm_fn): MR <= 6 rows of a by NV x 16 columns
 * of b in MR x NV accumulators, masked loads and stores at the right edge.
 * NV = 4 (64 columns, 24 accumulators) is the main tile: a step loads 4 b
 * vectors and broadcasts 6 a values for 24 FMAs, and a head of 64 (the
 * ViT's S V product) is one column panel, so its S rows and V are read
 * once per 6 rows. The loops are unrolled by pragma (gcc's own limit would
 * leave the accumulators in memory). Each output is one FMA chain over k in
 * order, whatever the tile: the bits are the reference's. */
INLINE void sgemm_tile(int MR, int NV, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                       int64_t ldc, const __mmask16 *m) {
    __m512 acc[6][4];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();
    for (int64_t p = 0; p < k; p++) {
        __m512 bv[4];
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) bv[v] = _mm512_maskz_loadu_ps(m[v], b + p * ldb + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            const __m512 av = _mm512_set1_ps(a[r * lda + p]);
#pragma GCC unroll 8
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
        for (int v = 0; v < NV; v++) _mm512_mask_storeu_ps(c + r * ldc + 16 * v, m[v], acc[r][v]);
}

#define SGEMM_ROWS(NV)                                                                                       \
    for (int64_t i = 0; i < m; i += 6) {                                                                     \
        const float *ai = a + i * lda;                                                                       \
        float *ci = c + i * ldc + j;                                                                         \
        switch (m - i < 6 ? m - i : 6) {                                                                     \
        case 1: sgemm_tile(1, NV, k, ai, lda, b + j, ldb, ci, ldc, mk); break;                               \
        case 2: sgemm_tile(2, NV, k, ai, lda, b + j, ldb, ci, ldc, mk); break;                               \
        case 3: sgemm_tile(3, NV, k, ai, lda, b + j, ldb, ci, ldc, mk); break;                               \
        case 4: sgemm_tile(4, NV, k, ai, lda, b + j, ldb, ci, ldc, mk); break;                               \
        case 5: sgemm_tile(5, NV, k, ai, lda, b + j, ldb, ci, ldc, mk); break;                               \
        default: sgemm_tile(6, NV, k, ai, lda, b + j, ldb, ci, ldc, mk); break;                              \
        }                                                                                                    \
    }

static void sgemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                  int64_t ldc) {
    for (int64_t j = 0; j < n; j += 64) {
        const int64_t w = n - j < 64 ? n - j : 64;
        __mmask16 mk[4];
        for (int v = 0; v < 4; v++) {
            const int64_t l = w - 16 * v;
            mk[v] = (__mmask16)(l >= 16 ? 0xffff : l > 0 ? (1u << l) - 1 : 0);
        }
        if (w > 48) {
            SGEMM_ROWS(4)
        } else if (w > 32) {
            SGEMM_ROWS(3)
        } else if (w > 16) {
            SGEMM_ROWS(2)
        } else {
            SGEMM_ROWS(1)
        }
    }
}

/* The outer-product tile (gemm_fx, cpu_kernels.h) for F16 weights.
 *
 * The tile: up to FXM activation rows x 32 weight rows in 2 x FXM
 * accumulators. A step over p widens two vectors of 16 weights (value p of
 * the 32 rows) and multiplies each by the rows' broadcast activations
 * (floats, cpu_matmul's F16-rounded copy): 2 widenings and FXM broadcast
 * loads for 2 x FXM FMAs, against the dot-shaped tile's 10 widenings for
 * 24, and no horizontal sums. Each output is one chain over p, so the bits
 * are cpu_gemm_fx_ref's.
 *
 * The weights must be turned on their side for that: value p of the 32
 * rows side by side. fx_transpose does 8 columns at a time in registers,
 * four 8 x 8 transposes of 16-bit values side by side in the 128-bit lanes
 * of 512-bit vectors (24 unpacks for 256 values), each row prefetched
 * FX_AHEAD bytes ahead.
 * - A call of more than FXM activation rows copies the transposed columns
 *   into a panel on its stack, FX_KB columns at a time, and runs its tiles
 *   over the panel (the copy: under 2% of the products at n = 512).
 * - A call of at most FXM rows is one tile: it multiplies the 8 columns as
 *   the transpose leaves them, with no panel, so a short prompt streams its
 *   weights once and its FMAs overlap that stream (a panel copied and then
 *   read once cost 2-4 token prompts 10-30% against the dot-shaped tile).
 * Rows past nr repeat row nr - 1: their lanes are computed, never stored.
 *
 * Measured on Zen 5 (bench_matmul, F16, SmolLM2-135M's and the ViT's
 * shapes): one thread 192-205 GFLOP/s against the dot-shaped tile's
 * 181-190; `ember bench` pp512 on two threads +5-14% (bench/README, which
 * also lists what was tried and not kept). */
#define FXR 32
#define FXM 12
/* Columns a panel holds (64 KB of stack); longer rows are done a block at
 * a time, each block's sums carried in y (a float stored and loaded is the
 * same float, so the chains are unbroken). */
#define FX_KB 1024
#define FX_AHEAD 256 /* bytes; 512 and 1024 were slower */

/* The 32 row pointers of a call: rows past nr repeat row nr - 1. */
INLINE void fx_rows(const void *w, size_t w_stride, int nr, const uint16_t *row[FXR]) {
    for (int i = 0; i < FXR; i++) row[i] = (const uint16_t *)((const char *)w + (size_t)(i < nr ? i : nr - 1) * w_stride);
}

INLINE void fx_prefetch(const uint16_t *const *row, int64_t p) {
    if ((p & 31) == 0)
        for (int i = 0; i < FXR; i++) _mm_prefetch((const char *)(row[i] + p) + FX_AHEAD, _MM_HINT_T0);
}

/* Columns [p, p + 8) of the 32 rows as 8 vectors, column c's 32 values
 * (rows in order) in out[c]. Vector j holds rows j, 8 + j, 16 + j and
 * 24 + j, one per 128-bit lane, and three rounds of unpacks (each within
 * its lane) make every lane an 8 x 8 transpose: lane L of out[c] is column
 * c of rows 8L..8L+7. */
INLINE void fx_transpose(const uint16_t *const *row, int64_t p, __m512i out[8]) {
    __m512i a[8], t[8], u[8];
    for (int j = 0; j < 8; j++) {
        __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(row[j] + p)));
        z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(row[8 + j] + p)), 1);
        z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(row[16 + j] + p)), 2);
        a[j] = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(row[24 + j] + p)), 3);
    }
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm512_unpacklo_epi16(a[2 * i], a[2 * i + 1]);     /* rows 2i, 2i+1: columns 0-3 */
        t[2 * i + 1] = _mm512_unpackhi_epi16(a[2 * i], a[2 * i + 1]); /* columns 4-7 */
    }
    for (int h = 0; h < 2; h++)       /* h: columns 0-3 or 4-7 */
        for (int q = 0; q < 2; q++) { /* q: rows 0-3 or 4-7 */
            u[4 * h + 2 * q] = _mm512_unpacklo_epi32(t[4 * q + h], t[4 * q + 2 + h]);
            u[4 * h + 2 * q + 1] = _mm512_unpackhi_epi32(t[4 * q + h], t[4 * q + 2 + h]);
        }
    /* u[4h + 2q + j]: columns 4h + 2j and 4h + 2j + 1 of rows 4q..4q+3 */
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 2; j++) {
            out[4 * h + 2 * j] = _mm512_unpacklo_epi64(u[4 * h + j], u[4 * h + 2 + j]);
            out[4 * h + 2 * j + 1] = _mm512_unpackhi_epi64(u[4 * h + j], u[4 * h + 2 + j]);
        }
}

/* Column p of the 32 rows, a value at a time: only the k % 8 columns
 * after the last whole 8 take this way. */
INLINE void fx_column(const uint16_t *const *row, int64_t p, uint16_t col[FXR]) {
    for (int i = 0; i < FXR; i++) col[i] = row[i][p];
}

/* One step of the tile: rows r < MR of x at column p times the 32 weights
 * w (16-bit; the panel's are read as two halves, with no extraction). */
INLINE void fx_step(int MR, __m256i lo, __m256i hi, const float *x, size_t xs, int64_t p, __m512 acc[FXM][2]) {
    const __m512 w0 = _mm512_cvtph_ps(lo), w1 = _mm512_cvtph_ps(hi);
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
        const __m512 a = _mm512_set1_ps(x[r * xs + p]);
        acc[r][0] = _mm512_fmadd_ps(a, w0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(a, w1, acc[r][1]);
    }
}

INLINE void fx_store(int MR, float *y, int64_t ldy, __mmask16 m0, __mmask16 m1, __m512 acc[FXM][2]) {
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
        _mm512_mask_storeu_ps(y + r * ldy, m0, acc[r][0]);
        _mm512_mask_storeu_ps(y + r * ldy + 16, m1, acc[r][1]);
    }
}

/* Columns [p0, p0 + kl) of the 32 rows into panel. */
static void fx_pack(const uint16_t *const *row, int64_t p0, int64_t kl, uint16_t *panel) {
    int64_t p = 0;
    for (; p + 8 <= kl; p += 8) {
        fx_prefetch(row, p0 + p);
        __m512i o[8];
        fx_transpose(row, p0 + p, o);
        for (int c = 0; c < 8; c++) _mm512_store_si512((__m512i *)(panel + (p + c) * FXR), o[c]);
    }
    for (; p < kl; p++) fx_column(row, p0 + p, panel + p * FXR);
}

/* MR <= FXM activation rows over the panel's kl columns; the sums start at
 * 0 (first) or from y. */
INLINE void fx_tile(int MR, int first, int64_t kl, const uint16_t *panel, const float *x, size_t xs, float *y,
                    int64_t ldy, __mmask16 m0, __mmask16 m1) {
    __m512 acc[FXM][2];
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
        acc[r][0] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y + r * ldy);
        acc[r][1] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + r * ldy + 16);
    }
    for (int64_t p = 0; p < kl; p++) {
        const __m256i *wp = (const __m256i *)(panel + p * FXR);
        fx_step(MR, _mm256_load_si256(wp), _mm256_load_si256(wp + 1), x, xs, p, acc);
    }
    fx_store(MR, y, ldy, m0, m1, acc);
}

/* MR <= FXM activation rows over all k columns, the transposed weights
 * taken from registers. */
INLINE void fx_whole(int MR, int64_t k, const uint16_t *const *row, const float *x, size_t xs, float *y,
                     int64_t ldy, __mmask16 m0, __mmask16 m1) {
    __m512 acc[FXM][2];
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 8 <= k; p += 8) {
        fx_prefetch(row, p);
        __m512i o[8];
        fx_transpose(row, p, o);
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++)
            fx_step(MR, _mm512_castsi512_si256(o[c]), _mm512_extracti64x4_epi64(o[c], 1), x, xs, p + c, acc);
    }
    for (; p < k; p++) {
        alignas(64) uint16_t col[FXR];
        fx_column(row, p, col);
        fx_step(MR, _mm256_load_si256((const __m256i *)col), _mm256_load_si256((const __m256i *)(col + 16)), x, xs,
                p, acc);
    }
    fx_store(MR, y, ldy, m0, m1, acc);
}

/* CALL(MR) for MR = rows (1..FXM), a constant in each case so that the
 * tile's loops unroll to registers. */
#define FX_BY_ROWS(rows, CALL)                                                                               \
    switch (rows) {                                                                                          \
    case 1: CALL(1); break;                                                                                  \
    case 2: CALL(2); break;                                                                                  \
    case 3: CALL(3); break;                                                                                  \
    case 4: CALL(4); break;                                                                                  \
    case 5: CALL(5); break;                                                                                  \
    case 6: CALL(6); break;                                                                                  \
    case 7: CALL(7); break;                                                                                  \
    case 8: CALL(8); break;                                                                                  \
    case 9: CALL(9); break;                                                                                  \
    case 10: CALL(10); break;                                                                                \
    case 11: CALL(11); break;                                                                                \
    default: CALL(12); break;                                                                                \
    }

static void gemm_fx_f16(int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride,
                        int64_t nc, float *y, int64_t ldy) {
    const size_t xs = x_stride / sizeof(float);
    const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
    const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xffff : nr > 16 ? (1u << (nr - 16)) - 1 : 0);
    const uint16_t *row[FXR];
    fx_rows(w, w_stride, nr, row);
    if (nc <= FXM) {
#define FX_WHOLE_CALL(MR) fx_whole(MR, k, row, x, xs, y, ldy, m0, m1)
        FX_BY_ROWS(nc, FX_WHOLE_CALL)
#undef FX_WHOLE_CALL
        return;
    }
    alignas(64) uint16_t panel[FX_KB * FXR];
    for (int64_t p0 = 0; p0 < k; p0 += FX_KB) {
        const int64_t kl = k - p0 < FX_KB ? k - p0 : FX_KB;
        const int first = p0 == 0;
        fx_pack(row, p0, kl, panel);
        for (int64_t c = 0; c < nc; c += FXM) {
            const float *xc = (const float *)x + c * xs + p0;
            float *yc = y + c * ldy;
#define FX_TILE_CALL(MR) fx_tile(MR, first, kl, panel, xc, xs, yc, ldy, m0, m1)
            FX_BY_ROWS(nc - c, FX_TILE_CALL)
#undef FX_TILE_CALL
        }
    }
}
#undef FX_BY_ROWS

void cpu_kernels_init_avx512(cpu_kernels *k) {
    k->vec_dot[EM_TYPE_Q8_0] = q8_0_dot;
    k->vec_dot[EM_TYPE_Q4_0] = q4_0_dot;
    k->isa = "avx512";
    k->from_float[EM_TYPE_F16] = f16_from_float16;
    k->gemm[EM_TYPE_Q8_0] = gemm_q8_0;
    k->gemm[EM_TYPE_Q4_0] = gemm_q4_0;
    k->gemm[EM_TYPE_Q5_0] = gemm_q5_0;
    k->gemm[EM_TYPE_Q4_1] = gemm_q4_1;
    k->gemm[EM_TYPE_Q5_1] = gemm_q5_1;
    k->gemm[EM_TYPE_IQ4_NL] = gemm_iq4_nl;
    static const enum em_type its[] = {EM_TYPE_Q8_0, EM_TYPE_Q4_0, EM_TYPE_Q5_0, EM_TYPE_Q4_1, EM_TYPE_Q5_1, EM_TYPE_IQ4_NL};
    for (size_t i = 0; i < sizeof its / sizeof its[0]; i++) {
        k->gemm_rows[its[i]] = IR;
        k->gemm_group[its[i]] = 0;
        k->panel16_n[its[i]] = 0; /* VNNI's byte products: the int8 panel (AVX2's signed tile takes int16) */
    }
    cpu_kernels_init_kquants_avx512(k);
    cpu_quant_32_init_avx512(k);
    k->vec_dot[EM_TYPE_IQ4_NL] = iq4_nl_dot;
    k->vec_dot_rows[EM_TYPE_Q4_0] = q4_0_dot_rows;
    k->vec_dot_rows[EM_TYPE_IQ4_NL] = iq4_nl_dot_rows;
    k->vec_dot[EM_TYPE_F32] = f32_dot16;
    k->vec_dot[EM_TYPE_F16] = f16_dot16;
    k->vec_dot_rows[EM_TYPE_F32] = f32_dot_rows;
    k->vec_dot_rows[EM_TYPE_F16] = f16_dot_rows;
    k->vec_dot_rows[EM_TYPE_Q8_0] = q8_0_dot_rows;
    k->gemm[EM_TYPE_F32] = gemm_f32;
    k->gemm[EM_TYPE_F16] = gemm_f16;
    k->gemm_rows[EM_TYPE_F32] = k->gemm_rows[EM_TYPE_F16] = FRM;
    k->gemm_group[EM_TYPE_F32] = k->gemm_group[EM_TYPE_F16] = FG;
    k->gemm_k[EM_TYPE_F32] = k->gemm_k[EM_TYPE_F16] = 16;
    k->gemm_m[EM_TYPE_F32] = k->gemm_m[EM_TYPE_F16] = 4;
    k->gemm_fx[EM_TYPE_F16] = gemm_fx_f16;
    k->gemm_fx_rows[EM_TYPE_F16] = FXR;
    k->softmax_exp = softmax_exp16;
    k->scale_max = scale_max16;
    k->softmax_row = softmax_row16;
    k->softmax_chunk = 16;
    k->swiglu = swiglu16;
    k->gelu = gelu16;
    k->attn_pv = attn_pv16;
    k->pv_work = 64;
    k->sgemm = sgemm;
}

/* Overlays cpu_kernels_init_avx512's table (the caller checks the CPU). The
 * activations' rounding stays em_fp32_to_bf16's: llama.cpp's AVX512_BF16
 * builds round them with vcvtne2ps2bf16, which gives the same bits but for
 * subnormals (flushed), and vdpbf16ps reads a subnormal as zero either way. */
void cpu_kernels_init_avx512_bf16(cpu_kernels *k) {
    k->isa = "avx512-bf16";
    k->vec_dot[EM_TYPE_BF16] = bf16_dot_dp;
    k->vec_dot_rows[EM_TYPE_BF16] = NULL;
    k->gemm[EM_TYPE_BF16] = gemm_bf16_dp;
    k->gemm_rows[EM_TYPE_BF16] = FRM;
    k->gemm_group[EM_TYPE_BF16] = FG;
    k->gemm_k[EM_TYPE_BF16] = 32;
    k->gemm_m[EM_TYPE_BF16] = 4;
}
