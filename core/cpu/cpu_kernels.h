/* cpu_kernels.h - the CPU's numeric kernels: block (de)quantization, dot
 * products that work on blocks directly, and the matrix products.
 *
 * Each weight type has a "dot type" the activations are converted to before a
 * product, as llama.cpp does, so results agree with it:
 *     F32 -> F32, F16 -> F16, BF16 -> BF16, Q8_0 -> Q8_0, Q4_0 -> Q8_0,
 *     Q5_0 -> Q8_0, IQ4_NL -> Q8_0, Q4_1 -> Q8_1, Q5_1 -> Q8_1.
 *     Q2_K..Q6_K -> Q8_K (cpu_quant_k.c; x86 gemm tiles give vec_dot's bits).
 * Variants: a portable scalar reference (cpu_kernels_ref.c) always exists; SIMD
 * variants (AVX2+FMA+F16C, AVX-512, AVX-512 with AVX512_BF16's BF16 products,
 * NEON, NEON with dotprod) live in their own files and are picked once, at
 * cpu_kernels_init, from what the running CPU reports, unless
 * EMBER_CPU_DISABLE_SIMD=1 (or _AVX512=1, _BF16=1, _DOTPROD=1) in the
 * environment forces a fallback.
 * Tests compare every variant with the reference.
 *
 * Agreement with llama.cpp to the last bit: with F16 (and BF16, Q8_0)
 * products every activation is rounded to the dot type first, so two
 * implementations that differ by one float ulp anywhere upstream drift
 * apart by whole fp16 roundings and end ~1e-3 apart in a probability, the
 * conformance tests' tolerance. So the x86 variants sum where llama.cpp's CPU
 * backend (ggml) sums on the same machine, in the same lanes and order:
 * vec_dot as ggml's vec_dot for a single row (decode), gemm as its tinyBLAS
 * tile for several rows (prefill) on exactly the shapes tinyBLAS takes
 * (gemm_k, gemm_m), attn_pv as its product of the transposed value cache,
 * softmax_exp and swiglu with its SIMD exp. The AVX2 variant follows ggml's
 * AVX2 build ("haswell"), the AVX-512 one its AVX-512 builds without
 * AVX512-FP16 ("zen4", "icelake", ...). F32 models then agree bit for bit
 * but for the final softmax, and F16 and BF16 ones on AVX2, and F16 ones on
 * AVX-512, Q4_1, Q5_0 and Q5_1 ones fed a token at a time (their prefill
 * tiles sum in their own order: F16's on AVX-512 is the outer-product
 * gemm_fx, 5-14% faster a prompt; tests/conformance.sh checks both), and
 * BF16 ones where
 * the CPU has AVX512_BF16 (vdpbf16ps, as llama.cpp's builds for such CPUs);
 * BF16 on other AVX-512 CPUs, Q8_0 and Q4_0 still sum in their own order,
 * and IQ4_NL where llama.cpp repacks its weights.
 * The table is immutable after init; any thread may use it. */
#ifndef EMBER_CPU_KERNELS_H
#define EMBER_CPU_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/threadpool.h"
#include "core/types.h"

typedef void (*cpu_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*cpu_from_float_fn)(const float *src, void *dst, int64_t n);
/* Dot product of n values: a in the weight type, b in its dot type. */
typedef float (*cpu_vec_dot_fn)(int64_t n, const void *a, const void *b);
/* out[t] = vec_dot(n, rows + t * stride, x) for t < nrows, bit for bit: a
 * decode step's attention scores, one query against every cached key. */
typedef void (*cpu_vec_dot_rows_fn)(int64_t n, const void *rows, size_t stride, int64_t nrows, const void *x,
                                    float *out);
