/* test_vk_ops.c - the Vulkan backend's small ops against the CPU backend:
 * embedding lookup (every table type), RMSNorm, RoPE, KV store, residual add,
 * SwiGLU; row-strided views; the replay of a recorded command buffer with new
 * parameters; tables split over storage ranges (EMBER_VK_MAX_RANGE).
 *
 * Tolerances (max |gpu - cpu| / max |cpu|): 1e-6 for copies and adds (exact
 * in principle; F16 conversions may round differently in the last bit on a
 * driver: 1e-3 for the F16 cache), 1e-5 for RMSNorm and SwiGLU (float sums
 * in a different order, exp), 2e-5 for RoPE (sin/cos of angles up to a few
 * thousand radians: the GPU's are accurate to ~1e-6 on [-pi, pi] after range
 * reduction). */
#include "vk_test_util.h"

#include "core/types.h"


/* A table of n rows of dim values of type t, quantized/converted from f32. */
static void *make_table(vkt *T, enum em_type t, int64_t rows, int64_t dim) {
    size_t rb = em_row_bytes(t, dim);
    unsigned char *buf = malloc(rb * (size_t)rows);
    float *f = malloc(sizeof(float) * (size_t)dim);
    for (int64_t r = 0; r < rows; r++) {
        vkt_fill(T, f, (size_t)dim, 1.0f);
        unsigned char *row = buf + (size_t)r * rb;
        for (int64_t b = 0; b < dim; b += 32) {
            int nb = dim - b < 32 ? (int)(dim - b) : 32;
            switch (t) {
            case EM_TYPE_F32: memcpy(row + b * 4, f + b, (size_t)nb * 4); break;
            case EM_TYPE_F16: for (int i = 0; i < nb; i++) ((em_fp16 *)row)[b + i] = em_fp32_to_fp16(f[b + i]); break;
            case EM_TYPE_BF16: for (int i = 0; i < nb; i++) ((em_bf16 *)row)[b + i] = em_fp32_to_bf16(f[b + i]); break;
            case EM_TYPE_Q8_0: {
                em_block_q8_0 *q = (em_block_q8_0 *)row + b / 32;
                float amax = 0;
                for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(f[b + i]));
                float d = amax / 127.0f;
                q->d = em_fp32_to_fp16(d);
                for (int i = 0; i < 32; i++) q->qs[i] = (int8_t)lrintf(d ? f[b + i] / d : 0);
                break;
            }
            case EM_TYPE_Q4_0: {
                em_block_q4_0 *q = (em_block_q4_0 *)row + b / 32;
                float d = 1.0f / 8.0f;
                q->d = em_fp32_to_fp16(d);
                for (int i = 0; i < 16; i++) {
                    int lo = (int)lrintf(f[b + i] * 7.0f) + 8, hi = (int)lrintf(f[b + i + 16] * 7.0f) + 8;
                    q->qs[i] = (uint8_t)(lo | (hi << 4));
                }
                break;
            }
            default: break;
            }
        }
    }
    free(f);
    return buf;
}

static void test_get_rows(vkt *T) {
    const enum em_type types[] = {EM_TYPE_F32, EM_TYPE_F16, EM_TYPE_BF16, EM_TYPE_Q8_0, EM_TYPE_Q4_0};
    const int64_t dims[] = {32, 96, 576};
    for (size_t ti = 0; ti < 5; ti++)
        for (size_t di = 0; di < 3; di++) {
            enum em_type t = types[ti];
            const int64_t rows = 301, dim = dims[di], n = 7;
            void *tab = make_table(T, t, rows, dim);
            em_tensor shape = em_tensor_make(t, dim, rows, 1, 1), tc, tv;
            vkt_weight(T, &tc, &tv, &shape, tab);
            int32_t ids[7] = {0, 300, 5, 5, 150, 299, 1};
            em_tensor ishape = em_tensor_make(EM_TYPE_I32, n, 1, 1, 1), ic, iv, oc, ov;
            vkt_act(T, &ic, &iv, &ishape, ids);
            em_tensor oshape = em_tensor_make(EM_TYPE_F32, dim, n, 1, 1);
            vkt_act(T, &oc, &ov, &oshape, NULL);
            T->cpu->ops->get_rows(T->cpu, &oc, &tc, &ic);
            T->vk->ops->get_rows(T->vk, &ov, &tv, &iv);
            float *rc, *rv;
            vkt_results(T, &oc, &ov, &rc, &rv);
            double e = vkt_maxrel(rc, rv, (size_t)(dim * n));
            CHECK(e <= 1e-6, "get_rows %s dim %lld: rel err %g", em_type_name(t), (long long)dim, e);
            free(rc); free(rv); free(tab);
            vkt_release(T, &ic, &iv);
            vkt_release(T, &oc, &ov);
        }
}

