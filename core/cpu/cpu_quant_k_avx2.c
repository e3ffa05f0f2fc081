/* cpu_quant_k_avx2.c - the K-quants' dot products and prefill tile with
 * AVX2 (compiled with -mavx2 -mfma -mf16c -ffp-contract=off, x86-64 only;
 * the AVX-512 variant keeps them).
 *
 * One scheme for all five types: a block's 256 values are first unpacked to
 * unsigned bytes u (Q6_K: q + 32, Q3_K: q + 4, the others as stored), then
 * multiplied with the activations 32 at a time (vpmaddubsw: unsigned x
 * signed bytes, pairs summed to int16, never saturating as u <= 63) and
 * scaled per 16 values (vpmaddwd with the sub-block scales), all in int32.
 * The biases and the mins come off through the activations' 16-value sums
 * (bsums): sum sc * (u - bias) * q8 = sum sc * u * q8 - bias * sum sc * bsum.
 * The integer part is exact; each block then adds one float step to the
 * running sum (kq_step), so the result differs from the reference's 8-lane
 * float sums only by rounding (tests/test_kernels.c holds it within 1e-5 of
 * the magnitude). llama.cpp's own x86 kernels sum in yet other orders
 * (repacked Q4_K/Q2_K tiles, per-type AVX2 lanes): like Ember's Q4_0, these
 * agree with it within rounding, not bit for bit.
 *
 * The prefill tile (gemm) computes the same integers another way and takes
 * the same float steps in the same order, so it gives each output the dot's
 * bits: a prompt and the decode steps after it see one product. No fused
 * multiply-add is left to the compiler (-ffp-contract=off): where one is
 * meant, it is written. */
#include "cpu_quant_k_x86.h"

/* The decode dots are fused: the values go from the block to the products
 * in registers, not through kq_blk (a decode step of a Q4_K_M model was
 * ~20% slower that way, of a Q3_K one ~2.5x). The same integers and
 * kq_step, so the same bits as the tiles (kq_unpack's integers, summed in
 * another grouping: int32 sums are exact). */

/* The products of step k (values 32k..32k+31, sub-blocks 2k and 2k + 1 of
 * 16) scaled: half holds the 8 scales of the step's 128-value half as int16
 * in both 128-bit lanes; a byte shuffle picks scale 2k' into lanes 0-7 and
 * 2k' + 1 into lanes 8-15 (k' = k % 4). */
static inline __m256i kq_scaled_step(__m256i p, __m256i half, int k) {
    const char b0 = (char)(4 * (k % 4)), b1 = (char)(4 * (k % 4) + 2);
    const __m256i pick = _mm256_setr_epi8(b0, b0 + 1, b0, b0 + 1, b0, b0 + 1, b0, b0 + 1, b0, b0 + 1, b0, b0 + 1, b0,
                                          b0 + 1, b0, b0 + 1, b1, b1 + 1, b1, b1 + 1, b1, b1 + 1, b1, b1 + 1, b1, b1 + 1,
                                          b1, b1 + 1, b1, b1 + 1, b1, b1 + 1);
    return _mm256_madd_epi16(p, _mm256_shuffle_epi8(half, pick));
}

/* The int32 lanes of a Q2_K or Q3_K block: values 128 h + 32 s + l are bits
 * 2s.. of qs[32 h + l], and for Q3_K (hm not NULL) a third bit, bit 4 h + s
 * of hmask[l]; halves as for kq_scaled_step. */
static inline __attribute__((always_inline)) __m256i kq_2bit_sums(const uint8_t *qs, const __m256i *hm,
                                                                  const __m256i halves[2], const int8_t *yq) {
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    __m256i acc = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
        for (int s = 0; s < 4; s++) {
            __m256i u = _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), m3);
            if (hm) u = _mm256_or_si256(u, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(*hm, 4 * h + s), one), 2));
            const __m256i p = _mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)(yq + 128 * h + 32 * s)));
            acc = _mm256_add_epi32(acc, kq_scaled_step(p, halves[h], s));
        }
    }
    return acc;
}