/* Matrix-matrix micro-kernel (the n > 1 path): for the nr weight rows at w
 * (row stride w_stride, nr <= gemm_rows, or gemm_group tiles of them) and
 * nc activation rows at x (row stride x_stride, any nc >= 1),
 * y[c*ldy + r] = dot(w row r, x row c).
 * Activations are in the dot type, except for the 32-value block types
 * whose dot type is Q8_0 or Q8_1 (Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, IQ4_NL):
 * theirs are in the GEMM panel layout of cpu_kernels_impl.h, with 16-bit
 * values where nc >= panel16_n (cpu_kernels). */
typedef void (*cpu_gemm_fn)(int64_t k, const void *w, size_t w_stride, int nr, const void *x,
                            size_t x_stride, int64_t nc, float *y, int64_t ldy);
/* The same call as an outer product (gemm_fx, F16 weights): for nr <=
 * gemm_fx_rows weight rows, any k >= 1 and nc >= 1, x holding floats (row
 * stride x_stride bytes; cpu_matmul gives the activations rounded to F16,
 * the dot type, and widened back),
 *     y[c*ldy + r] = one fused multiply-add chain over p = 0 .. k-1 in order,
 *                    starting from 0, of w[r][p] * x[c][p]
 * so every variant gives cpu_gemm_fx_ref's bits, whatever its tiles. The
 * kernel copies its weight rows transposed into a panel on its stack (value
 * p of each row side by side), so a step over p takes one broadcast
 * activation against a whole vector of weight rows: no horizontal sums and
 * a widening per vector of weights, where the dot-shaped tile (gemm) widens
 * activations and weights alike at every step and sums lanes at the end. */
void cpu_gemm_fx_ref(int64_t k, const void *w, size_t w_stride, int nr, const float *x, size_t x_stride,
                     int64_t nc, float *y, int64_t ldy);
/* y[i] = exp(x[i] - max) for i < n, returning the sum of the y[i] in double:
 * a softmax's numerators and denominator. n is a multiple of softmax_chunk
 * (x padded with -INFINITY past the real values: their y is 0). y may be x. */
typedef double (*cpu_softmax_exp_fn)(int64_t n, float *y, const float *x, float max);
/* x[i] *= scale for i < n, returning the largest product (-INFINITY for
 * n == 0; NaNs are skipped): the attention scores' scaling and the max their
 * softmax subtracts, in one pass. Exact, so every variant gives the
 * reference's bits. */
typedef float (*cpu_scale_max_fn)(int64_t n, float *x, float scale);
/* A softmax row bound to no one's summation order (the encoder's attention):
 * x[i] = exp(scale * x[i] - scale * max) for i < n, max the largest x[i],
 * returning the sum of the new x[i] in float. Any n >= 1 (no padding), scale
 * > 0, finite values. One pass fewer than scale_max and softmax_exp, and
 * sums in vector accumulators instead of llama.cpp's per-vector sum into a
 * double. Each value within the exp's ~2.5 ulp of exp(fmaf(x[i], scale,
 * -(scale * max))). */
typedef float (*cpu_softmax_row_fn)(int64_t n, float *x, float scale);
/* y[i] = silu(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i]. y may be g or u. */
typedef void (*cpu_swiglu_fn)(int64_t n, float *y, const float *g, const float *u);
/* GELU, tanh form, written as a sigmoid: y[i] = x / (1 + exp(-2c (x + 0.044715 x^3))),
 * c = sqrt(2 / pi) (the ViT's activation). y may be x. */
typedef void (*cpu_gelu_fn)(int64_t n, float *y, const float *x);
/* RoPE's rotation of n_pairs adjacent pairs (x[2i], x[2i+1]) in place by
 * the angles whose cosine and sine are cs[2i], cs[2i+1]:
 *     x0 c - x1 s,  x0 s + x1 c,
 * each one fused multiply-add of x0's product onto the rounded product of
 * x1 (what GCC makes of ggml's rotation in llama.cpp's x86-64 FMA builds),
 * so every variant gives the reference's bits. */