/* x: rows of n values in a buffer with a wider row stride (a view). */
static void test_rms_norm(vkt *T) {
    const int64_t ns[] = {1, 7, 64, 576, 1000, 2049};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
        for (int with_w = 0; with_w < 2; with_w++) {
            const int64_t n = ns[i], rows = 5;
            em_tensor wide = em_tensor_make(EM_TYPE_F32, n + 3, rows, 1, 1), xc, xv, oc, ov, wc, wv;
            float *x = malloc(sizeof(float) * (size_t)((n + 3) * rows)), *w = malloc(sizeof(float) * (size_t)n);
            vkt_fill(T, x, (size_t)((n + 3) * rows), 3.0f);
            vkt_fill(T, w, (size_t)n, 2.0f);
            vkt_act(T, &xc, &xv, &wide, x);
            em_tensor wshape = em_tensor_make(EM_TYPE_F32, n, 1, 1, 1);
            vkt_weight(T, &wc, &wv, &wshape, w);
            em_tensor oshape = em_tensor_make(EM_TYPE_F32, n, rows, 1, 1);
            vkt_act(T, &oc, &ov, &oshape, NULL);
            em_tensor xcv = xc, xvv = xv; /* view: first n values of each wide row */
            xcv.ne[0] = xvv.ne[0] = n;
            T->cpu->ops->rms_norm(T->cpu, &oc, &xcv, with_w ? &wc : NULL, 1e-5f);
            T->vk->ops->rms_norm(T->vk, &ov, &xvv, with_w ? &wv : NULL, 1e-5f);
            float *rc, *rv;
            vkt_results(T, &oc, &ov, &rc, &rv);
            double e = vkt_maxrel(rc, rv, (size_t)(n * rows));
            CHECK(e <= 1e-5, "rms_norm n %lld w %d: rel err %g", (long long)n, with_w, e);
            free(rc); free(rv); free(x); free(w);
            vkt_release(T, &xc, &xv);
            vkt_release(T, &oc, &ov);
        }
}

static void test_rope(vkt *T) {
    const int dims[] = {64, 32, 80, 128};
    for (size_t di = 0; di < 4; di++) {
        const int hd = dims[di], nh = 3, nt = 6;
        em_tensor shape = em_tensor_make(EM_TYPE_F32, hd, nh, nt, 1), xc, xv, pc, pv;
        float *x = malloc(sizeof(float) * (size_t)(hd * nh * nt));
        vkt_fill(T, x, (size_t)(hd * nh * nt), 1.0f);
        vkt_act(T, &xc, &xv, &shape, x);
        int32_t pos[6] = {0, 1, 17, 255, 1000, 4095};
        em_tensor pshape = em_tensor_make(EM_TYPE_I32, nt, 1, 1, 1);
        vkt_act(T, &pc, &pv, &pshape, pos);
        em_rope_params rp = {hd, di == 2 ? 100000.0f : 10000.0f, di == 3 ? 0.25f : 1.0f};
        T->cpu->ops->rope(T->cpu, &xc, &pc, &rp);
        T->vk->ops->rope(T->vk, &xv, &pv, &rp);
        float *rc, *rv;
        vkt_results(T, &xc, &xv, &rc, &rv);
        double e = vkt_maxrel(rc, rv, (size_t)(hd * nh * nt));
        CHECK(e <= 2e-5, "rope head_dim %d: rel err %g", hd, e);
        free(rc); free(rv); free(x);
        vkt_release(T, &xc, &xv);
        vkt_release(T, &pc, &pv);
    }
}

