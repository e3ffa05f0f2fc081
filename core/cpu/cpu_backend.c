/* cpu_backend.c - the reference backend: host memory, ops run at once on the
 * thread pool (see backend.h for the contract).
 *
 * Weights are used in place (em_backend_wrap keeps the pointer into the
 * mapped file): the CPU never copies a model. Each op splits its rows (or
 * heads) over the pool's threads; ops too small to be worth waking the
 * workers for (a decode step's norm, rope or residual add) run on the calling
 * thread. The buffers that grow are the matmul scratch (activations
 * converted to the weights' dot type) and the attention's work, sized by the
 * largest call seen, so steady-state decoding allocates nothing.
 *
 * Host memory is committed when it is allocated (host_alloc), not at first
 * touch, so the first prompt after loading does not pay for it; the KV
 * cache (EM_TENSOR_GROWS) is the exception, committed as positions fill. */
#include "cpu_backend.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/threadpool.h"
#include "cpu_kernels.h"
#include "cpu_ops.h"

/* Below this many float ops' worth of work, do it on one thread. */
#define CPU_PARALLEL_MIN 16384

typedef struct cpu_ctx {
    em_pool *pool;
    cpu_kernels kern;
    void *scratch;
    size_t scratch_size;
    float *att_work;     /* n_threads * att_cap floats */
    int64_t att_cap;     /* floats per thread: cpu_attend_work of the largest call */
    float *kt;           /* per head, transposed: the encoder attention's keys (its values
                          * packed after them: cpu_attention_full), or a
                          * prefill's values (attn_run); 64-byte aligned */
    int64_t kt_cap;      /* floats */
    ember_status status; /* first failure since the last sync */
    char errmsg[EM_ERR_LEN];
} cpu_ctx;

static cpu_ctx *ctx_of(em_backend *be) { return be->ctx; }

static void cpu_fail(cpu_ctx *c, ember_status st, const char *msg) {
    if (c->status == EM_OK) {
        c->status = st;
        snprintf(c->errmsg, sizeof c->errmsg, "%s", msg);
    }
}

/* ---- memory */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* n bytes, 64-byte aligned for SIMD loads, their pages committed now when
 * commit is set; NULL when out of memory. Not cleared: every op writes its
 * output before it is read (the KV cache row by row as positions fill).
 *
 * Why commit: a page's first touch costs a fault (and zeroing), in the
 * kernel and, in a virtual machine, in the hypervisor too. Left to the first
 * prompt, a 512-token prefill of a 135M model faulted in ~11,500 pages (the
 * activations of 512 rows, the scratch, the KV cache it fills): on the 2-core
 * development VM, ~8,600 of them outside the KV cache, ~10% of that prefill.
 * MADV_POPULATE_WRITE maps them in one call; it fails with ENOMEM where the
 * memory is not there, which becomes this allocation's failure. On kernels
 * before 5.14 (EINVAL) the pages stay lazy. The KV cache is not committed:
 * a 4096-position context would cost its whole cache (94 MiB for a 135M
 * model) before the first token. */
static void *host_alloc(size_t n, bool commit) {
    n = (n + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, n ? n : 64);
    if (!p || n == 0 || !commit) return p;
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = (uintptr_t)p & ~(pg - 1), b = (uintptr_t)p + n;
    if (madvise((void *)a, b - a, MADV_POPULATE_WRITE) != 0 && errno != EINVAL) {
        free(p);
        return NULL;
    }
    return p;
}

static ember_status cpu_alloc(em_backend *be, em_tensor *t, char *err) {
    size_t n = em_tensor_nbytes(t);
    void *p = host_alloc(n, !(t->flags & EM_TENSOR_GROWS));
    if (!p) return em_err(err, EM_ERR_NOMEM, "cpu_alloc: %s: %zu bytes: out of memory", t->name ? t->name : "tensor", n);
    t->data = p;
    t->extra = p; /* owned: release frees it */
    t->offs = 0;
    return EM_OK;
}

static void cpu_release(em_backend *be, em_tensor *t) {
    if (t->extra) free(t->extra);
    t->data = t->extra = NULL;
}

static ember_status cpu_wrap(em_backend *be, em_tensor *t, const void *host, char *err) {
    t->data = (void *)host; /* borrowed: release leaves it */
    t->extra = NULL;
    return EM_OK;
}

