/* test_vk_matmul.c - the Vulkan matrix products (core/vulkan/vk_op_matmul.c) against
 * an exact reference and against the CPU backend.
 *
 * Every weight type x shapes chosen to reach each remainder: m in {1, 7, 64,
 * 67, 300} (tiles are 16..128 rows, matvec groups 2 or 8), k in {32, 96,
 * 576} and, for float types, odd k {13, 100}; n in {1, 2, 5, 8} (matvec) and
 * {9, 20, 33, 130} (tiled: 16-, 32- and 64-wide tiles; 130 = two 64-wide
 * tiles and a remainder). Some cases use
 * views: weight rows sliced from a larger tensor and with padded row
 * strides (quant blocks and F16 rows then start on half words), activations
 * with a wider row stride, outputs written into columns of a wider matrix
 * (whose other columns must stay untouched). Then: weights of more rows
 * than a dispatch's workgroup count allows, a replayed product with new
 * inputs, and, with EMBER_VK_MAX_RANGE forced small, products split into
 * several dispatches.
 *
 * Two comparisons per product:
 *   - exact: against a double-precision product of the dequantized weights
 *     and the activations as the kernels take them (rounded to fp16 for F16
 *     weights, as the CPU does; fp32 otherwise), with
 *     fp32 accumulation on the GPU: max error relative to the largest output
 *     1e-5 for every type (fp32 rounding over k <= 576 terms);
 *   - CPU backend: the same numbers for F32/F16 (only the summation order
 *     differs), but bf16 activations for BF16 and Q8_0 blocks for Q8_0/Q4_0
 *     weights, as llama.cpp's CPU kernels do, where the GPU keeps fp32;
 *     the limits are per type, see cpu_tol. */
#include "vk_test_util.h"

#include "core/cpu/cpu_kernels.h"

#define TOL_EXACT 1e-5

enum { N_TYPES = 14 };
static const enum em_type types[N_TYPES] = {EM_TYPE_F32,    EM_TYPE_F16,  EM_TYPE_BF16, EM_TYPE_Q8_0, EM_TYPE_Q4_0,
                                            EM_TYPE_Q4_1,   EM_TYPE_Q5_0, EM_TYPE_Q5_1, EM_TYPE_IQ4_NL, EM_TYPE_Q2_K,
                                            EM_TYPE_Q3_K,   EM_TYPE_Q4_K, EM_TYPE_Q5_K, EM_TYPE_Q6_K};

/* Limits against the CPU backend. Float types: the same products in
 * another summation order (fp32 rounding, ~1e-6 seen): 1e-4. Quantized
 * types: the CPU rounds each activation to 1/127 of its block's largest
 * (Q8_0, Q8_1, Q8_K: relative error up to 2^-8 per value, averaging down
 * over k terms of random sign), measured against the products' magnitudes
 * (compare): at most 4.2e-3 seen over all of them: 1e-2. BF16: the CPU
 * rounds activations to bf16 (8-bit mantissa: up to 2^-9 relative per
 * value, ~1e-2 on a sum of few terms), measured against the result: 3e-2.
 * The GPU keeps fp32 activations for all of these. */
static double cpu_tol(enum em_type t) {
    return em_type_block(t) > 1 ? 1e-2 : t == EM_TYPE_BF16 ? 3e-2 : 1e-4;
}

static int type_index(enum em_type t) {
    for (int i = 0; i < N_TYPES; i++)
        if (types[i] == t) return i;
    return 0;
}

/* Worst errors seen, per type: against the exact product and the CPU. */
static double worst_exact[N_TYPES], worst_cpu[N_TYPES];

/* Host memory of wrapped weights must outlive both backends. */
static void *host_bufs[4096];
static int n_host_bufs;

static void *keep(size_t n) {
    void *p = calloc(1, n);
    if (!p || n_host_bufs == (int)(sizeof host_bufs / sizeof host_bufs[0])) {
        fprintf(stderr, "FAIL: out of host buffers\n");
        exit(1);
    }
    host_bufs[n_host_bufs++] = p;
    return p;
}