static void test_kv_store(vkt *T) {
    for (int f16 = 0; f16 < 2; f16++) {
        const enum em_type ct = f16 ? EM_TYPE_F16 : EM_TYPE_F32;
        const int64_t d = 96, n_ctx = 40;
        em_tensor cshape = em_tensor_make(ct, d, n_ctx, 1, 1), cc, cv, sc, sv;
        void *zero = calloc((size_t)n_ctx, em_row_bytes(ct, d));
        vkt_act(T, &cc, &cv, &cshape, zero);
        /* two stores, the second at a later position with the same shapes:
         * the second sync replays the first's recording */
        for (int step = 0; step < 3; step++) {
            const int64_t n = step == 2 ? 5 : 1, pos0 = step == 0 ? 3 : step == 1 ? 4 : 30;
            em_tensor sshape = em_tensor_make(EM_TYPE_F32, d, n, 1, 1);
            float *s = malloc(sizeof(float) * (size_t)(d * n));
            vkt_fill(T, s, (size_t)(d * n), 4.0f);
            vkt_act(T, &sc, &sv, &sshape, s);
            T->cpu->ops->kv_store(T->cpu, &cc, &sc, pos0);
            T->vk->ops->kv_store(T->vk, &cv, &sv, pos0);
            char err[EM_ERR_LEN];
            CHECK(em_backend_sync(T->cpu, err) == EM_OK && em_backend_sync(T->vk, err) == EM_OK, "kv sync: %s", err);
            free(s);
            vkt_release(T, &sc, &sv);
        }
        size_t nb = em_tensor_nbytes(&cshape);
        unsigned char *bc = malloc(nb), *bv = malloc(nb);
        char err[EM_ERR_LEN];
        T->cpu->ops->download(T->cpu, &cc, bc, 0, nb, err);
        T->vk->ops->download(T->vk, &cv, bv, 0, nb, err);
        int diff = 0;
        for (int64_t i = 0; i < d * n_ctx; i++) {
            float a = f16 ? em_fp16_to_fp32(((em_fp16 *)bc)[i]) : ((float *)bc)[i];
            float b = f16 ? em_fp16_to_fp32(((em_fp16 *)bv)[i]) : ((float *)bv)[i];
            if (fabsf(a - b) > (f16 ? 1e-3f * fabsf(a) : 0.0f)) diff++;
        }
        CHECK(diff == 0, "kv_store %s: %d values differ", em_type_name(ct), diff);
        free(bc); free(bv); free(zero);
        vkt_release(T, &cc, &cv);
    }
}

static void test_eltwise(vkt *T) {
    const int64_t ns[] = {1, 63, 64, 65, 1536};
    for (size_t i = 0; i < 5; i++)
        for (int op = 0; op < 3; op++) {
            const int64_t n = ns[i], rows = 3;
            em_tensor shape = em_tensor_make(EM_TYPE_F32, n, rows, 1, 1), ac, av, bc, bv, oc, ov;
            float *a = malloc(sizeof(float) * (size_t)(n * rows)), *b = malloc(sizeof(float) * (size_t)(n * rows));
            vkt_fill(T, a, (size_t)(n * rows), 6.0f);
            vkt_fill(T, b, (size_t)(n * rows), 2.0f);
            vkt_act(T, &ac, &av, &shape, a);
            vkt_act(T, &bc, &bv, &shape, b);
            vkt_act(T, &oc, &ov, &shape, NULL);
            /* op 2: in place (out aliases a), as the decoder's residual add */
            em_tensor *outc = op == 2 ? &ac : &oc, *outv = op == 2 ? &av : &ov;
            if (op == 1) {
                T->cpu->ops->swiglu(T->cpu, outc, &ac, &bc);
                T->vk->ops->swiglu(T->vk, outv, &av, &bv);
            } else {
                T->cpu->ops->add(T->cpu, outc, &ac, &bc);
                T->vk->ops->add(T->vk, outv, &av, &bv);
            }
            float *rc, *rv;
            vkt_results(T, outc, outv, &rc, &rv);
            double e = vkt_maxrel(rc, rv, (size_t)(n * rows));
            CHECK(e <= (op == 1 ? 1e-5 : 1e-6), "%s n %lld: rel err %g", op == 1 ? "swiglu" : op ? "add in place" : "add",
                  (long long)n, e);
            free(rc); free(rv); free(a); free(b);
            vkt_release(T, &ac, &av);
            vkt_release(T, &bc, &bv);
            vkt_release(T, &oc, &ov);
        }
}

/* RoPE of q then k, and the stores of k then v, go as one dispatch each
 * (vk_backend.c pairs them): results as the CPU's, one dispatch per pair. */