static float q3_K_dot(int64_t n, const void *a, const void *b) {
    const em_block_q3_K *x = a;
    const em_block_q8_K *y = b;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        const __m256i sc16 = kq_q3_scales16(&x[i]);
        const __m256i halves[2] = {_mm256_permute2x128_si256(sc16, sc16, 0x00), _mm256_permute2x128_si256(sc16, sc16, 0x11)};
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        const __m256i acc = kq_2bit_sums(x[i].qs, &hm, halves, y[i].qs);
        sumf = kq_step_single(sumf, KQ_FP16(x[i].d) * y[i].d, acc, y[i].bsums, _mm256_slli_epi16(sc16, 2));
    }
    return sumf;
}
static float q4_K_dot(int64_t n, const void *a, const void *b) {
    const em_block_q4_K *x = a;
    const em_block_q8_K *y = b;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        uint32_t sm[4]; /* the scales' bytes, then the mins' */
        cpu_kq_scales_mins(x[i].scales, sm);
        const __m128i mv = _mm_setr_epi32((int)sm[2], (int)sm[3], 0, 0);
        __m256i acc = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) { /* bytes 32c..: sub-block 2c in the low nibbles, 2c + 1 in the high */
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            const __m256i plo = _mm256_maddubs_epi16(_mm256_and_si256(q, m4), _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c)));
            const __m256i phi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                                     _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c + 32)));
            const uint32_t sw = sm[c / 2] >> (16 * (c % 2)); /* scales 2c, 2c + 1 */
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(plo, _mm256_set1_epi16((short)(sw & 0xFF))));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(phi, _mm256_set1_epi16((short)((sw >> 8) & 0xFF))));
        }
        const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mv, mv));
        sumf = kq_step_dmin(sumf, &x[i].d, y[i].d, acc, y[i].bsums, mn16);
    }
    return sumf;
}

static float q2_K_dot(int64_t n, const void *a, const void *b) {
    const em_block_q2_K *x = a;
    const em_block_q8_K *y = b;
    const __m128i m4 = _mm_set1_epi8(0x0F);
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        /* 16 bytes: scale of sub-block g in the low nibble, its min in the high */
        const __m128i sm = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(sm, m4));
        const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), m4));
        const __m256i halves[2] = {_mm256_permute2x128_si256(sc16, sc16, 0x00), _mm256_permute2x128_si256(sc16, sc16, 0x11)};
        const __m256i acc = kq_2bit_sums(x[i].qs, NULL, halves, y[i].qs);
        sumf = kq_step_dmin(sumf, &x[i].d, y[i].d, acc, y[i].bsums, mn16);
    }
    return sumf;
}

/* Q4_K's dot with each value's fifth bit from qh: bit 2c of qh[l] for
 * value 64c + l, bit 2c + 1 for 64c + 32 + l. */
static float q5_K_dot(int64_t n, const void *a, const void *b) {
    const em_block_q5_K *x = a;
    const em_block_q8_K *y = b;
    const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        uint32_t sm[4]; /* the scales' bytes, then the mins' */
        cpu_kq_scales_mins(x[i].scales, sm);
        const __m128i mv = _mm_setr_epi32((int)sm[2], (int)sm[3], 0, 0);
        const __m256i hv = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m256i acc = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            /* the fifth bit moved to 0x10: qh << 4 - 2c, and qh << 3 - 2c (or >> for c >= 2) */
            const __m256i h0 = c < 2 ? _mm256_slli_epi16(hv, 4 - 2 * c) : _mm256_srli_epi16(hv, 2 * c - 4);
            const __m256i h1 = c < 2 ? _mm256_slli_epi16(hv, 3 - 2 * c) : _mm256_srli_epi16(hv, 2 * c - 3);
            const __m256i ulo = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_and_si256(h0, b4));
            const __m256i uhi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), _mm256_and_si256(h1, b4));
            const __m256i plo = _mm256_maddubs_epi16(ulo, _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c)));
            const __m256i phi = _mm256_maddubs_epi16(uhi, _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * c + 32)));
            const uint32_t sw = sm[c / 2] >> (16 * (c % 2)); /* scales 2c, 2c + 1 */
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(plo, _mm256_set1_epi16((short)(sw & 0xFF))));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(phi, _mm256_set1_epi16((short)((sw >> 8) & 0xFF))));
        }
        const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mv, mv));
        sumf = kq_step_dmin(sumf, &x[i].d, y[i].d, acc, y[i].bsums, mn16);
    }
    return sumf;
}

