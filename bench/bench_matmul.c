/* bench_matmul.c - cpu_matmul on SmolLM2-135M's shapes.
 *
 * Decode (n = 1): one token's worth of matmuls (30 layers x q,k,v,o,gate,up,down
 * plus the 49152-row output head), each layer with its own weights so they
 * stream from memory as in a real model; reports ms/token and GB/s of weight
 * bytes. Prefill (n = 128..512): the 7 matmuls of one layer; reports GFLOP/s
 * (2*m*k*n per matmul).
 *
 * usage: bench_matmul [isa] [types...]   e.g. bench_matmul avx512 q8_0 q4_0
 * isa: scalar | avx2 | avx512 | neon | default (what cpu_kernels_init picks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/opt.h"
#include "core/cpu/cpu_kernels.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define DIM 576
#define FFN 1536
#define KVD 192
#define VOCAB 49152
#define LAYERS 30

static const int64_t shapes[7][2] = {{DIM, DIM}, {KVD, DIM}, {KVD, DIM}, {DIM, DIM}, {FFN, DIM}, {FFN, DIM}, {DIM, FFN}};

static void bench_type(const cpu_kernels *kern, enum em_type ty, em_pool *pool) {
    const int nth = em_pool_size(pool);
    /* all weights of a token, back to back */
    size_t off[LAYERS * 7 + 1], total = 0;
    for (int l = 0; l < LAYERS; l++)
        for (int s = 0; s < 7; s++) { off[l * 7 + s] = total; total += em_row_bytes(ty, shapes[s][1]) * shapes[s][0]; }
    off[LAYERS * 7] = total;
    total += em_row_bytes(ty, DIM) * VOCAB;
    char *w = aligned_alloc(64, (total + 63) & ~(size_t)63);
    float *tmp = malloc(FFN * 4);
    for (int i = 0; i < FFN; i++) tmp[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    /* fill with valid quantized rows (one distinct row repeated) */
    char row[FFN * 4];
    for (size_t p = 0; p < total;) {
        size_t rb = em_row_bytes(ty, DIM);
        cpu_quantize(ty, tmp, row, 1, DIM);
        size_t c = total - p < rb ? total - p : rb;
        memcpy(w + p, row, c);
        p += c;
    }
    const int64_t nmax = 512;
    float *x = malloc(nmax * FFN * 4), *y = malloc(nmax * VOCAB * 4);
    for (int64_t i = 0; i < nmax * FFN; i++) x[i] = (float)((i * 31) % 199) / 199.0f - 0.5f;
    void *scratch = malloc(cpu_matmul_scratch(kern, ty, FFN, nmax, nth));

    /* decode */
    double best = 1e9;
    for (int rep = 0; rep < 12; rep++) {
        double t0 = now();
        for (int i = 0; i < LAYERS * 7; i++) {
            int s = i % 7;
            cpu_matmul(kern, pool, ty, w + off[i], em_row_bytes(ty, shapes[s][1]), shapes[s][0], shapes[s][1], x, 1, y,
                       shapes[s][0], scratch);
        }
        cpu_matmul(kern, pool, ty, w + off[LAYERS * 7], em_row_bytes(ty, DIM), VOCAB, DIM, x, 1, y, VOCAB, scratch);
        double t = now() - t0;
        if (t < best) best = t;
    }
    printf("%-6s %-5s threads=%d decode: %7.3f ms/token  %6.1f GB/s  (%.1f MB)\n", kern->isa, em_type_name(ty), nth,
           best * 1e3, total / best / 1e9, total / 1e6);

    /* prefill: one layer's matmuls */
    static const int64_t ns[] = {128, 512};
    for (int ni = 0; ni < 2; ni++) {
        int64_t n = ns[ni];
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
        printf("%-6s %-5s threads=%d prefill n=%-3lld: %7.2f ms/layer  %6.1f GFLOP/s\n", kern->isa, em_type_name(ty), nth,
               (long long)n, best * 1e3, flops / best / 1e9);
    }
    free(w); free(tmp); free(x); free(y); free(scratch);
}

int main(int argc, char **argv) {
    /* usage: bench_matmul [ISA|default [TYPE...]] */
    const char *pos[9] = {NULL};
    const opt_spec specs[] = {OPT_END};
    char perr[OPT_ERR_LEN];
    int n_pos = 0, prc = opt_parse("bench_matmul", specs, argc, argv, pos, 9, &n_pos, perr);
    if (prc == OPT_HELP) {
        printf("usage: bench_matmul [ISA|default [TYPE...]]   (TYPE: q8_0 q4_0 f16 bf16 f32; default all)\n");
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
        int k = 0;
        while (k < 5 && strcmp(pos[i], em_type_name(all[k]))) k++;
        if (k == 5) { fprintf(stderr, "bench_matmul: type '%s': expected q8_0, q4_0, f16, bf16 or f32\n", pos[i]); return 2; }
        tys[nt++] = all[k];
    }
    if (nt == 0) { memcpy(tys, all, sizeof all); nt = 5; }
    char err[512];
    for (int th = 1; th <= 2; th++) {
        em_pool *pool = em_pool_create(th, err);
        if (!pool) { fprintf(stderr, "%s\n", err); return 1; }
        for (int i = 0; i < nt; i++) bench_type(&kern, tys[i], pool);
        em_pool_free(pool);
    }
    return 0;
}
