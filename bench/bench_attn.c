/* bench_attn.c - a decode step's attention on the CPU backend: one query row
 * of every layer of a SmolLM2-135M-shaped model (30 layers, 9 query heads
 * sharing 3 key/value heads of 64) over an F16 cache of CTX positions.
 *
 * Times the backend's attention op alone (what a decode step adds per cached
 * position, beside its weight products), best of REPS steps after a warm-up,
 * and gives the cache bytes a step reads (K and V of every layer) as GB/s:
 * against the machine's read bandwidth (bench_matmul prints it) that says how
 * far the attention is from streaming its cache. The caches of all layers
 * together exceed the last-level cache from about a thousand positions, as in
 * a real step, where the weights pass through it between two layers'
 * attention.
 *
 * usage: bench_attn [THREADS (default 2)] [REPS (default 20)] [CTX (default 256, 1024 and 4096)] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/opt.h"
#include "core/backend.h"
#include "core/cpu/cpu_backend.h"

#define LAYERS 30
#define N_HEAD 9
#define N_HEAD_KV 3
#define HEAD_DIM 64

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* values in [-1, 1) */
static float uniform(uint64_t *s) { return (float)((next(s) >> 40) & 0xffffff) / 8388608.0f - 1.0f; }

static int bench_ctx(em_backend *be, int64_t ctx, int reps) {
    char err[EM_ERR_LEN];
    const int64_t kv_dim = (int64_t)N_HEAD_KV * HEAD_DIM, q_dim = (int64_t)N_HEAD * HEAD_DIM;
    em_tensor kc[LAYERS], vc[LAYERS], q = em_tensor_make(EM_TYPE_F32, q_dim, 1, 1, 1),
                                      out = em_tensor_make(EM_TYPE_F32, q_dim, 1, 1, 1);
    int n_alloc = 0, rc = -1;
    em_fp16 *h = malloc((size_t)(kv_dim * ctx) * sizeof *h);
    float *hq = malloc((size_t)q_dim * sizeof *hq);
    if (!h || !hq) { fprintf(stderr, "bench_attn: out of memory\n"); goto done; }
    if (em_backend_alloc(be, &q, err) || em_backend_alloc(be, &out, err)) { fprintf(stderr, "alloc: %s\n", err); goto done; }
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int64_t i = 0; i < q_dim; i++) hq[i] = uniform(&s);
    if (be->ops->upload(be, &q, hq, 0, em_tensor_nbytes(&q), err)) { fprintf(stderr, "upload: %s\n", err); goto done; }
    for (; n_alloc < LAYERS; n_alloc++) {
        kc[n_alloc] = em_tensor_make(EM_TYPE_F16, kv_dim, ctx, 1, 1);
        vc[n_alloc] = em_tensor_make(EM_TYPE_F16, kv_dim, ctx, 1, 1);
        if (em_backend_alloc(be, &kc[n_alloc], err)) { fprintf(stderr, "alloc: %s\n", err); goto done; }
        if (em_backend_alloc(be, &vc[n_alloc], err)) {
            fprintf(stderr, "alloc: %s\n", err);
            em_backend_release(be, &kc[n_alloc]);
            goto done;
        }
        for (int kv = 0; kv < 2; kv++) {
            for (int64_t i = 0; i < kv_dim * ctx; i++) h[i] = em_fp32_to_fp16(uniform(&s));
            if (be->ops->upload(be, kv ? &vc[n_alloc] : &kc[n_alloc], h, 0, (size_t)(kv_dim * ctx) * sizeof *h, err)) {
                fprintf(stderr, "upload: %s\n", err);
                n_alloc++;
                goto done;
            }
        }
    }
    const em_attn_params p = {N_HEAD, N_HEAD_KV, HEAD_DIM, ctx - 1, ctx, 1.0f / sqrtf((float)HEAD_DIM)};
    double best = 1e9;
    for (int r = 0; r <= reps; r++) { /* r = 0: warm-up */
        const double t0 = now();
        for (int l = 0; l < LAYERS; l++) be->ops->attention(be, &out, &q, &kc[l], &vc[l], &p);
        if (em_backend_sync(be, err)) { fprintf(stderr, "attention: %s\n", err); goto done; }
        const double dt = now() - t0;
        if (r > 0 && dt < best) best = dt;
    }
    const double bytes = 2.0 * LAYERS * (double)(kv_dim * ctx) * sizeof(em_fp16);
    printf("ctx %6lld: %8.3f ms/step  %6.1f GB/s of cache (%.1f MB)\n", (long long)ctx, best * 1e3,
           bytes / best / 1e9, bytes / 1e6);
    rc = 0;
done:
    for (int l = 0; l < n_alloc; l++) {
        em_backend_release(be, &kc[l]);
        em_backend_release(be, &vc[l]);
    }
    if (q.data || q.extra) em_backend_release(be, &q);
    if (out.data || out.extra) em_backend_release(be, &out);
    free(h);
    free(hq);
    return rc;
}

int main(int argc, char **argv) {
    const char *pos[3] = {NULL, NULL, NULL};
    const opt_spec specs[] = {OPT_END};
    char err[EM_ERR_LEN];
    int n_pos = 0, prc = opt_parse("bench_attn", specs, argc, argv, pos, 3, &n_pos, err);
    if (prc == OPT_HELP) { printf("usage: bench_attn [THREADS (default 2)] [REPS (default 20)] [CTX (default 256, 1024 and 4096)]\n"); return 0; }
    if (prc != OPT_OK) { fprintf(stderr, "%s\n", err); return 2; }
    int64_t t64 = 2, r64 = 20, c64 = 0;
    if ((pos[0] && opt_i64("bench_attn", "THREADS", pos[0], 1, 1024, &t64, err)) ||
        (pos[1] && opt_i64("bench_attn", "REPS", pos[1], 1, 1000000, &r64, err)) ||
        (pos[2] && opt_i64("bench_attn", "CTX", pos[2], 1, 1 << 20, &c64, err))) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    em_backend *cpu = cpu_backend_create((int)t64, err);
    if (!cpu) { fprintf(stderr, "cpu: %s\n", err); return 1; }
    printf("decode attention, %d layers x %d heads (%d key/value heads) of %d, F16 cache, cpu (%s, %d threads)\n",
           LAYERS, N_HEAD, N_HEAD_KV, HEAD_DIM, cpu_backend_isa(cpu), (int)t64);
    const int64_t ctxs[] = {c64 ? c64 : 256, 1024, 4096};
    int rc = 0;
    for (size_t i = 0; i < (c64 ? 1 : sizeof ctxs / sizeof ctxs[0]) && !rc; i++) rc = bench_ctx(cpu, ctxs[i], (int)r64);
    em_backend_free(cpu);
    return rc ? 1 : 0;
}
