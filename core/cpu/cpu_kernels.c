/* cpu_kernels.c - variant dispatch, quantization of whole tensors, and the
 * threaded matrix product on top of a variant's vec_dot / gemm kernels.
 *
 * Workload: a decode step issues ~200 matmuls of a few hundred KB to a few
 * tens of MB of weights each, so cpu_matmul is memory-bound at n == 1 and must
 * add little more than one pool dispatch per call: at small n each thread
 * converts the activations itself, so decode has no barrier, and products
 * sharing an input (cpu_matmul_multi) share one dispatch. Prefill
 * (n = 100s) is compute-bound: the gemm micro-kernels keep a tile of partial
 * sums in registers so each weight block is loaded once per tile of
 * activation rows. */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_kernels_impl.h"

#if defined(EMBER_ARM) && defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20) /* the kernel's bit for SDOT/UDOT */
#endif
#endif

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
    int bf16 = strcmp(isa, "avx512-bf16") == 0;
    if ((strcmp(isa, "avx512") == 0 || bf16) && avx512 && (!bf16 || __builtin_cpu_supports("avx512bf16"))) {
        cpu_kernels_init_avx2(&t); /* anything avx512 lacks stays avx2 */
        cpu_kernels_init_avx512(&t);
        if (bf16) cpu_kernels_init_avx512_bf16(&t);
        *k = t;
        return 0;
    }
#elif defined(EMBER_ARM) && defined(__aarch64__)
    if (strcmp(isa, "neon") == 0) { cpu_kernels_init_neon(&t); *k = t; return 0; }
    if (strcmp(isa, "neon-dotprod") == 0 && (getauxval(AT_HWCAP) & HWCAP_ASIMDDP)) {
        cpu_kernels_init_neon_dotprod(&t);
        *k = t;
        return 0;
    }
#endif
    return -1;
}

void cpu_kernels_init(cpu_kernels *k) {
    cpu_kernels_init_ref(k);
    if (env_on("EMBER_CPU_DISABLE_SIMD")) return;
    if (!env_on("EMBER_CPU_DISABLE_AVX512")) {
        if (!env_on("EMBER_CPU_DISABLE_BF16") && cpu_kernels_init_isa(k, "avx512-bf16") == 0) return;
        if (cpu_kernels_init_isa(k, "avx512") == 0) return;
    }
    if (cpu_kernels_init_isa(k, "avx2") == 0) return;
    if (!env_on("EMBER_CPU_DISABLE_DOTPROD") && cpu_kernels_init_isa(k, "neon-dotprod") == 0) return;
    (void)cpu_kernels_init_isa(k, "neon");
}

// ---- whole-tensor quantization ---------------------------------------------

static void q8_0_weight_row(const float *src, void *dst, int64_t n) { cpu_quantize_row_q8_0_ref(src, dst, n); }

size_t cpu_quantize(enum em_type t, const float *src, void *dst, int64_t nrows, int64_t ncols) {
    cpu_kernels k;
    cpu_kernels_init_ref(&k);
    size_t rb = em_row_bytes(t, ncols);
    if (!em_type_supported(t) || rb == 0 || nrows < 0 || !k.from_float[t]) return 0;
    /* weights take llama.cpp's _ref rounding (its quantizer's), not the
     * activations' runtime one that from_float[Q8_0] holds */
    if (t == EM_TYPE_Q8_0) k.from_float[t] = q8_0_weight_row;
    for (int64_t r = 0; r < nrows; r++) k.from_float[t](src + r * ncols, (char *)dst + r * rb, ncols);
    return rb * (size_t)nrows;
}

// ---- matmul ----------------------------------------------------------------

#define ALIGN64(x) (((x) + 63) & ~(size_t)63)

/* The panel layout is used for the 32-value block types with a gemm kernel
 * (their dot type Q8_0 or Q8_1: a panel row holds what either needs).
 * Not for decode: there one row at a time streams from memory faster (the
 * hardware prefetcher follows one sequential stream better than a tile's
 * RM interleaved short rows: measured 17.7 vs 8.9 GB/s on Zen 4). */
