/* cpu_quant_k_avx512.c - the K-quants' prefill tile with AVX-512 (BW: 64-byte
 * vpmaddubsw and vpmaddwd), compiled with the AVX-512 flags and
 * -ffp-contract=off. The tile of cpu_quant_k_avx2.c at twice the width: a
 * vector holds 4 bytes of each of 16 rows, KR = 32 rows a call, and up to 4
 * activation rows a register tile (the 32 registers hold it). The dots stay
 * the AVX2 ones, and this tile gives each output their bits (see
 * cpu_quant_k_x86.h). VNNI's vpdpbusd would sum 4 bytes at once, but the
 * scales change every 16 values and the sums would need a 32-bit multiply
 * per sub-block; the int16 sums scaled by vpmaddwd cost less. */
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
    const int steps = T == EM_TYPE_Q6_K ? 2 : 4; /* words per int16 sum */
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
            const __m512i s0 = _mm512_load_si512(p->sc[b][g][0]);
            const __m512i s1 = _mm512_load_si512(p->sc[b][g][16]);
            for (int s0w = 0; s0w < 4; s0w += steps) {
                __m512i a[KRN][2];
                for (int c = 0; c < NC; c++) a[c][0] = a[c][1] = _mm512_setzero_si512();
                for (int s = s0w; s < s0w + steps; s++) {
                    const int j = 4 * g + s;
                    const __m512i w0 = _mm512_load_si512(p->u[b][j][0]);
                    const __m512i w1 = _mm512_load_si512(p->u[b][j][16]);
                    for (int c = 0; c < NC; c++) {
                        const __m512i xv = _mm512_set1_epi32(kq_word(xb[c]->qs + 4 * j));
                        a[c][0] = _mm512_add_epi16(a[c][0], _mm512_maddubs_epi16(w0, xv));
                        a[c][1] = _mm512_add_epi16(a[c][1], _mm512_maddubs_epi16(w1, xv));
                        /* keeps gcc from summing the words as a tree */
                        __asm__("" : "+v"(a[c][0]), "+v"(a[c][1]));
                    }
                }
                for (int c = 0; c < NC; c++) {
                    acc[c][0] = _mm512_add_epi32(acc[c][0], _mm512_madd_epi16(a[c][0], s0));
                    acc[c][1] = _mm512_add_epi32(acc[c][1], _mm512_madd_epi16(a[c][1], s1));
                }
            }
        }
        for (int c = 0; c < NC; c++) {
            __m512i m0 = _mm512_setzero_si512(), m1 = m0;
            for (int h = 0; h < 8; h++) {
                const __m512i bs = _mm512_set1_epi32(kq_word(xb[c]->bsums + 2 * h));
                m0 = _mm512_add_epi32(m0, _mm512_madd_epi16(_mm512_load_si512(p->cm[b][h][0]), bs));
                m1 = _mm512_add_epi32(m1, _mm512_madd_epi16(_mm512_load_si512(p->cm[b][h][16]), bs));
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

static inline __attribute__((always_inline)) void gemm_kq(int T, int64_t k, const void *w, size_t w_stride, int nr,
                                                          const void *x, size_t x_stride, int64_t nc, float *y,
                                                          int64_t ldy) {
    if (nc < KMIN) {
        for (int64_t c = 0; c < nc; c++)
            for (int r = 0; r < nr; r++)
                y[c * ldy + r] = cpu_kq_dot_avx2(T, k, (const char *)w + (size_t)r * w_stride, (const char *)x + c * x_stride);
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

/* Overlays the tiles on a table that cpu_kernels_init_kquants_avx2 filled
 * (whose dots stay). */
void cpu_kernels_init_kquants_avx512(cpu_kernels *k) {
    k->gemm[EM_TYPE_Q2_K] = gemm_q2_K;
    k->gemm[EM_TYPE_Q3_K] = gemm_q3_K;
    k->gemm[EM_TYPE_Q4_K] = gemm_q4_K;
    k->gemm[EM_TYPE_Q5_K] = gemm_q5_K;
    k->gemm[EM_TYPE_Q6_K] = gemm_q6_K;
    for (int t = EM_TYPE_Q2_K; t <= EM_TYPE_Q6_K; t++) k->gemm_rows[t] = KR;
}
