/* cpu_kernels_avx2.c - AVX2 + FMA + F16C kernels (x86-64 from Haswell / Zen 1).
 *
 * Same results as cpu_kernels_ref.c up to summation order; the Q8_0 and F16
 * quantizers are bit-exact with the reference. Int8 products use vpmaddubsw,
 * which wants an unsigned operand: |a| * sign(b, a) keeps both within range
 * (127 * 127 * 2 < 32767, so the 16-bit pair sums never saturate).
 *
 * The F32/F16 products, the softmax and SiLU round as llama.cpp's CPU backend
 * does on the same machine (its "haswell" build of ggml: AVX2, FMA, F16C):
 * the same lanes, the same order of the final sums, the same exp. With F16
 * weights every product rounds its input to fp16 first, so a 1-ulp difference
 * anywhere upstream can move an fp16 rounding and a product by 2^-11; summing
 * as llama.cpp sums keeps the two on the same side of each such rounding. */
#include <immintrin.h>
#include <math.h>
#include <stdalign.h>
#include <string.h>

#include "cpu_kernels_impl.h"
#include "cpu_quant_32_x86.h"

/* [q32_hsum8(a), .., q32_hsum8(d)]: the same additions of the same pairs,
 * so the same bits, four vectors at a time (13 instructions where four
 * q32_hsum8 and their stores take 28). At k = 768, the ViT's, a 4 x 3
 * tile's 12 sums were ~5% of its samples: with this the F16 tile went from
 * 98-103 to 102-112 GFLOP/s on one Zen 5 thread (k = 3072 unchanged). */
static inline __m128 hsum8x4(__m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256 ab = _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
    const __m256 cd = _mm256_add_ps(_mm256_permute2f128_ps(c, d, 0x20), _mm256_permute2f128_ps(c, d, 0x31));
    /* lanes 0-3 hold a's and c's, 4-7 b's and d's: s0 + s2 and s1 + s3 of each */
    const __m256 e = _mm256_add_ps(_mm256_shuffle_ps(ab, cd, 0x44), _mm256_shuffle_ps(ab, cd, 0xee));
    const __m256 h = _mm256_hadd_ps(e, e); /* a c a c | b d b d */
    return _mm_unpacklo_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* The first nr (up to 4) of s's sums to y: a row of a tile's outputs,
 * never past y's nr. */
static inline void store_rows4(float *y, __m128 s, int nr) {
    if (nr >= 4) {
        _mm_storeu_ps(y, s);
    } else {
        float t[4];
        _mm_storeu_ps(t, s);
        for (int r = 0; r < nr; r++) y[r] = t[r];
    }
}

/* Sum of the 32 products of signed bytes a, b as 8 int32 lanes. */
static inline __m256i dot_i8(__m256i a, __m256i b) {
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* One half to float with F16C: much cheaper than the portable bit juggling,
 * and the dots convert two scales per block. */
#define FP16(h) _cvtsh_ss(h)

// ---- conversions -------------------------------------------------------------

static void f16_to_float(const void *src, float *dst, int64_t n) {
    const em_fp16 *h = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++) dst[i] = em_fp16_to_fp32(h[i]);
}

/* vcvtps2ph rounds to nearest even like em_fp32_to_fp16 (NaN payloads aside). */
static void f16_from_float(const float *src, void *dst, int64_t n) {
    em_fp16 *h = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) h[i] = em_fp32_to_fp16(src[i]);
}

static void bf16_to_float(const void *src, float *dst, int64_t n) {
    const em_bf16 *h = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < n; i++) dst[i] = em_bf16_to_fp32(h[i]);
}

/* Round to nearest even on the integer bits, NaN kept quiet, as em_fp32_to_bf16. */
static inline __m128i bf16_round8(__m256 x) {
    __m256i u = _mm256_castps_si256(x);
    __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    __m256i abs = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
    __m256i nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
    __m256i qn = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(64));
    r = _mm256_blendv_epi8(r, qn, nan);
    return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
}

static void bf16_from_float(const float *src, void *dst, int64_t n) {
    em_bf16 *h = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm_storeu_si128((__m128i *)(h + i), bf16_round8(_mm256_loadu_ps(src + i)));
    for (; i < n; i++) h[i] = em_fp32_to_bf16(src[i]);
}

/* roundf (half away from zero) exactly: truncate, then step away from zero
 * when the dropped fraction is >= 0.5 (x - trunc(x) is exact). */
static inline __m256 round_half_away(__m256 v) {
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 signmask = _mm256_set1_ps(-0.0f);
    __m256 frac = _mm256_andnot_ps(signmask, _mm256_sub_ps(v, t));
    __m256 step = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                                _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, signmask)));
    return _mm256_add_ps(t, step);
}

static void q8_0_from_float(const float *src, void *dst, int64_t n) {
    em_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        __m256i q[4];
        y[i].d = em_fp32_to_fp16(q32_act_block(src, q)); /* as cpu_quantize_row_q8_0_act */
        _mm256_storeu_si256((__m256i *)y[i].qs, q32_act_bytes(q));
    }
}

// ---- dot products ---------------------------------------------------------------

#define LOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define LOAD_BF16(p) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))

/* ggml's vec_dot for F32 and F16 (the n == 1 products): 4 accumulators of 8
 * lanes over steps of 32 values, value i in accumulator (i / 8) % 4, lane
 * i % 8; then acc0 + acc2 and acc1 + acc3, their sum, and the lanes as
 * (l0+l4) + (l1+l5) + ... by two horizontal adds: ((a0+a1) + (a2+a3)) with
 * a_i = l_i + l_(i+4). The n % 32 values left over are added one by one
 * after that: in double for F16 (each product is exact in float), in float
 * for F32. */
static inline float hsum8_hadd(__m256 s) {
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    t = _mm_hadd_ps(t, t);
    return _mm_cvtss_f32(_mm_hadd_ps(t, t));
}

/* 8 values as floats; ty: 0 F32, 1 F16, 2 BF16 (a constant where inlined) */
static inline __m256 load8(int ty, const void *p, int64_t i) {
    return ty == 1 ? LOAD_F16((const em_fp16 *)p + i)
         : ty == 2 ? LOAD_BF16((const em_bf16 *)p + i) : _mm256_loadu_ps((const float *)p + i);
}

/* acc0 + acc2 and acc1 + acc3 of the 4 x 8 lanes over the first n & ~31
 * values, added; the caller sums the lanes and the leftovers. */
static inline __attribute__((always_inline)) __m256 dot4x8(int ty, int64_t np, const void *x, const void *y) {
    __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t i = 0; i < np; i += 32)
        for (int j = 0; j < 4; j++) s[j] = _mm256_fmadd_ps(load8(ty, x, i + 8 * j), load8(ty, y, i + 8 * j), s[j]);
    return _mm256_add_ps(_mm256_add_ps(s[0], s[2]), _mm256_add_ps(s[1], s[3]));
}

static float f32_dot(int64_t n, const void *a, const void *b) {
    const float *x = a, *y = b;
    const int64_t np = n & ~(int64_t)31;
    float s = hsum8_hadd(dot4x8(0, np, x, y));
    for (int64_t i = np; i < n; i++) s = fmaf(x[i], y[i], s);
    return s;
}

static float f16_dot(int64_t n, const void *a, const void *b) {
    const em_fp16 *x = a, *y = b;
    const int64_t np = n & ~(int64_t)31;
    double s = hsum8_hadd(dot4x8(1, np, x, y));
    for (int64_t i = np; i < n; i++) s += (double)(em_fp16_to_fp32(x[i]) * em_fp16_to_fp32(y[i]));
    return (float)s;
}

