/* cpu_kernels_avx2.c - AVX2 + FMA + F16C kernels (x86-64 from Haswell / Zen 1).
 *
 * Same results as cpu_kernels_ref.c up to summation order; the Q8_0 and F16
 * quantizers are bit-exact with the reference. Int8 products use vpmaddubsw,
 * which wants an unsigned operand: |a| * sign(b, a) keeps both within range
 * (127 * 127 * 2 < 32767, so the 16-bit pair sums never saturate). */
#include <immintrin.h>

#include "cpu_kernels_impl.h"

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
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
    const __m256 signmask = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / 32; i++, src += 32) {
        __m256 v[4], amax = _mm256_setzero_ps();
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_loadu_ps(src + 8 * j);
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(signmask, v[j]));
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        /* as cpu_quantize_row_q8_0_act: 127/amax, ties to even */
        const float amaxs = _mm_cvtss_f32(m4);
        const float d = amaxs / 127.0f;
        const float id = amaxs != 0.0f ? 127.0f / amaxs : 0.0f;
        y[i].d = em_fp32_to_fp16(d);
        __m256i q[4];
        for (int j = 0; j < 4; j++)
            q[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[j], _mm256_set1_ps(id)),
                                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        /* packs interleave 128-bit lanes; the permute restores element order */
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[i].qs, p);
    }
}

// ---- dot products ---------------------------------------------------------------

static float f32_dot(int64_t n, const void *a, const void *b) {
    const float *x = a, *y = b;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += x[i] * y[i];
    return s;
}

#define LOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define LOAD_BF16(p) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))

static float f16_dot(int64_t n, const void *a, const void *b) {
    const em_fp16 *x = a, *y = b;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(LOAD_F16(x + i), LOAD_F16(y + i), s0);
        s1 = _mm256_fmadd_ps(LOAD_F16(x + i + 8), LOAD_F16(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(LOAD_F16(x + i + 16), LOAD_F16(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(LOAD_F16(x + i + 24), LOAD_F16(y + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(LOAD_F16(x + i), LOAD_F16(y + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += em_fp16_to_fp32(x[i]) * em_fp16_to_fp32(y[i]);
    return s;
}

static float bf16_dot(int64_t n, const void *a, const void *b) {
    const em_bf16 *x = a, *y = b;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(LOAD_BF16(x + i), LOAD_BF16(y + i), s0);
        s1 = _mm256_fmadd_ps(LOAD_BF16(x + i + 8), LOAD_BF16(y + i + 8), s1);
        s2 = _mm256_fmadd_ps(LOAD_BF16(x + i + 16), LOAD_BF16(y + i + 16), s2);
        s3 = _mm256_fmadd_ps(LOAD_BF16(x + i + 24), LOAD_BF16(y + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(LOAD_BF16(x + i), LOAD_BF16(y + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += em_bf16_to_fp32(x[i]) * em_bf16_to_fp32(y[i]);
    return s;
}

/* Two accumulators so consecutive blocks' FMAs do not wait on each other. */
static float q8_0_dot(int64_t n, const void *a, const void *b) {
    const em_block_q8_0 *x = a, *y = b;
    const int64_t nb = n / 32;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m256i p0 = dot_i8(_mm256_loadu_si256((const __m256i *)x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        __m256i p1 = dot_i8(_mm256_loadu_si256((const __m256i *)x[i + 1].qs),
                            _mm256_loadu_si256((const __m256i *)y[i + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d)), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1),
                               _mm256_set1_ps(FP16(x[i + 1].d) * FP16(y[i + 1].d)), acc1);
    }
    for (; i < nb; i++) {
        __m256i p0 = dot_i8(_mm256_loadu_si256((const __m256i *)x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_set1_ps(FP16(x[i].d) * FP16(y[i].d)), acc0);
    }
    return hsum8(_mm256_add_ps(acc0, acc1));
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
    return hsum8(_mm256_add_ps(acc0, acc1));
}

void cpu_kernels_init_avx2(cpu_kernels *k) {
    k->isa = "avx2";
    k->to_float[EM_TYPE_F16] = f16_to_float;
    k->to_float[EM_TYPE_BF16] = bf16_to_float;
    k->from_float[EM_TYPE_F16] = f16_from_float;
    k->from_float[EM_TYPE_BF16] = bf16_from_float;
    k->from_float[EM_TYPE_Q8_0] = q8_0_from_float;
    k->vec_dot[EM_TYPE_F32] = f32_dot;
    k->vec_dot[EM_TYPE_F16] = f16_dot;
    k->vec_dot[EM_TYPE_BF16] = bf16_dot;
    k->vec_dot[EM_TYPE_Q8_0] = q8_0_dot;
    k->vec_dot[EM_TYPE_Q4_0] = q4_0_dot;
}
