/* test_vit_ops.c - the CPU backend's ViT ops (layer_norm, gelu, add_bias,
 * attention_full) against plain double-precision loops written here from
 * the definitions in core/backend.h.
 *
 * Shapes: rows of 8 and 768 values (SigLIP's width), 1, 5 and 64 rows (the
 * last above CPU_PARALLEL_MIN, so the rows are split over the pool's 2
 * threads); attention with n_head == n_head_kv, GQA and MQA, one key, and a
 * whole ViT tile (1024 patches, 12 heads of 64, every patch over all 1024).
 * Views: rows of wider tensors, q/k/v as column slices of one fused QKV
 * product, and out == x in place.
 *
 * Error measure: max |got - ref| / max(|ref|, 1) per value for gelu (its
 * small outputs come from 1 + tanh(u) cancelling, where float's error is
 * absolute, ~6e-8), max |got - ref| / max |ref| over the tensor for the rest
 * (vk_test_util.h's). Tolerances, with what float arithmetic predicts:
 *   layer_norm 1e-5: a few ulps (~4e-7) on ordinary rows; a row with mean
 *     100 and spread 1 loses the mean's rounding (ulp(100)/2 = 3.8e-6) in
 *     x - mean, relative to the spread.
 *   gelu 1e-6: tanhf and a few products, a few ulps.
 *   add_bias 0: one float add, the same correctly rounded sum as double's.
 *   attention_full 1e-5: float dot products (64 terms) and a float weighted
 *     sum over up to 1024 keys, ~1e-6 observed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/backend.h"
#include "core/cpu/cpu_backend.h"

#define TOL_LN 1e-5
#define TOL_GELU 1e-6
#define TOL_BIAS 0.0
#define TOL_ATTN 1e-5

static uint64_t rng = 0x9e3779b97f4a7c15ull;

/* Uniform in [-1, 1). */
static float frand(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static void fill(float *x, size_t n, float offset, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = offset + scale * frand();
}

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) { fprintf(stderr, "FAIL: out of memory\n"); exit(1); }
    return p;
}

/* A tensor of the backend with these contents (NULL: left unwritten). */
static em_tensor act(em_backend *be, em_tensor shape, const float *host) {
    char err[EM_ERR_LEN];
    if (em_backend_alloc(be, &shape, err)) { fprintf(stderr, "FAIL: alloc: %s\n", err); exit(1); }
    if (host) memcpy(shape.data, host, em_tensor_nbytes(&shape));
    return shape;
}

static void sync_or_die(em_backend *be) {
    char err[EM_ERR_LEN];
    if (em_backend_sync(be, err)) { fprintf(stderr, "FAIL: sync: %s\n", err); exit(1); }
}

/* Value (r, c) of a 2-D F32 view. */
static float at(const em_tensor *t, int64_t r, int64_t c) {
    return ((const float *)((const char *)t->data + (size_t)r * t->nb[1]))[c];
}

/* max |got - ref| / max |ref| over the view's values; ref is dense. */
static double maxrel_view(const em_tensor *got, const double *ref) {
    const int64_t n = got->ne[0], rows = got->ne[1];
    double amax = 1e-30, dmax = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < n; c++) {
            const double g = at(got, r, c), e = ref[r * n + c];
            if (!isfinite(g)) return INFINITY;
            if (fabs(e) > amax) amax = fabs(e);
            if (fabs(g - e) > dmax) dmax = fabs(g - e);
        }
    return dmax / amax;
}

static double worst_ln, worst_gelu, worst_bias, worst_attn;

/* ---- layer_norm */

