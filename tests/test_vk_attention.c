/* test_vk_attention.c - Vulkan attention against the CPU backend.
 *
 * Shapes: decode (one query row) at pos0 0, 1, 31, 100, 257 and prefill of
 * 2..130 rows at pos0 0 and later; GQA ratios 1, 3, 4 and MQA; head_dim 32,
 * 48, 64, 80, 128, 256; F16 and F32 caches; caches larger than the rows filled
 * (the rows past n_kv hold NaN bits, so a kernel that reads them shows);
 * q/out as row views at an offset the device cannot bind at; and the decode
 * replay case: the same tensors at pos0 10 then 11, where the second step
 * must replay the recorded command buffer and still be right.
 *
 * Tolerances (max |gpu - cpu| / max |cpu|):
 *   F32 cache: 1e-5. Both sides compute in fp32; they differ in summation
 *     order (online softmax over tiles/chunks vs one pass) and in exp's last
 *     bits, ~1e-7 per operation, growing to ~1e-6 over a few hundred keys.
 *   F16 cache: 2e-3. The CPU reference rounds the query and the softmax
 *     weights to F16 (llama.cpp's CPU path, cpu_ops.c); the GPU keeps them
 *     fp32. Each rounding is <= 2^-11 relative: scores move by about
 *     2^-11 * |score|, weights by 2^-11, so outputs move by a few 2^-11
 *     (4.9e-4) of their size at worst; observed ~7e-4.
 *
 * Non-causal attention (vk_op_attention_full, for the ViT) over a cache is
 * compared with a double-precision reference computed here from the very
 * same values (F16 decoded), so 1e-5 serves both cache types. The ops
 * table's attention_full, as the ViT calls it (K and V plain F32
 * activations of exactly n_kv rows, or column slices of one fused QKV
 * product), is compared with the CPU backend's, also at 1e-5 (TOL_F32's
 * reasoning, over up to 1024 keys): a ViT tile of 1024 patches x 12 heads
 * of 64 (flash path), decode-sized row counts (split path), GQA, row views
 * at an offset, and a pos0 that must be ignored. */
#include "vk_test_util.h"

#include "core/types.h"
/* White-box: attn_full_case calls vk_op_attention_full on an F16 cache,
 * which no backend op offers (vk_backend.c's supports() says F32 only). */
#include "core/vulkan/vk_internal.h"

#define TOL_F32 1e-5
#define TOL_F16 2e-3
#define TOL_FULL 1e-5

typedef struct shape {
    int n_head, n_head_kv, head_dim;
    int64_t n_ctx;
} shape;

/* A cache pair on both backends: rows 0..n_kv-1 hold data (the same on
 * both), rows past them NaN bits. */
typedef struct cache {
    em_tensor kc, kv, vc, vv; /* K on cpu / vulkan, V on cpu / vulkan */
    void *kh, *vh;            /* host copies, full n_ctx rows */
} cache;

static double worst[2];    /* [f16] */
static int n_cases[2];
static double worst_full;

static void cache_fill_row(vkt *T, void *row, enum em_type t, int64_t n, bool nan_bits) {
    for (int64_t i = 0; i < n; i++) {
        const float x = nan_bits ? NAN : vkt_rand(T);
        if (t == EM_TYPE_F16) ((em_fp16 *)row)[i] = nan_bits ? 0xffff : em_fp32_to_fp16(x);
        else ((float *)row)[i] = x;
    }
}

static void cache_open(vkt *T, cache *C, const shape *s, enum em_type t, int64_t n_kv) {
    const int64_t dim = (int64_t)s->n_head_kv * s->head_dim;
    em_tensor sh = em_tensor_make(t, dim, s->n_ctx, 1, 1);
    const size_t rb = sh.nb[1], n = em_tensor_nbytes(&sh);
    C->kh = malloc(n);
    C->vh = malloc(n);
    if (!C->kh || !C->vh) { fprintf(stderr, "FAIL: out of memory\n"); exit(1); }
    for (int64_t r = 0; r < s->n_ctx; r++) {
        cache_fill_row(T, (char *)C->kh + r * rb, t, dim, r >= n_kv);
        cache_fill_row(T, (char *)C->vh + r * rb, t, dim, r >= n_kv);
    }
    vkt_act(T, &C->kc, &C->kv, &sh, C->kh);
    vkt_act(T, &C->vc, &C->vv, &sh, C->vh);
}