static ember_status cpu_upload(em_backend *be, em_tensor *t, const void *src, size_t off, size_t n, char *err) {
    if (off + n > em_tensor_nbytes(t)) return em_err(err, EM_ERR_ARG, "cpu_upload: %zu bytes at %zu past the tensor's end", n, off);
    memcpy((char *)t->data + off, src, n);
    return EM_OK;
}

static ember_status cpu_download(em_backend *be, const em_tensor *t, void *dst, size_t off, size_t n, char *err) {
    if (off + n > em_tensor_nbytes(t)) return em_err(err, EM_ERR_ARG, "cpu_download: %zu bytes at %zu past the tensor's end", n, off);
    memcpy(dst, (const char *)t->data + off, n);
    return EM_OK;
}

static void *cpu_host_ptr(em_backend *be, const em_tensor *t) { return t->data; }

/* Every op is listed, with no default: a new em_op is a -Wswitch error here
 * (-Werror) until this backend says which types it takes. */
static bool cpu_supports(em_backend *be, enum em_op op, enum em_type t) {
    cpu_ctx *c = ctx_of(be);
    switch (op) {
    case EM_OP_GET_ROWS: return em_type_supported(t) && c->kern.to_float[t];
    case EM_OP_MATMUL: return em_type_supported(t) && c->kern.vec_dot[t];
    case EM_OP_KV_STORE: return t == EM_TYPE_F16 || t == EM_TYPE_F32;
    case EM_OP_ATTENTION: return t == EM_TYPE_F16 || t == EM_TYPE_F32;
    /* Activations only. */
    case EM_OP_RMS_NORM:
    case EM_OP_ROPE:
    case EM_OP_SWIGLU:
    case EM_OP_ADD: return t == EM_TYPE_F32;
    /* The ViT's ops read activations only (its K/V are products, not a cache). */
    case EM_OP_LAYER_NORM:
    case EM_OP_GELU:
    case EM_OP_ADD_BIAS:
    case EM_OP_ATTENTION_FULL: return t == EM_TYPE_F32;
    case EM_OP_COUNT: break;
    }
    return false; /* not an op */
}

/* ---- ops: each has an argument struct and a per-thread body */

static float *row_f32(const em_tensor *t, int64_t r) { return (float *)((char *)t->data + (size_t)r * t->nb[1]); }

struct get_rows_args { cpu_ctx *c; em_tensor *out; const em_tensor *table; const int32_t *ids; int64_t n; };

static void get_rows_body(void *varg, int ith, int nth) {
    struct get_rows_args *a = varg;
    long long i0, i1;
    em_pool_range(a->n, ith, nth, &i0, &i1);
    for (long long i = i0; i < i1; i++) {
        const char *src = (const char *)a->table->data + (size_t)a->ids[i] * a->table->nb[1];
        a->c->kern.to_float[a->table->type](src, row_f32(a->out, i), a->table->ne[0]);
    }
}

static void cpu_get_rows(em_backend *be, em_tensor *out, const em_tensor *table, const em_tensor *ids) {
    cpu_ctx *c = ctx_of(be);
    const int32_t *id = ids->data;
    for (int64_t i = 0; i < ids->ne[0]; i++) {
        if (id[i] < 0 || id[i] >= table->ne[1]) {
            cpu_fail(c, EM_ERR_ARG, "get_rows: token id out of the embedding table's range");
            return;
        }
    }
    struct get_rows_args a = {c, out, table, id, ids->ne[0]};
    if (a.n * table->ne[0] < CPU_PARALLEL_MIN) get_rows_body(&a, 0, 1);
    else em_pool_run(c->pool, get_rows_body, &a);
}

struct rms_args { em_tensor *out; const em_tensor *x; const float *w; float eps; };

static void rms_body(void *varg, int ith, int nth) {
    struct rms_args *a = varg;
    long long i0, i1;
    em_pool_range(a->x->ne[1], ith, nth, &i0, &i1);
    for (long long i = i0; i < i1; i++)
        cpu_rms_norm_row(row_f32(a->out, i), row_f32(a->x, i), a->w, a->x->ne[0], a->eps);
}

static void cpu_rms_norm(em_backend *be, em_tensor *out, const em_tensor *x, const em_tensor *w, float eps) {
    struct rms_args a = {out, x, w ? w->data : NULL, eps};
    if (x->ne[0] * x->ne[1] < CPU_PARALLEL_MIN) rms_body(&a, 0, 1);
    else em_pool_run(ctx_of(be)->pool, rms_body, &a);
}

