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
#include <immintrin.h>
#include <math.h>
#include <stdalign.h>
#include <string.h>

#include "cpu_kernels_impl.h"

#define QK EM_QK_K

/* Sum over the 16 sub-blocks g of sc[g] * (u . q8 over g's 16 values). */
static inline int32_t kq_block_dot(const uint8_t *u, const int8_t *q8, const int16_t *sc) {
    __m256i acc = _mm256_setzero_si256();
    for (int k = 0; k < 8; k++) {
        const __m256i uv = _mm256_loadu_si256((const __m256i *)(u + 32 * k));
        const __m256i qv = _mm256_loadu_si256((const __m256i *)(q8 + 32 * k));
        const __m256i p16 = _mm256_maddubs_epi16(uv, qv); /* 16 pair sums: bytes 0-15 sub-block 2k, 16-31 2k+1 */
        const __m256i s16 = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_set1_epi16(sc[2 * k])),
                                                    _mm_set1_epi16(sc[2 * k + 1]), 1);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, s16));
    }
    const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    const __m128i s2 = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
}

/* sum over g of sc[g] * bsums[g] */
static inline int32_t kq_scaled_bsums(const int16_t *bsums, const int16_t *sc) {
    const __m256i p = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums),
                                        _mm256_loadu_si256((const __m256i *)sc));
    const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    const __m128i s2 = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
}

static inline void store32(uint8_t *dst, __m256i v) { _mm256_storeu_si256((__m256i *)dst, v); }

/* Q4_K/Q5_K's 12 bytes (layout in cpu_quant_k.c) to 8 scales and 8 mins,
 * four at a time with 32-bit masks: a shift by 6 or 4 brings the next byte's
 * bits in at the top of each byte, and the mask drops them. */
static inline void kq_scales_mins(const uint8_t *s, uint8_t *sc, uint8_t *m) {
    const uint32_t lo6 = 0x3f3f3f3f, lo4 = 0x0f0f0f0f, two = 0x03030303;
    uint32_t a[3], v[4];
    memcpy(a, s, 12);
    v[0] = a[0] & lo6;                                         /* scales 0-3 */
    v[1] = (a[2] & lo4) | (((a[0] >> 6) & two) << 4);          /* scales 4-7 */
    v[2] = a[1] & lo6;                                         /* mins 0-3 */
    v[3] = ((a[2] >> 4) & lo4) | (((a[1] >> 6) & two) << 4);   /* mins 4-7 */
    memcpy(sc, v, 8);
    memcpy(m, v + 2, 8);
}

/* Q3_K's 16 6-bit scales, unbiased, as int16: low nibbles from bytes 0-7,
 * top bit pairs from bytes 8-11 (pair j / 4 of byte 8 + j % 4). */
static inline void kq_q3_scales(const uint8_t *s, int16_t *sc) {
    const uint32_t lo4 = 0x0f0f0f0f, two = 0x03030303;
    uint32_t a[3], v[4];
    memcpy(a, s, 12);
    v[0] = (a[0] & lo4) | ((a[2] & two) << 4);
    v[1] = (a[1] & lo4) | (((a[2] >> 2) & two) << 4);
    v[2] = ((a[0] >> 4) & lo4) | (((a[2] >> 4) & two) << 4);
    v[3] = ((a[1] >> 4) & lo4) | (((a[2] >> 6) & two) << 4);
    const __m128i b = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)v), _mm_set1_epi8(32));
    _mm256_storeu_si256((__m256i *)sc, _mm256_cvtepi8_epi16(b));
}

/* One block unpacked, whatever its type: the dot and the tile both start here. */
typedef struct kq_blk {
    alignas(32) uint8_t u[QK];
    alignas(32) int16_t sc[16]; /* scale of each 16 values */
    alignas(32) int16_t cm[16]; /* what multiplies each 16 activations' sum: the mins, or bias * sc */
    float d, dmin;              /* dmin: types with mins (Q2_K, Q4_K, Q5_K) */
} kq_blk;