/* vec_dot of x against many rows (cpu_vec_dot_rows_fn), 8 rows at a time:
 * each row's accumulators combined as dot4x8 does, then the 8 hsum8_hadd
 * trees summed together: the two 128-bit halves of two rows added at once
 * (vperm2f128), then hadd twice, which pairs the same lanes hsum8_hadd
 * does. Row 2a + b lands in lane 4b + a; one permute orders them. The
 * query is widened once (up to 256 values); leftovers past n & ~31 are
 * added per row as the dots add them. */
static inline __attribute__((always_inline)) void dot_rows(int f16, int64_t n, const void *rows, size_t stride,
                                                            int64_t nrows, const void *x, float *out) {
    const int64_t np = n & ~(int64_t)31;
    int64_t t = 0;
    if (np > 0 && np <= 256) {
        alignas(32) float xw[256];
        for (int64_t i = 0; i < np; i += 8) _mm256_store_ps(xw + i, load8(f16, x, i));
        const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        for (; t + 8 <= nrows; t += 8) {
            __m256 v[8];
            for (int r = 0; r < 8; r++) {
                const char *row = (const char *)rows + (size_t)(t + r) * stride;
                __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
                for (int64_t i = 0; i < np; i += 32)
                    for (int j = 0; j < 4; j++)
                        a[j] = _mm256_fmadd_ps(load8(f16, row, i + 8 * j), _mm256_load_ps(xw + i + 8 * j), a[j]);
                v[r] = _mm256_add_ps(_mm256_add_ps(a[0], a[2]), _mm256_add_ps(a[1], a[3]));
            }
            __m256 w[4];
            for (int i = 0; i < 4; i++)
                w[i] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * i], v[2 * i + 1], 0x20),
                                     _mm256_permute2f128_ps(v[2 * i], v[2 * i + 1], 0x31));
            const __m256 z = _mm256_hadd_ps(_mm256_hadd_ps(w[0], w[1]), _mm256_hadd_ps(w[2], w[3]));
            alignas(32) float hs[8];
            _mm256_store_ps(hs, _mm256_permutevar8x32_ps(z, order));
            for (int r = 0; r < 8; r++)
                out[t + r] = cpu_dot_leftover(f16, hs[r], (const char *)rows + (size_t)(t + r) * stride, x, np, n);
        }
    }
    for (; t < nrows; t++)
        out[t] = f16 ? f16_dot(n, (const char *)rows + (size_t)t * stride, x)
                     : f32_dot(n, (const char *)rows + (size_t)t * stride, x);
}

static void f32_dot_rows(int64_t n, const void *rows, size_t stride, int64_t nrows, const void *x, float *out) {
    dot_rows(0, n, rows, stride, nrows, x, out);
}

static void f16_dot_rows(int64_t n, const void *rows, size_t stride, int64_t nrows, const void *x, float *out) {
    dot_rows(1, n, rows, stride, nrows, x, out);
}

/* ggml's AVX2 BF16 dot: the same 4 x 8 lanes (its multiply-add contracted
 * to an FMA by the compiler), but the lanes summed as hsum8, and the
 * leftovers in double. */
static float bf16_dot(int64_t n, const void *a, const void *b) {
    const em_bf16 *x = a, *y = b;
    const int64_t np = n & ~(int64_t)31;
    double s = q32_hsum8(dot4x8(2, np, x, y));
    for (int64_t i = np; i < n; i++) s += (double)(em_bf16_to_fp32(x[i]) * em_bf16_to_fp32(y[i]));
    return (float)s;
}

/* Two accumulators so consecutive blocks' FMAs do not wait on each other.
 * yd: the activations' scales already as floats (q8_0_dot_rows), or NULL. */
static inline __attribute__((always_inline)) float q8_0_row(const em_block_q8_0 *x, const em_block_q8_0 *y, int64_t nb,
                                                            const float *yd) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m256i p0 = dot_i8(_mm256_loadu_si256((const __m256i *)x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        __m256i p1 = dot_i8(_mm256_loadu_si256((const __m256i *)x[i + 1].qs),
                            _mm256_loadu_si256((const __m256i *)y[i + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(FP16(x[i].d) * (yd ? yd[i] : FP16(y[i].d))), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1),
                               _mm256_set1_ps(FP16(x[i + 1].d) * (yd ? yd[i + 1] : FP16(y[i + 1].d))), acc1);
    }
    for (; i < nb; i++) {
        __m256i p0 = dot_i8(_mm256_loadu_si256((const __m256i *)x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(FP16(x[i].d) * (yd ? yd[i] : FP16(y[i].d))), acc0);
    }
    return q32_hsum8(_mm256_add_ps(acc0, acc1));
}

static float q8_0_dot(int64_t n, const void *a, const void *b) { return q8_0_row(a, b, n / 32, NULL); }

/* q8_0_dot over rows (cpu_vec_dot_rows_fn): row after row, the
 * activations' scales converted once a call (the same products, so the
 * same bits), as the AVX-512 one does. */
static void q8_0_dot_rows(int64_t n, const void *rows, size_t stride, int64_t nrows, const void *b, float *out) {
    const em_block_q8_0 *y = b;
    const int64_t nb = n / 32;
    float yd[128];
    const int keep = nb <= 128; /* else one row at a time */
    for (int64_t i = 0; keep && i < nb; i++) yd[i] = FP16(y[i].d);
    for (int64_t r = 0; r < nrows; r++) {
        const em_block_q8_0 *x = (const em_block_q8_0 *)((const char *)rows + (size_t)r * stride);
        out[r] = keep ? q8_0_row(x, y, nb, yd) : q8_0_row(x, y, nb, NULL);
    }
}

/* Nibbles to 32 signed bytes in value order: low nibbles are values 0..15. */
static inline __m256i q4_unpack(const uint8_t *qs) {
    __m128i v = _mm_loadu_si128((const __m128i *)qs);
    __m256i b = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
    return _mm256_sub_epi8(_mm256_and_si256(b, _mm256_set1_epi8(0x0F)), _mm256_set1_epi8(8));
}

static float q4_0_dot(int64_t n, const void *a, const void *b) {
    const em_block_q4_0 *x = a;
    const em_block_q8_0 *y = b;
    const int64_t nb = n / 32;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m256i p0 = dot_i8(q4_unpack(x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        __m256i p1 = dot_i8(q4_unpack(x[i + 1].qs), _mm256_loadu_si256((const __m256i *)y[i + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d)), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1),
                               _mm256_set1_ps(FP16(x[i + 1].d) * FP16(y[i + 1].d)), acc1);
    }
    for (; i < nb; i++) {
        __m256i p0 = dot_i8(q4_unpack(x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d)), acc0);
    }
    return q32_hsum8(_mm256_add_ps(acc0, acc1));
}

// ---- prefill products (n > 1) -----------------------------------------------------

/* Q8_0 and Q4_0 weights against activations in the panel layout
 * (cpu_kernels_impl.h): QRM weight rows x up to QRN activation rows, one
 * 8-lane float accumulator per output, so each weight block is loaded (and
 * for Q4_0 unpacked) once per QRN activations and each activation block
 * once per QRM rows. Without VNNI the byte products are vpmaddubsw pairs of
 * |w| x sign(x, w), as in the dots above (Q4_0's nibbles made signed
 * first). 8 accumulators, 2 activation vectors, the weight, |w|, a product
 * and the scale fill the 16 registers; the activation scales are broadcast
 * from memory where used, or the accumulators would spill. */
#define QRM 4
#define QRN 2
/* 4 activation rows take 2 x 4 tiles: the same 8 accumulators, each weight
 * block unpacked once for all 4 (a 4-token prompt's products: 2 x 4 where
 * 4 x 2 unpacked each block twice). Every output takes the same steps in
 * either shape, so the same bits. */
#define QRN4 4

static inline __attribute__((always_inline)) void qtile(int q4, int rm, int nc, int64_t nb, const char *const *wr,
                                                        size_t pf, const char *const *xr, float *y, int64_t ldy,
                                                        int nr) {
    __m256 acc[QRM][QRN4];
    for (int r = 0; r < rm; r++)
        for (int c = 0; c < nc; c++) acc[r][c] = _mm256_setzero_ps();
    const float *xd[QRN4];
    for (int c = 0; c < nc; c++) xd[c] = cpu_q8p_d(xr[c], nb);
    const size_t bb = q4 ? sizeof(em_block_q4_0) : sizeof(em_block_q8_0);
    for (int64_t b = 0; b < nb; b++) {
        __m256i xq[QRN4];
        /* the next 4 rows' block b, while the weights come from memory (the
         * first column tile): the hardware prefetcher does not follow 4
         * short interleaved row streams (the AVX-512 tile's finding too).
         * Past the last rows it is an address, never dereferenced. 30
         * layers' 1536 x 576 Q8_0 products, 2 threads, Zen 5: 2 activation
         * rows 1.7-2.3 -> 0.93-0.99 ms, 4 rows 2.2-3.1 -> 1.4 ms. */
        if (pf)
            for (int r = 0; r < rm; r++) _mm_prefetch((const char *)((uintptr_t)wr[r] + pf + (size_t)b * bb), _MM_HINT_T0);
        for (int c = 0; c < nc; c++) xq[c] = _mm256_loadu_si256((const __m256i *)(xr[c] + b * 32));
        for (int r = 0; r < rm; r++) {
            __m256i w;
            float wd;
            if (q4) {
                const em_block_q4_0 *B = (const em_block_q4_0 *)wr[r] + b;
                w = q4_unpack(B->qs);
                wd = FP16(B->d);
            } else {
                const em_block_q8_0 *B = (const em_block_q8_0 *)wr[r] + b;
                w = _mm256_loadu_si256((const __m256i *)B->qs);
                wd = FP16(B->d);
            }
            const __m256 wdv = _mm256_set1_ps(wd);
            const __m256i aw = _mm256_sign_epi8(w, w);
            for (int c = 0; c < nc; c++) {
                __m256i p = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xq[c], w));
                __m256i t = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
                acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), _mm256_mul_ps(wdv, _mm256_broadcast_ss(xd[c] + b)),
                                            acc[r][c]);
            }
        }
    }
    _Static_assert(QRM == 4, "hsum8x4 sums the tile's 4 weight rows");
