/* cpu_quant_k_avx512.c - the K-quants' prefill tile and decode dots with
 * AVX-512 (BW and VNNI), compiled with the AVX-512 flags and
 * -ffp-contract=off.
 *
 * The tile is cpu_quant_k_avx2.c's pack at twice the width: a vector holds
 * 4 bytes of each of 16 rows, KR = 32 rows a call, and up to 4 activation
 * rows a register tile (the 32 registers hold it). Each lane is a row.
 * For Q2_K, Q3_K and Q4_K (values below 16) vpdpbusd sums a row's 4
 * products of a word into its int32 and runs on over a sub-block's 4
 * words, and vpdpwssd multiplies that sum's low half by the row's scale
 * (the pack's scale pair with the high word cleared) into the block's sum:
 * a word costs one instruction where vpmaddubsw and an int16 add took two.
 * Q5_K and Q6_K keep vpmaddubsw's int16 pair sums over 4 and 2 words, which
 * need fewer multiplies than scaling their int32 sums 2 and 4 times a
 * sub-block would; vpdpwssd scales them. The dots (below) lay the values
 * out along the vector instead, where
 * vpdpbusd's sums can be packed to int16 and scaled 8 sub-blocks at a
 * time. Both give the AVX2 dots' integers and kq_step's float steps: the
 * same bits (see cpu_quant_k_x86.h). */
#include "cpu_quant_k_x86.h"

#define KR 32  /* weight rows per call: two 16-lane vectors */
#define KKB 2  /* blocks per packed chunk (~22 KB) */
#define KRN 4  /* activation rows per register tile */
#define KMIN 2 /* one activation row: one dot an output; from 2 rows the tile is faster */

typedef struct kpack {
    alignas(64) uint8_t u[KKB][64][KR][4];
    alignas(64) int16_t sc[KKB][16][KR][2];
    alignas(64) int16_t cm[KKB][8][KR][2];
    alignas(64) float d[KKB][KR], dmin[KKB][KR];
} kpack;

