/* cpu_kernels.c - variant dispatch, quantization of whole tensors, and the
 * threaded matrix product on top of a variant's vec_dot / gemm kernels.
 *
 * Workload: a decode step issues ~200 matmuls of a few hundred KB to a few
 * tens of MB of weights each, so cpu_matmul is memory-bound at n == 1 and must
 * add little more than one pool dispatch and one barrier per call. Prefill
 * (n = 100s) is compute-bound: the gemm micro-kernels keep a tile of partial
 * sums in registers so each weight block is loaded once per tile of
 * activation rows. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels_impl.h"

// ---- dispatch --------------------------------------------------------------

static int env_on(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

int cpu_kernels_init_isa(cpu_kernels *k, const char *isa) {
    cpu_kernels t;
    cpu_kernels_init_ref(&t);
    if (strcmp(isa, "scalar") == 0) { *k = t; return 0; }
#if defined(EMBER_X86)
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("f16c");
    int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512vnni");
    if (strcmp(isa, "avx2") == 0 && avx2) { cpu_kernels_init_avx2(&t); *k = t; return 0; }
    if (strcmp(isa, "avx512") == 0 && avx512) {
        cpu_kernels_init_avx2(&t); /* anything avx512 lacks stays avx2 */
        cpu_kernels_init_avx512(&t);
        *k = t;
        return 0;
    }
#elif defined(EMBER_ARM) && defined(__aarch64__)
    if (strcmp(isa, "neon") == 0) { cpu_kernels_init_neon(&t); *k = t; return 0; }
#endif
    return -1;
}

void cpu_kernels_init(cpu_kernels *k) {
    cpu_kernels_init_ref(k);
    if (env_on("EMBER_CPU_DISABLE_SIMD")) return;
    if (!env_on("EMBER_CPU_DISABLE_AVX512") && cpu_kernels_init_isa(k, "avx512") == 0) return;
    if (cpu_kernels_init_isa(k, "avx2") == 0) return;
    (void)cpu_kernels_init_isa(k, "neon");
}

// ---- whole-tensor quantization ---------------------------------------------

size_t cpu_quantize(enum em_type t, const float *src, void *dst, int64_t nrows, int64_t ncols) {
    cpu_kernels k;
    cpu_kernels_init_ref(&k);
    size_t rb = em_row_bytes(t, ncols);
    if (!em_type_supported(t) || rb == 0 || nrows < 0 || !k.from_float[t]) return 0;
    for (int64_t r = 0; r < nrows; r++) k.from_float[t](src + r * ncols, (char *)dst + r * rb, ncols);
    return rb * (size_t)nrows;
}

// ---- matmul ----------------------------------------------------------------

#define ALIGN64(x) (((x) + 63) & ~(size_t)63)

/* The panel layout is used for block-quantized weights with a gemm kernel.
 * Not for decode: there one row at a time streams from memory faster (the
 * hardware prefetcher follows one sequential stream better than a tile's
 * RM interleaved short rows: measured 17.7 vs 8.9 GB/s on Zen 4). */
static int use_panel(const cpu_kernels *kern, enum em_type wt, int64_t n) {
    return n > 1 && kern->gemm[wt] && kern->dot_type[wt] == EM_TYPE_Q8_0;
}

static size_t xrow_bytes(const cpu_kernels *kern, enum em_type wt, int64_t k, int64_t n) {
    if (use_panel(kern, wt, n)) return cpu_q8p_row_bytes(k);
    return ALIGN64(em_row_bytes(kern->dot_type[wt], k));
}

size_t cpu_matmul_scratch(const cpu_kernels *kern, enum em_type wt, int64_t k, int64_t n) {
    return (size_t)n * xrow_bytes(kern, wt, k, n) + 64;
}

struct mm_args {
    const cpu_kernels *kern;
    em_pool *pool;
    enum em_type wt;
    const char *w;
    size_t w_stride;
    int64_t m, k, n, ldy;
    const float *x;
    float *y;
    char *xq;          /* converted activations, 64-byte aligned */
    size_t xq_stride;
    int panel;
    int64_t chunk;     /* rows (n == 1 / no gemm) or tiles (gemm) per work item */
    int64_t n_items;
    _Atomic int64_t next; /* work items are taken dynamically: a core slowed by
                           * another process just takes fewer */
};

/* Blocks [b0, b1) of one activation row into the panel layout. */
static void pack_q8p(const cpu_kernels *kern, const float *x, int64_t k, char *row, int64_t b0,
                     int64_t b1) {
    const int64_t nb = k / 32;
    int8_t *qs = (int8_t *)row;
    float *d = (float *)(row + nb * 32);
    int32_t *s = (int32_t *)(row + nb * 36);
    for (int64_t b = b0; b < b1; b++) {
        em_block_q8_0 blk;
        kern->from_float[EM_TYPE_Q8_0](x + b * 32, &blk, 32);
        int32_t sum = 0;
        for (int j = 0; j < 32; j++) sum += blk.qs[j];
        memcpy(qs + b * 32, blk.qs, 32);
        d[b] = em_fp16_to_fp32(blk.d);
        s[b] = sum;
    }
}