#pragma GCC unroll 4 /* constant indices: acc stays in registers */
    for (int c = 0; c < nc; c++)
        store_rows4(y + c * ldy, hsum8x4(acc[0][c], acc[1][c], acc[rm > 2 ? 2 : 0][c], acc[rm > 2 ? 3 : 1][c]), nr);
}

static inline __attribute__((always_inline)) void gemm_q(int q4, int64_t k, const void *w, size_t w_stride, int nr,
                                                         const void *x, size_t x_stride, int64_t nc, float *y,
                                                         int64_t ldy) {
    const int64_t nb = k / 32;
    const char *wr[QRM];
    /* rows past nr repeat the last one: computed, never stored */
    for (int r = 0; r < QRM; r++) wr[r] = (const char *)w + (size_t)(r < nr ? r : nr - 1) * w_stride;
    for (int64_t c0 = 0; c0 < nc;) {
        const char *xr[QRN4];
        for (int c = 0; c < QRN4; c++) xr[c] = (const char *)x + (size_t)(c0 + c < nc ? c0 + c : c0) * x_stride;
        const size_t pf = c0 == 0 ? QRM * w_stride : 0;
        if (nc - c0 >= QRN4) {
            qtile(q4, 2, QRN4, nb, wr, pf, xr, y + c0 * ldy, ldy, nr < 2 ? nr : 2);
            if (nr > 2) qtile(q4, 2, QRN4, nb, wr + 2, pf, xr, y + c0 * ldy + 2, ldy, nr - 2);
            c0 += QRN4;
        } else if (nc - c0 >= 2) {
            qtile(q4, QRM, 2, nb, wr, pf, xr, y + c0 * ldy, ldy, nr);
            c0 += 2;
        } else {
            qtile(q4, QRM, 1, nb, wr, pf, xr, y + c0 * ldy, ldy, nr);
            c0 += 1;
        }
    }
}

/* The prefill form, as in cpu_kernels_avx512.c: each group of 16 weight
 * rows (up to JG groups a call) interleaved, 32 blocks at a time on the
 * stack, so that a vector holds a few values of each of 8 rows and the
 * products against one broadcast activation word advance 8 rows, the lanes
 * whole row sums, the float scaling paid once per block instead of once
 * per product. Without VNNI:
 *  - signed weights (Q8_0, IQ4_NL's levels) are stored as int16, two values
 *    of a row a lane, and multiplied by the activations' int16 panel
 *    (q8p16) in vpmaddwd pairs: 4 vector multiplies per 64 products. The
 *    byte route (|w| x sign(x, w) in vpmaddubsw pairs, widened by a
 *    vpmaddwd) takes 6, all on the same two pipes of a Zen 4 (measured: 2
 *    vpsignb, vpmaddubsw or vpmaddwd a cycle, in any mix), and ran 15-19%
 *    slower. Four activation rows a tile (jtile_signed);
 *  - the others store their unsigned value u (Q4_0: q + 8, Q5_0: q + 16,
 *    Q4_1 and Q5_1 as stored), 4 values of a row a lane: a vpmaddubsw pair
 *    is at most 2 * 15 * 128 (4 bits) or 2 * 31 * 128 (5 bits), so 8 steps
 *    (4 for 5 bits) add up in int16 (30,720 and 31,744 < 32,767) before
 *    they are widened, one vpmaddwd per 8 (4) steps: fewer multiplies than
 *    the int16 route; the bias is Q4_0's 8 or Q5_0's 16 times the
 *    activation block's sum, and Q4_1's and Q5_1's offset m times that sum
 *    (Q8_1's s, as their dots take it) is one more multiply-add per block;
 *    two activation rows a tile (jtile), whose int16 sums take the
 *    registers a third row would need.
 * These sum in their own order (Q8_0 and Q4_0 as before; Q5_0, Q4_1, Q5_1
 * and IQ4_NL since their tiles came), so a prefill agrees with llama.cpp and
 * with the decode's vec_dot within rounding, not bit for bit. */
#define JR 16   /* weight rows of a repacked group: two 8-lane vectors */
#define JG 4    /* groups a call may take (gemm_group): each activation tile, once in L1, meets them all */
#define JRN 2   /* activation rows per register tile (unsigned types) */
#define JRS 4   /* the same for the signed ones: int32 sums only, two vectors a row */
#define JKB 32  /* blocks per repacked chunk */
#define JMIN 8  /* fewer activation rows take the tile above (Q8_0, Q4_0): at 8
                 * the two cost the same (30 1536 x 576 Q8_0 products on 2 Zen 5
                 * threads: 2.6-2.7 ms), from 12 rows the packs win */