static void ref_layer_norm(double *y, const em_tensor *x, const float *w, const float *b, double eps) {
    const int64_t n = x->ne[0];
    for (int64_t r = 0; r < x->ne[1]; r++) {
        double mean = 0, var = 0;
        for (int64_t c = 0; c < n; c++) mean += at(x, r, c);
        mean /= (double)n;
        for (int64_t c = 0; c < n; c++) var += (at(x, r, c) - mean) * (at(x, r, c) - mean);
        var /= (double)n;
        for (int64_t c = 0; c < n; c++) {
            double v = (at(x, r, c) - mean) / sqrt(var + eps);
            if (w) v *= w[c];
            if (b) v += b[c];
            y[r * n + c] = v;
        }
    }
}

/* mode 0: out a tensor of its own; 1: in place (out == x); 2: x and out
 * rows 1..rows of tensors one row longer and 3 values wider. */
static void layer_norm_case(em_backend *be, int64_t n, int64_t rows, float mean, int with_b, int mode) {
    const int64_t wide = mode == 2 ? n + 3 : n, total = mode == 2 ? rows + 1 : rows;
    float *x = xmalloc(sizeof(float) * (size_t)(wide * total)), *w = xmalloc(sizeof(float) * (size_t)n);
    float *b = xmalloc(sizeof(float) * (size_t)n);
    double *ref = xmalloc(sizeof(double) * (size_t)(n * rows));
    fill(x, (size_t)(wide * total), mean, 2.0f);
    fill(w, (size_t)n, 1.0f, 0.5f);
    fill(b, (size_t)n, 0.0f, 0.3f);
    /* out starts as a sentinel, so writes outside the view show. */
    float *sentinel = xmalloc(sizeof(float) * (size_t)(wide * total));
    for (int64_t i = 0; i < wide * total; i++) sentinel[i] = 12345.0f;
    em_tensor xa = act(be, em_tensor_make(EM_TYPE_F32, wide, total, 1, 1), x);
    em_tensor oa = act(be, em_tensor_make(EM_TYPE_F32, wide, total, 1, 1), sentinel);
    em_tensor wt = em_tensor_make(EM_TYPE_F32, n, 1, 1, 1), bt = wt;
    char err[EM_ERR_LEN];
    if (em_backend_wrap(be, &wt, w, err) || em_backend_wrap(be, &bt, b, err)) { fprintf(stderr, "FAIL: wrap: %s\n", err); exit(1); }
    em_tensor xv = em_tensor_rows(&xa, mode == 2 ? 1 : 0, rows), ov = em_tensor_rows(&oa, mode == 2 ? 1 : 0, rows);
    xv.ne[0] = ov.ne[0] = n;
    ref_layer_norm(ref, &xv, w, with_b ? b : NULL, 1e-6);
    em_tensor *out = mode == 1 ? &xv : &ov;
    be->ops->layer_norm(be, out, &xv, &wt, with_b ? &bt : NULL, 1e-6f);
    sync_or_die(be);
    const double e = maxrel_view(out, ref);
    if (e > worst_ln) worst_ln = e;
    CHECK(e <= TOL_LN, "layer_norm %lldx%lld mean %g bias %d mode %d: rel err %g", (long long)rows, (long long)n,
          mean, with_b, mode, e);
    if (mode == 2) {
        /* The row before the view and the columns past it are untouched. */
        int touched = 0;
        for (int64_t r = 0; r < total; r++)
            for (int64_t c = r == 0 ? 0 : n; c < wide; c++) touched += at(&oa, r, c) != 12345.0f;
        CHECK(touched == 0, "layer_norm view: %d values outside the view written", touched);
    }
    em_backend_release(be, &xa);
    em_backend_release(be, &oa);
    free(x); free(w); free(b); free(ref); free(sentinel);
}

static void test_layer_norm(em_backend *be) {
    const int64_t shapes[][2] = {{8, 1}, {768, 5}, {768, 64}, {1, 3}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int with_b = 0; with_b < 2; with_b++)
            for (int mode = 0; mode < 3; mode++) layer_norm_case(be, shapes[s][0], shapes[s][1], 0.0f, with_b, mode);
    /* A large mean next to the spread: the two-pass variance's case. */
    layer_norm_case(be, 768, 5, 100.0f, 1, 0);
    layer_norm_case(be, 768, 64, -30.0f, 1, 1);
}