typedef void (*cpu_rope_fn)(int64_t n_pairs, float *x, const float *cs);
/* An attention's weighted sum of values, the transpose of a dot product:
 *     out[d] = sum_t p[t] * v[t][d]      for d < ncols, t < n
 * v: n rows (row stride v_stride bytes) of type vt (F16 or F32); p: n
 * weights in vt's dot type. Each out[d] is summed in the lanes the dot
 * product over t would use: vec_dot's (tiled == 0) or the gemm tile's
 * (tiled == 1), as if the rows past n were zeros. work: pv_work * ncols
 * floats. */
typedef void (*cpu_attn_pv_fn)(int64_t n, const void *v, size_t v_stride, enum em_type vt, const void *p,
                               int ncols, float *out, float *work, int tiled);

/* F32 product with B row-major (the "NN" form, beta = 0):
 *     c[i*ldc + j] = sum_p a[i*lda + p] * b[p*ldb + j]    i < m, j < n, p < k
 * any m, n, k >= 1; strides in floats. A register tile of rows of a against
 * vectors of b's rows (a value broadcast, an outer product per p), so no
 * horizontal sums and each b vector serves several rows: the form of a
 * ViT's attention, whose scores are Q by K^T (K transposed once per head)
 * and whose output is P by V as V is stored. Every c[i][j] is one fused
 * multiply-add chain over p in order, so all variants are bit-identical to
 * the reference. */
typedef void (*cpu_sgemm_fn)(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
                             int64_t ldb, float *c, int64_t ldc);

/* One output row of an 8-bit separable image resampler in Pillow's fixed
 * point (CPU_RESAMPLE_BITS fraction bits, Pillow's PRECISION_BITS):
 *     dst[i] = clamp((2^(bits-1) + sum_t k[t] * src[t * stride + i]) >> bits, 0, 255)
 * for i < n, t < ntaps: the taps are rows stride bytes apart, so the same
 * call makes a vertical pass and, over a transposed strip, a horizontal one.
 * Integer sums are exact, so every variant gives the reference's bytes (and
 * Pillow's). The sums fit an int32 for coefficients that sum to 1 in this
 * fixed point with absolute values summing below 2 (a Lanczos kernel's: about 1.3). */
#define CPU_RESAMPLE_BITS 22
typedef void (*cpu_resample_u8_fn)(int64_t n, uint8_t *dst, const uint8_t *src, size_t stride, const int32_t *k,
                                   int ntaps);

typedef struct cpu_kernels {
    const char *isa;                           /* "avx512-bf16", "avx512", "avx2", "neon-dotprod", "neon", "scalar" */
    enum em_type dot_type[EM_TYPE_COUNT];      /* activation type per weight type */
    cpu_to_float_fn to_float[EM_TYPE_COUNT];   /* dequantize a row */
    cpu_from_float_fn from_float[EM_TYPE_COUNT]; /* quantize/convert a row */
    cpu_vec_dot_fn vec_dot[EM_TYPE_COUNT];     /* indexed by weight type */
    cpu_vec_dot_rows_fn vec_dot_rows[EM_TYPE_COUNT]; /* optional (NULL: vec_dot per row) */
    cpu_gemm_fn gemm[EM_TYPE_COUNT];           /* optional (NULL: vec_dot loops) */
    int gemm_rows[EM_TYPE_COUNT];              /* weight rows per gemm call */
    /* Up to this many gemm_rows tiles in one call (nr <= gemm_group *
     * gemm_rows), where a call meets each activation tile once for all of
     * them; 0 or 1: one tile a call. */
    int gemm_group[EM_TYPE_COUNT];
    /* Shapes the gemm is used for: k a multiple of gemm_k and every matrix's
     * row count a multiple of gemm_m; other products use vec_dot. */
    int gemm_k[EM_TYPE_COUNT];
    int gemm_m[EM_TYPE_COUNT];
    /* Optional: the outer-product form of the tile (above cpu_gemm_fx_ref),
     * which cpu_matmul then uses for every product of n > 1 activation rows
     * of this weight type, whatever its shape, in place of gemm and vec_dot;
     * at most gemm_fx_rows weight rows a call. AVX-512's F16 only. */
    cpu_gemm_fn gemm_fx[EM_TYPE_COUNT];
    int gemm_fx_rows[EM_TYPE_COUNT];
    /* Panel types whose gemm takes the panel's values as int16 (the q8p16
     * layout of cpu_kernels_impl.h) for this many activation rows or more;
     * 0: never. */
    int panel16_n[EM_TYPE_COUNT];
    cpu_softmax_exp_fn softmax_exp;
    int softmax_chunk;                         /* softmax_exp takes multiples of this */
    cpu_scale_max_fn scale_max;
    cpu_softmax_row_fn softmax_row;
    cpu_swiglu_fn swiglu;
    cpu_gelu_fn gelu;
    cpu_rope_fn rope;
    cpu_attn_pv_fn attn_pv;
    int pv_work;                               /* attn_pv's work floats per column */
    cpu_sgemm_fn sgemm;
    cpu_resample_u8_fn resample_u8;
} cpu_kernels;