static void test_pairs(vkt *T) {
    const int hd = 64, nq = 9, nk = 3, nt = 5;
    em_tensor qs = em_tensor_make(EM_TYPE_F32, hd, nq, nt, 1), ks = em_tensor_make(EM_TYPE_F32, hd, nk, nt, 1);
    em_tensor qc, qv, kc, kv, pc, pv;
    float *q = malloc(sizeof(float) * (size_t)(hd * nq * nt)), *k = malloc(sizeof(float) * (size_t)(hd * nk * nt));
    vkt_fill(T, q, (size_t)(hd * nq * nt), 1.0f);
    vkt_fill(T, k, (size_t)(hd * nk * nt), 1.0f);
    vkt_act(T, &qc, &qv, &qs, q);
    vkt_act(T, &kc, &kv, &ks, k);
    int32_t pos[5] = {7, 8, 9, 10, 11};
    em_tensor pshape = em_tensor_make(EM_TYPE_I32, nt, 1, 1, 1);
    vkt_act(T, &pc, &pv, &pshape, pos);
    em_tensor cs = em_tensor_make(EM_TYPE_F16, hd * nk, 16, 1, 1), c1c, c1v, c2c, c2v;
    void *zero = calloc(16, em_row_bytes(EM_TYPE_F16, hd * nk));
    vkt_act(T, &c1c, &c1v, &cs, zero);
    vkt_act(T, &c2c, &c2v, &cs, zero);
    em_rope_params rp = {hd, 10000.0f, 1.0f};
    vk_backend_stats s0, s1;
    vk_backend_get_stats(T->vk, &s0);
    em_tensor k2c = em_tensor_make(EM_TYPE_F32, hd * nk, nt, 1, 1), k2v = k2c; /* k as rows for the store */
    k2c.data = kc.data; k2c.extra = kc.extra; k2c.offs = kc.offs;
    k2v.extra = kv.extra; k2v.offs = kv.offs;
    em_backend *bes[2] = {T->cpu, T->vk};
    em_tensor *Q[2] = {&qc, &qv}, *K[2] = {&kc, &kv}, *P[2] = {&pc, &pv}, *C1[2] = {&c1c, &c1v}, *C2[2] = {&c2c, &c2v};
    em_tensor *K2[2] = {&k2c, &k2v};
    for (int b = 0; b < 2; b++) {
        bes[b]->ops->rope(bes[b], Q[b], P[b], &rp);
        bes[b]->ops->rope(bes[b], K[b], P[b], &rp);
        bes[b]->ops->kv_store(bes[b], C1[b], K2[b], 3);
        bes[b]->ops->kv_store(bes[b], C2[b], K2[b], 3); /* the same source into a second cache */
    }
    float *rc, *rv;
    vkt_results(T, &qc, &qv, &rc, &rv);
    double e = vkt_maxrel(rc, rv, (size_t)(hd * nq * nt));
    free(rc); free(rv);
    vkt_results(T, &kc, &kv, &rc, &rv);
    e = fmax(e, vkt_maxrel(rc, rv, (size_t)(hd * nk * nt)));
    free(rc); free(rv);
    CHECK(e <= 2e-5, "paired rope: rel err %g", e);
    vk_backend_get_stats(T->vk, &s1);
    CHECK(s1.dispatches - s0.dispatches == 2, "rope+rope, store+store: %llu dispatches (want 2)", s1.dispatches - s0.dispatches);
    size_t nb = em_tensor_nbytes(&cs);
    unsigned char *a = malloc(nb), *b = malloc(nb);
    char err[EM_ERR_LEN];
    int diff = 0;
    for (int t = 0; t < 2; t++) {
        T->cpu->ops->download(T->cpu, t ? &c2c : &c1c, a, 0, nb, err);
        T->vk->ops->download(T->vk, t ? &c2v : &c1v, b, 0, nb, err);
        for (size_t i = 0; i < nb / 2; i++) {
            float x = em_fp16_to_fp32(((em_fp16 *)a)[i]), y = em_fp16_to_fp32(((em_fp16 *)b)[i]);
            if (fabsf(x - y) > 1e-3f * fabsf(x)) diff++;
        }
    }
    CHECK(diff == 0, "paired kv_store: %d values differ", diff);
    free(a); free(b); free(q); free(k); free(zero);
    vkt_release(T, &qc, &qv); vkt_release(T, &kc, &kv); vkt_release(T, &pc, &pv);
    vkt_release(T, &c1c, &c1v); vkt_release(T, &c2c, &c2v);
}

/* matmul_acc (out += x w^T) against the CPU's matmul then add, for the
 * matrix-vector (n = 1) and tiled (n = 20) kernels. */