/* ---- gelu and add_bias */

static double gelu_ref(double x) { return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x))); }

static void test_gelu(em_backend *be) {
    const int64_t shapes[][2] = {{8, 1}, {768, 5}, {768, 64}};
    for (size_t s = 0; s < 3; s++)
        for (int in_place = 0; in_place < 2; in_place++) {
            const int64_t n = shapes[s][0], rows = shapes[s][1];
            float *x = xmalloc(sizeof(float) * (size_t)(n * rows));
            fill(x, (size_t)(n * rows), 0.0f, 6.0f);
            /* The tails: large |x| (x^3 overflows float past ~7e12) and 0. */
            const float special[8] = {0.0f, -0.0f, 20.0f, -20.0f, 1e4f, -1e4f, 1e13f, -1e13f};
            for (int i = 0; i < 8 && i < n * rows; i++) x[i] = special[i];
            em_tensor xa = act(be, em_tensor_make(EM_TYPE_F32, n, rows, 1, 1), x);
            em_tensor oa = act(be, em_tensor_make(EM_TYPE_F32, n, rows, 1, 1), NULL);
            em_tensor *out = in_place ? &xa : &oa;
            be->ops->gelu(be, out, &xa);
            sync_or_die(be);
            double e = 0;
            for (int64_t i = 0; i < n * rows; i++) {
                const double r = gelu_ref(x[i]), g = ((const float *)out->data)[i];
                const double d = isfinite(g) ? fabs(g - r) / fmax(fabs(r), 1.0) : INFINITY;
                if (d > e) e = d;
            }
            if (e > worst_gelu) worst_gelu = e;
            CHECK(e <= TOL_GELU, "gelu %lldx%lld in place %d: err %g", (long long)rows, (long long)n, in_place, e);
            em_backend_release(be, &xa);
            em_backend_release(be, &oa);
            free(x);
        }
}

static void test_add_bias(em_backend *be) {
    const int64_t shapes[][2] = {{8, 1}, {768, 5}, {768, 64}};
    for (size_t s = 0; s < 3; s++)
        for (int mode = 0; mode < 3; mode++) {
            const int64_t n = shapes[s][0], rows = shapes[s][1], total = mode == 2 ? rows + 2 : rows;
            float *x = xmalloc(sizeof(float) * (size_t)(n * total)), *b = xmalloc(sizeof(float) * (size_t)n);
            double *ref = xmalloc(sizeof(double) * (size_t)(n * rows));
            fill(x, (size_t)(n * total), 0.0f, 3.0f);
            fill(b, (size_t)n, 0.0f, 1.0f);
            em_tensor xa = act(be, em_tensor_make(EM_TYPE_F32, n, total, 1, 1), x);
            em_tensor oa = act(be, em_tensor_make(EM_TYPE_F32, n, total, 1, 1), NULL);
            em_tensor bt = act(be, em_tensor_make(EM_TYPE_F32, n, 1, 1, 1), b);
            /* mode 2: rows 2.. of both (row views at an offset) */
            em_tensor xv = em_tensor_rows(&xa, mode == 2 ? 2 : 0, rows), ov = em_tensor_rows(&oa, mode == 2 ? 2 : 0, rows);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < n; c++) ref[r * n + c] = (double)(float)((double)at(&xv, r, c) + b[c]);
            em_tensor *out = mode == 1 ? &xv : &ov;
            be->ops->add_bias(be, out, &xv, &bt);
            sync_or_die(be);
            const double e = maxrel_view(out, ref);
            if (e > worst_bias) worst_bias = e;
            CHECK(e <= TOL_BIAS, "add_bias %lldx%lld mode %d: rel err %g", (long long)rows, (long long)n, mode, e);
            em_backend_release(be, &xa);
            em_backend_release(be, &oa);
            em_backend_release(be, &bt);
            free(x); free(b); free(ref);
        }
}