/* Fill k for this CPU (honouring EMBER_CPU_DISABLE_* variables). */
void cpu_kernels_init(cpu_kernels *k);
/* The portable reference table (what tests compare against). */
void cpu_kernels_init_ref(cpu_kernels *k);
/* Fill k with one named variant ("scalar", "avx2", "avx512", "avx512-bf16",
 * "neon", "neon-dotprod"), ignoring
 * the environment; returns 0, or -1 (k untouched) if this build or CPU lacks it.
 * For tests and benchmarks that compare variants. */
int cpu_kernels_init_isa(cpu_kernels *k, const char *isa);

/* Reference quantizers with llama.cpp's rounding, used by writers and tests. */
void cpu_quantize_row_q8_0_ref(const float *x, em_block_q8_0 *y, int64_t n);
void cpu_quantize_row_q4_0_ref(const float *x, em_block_q4_0 *y, int64_t n);
/* The 32-value types of cpu_quant_32.c, each llama.cpp's quantize_row_*_ref. */
void cpu_quantize_row_q4_1_ref(const float *x, em_block_q4_1 *y, int64_t n);
void cpu_quantize_row_q5_0_ref(const float *x, em_block_q5_0 *y, int64_t n);
void cpu_quantize_row_q5_1_ref(const float *x, em_block_q5_1 *y, int64_t n);
void cpu_quantize_row_iq4_nl_ref(const float *x, em_block_iq4_nl *y, int64_t n);
/* IQ4_NL as llama-quantize writes it (from_float[EM_TYPE_IQ4_NL], so what
 * cpu_quantize and the model writers use): llama.cpp's quantize_iq4_nl
 * without an importance matrix, which searches 15 more scales per block
 * than its _ref does and so often picks other levels. */
void cpu_quantize_row_iq4_nl(const float *x, em_block_iq4_nl *y, int64_t n);
/* The activation quantizers (from_float[EM_TYPE_Q8_0], [EM_TYPE_Q8_1]):
 * llama.cpp's runtime rounding (127/amax multiplier, ties to even), which
 * differs from _ref; Q8_1's s is d * sum(q) from the unrounded d. */
void cpu_quantize_row_q8_0_act(const float *x, em_block_q8_0 *y, int64_t n);
void cpu_quantize_row_q8_1_act(const float *x, em_block_q8_1 *y, int64_t n);
/* The K-quants' reference quantizers (llama.cpp mainline's
 * quantize_row_q*_K_ref, no importance matrix) and the Q8_K activation
 * quantizer (from_float[EM_TYPE_Q8_K], the one ggml's x86 backend uses);
 * n a multiple of 256. */