static float q6_K_dot(int64_t n, const void *a, const void *b) {
    const em_block_q6_K *x = a;
    const em_block_q8_K *y = b;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3);
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        /* the 16 scales as int16, each 128-value half's 8 in both lanes */
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        const __m256i sc_lo = _mm256_permute2x128_si256(sc16, sc16, 0x00), sc_hi = _mm256_permute2x128_si256(sc16, sc16, 0x11);
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            const __m256i sch = h ? sc_hi : sc_lo;
            for (int c = 0; c < 4; c++) {
                /* values 128 h + 32 c + l: nibble (c / 2) of ql[l + 32 (c % 2)], bits 2c.. of qh[l] */
                const __m256i l = c % 2 ? l1 : l0;
                const __m256i lo = _mm256_and_si256(c / 2 ? _mm256_srli_epi16(l, 4) : l, m4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), m3);
                const __m256i u = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
                const __m256i p = _mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * c)));
                acc = _mm256_add_epi32(acc, kq_scaled_step(p, sch, c));
            }
        }
        sumf = kq_step_single(sumf, KQ_FP16(x[i].d) * y[i].d, acc, y[i].bsums, _mm256_slli_epi16(sc16, 5));
    }
    return sumf;
}

/* The tile's few-column case: each output a dot, so that it too gives
 * the dot's bits. */
static float kq_dot(int T, int64_t n, const void *a, const void *b) {
    switch (T) {
    case EM_TYPE_Q2_K: return q2_K_dot(n, a, b);
    case EM_TYPE_Q3_K: return q3_K_dot(n, a, b);
    case EM_TYPE_Q4_K: return q4_K_dot(n, a, b);
    case EM_TYPE_Q5_K: return q5_K_dot(n, a, b);
    default: return q6_K_dot(n, a, b);
    }
}

// ---- prefill tile (n > 1) ---------------------------------------------------------

/* KR weight rows unpacked once per call, KKB blocks at a time, and
 * interleaved as the Q4_0 tile of cpu_kernels_avx2.c does: a vector holds 4
 * consecutive bytes of each of 8 rows, so the products against one
 * broadcast activation word advance 8 rows, each lane a row's own sum. The
 * pair sums add up in int16 over a sub-block's 4 words (Q6_K: 2; Q5_K's
 * 4 * 2 * 31 * 127 = 31,496 is the largest that fits), are scaled to int32
 * once per sub-block with the rows' scales (vpmaddwd), and the bsums term is
 * 8 more vpmaddwd a block. Each lane then takes kq_step's float step, the
 * block's unpacking and scale decoding paid once per KR rows instead of once
 * per output. */
#define KR 16  /* weight rows per call: two 8-lane vectors */
#define KKB 2  /* blocks per packed chunk (~11 KB) */
#define KRN 2  /* activation rows per register tile */
#define KMIN 2 /* one activation row: one dot an output; from 2 rows the tile is faster */

typedef struct kpack {
    alignas(32) uint8_t u[KKB][64][KR][4];  /* word j (values 4j..4j+3) of each row */
    alignas(32) int16_t sc[KKB][16][KR][2]; /* sub-block g's scale, twice */
    alignas(32) int16_t cm[KKB][8][KR][2];  /* cm[2h], cm[2h + 1] */
    alignas(32) float d[KKB][KR], dmin[KKB][KR];
} kpack;