/* ---- attention_full */

typedef struct attn_shape {
    int n_head, n_head_kv, head_dim;
    int64_t n_q, n_kv;
    bool fused; /* q, k, v column slices of one [n][q + 2 kv] product (needs n_q == n_kv) */
} attn_shape;

/* Query rows [r0, r1) (every `step`-th) of out[i][h] = sum_t softmax_t(scale
 * q_i,h . k_t,hk) v_t,hk, in double. Checks them, returns the error. */
static double ref_attn_check(const em_tensor *out, const em_tensor *q, const em_tensor *k, const em_tensor *v,
                             const em_attn_params *p, int64_t step) {
    const int group = p->n_head / p->n_head_kv, hd = p->head_dim;
    double *s = xmalloc(sizeof(double) * (size_t)p->n_kv), *o = xmalloc(sizeof(double) * (size_t)hd);
    double amax = 1e-30, dmax = 0;
    for (int64_t i = 0; i < q->ne[1]; i += step)
        for (int h = 0; h < p->n_head; h++) {
            const int64_t qc = (int64_t)h * hd, kc = (int64_t)(h / group) * hd;
            double mx = -INFINITY, sum = 0;
            for (int64_t t = 0; t < p->n_kv; t++) {
                double d = 0;
                for (int e = 0; e < hd; e++) d += (double)at(q, i, qc + e) * at(k, t, kc + e);
                s[t] = d * p->scale;
                if (s[t] > mx) mx = s[t];
            }
            for (int64_t t = 0; t < p->n_kv; t++) sum += (s[t] = exp(s[t] - mx));
            for (int e = 0; e < hd; e++) o[e] = 0;
            for (int64_t t = 0; t < p->n_kv; t++)
                for (int e = 0; e < hd; e++) o[e] += s[t] * at(v, t, kc + e);
            for (int e = 0; e < hd; e++) {
                const double r = o[e] / sum, g = at(out, i, qc + e);
                if (!isfinite(g)) dmax = INFINITY;
                if (fabs(r) > amax) amax = fabs(r);
                if (fabs(g - r) > dmax) dmax = fabs(g - r);
            }
        }
    free(s);
    free(o);
    return dmax / amax;
}