/* The weight types of the interleaved tile. */
#define JT_SIGNED(t) ((t) == EM_TYPE_Q8_0 || (t) == EM_TYPE_IQ4_NL)
#define JT_WORDS16(t) ((t) == EM_TYPE_Q5_0 || (t) == EM_TYPE_Q5_1 ? 4 : 8) /* steps summed in int16 */
#define JT_BIAS(t) ((t) == EM_TYPE_Q4_0 ? 8 : (t) == EM_TYPE_Q5_0 ? 16 : 0)
#define JT_MIN(t) ((t) == EM_TYPE_Q4_1 || (t) == EM_TYPE_Q5_1)

typedef struct jpack {
    union {
        alignas(32) uint8_t q[JKB][8][JR][4];  /* unsigned types: u, 4 values of a row a lane */
        alignas(32) int16_t w[JKB][16][JR][2]; /* signed ones: w, 2 values of a row a lane */
    };
    alignas(32) float d[JKB][JR];
    alignas(32) float m[JKB][JR];         /* Q4_1, Q5_1: the offset */
} jpack;

/* The pack of up to JR rows' blocks b0 .. b0 + nbk - 1 (rows past nr zero).
 * Two passes: the rows' values in vectors (q32_values), row after row as
 * the matrix lies (one stream for the prefetcher), to 16 KB of stack; then 8
 * rows at a time from there, transposed in registers, so that each 4-value
 * word (unsigned) or int16 pair (signed) of 8 rows is one 32-byte store.
 * Before, each word was its own 4-byte store from a scalar unpack: filling
 * cost about 16 activation rows of products (Zen 5, 30 1536 x 576 Q8_0
 * products on 2 threads: 4.3-5.0 ms at 8 rows, now 2.5-2.6; Q5_0's and
 * IQ4_NL's prefill 1.4-1.6x). */
static inline __attribute__((always_inline)) void jpack_fill(int jt, jpack *p, const char *w, size_t w_stride, int nr,
                                                             int64_t b0, int nbk) {
    alignas(32) int8_t v[JR][JKB][32];
    const size_t bb = em_type_block_bytes((enum em_type)jt);
    for (int r = 0; r < JR; r++) {
        const char *row = w + (size_t)r * w_stride;
        for (int b = 0; b < nbk; b++) {
            __m256i q = _mm256_setzero_si256();
            _mm_prefetch((const char *)((uintptr_t)row + (size_t)(b0 + b) * bb + Q32_FILL_AHEAD), _MM_HINT_T0);
            if (r < nr) q = q32_values((enum em_type)jt, row, b0 + b, &p->d[b][r], &p->m[b][r]);
            else p->d[b][r] = p->m[b][r] = 0.0f;
            _mm256_store_si256((__m256i *)v[r][b], q);
        }
    }
    for (int r8 = 0; r8 < JR; r8 += 8)
        for (int b = 0; b < nbk; b++) {
            __m256i a[8], h[8];
            if (JT_SIGNED(jt)) { /* int16 pairs: values 0-15 are words 0-7, 16-31 words 8-15 */
                for (int i = 0; i < 8; i++) {
                    a[i] = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)v[r8 + i][b]));
                    h[i] = _mm256_cvtepi8_epi16(_mm_load_si128((const __m128i *)(v[r8 + i][b] + 16)));
                }
                x86_transpose8x8(a);
                x86_transpose8x8(h);
                for (int j = 0; j < 8; j++) {
                    _mm256_store_si256((__m256i *)p->w[b][j][r8], a[j]);
                    _mm256_store_si256((__m256i *)p->w[b][j + 8][r8], h[j]);
                }
            } else { /* 4 bytes a word */
                for (int i = 0; i < 8; i++) a[i] = _mm256_load_si256((const __m256i *)v[r8 + i][b]);
                x86_transpose8x8(a);
                for (int j = 0; j < 8; j++) _mm256_store_si256((__m256i *)p->q[b][j][r8], a[j]);
            }
        }
}

/* Word j (4 values) of block b of an activation row in the panel layout,
 * in every lane: the operand each step multiplies 8 weight rows by. */
static inline __attribute__((always_inline)) __m256i jx_word(const char *xr, int64_t b, int j) {
    int32_t xv;
    memcpy(&xv, xr + b * 32 + 4 * j, 4);
    return _mm256_set1_epi32(xv);
}

/* Up to JRS rows of a tile's float sums into y (first: stored, else added);
 * rows past nr through a bounce buffer, never past y's row. */
static inline __attribute__((always_inline)) void jtile_store(int NC, __m256 (*f)[2], float *y, int64_t ldy, int nr,
                                                              int first) {
    for (int c = 0; c < NC; c++) {
        float *yc = y + c * ldy;
        if (nr >= JR) {
            if (!first) {
                f[c][0] = _mm256_add_ps(f[c][0], _mm256_loadu_ps(yc));
                f[c][1] = _mm256_add_ps(f[c][1], _mm256_loadu_ps(yc + 8));
            }
            _mm256_storeu_ps(yc, f[c][0]);
            _mm256_storeu_ps(yc + 8, f[c][1]);
        } else {
            float t[JR];
            _mm256_storeu_ps(t, f[c][0]);
            _mm256_storeu_ps(t + 8, f[c][1]);
            for (int r = 0; r < nr; r++) yc[r] = first ? t[r] : yc[r] + t[r];
        }
    }
}

static inline __attribute__((always_inline)) void jtile(int jt, int NC, const jpack *p, int nbk, int64_t b0, int64_t nb,
                                                        const char *const *xr, float *y, int64_t ldy, int nr,
                                                        int first) {
    __m256 f[JRN][2];
    const float *xd[JRN];
    const int32_t *xs[JRN];
    for (int c = 0; c < NC; c++) {
        f[c][0] = f[c][1] = _mm256_setzero_ps();
        xd[c] = cpu_q8p_d(xr[c], nb);
        xs[c] = cpu_q8p_s(xr[c], nb);
    }
    const __m256i ones = _mm256_set1_epi16(1);
    for (int b = 0; b < nbk; b++) {
        __m256i a[JRN][2];
        for (int c = 0; c < NC; c++) a[c][0] = a[c][1] = _mm256_setzero_si256();
        for (int j0 = 0; j0 < 8; j0 += JT_WORDS16(jt)) {
            __m256i h[JRN][2]; /* unsigned: the int16 sums */
            for (int c = 0; c < NC; c++) h[c][0] = h[c][1] = _mm256_setzero_si256();
            for (int j = j0; j < j0 + JT_WORDS16(jt); j++) {
                const __m256i w0 = _mm256_load_si256((const __m256i *)p->q[b][j][0]);
                const __m256i w1 = _mm256_load_si256((const __m256i *)p->q[b][j][8]);
                for (int c = 0; c < NC; c++) {
                    const __m256i xb = jx_word(xr[c], b0 + b, j);
                    h[c][0] = _mm256_add_epi16(h[c][0], _mm256_maddubs_epi16(w0, xb));
                    h[c][1] = _mm256_add_epi16(h[c][1], _mm256_maddubs_epi16(w1, xb));
                    /* Integer adds reassociate: left to itself, gcc sums the
                     * steps as a tree, every product spilled to the stack
                     * (Q8_0 ran 30% slower). An empty asm that takes and
                     * gives back the sums keeps them in registers, in order. */
                    __asm__("" : "+x"(h[c][0]), "+x"(h[c][1]));
                }
            }
            for (int c = 0; c < NC; c++) {
                a[c][0] = _mm256_add_epi32(a[c][0], _mm256_madd_epi16(h[c][0], ones));
                a[c][1] = _mm256_add_epi32(a[c][1], _mm256_madd_epi16(h[c][1], ones));
            }
        }
        const __m256 d0 = _mm256_load_ps(p->d[b]), d1 = _mm256_load_ps(p->d[b] + 8);
        for (int c = 0; c < NC; c++) {
            if (JT_BIAS(jt)) {
                const __m256i bias = _mm256_set1_epi32(xs[c][b0 + b] * JT_BIAS(jt));
                a[c][0] = _mm256_sub_epi32(a[c][0], bias);
                a[c][1] = _mm256_sub_epi32(a[c][1], bias);
            }
            const __m256 xdv = _mm256_broadcast_ss(xd[c] + b0 + b);
            f[c][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a[c][0]), _mm256_mul_ps(d0, xdv), f[c][0]);
            f[c][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a[c][1]), _mm256_mul_ps(d1, xdv), f[c][1]);
            if (JT_MIN(jt)) { /* m * the activation block's sum, Q8_1's s */
                const __m256 xsum = _mm256_broadcast_ss(cpu_q8p_s1(xr[c], nb) + b0 + b);
                f[c][0] = _mm256_fmadd_ps(_mm256_load_ps(p->m[b]), xsum, f[c][0]);
                f[c][1] = _mm256_fmadd_ps(_mm256_load_ps(p->m[b] + 8), xsum, f[c][1]);
            }
        }
    }
    jtile_store(NC, f, y, ldy, nr, first);
}