static inline __attribute__((always_inline)) void ktile(int T, int NC, const kpack *p, int nbk, int64_t b0,
                                                        const char *const *xr, float *y, int64_t ldy, int nr,
                                                        int first) {
    const int steps = T == EM_TYPE_Q6_K ? 2 : 4; /* words per int16 sum */
    __m256 f[KRN][2];
    for (int c = 0; c < NC; c++) {
        if (first) {
            f[c][0] = f[c][1] = _mm256_setzero_ps();
        } else { /* the running sums of the chunks before */
            float t[KR] = {0};
            memcpy(t, y + c * ldy, (size_t)(nr < KR ? nr : KR) * sizeof(float));
            f[c][0] = _mm256_loadu_ps(t);
            f[c][1] = _mm256_loadu_ps(t + 8);
        }
    }
    for (int b = 0; b < nbk; b++) {
        const em_block_q8_K *xb[KRN];
        for (int c = 0; c < NC; c++) xb[c] = (const em_block_q8_K *)xr[c] + b0 + b;
        __m256i acc[KRN][2];
        for (int c = 0; c < NC; c++) acc[c][0] = acc[c][1] = _mm256_setzero_si256();
        for (int g = 0; g < 16; g++) {
            const __m256i s0 = _mm256_load_si256((const __m256i *)p->sc[b][g][0]);
            const __m256i s1 = _mm256_load_si256((const __m256i *)p->sc[b][g][8]);
            for (int s0w = 0; s0w < 4; s0w += steps) {
                __m256i a[KRN][2];
                for (int c = 0; c < NC; c++) a[c][0] = a[c][1] = _mm256_setzero_si256();
                for (int s = s0w; s < s0w + steps; s++) {
                    const int j = 4 * g + s;
                    const __m256i w0 = _mm256_load_si256((const __m256i *)p->u[b][j][0]);
                    const __m256i w1 = _mm256_load_si256((const __m256i *)p->u[b][j][8]);
                    for (int c = 0; c < NC; c++) {
                        const __m256i xv = _mm256_set1_epi32(kq_word(xb[c]->qs + 4 * j));
                        a[c][0] = _mm256_add_epi16(a[c][0], _mm256_maddubs_epi16(w0, xv));
                        a[c][1] = _mm256_add_epi16(a[c][1], _mm256_maddubs_epi16(w1, xv));
                        /* keeps gcc from summing the words as a tree with every
                         * product spilled (see the Q4_0 tile) */
                        __asm__("" : "+x"(a[c][0]), "+x"(a[c][1]));
                    }
                }
                for (int c = 0; c < NC; c++) {
                    acc[c][0] = _mm256_add_epi32(acc[c][0], _mm256_madd_epi16(a[c][0], s0));
                    acc[c][1] = _mm256_add_epi32(acc[c][1], _mm256_madd_epi16(a[c][1], s1));
                }
            }
        }
        for (int c = 0; c < NC; c++) {
            __m256i m0 = _mm256_setzero_si256(), m1 = m0;
            for (int h = 0; h < 8; h++) {
                const __m256i bs = _mm256_set1_epi32(kq_word(xb[c]->bsums + 2 * h));
                m0 = _mm256_add_epi32(m0, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)p->cm[b][h][0]), bs));
                m1 = _mm256_add_epi32(m1, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)p->cm[b][h][8]), bs));
            }
            const __m256 yd = _mm256_set1_ps(xb[c]->d);
            const __m256 d0 = _mm256_mul_ps(_mm256_load_ps(p->d[b]), yd);
            const __m256 d1 = _mm256_mul_ps(_mm256_load_ps(p->d[b] + 8), yd);
            if (KQ_SINGLE(T)) {
                f[c][0] = _mm256_add_ps(f[c][0], _mm256_mul_ps(d0, _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[c][0], m0))));
                f[c][1] = _mm256_add_ps(f[c][1], _mm256_mul_ps(d1, _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[c][1], m1))));
            } else {
                const __m256 dm0 = _mm256_mul_ps(_mm256_load_ps(p->dmin[b]), yd);
                const __m256 dm1 = _mm256_mul_ps(_mm256_load_ps(p->dmin[b] + 8), yd);
                f[c][0] = _mm256_add_ps(f[c][0], _mm256_fmsub_ps(d0, _mm256_cvtepi32_ps(acc[c][0]),
                                                                 _mm256_mul_ps(dm0, _mm256_cvtepi32_ps(m0))));
                f[c][1] = _mm256_add_ps(f[c][1], _mm256_fmsub_ps(d1, _mm256_cvtepi32_ps(acc[c][1]),
                                                                 _mm256_mul_ps(dm1, _mm256_cvtepi32_ps(m1))));
            }
        }
    }
    for (int c = 0; c < NC; c++) {
        float t[KR];
        _mm256_storeu_ps(t, f[c][0]);
        _mm256_storeu_ps(t + 8, f[c][1]);
        memcpy(y + c * ldy, t, (size_t)(nr < KR ? nr : KR) * sizeof(float));
    }
}