static void convert_rows(struct mm_args *a, int ith, int nth) {
    const enum em_type dt = a->kern->dot_type[a->wt];
    if (a->n >= nth) { /* whole rows per thread */
        long long i0, i1;
        em_pool_range(a->n, ith, nth, &i0, &i1);
        for (int64_t i = i0; i < i1; i++) {
            char *dst = a->xq + i * a->xq_stride;
            if (a->panel) pack_q8p(a->kern, a->x + i * a->k, a->k, dst, 0, a->k / 32);
            else a->kern->from_float[dt](a->x + i * a->k, dst, a->k);
        }
        return;
    }
    /* fewer rows than threads (decode): split each row by blocks, in runs of
     * 64 values so every thread's piece stays a whole number of blocks */
    const int64_t per = 64;
    const int64_t nrun = (a->k + per - 1) / per;
    for (int64_t i = 0; i < a->n; i++) {
        long long r0, r1;
        em_pool_range(nrun, ith, nth, &r0, &r1);
        int64_t j0 = r0 * per, j1 = r1 * per < a->k ? r1 * per : a->k;
        if (j0 >= j1) continue;
        char *dst = a->xq + i * a->xq_stride;
        if (a->panel) pack_q8p(a->kern, a->x + i * a->k, a->k, dst, j0 / 32, j1 / 32);
        else a->kern->from_float[dt](a->x + i * a->k + j0, dst + em_row_bytes(dt, j0), j1 - j0);
    }
}

static void mm_task(void *arg, int ith, int nth) {
    struct mm_args *a = arg;
    convert_rows(a, ith, nth);
    if (nth > 1) em_pool_barrier(a->pool);

    const cpu_kernels *kern = a->kern;
    for (;;) {
        int64_t it = atomic_fetch_add_explicit(&a->next, 1, memory_order_relaxed);
        if (it >= a->n_items) break;
        if (a->panel || (a->n > 1 && kern->gemm[a->wt])) {
            const int R = kern->gemm_rows[a->wt];
            int64_t r0 = it * a->chunk * R, r1 = r0 + a->chunk * R;
            if (r1 > a->m) r1 = a->m;
            for (int64_t r = r0; r < r1; r += R) {
                int nr = (int)(a->m - r < R ? a->m - r : R);
                kern->gemm[a->wt](a->k, a->w + r * a->w_stride, a->w_stride, nr, a->xq, a->xq_stride,
                                  a->n, a->y + r, a->ldy);
            }
        } else {
            cpu_vec_dot_fn dot = kern->vec_dot[a->wt];
            int64_t r0 = it * a->chunk, r1 = r0 + a->chunk;
            if (r1 > a->m) r1 = a->m;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t i = 0; i < a->n; i++)
                    a->y[i * a->ldy + r] = dot(a->k, a->w + r * a->w_stride, a->xq + i * a->xq_stride);
        }
    }
}

void cpu_matmul(const cpu_kernels *kern, em_pool *pool, enum em_type wt, const void *w,
                size_t w_stride, int64_t m, int64_t k, const float *x, int64_t n, float *y,
                int64_t ldy, void *scratch) {
    if (m <= 0 || n <= 0) return;
    int nth = pool ? em_pool_size(pool) : 1;
    struct mm_args a = {
        .kern = kern, .pool = pool, .wt = wt, .w = w, .w_stride = w_stride,
        .m = m, .k = k, .n = n, .ldy = ldy, .x = x, .y = y,
        .xq = (char *)ALIGN64((uintptr_t)scratch),
        .xq_stride = xrow_bytes(kern, wt, k, n),
        .panel = use_panel(kern, wt, n),
    };
    if (a.panel || (n > 1 && kern->gemm[wt])) {
        /* work item = chunk row tiles; enough items per thread to balance */
        int64_t tiles = (m + kern->gemm_rows[wt] - 1) / kern->gemm_rows[wt];
        a.chunk = tiles / (nth * 4);
        if (a.chunk < 1) a.chunk = 1;
        a.n_items = (tiles + a.chunk - 1) / a.chunk;
    } else {
        /* rows per work item: ~8 items per thread, at least 16 rows */
        a.chunk = (m / (nth * 8) + 15) & ~(int64_t)15;
        if (a.chunk < 16) a.chunk = 16;
        a.n_items = (m + a.chunk - 1) / a.chunk;
    }
    atomic_init(&a.next, 0);
    if (nth == 1) mm_task(&a, 0, 1);
    else em_pool_run(pool, mm_task, &a);
}

void cpu_matmul_multi(const cpu_kernels *kern, em_pool *pool, enum em_type wt, const cpu_matmul_job *jobs,
                      int n_jobs, int64_t k, const float *x, int64_t n, void *scratch) {
    for (int j = 0; j < n_jobs; j++)
        cpu_matmul(kern, pool, wt, jobs[j].w, jobs[j].w_stride, jobs[j].m, k, x, n, jobs[j].y, jobs[j].ldy, scratch);
}