/* Fill row r (past the first n_kv) on both backends, as a decode step's
 * kv_store would. */
static void cache_put_row(vkt *T, cache *C, enum em_type t, int64_t dim, int64_t r) {
    char err[EM_ERR_LEN];
    const size_t rb = C->kc.nb[1];
    cache_fill_row(T, (char *)C->kh + r * rb, t, dim, false);
    cache_fill_row(T, (char *)C->vh + r * rb, t, dim, false);
    em_backend *be[2] = {T->cpu, T->vk};
    em_tensor *k[2] = {&C->kc, &C->kv}, *v[2] = {&C->vc, &C->vv};
    for (int i = 0; i < 2; i++)
        if (be[i]->ops->upload(be[i], k[i], (char *)C->kh + r * rb, r * rb, rb, err) ||
            be[i]->ops->upload(be[i], v[i], (char *)C->vh + r * rb, r * rb, rb, err)) {
            fprintf(stderr, "FAIL: upload: %s\n", err);
            exit(1);
        }
}

static void cache_close(vkt *T, cache *C) {
    vkt_release(T, &C->kc, &C->kv);
    vkt_release(T, &C->vc, &C->vv);
    free(C->kh);
    free(C->vh);
}

/* Query rows and outputs for n rows; with view, both are rows 1..n of a
 * tensor one row longer, so they start at an offset (a residual for the
 * shader when the row size is not a multiple of the binding alignment). */
typedef struct qio {
    em_tensor qc, qv, oc, ov;    /* the allocations */
    em_tensor qcv, qvv, ocv, ovv; /* what the op sees */
} qio;

static void qio_open(vkt *T, qio *Q, const shape *s, int64_t n, bool view) {
    const int64_t dim = (int64_t)s->n_head * s->head_dim, rows = n + (view ? 1 : 0);
    em_tensor sh = em_tensor_make(EM_TYPE_F32, dim, rows, 1, 1);
    float *q = malloc(sizeof(float) * (size_t)(dim * rows));
    if (!q) { fprintf(stderr, "FAIL: out of memory\n"); exit(1); }
    /* Scaled up so the softmax is peaked, not flat: scores of a few units. */
    vkt_fill(T, q, (size_t)(dim * rows), 4.0f);
    vkt_act(T, &Q->qc, &Q->qv, &sh, q);
    vkt_act(T, &Q->oc, &Q->ov, &sh, NULL);
    free(q);
    const int64_t r0 = view ? 1 : 0;
    Q->qcv = em_tensor_rows(&Q->qc, r0, n);
    Q->qvv = em_tensor_rows(&Q->qv, r0, n);
    Q->ocv = em_tensor_rows(&Q->oc, r0, n);
    Q->ovv = em_tensor_rows(&Q->ov, r0, n);
}

static void qio_close(vkt *T, qio *Q) {
    vkt_release(T, &Q->qc, &Q->qv);
    vkt_release(T, &Q->oc, &Q->ov);
}