static void test_matmul_acc(vkt *T) {
    const enum em_type types[2] = {EM_TYPE_F32, EM_TYPE_F16};
    const int64_t ns[2] = {1, 20}, m = 67, k = 96;
    for (int ti = 0; ti < 2; ti++)
        for (int ni = 0; ni < 2; ni++) {
            const int64_t n = ns[ni];
            void *wt = make_table(T, types[ti], m, k);
            em_tensor ws = em_tensor_make(types[ti], k, m, 1, 1), wc, wv, xc, xv, oc, ov, pc, pv;
            vkt_weight(T, &wc, &wv, &ws, wt);
            float *x = malloc(sizeof(float) * (size_t)(k * n)), *o = malloc(sizeof(float) * (size_t)(m * n));
            vkt_fill(T, x, (size_t)(k * n), 1.0f);
            vkt_fill(T, o, (size_t)(m * n), 3.0f);
            em_tensor xs = em_tensor_make(EM_TYPE_F32, k, n, 1, 1), os = em_tensor_make(EM_TYPE_F32, m, n, 1, 1);
            vkt_act(T, &xc, &xv, &xs, x);
            vkt_act(T, &oc, &ov, &os, o);
            vkt_act(T, &pc, &pv, &os, NULL);
            T->cpu->ops->matmul(T->cpu, &pc, &wc, &xc);
            T->cpu->ops->add(T->cpu, &oc, &oc, &pc);
            CHECK(T->vk->ops->matmul_acc != NULL, "vulkan offers matmul_acc");
            T->vk->ops->matmul_acc(T->vk, &ov, &wv, &xv);
            float *rc, *rv;
            vkt_results(T, &oc, &ov, &rc, &rv);
            double e = vkt_maxrel(rc, rv, (size_t)(m * n));
            CHECK(e <= 1e-5, "matmul_acc %s n %lld: rel err %g", em_type_name(types[ti]), (long long)n, e);
            free(rc); free(rv); free(x); free(o); free(wt);
            vkt_release(T, &xc, &xv); vkt_release(T, &oc, &ov); vkt_release(T, &pc, &pv);
        }
}

/* The same op list twice with new data: the second sync must replay. */
static void test_replay(vkt *T) {
    vk_backend_stats s0, s1;
    const int64_t n = 100;
    em_tensor shape = em_tensor_make(EM_TYPE_F32, n, 2, 1, 1), ac, av, bc, bv;
    float a[200], b[200];
    vkt_act(T, &ac, &av, &shape, NULL);
    vkt_act(T, &bc, &bv, &shape, NULL);
    vk_backend_get_stats(T->vk, &s0);
    for (int it = 0; it < 3; it++) {
        vkt_fill(T, a, 200, 1.0f);
        vkt_fill(T, b, 200, 1.0f);
        char err[EM_ERR_LEN];
        T->cpu->ops->upload(T->cpu, &ac, a, 0, sizeof a, err);
        T->vk->ops->upload(T->vk, &av, a, 0, sizeof a, err);
        T->cpu->ops->upload(T->cpu, &bc, b, 0, sizeof b, err);
        T->vk->ops->upload(T->vk, &bv, b, 0, sizeof b, err);
        T->cpu->ops->add(T->cpu, &ac, &ac, &bc);
        T->vk->ops->add(T->vk, &av, &av, &bv);
        T->cpu->ops->swiglu(T->cpu, &bc, &ac, &bc);
        T->vk->ops->swiglu(T->vk, &bv, &av, &bv);
        float *rc, *rv;
        vkt_results(T, &bc, &bv, &rc, &rv);
        double e = vkt_maxrel(rc, rv, 200);
        CHECK(e <= 1e-5, "replay iteration %d: rel err %g", it, e);
        free(rc); free(rv);
    }
    vk_backend_get_stats(T->vk, &s1);
    CHECK(s1.recordings - s0.recordings == 1 && s1.replays - s0.replays == 2,
          "3 equal op lists: %llu recordings, %llu replays (want 1, 2)", s1.recordings - s0.recordings,
          s1.replays - s0.replays);
    CHECK(s1.barriers - s0.barriers == 3, "add then swiglu on its output, 3 times: %llu barriers (want 1 per run)",
          s1.barriers - s0.barriers);
    vkt_release(T, &ac, &av);
    vkt_release(T, &bc, &bv);
}

int main(void) {
    vkt T;
    vkt_open(&T);
    test_get_rows(&T);
    test_rms_norm(&T);
    test_rope(&T);
    test_kv_store(&T);
    test_eltwise(&T);
    test_replay(&T);
    test_pairs(&T);
    test_matmul_acc(&T);
    vkt_close(&T);
    /* A table split over several storage bindings. */
    setenv("EMBER_VK_MAX_RANGE", "65536", 1);
    vkt_open(&T);
    test_get_rows(&T);
    vkt_close(&T);
    return CHECK_DONE();
}