/* The signed types' tile (Q8_0, IQ4_NL): JRS activation rows of the q8p16
 * panel, each pair of values broadcast from memory against two vectors of
 * weight pairs, in order into int32 sums; the float scaling as in jtile. */
static inline __attribute__((always_inline)) void jtile_signed(int NC, const jpack *p, int nbk, int64_t b0,
                                                               int64_t nb, const char *const *xr, float *y,
                                                               int64_t ldy, int nr, int first) {
    __m256 f[JRS][2];
    const float *xd[JRS];
    for (int c = 0; c < NC; c++) {
        f[c][0] = f[c][1] = _mm256_setzero_ps();
        xd[c] = cpu_q8p16_d(xr[c], nb);
    }
    for (int b = 0; b < nbk; b++) {
        __m256i a[JRS][2];
        const int16_t *xb[JRS];
        for (int c = 0; c < NC; c++) {
            a[c][0] = a[c][1] = _mm256_setzero_si256();
            xb[c] = (const int16_t *)xr[c] + (b0 + b) * 32;
        }
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) {
            __m256i w0 = _mm256_load_si256((const __m256i *)p->w[b][j][0]);
            __m256i w1 = _mm256_load_si256((const __m256i *)p->w[b][j][8]);
            /* in registers for all NC rows: left to itself gcc folds the
             * loads into every row's vpmaddwd, and the loads then bound
             * the loop */
            __asm__("" : "+x"(w0), "+x"(w1));
            for (int c = 0; c < NC; c++) {
                int32_t xv;
                memcpy(&xv, xb[c] + 2 * j, 4);
                const __m256i x2 = _mm256_set1_epi32(xv);
                a[c][0] = _mm256_add_epi32(a[c][0], _mm256_madd_epi16(w0, x2));
                a[c][1] = _mm256_add_epi32(a[c][1], _mm256_madd_epi16(w1, x2));
                __asm__("" : "+x"(a[c][0]), "+x"(a[c][1])); /* in order, in registers: see jtile */
            }
        }
        const __m256 d0 = _mm256_load_ps(p->d[b]), d1 = _mm256_load_ps(p->d[b] + 8);
        for (int c = 0; c < NC; c++) {
            const __m256 xdv = _mm256_broadcast_ss(xd[c] + b0 + b);
            f[c][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a[c][0]), _mm256_mul_ps(d0, xdv), f[c][0]);
            f[c][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a[c][1]), _mm256_mul_ps(d1, xdv), f[c][1]);
        }
    }
    jtile_store(NC, f, y, ldy, nr, first);
}

static inline __attribute__((always_inline)) void gemm_qj(int jt, int64_t k, const void *w, size_t w_stride, int nr,
                                                          const void *x, size_t x_stride, int64_t nc, float *y,
                                                          int64_t ldy) {
    if (nc < JMIN && (jt == EM_TYPE_Q8_0 || jt == EM_TYPE_Q4_0)) {
        for (int r0 = 0; r0 < nr; r0 += QRM)
            gemm_q(jt == EM_TYPE_Q4_0, k, (const char *)w + (size_t)r0 * w_stride, w_stride, nr - r0 < QRM ? nr - r0 : QRM,
                   x, x_stride, nc, y + r0, ldy);
        return;
    }
    const int64_t nb = k / 32;
    const int ng = (nr + JR - 1) / JR;
    jpack p[JG];
    for (int64_t b0 = 0; b0 < nb; b0 += JKB) {
        const int nbk = (int)(nb - b0 < JKB ? nb - b0 : JKB);
        for (int g = 0; g < ng; g++)
            jpack_fill(jt, &p[g], (const char *)w + (size_t)g * JR * w_stride, w_stride, nr - g * JR, b0, nbk);
        const int step = JT_SIGNED(jt) ? JRS : JRN;
        for (int64_t c0 = 0; c0 < nc; c0 += step) {
            const char *xr[JRS];
            for (int c = 0; c < JRS; c++) xr[c] = (const char *)x + (size_t)(c0 + c < nc ? c0 + c : c0) * x_stride;
            const int64_t left = nc - c0;
            /* the same activation rows, in L1, against each group's rows */
            for (int g = 0; g < ng; g++) {
                const int gr = nr - g * JR < JR ? nr - g * JR : JR;
                float *yg = y + c0 * ldy + g * JR;
                if (JT_SIGNED(jt)) {
                    if (left >= 4) jtile_signed(4, &p[g], nbk, b0, nb, xr, yg, ldy, gr, b0 == 0);
                    else if (left == 3) jtile_signed(3, &p[g], nbk, b0, nb, xr, yg, ldy, gr, b0 == 0);
                    else if (left == 2) jtile_signed(2, &p[g], nbk, b0, nb, xr, yg, ldy, gr, b0 == 0);
                    else jtile_signed(1, &p[g], nbk, b0, nb, xr, yg, ldy, gr, b0 == 0);
                } else if (left >= 2) {
                    jtile(jt, 2, &p[g], nbk, b0, nb, xr, yg, ldy, gr, b0 == 0);
                } else {
                    jtile(jt, 1, &p[g], nbk, b0, nb, xr, yg, ldy, gr, b0 == 0);
                }
            }
        }
    }
}

#define JGEMM(name, jt)                                                                                           \
    static void name(int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int64_t nc, \
                     float *y, int64_t ldy) {                                                                     \
        gemm_qj(jt, k, w, w_stride, nr, x, x_stride, nc, y, ldy);                                                 \
    }
JGEMM(gemm_q8_0, EM_TYPE_Q8_0)
JGEMM(gemm_q4_0, EM_TYPE_Q4_0)
JGEMM(gemm_q5_0, EM_TYPE_Q5_0)
JGEMM(gemm_q4_1, EM_TYPE_Q4_1)
JGEMM(gemm_q5_1, EM_TYPE_Q5_1)
JGEMM(gemm_iq4_nl, EM_TYPE_IQ4_NL)

/* llama.cpp's tinyBLAS tile for F32, F16 and BF16 weights (its n > 1 products when
 * k % 8 == 0 and the row count % 4 == 0): one accumulator of 8 lanes per
 * output, value i in lane i % 8, summed by hsum8. RM weight rows x up to 3
 * activation rows: 12 accumulators, 3 activation vectors and a weight
 * vector fill the 16 registers. */