static int use_panel(const cpu_kernels *kern, enum em_type wt, int64_t n) {
    return n > 1 && kern->gemm[wt] && (kern->dot_type[wt] == EM_TYPE_Q8_0 || kern->dot_type[wt] == EM_TYPE_Q8_1);
}

static int use_panel16(const cpu_kernels *kern, enum em_type wt, int64_t n) {
    return use_panel(kern, wt, n) && kern->panel16_n[wt] > 0 && n >= kern->panel16_n[wt];
}

/* The outer-product tile (gemm_fx) takes every product of n > 1 rows of
 * its types, whatever the shape: a prompt's sums then do not depend on how
 * it is split into calls (test_generate's prefix reuse holds it to that).
 * Short calls transpose every weight row for a few activation rows; they
 * multiply the columns as the transpose leaves them in registers, which
 * brought 4- and 16-token F16 prompts back to within ~2-5% of the
 * dot-shaped tile (bench/README). */
static int use_fx(const cpu_kernels *kern, enum em_type wt, int64_t n) {
    return n > 1 && kern->gemm_fx[wt];
}

static size_t xrow_bytes(const cpu_kernels *kern, enum em_type wt, int64_t k, int64_t n) {
    if (use_fx(kern, wt, n)) return ALIGN64((size_t)k * sizeof(float));
    if (use_panel16(kern, wt, n)) return cpu_q8p16_row_bytes(k);
    if (use_panel(kern, wt, n)) return cpu_q8p_row_bytes(k);
    return ALIGN64(em_row_bytes(kern->dot_type[wt], k));
}

/* Whether each thread converts all n activation rows itself, into a slice of
 * the scratch of its own, rather than sharing one conversion that every thread
 * must wait for at a barrier. Converting a decode row (k = 576..1536) takes a
 * few hundred ns, less than the barrier, and far less than the barrier when a
 * thread shares its core with another process. */
/* Row-wise (vec_dot) work items per thread, in a prefill over rows (the
 * types without a tile there): each item is a new sequential stream for the
 * prefetcher and a taken counter, so fewer, longer ones stream faster, while
 * more of them balance better when a core is slowed by another process. */
#define MM_ITEMS_PER_THREAD 4
/* A decode step's rows (n == 1) are split in one run a thread (job after
 * job), each walked from its front in chunks of MM_STEAL_ROWS; a thread done
 * with its own run takes chunks from the back of another's. So each thread
 * streams one long run, as with one item a thread, and the threads still
 * end within a chunk of each other: with one fixed item a thread (on Zen 5
 * faster than 2 or 4: each item a new prefetch stream, and a counter both
 * cores write), the worker, starting ~1,000 cycles after the caller, ended
 * 10% of a section after it (`rdtsc` of both items, Q8_0 products of 192 to
 * 1536 rows). A worker that never arrives has its run taken whole. */
#define MM_STEAL_ROWS 32
#define MM_STEAL_MAX_THREADS 32
/* Tiled work items per thread: a call's tiles are read from L2 or L1, not
 * streamed, so many short items cost nothing but their share of a counter,
 * and the threads end a product within a short item of each other. Items
 * are whole gemm_group calls, so the activations are walked as often as
 * with long ones. 16 against 4: a 512-token F16 prefill (AVX-512) and an
 * AVX2 Q8_0 ViT tile ~1% faster each, 3 alternating runs, 2 threads. */
#define MM_TILE_ITEMS_PER_THREAD 16
#define MM_MAX_JOBS 8 /* per parallel section; cpu_matmul_multi splits longer lists */
#define OWN_CONVERT_MAX 4096 /* n * k values */

/* gemm_fx's float activations are also converted by every thread into a
 * copy of its own up to FX_OWN_MAX values (4 MB a copy): each panel walks
 * all of them, and two threads reading one copy (twice the bytes of the
 * dot type's) were 3-6% slower in a 512-token F16 prompt on Zen 5 (products
 * of 512 x 576 and 512 x 1536 values). Past that (a ViT tile's 1024 x 3072)
 * the copies gained nothing and cost their memory. */
