/* mk_gguf.c - see mk_gguf.h. */
#include "mk_gguf.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/cpu/cpu_kernels.h"
#include "mk_rng.h"

mk_gguf *mk_gguf_create(const char *prog, uint64_t seed, enum em_type type) {
    char err[EM_ERR_LEN] = "";
    mk_gguf *g = malloc(sizeof *g);
    if (!g) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return NULL;
    }
    *g = (mk_gguf){.prog = prog, .seed = seed, .type = type};
    if (!(g->w = gguf_writer_create(err))) {
        fprintf(stderr, "%s: %s\n", prog, err);
        free(g);
        return NULL;
    }
    return g;
}

void mk_gguf_free(mk_gguf *g) {
    if (!g) return;
    for (size_t i = 0; i < g->n_bufs; i++) free(g->bufs[i]);
    free(g->bufs);
    gguf_writer_free(g->w);
    free(g);
}

uint32_t mk_gguf_file_type(enum em_type t) {
    switch (t) {
    case EM_TYPE_F32: return 0;
    case EM_TYPE_F16: return 1;
    case EM_TYPE_Q4_0: return 2;
    case EM_TYPE_Q4_1: return 3;
    case EM_TYPE_Q5_0: return 8;
    case EM_TYPE_Q5_1: return 9;
    case EM_TYPE_IQ4_NL: return 25;
    case EM_TYPE_Q8_0: return 7;
    case EM_TYPE_BF16: return 32;
    /* a file of one K-quant: llama-quantize --pure writes these (the _S mixes) */
    case EM_TYPE_Q2_K: return 10;
    case EM_TYPE_Q3_K: return 11;
    case EM_TYPE_Q4_K: return 14;
    case EM_TYPE_Q5_K: return 16;
    case EM_TYPE_Q6_K: return 18;
    default: return 0;
    }
}

int mk_gguf_check_rows(const char *prog, enum em_type type, int dim, int ffn) {
    int blk = em_type_block(type);
    if (dim % blk || ffn % blk) {
        fprintf(stderr, "%s: --type %s needs --dim and --ffn to be multiples of %d (got %d, %d)\n", prog,
                em_type_name(type), blk, dim, ffn);
        return -1;
    }
    return 0;
}

int mk_gguf_fail(mk_gguf *g, const char *what) {
    fprintf(stderr, "%s: %s: %s\n", g->prog, what, gguf_writer_errmsg(g->w));
    return -1;
}

/* n floats from the tensor's stream, scale * (base + sd * N(0, 1)), rounded
 * once from double. Every tensor goes through this one expression, evaluated
 * as it always was (not folded into base' + sd' * N), so that the files stay
 * byte-identical from one version of the tools to the next. */
static float *mk_gguf_draw(mk_gguf *g, const char *name, size_t n, double scale, double base, double sd) {
    float *x = malloc(n * sizeof *x);
    if (!x) {
        fprintf(stderr, "%s: %s: out of memory (%zu floats)\n", g->prog, name, n);
        return NULL;
    }
    mk_rng r = mk_rng_for(g->seed, name);
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * (base + sd * mk_rng_normal(&r)));
    return x;
}

/* Keep data (which this takes: freed here on failure) and add it. */
static int mk_gguf_add(mk_gguf *g, const char *name, enum em_type type, int n_dims, const int64_t *ne, void *data) {
    if (g->n_bufs == g->cap_bufs) {
        size_t cap = g->cap_bufs ? g->cap_bufs * 2 : 64;
        void **nb = realloc(g->bufs, cap * sizeof *nb);
        if (!nb) {
            free(data);
            fprintf(stderr, "%s: %s: out of memory\n", g->prog, name);
            return -1;
        }
        g->bufs = nb;
        g->cap_bufs = cap;
    }
    g->bufs[g->n_bufs++] = data;
    if (gguf_writer_add_tensor(g->w, name, type, n_dims, ne, data)) return mk_gguf_fail(g, name);
    return 0;
}

int mk_gguf_add_norm(mk_gguf *g, const char *name, int64_t n, double scale) {
    float *x = mk_gguf_draw(g, name, (size_t)n, scale, 1.0, 0.05);
    if (!x) return -1;
    int64_t ne[1] = {n};
    return mk_gguf_add(g, name, EM_TYPE_F32, 1, ne, x);
}

int mk_gguf_add_f32(mk_gguf *g, const char *name, int n_dims, const int64_t *ne, double std) {
    size_t n = 1;
    for (int d = 0; d < n_dims; d++) n *= (size_t)ne[d];
    float *x = mk_gguf_draw(g, name, n, 1.0, 0.0, std);
    if (!x) return -1;
    return mk_gguf_add(g, name, EM_TYPE_F32, n_dims, ne, x);
}

int mk_gguf_add_matrix(mk_gguf *g, const char *name, int64_t cols, int64_t rows, double std) {
    size_t n = (size_t)cols * (size_t)rows;
    float *x = mk_gguf_draw(g, name, n, 1.0, 0.0, std);
    if (!x) return -1;
    if (g->from_bf16)
        for (size_t i = 0; i < n; i++) x[i] = em_fp32_from_bits((uint32_t)em_fp32_to_bf16(x[i]) << 16);
    void *data = x;
    if (g->type != EM_TYPE_F32) {
        size_t nbytes = em_row_bytes(g->type, cols) * (size_t)rows;
        data = malloc(nbytes);
        if (!data) {
            free(x);
            fprintf(stderr, "%s: %s: out of memory (%zu bytes)\n", g->prog, name, nbytes);
            return -1;
        }
        size_t got = cpu_quantize(g->type, x, data, rows, cols);
        free(x);
        if (got != nbytes) {
            free(data);
            fprintf(stderr, "%s: %s: cpu_quantize(%s, %lld x %lld) wrote %zu bytes, expected %zu\n", g->prog, name,
                    em_type_name(g->type), (long long)rows, (long long)cols, got, nbytes);
            return -1;
        }
    }
    int64_t ne[2] = {cols, rows};
    return mk_gguf_add(g, name, g->type, 2, ne, data);
}

int mk_gguf_write(mk_gguf *g, const char *path) {
    if (gguf_writer_write(g->w, path)) {
        fprintf(stderr, "%s: writing %s: %s\n", g->prog, path, gguf_writer_errmsg(g->w));
        return -1;
    }
    return 0;
}