/* Run attention on both backends and compare; returns the error. */
static double attn_compare(vkt *T, cache *C, qio *Q, const shape *s, enum em_type t, int64_t pos0, int64_t n) {
    em_attn_params p = {.n_head = s->n_head, .n_head_kv = s->n_head_kv, .head_dim = s->head_dim,
                        .pos0 = pos0, .n_kv = pos0 + n, .scale = 1.0f / sqrtf((float)s->head_dim)};
    T->cpu->ops->attention(T->cpu, &Q->ocv, &Q->qcv, &C->kc, &C->vc, &p);
    T->vk->ops->attention(T->vk, &Q->ovv, &Q->qvv, &C->kv, &C->vv, &p);
    float *rc, *rv;
    vkt_results(T, &Q->oc, &Q->ov, &rc, &rv);
    /* Compare the op's rows only (a view's row 0 was never written). */
    const size_t off = (size_t)(Q->ocv.offs - Q->oc.offs) / 4, cnt = (size_t)(n * s->n_head * s->head_dim);
    const double e = vkt_maxrel(rc + off, rv + off, cnt);
    const int f16 = t == EM_TYPE_F16;
    if (e > worst[f16]) worst[f16] = e;
    n_cases[f16]++;
    free(rc);
    free(rv);
    return e;
}

static void attn_case(vkt *T, const shape *s, enum em_type t, int64_t pos0, int64_t n, bool view) {
    cache C;
    qio Q;
    cache_open(T, &C, s, t, pos0 + n);
    qio_open(T, &Q, s, n, view);
    const double e = attn_compare(T, &C, &Q, s, t, pos0, n);
    const double tol = t == EM_TYPE_F16 ? TOL_F16 : TOL_F32;
    CHECK(e <= tol, "%s heads %d/%d dim %d ctx %lld: %lld rows at %lld%s: rel err %g", em_type_name(t), s->n_head,
          s->n_head_kv, s->head_dim, (long long)s->n_ctx, (long long)n, (long long)pos0, view ? " (views)" : "", e);
    qio_close(T, &Q);
    cache_close(T, &C);
}

/* Decode steps on the same tensors: the second step's op list equals the
 * first one's, so it must replay the recorded command buffer, with the new
 * position taking effect through the params alone. */
static void attn_replay(vkt *T, const shape *s, enum em_type t) {
    const int64_t dim = (int64_t)s->n_head_kv * s->head_dim;
    cache C;
    qio Q;
    cache_open(T, &C, s, t, 11);
    qio_open(T, &Q, s, 1, false);
    const double tol = t == EM_TYPE_F16 ? TOL_F16 : TOL_F32;
    vk_backend_stats st0, st1;
    for (int64_t pos0 = 10; pos0 < 14; pos0++) {
        if (pos0 > 10) cache_put_row(T, &C, t, dim, pos0);
        vk_backend_get_stats(T->vk, &st0);
        const double e = attn_compare(T, &C, &Q, s, t, pos0, 1);
        vk_backend_get_stats(T->vk, &st1);
        CHECK(e <= tol, "replay %s dim %d at pos0 %lld: rel err %g", em_type_name(t), s->head_dim, (long long)pos0, e);
        if (pos0 > 10)
            CHECK(st1.replays > st0.replays && st1.recordings == st0.recordings,
                  "decode at pos0 %lld recorded anew (recordings %llu -> %llu, replays %llu -> %llu)", (long long)pos0,
                  st0.recordings, st1.recordings, st0.replays, st1.replays);
    }
    qio_close(T, &Q);
    cache_close(T, &C);
}

/* out[i][h] = softmax_t(scale * q_i,h . k_t,hk) . v_t,hk over t < n_kv,
 * in double, from the host copies. */
