/* bench_vit_ops.c - the ViT's backend ops on one SigLIP tile: 1024 patches of
 * 768 values, 12 heads of 64 (ViT-B/16 at 512 px).
 *
 * Times, per backend (the CPU with THREADS workers, and Vulkan when the
 * build has it): layer_norm over [1024][768], gelu over [1024][768] and over
 * [1024][3072] (the MLP's hidden width, where a ViT applies it), add_bias over
 * [1024][768], attention_full of 1024 rows over 1024 keys, and
 * layer_norm + gelu + attention_full one after the other with one sync.
 * Each is the best of REPS runs after a warm-up (which also builds the
 * Vulkan pipelines and records the command buffer that later runs replay);
 * each run ends with a sync, so GPU times include one submit and wait.
 *
 * usage: bench_vit_ops [threads] [reps]    (defaults 2, 5) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/opt.h"
#include "core/backend.h"
#include "core/cpu/cpu_backend.h"
#include "core/vulkan/vk_backend.h"

#define N_TOK 1024
#define DIM 768
#define FFN 3072
#define N_HEAD 12
#define HEAD_DIM 64

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct tile {
    em_tensor x, h, hff, hff2, q, k, v, out, w, b;
} tile;

static int tile_open(em_backend *be, tile *t, float *host_w) {
    char err[EM_ERR_LEN];
    em_tensor *acts[8] = {&t->x, &t->h, &t->hff, &t->hff2, &t->q, &t->k, &t->v, &t->out};
    const int64_t widths[8] = {DIM, DIM, FFN, FFN, DIM, DIM, DIM, DIM};
    float *buf = malloc(sizeof(float) * N_TOK * FFN);
    if (!buf) return -1;
    for (int i = 0; i < 8; i++) {
        *acts[i] = em_tensor_make(EM_TYPE_F32, widths[i], N_TOK, 1, 1);
        if (em_backend_alloc(be, acts[i], err)) { fprintf(stderr, "alloc: %s\n", err); free(buf); return -1; }
        uint64_t s = 0x9e3779b97f4a7c15ull + (uint64_t)i;
        for (int64_t j = 0; j < widths[i] * N_TOK; j++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            buf[j] = (float)((s >> 40) & 0xffffff) / 8388608.0f - 1.0f;
        }
        if (be->ops->upload(be, acts[i], buf, 0, em_tensor_nbytes(acts[i]), err)) {
            fprintf(stderr, "upload: %s\n", err);
            free(buf);
            return -1;
        }
    }
    free(buf);
    t->w = em_tensor_make(EM_TYPE_F32, DIM, 1, 1, 1);
    t->b = t->w;
    if (em_backend_wrap(be, &t->w, host_w, err) || em_backend_wrap(be, &t->b, host_w + DIM, err)) {
        fprintf(stderr, "wrap: %s\n", err);
        return -1;
    }
    return 0;
}

static void tile_close(em_backend *be, tile *t) {
    em_tensor *acts[8] = {&t->x, &t->h, &t->hff, &t->hff2, &t->q, &t->k, &t->v, &t->out};
    for (int i = 0; i < 8; i++) em_backend_release(be, acts[i]);
}

enum which { B_LN, B_GELU, B_GELU_FFN, B_BIAS, B_ATTN, B_ALL, B_COUNT };
static const char *const which_name[B_COUNT] = {
    "layer_norm [1024][768]", "gelu [1024][768]", "gelu [1024][3072]", "add_bias [1024][768]",
    "attention_full 1024x1024, 12x64", "layer_norm+gelu+attention_full"};

static void run(em_backend *be, tile *t, enum which w) {
    const em_attn_params p = {.n_head = N_HEAD, .n_head_kv = N_HEAD, .head_dim = HEAD_DIM, .pos0 = 0,
                              .n_kv = N_TOK, .scale = 0.125f};
    if (w == B_LN || w == B_ALL) be->ops->layer_norm(be, &t->h, &t->x, &t->w, &t->b, 1e-6f);
    if (w == B_GELU || w == B_ALL) be->ops->gelu(be, &t->q, &t->x);
    /* not in place: repeated runs would shrink the values towards 0, where
     * tanhf is faster */
    if (w == B_GELU_FFN) be->ops->gelu(be, &t->hff2, &t->hff);
    if (w == B_BIAS) be->ops->add_bias(be, &t->h, &t->x, &t->b);
    if (w == B_ATTN || w == B_ALL) be->ops->attention_full(be, &t->out, &t->q, &t->k, &t->v, &p);
}

static int bench(em_backend *be, const char *label, int reps, float *host_w) {
    tile t;
    if (tile_open(be, &t, host_w)) return -1;
    char err[EM_ERR_LEN];
    for (int w = 0; w < B_COUNT; w++) {
        double best = 1e30;
        for (int r = 0; r <= reps; r++) { /* r == 0: warm-up */
            const double t0 = now();
            run(be, &t, (enum which)w);
            if (em_backend_sync(be, err)) { fprintf(stderr, "%s: %s\n", label, err); tile_close(be, &t); return -1; }
            const double dt = now() - t0;
            if (r > 0 && dt < best) best = dt;
        }
        printf("%-28s %-34s %9.2f ms\n", label, which_name[w], best * 1e3);
    }
    tile_close(be, &t);
    return 0;
}

int main(int argc, char **argv) {
    const char *pos[2] = {NULL, NULL};
    const opt_spec specs[] = {OPT_END};
    char err[EM_ERR_LEN], label[64];
    int n_pos = 0, prc = opt_parse("bench_vit_ops", specs, argc, argv, pos, 2, &n_pos, err);
    if (prc == OPT_HELP) { printf("usage: bench_vit_ops [THREADS (default 2)] [REPS (default 5)]\n"); return 0; }
    if (prc != OPT_OK) { fprintf(stderr, "%s\n", err); return 2; }
    int64_t t64 = 2, r64 = 5;
    if ((pos[0] && opt_i64("bench_vit_ops", "THREADS", pos[0], 1, 1024, &t64, err)) ||
        (pos[1] && opt_i64("bench_vit_ops", "REPS", pos[1], 1, 1000000, &r64, err))) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    const int threads = (int)t64, reps = (int)r64;
    float *host_w = malloc(sizeof(float) * 2 * DIM);
    if (!host_w) { fprintf(stderr, "bench_vit_ops: out of memory\n"); return 1; }
    for (int i = 0; i < 2 * DIM; i++) host_w[i] = i < DIM ? 1.0f + (float)(i % 7) / 70.0f : (float)(i % 5) / 50.0f;
    em_backend *cpu = cpu_backend_create(threads, err);
    if (!cpu) { fprintf(stderr, "cpu: %s\n", err); return 1; }
    snprintf(label, sizeof label, "cpu (%s, %d threads)", cpu_backend_isa(cpu), threads);
    int rc = bench(cpu, label, reps, host_w);
    em_backend_free(cpu);
    if (vk_backend_built()) {
        vk_backend_params p = {.device = -1};
        em_backend *vk = vk_backend_create(&p, NULL, err);
        if (!vk) {
            printf("vulkan: %s\n", err);
        } else {
            snprintf(label, sizeof label, "vulkan (%.20s)", vk_backend_device_name(vk));
            rc |= bench(vk, label, reps, host_w);
            em_backend_free(vk);
        }
    }
    free(host_w);
    return rc ? 1 : 0;
}