struct ln_args { em_tensor *out; const em_tensor *x; const float *w, *b; float eps; };

static void ln_body(void *varg, int ith, int nth) {
    struct ln_args *a = varg;
    long long i0, i1;
    em_pool_range(a->x->ne[1], ith, nth, &i0, &i1);
    for (long long i = i0; i < i1; i++)
        cpu_layer_norm_row(row_f32(a->out, i), row_f32(a->x, i), a->w, a->b, a->x->ne[0], a->eps);
}

static void cpu_layer_norm(em_backend *be, em_tensor *out, const em_tensor *x, const em_tensor *w, const em_tensor *b,
                           float eps) {
    struct ln_args a = {out, x, w ? w->data : NULL, b ? b->data : NULL, eps};
    if (x->ne[0] * x->ne[1] < CPU_PARALLEL_MIN) ln_body(&a, 0, 1);
    else em_pool_run(ctx_of(be)->pool, ln_body, &a);
}

static ember_status grow_scratch(cpu_ctx *c, size_t need) {
    if (need <= c->scratch_size) return EM_OK;
    void *p = host_alloc(need, true);
    if (!p) return EM_ERR_NOMEM;
    free(c->scratch);
    c->scratch = p;
    c->scratch_size = need;
    return EM_OK;
}

static void cpu_matmul_op(em_backend *be, em_tensor *out, const em_tensor *w, const em_tensor *x) {
    cpu_ctx *c = ctx_of(be);
    const int64_t m = w->ne[1], k = w->ne[0], n = x->ne[1];
    if (grow_scratch(c, cpu_matmul_scratch(&c->kern, w->type, k, n, em_pool_size(c->pool))) != EM_OK) {
        cpu_fail(c, EM_ERR_NOMEM, "matmul: out of memory for the activation scratch");
        return;
    }
    cpu_matmul(&c->kern, c->pool, w->type, w->data, w->nb[1], m, k, x->data, n, out->data,
               (int64_t)(out->nb[1] / sizeof(float)), c->scratch);
}

static void cpu_matmul_multi_op(em_backend *be, int n_w, em_tensor *const *outs, const em_tensor *const *ws,
                                const em_tensor *x) {
    cpu_ctx *c = ctx_of(be);
    const enum em_type wt = ws[0]->type;
    bool same = n_w <= 4;
    for (int j = 1; j < n_w; j++) same = same && ws[j]->type == wt && ws[j]->ne[0] == ws[0]->ne[0];
    if (!same) {
        for (int j = 0; j < n_w; j++) cpu_matmul_op(be, outs[j], ws[j], x);
        return;
    }
    const int64_t k = ws[0]->ne[0], n = x->ne[1];
    if (grow_scratch(c, cpu_matmul_scratch(&c->kern, wt, k, n, em_pool_size(c->pool))) != EM_OK) {
        cpu_fail(c, EM_ERR_NOMEM, "matmul: out of memory for the activation scratch");
        return;
    }
    cpu_matmul_job jobs[4];
    for (int j = 0; j < n_w; j++)
        jobs[j] = (cpu_matmul_job){ws[j]->data, ws[j]->nb[1], ws[j]->ne[1], outs[j]->data,
                                   (int64_t)(outs[j]->nb[1] / sizeof(float))};
    cpu_matmul_multi(&c->kern, c->pool, wt, jobs, n_w, k, x->data, n, c->scratch);
}

struct rope_args { const cpu_kernels *kern; em_tensor *x; const int32_t *pos; const em_rope_params *p; };

static void rope_body(void *varg, int ith, int nth) {
    struct rope_args *a = varg;
    long long i0, i1;
    em_pool_range(a->x->ne[2], ith, nth, &i0, &i1);
    for (long long i = i0; i < i1; i++)
        cpu_rope_row(a->kern, (float *)((char *)a->x->data + (size_t)i * a->x->nb[2]), (int)a->x->ne[1],
                     (int)a->x->ne[0], a->p->n_dims, a->pos[i], a->p->freq_base, a->p->freq_scale);
}

static void cpu_rope(em_backend *be, em_tensor *x, const em_tensor *pos, const em_rope_params *p) {
    struct rope_args a = {&ctx_of(be)->kern, x, pos->data, p};
    if (em_tensor_nelements(x) < CPU_PARALLEL_MIN) rope_body(&a, 0, 1);
    else em_pool_run(ctx_of(be)->pool, rope_body, &a);
}