static void attn_case(em_backend *be, const attn_shape *sh) {
    const int64_t qd = (int64_t)sh->n_head * sh->head_dim, kd = (int64_t)sh->n_head_kv * sh->head_dim;
    em_attn_params p = {.n_head = sh->n_head, .n_head_kv = sh->n_head_kv, .head_dim = sh->head_dim,
                        .pos0 = 12345, /* ignored: must not matter */
                        .n_kv = sh->n_kv, .scale = 1.0f / sqrtf((float)sh->head_dim)};
    em_tensor qkv = {0}, qa = {0}, ka = {0}, va = {0}, q, k, v;
    if (sh->fused) {
        const int64_t w = qd + 2 * kd;
        float *h = xmalloc(sizeof(float) * (size_t)(w * sh->n_q));
        for (int64_t r = 0; r < sh->n_q; r++)
            for (int64_t c = 0; c < w; c++) h[r * w + c] = (c < qd ? 4.0f : 1.0f) * frand();
        qkv = act(be, em_tensor_make(EM_TYPE_F32, w, sh->n_q, 1, 1), h);
        free(h);
        q = k = v = qkv;
        q.ne[0] = qd;
        k.ne[0] = v.ne[0] = kd;
        k.data = (float *)qkv.data + qd;
        v.data = (float *)qkv.data + qd + kd;
        k.offs = qkv.offs + (size_t)qd * 4;
        v.offs = qkv.offs + (size_t)(qd + kd) * 4;
    } else {
        float *h = xmalloc(sizeof(float) * (size_t)((qd > kd ? qd : kd) * (sh->n_q > sh->n_kv ? sh->n_q : sh->n_kv)));
        /* Queries scaled up so the softmax is peaked, not flat. */
        fill(h, (size_t)(qd * sh->n_q), 0.0f, 4.0f);
        qa = act(be, em_tensor_make(EM_TYPE_F32, qd, sh->n_q, 1, 1), h);
        fill(h, (size_t)(kd * sh->n_kv), 0.0f, 1.0f);
        ka = act(be, em_tensor_make(EM_TYPE_F32, kd, sh->n_kv, 1, 1), h);
        fill(h, (size_t)(kd * sh->n_kv), 0.0f, 1.0f);
        va = act(be, em_tensor_make(EM_TYPE_F32, kd, sh->n_kv, 1, 1), h);
        free(h);
        q = qa, k = ka, v = va;
    }
    em_tensor oa = act(be, em_tensor_make(EM_TYPE_F32, qd, sh->n_q, 1, 1), NULL);
    be->ops->attention_full(be, &oa, &q, &k, &v, &p);
    sync_or_die(be);
    /* The whole tile's reference costs 1.6e9 double operations: every 7th
     * row (all heads) says as much. */
    const double e = ref_attn_check(&oa, &q, &k, &v, &p, sh->n_q > 256 ? 7 : 1);
    if (e > worst_attn) worst_attn = e;
    CHECK(e <= TOL_ATTN, "attention_full heads %d/%d dim %d: %lld rows over %lld keys%s: rel err %g", sh->n_head,
          sh->n_head_kv, sh->head_dim, (long long)sh->n_q, (long long)sh->n_kv, sh->fused ? " (fused qkv)" : "", e);
    if (sh->fused) em_backend_release(be, &qkv);
    else {
        em_backend_release(be, &qa);
        em_backend_release(be, &ka);
        em_backend_release(be, &va);
    }
    em_backend_release(be, &oa);
}

static void test_attention_full(em_backend *be) {
    const attn_shape shapes[] = {
        {1, 1, 8, 1, 1, false},       /* one key: out = v */
        {1, 1, 8, 3, 5, false},
        {12, 12, 64, 5, 7, false},    /* 768 wide */
        {12, 12, 64, 5, 5, true},
        {8, 2, 32, 9, 33, false},     /* GQA 4 */
        {6, 1, 80, 4, 50, false},     /* MQA */
        {12, 4, 64, 256, 256, true},  /* GQA 3, parallel */
        {12, 12, 64, 1024, 1024, false}, /* a ViT tile */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) attn_case(be, &shapes[i]);
}

int main(void) {
    char err[EM_ERR_LEN];
    em_backend *be = cpu_backend_create(2, err);
    if (!be) { fprintf(stderr, "FAIL: cpu backend: %s\n", err); return 1; }
    CHECK(be->ops->layer_norm && be->ops->gelu && be->ops->add_bias && be->ops->attention_full, "cpu offers the ViT ops");
    const enum em_op ops[4] = {EM_OP_LAYER_NORM, EM_OP_GELU, EM_OP_ADD_BIAS, EM_OP_ATTENTION_FULL};
    for (int i = 0; i < 4; i++)
        CHECK(be->ops->supports(be, ops[i], EM_TYPE_F32) && !be->ops->supports(be, ops[i], EM_TYPE_F16),
              "op %d: F32 only", (int)ops[i]);
    test_layer_norm(be);
    test_gelu(be);
    test_add_bias(be);
    test_attention_full(be);
    printf("worst err: layer_norm %.3g (tol %g), gelu %.3g (tol %g), add_bias %.3g (tol %g), attention_full %.3g (tol %g)\n",
           worst_ln, TOL_LN, worst_gelu, TOL_GELU, worst_bias, TOL_BIAS, worst_attn, TOL_ATTN);
    em_backend_free(be);
    return CHECK_DONE();
}