static inline __attribute__((always_inline)) void ktile(int T, int NC, const kpack *p, int nbk, int64_t b0,
                                                        const char *const *xr, float *y, int64_t ldy, int nr,
                                                        int first) {
    /* u < 16 (Q2_K, Q3_K, Q4_K): a sub-block's 4 words summed by vpdpbusd
     * stay within int16 (15 * 128 * 16 = 30,720), so one vpdpwssd scales
     * the low half of each int32. Q5_K's and Q6_K's would need 2 and 4 such
     * scalings a sub-block, more multiplies than vpmaddubsw's int16 pair
     * sums, added over 4 and 2 words and scaled once. */
    const int vnni = T != EM_TYPE_Q5_K && T != EM_TYPE_Q6_K;
    const int steps = T == EM_TYPE_Q6_K ? 2 : 4; /* words a scaling */
    const __m512i lo16 = _mm512_set1_epi32(0xFFFF);
    const __mmask16 k0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    const __mmask16 k1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    __m512 f[KRN][2];
    for (int c = 0; c < NC; c++) {
        if (first) {
            f[c][0] = f[c][1] = _mm512_setzero_ps();
        } else { /* the running sums of the chunks before */
            f[c][0] = _mm512_maskz_loadu_ps(k0, y + c * ldy);
            f[c][1] = _mm512_maskz_loadu_ps(k1, y + c * ldy + 16);
        }
    }
    for (int b = 0; b < nbk; b++) {
        const em_block_q8_K *xb[KRN];
        for (int c = 0; c < NC; c++) xb[c] = (const em_block_q8_K *)xr[c] + b0 + b;
        __m512i acc[KRN][2];
        for (int c = 0; c < NC; c++) acc[c][0] = acc[c][1] = _mm512_setzero_si512();
        for (int g = 0; g < 16; g++) {
            /* the pack's (scale, scale) word pairs; for the int32 sums,
             * (scale, 0): vpdpwssd then multiplies their low half only */
            __m512i s0 = _mm512_load_si512(p->sc[b][g][0]), s1 = _mm512_load_si512(p->sc[b][g][16]);
            if (vnni) s0 = _mm512_and_si512(s0, lo16), s1 = _mm512_and_si512(s1, lo16);
            for (int s0w = 0; s0w < 4; s0w += steps) {
                __m512i a[KRN][2];
                for (int c = 0; c < NC; c++) a[c][0] = a[c][1] = _mm512_setzero_si512();
                for (int s = s0w; s < s0w + steps; s++) {
                    const int j = 4 * g + s;
                    const __m512i w0 = _mm512_load_si512(p->u[b][j][0]);
                    const __m512i w1 = _mm512_load_si512(p->u[b][j][16]);
                    for (int c = 0; c < NC; c++) {
                        const __m512i xv = _mm512_set1_epi32(kq_word(xb[c]->qs + 4 * j));
                        if (vnni) {
                            a[c][0] = _mm512_dpbusd_epi32(a[c][0], w0, xv);
                            a[c][1] = _mm512_dpbusd_epi32(a[c][1], w1, xv);
                        } else {
                            a[c][0] = _mm512_add_epi16(a[c][0], _mm512_maddubs_epi16(w0, xv));
                            a[c][1] = _mm512_add_epi16(a[c][1], _mm512_maddubs_epi16(w1, xv));
                            /* keeps gcc from summing the words as a tree */
                            __asm__("" : "+v"(a[c][0]), "+v"(a[c][1]));
                        }
                    }
                }
                for (int c = 0; c < NC; c++) {
                    acc[c][0] = _mm512_dpwssd_epi32(acc[c][0], a[c][0], s0);
                    acc[c][1] = _mm512_dpwssd_epi32(acc[c][1], a[c][1], s1);
                }
            }
        }
        for (int c = 0; c < NC; c++) {
            __m512i m0 = _mm512_setzero_si512(), m1 = m0;
            for (int h = 0; h < 8; h++) {
                const __m512i bs = _mm512_set1_epi32(kq_word(xb[c]->bsums + 2 * h));
                m0 = _mm512_dpwssd_epi32(m0, _mm512_load_si512(p->cm[b][h][0]), bs);
                m1 = _mm512_dpwssd_epi32(m1, _mm512_load_si512(p->cm[b][h][16]), bs);
            }
            const __m512 yd = _mm512_set1_ps(xb[c]->d);
            const __m512 d0 = _mm512_mul_ps(_mm512_load_ps(p->d[b]), yd);
            const __m512 d1 = _mm512_mul_ps(_mm512_load_ps(p->d[b] + 16), yd);
            if (KQ_SINGLE(T)) {
                f[c][0] = _mm512_add_ps(f[c][0], _mm512_mul_ps(d0, _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[c][0], m0))));
                f[c][1] = _mm512_add_ps(f[c][1], _mm512_mul_ps(d1, _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[c][1], m1))));
            } else {
                const __m512 dm0 = _mm512_mul_ps(_mm512_load_ps(p->dmin[b]), yd);
                const __m512 dm1 = _mm512_mul_ps(_mm512_load_ps(p->dmin[b] + 16), yd);
                f[c][0] = _mm512_add_ps(f[c][0], _mm512_fmsub_ps(d0, _mm512_cvtepi32_ps(acc[c][0]),
                                                                 _mm512_mul_ps(dm0, _mm512_cvtepi32_ps(m0))));
                f[c][1] = _mm512_add_ps(f[c][1], _mm512_fmsub_ps(d1, _mm512_cvtepi32_ps(acc[c][1]),
                                                                 _mm512_mul_ps(dm1, _mm512_cvtepi32_ps(m1))));
            }
        }
    }
    for (int c = 0; c < NC; c++) {
        _mm512_mask_storeu_ps(y + c * ldy, k0, f[c][0]);
        _mm512_mask_storeu_ps(y + c * ldy + 16, k1, f[c][1]);
    }
}