struct store_args { const cpu_kernels *kern; em_tensor *cache; const em_tensor *src; int64_t pos0; };

/* rows converted to the cache type (F16 or F32) by the variant's converter:
 * the reference's bits (test_kernels), vectorised */
static void store_body(void *varg, int ith, int nth) {
    struct store_args *a = varg;
    long long i0, i1;
    em_pool_range(a->src->ne[1], ith, nth, &i0, &i1);
    const cpu_from_float_fn store = a->kern->from_float[a->cache->type];
    for (long long i = i0; i < i1; i++)
        store(row_f32(a->src, i), (char *)a->cache->data + (size_t)(a->pos0 + i) * a->cache->nb[1], a->src->ne[0]);
}

static void cpu_kv_store(em_backend *be, em_tensor *cache, const em_tensor *src, int64_t pos0) {
    cpu_ctx *c = ctx_of(be);
    if (pos0 < 0 || pos0 + src->ne[1] > cache->ne[1]) {
        cpu_fail(c, EM_ERR_RANGE, "kv_store: rows past the end of the KV cache");
        return;
    }
    struct store_args a = {&c->kern, cache, src, pos0};
    if (src->ne[0] * src->ne[1] < CPU_PARALLEL_MIN) store_body(&a, 0, 1);
    else em_pool_run(c->pool, store_body, &a);
}

/* (query row, head) pairs are taken from a shared counter, so the section
 * can run as em_pool_run_dynamic: a decode step never waits for a worker that
 * another process keeps off its core. */
struct attn_args {
    cpu_ctx *c; em_tensor *out; const em_tensor *q, *k, *v; const em_attn_params *p;
    bool causal; /* row i sees pos0 + i + 1 keys; else all p->n_kv */
    _Atomic long long next;
};

/* Query row i, head h of the call: one cpu_attend_head. */
static void attn_one(const struct attn_args *a, int64_t i, int h, float *work) {
    const em_attn_params *p = a->p;
    const size_t koff = (size_t)(h / (p->n_head / p->n_head_kv)) * (size_t)p->head_dim * em_type_block_bytes(a->k->type);
    cpu_attend_head(&a->c->kern, row_f32(a->out, i) + (size_t)h * p->head_dim, row_f32(a->q, i) + (size_t)h * p->head_dim,
                    (const char *)a->k->data + koff, (const char *)a->v->data + koff, a->k->type, a->k->nb[1],
                    p->head_dim, a->causal ? p->pos0 + i + 1 : p->n_kv, p->scale, a->q->ne[1], work);
}

static void attn_body(void *varg, int ith, int nth) {
    struct attn_args *a = varg;
    const int64_t n_q = a->q->ne[1], n_head = a->p->n_head;
    float *work = a->c->att_work + (size_t)ith * (size_t)a->c->att_cap;
    if (n_q == 1) { /* a decode step: a run of consecutive heads per thread (attn_run) */
        long long h0, h1;
        em_pool_range(n_head, ith, nth, &h0, &h1);
        for (long long h = h0; h < h1; h++) attn_one(a, 0, (int)h, work);
        return;
    }
    for (long long j; (j = atomic_fetch_add_explicit(&a->next, 1, memory_order_relaxed)) < n_q * n_head;)
        attn_one(a, j / n_head, (int)(j % n_head), work);
}

/* Grows the attention's per-thread work to at least need floats a thread,
 * rounded to 64 bytes so every thread's slice is aligned; false (and the
 * backend's status set) when out of memory. */
static bool att_reserve(cpu_ctx *c, int64_t need) {
    need = (need + 15) & ~(int64_t)15;
    if (need <= c->att_cap) return true;
    float *s = host_alloc((size_t)need * (size_t)em_pool_size(c->pool) * sizeof(float), true);
    if (!s) {
        cpu_fail(c, EM_ERR_NOMEM, "attention: out of memory for scores");
        return false;
    }
    free(c->att_work);
    c->att_work = s;
    c->att_cap = need;
    return true;
}

/* Growing c->kt to at least need floats; false (status set) when out of memory. */
static bool kt_reserve(cpu_ctx *c, int64_t need, const char *what) {
    if (need <= c->kt_cap) return true;
    float *t = host_alloc((size_t)need * sizeof(float), true);
    if (!t) {
        cpu_fail(c, EM_ERR_NOMEM, what);
        return false;
    }
    free(c->kt);
    c->kt = t;
    c->kt_cap = need;
    return true;
}