/* A weight on both backends and its exact (dequantized) values. */
typedef struct tw {
    em_tensor c, v;  /* views of m rows (maybe sliced, maybe padded stride) */
    float *deq;      /* m x k, what the rows hold */
    int64_t m, k;
} tw;

/* m rows of k values of type t. padded: row stride one half word (F32: one
 * word) wider than the data and the rows sliced from row 1 of m + 2, so rows
 * and blocks start at odd half words. */
static void tw_make(vkt *T, tw *W, enum em_type t, int64_t m, int64_t k, bool padded) {
    cpu_kernels ref;
    cpu_kernels_init_ref(&ref);
    const int64_t rows = padded ? m + 2 : m, r0 = padded ? 1 : 0;
    const size_t rb = em_row_bytes(t, k), stride = rb + (padded ? (t == EM_TYPE_F32 ? 4 : 2) : 0);
    float *src = malloc(sizeof(float) * (size_t)k);
    char *host = keep(stride * (size_t)rows);
    W->deq = malloc(sizeof(float) * (size_t)(m * k));
    if (!src || !W->deq) { fprintf(stderr, "FAIL: out of memory\n"); exit(1); }
    for (int64_t r = 0; r < rows; r++) {
        vkt_fill(T, src, (size_t)k, 1.0f);
        cpu_quantize(t, src, host + (size_t)r * stride, 1, k);
        if (r >= r0 && r < r0 + m) ref.to_float[t](host + (size_t)r * stride, W->deq + (r - r0) * k, k);
    }
    free(src);
    em_tensor shape = em_tensor_make(t, k, rows, 1, 1);
    shape.nb[1] = stride;
    shape.nb[2] = shape.nb[3] = stride * (size_t)rows;
    em_tensor c, v;
    vkt_weight(T, &c, &v, &shape, host);
    W->c = em_tensor_rows(&c, r0, m);
    W->v = em_tensor_rows(&v, r0, m);
    W->m = m;
    W->k = k;
}

/* An activation as the kernels use it with weights of type t: rounded to
 * fp16 for F16 weights (the CPU's dot type), as is otherwise (BF16 too:
 * shaders/mm_weights.glsl says why). */
static float act_value(enum em_type t, float v) {
    if (t == EM_TYPE_F16) return em_fp16_to_fp32(em_fp32_to_fp16(v));
    return v;
}

/* out[i][r] = sum_j deq[r][j] act(x[i][j]) in double. */
/* The exact product, and (terms, may be NULL) the largest sum of the
 * products' magnitudes over the outputs. */
static void ref_product_terms(const tw *W, const float *x, int64_t n, float *out, double *terms) {
    const enum em_type t = W->c.type;
    double tmax = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t r = 0; r < W->m; r++) {
            double s = 0, a = 0;
            for (int64_t j = 0; j < W->k; j++) {
                const double p = (double)W->deq[r * W->k + j] * act_value(t, x[i * W->k + j]);
                s += p, a += fabs(p);
            }
            out[i * W->m + r] = (float)s;
            if (a > tmax) tmax = a;
        }
    if (terms) *terms = tmax;
}

static void ref_product(const tw *W, const float *x, int64_t n, float *out) { ref_product_terms(W, x, n, out, NULL); }

/* An F32 [rows][cols] tensor on both backends, holding host (rows x cols,
 * contiguous) in the first cols of rows of width `width` >= cols starting
 * at column c0; the rest is filled with a sentinel. Returns the views;
 * cb and vb get the whole tensors. */