#define GEMM_RM 4
#define GEMM_RN 3

/* One tile: RM weight rows x NC activation rows (NC a constant after
 * inlining, so a short last tile or a single activation row costs no more
 * than its own products). */
static inline __attribute__((always_inline)) void gemm_block(int f16, int NC, int64_t k, const char *const *wr,
                                                             const char *const *xr, size_t xs, float *y, int64_t ldy, int nr) {
    __m256 acc[GEMM_RM][GEMM_RN];
    for (int r = 0; r < GEMM_RM; r++)
        for (int c = 0; c < NC; c++) acc[r][c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < k; i += 8) {
        __m256 xv[GEMM_RN];
        /* the next tile's activation rows (GEMM_RN rows xs bytes apart,
         * from xr[0] + GEMM_RN * xs), a line an iteration: over the rows'
         * k values the prefetch walks all three rows once. Past the last
         * tile it points beyond x: an address, never dereferenced. On one Zen 5
         * thread, F16 at n = 1024: +4-8% while the machine was slow, the
         * same when fast; two tiles ahead was slower. */
        _mm_prefetch((const char *)((uintptr_t)xr[0] + GEMM_RN * xs + (size_t)(GEMM_RN * i) * (f16 == 0 ? 4 : 2)),
                     _MM_HINT_T0);
        for (int c = 0; c < NC; c++) xv[c] = load8(f16, xr[c], i);
        for (int r = 0; r < GEMM_RM; r++) {
            const __m256 wv = load8(f16, wr[r], i);
            for (int c = 0; c < NC; c++) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    _Static_assert(GEMM_RM == 4, "hsum8x4 sums the tile's 4 weight rows");
#pragma GCC unroll 4 /* constant indices, so acc stays in registers (else -45%) */
    for (int c = 0; c < NC; c++) store_rows4(y + c * ldy, hsum8x4(acc[0][c], acc[1][c], acc[2][c], acc[3][c]), nr);
}

static inline __attribute__((always_inline)) void gemm_tile(int f16, int64_t k, const void *w, size_t w_stride,
                                                            int nr, const void *x, size_t x_stride, int64_t nc,
                                                            float *y, int64_t ldy) {
    const char *wr[GEMM_RM];
    for (int r = 0; r < GEMM_RM; r++) wr[r] = (const char *)w + (size_t)(r < nr ? r : 0) * w_stride;
    for (int64_t c0 = 0; c0 < nc; c0 += GEMM_RN) {
        const char *xr[GEMM_RN];
        for (int c = 0; c < GEMM_RN; c++) xr[c] = (const char *)x + (size_t)(c0 + c) * x_stride;
        switch (nc - c0 < GEMM_RN ? nc - c0 : GEMM_RN) {
        case 1: gemm_block(f16, 1, k, wr, xr, x_stride, y + c0 * ldy, ldy, nr); break;
        case 2: gemm_block(f16, 2, k, wr, xr, x_stride, y + c0 * ldy, ldy, nr); break;
        default: gemm_block(f16, 3, k, wr, xr, x_stride, y + c0 * ldy, ldy, nr); break;
        }
    }
}

static void gemm_f32(int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int64_t nc,
                     float *y, int64_t ldy) {
    gemm_tile(0, k, w, w_stride, nr, x, x_stride, nc, y, ldy);
}

static void gemm_f16(int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int64_t nc,
                     float *y, int64_t ldy) {
    gemm_tile(1, k, w, w_stride, nr, x, x_stride, nc, y, ldy);
}

static void gemm_bf16(int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, int64_t nc,
                      float *y, int64_t ldy) {
    gemm_tile(2, k, w, w_stride, nr, x, x_stride, nc, y, ldy);
}

// ---- exp, softmax, SiLU ------------------------------------------------------------

/* e^x in 8 lanes by the method of Arm's optimized-routines expf, in the form
 * ggml's AVX2 build uses (same steps, same constants, same rounding):
 *   n = round(x / ln 2) (adding and removing 1.5 * 2^23), b = x - n ln 2
 *   with ln 2 in two parts, e^b - 1 ~ b (c1 + b c2 + b^2 (c3 + b c4 + b^2 c5))
 *   in the order below, then 2^n (1 + that) with 2^n built in the exponent
 *   bits. |n| > 126 would leave the exponent's range: 2^n is split in two
 *   factors there, and |n| > 192 gives 0 or inf. */
static inline __m256 exp8(__m256 x) {
    const __m256 shift = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
    const __m256 n = _mm256_sub_ps(z, shift);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    const __m256 two_n = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
    const __m256 abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    const __m256 wide = _mm256_cmp_ps(abs_n, _mm256_set1_ps(126.0f), _CMP_GT_OQ);
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
    const __m256 normal = _mm256_fmadd_ps(two_n, j, two_n);
    if (!_mm256_movemask_ps(wide)) return normal;
    /* 2^n = s1 * s2, s1 = 2^(+-127) by the sign of n */
    const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                       _mm256_set1_epi32((int)0x82000000u));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    const __m256 scaled = _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1);
    const __m256 out = _mm256_cmp_ps(abs_n, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    return _mm256_blendv_ps(_mm256_blendv_ps(normal, scaled, wide), _mm256_mul_ps(s1, s1), out);
}

static double softmax_exp(int64_t n, float *y, const float *x, float max) {
    double sum = 0.0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(max)));
        _mm256_storeu_ps(y + i, e);
        sum += q32_hsum8(e);
    }
    for (; i < n; i++) {
        y[i] = expf(x[i] - max);
        sum += y[i];
    }
    return sum;
}

/* Two passes: the max (4 accumulators, read only), then the exp of one
 * FMA per value with 2 sum accumulators (the exp's own chain is long
 * enough to hide the adds' latency at 2). */
static float softmax_row(int64_t n, float *x, float scale) {
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
        m1 = _mm256_max_ps(m1, _mm256_loadu_ps(x + i + 8));
        m2 = _mm256_max_ps(m2, _mm256_loadu_ps(x + i + 16));
        m3 = _mm256_max_ps(m3, _mm256_loadu_ps(x + i + 24));
    }
    for (; i + 8 <= n; i += 8) m0 = _mm256_max_ps(m0, _mm256_loadu_ps(x + i));
    alignas(32) float l[8];
    _mm256_store_ps(l, _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
    float m = l[0];
    for (int j = 1; j < 8; j++) m = l[j] > m ? l[j] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    const float nb = -(scale * m);
    const __m256 sv = _mm256_set1_ps(scale), bv = _mm256_set1_ps(nb);
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    for (i = 0; i + 16 <= n; i += 16) {
        const __m256 e0 = exp8(_mm256_fmadd_ps(_mm256_loadu_ps(x + i), sv, bv));
        const __m256 e1 = exp8(_mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), sv, bv));
        _mm256_storeu_ps(x + i, e0);
        _mm256_storeu_ps(x + i + 8, e1);
        s0 = _mm256_add_ps(s0, e0);
        s1 = _mm256_add_ps(s1, e1);
    }
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_fmadd_ps(_mm256_loadu_ps(x + i), sv, bv));
        _mm256_storeu_ps(x + i, e);
        s0 = _mm256_add_ps(s0, e);
    }
    float sum = q32_hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++) {
        x[i] = expf(fmaf(x[i], scale, nb));
        sum += x[i];
    }
    return sum;
}