void cpu_quantize_row_q2_K_ref(const float *x, em_block_q2_K *y, int64_t n);
void cpu_quantize_row_q3_K_ref(const float *x, em_block_q3_K *y, int64_t n);
void cpu_quantize_row_q4_K_ref(const float *x, em_block_q4_K *y, int64_t n);
void cpu_quantize_row_q5_K_ref(const float *x, em_block_q5_K *y, int64_t n);
void cpu_quantize_row_q6_K_ref(const float *x, em_block_q6_K *y, int64_t n);
void cpu_quantize_row_q8_K(const float *x, em_block_q8_K *y, int64_t n);
/* Quantize nrows rows of ncols floats into dst of type t (any supported type)
 * as llama.cpp's quantizer writes weights (its _ref functions, IQ4_NL's
 * quantize_iq4_nl; no importance matrix); returns bytes written, 0 if t is
 * unsupported or ncols not a block multiple. */
size_t cpu_quantize(enum em_type t, const float *src, void *dst, int64_t nrows, int64_t ncols);

/* Matrix product on the pool:
 *     y[i][r] = sum_j w[r][j] * x[i][j]     for r < m, i < n
 * w: m rows of k values of type wt, row stride w_stride bytes;
 * x: n rows of k floats (row stride k); y: n rows, row stride ldy floats.
 * n == 1 is the decode (matrix-vector) case; n > 1 uses a tiled matrix-matrix
 * path that reads each weight block once per tile of activations.
 *
 * scratch holds the activations converted to the dot type and must have
 * cpu_matmul_scratch(kern, wt, k, n, n_threads) bytes, n_threads being at
 * least the size of the pool used (1 without a pool): at small n (and for
 * gemm_fx up to 4 MB of floats) every thread converts x into a copy of its
 * own, so that no thread waits for another's conversion, and the scratch
 * holds n_threads copies. The size never
 * shrinks as n_threads grows. One scratch serves one product at a time. */
/* Whether an m x k by k x n product goes through the gemm tile rather than
 * vec_dot rows: n > 1 and the shape one the tile takes (gemm_k, gemm_m).
 * llama.cpp tiles only such products, and the two paths sum in different
 * orders, so every product that must agree with it decides by this.
 * (cpu_matmul takes gemm_fx instead, where the variant has one for the
 * type, for every n > 1: F16 weights on AVX-512, whose prompts then sum
 * in their own order, no longer tinyBLAS's; see cpu_kernels.c.) */
int cpu_gemm_fits(const cpu_kernels *kern, enum em_type wt, int64_t m, int64_t k, int64_t n);

size_t cpu_matmul_scratch(const cpu_kernels *kern, enum em_type wt, int64_t k, int64_t n, int n_threads);
void cpu_matmul(const cpu_kernels *kern, em_pool *pool, enum em_type wt, const void *w,
                size_t w_stride, int64_t m, int64_t k, const float *x, int64_t n, float *y,
                int64_t ldy, void *scratch);

/* Several weight matrices that share one input (a layer's Q, K and V, or its
 * gate and up projections): converts x once (per thread at small n) and
 * spreads the rows of all of them over the pool in one parallel section, work
 * items spanning jobs, so a decode step pays one wake-up instead of one per
 * matrix. Every job has k columns and the same weight type; results are
 * bit-identical to one cpu_matmul per job. cpu_matmul is this with one job.
 * scratch: as for cpu_matmul. */
typedef struct cpu_matmul_job {
    const void *w;    /* m rows of k values, row stride w_stride bytes */
    size_t w_stride;
    int64_t m;
    float *y;         /* n rows, row stride ldy floats */
    int64_t ldy;
} cpu_matmul_job;

void cpu_matmul_multi(const cpu_kernels *kern, em_pool *pool, enum em_type wt, const cpu_matmul_job *jobs,
                      int n_jobs, int64_t k, const float *x, int64_t n, void *scratch);

#endif
