/* cpu_quant_k_x86.h - private to cpu_quant_k_avx2.c and cpu_quant_k_avx512.c
 * (both compiled with at least AVX2 + FMA + F16C, and -ffp-contract=off): a
 * K-quant block unpacked to one form whatever its type, the float step each
 * block adds to a dot's running sum, and the interleaved layout the prefill
 * tiles read. Both tiles give each output the AVX2 dot's bits (the dot is
 * the one the AVX-512 variant keeps), because both take the integers the
 * dot takes and kq_step's float step, per block, in block order. */
#ifndef EMBER_CPU_QUANT_K_X86_H
#define EMBER_CPU_QUANT_K_X86_H

#include <immintrin.h>
#include <math.h>
#include <stdalign.h>
#include <stddef.h>
#include <string.h>

#include "cpu_kernels_impl.h"
#include "cpu_quant_32_x86.h"

#define QK EM_QK_K

/* An fp16 scale as a float by F16C (these files are built with it): the
 * same value as em_fp16_to_fp32, whose portable bit arithmetic took ~10
 * instructions a scale, two per block on a decode dot's path. */
#define KQ_FP16(h) _cvtsh_ss(h)

static inline void store32(uint8_t *dst, __m256i v) { _mm256_storeu_si256((__m256i *)dst, v); }

/* Q3_K's 16 scales, unbiased, as int16: cpu_kq_q3_scales' words, made in
 * one vector (its ~25 scalar instructions and the words' trip through
 * memory were the largest share of a Q3_K decode dot after its products).
 * The 12 scale bytes a0, a1, a2 (as words) are loaded with the 4 bytes of
 * qs before them, all within the block: word k of the result is
 * (ak' >> 4 (k / 2)) & 0x0f with k' = k % 2, or'ed with
 * ((a2 >> 2k) & 0x03) << 4. */
static inline __m256i kq_q3_scales16(const em_block_q3_K *x) {
    const uint8_t *p = (const uint8_t *)x + offsetof(em_block_q3_K, scales) - 4;
    const __m128i v = _mm_loadu_si128((const __m128i *)p); /* qs[60..63], a0, a1, a2 */
    const __m128i lo = _mm_and_si128(_mm_srlv_epi32(_mm_shuffle_epi32(v, 0x99), _mm_setr_epi32(0, 0, 4, 4)),
                                     _mm_set1_epi8(0x0f)); /* a0, a1, a0 >> 4, a1 >> 4 */
    const __m128i hi = _mm_and_si128(_mm_srlv_epi32(_mm_shuffle_epi32(v, 0xff), _mm_setr_epi32(0, 2, 4, 6)),
                                     _mm_set1_epi8(0x03));
    return _mm256_cvtepi8_epi16(_mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi32(hi, 4)), _mm_set1_epi8(32)));
}
static inline void kq_q3_scales(const em_block_q3_K *x, int16_t *sc) { _mm256_storeu_si256((__m256i *)sc, kq_q3_scales16(x)); }

/* Q4_K/Q5_K's scales (lanes 0-7) and mins (8-15) as 16 bytes. */
static inline __m128i kq_scales_mins16(const uint8_t *s) {
    uint32_t v[4];
    cpu_kq_scales_mins(s, v);
    return _mm_setr_epi32((int)v[0], (int)v[1], (int)v[2], (int)v[3]);
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
        o->d = KQ_FP16(x->d);
        o->dmin = KQ_FP16(x->dmin);
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
        kq_q3_scales(x, o->sc);
        _mm256_store_si256((__m256i *)o->cm, _mm256_slli_epi16(_mm256_load_si256((const __m256i *)o->sc), 2));
        o->d = KQ_FP16(x->d);
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
        const __m128i smv = kq_scales_mins16(s);
        /* per 16 values: each sub-block's scale and min twice */
        const __m128i sv = smv, mv = _mm_unpackhi_epi64(smv, smv);
        _mm256_store_si256((__m256i *)o->sc, _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(sv, sv)));
        _mm256_store_si256((__m256i *)o->cm, _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mv, mv)));
        o->d = KQ_FP16(x4 ? x4->d : x5->d);
        o->dmin = KQ_FP16(x4 ? x4->dmin : x5->dmin);
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
        o->d = KQ_FP16(x->d);
        o->dmin = 0.0f;
    }
}

/* A block's float step onto the running sum, d and dmin already multiplied
 * by the activations' scale. The tile's lanes take this step too. */
static inline float kq_step(int T, float sumf, float d, int32_t isum, float dmin, int32_t summ) {
    if (KQ_SINGLE(T)) return sumf + d * (float)(isum - summ);
    return sumf + fmaf(d, (float)isum, -(dmin * (float)summ));
}

/* kq_step for the decode dots, on a block's sums still in vectors: acc's 8
 * int32 lanes sum to isum, and summ is sum over g of sc[g] * bsums[g] (the
 * activations' 16-value sums times the 16 int16 scales or mins in sc). The
 * integers are exact in any order and the float steps are kq_step's, so
 * these give its bits (the tiles'); but the two sums share one tree and d,
 * dmin one conversion, ~15 instructions where two scalar sums and their
 * conversions took ~30, of a dot's 60-85 a block. */
static inline __m128i kq_hsum2_i32(__m256i a, __m256i b) { /* lane 0: a's sum, lane 1: b's */
    const __m256i t = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
    const __m128i s = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    return _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
}
static inline __m256i kq_scaled_bsums(const int16_t *bsums, __m256i sc) {
    return _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), sc);
}
/* Q2_K, Q4_K, Q5_K: dm points at the block's d and dmin (adjacent fp16), yd
 * is the activations' scale. */