static inline __attribute__((always_inline)) void gemm_kq(int T, int64_t k, const void *w, size_t w_stride, int nr,
                                                          const void *x, size_t x_stride, int64_t nc, float *y,
                                                          int64_t ldy) {
    if (nc < KMIN) {
        for (int64_t c = 0; c < nc; c++)
            for (int r = 0; r < nr; r++)
                y[c * ldy + r] = kq_dot(T, k, (const char *)w + (size_t)r * w_stride, (const char *)x + c * x_stride);
        return;
    }
    const int64_t nb = k / QK;
    kpack p;
    for (int64_t b0 = 0; b0 < nb; b0 += KKB) {
        const int nbk = (int)(nb - b0 < KKB ? nb - b0 : KKB);
        kq_interleave(T, KR, &p.u[0][0][0][0], &p.sc[0][0][0][0], &p.cm[0][0][0][0], &p.d[0][0], &p.dmin[0][0], w, w_stride,
                      nr, b0, nbk);
        for (int64_t c0 = 0; c0 < nc; c0 += KRN) {
            const char *xr[KRN];
            for (int c = 0; c < KRN; c++) xr[c] = (const char *)x + (size_t)(c0 + c < nc ? c0 + c : c0) * x_stride;
            if (nc - c0 >= 2) ktile(T, 2, &p, nbk, b0, xr, y + c0 * ldy, ldy, nr, b0 == 0);
            else ktile(T, 1, &p, nbk, b0, xr, y + c0 * ldy, ldy, nr, b0 == 0);
        }
    }
}

#define KQ_GEMM(name, T)                                                                                          \
    static void name(int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int64_t nc, \
                     float *y, int64_t ldy) {                                                                     \
        gemm_kq(T, k, w, w_stride, nr, x, x_stride, nc, y, ldy);                                                  \
    }
KQ_GEMM(gemm_q2_K, EM_TYPE_Q2_K)
KQ_GEMM(gemm_q3_K, EM_TYPE_Q3_K)
KQ_GEMM(gemm_q4_K, EM_TYPE_Q4_K)
KQ_GEMM(gemm_q5_K, EM_TYPE_Q5_K)
KQ_GEMM(gemm_q6_K, EM_TYPE_Q6_K)

// ---- activations -------------------------------------------------------------------

/* cpu_quantize_row_q8_K in vectors, the same bits: the first value of the
 * largest magnitude (with its sign) sets iscale = -127 / max; each product
 * iscale * x rounds to nearest even (vcvtps2dq; the reference's magic-number
 * add does the same for |v| < 2^22, and makes a NaN 0, as where an
 * infinity makes iscale 0) and saturates to 127 in the packs, as the
 * reference's min(v, 127); the 16-value sums are exact. A
 * K-quant prefill quantizes each activation row once per matrix group, and
 * in plain C that cost ~30% as much as the products. */
