/* bench_matmul.c - cpu_matmul on SmolLM2-135M's shapes.
 *
 * Decode (n = 1): one token's worth of matmuls (30 layers x q,k,v,o,gate,up,down
 * plus the 49152-row output head), each layer with its own weights so they
 * stream from memory as in a real model; reports ms/token and GB/s of weight
 * bytes, and that as a share of a plain read of the same bytes timed
 * before each step (best of 12 each), and of the read bandwidth measured
 * first (every thread summing a 512 MiB buffer). Prefill (n = 128..512): the 7 matmuls
 * of one layer; reports GFLOP/s (2*m*k*n per matmul). Then one SigLIP-base
 * layer's 6 (q, k, v, o: 768 x 768; fc1 3072 x 768; fc2 768 x 3072) over a
 * 512 px tile's 1024 patches, the ViT encode's products.
 *
 * The K-quants' rows are whole 256-value blocks, so they run a shape with
 * 768 and 2048 in place of 576 and 1536 (KV 256, same vocabulary).
 *
 * usage: bench_matmul [--rows] [isa] [types...]   e.g. bench_matmul avx512 q8_0 q6_K
 * isa: scalar | avx2 | avx512 | neon | default (what cpu_kernels_init picks).
 * --rows: also run each prefill without the gemm tile (vec_dot rows), the
 * ratio in the same run. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/opt.h"
#include "bench_read.h"
#include "core/cpu/cpu_kernels.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define VOCAB 49152
#define LAYERS 30

/* {rows, k} of q, k, v, o, gate, up, down */
static void layer_shapes(enum em_type ty, int64_t shapes[7][2], int64_t *dim, int64_t *ffn) {
    const int kq = em_type_block(ty) == EM_QK_K;
    const int64_t d = kq ? 768 : 576, f = kq ? 2048 : 1536, kv = kq ? 256 : 192;
    const int64_t s[7][2] = {{d, d}, {kv, d}, {kv, d}, {d, d}, {f, d}, {f, d}, {d, f}};
    memcpy(shapes, s, sizeof s);
    *dim = d;
    *ffn = f;
}

/* The read bandwidth a decode step can hope for: every thread summing its
 * share of a buffer far larger than any cache (bench_read.h). Best of 5
 * passes, GB/s. */
#define READ_BYTES ((size_t)512 << 20)

static double read_bandwidth(em_pool *pool) {
    struct bench_read *a = malloc(sizeof *a);
    uint64_t *p = aligned_alloc(64, READ_BYTES);
    if (!a || !p) { fprintf(stderr, "bench_matmul: out of memory\n"); exit(1); }
    a->p = p;
    a->n = READ_BYTES / sizeof(uint64_t);
    for (size_t i = 0; i < a->n; i++) p[i] = i * 0x9e3779b97f4a7c15u;
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        const double t0 = now();
        em_pool_run(pool, bench_read_body, a);
        const double t = now() - t0;
        if (t < best) best = t;
    }
    printf("memory read threads=%d: %6.1f GB/s  (%zu MiB, best of 5)\n", em_pool_size(pool), READ_BYTES / best / 1e9,
           READ_BYTES >> 20);
    free(p);
    free(a);
    return READ_BYTES / best / 1e9;
}