static void act_make(vkt *T, em_tensor *cv, em_tensor *vv, em_tensor *cb, em_tensor *vb, int64_t rows,
                     int64_t cols, int64_t width, int64_t c0, const float *host) {
    const em_tensor shape = em_tensor_make(EM_TYPE_F32, width, rows, 1, 1);
    float *big = malloc(sizeof(float) * (size_t)(width * rows));
    if (!big) { fprintf(stderr, "FAIL: out of memory\n"); exit(1); }
    for (int64_t i = 0; i < width * rows; i++) big[i] = 12345.0f;
    for (int64_t i = 0; host && i < rows; i++) memcpy(big + i * width + c0, host + i * cols, sizeof(float) * (size_t)cols);
    vkt_act(T, cb, vb, &shape, big);
    free(big);
    *cv = *cb;
    *vv = *vb;
    cv->ne[0] = vv->ne[0] = cols;
    cv->offs += 4 * (size_t)c0;
    vv->offs += 4 * (size_t)c0;
    cv->data = (char *)cv->data + 4 * (size_t)c0;
}

/* Copy the rows x cols view at c0 out of a rows x width download, and check
 * that everything around it still holds the sentinel. */
static int view_extract(const float *big, int64_t rows, int64_t cols, int64_t width, int64_t c0, float *out) {
    int bad = 0;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < width; j++) {
            const float v = big[i * width + j];
            if (j >= c0 && j < c0 + cols) out[i * cols + j - c0] = v;
            else bad += v != 12345.0f;
        }
    return bad;
}

/* Check one product against the exact one and the CPU's; keep the worst. */
static void compare(enum em_type t, int64_t m, int64_t k, int64_t n, const float *ref, const float *oc,
                    const float *ov, bool views, const char *what, double terms) {
    const double e_exact = vkt_maxrel(ref, ov, (size_t)(n * m));
    double e_cpu = vkt_maxrel(oc, ov, (size_t)(n * m));
    /* The CPU's quantized activations err relative to their blocks, so its
     * error scales with the products' magnitudes, not with a sum that
     * cancels (Q4_1/Q5_1's min times the activations' rounded fp16 sum s:
     * at k = 32, one output, 0.87 of a near-zero result, 2e-3 of the terms).
     * Quantized types are held to that scale where it is the larger. */
    if (em_type_block(t) > 1 && isfinite(e_cpu)) {
        double amax = 1e-30, dmax = 0;
        for (int64_t i = 0; i < n * m; i++) {
            amax = fmax(amax, fabs(oc[i]));
            dmax = fmax(dmax, fabs((double)oc[i] - ov[i]));
        }
        e_cpu = dmax / fmax(amax, terms);
    }
    const int ti = type_index(t);
    if (e_exact > worst_exact[ti]) worst_exact[ti] = e_exact;
    if (e_cpu > worst_cpu[ti]) worst_cpu[ti] = e_cpu;
    CHECK(e_exact <= TOL_EXACT, "%s %s m=%lld k=%lld n=%lld%s: %.3g vs exact", what, em_type_name(t), (long long)m,
          (long long)k, (long long)n, views ? " (views)" : "", e_exact);
    CHECK(e_cpu <= cpu_tol(t), "%s %s m=%lld k=%lld n=%lld%s: %.3g vs cpu", what, em_type_name(t), (long long)m,
          (long long)k, (long long)n, views ? " (views)" : "", e_cpu);
}

/* One product of W with n random activation rows; views: strided x (VK
 * side only: the CPU reads x contiguous) and the output in a wider matrix. */