static inline float kq_step_dmin(float sumf, const em_fp16 *dm, float yd, __m256i acc, const int16_t *bsums,
                                 __m256i mn) {
    const __m128 d = _mm_mul_ps(q32_fp16x2(dm), _mm_set1_ps(yd)); /* d, dmin */
    const __m128 s = _mm_cvtepi32_ps(kq_hsum2_i32(acc, kq_scaled_bsums(bsums, mn)));       /* isum, summ */
    const __m128 p = _mm_mul_ps(d, s);                                                      /* lane 1: dmin * summ */
    return sumf + _mm_cvtss_f32(_mm_fmsub_ss(d, s, _mm_movehdup_ps(p)));
}
/* Q3_K, Q6_K: isum - summ is one integer, d already times yd. */
static inline float kq_step_single(float sumf, float d, __m256i acc, const int16_t *bsums, __m256i sc) {
    return sumf + d * (float)q32_hsum_i32(_mm256_sub_epi32(acc, kq_scaled_bsums(bsums, sc)));
}

/* Rows [0, nr) of w, blocks [b0, b0 + nbk), unpacked and interleaved for a
 * prefill tile of kr rows: word j (values 4j..4j+3) of block b of row r at
 * u[((b * 64 + j) * kr + r) * 4], sub-block g's scale twice at
 * sc[((b * 16 + g) * kr + r) * 2], cm[2h], cm[2h + 1] at
 * cm[((b * 8 + h) * kr + r) * 2], the scales at d[b * kr + r] and
 * dmin[b * kr + r]. Rows nr..kr-1 are zero (so are their sums). kr is a
 * multiple of 8 up to 32, nbk at most 2 (the tiles' KR and KKB). */
static inline __attribute__((always_inline)) void kq_interleave(int T, int kr, uint8_t *u, int16_t *sc, int16_t *cm,
                                                                float *d, float *dmin, const char *w, size_t w_stride,
                                                                int nr, int64_t b0, int nbk) {
    /* Two passes, as the 32-value types' packs (cpu_kernels_avx2.c,
     * jpack_fill): every row's blocks unpacked row after row (one stream),
     * then 8 rows at a time transposed in registers, a 32-byte store for
     * each word, scale pair or min pair of 8 rows, where each was its own
     * 4-byte store before. */
    enum { KQ_MAXR = 32, KQ_MAXB = 2 };
    kq_blk k[KQ_MAXR][KQ_MAXB];
    if (kr > KQ_MAXR || nbk > KQ_MAXB) __builtin_trap(); /* constants of the callers' tiles */
    const size_t bb = em_type_block_bytes((enum em_type)T);
    for (int r = 0; r < kr; r++)
        for (int b = 0; b < nbk; b++) {
            const char *row = w + (size_t)r * w_stride;
            for (size_t o = 0; o < bb; o += 64)
                _mm_prefetch((const char *)((uintptr_t)row + (size_t)(b0 + b) * bb + o + Q32_FILL_AHEAD), _MM_HINT_T0);
            if (r < nr) kq_unpack(T, row, b0 + b, &k[r][b]);
            else memset(&k[r][b], 0, sizeof k[r][b]);
            d[b * kr + r] = k[r][b].d;
            dmin[b * kr + r] = k[r][b].dmin;
        }
    for (int r8 = 0; r8 < kr; r8 += 8)
        for (int b = 0; b < nbk; b++) {
            __m256i v[8];
            for (int q = 0; q < 8; q++) { /* words 8q .. 8q + 7 */
                for (int i = 0; i < 8; i++) v[i] = _mm256_load_si256((const __m256i *)(k[r8 + i][b].u + 32 * q));
                x86_transpose8x8(v);
                for (int j = 0; j < 8; j++)
                    _mm256_storeu_si256((__m256i *)(u + (((size_t)b * 64 + 8 * q + j) * kr + r8) * 4), v[j]);
            }
            /* each scale twice: the low halves of the 128-bit lanes hold
             * scales 0-3 and 8-11, the high 4-7 and 12-15 */
            __m256i h[8];
            for (int i = 0; i < 8; i++) {
                const __m256i s = _mm256_load_si256((const __m256i *)k[r8 + i][b].sc);
                v[i] = _mm256_unpacklo_epi16(s, s);
                h[i] = _mm256_unpackhi_epi16(s, s);
            }
            x86_transpose8x8(v);
            x86_transpose8x8(h);
            for (int j = 0; j < 8; j++) {
                const int g = (j & 3) + (j & 4 ? 8 : 0);
                _mm256_storeu_si256((__m256i *)(sc + (((size_t)b * 16 + g) * kr + r8) * 2), v[j]);
                _mm256_storeu_si256((__m256i *)(sc + (((size_t)b * 16 + g + 4) * kr + r8) * 2), h[j]);
            }
            for (int i = 0; i < 8; i++) v[i] = _mm256_load_si256((const __m256i *)k[r8 + i][b].cm);
            x86_transpose8x8(v); /* pair h: cm[2h], cm[2h + 1] */
            for (int j = 0; j < 8; j++) _mm256_storeu_si256((__m256i *)(cm + (((size_t)b * 8 + j) * kr + r8) * 2), v[j]);
        }
}

static inline int32_t kq_word(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

#endif