/* max(x, m) keeps m where x is NaN, as the reference's x > m does. */
static float scale_max(int64_t n, float *x, float scale) {
    const __m256 sv = _mm256_set1_ps(scale);
    __m256 mv = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), sv);
        _mm256_storeu_ps(x + i, v);
        mv = _mm256_max_ps(v, mv);
    }
    alignas(32) float l[8];
    _mm256_store_ps(l, mv);
    float m = -INFINITY;
    for (int j = 0; j < 8; j++)
        if (l[j] > m) m = l[j];
    for (; i < n; i++) {
        x[i] *= scale;
        if (x[i] > m) m = x[i];
    }
    return m;
}

static void swiglu(int64_t n, float *y, const float *g, const float *u) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i);
        const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
        const __m256 silu = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(silu, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* GELU as a sigmoid of the tanh form's argument, with exp8 (the tail and
 * the reference with expf). */
/* 32 columns per step in four 8-lane int32 sums (the taps' products are
 * exact, as in the reference); the sums' shift, saturating packs to bytes
 * (the clamp) and one permute back to column order; the tail as the
 * reference. */
static void resample_u8(int64_t n, uint8_t *dst, const uint8_t *src, size_t stride, const int32_t *k, int ntaps) {
    const __m256i half = _mm256_set1_epi32(1 << (CPU_RESAMPLE_BITS - 1));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i a0 = half, a1 = half, a2 = half, a3 = half;
        const uint8_t *p = src + i;
        for (int t = 0; t < ntaps; t++, p += stride) {
            const __m256i c = _mm256_set1_epi32(k[t]);
            a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(c, _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p))));
            a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(c, _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8)))));
            a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(c, _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 16)))));
            a3 = _mm256_add_epi32(a3, _mm256_mullo_epi32(c, _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 24)))));
        }
        a0 = _mm256_srai_epi32(a0, CPU_RESAMPLE_BITS);
        a1 = _mm256_srai_epi32(a1, CPU_RESAMPLE_BITS);
        a2 = _mm256_srai_epi32(a2, CPU_RESAMPLE_BITS);
        a3 = _mm256_srai_epi32(a3, CPU_RESAMPLE_BITS);
        /* per 128-bit lane the packs interleave a0..a3 by 4 columns: dwords
         * (a0 0-3, a1 0-3, a2 0-3, a3 0-3 | a0 4-7, ...); the permute
         * restores 0..31 */
        const __m256i b = _mm256_packus_epi16(_mm256_packs_epi32(a0, a1), _mm256_packs_epi32(a2, a3));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_permutevar8x32_epi32(b, order));
    }
    cpu_resample_u8_cols(i, n, dst, src, stride, k, ntaps);
}

static void gelu(int64_t n, float *y, const float *x) {
    const float c2 = 2.0f * 0.7978845608028654f;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
        const __m256 z = _mm256_mul_ps(_mm256_set1_ps(-c2), _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), v3, v));
        _mm256_storeu_ps(y + i, _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(z))));
    }
    for (; i < n; i++) y[i] = x[i] / (1.0f + expf(-c2 * (x[i] + 0.044715f * x[i] * x[i] * x[i])));
}

/* 4 pairs a step: x0 in both lanes of a pair times (c, s), onto x1 in both
 * times (-s, c): each lane the reference's one FMA and one product. */
static void rope(int64_t n_pairs, float *x, const float *cs) {
    const __m256 neg_even = _mm256_castsi256_ps(_mm256_setr_epi32(INT32_MIN, 0, INT32_MIN, 0, INT32_MIN, 0, INT32_MIN, 0));
    int64_t i = 0;
    for (; i + 4 <= n_pairs; i += 4) {
        const __m256 v = _mm256_loadu_ps(x + 2 * i), c = _mm256_loadu_ps(cs + 2 * i);
        const __m256 d = _mm256_xor_ps(_mm256_permute_ps(c, 0xB1), neg_even); /* (-s, c) */
        _mm256_storeu_ps(x + 2 * i,
                         _mm256_fmadd_ps(_mm256_moveldup_ps(v), c, _mm256_mul_ps(_mm256_movehdup_ps(v), d)));
    }
    for (; i < n_pairs; i++) {
        const float x0 = x[2 * i], x1 = x[2 * i + 1], c = cs[2 * i], s = cs[2 * i + 1];
        x[2 * i] = fmaf(x0, c, -(x1 * s));
        x[2 * i + 1] = fmaf(x0, s, x1 * c);
    }
}

/* The attention's p . V in vec_dot's lanes (32 slots: value t in slot t % 32,
 * = accumulator (t / 8) % 4, lane t % 8) or the tile's (8 slots). Each slot
 * is a row of ncols partial sums, so the products stay vectors over d. */
static void attn_pv(int64_t n, const void *v, size_t v_stride, enum em_type vt, const void *p, int ncols,
                    float *out, float *work, int tiled) {
    const int S = tiled ? 8 : 32, f16 = vt == EM_TYPE_F16;
    /* a short row count fills only the first n slots; one zero row stands
     * for the rest. The vector loop below stores its columns of the slots
     * below used whole; only the scalar tail's columns add into work, so
     * only they need clearing (all of work was 8 KB a head, 5% of a decode's
     * attention). */
    const int used = n < S ? (int)n : S;
    const int d8 = ncols & ~7;
    if (used < S) memset(work + (size_t)used * (size_t)ncols, 0, (size_t)ncols * sizeof(float));
    if (d8 < ncols)
        for (int s = 0; s < used; s++) memset(work + (size_t)s * (size_t)ncols + d8, 0, (size_t)(ncols - d8) * sizeof(float));
    /* Slot by slot: a slot's chain (rows t = s, s + S, ...) stays in
     * registers, 32 columns at a time, instead of a load and a store of the
     * slot per row; the same FMAs in the same order. */
    for (int d = 0; d < d8; d += 32) {
        const int nv = d8 - d >= 32 ? 4 : (d8 - d) / 8;
        for (int sl = 0; sl < used; sl++) {
            __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
            for (int64_t t = sl; t < n; t += S) {
                const char *row = (const char *)v + (size_t)t * v_stride;
                const __m256 pv = _mm256_set1_ps(f16 ? _cvtsh_ss(((const em_fp16 *)p)[t]) : ((const float *)p)[t]);
                if (nv == 4) {
                    for (int j = 0; j < 4; j++) acc[j] = _mm256_fmadd_ps(load8(f16, row, d + 8 * j), pv, acc[j]);
                } else {
                    for (int j = 0; j < nv; j++) acc[j] = _mm256_fmadd_ps(load8(f16, row, d + 8 * j), pv, acc[j]);
                }
            }
            float *w = work + (size_t)sl * (size_t)ncols + d;
            for (int j = 0; j < nv; j++) _mm256_storeu_ps(w + 8 * j, acc[j]);
        }
    }
    for (int64_t t = 0; t < n && d8 < ncols; t++) {
        const char *row = (const char *)v + (size_t)t * v_stride;
        const float pt = f16 ? _cvtsh_ss(((const em_fp16 *)p)[t]) : ((const float *)p)[t];
        float *acc = work + (size_t)(t % S) * (size_t)ncols;
        for (int d = d8; d < ncols; d++)
            acc[d] = fmaf(f16 ? _cvtsh_ss(((const em_fp16 *)row)[d]) : ((const float *)row)[d], pt, acc[d]);
    }
    /* lane l of accumulator a is slot a * 8 + l; the sums below are each
     * column's own, 8 columns to a vector (a scalar tail for the rest) */
    const float *L[32];
    for (int s = 0; s < S; s++) L[s] = work + (size_t)(s < used ? s : used) * (size_t)ncols;
    int d = 0;
    for (; d + 8 <= ncols; d += 8) {
        __m256 l[8];
        for (int i = 0; i < 8; i++)
            l[i] = tiled ? _mm256_loadu_ps(L[i] + d)
                         : _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(L[i] + d), _mm256_loadu_ps(L[16 + i] + d)),
                                         _mm256_add_ps(_mm256_loadu_ps(L[8 + i] + d), _mm256_loadu_ps(L[24 + i] + d)));
        const __m256 a0 = _mm256_add_ps(l[0], l[4]), a1 = _mm256_add_ps(l[1], l[5]);
        const __m256 a2 = _mm256_add_ps(l[2], l[6]), a3 = _mm256_add_ps(l[3], l[7]);
        _mm256_storeu_ps(out + d, tiled ? _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3))
                                        : _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    }
    for (; d < ncols; d++) {
        float l[8];
        for (int i = 0; i < 8; i++) l[i] = tiled ? L[i][d] : (L[i][d] + L[16 + i][d]) + (L[8 + i][d] + L[24 + i][d]);
        const float a0 = l[0] + l[4], a1 = l[1] + l[5], a2 = l[2] + l[6], a3 = l[3] + l[7];
        out[d] = tiled ? (a0 + a2) + (a1 + a3) : (a0 + a1) + (a2 + a3);
    }
}