static void attn_full_ref(float *out, const float *q, const cache *C, const shape *s, enum em_type t, int64_t n_q,
                          int64_t n_kv, float scale) {
    const int64_t qdim = (int64_t)s->n_head * s->head_dim;
    const size_t rb = C->kc.nb[1];
    double *w = malloc(sizeof(double) * (size_t)n_kv);
    if (!w) { fprintf(stderr, "FAIL: out of memory\n"); exit(1); }
    for (int64_t i = 0; i < n_q; i++)
        for (int h = 0; h < s->n_head; h++) {
            const int64_t col = (int64_t)(h / (s->n_head / s->n_head_kv)) * s->head_dim;
            double mx = -INFINITY, sum = 0;
            for (int64_t r = 0; r < n_kv; r++) {
                double d = 0;
                for (int e = 0; e < s->head_dim; e++) {
                    const char *row = (const char *)C->kh + r * rb;
                    const float kx = t == EM_TYPE_F16 ? em_fp16_to_fp32(((const em_fp16 *)row)[col + e])
                                                      : ((const float *)row)[col + e];
                    /* against an F16 cache the query meets the keys rounded
                     * to fp16 (shaders/attn.glsl, as the CPU backend) */
                    const float qx = q[i * qdim + h * s->head_dim + e];
                    d += (double)(t == EM_TYPE_F16 ? em_fp16_to_fp32(em_fp32_to_fp16(qx)) : qx) * kx;
                }
                w[r] = d * scale;
                if (w[r] > mx) mx = w[r];
            }
            for (int64_t r = 0; r < n_kv; r++) sum += (w[r] = exp(w[r] - mx));
            for (int e = 0; e < s->head_dim; e++) {
                double acc = 0;
                for (int64_t r = 0; r < n_kv; r++) {
                    const char *row = (const char *)C->vh + r * rb;
                    acc += w[r] * (t == EM_TYPE_F16 ? em_fp16_to_fp32(((const em_fp16 *)row)[col + e])
                                                    : ((const float *)row)[col + e]);
                }
                out[i * qdim + h * s->head_dim + e] = (float)(acc / sum);
            }
        }
    free(w);
}

/* Bidirectional attention: n_q query rows over n_kv keys, each row seeing
 * all of them (decode's split path for n_q <= 4, flash above). */
static void attn_full_case(vkt *T, const shape *s, enum em_type t, int64_t n_q, int64_t n_kv) {
    char err[EM_ERR_LEN];
    cache C;
    cache_open(T, &C, s, t, n_kv);
    const int64_t qdim = (int64_t)s->n_head * s->head_dim;
    em_tensor qs = em_tensor_make(EM_TYPE_F32, qdim, n_q, 1, 1), qc, qv, oc, ov;
    float *q = malloc(sizeof(float) * (size_t)(qdim * n_q)), *ref = malloc(sizeof(float) * (size_t)(qdim * n_q));
    float *got = malloc(sizeof(float) * (size_t)(qdim * n_q));
    if (!q || !ref || !got) { fprintf(stderr, "FAIL: out of memory\n"); exit(1); }
    vkt_fill(T, q, (size_t)(qdim * n_q), 4.0f);
    vkt_act(T, &qc, &qv, &qs, q);
    vkt_act(T, &oc, &ov, &qs, NULL);
    em_attn_params p = {.n_head = s->n_head, .n_head_kv = s->n_head_kv, .head_dim = s->head_dim,
                        .pos0 = 0, .n_kv = n_kv, .scale = 1.0f / sqrtf((float)s->head_dim)};
    vk_op_attention_full(T->vk->ctx, &ov, &qv, &C.kv, &C.vv, &p);
    if (em_backend_sync(T->vk, err) || T->vk->ops->download(T->vk, &ov, got, 0, em_tensor_nbytes(&ov), err)) {
        fprintf(stderr, "FAIL: vulkan: %s\n", err);
        exit(1);
    }
    attn_full_ref(ref, q, &C, s, t, n_q, n_kv, p.scale);
    const double e = vkt_maxrel(ref, got, (size_t)(qdim * n_q));
    CHECK(e <= TOL_FULL, "full %s heads %d/%d dim %d: %lld rows over %lld keys: rel err %g", em_type_name(t),
          s->n_head, s->n_head_kv, s->head_dim, (long long)n_q, (long long)n_kv, e);
    if (e > worst_full) worst_full = e;
    vkt_release(T, &qc, &qv);
    vkt_release(T, &oc, &ov);
    cache_close(T, &C);
    free(q);
    free(ref);
    free(got);
}

/* attention_full through both backends' ops tables, K and V activations
 * (not a cache): separate tensors of n_kv rows, or (fused) q, k, v as
 * column slices of one [n][q_dim + 2 kv_dim] product with q/out as rows
 * 1..n of tensors one row longer, so every binding starts at an offset. */