/* A prefill's attention in blocks (cpu_attend_block): QB query rows of one
 * key/value head and its GQA group a work item, the value heads transposed
 * once per call into c->kt (zeros past the cache, rows of n_pv values). */
#define QB 8
#define MAX_GROUP 16 /* query heads per key/value head; more take attn_body */

struct ablock_args {
    cpu_ctx *c; em_tensor *out; const em_tensor *q, *k, *v; const em_attn_params *p;
    bool causal;
    int64_t n_pv;      /* values per transposed row */
    size_t esz;        /* bytes per cache value */
    _Atomic long long next;
};

static void vt_body(void *varg, int ith, int nth) {
    struct ablock_args *a = varg;
    const em_attn_params *p = a->p;
    const int64_t rows = (int64_t)p->n_head_kv * p->head_dim;
    long long r0, r1;
    em_pool_range(rows, ith, nth, &r0, &r1);
    char *vt = (char *)a->c->kt;
    for (int64_t r = r0; r < r1; r++) { /* r = hk * head_dim + d: column r of the cache rows */
        char *dst = vt + (size_t)r * (size_t)a->n_pv * a->esz;
        const char *src = (const char *)a->v->data + (size_t)r * a->esz;
        if (a->esz == 2)
            for (int64_t t = 0; t < p->n_kv; t++) memcpy(dst + t * 2, src + (size_t)t * a->v->nb[1], 2);
        else
            for (int64_t t = 0; t < p->n_kv; t++) memcpy(dst + t * 4, src + (size_t)t * a->v->nb[1], 4);
        memset(dst + (size_t)p->n_kv * a->esz, 0, (size_t)(a->n_pv - p->n_kv) * a->esz);
    }
}

static void ablock_body(void *varg, int ith, int nth) {
    struct ablock_args *a = varg;
    const em_attn_params *p = a->p;
    const int64_t n_q = a->q->ne[1], n_blk = (n_q + QB - 1) / QB;
    const int group = p->n_head / p->n_head_kv;
    float *work = a->c->att_work + (size_t)ith * (size_t)a->c->att_cap;
    const size_t vt_stride = (size_t)a->n_pv * a->esz;
    (void)nth;
    for (long long it; (it = atomic_fetch_add_explicit(&a->next, 1, memory_order_relaxed)) < p->n_head_kv * n_blk;) {
        const int hk = (int)(it / n_blk);
        const int64_t i0 = (it % n_blk) * QB, i1 = i0 + QB < n_q ? i0 + QB : n_q;
        float *outs[QB * MAX_GROUP];
        const float *qs[QB * MAX_GROUP];
        int64_t nkv[QB * MAX_GROUP];
        int nq = 0;
        for (int64_t i = i0; i < i1; i++)
            for (int h = hk * group; h < (hk + 1) * group; h++, nq++) {
                outs[nq] = row_f32(a->out, i) + (size_t)h * p->head_dim;
                qs[nq] = row_f32(a->q, i) + (size_t)h * p->head_dim;
                nkv[nq] = a->causal ? p->pos0 + i + 1 : p->n_kv;
            }
        const size_t koff = (size_t)hk * (size_t)p->head_dim * a->esz;
        cpu_attend_block(&a->c->kern, outs, qs, nkv, nq, (const char *)a->k->data + koff,
                         (const char *)a->c->kt + (size_t)hk * p->head_dim * vt_stride, vt_stride, a->k->type,
                         a->k->nb[1], p->head_dim, a->n_pv, p->scale, n_q, work);
    }
}