/* The F32 NN product (cpu_sgemm_fn): MR <= 6 rows of a by 16 columns of b
 * in 12 accumulators. Masked loads and stores only at the right edge
 * (FULL == 0): AMD's masked stores are microcoded and cost a whole tile's
 * worth of the scores' products. */
static inline __attribute__((always_inline)) void sgemm_tile(int MR, int FULL, int64_t k, const float *a, int64_t lda,
                                                             const float *b, int64_t ldb, float *c, int64_t ldc,
                                                             __m256i m0, __m256i m1) {
    __m256 acc[6][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t p = 0; p < k; p++) {
        const float *bp = b + p * ldb;
        const __m256 b0 = FULL ? _mm256_loadu_ps(bp) : _mm256_maskload_ps(bp, m0);
        const __m256 b1 = FULL ? _mm256_loadu_ps(bp + 8) : _mm256_maskload_ps(bp + 8, m1);
        for (int r = 0; r < MR; r++) {
            const __m256 av = _mm256_broadcast_ss(a + r * lda + p);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < MR; r++) {
        if (FULL) {
            _mm256_storeu_ps(c + r * ldc, acc[r][0]);
            _mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
        } else {
            _mm256_maskstore_ps(c + r * ldc, m0, acc[r][0]);
            _mm256_maskstore_ps(c + r * ldc + 8, m1, acc[r][1]);
        }
    }
}

#define SGEMM_ROWS(FULL)                                                                     \
    switch (m - i < 6 ? m - i : 6) {                                                         \
    case 1: sgemm_tile(1, FULL, k, ai, lda, b + j, ldb, ci, ldc, m0, m1); break;             \
    case 2: sgemm_tile(2, FULL, k, ai, lda, b + j, ldb, ci, ldc, m0, m1); break;             \
    case 3: sgemm_tile(3, FULL, k, ai, lda, b + j, ldb, ci, ldc, m0, m1); break;             \
    case 4: sgemm_tile(4, FULL, k, ai, lda, b + j, ldb, ci, ldc, m0, m1); break;             \
    case 5: sgemm_tile(5, FULL, k, ai, lda, b + j, ldb, ci, ldc, m0, m1); break;             \
    default: sgemm_tile(6, FULL, k, ai, lda, b + j, ldb, ci, ldc, m0, m1); break;            \
    }

static void sgemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                  int64_t ldc) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t j = 0; j < n; j += 16) {
        const int w = (int)(n - j < 16 ? n - j : 16);
        const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(w), lane);
        const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(w - 8), lane);
        for (int64_t i = 0; i < m; i += 6) {
            const float *ai = a + i * lda;
            float *ci = c + i * ldc + j;
            if (w == 16) {
                SGEMM_ROWS(1)
            } else {
                SGEMM_ROWS(0)
            }
        }
    }
}
#undef SGEMM_ROWS

void cpu_kernels_init_avx2(cpu_kernels *k) {
    k->isa = "avx2";
    k->to_float[EM_TYPE_F16] = f16_to_float;
    k->to_float[EM_TYPE_BF16] = bf16_to_float;
    k->from_float[EM_TYPE_F16] = f16_from_float;
    k->from_float[EM_TYPE_BF16] = bf16_from_float;
    k->from_float[EM_TYPE_Q8_0] = q8_0_from_float;
    k->vec_dot[EM_TYPE_F32] = f32_dot;
    k->vec_dot[EM_TYPE_F16] = f16_dot;
    k->vec_dot_rows[EM_TYPE_F32] = f32_dot_rows;
    k->vec_dot_rows[EM_TYPE_F16] = f16_dot_rows;
    k->vec_dot_rows[EM_TYPE_Q8_0] = q8_0_dot_rows;
    k->vec_dot[EM_TYPE_BF16] = bf16_dot;
    k->vec_dot[EM_TYPE_Q8_0] = q8_0_dot;
    k->vec_dot[EM_TYPE_Q4_0] = q4_0_dot;
    cpu_quant_32_init_avx2(k); /* Q4_1, Q5_0, Q5_1, IQ4_NL (cpu_quant_32_avx2.c) */
    k->gemm[EM_TYPE_F32] = gemm_f32;
    k->gemm[EM_TYPE_F16] = gemm_f16;
    k->gemm[EM_TYPE_BF16] = gemm_bf16;
    k->gemm[EM_TYPE_Q8_0] = gemm_q8_0;
    k->gemm[EM_TYPE_Q4_0] = gemm_q4_0;
    k->gemm[EM_TYPE_Q5_0] = gemm_q5_0;
    k->gemm[EM_TYPE_Q4_1] = gemm_q4_1;
    k->gemm[EM_TYPE_Q5_1] = gemm_q5_1;
    k->gemm[EM_TYPE_IQ4_NL] = gemm_iq4_nl;
    static const enum em_type jts[] = {EM_TYPE_Q8_0, EM_TYPE_Q4_0, EM_TYPE_Q5_0, EM_TYPE_Q4_1, EM_TYPE_Q5_1, EM_TYPE_IQ4_NL};
    for (size_t i = 0; i < sizeof jts / sizeof jts[0]; i++) {
        k->gemm_rows[jts[i]] = JR;
        k->gemm_group[jts[i]] = JG;
    }
    /* the signed types' tile reads the q8p16 panel; Q8_0's below JMIN rows
     * the byte one (gemm_q) */
    k->panel16_n[EM_TYPE_Q8_0] = JMIN;
    k->panel16_n[EM_TYPE_IQ4_NL] = 2;
    for (int t = 0; t < EM_TYPE_COUNT; t++) {
        if (t != EM_TYPE_F32 && t != EM_TYPE_F16 && t != EM_TYPE_BF16) continue;
        k->gemm_rows[t] = GEMM_RM;
        k->gemm_k[t] = 8;
        k->gemm_m[t] = 4;
    }
    k->softmax_exp = softmax_exp;
    k->scale_max = scale_max;
    k->softmax_row = softmax_row;
    k->softmax_chunk = 8;
    k->swiglu = swiglu;
    k->gelu = gelu;
    k->rope = rope;
    k->attn_pv = attn_pv;
    k->pv_work = 32;
    k->sgemm = sgemm;
    k->resample_u8 = resample_u8;
    cpu_kernels_init_kquants_avx2(k);
}