static double worst_table;

static void attn_table_case(vkt *T, const shape *s, int64_t n_q, int64_t n_kv, bool fused) {
    const int64_t qd = (int64_t)s->n_head * s->head_dim, kd = (int64_t)s->n_head_kv * s->head_dim;
    em_attn_params p = {.n_head = s->n_head, .n_head_kv = s->n_head_kv, .head_dim = s->head_dim,
                        .pos0 = 777, /* ignored */
                        .n_kv = n_kv, .scale = 1.0f / sqrtf((float)s->head_dim)};
    em_tensor a[3][2]; /* allocations, [cpu, vulkan] */
    em_tensor q[2], k[2], v[2], o[2], oa[2];
    int n_alloc = 0;
    if (fused) {
        /* one tensor for q, k and v: n_q == n_kv, plus a leading row */
        const int64_t w = qd + 2 * kd, rows = n_q + 1;
        em_tensor sh = em_tensor_make(EM_TYPE_F32, w, rows, 1, 1);
        float *h = malloc(sizeof(float) * (size_t)(w * rows));
        if (!h) { fprintf(stderr, "FAIL: out of memory\n"); exit(1); }
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < w; c++) h[r * w + c] = (c < qd ? 4.0f : 1.0f) * vkt_rand(T);
        vkt_act(T, &a[0][0], &a[0][1], &sh, h);
        n_alloc = 1;
        free(h);
        for (int b = 0; b < 2; b++) {
            const em_tensor r = em_tensor_rows(&a[0][b], 1, n_q);
            q[b] = k[b] = v[b] = r;
            q[b].ne[0] = qd;
            k[b].ne[0] = v[b].ne[0] = kd;
            k[b].offs += (size_t)qd * 4;
            v[b].offs += (size_t)(qd + kd) * 4;
            if (r.data) {
                k[b].data = (char *)r.data + (size_t)qd * 4;
                v[b].data = (char *)r.data + (size_t)(qd + kd) * 4;
            }
        }
    } else {
        const int64_t rows[3] = {n_q, n_kv, n_kv}, dims[3] = {qd, kd, kd};
        for (int i = 0; i < 3; i++) {
            em_tensor sh = em_tensor_make(EM_TYPE_F32, dims[i], rows[i], 1, 1);
            float *h = malloc(sizeof(float) * (size_t)(dims[i] * rows[i]));
            if (!h) { fprintf(stderr, "FAIL: out of memory\n"); exit(1); }
            vkt_fill(T, h, (size_t)(dims[i] * rows[i]), i == 0 ? 4.0f : 1.0f);
            vkt_act(T, &a[i][0], &a[i][1], &sh, h);
            free(h);
        }
        n_alloc = 3;
        for (int b = 0; b < 2; b++) q[b] = a[0][b], k[b] = a[1][b], v[b] = a[2][b];
    }
    const em_tensor osh = em_tensor_make(EM_TYPE_F32, qd, n_q + (fused ? 1 : 0), 1, 1);
    vkt_act(T, &oa[0], &oa[1], &osh, NULL);
    for (int b = 0; b < 2; b++) o[b] = em_tensor_rows(&oa[b], fused ? 1 : 0, n_q);
    CHECK(T->vk->ops->supports(T->vk, EM_OP_ATTENTION_FULL, EM_TYPE_F32) &&
              T->cpu->ops->supports(T->cpu, EM_OP_ATTENTION_FULL, EM_TYPE_F32),
          "attention_full offered for F32");
    T->cpu->ops->attention_full(T->cpu, &o[0], &q[0], &k[0], &v[0], &p);
    T->vk->ops->attention_full(T->vk, &o[1], &q[1], &k[1], &v[1], &p);
    float *rc, *rv;
    vkt_results(T, &oa[0], &oa[1], &rc, &rv);
    const size_t off = fused ? (size_t)qd : 0;
    const double e = vkt_maxrel(rc + off, rv + off, (size_t)(qd * n_q));
    if (e > worst_table) worst_table = e;
    CHECK(e <= TOL_F32, "attention_full table heads %d/%d dim %d: %lld rows over %lld keys%s: rel err %g", s->n_head,
          s->n_head_kv, s->head_dim, (long long)n_q, (long long)n_kv, fused ? " (fused qkv views)" : "", e);
    free(rc);
    free(rv);
    for (int i = 0; i < n_alloc; i++) vkt_release(T, &a[i][0], &a[i][1]);
    vkt_release(T, &oa[0], &oa[1]);
}