static void attn_run(cpu_ctx *c, em_tensor *out, const em_tensor *q, const em_tensor *k, const em_tensor *v,
                     const em_attn_params *p, bool causal) {
    const int64_t n_q = q->ne[1];
    const int group = p->n_head / p->n_head_kv;
    if (n_q > 1 && group <= MAX_GROUP && k->type == v->type &&
        cpu_attend_block_fits(&c->kern, k->type, p->head_dim, p->n_kv, n_q)) {
        const int64_t gk = c->kern.gemm_k[k->type];
        struct ablock_args a = {c, out, q, k, v, p, causal, (p->n_kv + gk - 1) / gk * gk,
                                em_type_block_bytes(k->type), 0};
        const int64_t vt_floats = ((int64_t)p->n_head_kv * p->head_dim * a.n_pv * (int64_t)a.esz + 3) / 4;
        if (!att_reserve(c, (int64_t)cpu_attend_block_work(&c->kern, p->head_dim, a.n_pv, QB * group))) return;
        if (!kt_reserve(c, vt_floats, "attention: out of memory for the transposed values")) return;
        em_pool_run(c->pool, vt_body, &a);
        em_pool_run_dynamic(c->pool, ablock_body, &a);
        return;
    }
    /* head_dim may differ from call to call (a vision tower and a language model) */
    if (!att_reserve(c, (int64_t)cpu_attend_work(&c->kern, p->head_dim, p->n_kv))) return;
    struct attn_args a = {c, out, q, k, v, p, causal, 0};
    if (q->ne[1] * p->n_head * p->n_kv * p->head_dim < CPU_PARALLEL_MIN) attn_body(&a, 0, 1);
    /* One query row (a decode step) is split statically, each thread a run of
     * consecutive heads: the heads sharing a key/value head then mostly
     * share a thread, and its cache reads (from L2 after the first head,
     * not from memory again on the other core); a decode step's attention
     * at 768 cached positions took half the time so. Several rows go to
     * whichever thread is free. */
    else if (q->ne[1] == 1) em_pool_run(c->pool, attn_body, &a);
    else em_pool_run_dynamic(c->pool, attn_body, &a);
}

static void cpu_attention(em_backend *be, em_tensor *out, const em_tensor *q, const em_tensor *k,
                          const em_tensor *v, const em_attn_params *p) {
    attn_run(ctx_of(be), out, q, k, v, p, true);
}

/* The encoder's attention: every row over all n_kv keys of plain F32
 * activations (a ViT tile: 1024 rows, 12 heads of 64). Row by row (attn_run)
 * each query reads all of its head's keys and values for 2 flops a load;
 * here a block of FULL_ROWS queries of one head goes through two products
 * (kern->sgemm): scores S = Q K^T, a row-wise softmax, then S V, so each key
 * and value vector loaded serves the whole block. The keys are transposed
 * once per call (K^T per head, contiguous over positions) so both products
 * are of the NN form; S stays in a per-thread buffer of FULL_ROWS rows,
 * never a whole n x n matrix. Work items go through one head's row blocks
 * before the next head's, so a core reads that head's K^T and V (512 KB
 * at 1024 keys) from its L2, not all heads' from L3 (attention ~4% faster).
 * The values are copied once per call too, each head's rows packed apart
 * (ldv floats a row): in the tensor a head's 64 values of a position sit
 * one 3 KB row apart, so the S V tile's 1024 loads of a column panel fell
 * in 4 of L1's 64 sets and each came from L2 (one head, one thread, SigLIP
 * shapes: S V 73 -> 95-101 GFLOP/s with AVX2, 166-175 -> 193-217 with
 * AVX-512; the copy is a twentieth of that product's time).
 * Sums run in another order than attn_run's (the decoder's attention keeps
 * that one: it must round as llama.cpp), the softmax's too (softmax_row:
 * one read-only pass for the max, one of exp and float sums; against
 * scale_max and softmax_exp, bench_vit_ops' attention_full at 2 threads,
 * AVX2, 20.8 -> 18.5-20.0 ms, and a tile ~1.3% faster on both paths). */
#define FULL_ROWS 24

struct full_args {
    const cpu_kernels *kern; em_tensor *out; const em_tensor *q, *k, *v; const em_attn_params *p;
    float *kt, *vp, *work;
    int64_t ldk, ldv, lds, work_cap; /* ldk, ldv, lds: row strides of K^T, the packed V and the scores */
    _Atomic long long next;
};

static void full_pack_body(void *varg, int ith, int nth) {
    struct full_args *a = varg;
    const int64_t n = a->p->n_kv, hd = a->p->head_dim, dims = (int64_t)a->p->n_head_kv * hd;
    long long d0, d1;
    em_pool_range(dims, ith, nth, &d0, &d1);
    for (int64_t t0 = 0; t0 < n; t0 += 16) { /* 16 positions: one cache line of each K^T row written at a time */
        const int64_t t1 = t0 + 16 < n ? t0 + 16 : n;
        for (long long d = d0; d < d1; d++)
            for (int64_t t = t0; t < t1; t++) a->kt[d * a->ldk + t] = row_f32(a->k, t)[d];
    }
    long long t0, t1;
    em_pool_range(n, ith, nth, &t0, &t1);
    for (int hk = 0; hk < a->p->n_head_kv; hk++)
        for (long long t = t0; t < t1; t++)
            memcpy(a->vp + ((size_t)hk * (size_t)n + (size_t)t) * (size_t)a->ldv, row_f32(a->v, t) + hk * hd,
                   (size_t)hd * sizeof(float));
}