#define FX_OWN_MAX ((int64_t)1 << 20)
static int own_convert(const cpu_kernels *kern, enum em_type wt, int64_t n, int64_t k, int nth) {
    return nth > 1 && (n < nth || n * k <= OWN_CONVERT_MAX || (use_fx(kern, wt, n) && n * k <= FX_OWN_MAX));
}

size_t cpu_matmul_scratch(const cpu_kernels *kern, enum em_type wt, int64_t k, int64_t n, int n_threads) {
    size_t one = (size_t)n * xrow_bytes(kern, wt, k, n);
    return (own_convert(kern, wt, n, k, n_threads) ? (size_t)n_threads * one : one) + 64;
}

struct mm_args {
    const cpu_kernels *kern;
    em_pool *pool;
    enum em_type wt;
    const cpu_matmul_job *jobs;
    int n_jobs;
    int64_t k, n;
    const float *x;
    char *xq;          /* converted activations, 64-byte aligned */
    size_t xq_stride;  /* between rows */
    size_t xq_slice;   /* between threads' copies (own_convert), else 0 */
    int own;           /* own_convert */
    int panel;
    int panel16;       /* the panel's values as int16 */
    int fx;            /* the tiles are gemm_fx's */
    /* per job: gemm over tiles of gemm_rows rows, else vec_dot rows; and
     * units (rows or tiles) per work item */
    int tiled[MM_MAX_JOBS];
    int64_t chunk[MM_MAX_JOBS];
    int64_t n_items;   /* over all jobs, in job order */
    /* work items are taken dynamically: a core slowed by another process just
     * takes fewer. Own line: every thread writes it. */
    alignas(64) _Atomic int64_t next;
    /* decode rows (steal): chunks of MM_STEAL_ROWS rows, numbered job after
     * job (job j's from steal_first[j]); thread t's run, (front << 32) | back
     * in chunks, on a line of its own */
    int steal;
    int64_t steal_first[MM_MAX_JOBS + 1];
    struct mm_run { alignas(64) _Atomic uint64_t fb; } run[MM_STEAL_MAX_THREADS];
};

/* Blocks [b0, b1) of one activation row into the panel layout, quantized
 * as the weight type's dot type: Q8_0, or Q8_1, whose s (d * sum(q) from
 * the unrounded d, rounded to fp16, as llama.cpp's dots use it) then takes
 * the slot of the integer sum, as a float. wide: the q8p16 form. */
static void pack_q8p(const cpu_kernels *kern, enum em_type dt, const float *x, int64_t k, char *row, int64_t b0,
                     int64_t b1, int wide) {
    const int64_t nb = k / 32, vb = wide ? 64 : 32; /* value bytes a block */
    float *d = (float *)(row + nb * vb);
    char *s = row + nb * (vb + 4);
    for (int64_t b = b0; b < b1; b++) {
        int8_t q[32];
        if (dt == EM_TYPE_Q8_1) {
            em_block_q8_1 blk;
            kern->from_float[EM_TYPE_Q8_1](x + b * 32, &blk, 32);
            const float fs = em_fp16_to_fp32(blk.s);
            memcpy(q, blk.qs, 32);
            d[b] = em_fp16_to_fp32(blk.d);
            memcpy(s + 4 * b, &fs, 4);
        } else {
            em_block_q8_0 blk;
            kern->from_float[EM_TYPE_Q8_0](x + b * 32, &blk, 32);
            int32_t sum = 0;
            for (int j = 0; j < 32; j++) sum += blk.qs[j];
            memcpy(q, blk.qs, 32);
            d[b] = em_fp16_to_fp32(blk.d);
            memcpy(s + 4 * b, &sum, 4);
        }
        if (wide)
            for (int j = 0; j < 32; j++) ((int16_t *)row)[b * 32 + j] = q[j];
        else
            memcpy(row + b * 32, q, 32);
    }
}