static void run_case(vkt *T, const tw *W, int64_t n, bool views, const char *what) {
    const int64_t m = W->m, k = W->k;
    const enum em_type t = W->c.type;
    float *x = malloc(sizeof(float) * (size_t)(n * k));
    float *ref = malloc(sizeof(float) * (size_t)(n * m)), *oc = malloc(sizeof(float) * (size_t)(n * m));
    float *ov = malloc(sizeof(float) * (size_t)(n * m));
    if (!x || !ref || !oc || !ov) { fprintf(stderr, "FAIL: out of memory\n"); exit(1); }
    vkt_fill(T, x, (size_t)(n * k), 1.0f);
    double terms = 0;
    ref_product_terms(W, x, n, ref, &terms);

    const int64_t xw = views ? k + 3 : k, ow = views ? m + 5 : m, oc0 = views ? 3 : 0;
    em_tensor xc, xv, xcb, xvb, xc2, xv2, xcb2, xvb2, outc, outv, outcb, outvb;
    act_make(T, &xc, &xv, &xcb, &xvb, n, k, k, 0, x);          /* the CPU's */
    act_make(T, &xc2, &xv2, &xcb2, &xvb2, n, k, xw, views ? 1 : 0, x); /* the GPU's */
    act_make(T, &outc, &outv, &outcb, &outvb, n, m, ow, oc0, NULL);
    T->cpu->ops->matmul(T->cpu, &outc, &W->c, &xc);
    T->vk->ops->matmul(T->vk, &outv, &W->v, &xv2);
    float *bc, *bv;
    vkt_results(T, &outcb, &outvb, &bc, &bv);
    const int bad_c = view_extract(bc, n, m, ow, oc0, oc), bad_v = view_extract(bv, n, m, ow, oc0, ov);
    CHECK(bad_c == 0 && bad_v == 0, "%s: %d/%d values outside the output view changed", what, bad_c, bad_v);

    compare(t, m, k, n, ref, oc, ov, views, what, terms);

    vkt_release(T, &xcb, &xvb);
    vkt_release(T, &xcb2, &xvb2);
    vkt_release(T, &outcb, &outvb);
    free(bc); free(bv); free(x); free(ref); free(oc); free(ov);
}

static void tw_free(tw *W) { free(W->deq); }

/* ---- the cases */

static const int64_t ns[] = {1, 2, 5, 8, 9, 20, 33, 130};

static void test_shapes(vkt *T) {
    static const int64_t ms[] = {1, 7, 64, 67, 300};
    static const int64_t ks_all[] = {32, 96, 576, 13, 100};
    static const int64_t ks_k[] = {256, 768, 1536}; /* the K types' 256-value blocks */
    for (int ti = 0; ti < N_TYPES; ti++) {
        const enum em_type t = types[ti];
        const int nk = em_type_block(t) == 1 ? 5 : 3;
        for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
            for (int ki = 0; ki < nk; ki++) {
                tw W;
                tw_make(T, &W, t, ms[mi], em_type_block(t) == 256 ? ks_k[ki] : ks_all[ki], mi % 2 == 1);
                for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
                    run_case(T, &W, ns[ni], ni % 3 == 1, "shapes");
                tw_free(&W);
            }
    }
}

/* More weight rows than maxComputeWorkGroupCount (65535 here) x rows per
 * group (8 on lavapipe, 2 in the V3D mode): the product must be split by
 * group count (k = 32 keeps it small: 10.8 MB of Q4_0). */
static void test_many_rows(vkt *T) {
    tw W;
    tw_make(T, &W, EM_TYPE_Q4_0, 600000, 32, false);
    vk_backend_stats s0, s1;
    vk_backend_get_stats(T->vk, &s0);
    run_case(T, &W, 1, false, "many rows");
    vk_backend_get_stats(T->vk, &s1);
    CHECK(s1.dispatches - s0.dispatches > 1, "many rows: %llu dispatches", s1.dispatches - s0.dispatches);
    run_case(T, &W, 9, false, "many rows");
    tw_free(&W);
}

/* The same product three times on the same tensors with new activations:
 * the later syncs replay the recorded command buffer, only the data changed. */