int main(void) {
    vkt T;
    (void)vkt_weight; /* vk_test_util.h's helpers are plain static: mark the unused one used */
    vkt_open(&T);
    const enum em_type types[] = {EM_TYPE_F16, EM_TYPE_F32};
    /* GQA 3 (SmolLM2), 1, 4, MQA; head_dim 64, 32, 48, 80, 128 and the 256 limit. */
    const shape shapes[] = {
        {9, 3, 64, 1024}, {4, 4, 32, 300}, {8, 2, 48, 400}, {6, 1, 80, 300}, {4, 4, 128, 280}, {2, 1, 256, 260},
    };
    const int64_t decode_pos[] = {0, 1, 31, 100, 257};
    const int64_t prefill[][2] = {{2, 0}, {2, 45}, {4, 9}, {5, 0}, {7, 0}, {7, 100}, {64, 0}, {64, 33}, {130, 0}, {130, 70}};
    for (size_t ti = 0; ti < 2; ti++)
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const shape *s = &shapes[si];
            for (size_t i = 0; i < sizeof decode_pos / sizeof decode_pos[0]; i++)
                attn_case(&T, s, types[ti], decode_pos[i], 1, false);
            for (size_t i = 0; i < sizeof prefill / sizeof prefill[0]; i++)
                attn_case(&T, s, types[ti], prefill[i][1], prefill[i][0], false);
        }
    /* Row views at a residual offset: 480 floats a row (1920 bytes). */
    for (size_t ti = 0; ti < 2; ti++) {
        attn_case(&T, &shapes[3], types[ti], 40, 1, true);
        attn_case(&T, &shapes[3], types[ti], 40, 19, true);
        attn_replay(&T, &shapes[0], types[ti]);
    }
    /* Bidirectional (ViT): decode-sized, prefill-sized, keys == queries. */
    const shape vit = {12, 12, 64, 197};
    for (size_t ti = 0; ti < 2; ti++) {
        attn_full_case(&T, &shapes[0], types[ti], 1, 77);
        attn_full_case(&T, &shapes[0], types[ti], 3, 250);
        attn_full_case(&T, &shapes[3], types[ti], 50, 300);
        attn_full_case(&T, &vit, types[ti], 197, 197);
    }
    /* The ops table's attention_full on activations, against the CPU's. */
    const shape vit_tile = {12, 12, 64, 0}, vit_gqa = {12, 4, 64, 0}, small = {8, 2, 48, 0};
    attn_table_case(&T, &vit_tile, 1024, 1024, false);
    attn_table_case(&T, &vit_tile, 256, 256, true);
    attn_table_case(&T, &vit_tile, 1, 1024, false);
    attn_table_case(&T, &vit_tile, 4, 1024, false);
    attn_table_case(&T, &vit_tile, 5, 300, false);
    attn_table_case(&T, &vit_gqa, 197, 197, true);
    attn_table_case(&T, &vit_gqa, 3, 3, true);
    attn_table_case(&T, &small, 33, 1, false);
    printf("worst rel err: non-causal %.3g (tol %g), table vs cpu %.3g (tol %g)\n", worst_full, TOL_FULL, worst_table,
           TOL_F32);
    printf("worst rel err: F16 cache %.3g (%d cases, tol %g), F32 cache %.3g (%d cases, tol %g)\n", worst[1], n_cases[1],
           TOL_F16, worst[0], n_cases[0], TOL_F32);
    vkt_close(&T);
    return CHECK_DONE();
}