/* One activation row rounded to the dot type (a type of one value a block:
 * F16) and widened back, a chunk at a time through the stack. */
#define FX_CHUNK 512
static void round_row(const cpu_kernels *kern, enum em_type dt, const float *x, int64_t k, float *dst) {
    alignas(64) char tmp[FX_CHUNK * sizeof(float)];
    for (int64_t j = 0; j < k; j += FX_CHUNK) {
        const int64_t n = k - j < FX_CHUNK ? k - j : FX_CHUNK;
        kern->from_float[dt](x + j, tmp, n);
        kern->to_float[dt](tmp, dst + j, n);
    }
}

/* Activation rows [i0, i1) into xq. */
static void convert_rows(const struct mm_args *a, char *xq, int64_t i0, int64_t i1) {
    const enum em_type dt = a->kern->dot_type[a->wt];
    for (int64_t i = i0; i < i1; i++) {
        char *dst = xq + i * a->xq_stride;
        if (a->panel) pack_q8p(a->kern, dt, a->x + i * a->k, a->k, dst, 0, a->k / 32, a->panel16);
        else if (a->fx) round_row(a->kern, dt, a->x + i * a->k, a->k, (float *)dst);
        else a->kern->from_float[dt](a->x + i * a->k, dst, a->k);
    }
}

/* Tiles a gemm call takes (gemm_group's 0 means 1; gemm_fx: one). */
static int64_t gemm_group(const cpu_kernels *kern, enum em_type wt, int fx) {
    return !fx && kern->gemm_group[wt] > 1 ? kern->gemm_group[wt] : 1;
}

/* Weight rows of a tile. */
static int tile_rows(const cpu_kernels *kern, enum em_type wt, int fx) {
    return fx ? kern->gemm_fx_rows[wt] : kern->gemm_rows[wt];
}

/* Units (rows or tiles) of job j, and its work items. */
static int64_t job_units(const struct mm_args *a, int j) {
    const int64_t m = a->jobs[j].m;
    if (m <= 0) return 0;
    if (!a->tiled[j]) return m;
    const int R = tile_rows(a->kern, a->wt, a->fx);
    return (m + R - 1) / R;
}

static int64_t job_items(const struct mm_args *a, int j) {
    return (job_units(a, j) + a->chunk[j] - 1) / a->chunk[j];
}

/* The next chunk of run r from its front (its owner) or its back (a
 * thief), -1 when none is left. Relaxed: the outputs are published by the
 * pool's end of section. */
static int64_t run_take(struct mm_run *r, int back) {
    uint64_t v = atomic_load_explicit(&r->fb, memory_order_relaxed);
    for (;;) {
        const uint64_t f = v >> 32, b = v & 0xffffffffu;
        if (f >= b) return -1;
        const uint64_t nv = back ? v - 1 : v + ((uint64_t)1 << 32);
        if (atomic_compare_exchange_weak_explicit(&r->fb, &v, nv, memory_order_relaxed, memory_order_relaxed))
            return (int64_t)(back ? b - 1 : f);
    }
}

/* Rows of chunk c (decode, steal) against the thread's activations xq. */
static void steal_chunk(const struct mm_args *a, int64_t c, const char *xq) {
    int j = 0;
    while (c >= a->steal_first[j + 1]) j++;
    const cpu_matmul_job *jb = &a->jobs[j];
    const int64_t r0 = (c - a->steal_first[j]) * MM_STEAL_ROWS,
                  r1 = r0 + MM_STEAL_ROWS < jb->m ? r0 + MM_STEAL_ROWS : jb->m;
    const char *w = jb->w;
    if (a->kern->vec_dot_rows[a->wt]) { /* the same bits, the rows in one call */
        a->kern->vec_dot_rows[a->wt](a->k, w + r0 * jb->w_stride, jb->w_stride, r1 - r0, xq, jb->y + r0);
    } else {
        const cpu_vec_dot_fn dot = a->kern->vec_dot[a->wt];
        for (int64_t r = r0; r < r1; r++) jb->y[r] = dot(a->k, w + r * jb->w_stride, xq);
    }
}