static void test_replay(vkt *T) {
    const int64_t m = 67, k = 96, n = 1;
    char err[EM_ERR_LEN];
    tw W;
    tw_make(T, &W, EM_TYPE_Q8_0, m, k, false);
    float *x = malloc(sizeof(float) * (size_t)(n * k)), *ref = malloc(sizeof(float) * (size_t)(n * m));
    if (!x || !ref) { fprintf(stderr, "FAIL: out of memory\n"); exit(1); }
    em_tensor xc, xv, xcb, xvb, outc, outv, outcb, outvb;
    act_make(T, &xc, &xv, &xcb, &xvb, n, k, k, 0, NULL);
    act_make(T, &outc, &outv, &outcb, &outvb, n, m, m, 0, NULL);
    vk_backend_stats s0, s1;
    vk_backend_get_stats(T->vk, &s0);
    for (int step = 0; step < 3; step++) {
        vkt_fill(T, x, (size_t)(n * k), 1.0f);
        ref_product(&W, x, n, ref);
        const size_t bytes = sizeof(float) * (size_t)(n * k);
        if (T->cpu->ops->upload(T->cpu, &xc, x, 0, bytes, err) || T->vk->ops->upload(T->vk, &xv, x, 0, bytes, err)) {
            fprintf(stderr, "FAIL: upload: %s\n", err);
            exit(1);
        }
        T->cpu->ops->matmul(T->cpu, &outc, &W.c, &xc);
        T->vk->ops->matmul(T->vk, &outv, &W.v, &xv);
        float *oc, *ov;
        vkt_results(T, &outc, &outv, &oc, &ov);
        compare(EM_TYPE_Q8_0, m, k, n, ref, oc, ov, false, "replay", 0);
        free(oc);
        free(ov);
    }
    vk_backend_get_stats(T->vk, &s1);
    CHECK(s1.replays - s0.replays == 2, "replay: %llu replays of 3 runs", s1.replays - s0.replays);
    vkt_release(T, &xcb, &xvb);
    vkt_release(T, &outcb, &outvb);
    free(x);
    free(ref);
    tw_free(&W);
}

/* With the storage range forced to 64 KiB, a weight of m = 300 rows of k =
 * 576 (170 KB as Q8_0, 691 KB as F32; the K types k = 768, 76 KB as Q2_K,
 * whose 512 would fit one range) and activations of 130 rows (300 KB) need
 * several dispatches. */
static void test_small_range(vkt *T) {
    for (int ti = 0; ti < N_TYPES; ti++) {
        static const int64_t cases[][2] = {{300, 576}, {67, 96}}, cases_k[][2] = {{300, 768}, {67, 256}};
        for (int ci = 0; ci < 2; ci++) {
            tw W;
            const int kq = em_type_block(types[ti]) == 256;
            tw_make(T, &W, types[ti], kq ? cases_k[ci][0] : cases[ci][0], kq ? cases_k[ci][1] : cases[ci][1], ci == 1);
            for (int ni = 0; ni < 7; ni += 3) { /* n = 1, 8, 33 */
                vk_backend_stats s0, s1;
                vk_backend_get_stats(T->vk, &s0);
                run_case(T, &W, ns[ni], ni == 3, "small range");
                vk_backend_get_stats(T->vk, &s1);
                if (ci == 0)
                    CHECK(s1.dispatches - s0.dispatches > 1, "small range: %s m=300 n=%lld: %llu dispatches",
                          em_type_name(types[ti]), (long long)ns[ni], s1.dispatches - s0.dispatches);
            }
            tw_free(&W);
        }
    }
}

static void report(const char *what) {
    for (int i = 0; i < N_TYPES; i++)
        printf("%s %-5s worst error: %.3g vs exact, %.3g vs cpu (limit %.0e)\n", what, em_type_name(types[i]),
               worst_exact[i], worst_cpu[i], cpu_tol(types[i]));
    memset(worst_exact, 0, sizeof worst_exact);
    memset(worst_cpu, 0, sizeof worst_cpu);
}

int main(void) {
    vkt T;
    vkt_open(&T);
    for (int i = 0; i < N_TYPES; i++)
        CHECK(T.vk->ops->supports(T.vk, EM_OP_MATMUL, types[i]), "matmul %s supported", em_type_name(types[i]));
    test_shapes(&T);
    test_many_rows(&T);
    test_replay(&T);
    report("full range:");
    vkt_close(&T);

    setenv("EMBER_VK_MAX_RANGE", "65536", 1);
    vkt_open(&T);
    test_small_range(&T);
    report("64 KiB range:");
    vkt_close(&T);

    for (int i = 0; i < n_host_bufs; i++) free(host_bufs[i]);
    return CHECK_DONE();
}