static void full_body(void *varg, int ith, int nth) {
    struct full_args *a = varg;
    const em_attn_params *p = a->p;
    const int64_t n_q = a->q->ne[1], n = p->n_kv, hd = p->head_dim, blocks = (n_q + FULL_ROWS - 1) / FULL_ROWS;
    const int group = p->n_head / p->n_head_kv;
    float *s = a->work + (size_t)ith * (size_t)a->work_cap, *sum = s + FULL_ROWS * a->lds;
    (void)nth;
    for (long long j; (j = atomic_fetch_add_explicit(&a->next, 1, memory_order_relaxed)) < blocks * p->n_head;) {
        const int h = (int)(j / blocks), hk = h / group;
        const int64_t i0 = j % blocks * FULL_ROWS, rows = n_q - i0 < FULL_ROWS ? n_q - i0 : FULL_ROWS;
        a->kern->sgemm(rows, n, hd, row_f32(a->q, i0) + h * hd, a->q->nb[1] / sizeof(float), a->kt + hk * hd * a->ldk,
                       a->ldk, s, a->lds);
        for (int64_t r = 0; r < rows; r++) sum[r] = 1.0f / a->kern->softmax_row(n, s + r * a->lds, p->scale);
        float *o = row_f32(a->out, i0) + h * hd;
        const int64_t ldo = a->out->nb[1] / sizeof(float);
        a->kern->sgemm(rows, hd, n, s, a->lds, a->vp + (size_t)hk * (size_t)n * (size_t)a->ldv, a->ldv, o, ldo);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t d = 0; d < hd; d++) o[r * ldo + d] *= sum[r];
    }
}

static void cpu_attention_full(em_backend *be, em_tensor *out, const em_tensor *q, const em_tensor *k,
                               const em_tensor *v, const em_attn_params *p) {
    cpu_ctx *c = ctx_of(be);
    if (k->type != EM_TYPE_F32 || v->type != EM_TYPE_F32) { /* (no encoder stores F16 keys today) */
        attn_run(c, out, q, k, v, p, false);
        return;
    }
    /* Row strides one cache line past a multiple of 16 floats: at 1024 keys
     * the rows of K^T and of the scores would be 4 KB apart, all in one L1
     * set, and a 6-row tile's loads would evict each other (padded, the
     * attention of a 1024-row tile is ~5% faster). */
    const int64_t ldk = (p->n_kv + 15) / 16 * 16 + 16, lds = ldk;
    const int64_t ldv = ((int64_t)p->head_dim + 15) / 16 * 16 + 16; /* the same rule, for the packed values */
    const int64_t kt_floats = (int64_t)p->n_head_kv * p->head_dim * ldk, vp_floats = (int64_t)p->n_head_kv * p->n_kv * ldv;
    if (!att_reserve(c, (int64_t)FULL_ROWS * (lds + 1))) return; /* scores, then each row's 1 / sum */
    if (!kt_reserve(c, kt_floats + vp_floats, "attention: out of memory for the transposed keys and packed values"))
        return;
    struct full_args a = {&c->kern, out, q, k, v, p, c->kt, c->kt + kt_floats, c->att_work,
                          ldk, ldv, lds, c->att_cap, 0};
    em_pool_run(c->pool, full_pack_body, &a);
    em_pool_run_dynamic(c->pool, full_body, &a);
}

enum ew_op { EW_ADD, EW_SWIGLU, EW_GELU, EW_ADD_BIAS };

/* b is unused for EW_GELU, and one row (broadcast) for EW_ADD_BIAS. */
struct ew_args { em_tensor *out; const em_tensor *a, *b; enum ew_op op; const cpu_kernels *kern; };