/* The decode dots with VNNI. A Q2_K block is 84 bytes for 256 values, a
 * third of Q8_0's bytes a value, so its decode is bound by instructions,
 * not by the read: the AVX2 dot spends ~75 a block, ~50 of them on 8 steps
 * of 32 values (shift, mask, vpmaddubsw, a scale shuffle, vpmaddwd, add).
 * Here a step is 64 values (kq_vnni_sums):
 * vpdpbusd sums them 4 values to an int32, vpackssdw packs two steps to
 * int16 (exactly: u < 64, so |a sum| <= 4 * 63 * 128 < 32768), and one
 * vpdpwssd scales the 8 sub-blocks of two steps; the unpacking takes 64
 * values at once too (the quants broadcast to both 256-bit halves and
 * shifted by half, vpsrlvw). ~35 instructions a block. The integers are the
 * AVX2 dots', the float step kq_step's: the same bits, so the tiles still
 * give the dot's (test_kernels holds the two variants' dots to each other). */

/* sum over the 16 sub-blocks g of sc[g] * sum(u * y over g's 16 values), in
 * 8 int32 lanes; u[k]: values 64k..64k+63 as unsigned bytes below 64, sc16
 * the 16 scales as int16. Lane L (of 4, 128 bits each) of step k's vpdpbusd
 * sums holds values 64k + 16L..+15, sub-block 4k + L, so vpermw gives each
 * lane its scales: packs(p0, p1) has sub-blocks L and 4 + L in lane L. */
#define KQ_W2(g) ((g) | (g) << 16)
static inline __m256i kq_vnni_sums(const __m512i u[4], const int8_t *yq, __m256i sc16) {
    const __m512i pick01 = _mm512_setr_epi32(KQ_W2(0), KQ_W2(0), KQ_W2(4), KQ_W2(4), KQ_W2(1), KQ_W2(1), KQ_W2(5), KQ_W2(5),
                                             KQ_W2(2), KQ_W2(2), KQ_W2(6), KQ_W2(6), KQ_W2(3), KQ_W2(3), KQ_W2(7), KQ_W2(7));
    const __m512i pick23 = _mm512_add_epi16(pick01, _mm512_set1_epi16(8));
    const __m512i z = _mm512_setzero_si512(), sc = _mm512_castsi256_si512(sc16);
    __m512i p[4];
    for (int k = 0; k < 4; k++) p[k] = _mm512_dpbusd_epi32(z, u[k], _mm512_loadu_si512(yq + 64 * k));
    __m512i acc = _mm512_dpwssd_epi32(z, _mm512_packs_epi32(p[0], p[1]), _mm512_permutexvar_epi16(pick01, sc));
    acc = _mm512_dpwssd_epi32(acc, _mm512_packs_epi32(p[2], p[3]), _mm512_permutexvar_epi16(pick23, sc));
    return _mm256_add_epi32(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1));
}

/* 32 bytes in both halves of a vector, the low half shifted right by a and
 * the high by b (left by -a and -b where negative; a and b of one sign),
 * by 16-bit word (vpsrlvw, vpsllvw): two 32-value steps from one load. The
 * callers keep bits that come from within their own byte. */
static inline __m512i kq_bcast_shift(const uint8_t *p, int a, int b) {
    const __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
    if (a < 0) return _mm512_sllv_epi16(q, _mm512_inserti64x4(_mm512_set1_epi16((short)-a), _mm256_set1_epi16((short)-b), 1));
    return _mm512_srlv_epi16(q, _mm512_inserti64x4(_mm512_set1_epi16((short)a), _mm256_set1_epi16((short)b), 1));
}

/* Q2_K and Q3_K: values 128h + 32s + l are bits 2s.. of qs[32h + l]; Q3_K
 * adds bit 4h + s of hmask[l] as 4. */
static inline __attribute__((always_inline)) void kq_2bit_u(const uint8_t *qs, const uint8_t *hmask, __m512i u[4]) {
    const __m512i m3 = _mm512_set1_epi8(3), b2 = _mm512_set1_epi8(4);
    for (int k = 0; k < 4; k++) { /* h = k / 2, s = 2 (k % 2) and that + 1 */
        const int h = k / 2, s = 2 * (k % 2);
        u[k] = _mm512_and_si512(kq_bcast_shift(qs + 32 * h, 2 * s, 2 * s + 2), m3);
        if (hmask) { /* bits c and c + 1 to bit 2 */
            const int c = 4 * h + s;
            u[k] = _mm512_or_si512(u[k], _mm512_and_si512(kq_bcast_shift(hmask, c - 2, c - 1), b2));
        }
    }
}