static void mm_task(void *arg, int ith, int nth) {
    struct mm_args *a = arg;
    const cpu_kernels *kern = a->kern;
    char *xq = a->xq + (size_t)ith * a->xq_slice;
    int converted = 0;
    if (a->steal) { /* own run from the front, then the others' from the back */
        for (int o = 0; o < nth; o++)
            for (int64_t c; (c = run_take(&a->run[(ith + o) % nth], o > 0)) >= 0;) {
                if (!converted) { /* only a thread that gets work pays for it */
                    convert_rows(a, xq, 0, a->n);
                    converted = 1;
                }
                steal_chunk(a, c, xq);
            }
        return;
    }
    if (!a->own) {
        long long i0, i1;
        em_pool_range(a->n, ith, nth, &i0, &i1);
        convert_rows(a, xq, i0, i1);
        if (nth > 1) em_pool_barrier(a->pool);
        converted = 1;
    }
    /* a thread's items come in increasing order, so the job they belong to
     * only moves forward */
    int j = 0;
    int64_t j_first = 0, j_end = job_items(a, 0);
    for (;;) {
        int64_t it = atomic_fetch_add_explicit(&a->next, 1, memory_order_relaxed);
        if (it >= a->n_items) break;
        while (it >= j_end) {
            j_first = j_end;
            j_end += job_items(a, ++j);
        }
        if (!converted) { /* only a thread that gets work pays for it */
            convert_rows(a, xq, 0, a->n);
            converted = 1;
        }
        const cpu_matmul_job *jb = &a->jobs[j];
        const char *w = jb->w;
        const int64_t chunk = a->chunk[j], u0 = (it - j_first) * chunk;
        if (a->tiled[j]) {
            const int R = tile_rows(kern, a->wt, a->fx);
            const cpu_gemm_fn gemm = a->fx ? kern->gemm_fx[a->wt] : kern->gemm[a->wt];
            int64_t r0 = u0 * R, r1 = r0 + chunk * R;
            if (r1 > jb->m) r1 = jb->m;
            const int64_t RG = (int64_t)R * gemm_group(kern, a->wt, a->fx);
            for (int64_t r = r0; r < r1; r += RG) {
                int nr = (int)(r1 - r < RG ? r1 - r : RG);
                gemm(a->k, w + r * jb->w_stride, jb->w_stride, nr, xq, a->xq_stride, a->n, jb->y + r, jb->ldy);
            }
        } else {
            cpu_vec_dot_fn dot = kern->vec_dot[a->wt];
            int64_t r0 = u0, r1 = r0 + chunk;
            if (r1 > jb->m) r1 = jb->m;
            for (int64_t r = r0; r < r1; r++)
                for (int64_t i = 0; i < a->n; i++)
                    jb->y[i * jb->ldy + r] = dot(a->k, w + r * jb->w_stride, xq + i * a->xq_stride);
        }
    }
}

/* Each matrix of a cpu_matmul_multi decides for itself (cpu_kernels.h). */
int cpu_gemm_fits(const cpu_kernels *kern, enum em_type wt, int64_t m, int64_t k, int64_t n) {
    return n > 1 && kern->gemm[wt] && k % kern->gemm_k[wt] == 0 && m % kern->gemm_m[wt] == 0;
}