static void ew_body(void *varg, int ith, int nth) {
    struct ew_args *a = varg;
    long long i0, i1;
    em_pool_range(a->out->ne[1], ith, nth, &i0, &i1);
    const int64_t n = a->out->ne[0];
    for (long long i = i0; i < i1; i++) {
        float *y = row_f32(a->out, i);
        const float *x0 = row_f32(a->a, i);
        switch (a->op) {
        case EW_ADD: {
            const float *x1 = row_f32(a->b, i);
            for (int64_t j = 0; j < n; j++) y[j] = x0[j] + x1[j];
            break;
        }
        case EW_SWIGLU: a->kern->swiglu(n, y, x0, row_f32(a->b, i)); break;
        case EW_GELU: a->kern->gelu(n, y, x0); break;
        case EW_ADD_BIAS: {
            const float *bias = a->b->data;
            for (int64_t j = 0; j < n; j++) y[j] = x0[j] + bias[j];
            break;
        }
        }
    }
}

static void run_ew(em_backend *be, struct ew_args *a) {
    a->kern = &ctx_of(be)->kern;
    if (em_tensor_nelements(a->out) < CPU_PARALLEL_MIN) ew_body(a, 0, 1);
    else em_pool_run(ctx_of(be)->pool, ew_body, a);
}

static void cpu_swiglu(em_backend *be, em_tensor *out, const em_tensor *gate, const em_tensor *up) {
    struct ew_args a = {out, gate, up, EW_SWIGLU, NULL};
    run_ew(be, &a);
}

static void cpu_add(em_backend *be, em_tensor *out, const em_tensor *x, const em_tensor *y) {
    struct ew_args a = {out, x, y, EW_ADD, NULL};
    run_ew(be, &a);
}

static void cpu_gelu(em_backend *be, em_tensor *out, const em_tensor *x) {
    struct ew_args a = {out, x, NULL, EW_GELU, NULL};
    run_ew(be, &a);
}

static void cpu_add_bias(em_backend *be, em_tensor *out, const em_tensor *x, const em_tensor *b) {
    struct ew_args a = {out, x, b, EW_ADD_BIAS, NULL};
    run_ew(be, &a);
}

static ember_status cpu_sync(em_backend *be, char *err) {
    cpu_ctx *c = ctx_of(be);
    ember_status st = c->status;
    if (st != EM_OK) em_err(err, st, "cpu backend: %s", c->errmsg);
    c->status = EM_OK;
    return st;
}

static void cpu_free(em_backend *be) {
    if (!be) return;
    cpu_ctx *c = ctx_of(be);
    if (c) {
        em_pool_free(c->pool);
        free(c->scratch);
        free(c->att_work);
        free(c->kt);
        free(c);
    }
    free(be);
}

/* The table below has a member for each em_op (matmul also serves
 * matmul_multi; matmul_acc is optional and left out here). A new op grows
 * EM_OP_COUNT and stops the build until it is listed here and in
 * cpu_supports. */
_Static_assert(EM_OP_COUNT == 12, "cpu backend: a new em_op needs its function in cpu_ops and a case in cpu_supports");

static const em_backend_ops cpu_ops = {
    .name = "cpu",
    .free = cpu_free,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .wrap = cpu_wrap,
    .upload = cpu_upload,
    .download = cpu_download,
    .host_ptr = cpu_host_ptr,
    .supports = cpu_supports,
    .get_rows = cpu_get_rows,
    .rms_norm = cpu_rms_norm,
    .matmul = cpu_matmul_op,
    .matmul_multi = cpu_matmul_multi_op,
    .rope = cpu_rope,
    .kv_store = cpu_kv_store,
    .attention = cpu_attention,
    .swiglu = cpu_swiglu,
    .add = cpu_add,
    .layer_norm = cpu_layer_norm,
    .gelu = cpu_gelu,
    .add_bias = cpu_add_bias,
    .attention_full = cpu_attention_full,
    .sync = cpu_sync,
};

em_backend *cpu_backend_create(int n_threads, char *err) {
    em_backend *be = calloc(1, sizeof *be);
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        em_err(err, EM_ERR_NOMEM, "cpu_backend_create: out of memory");
        return NULL;
    }
    be->ops = &cpu_ops;
    be->ctx = c;
    cpu_kernels_init(&c->kern);
    c->pool = em_pool_create(n_threads, err);
    if (!c->pool) {
        cpu_free(be);
        return NULL;
    }
    return be;
}

const char *cpu_backend_isa(const em_backend *be) { return ((const cpu_ctx *)be->ctx)->kern.isa; }