static float q2_K_dot_vnni(int64_t n, const void *a, const void *b) {
    const em_block_q2_K *x = a;
    const em_block_q8_K *y = b;
    const __m128i m4 = _mm_set1_epi8(0x0F);
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        const __m128i sm = _mm_loadu_si128((const __m128i *)x[i].scales); /* scale low nibble, min high */
        __m512i u[4];
        kq_2bit_u(x[i].qs, NULL, u);
        const __m256i acc = kq_vnni_sums(u, y[i].qs, _mm256_cvtepu8_epi16(_mm_and_si128(sm, m4)));
        sumf = kq_step_dmin(sumf, &x[i].d, y[i].d, acc, y[i].bsums,
                            _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), m4)));
    }
    return sumf;
}

static float q3_K_dot_vnni(int64_t n, const void *a, const void *b) {
    const em_block_q3_K *x = a;
    const em_block_q8_K *y = b;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        const __m256i sc16 = kq_q3_scales16(&x[i]);
        __m512i u[4];
        kq_2bit_u(x[i].qs, x[i].hmask, u);
        sumf = kq_step_single(sumf, KQ_FP16(x[i].d) * y[i].d, kq_vnni_sums(u, y[i].qs, sc16), y[i].bsums,
                              _mm256_slli_epi16(sc16, 2));
    }
    return sumf;
}

/* Q4_K and Q5_K: values 64c..64c+31 are the low nibbles of qs[32c..], the
 * next 32 the high ones, each 32 under one scale and min (so each scale
 * twice among the 16); Q5_K adds bit 2c of qh[l] as 16 to value 64c + l,
 * bit 2c + 1 to value 64c + 32 + l. */
static inline __attribute__((always_inline)) float kq_45_dot_vnni(int T, int64_t n, const void *a, const void *b) {
    const em_block_q8_K *y = b;
    const __m512i m4 = _mm512_set1_epi8(0x0F), b4 = _mm512_set1_epi8(0x10);
    const size_t bs = T == EM_TYPE_Q4_K ? sizeof(em_block_q4_K) : sizeof(em_block_q5_K);
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        const char *blk = (const char *)a + (size_t)i * bs;
        const em_block_q4_K *x4 = (const em_block_q4_K *)blk;
        const em_block_q5_K *x5 = (const em_block_q5_K *)blk;
        const __m128i sm = kq_scales_mins16(T == EM_TYPE_Q4_K ? x4->scales : x5->scales); /* scales, then mins */
        const uint8_t *qs = T == EM_TYPE_Q4_K ? x4->qs : x5->qs;
        __m512i u[4];
        for (int k = 0; k < 4; k++) {
            u[k] = _mm512_and_si512(kq_bcast_shift(qs + 32 * k, 0, 4), m4);
            if (T == EM_TYPE_Q5_K) u[k] = _mm512_or_si512(u[k], _mm512_and_si512(kq_bcast_shift(x5->qh, 2 * k - 4, 2 * k - 3), b4));
        }
        const __m256i acc = kq_vnni_sums(u, y[i].qs, _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(sm, sm)));
        sumf = kq_step_dmin(sumf, T == EM_TYPE_Q4_K ? &x4->d : &x5->d, y[i].d, acc, y[i].bsums,
                            _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm)));
    }
    return sumf;
}
static float q4_K_dot_vnni(int64_t n, const void *a, const void *b) { return kq_45_dot_vnni(EM_TYPE_Q4_K, n, a, b); }
static float q5_K_dot_vnni(int64_t n, const void *a, const void *b) { return kq_45_dot_vnni(EM_TYPE_Q5_K, n, a, b); }