void cpu_matmul_multi(const cpu_kernels *kern, em_pool *pool, enum em_type wt, const cpu_matmul_job *jobs,
                      int n_jobs, int64_t k, const float *x, int64_t n, void *scratch) {
    if (n <= 0) return;
    for (; n_jobs > MM_MAX_JOBS; jobs += MM_MAX_JOBS, n_jobs -= MM_MAX_JOBS)
        cpu_matmul_multi(kern, pool, wt, jobs, MM_MAX_JOBS, k, x, n, scratch);
    int64_t m_total = 0;
    for (int j = 0; j < n_jobs; j++) m_total += jobs[j].m > 0 ? jobs[j].m : 0;
    if (m_total == 0) return;
    const int nth = pool ? em_pool_size(pool) : 1;
    struct mm_args a = {
        .kern = kern, .pool = pool, .wt = wt, .jobs = jobs, .n_jobs = n_jobs,
        .k = k, .n = n, .x = x,
        .xq = (char *)ALIGN64((uintptr_t)scratch),
        .xq_stride = xrow_bytes(kern, wt, k, n),
        .own = own_convert(kern, wt, n, k, nth),
        .panel = use_panel(kern, wt, n),
        .panel16 = use_panel16(kern, wt, n),
        .fx = use_fx(kern, wt, n),
    };
    a.xq_slice = a.own ? (size_t)n * a.xq_stride : 0;
    /* work item = chunk row tiles (MM_TILE_ITEMS_PER_THREAD items per thread,
     * whole gemm_group calls), or MM_ITEMS_PER_THREAD items of at least 16
     * rows per thread; a decode step's rows: runs to steal from */
    const int R = tile_rows(kern, wt, a.fx);
    int64_t tiles = 0, rows = 0;
    for (int j = 0; j < n_jobs; j++) {
        const int64_t m = jobs[j].m > 0 ? jobs[j].m : 0;
        a.tiled[j] = a.panel || a.fx || cpu_gemm_fits(kern, wt, m, k, n);
        if (a.tiled[j]) tiles += (m + R - 1) / R;
        else rows += m;
    }
    a.steal = n == 1 && tiles == 0 && (a.own || nth == 1) && nth <= MM_STEAL_MAX_THREADS;
    if (a.steal) {
        a.steal_first[0] = 0;
        for (int j = 0; j < n_jobs; j++) {
            const int64_t m = jobs[j].m > 0 ? jobs[j].m : 0;
            a.steal_first[j + 1] = a.steal_first[j] + (m + MM_STEAL_ROWS - 1) / MM_STEAL_ROWS;
        }
        const int64_t C = a.steal_first[n_jobs];
        for (int t = 0; t < nth; t++)
            atomic_init(&a.run[t].fb, (uint64_t)(C * t / nth) << 32 | (uint64_t)(C * (t + 1) / nth));
        if (nth == 1) mm_task(&a, 0, 1);
        else em_pool_run_dynamic(pool, mm_task, &a); /* no barrier: see em_pool_run_dynamic */
        return;
    }
    const int64_t G = gemm_group(kern, wt, a.fx);
    int64_t chunk_tiles = tiles / (nth * MM_TILE_ITEMS_PER_THREAD), chunk_rows = (rows / (nth * MM_ITEMS_PER_THREAD) + 15) & ~(int64_t)15;
    if (chunk_tiles < 1) chunk_tiles = 1;
    chunk_tiles = (chunk_tiles + G - 1) / G * G;
    if (chunk_rows < 16) chunk_rows = 16;
    a.n_items = 0;
    for (int j = 0; j < n_jobs; j++) {
        a.chunk[j] = a.tiled[j] ? chunk_tiles : chunk_rows;
        a.n_items += job_items(&a, j);
    }
    atomic_init(&a.next, 0);
    if (nth == 1) mm_task(&a, 0, 1);
    else if (a.own) em_pool_run_dynamic(pool, mm_task, &a); /* no barrier: see em_pool_run_dynamic */
    else em_pool_run(pool, mm_task, &a);
}

void cpu_matmul(const cpu_kernels *kern, em_pool *pool, enum em_type wt, const void *w,
                size_t w_stride, int64_t m, int64_t k, const float *x, int64_t n, float *y,
                int64_t ldy, void *scratch) {
    const cpu_matmul_job job = {w, w_stride, m, y, ldy};
    cpu_matmul_multi(kern, pool, wt, &job, 1, k, x, n, scratch);
}