static void bench_type(const cpu_kernels *kern_in, enum em_type ty, em_pool *pool, bool rows, double read_gbs) {
    const int nth = em_pool_size(pool);
    int64_t shapes[7][2], dim, ffn;
    layer_shapes(ty, shapes, &dim, &ffn);
    cpu_kernels kern_rows = *kern_in;
    kern_rows.gemm[ty] = NULL;
    const cpu_kernels *kern = kern_in;
    /* all weights of a token, back to back */
    size_t off[LAYERS * 7 + 1], total = 0;
    for (int l = 0; l < LAYERS; l++)
        for (int s = 0; s < 7; s++) { off[l * 7 + s] = total; total += em_row_bytes(ty, shapes[s][1]) * shapes[s][0]; }
    off[LAYERS * 7] = total;
    total += em_row_bytes(ty, dim) * VOCAB;
    char *w = aligned_alloc(64, (total + 63) & ~(size_t)63);
    float *tmp = malloc(ffn * 4);
    for (int i = 0; i < ffn; i++) tmp[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    /* fill with valid quantized rows (one distinct row repeated) */
    char *row = malloc(em_row_bytes(ty, ffn) + em_row_bytes(ty, dim));
    for (size_t p = 0; p < total;) {
        size_t rb = em_row_bytes(ty, dim);
        cpu_quantize(ty, tmp, row, 1, dim);
        size_t c = total - p < rb ? total - p : rb;
        memcpy(w + p, row, c);
        p += c;
    }
    const int64_t nmax = 512;
    float *x = malloc(nmax * ffn * 4), *y = malloc(nmax * VOCAB * 4);
    for (int64_t i = 0; i < nmax * ffn; i++) x[i] = (float)((i * 31) % 199) / 199.0f - 0.5f;
    size_t ss = cpu_matmul_scratch(kern_in, ty, ffn, nmax, nth), ss_rows = cpu_matmul_scratch(&kern_rows, ty, ffn, nmax, nth);
    void *scratch = malloc(ss > ss_rows ? ss : ss_rows);

    /* decode, each step after a plain read of the same weight bytes (the
     * read pass of read_bandwidth over this buffer): the machine's bandwidth
     * moves from minute to minute (a shared host), so the two are measured
     * side by side, best of 12 each */
    double best = 1e9, best_read = 1e9;
    struct bench_read *ra = malloc(sizeof *ra);
    if (!ra) { fprintf(stderr, "bench_matmul: out of memory\n"); exit(1); }
    ra->p = (const uint64_t *)w;
    ra->n = ((total + 63) & ~(size_t)63) / sizeof(uint64_t);
    for (int rep = 0; rep < 12; rep++) {
        double t0 = now();
        em_pool_run(pool, bench_read_body, ra);
        double t = now() - t0;
        if (t < best_read) best_read = t;
        t0 = now();
        for (int i = 0; i < LAYERS * 7; i++) {
            int s = i % 7;
            cpu_matmul(kern, pool, ty, w + off[i], em_row_bytes(ty, shapes[s][1]), shapes[s][0], shapes[s][1], x, 1, y,
                       shapes[s][0], scratch);
        }
        cpu_matmul(kern, pool, ty, w + off[LAYERS * 7], em_row_bytes(ty, dim), VOCAB, dim, x, 1, y, VOCAB, scratch);
        t = now() - t0;
        if (t < best) best = t;
    }
    free(ra);
    printf("%-6s %-5s threads=%d decode: %7.3f ms/token  %6.1f GB/s = %3.0f%% of reading the same bytes (%.1f GB/s), "
           "%3.0f%% of the read bandwidth  (%.1f MB)\n",
           kern->isa, em_type_name(ty), nth, best * 1e3, total / best / 1e9, 100.0 * best_read / best,
           total / best_read / 1e9, 100.0 * total / best / 1e9 / read_gbs, total / 1e6);

    /* prefill: one layer's matmuls, with the gemm tile and (--rows) without */
    static const int64_t ns[] = {128, 512};
    for (int pass = 0; pass < (rows && kern_in->gemm[ty] ? 4 : 2); pass++) {
        const int ni = pass % 2;
        const int64_t n = ns[ni];
        kern = pass < 2 ? kern_in : &kern_rows;
        double flops = 0;
        for (int s = 0; s < 7; s++) flops += 2.0 * shapes[s][0] * shapes[s][1] * n;
        best = 1e9;
        for (int rep = 0; rep < 3; rep++) {
            double t0 = now();
            for (int s = 0; s < 7; s++)
                cpu_matmul(kern, pool, ty, w + off[s], em_row_bytes(ty, shapes[s][1]), shapes[s][0], shapes[s][1], x, n, y,
                           shapes[s][0], scratch);
            double t = now() - t0;
            if (t < best) best = t;
            if (t > 2.0) break; /* slow variants: one run is enough */
        }
        printf("%-6s %-5s threads=%d prefill n=%-3lld: %7.2f ms/layer  %6.1f GFLOP/s%s\n", kern->isa, em_type_name(ty),
               nth, (long long)n, best * 1e3, flops / best / 1e9, pass < 2 ? "" : "  (vec_dot rows)");
    }
    /* the ViT's layer, on the same weight bytes (rows of whole blocks) */
    if (em_type_block(ty) != EM_QK_K) {
        static const int64_t vs[6][2] = {{768, 768}, {768, 768}, {768, 768}, {768, 768}, {3072, 768}, {768, 3072}};
        const int64_t n = 1024;
        float *vx = malloc(n * 3072 * 4), *vy = malloc(n * 3072 * 4);
        void *vscratch = malloc(cpu_matmul_scratch(kern_in, ty, 3072, n, nth));
        if (!vx || !vy || !vscratch) { fprintf(stderr, "bench_matmul: out of memory\n"); exit(1); }
        for (int64_t i = 0; i < n * 3072; i++) vx[i] = (float)((i * 31) % 199) / 199.0f - 0.5f;
        double flops = 0;
        for (int s = 0; s < 6; s++) flops += 2.0 * vs[s][0] * vs[s][1] * n;
        best = 1e9;
        for (int rep = 0; rep < 6; rep++) {
            double t0 = now();
            size_t o = 0;
            for (int s = 0; s < 6; s++) {
                const size_t rb = em_row_bytes(ty, vs[s][1]);
                cpu_matmul(kern_in, pool, ty, w + o, rb, vs[s][0], vs[s][1], vx, n, vy, vs[s][0], vscratch);
                o += rb * vs[s][0]; /* whole blocks: each row starts a valid one */
            }
            double t = now() - t0;
            if (t < best) best = t;
        }
        printf("%-6s %-5s threads=%d vit layer n=%lld: %7.2f ms/layer  %6.1f GFLOP/s\n", kern_in->isa, em_type_name(ty),
               nth, (long long)n, best * 1e3, flops / best / 1e9);
        free(vx); free(vy); free(vscratch);
    }
    free(w); free(tmp); free(x); free(y); free(scratch); free(row);
}

int main(int argc, char **argv) {
    /* usage: bench_matmul [--rows] [ISA|default [TYPE...]] */
    const char *pos[9] = {NULL};
    bool rows = false;
    const opt_spec specs[] = {OPT_FLAG(NULL, "--rows", &rows, "also time each prefill with vec_dot rows"), OPT_END};
    char perr[OPT_ERR_LEN];
    int n_pos = 0, prc = opt_parse("bench_matmul", specs, argc, argv, pos, 9, &n_pos, perr);
    if (prc == OPT_HELP) {
        printf("usage: bench_matmul [--rows] [ISA|default [TYPE...]]   (TYPE: any weight type, e.g. q8_0 q4_K;\n"
               "       default q8_0 q4_0 f16 bf16 f32)\n");
        return 0;
    }
    if (prc != OPT_OK) { fprintf(stderr, "%s\n", perr); return 2; }
    cpu_kernels kern;
    const char *isa = pos[0] ? pos[0] : "default";
    if (strcmp(isa, "default") == 0) cpu_kernels_init(&kern);
    else if (cpu_kernels_init_isa(&kern, isa) != 0) {
        fprintf(stderr, "bench_matmul: variant %s not available on this CPU/build\n", isa);
        return 1;
    }
    enum em_type tys[8];
    int nt = 0;
    static const enum em_type all[] = {EM_TYPE_Q8_0, EM_TYPE_Q4_0, EM_TYPE_F16, EM_TYPE_BF16, EM_TYPE_F32};
    for (int i = 1; i < n_pos; i++) {
        int t = 0;
        while (t < EM_TYPE_COUNT && !(em_type_supported((enum em_type)t) && em_type_name((enum em_type)t) &&
                                      strcasecmp(pos[i], em_type_name((enum em_type)t)) == 0))
            t++;
        if (t == EM_TYPE_COUNT) { fprintf(stderr, "bench_matmul: type '%s': not a weight type Ember computes with\n", pos[i]); return 2; }
        tys[nt++] = (enum em_type)t;
    }
    if (nt == 0) { memcpy(tys, all, sizeof all); nt = 5; }
    char err[512];
    for (int th = 1; th <= 2; th++) {
        em_pool *pool = em_pool_create(th, err);
        if (!pool) { fprintf(stderr, "%s\n", err); return 1; }
        const double read_gbs = read_bandwidth(pool);
        for (int i = 0; i < nt; i++) bench_type(&kern, tys[i], pool, rows, read_gbs);
        em_pool_free(pool);
    }
    return 0;
}