/* Types whose offset is a bias folded into the integer sum (Q3_K, Q6_K)
 * rather than mins with a float scale of their own. */
#define KQ_SINGLE(T) ((T) == EM_TYPE_Q3_K || (T) == EM_TYPE_Q6_K)

static inline __attribute__((always_inline)) void kq_unpack(int T, const void *row, int64_t i, kq_blk *o) {
    const __m256i one = _mm256_set1_epi8(1), m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(0x0F);
    if (T == EM_TYPE_Q2_K) {
        const em_block_q2_K *x = (const em_block_q2_K *)row + i;
        for (int h = 0; h < 2; h++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * h));
            for (int s = 0; s < 4; s++) store32(o->u + 128 * h + 32 * s, _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), m3));
        }
        for (int g = 0; g < 16; g++) {
            o->sc[g] = x->scales[g] & 0x0F;
            o->cm[g] = x->scales[g] >> 4;
        }
        o->d = em_fp16_to_fp32(x->d);
        o->dmin = em_fp16_to_fp32(x->dmin);
    } else if (T == EM_TYPE_Q3_K) {
        const em_block_q3_K *x = (const em_block_q3_K *)row + i;
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x->hmask);
        for (int h = 0; h < 2; h++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * h));
            for (int s = 0; s < 4; s++) {
                /* the third bit of values 128 h + 32 s + l: bit 4 h + s of hmask[l] */
                const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + s), one);
                const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(q, 2 * s), m3);
                store32(o->u + 128 * h + 32 * s, _mm256_or_si256(lo, _mm256_slli_epi16(hb, 2)));
            }
        }
        kq_q3_scales(x->scales, o->sc);
        _mm256_store_si256((__m256i *)o->cm, _mm256_slli_epi16(_mm256_load_si256((const __m256i *)o->sc), 2));
        o->d = em_fp16_to_fp32(x->d);
        o->dmin = 0.0f;
    } else if (T == EM_TYPE_Q4_K || T == EM_TYPE_Q5_K) {
        /* values of sub-block j are nibble j % 2 of bytes 32 (j / 2) .. +31 */
        const em_block_q4_K *x4 = T == EM_TYPE_Q4_K ? (const em_block_q4_K *)row + i : NULL;
        const em_block_q5_K *x5 = T == EM_TYPE_Q5_K ? (const em_block_q5_K *)row + i : NULL;
        const uint8_t *qs = x4 ? x4->qs : x5->qs, *s = x4 ? x4->scales : x5->scales;
        const __m256i hv = x5 ? _mm256_loadu_si256((const __m256i *)x5->qh) : _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (x5) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 2 * c), one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 2 * c + 1), one), 4));
            }
            store32(o->u + 64 * c, lo);
            store32(o->u + 64 * c + 32, hi);
        }
        uint8_t s8[8], m8[8];
        kq_scales_mins(s, s8, m8);
        /* per 16 values: each sub-block's scale and min twice */
        const __m128i sv = _mm_loadl_epi64((const __m128i *)s8), mv = _mm_loadl_epi64((const __m128i *)m8);
        _mm256_store_si256((__m256i *)o->sc, _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(sv, sv)));
        _mm256_store_si256((__m256i *)o->cm, _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mv, mv)));
        o->d = em_fp16_to_fp32(x4 ? x4->d : x5->d);
        o->dmin = em_fp16_to_fp32(x4 ? x4->dmin : x5->dmin);
    } else { /* Q6_K */
        const em_block_q6_K *x = (const em_block_q6_K *)row + i;
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
            for (int c = 0; c < 4; c++) {
                /* values 128 h + 32 c + l: low nibble (c / 2) of ql[l + 32 (c % 2)], bits 2c.. of qh[l] */
                const __m256i l = c % 2 ? l1 : l0;
                const __m256i lo = _mm256_and_si256(c / 2 ? _mm256_srli_epi16(l, 4) : l, m4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), m3);
                store32(o->u + 128 * h + 32 * c, _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)));
            }
        }
        _mm256_store_si256((__m256i *)o->sc, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales)));
        _mm256_store_si256((__m256i *)o->cm, _mm256_slli_epi16(_mm256_load_si256((const __m256i *)o->sc), 5));
        o->d = em_fp16_to_fp32(x->d);
        o->dmin = 0.0f;
    }
}