/* Q6_K: values 128h + 32c + l are nibble c / 2 of ql[64h + 32 (c % 2) + l]
 * and bits 2c.. of qh[32h + l]; a 64-byte load of ql is steps c = 0, 1
 * (low nibbles) and c = 2, 3 (high). */
static float q6_K_dot_vnni(int64_t n, const void *a, const void *b) {
    const em_block_q6_K *x = a;
    const em_block_q8_K *y = b;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(3);
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        __m512i u[4];
        for (int h = 0; h < 2; h++) {
            const __m512i l = _mm512_loadu_si512(x[i].ql + 64 * h);
            const __m512i h01 = _mm512_and_si512(kq_bcast_shift(x[i].qh + 32 * h, 0, 2), m3);
            const __m512i h23 = _mm512_and_si512(kq_bcast_shift(x[i].qh + 32 * h, 4, 6), m3);
            u[2 * h] = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_slli_epi16(h01, 4));
            u[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), _mm512_slli_epi16(h23, 4));
        }
        sumf = kq_step_single(sumf, KQ_FP16(x[i].d) * y[i].d, kq_vnni_sums(u, y[i].qs, sc16), y[i].bsums,
                              _mm256_slli_epi16(sc16, 5));
    }
    return sumf;
}

/* The tile's few-column case: each output a dot, this variant's. */
static float kq_dot(int T, int64_t n, const void *a, const void *b) {
    switch (T) {
    case EM_TYPE_Q2_K: return q2_K_dot_vnni(n, a, b);
    case EM_TYPE_Q3_K: return q3_K_dot_vnni(n, a, b);
    case EM_TYPE_Q4_K: return q4_K_dot_vnni(n, a, b);
    case EM_TYPE_Q5_K: return q5_K_dot_vnni(n, a, b);
    default: return q6_K_dot_vnni(n, a, b);
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
        kq_interleave(T, KR, &p.u[0][0][0][0], &p.sc[0][0][0][0], &p.cm[0][0][0][0], &p.d[0][0], &p.dmin[0][0], w,
                      w_stride, nr, b0, nbk);
        for (int64_t c0 = 0; c0 < nc; c0 += KRN) {
            const char *xr[KRN];
            for (int c = 0; c < KRN; c++) xr[c] = (const char *)x + (size_t)(c0 + c < nc ? c0 + c : c0) * x_stride;
            float *yt = y + c0 * ldy;
            switch (nc - c0 < KRN ? nc - c0 : KRN) {
            case 1: ktile(T, 1, &p, nbk, b0, xr, yt, ldy, nr, b0 == 0); break;
            case 2: ktile(T, 2, &p, nbk, b0, xr, yt, ldy, nr, b0 == 0); break;
            case 3: ktile(T, 3, &p, nbk, b0, xr, yt, ldy, nr, b0 == 0); break;
            default: ktile(T, 4, &p, nbk, b0, xr, yt, ldy, nr, b0 == 0); break;
            }
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

/* Overlays the tiles and the dots on a table that
 * cpu_kernels_init_kquants_avx2 filled. */
void cpu_kernels_init_kquants_avx512(cpu_kernels *k) {
    k->vec_dot[EM_TYPE_Q2_K] = q2_K_dot_vnni;
    k->vec_dot[EM_TYPE_Q3_K] = q3_K_dot_vnni;
    k->vec_dot[EM_TYPE_Q4_K] = q4_K_dot_vnni;
    k->vec_dot[EM_TYPE_Q5_K] = q5_K_dot_vnni;
    k->vec_dot[EM_TYPE_Q6_K] = q6_K_dot_vnni;
    k->gemm[EM_TYPE_Q2_K] = gemm_q2_K;
    k->gemm[EM_TYPE_Q3_K] = gemm_q3_K;
    k->gemm[EM_TYPE_Q4_K] = gemm_q4_K;
    k->gemm[EM_TYPE_Q5_K] = gemm_q5_K;
    k->gemm[EM_TYPE_Q6_K] = gemm_q6_K;
    for (int t = EM_TYPE_Q2_K; t <= EM_TYPE_Q6_K; t++) k->gemm_rows[t] = KR;
}