static void q8_K_from_float(const float *src, void *dst, int64_t n) {
    em_block_q8_K *y = dst;
    const __m256 signmask = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / QK; i++, src += QK) {
        __m256 am = _mm256_setzero_ps();
        for (int j = 0; j < QK; j += 8) /* a NaN is skipped, as the reference's ax > a skips it */
            am = _mm256_max_ps(_mm256_andnot_ps(signmask, _mm256_loadu_ps(src + j)), am);
        const float amax = q32_hmax8(am);
        if (!(amax > 0.0f)) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float max = 0.0f;
        for (int j = 0; j < QK; j += 8) { /* the first lane at amax */
            const __m256 v = _mm256_loadu_ps(src + j);
            const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(signmask, v), _mm256_set1_ps(amax), _CMP_EQ_OQ));
            if (hit) {
                max = src[j + __builtin_ctz((unsigned)hit)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 is = _mm256_set1_ps(iscale);
        __m128i sums[4];
        for (int j = 0; j < QK; j += 64) { /* 4 sub-blocks of 16 */
            __m256i q[8];
            for (int l = 0; l < 8; l++) { /* a NaN's product to 0, the reference's rounding of it */
                const __m256 p = _mm256_mul_ps(is, _mm256_loadu_ps(src + j + 8 * l));
                q[l] = _mm256_cvtps_epi32(_mm256_and_ps(p, _mm256_cmp_ps(p, p, _CMP_ORD_Q)));
            }
            for (int h = 0; h < 2; h++) _mm256_storeu_si256((__m256i *)(y[i].qs + j + 32 * h), q32_act_bytes(q + 4 * h));
            /* the 4 sub-blocks' sums, from the stored (saturated) bytes */
            __m256i s[4];
            for (int l = 0; l < 4; l++) {
                const __m128i b = _mm_loadu_si128((const __m128i *)(y[i].qs + j + 16 * l));
                s[l] = _mm256_add_epi32(_mm256_cvtepi8_epi32(b), _mm256_cvtepi8_epi32(_mm_srli_si128(b, 8)));
            }
            const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
            sums[j / 64] = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        }
        _mm_storeu_si128((__m128i *)y[i].bsums, _mm_packs_epi32(sums[0], sums[1]));
        _mm_storeu_si128((__m128i *)(y[i].bsums + 8), _mm_packs_epi32(sums[2], sums[3]));
        y[i].d = 1 / iscale;
    }
}

void cpu_kernels_init_kquants_avx2(cpu_kernels *k) {
    k->from_float[EM_TYPE_Q8_K] = q8_K_from_float;
    k->vec_dot[EM_TYPE_Q2_K] = q2_K_dot;
    k->vec_dot[EM_TYPE_Q3_K] = q3_K_dot;
    k->vec_dot[EM_TYPE_Q4_K] = q4_K_dot;
    k->vec_dot[EM_TYPE_Q5_K] = q5_K_dot;
    k->vec_dot[EM_TYPE_Q6_K] = q6_K_dot;
    k->gemm[EM_TYPE_Q2_K] = gemm_q2_K;
    k->gemm[EM_TYPE_Q3_K] = gemm_q3_K;
    k->gemm[EM_TYPE_Q4_K] = gemm_q4_K;
    k->gemm[EM_TYPE_Q5_K] = gemm_q5_K;
    k->gemm[EM_TYPE_Q6_K] = gemm_q6_K;
    /* bit-identical to the dots, so any shape may take the tile */
    for (int t = EM_TYPE_Q2_K; t <= EM_TYPE_Q6_K; t++) {
        k->gemm_rows[t] = KR;
        k->gemm_k[t] = QK;
        k->gemm_m[t] = 1;
    }
}