/* A block's float step onto the running sum, d and dmin already multiplied
 * by the activations' scale. The tile's lanes take this step too. */
static inline float kq_step(int T, float sumf, float d, int32_t isum, float dmin, int32_t summ) {
    if (KQ_SINGLE(T)) return sumf + d * (float)(isum - summ);
    return sumf + fmaf(d, (float)isum, -(dmin * (float)summ));
}

static inline __attribute__((always_inline)) float kq_dot(int T, int64_t n, const void *a, const void *b) {
    const em_block_q8_K *y = b;
    kq_blk k;
    float sumf = 0;
    for (int64_t i = 0; i < n / QK; i++) {
        kq_unpack(T, a, i, &k);
        const int32_t isum = kq_block_dot(k.u, y[i].qs, k.sc), summ = kq_scaled_bsums(y[i].bsums, k.cm);
        sumf = kq_step(T, sumf, k.d * y[i].d, isum, k.dmin * y[i].d, summ);
    }
    return sumf;
}

static float q2_K_dot(int64_t n, const void *a, const void *b) { return kq_dot(EM_TYPE_Q2_K, n, a, b); }
static float q3_K_dot(int64_t n, const void *a, const void *b) { return kq_dot(EM_TYPE_Q3_K, n, a, b); }
static float q4_K_dot(int64_t n, const void *a, const void *b) { return kq_dot(EM_TYPE_Q4_K, n, a, b); }
static float q5_K_dot(int64_t n, const void *a, const void *b) { return kq_dot(EM_TYPE_Q5_K, n, a, b); }
static float q6_K_dot(int64_t n, const void *a, const void *b) { return kq_dot(EM_TYPE_Q6_K, n, a, b); }

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
#define KMIN 4 /* fewer activation rows: one dot per output */

typedef struct kpack {
    alignas(32) uint8_t u[KKB][64][KR][4];  /* word j (values 4j..4j+3) of each row */
    alignas(32) int16_t sc[KKB][16][KR][2]; /* sub-block g's scale, twice */
    alignas(32) int16_t cm[KKB][8][KR][2];  /* cm[2h], cm[2h + 1] */
    alignas(32) float d[KKB][KR], dmin[KKB][KR];
} kpack;

static inline __attribute__((always_inline)) void kpack_fill(int T, kpack *p, const char *w, size_t w_stride,
                                                             int nr, int64_t b0, int nbk) {
    if (nr < KR) memset(p, 0, sizeof *p); /* missing rows: zero scales, zero sums */
    kq_blk k;
    for (int r = 0; r < nr; r++)
        for (int b = 0; b < nbk; b++) {
            kq_unpack(T, w + (size_t)r * w_stride, b0 + b, &k);
            for (int j = 0; j < 64; j++) memcpy(p->u[b][j][r], k.u + 4 * j, 4);
            for (int g = 0; g < 16; g++) p->sc[b][g][r][0] = p->sc[b][g][r][1] = k.sc[g];
            for (int h = 0; h < 8; h++) {
                p->cm[b][h][r][0] = k.cm[2 * h];
                p->cm[b][h][r][1] = k.cm[2 * h + 1];
            }
            p->d[b][r] = k.d;
            p->dmin[b][r] = k.dmin;
        }
}

static inline __m256i bcast32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

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
                        const __m256i xv = bcast32(xb[c]->qs + 4 * j);
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
                const __m256i bs = bcast32(xb[c]->bsums + 2 * h);
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
        kpack_fill(T, &p, w, w_stride, nr, b0, nbk);
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

void cpu_kernels_init_kquants_avx2(cpu_kernels *k) {
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
