/* test_quantize.c - lm/quantize.h: llama.cpp's mixes, chosen per tensor and
 * written.
 *
 * The per-tensor choices are checked against known answers for an 8-layer
 * llama-shaped file. The rules were checked against llama.cpp's own
 * quantizer (ik_llama.cpp's llama-quantize, whose rules for these mixes are
 * mainline's) on a SmolLM2-135M-shaped F32 file: every tensor's type the
 * same for Q4_K_M and Q6_K (the mixes whose fallbacks the two projects
 * share). The files written are checked by what they hold: types as
 * planned, values within the type's error of the input, keys copied,
 * general.file_type set; an interrupted run and a refused one leave no file. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/cpu/cpu_kernels.h"
#include "core/gguf.h"
#include "lm/quantize.h"

#define LAYERS 8

static char dir[] = "/tmp/ember-test-quantize-XXXXXX";

/* An 8-layer llama file of F32 tensors with llama's names: dim D, ffn F,
 * tied (no output.weight) or not. Values are a smooth pattern in -1..1. */
static int write_model(const char *path, int64_t dim, int64_t ffn, int tied, enum em_type wtype) {
    char err[EM_ERR_LEN];
    gguf_writer *w = gguf_writer_create(err);
    if (!w) return -1;
    int rc = 0;
    rc |= gguf_writer_set_str(w, "general.architecture", "llama");
    rc |= gguf_writer_set_u32(w, "llama.block_count", LAYERS);
    rc |= gguf_writer_set_u32(w, "llama.attention.head_count", 8);
    rc |= gguf_writer_set_u32(w, "llama.attention.head_count_kv", 2);
    rc |= gguf_writer_set_str(w, "test.kept", "yes");
    const int64_t kv = dim / 4, vocab = 64;
    static float *bufs[LAYERS * 9 + 3];
    int nb = 0;
#define T(name, ne0, ne1)                                                                             \
    do {                                                                                              \
        const int64_t ne[2] = {(ne0), (ne1)};                                                         \
        const int nd = (ne1) > 1 ? 2 : 1;                                                             \
        float *x = malloc(sizeof *x * (size_t)((ne0) * (ne1)));                                       \
        if (!x) return -1;                                                                            \
        for (int64_t i = 0; i < (ne0) * (ne1); i++) x[i] = sinf((float)(i * 7 + nb * 13) * 0.01f);      \
        void *data = x;                                                                               \
        enum em_type ty = nd == 2 ? wtype : EM_TYPE_F32;                                              \
        if (ty != EM_TYPE_F32) {                                                                      \
            void *q = malloc(em_row_bytes(ty, (ne0)) * (size_t)(ne1));                                \
            if (!q) return -1;                                                                        \
            cpu_quantize(ty, x, q, (ne1), (ne0));                                                     \
            free(x);                                                                                  \
            data = q;                                                                                 \
        }                                                                                             \
        bufs[nb++] = data;                                                                            \
        rc |= gguf_writer_add_tensor(w, (name), ty, nd, ne, data);                                    \
    } while (0)
    T("token_embd.weight", dim, vocab);
    for (int l = 0; l < LAYERS; l++) {
        char n[64];
        snprintf(n, sizeof n, "blk.%d.attn_norm.weight", l); T(n, dim, 1);
        snprintf(n, sizeof n, "blk.%d.attn_q.weight", l); T(n, dim, dim);
        snprintf(n, sizeof n, "blk.%d.attn_k.weight", l); T(n, dim, kv);
        snprintf(n, sizeof n, "blk.%d.attn_v.weight", l); T(n, dim, kv);
        snprintf(n, sizeof n, "blk.%d.attn_output.weight", l); T(n, dim, dim);
        snprintf(n, sizeof n, "blk.%d.ffn_norm.weight", l); T(n, dim, 1);
        snprintf(n, sizeof n, "blk.%d.ffn_gate.weight", l); T(n, dim, ffn);
        snprintf(n, sizeof n, "blk.%d.ffn_up.weight", l); T(n, dim, ffn);
        snprintf(n, sizeof n, "blk.%d.ffn_down.weight", l); T(n, ffn, dim);
    }
    T("output_norm.weight", dim, 1);
    if (!tied) T("output.weight", dim, vocab);
#undef T
    rc |= gguf_writer_write(w, path);
    if (rc) fprintf(stderr, "write_model: %s\n", gguf_writer_errmsg(w));
    gguf_writer_free(w);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    return rc ? -1 : 0;
}

static const char *tname(enum em_type t) { return em_type_name(t) ? em_type_name(t) : "?"; }

/* The type planned for the tensor called name. */
static enum em_type planned(const gguf_ctx *g, const enum em_type *types, const char *name) {
    for (int64_t i = 0; i < gguf_n_tensors(g); i++)
        if (!strcmp(gguf_tensor(g, i)->name, name)) return types[i];
    return (enum em_type)-1;
}

/* Layers 0, 3, 6 and 7 of 8 get more bits in the _M mixes (llama.cpp's
 * use_more_bits: the first and last eighth, and every third between). */
static int more_bits(int l) { return l == 0 || l == 3 || l == 6 || l == 7; }

static void test_plans(void) {
    char path[300], err[EM_ERR_LEN];
    snprintf(path, sizeof path, "%s/m256.gguf", dir);
    CHECK(write_model(path, 256, 512, 0, EM_TYPE_F32) == 0, "write m256");
    gguf_ctx *g = gguf_open(path, err);
    CHECK(g != NULL, "open: %s", err);
    if (!g) return;
    enum em_type ty[LAYERS * 9 + 3];
    lm_quant_params p = {lm_quant_mix_parse("q4_k_m"), false, false, NULL, NULL};
    CHECK(p.ftype == 15, "Q4_K_M is llama_ftype 15: %d", p.ftype);
    CHECK(lm_quant_plan(g, &p, ty, err) == EM_OK, "plan Q4_K_M: %s", err);
    int bad = 0;
    for (int l = 0; l < LAYERS; l++) {
        char n[64];
        const enum em_type hi = more_bits(l) ? EM_TYPE_Q6_K : EM_TYPE_Q4_K;
        snprintf(n, sizeof n, "blk.%d.attn_v.weight", l); bad += planned(g, ty, n) != hi;
        snprintf(n, sizeof n, "blk.%d.ffn_down.weight", l); bad += planned(g, ty, n) != hi;
        snprintf(n, sizeof n, "blk.%d.attn_q.weight", l); bad += planned(g, ty, n) != EM_TYPE_Q4_K;
        snprintf(n, sizeof n, "blk.%d.ffn_up.weight", l); bad += planned(g, ty, n) != EM_TYPE_Q4_K;
        snprintf(n, sizeof n, "blk.%d.attn_norm.weight", l); bad += planned(g, ty, n) != EM_TYPE_F32;
    }
    CHECK(!bad, "Q4_K_M: %d layer tensors off the rules", bad);
    CHECK(planned(g, ty, "output.weight") == EM_TYPE_Q6_K && planned(g, ty, "token_embd.weight") == EM_TYPE_Q4_K &&
              planned(g, ty, "output_norm.weight") == EM_TYPE_F32,
          "Q4_K_M output %s, token_embd %s", tname(planned(g, ty, "output.weight")),
          tname(planned(g, ty, "token_embd.weight")));

    /* Q4_K_S: Q5_K for attn_v of the first 4 layers and ffn_down of the first eighth */
    p.ftype = lm_quant_mix_parse("Q4_K_S");
    CHECK(lm_quant_plan(g, &p, ty, err) == EM_OK, "plan Q4_K_S: %s", err);
    CHECK(planned(g, ty, "blk.3.attn_v.weight") == EM_TYPE_Q5_K && planned(g, ty, "blk.4.attn_v.weight") == EM_TYPE_Q4_K &&
              planned(g, ty, "blk.0.ffn_down.weight") == EM_TYPE_Q5_K &&
              planned(g, ty, "blk.1.ffn_down.weight") == EM_TYPE_Q4_K,
          "Q4_K_S bumps");
    /* Q3_K_M: attn_v Q5_K for the first two then Q4_K, attn_output Q4_K, ffn_down Q4_K (Q5_K below n/16 = 0) */
    p.ftype = lm_quant_mix_parse("Q3_K_M");
    CHECK(lm_quant_plan(g, &p, ty, err) == EM_OK, "plan Q3_K_M: %s", err);
    CHECK(planned(g, ty, "blk.1.attn_v.weight") == EM_TYPE_Q5_K && planned(g, ty, "blk.2.attn_v.weight") == EM_TYPE_Q4_K &&
              planned(g, ty, "blk.5.attn_output.weight") == EM_TYPE_Q4_K &&
              planned(g, ty, "blk.0.ffn_down.weight") == EM_TYPE_Q4_K && planned(g, ty, "blk.0.attn_q.weight") == EM_TYPE_Q3_K,
          "Q3_K_M rules");
    /* Q2_K with 4 query heads per kv head: attn_v Q4_K, ffn_down and attn_output Q3_K */
    p.ftype = lm_quant_mix_parse("Q2_K");
    CHECK(lm_quant_plan(g, &p, ty, err) == EM_OK, "plan Q2_K: %s", err);
    CHECK(planned(g, ty, "blk.4.attn_v.weight") == EM_TYPE_Q4_K && planned(g, ty, "blk.4.ffn_down.weight") == EM_TYPE_Q3_K &&
              planned(g, ty, "blk.4.attn_output.weight") == EM_TYPE_Q3_K && planned(g, ty, "blk.4.ffn_up.weight") == EM_TYPE_Q2_K,
          "Q2_K rules");
    /* --pure: the base type everywhere it quantizes, the output too */
    p.ftype = lm_quant_mix_parse("Q4_K_M"), p.pure = true;
    CHECK(lm_quant_plan(g, &p, ty, err) == EM_OK, "plan pure: %s", err);
    CHECK(planned(g, ty, "blk.0.attn_v.weight") == EM_TYPE_Q4_K && planned(g, ty, "output.weight") == EM_TYPE_Q4_K,
          "pure Q4_K_M: %s", tname(planned(g, ty, "output.weight")));
    p.pure = false;
    /* Q8_0: everything Q8_0, the output too */
    p.ftype = lm_quant_mix_parse("Q8_0");
    CHECK(lm_quant_plan(g, &p, ty, err) == EM_OK && planned(g, ty, "output.weight") == EM_TYPE_Q8_0 &&
              planned(g, ty, "blk.7.ffn_down.weight") == EM_TYPE_Q8_0,
          "Q8_0: %s", err);
    gguf_close(g);

    /* Rows of 96 fit 32-value blocks but not 256: llama.cpp's fallbacks
     * (Q4_K -> Q5_0, Q6_K -> Q8_0, Q5_K -> Q5_1, Q3_K -> Q4_0); the tied
     * token embeddings are the output matrix: Q8_0. ffn_down's rows (ffn
     * 512) still fit. */
    snprintf(path, sizeof path, "%s/m96.gguf", dir);
    CHECK(write_model(path, 96, 512, 1, EM_TYPE_F32) == 0, "write m96");
    g = gguf_open(path, err);
    CHECK(g != NULL, "open: %s", err);
    if (!g) return;
    p.ftype = lm_quant_mix_parse("Q4_K_M");
    CHECK(lm_quant_plan(g, &p, ty, err) == EM_OK, "plan: %s", err);
    CHECK(planned(g, ty, "blk.0.attn_q.weight") == EM_TYPE_Q5_0 && planned(g, ty, "blk.0.attn_v.weight") == EM_TYPE_Q8_0 &&
              planned(g, ty, "blk.1.attn_v.weight") == EM_TYPE_Q5_0 && planned(g, ty, "blk.0.ffn_down.weight") == EM_TYPE_Q6_K &&
              planned(g, ty, "blk.1.ffn_down.weight") == EM_TYPE_Q4_K && planned(g, ty, "token_embd.weight") == EM_TYPE_Q8_0,
          "Q4_K_M at 96: attn_q %s attn_v %s token_embd %s", tname(planned(g, ty, "blk.0.attn_q.weight")),
          tname(planned(g, ty, "blk.0.attn_v.weight")), tname(planned(g, ty, "token_embd.weight")));
    p.ftype = lm_quant_mix_parse("Q5_K_S");
    CHECK(lm_quant_plan(g, &p, ty, err) == EM_OK && planned(g, ty, "blk.2.attn_q.weight") == EM_TYPE_Q5_1, "Q5_K_S at 96");
    p.ftype = lm_quant_mix_parse("Q3_K_S");
    CHECK(lm_quant_plan(g, &p, ty, err) == EM_OK && planned(g, ty, "blk.2.attn_q.weight") == EM_TYPE_Q4_0, "Q3_K_S at 96");
    gguf_close(g);

    CHECK(lm_quant_mix_parse("q4_k_x") == -1 && lm_quant_mix_parse("") == -1 && lm_quant_mix_parse(NULL) == -1 &&
              lm_quant_mix_parse("f16") == 1 && lm_quant_mix_parse("BF16") == 32,
          "mix names");
}

/* The files it writes: the mix as planned, values near the input. */
static void test_write(void) {
    char in[300], out[300], err[EM_ERR_LEN];
    snprintf(in, sizeof in, "%s/w.gguf", dir);
    snprintf(out, sizeof out, "%s/w-q.gguf", dir);
    CHECK(write_model(in, 96, 128, 0, EM_TYPE_F32) == 0, "write w");
    gguf_ctx *g = gguf_open(in, err);
    if (!g) { CHECK(0, "open: %s", err); return; }
    static const struct { const char *mix; double tol; } cases[] = {{"Q8_0", 0.01}, {"Q4_0", 0.13 /* amax / 8 at the end of its grid that has no level */}, {"F16", 1e-3}, {"BF16", 1e-2}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lm_quant_params p = {lm_quant_mix_parse(cases[c].mix), false, false, NULL, NULL};
        enum em_type ty[LAYERS * 9 + 3];
        CHECK(lm_quant_plan(g, &p, ty, err) == EM_OK, "%s plan: %s", cases[c].mix, err);
        CHECK(lm_quantize(g, out, &p, err) == EM_OK, "%s: %s", cases[c].mix, err);
        gguf_ctx *o = gguf_open(out, err);
        CHECK(o != NULL, "%s: open the output: %s", cases[c].mix, err);
        if (!o) continue;
        int64_t ft = -1;
        const char *kept = NULL;
        CHECK(gguf_get_int(o, "general.file_type", &ft, err) == EM_OK && ft == p.ftype &&
                  gguf_get_str(o, "test.kept", &kept, err) == EM_OK && !strcmp(kept, "yes"),
              "%s: keys (file_type %lld)", cases[c].mix, (long long)ft);
        cpu_kernels ref;
        cpu_kernels_init_ref(&ref);
        int bad_type = 0;
        double worst = 0;
        for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
            const gguf_tensor_info *a = gguf_tensor(g, i), *b = gguf_find_tensor(o, a->name);
            if (!b || b->type != ty[i]) { bad_type++; continue; }
            const int64_t cols = a->ne[0], rows = a->nbytes / em_row_bytes(a->type, cols);
            float *row = malloc(sizeof *row * (size_t)cols);
            for (int64_t r = 0; row && r < rows; r++) {
                const char *q = (const char *)b->data + (size_t)r * em_row_bytes(b->type, cols);
                if (b->type == EM_TYPE_F32) memcpy(row, q, sizeof *row * (size_t)cols);
                else ref.to_float[b->type](q, row, cols);
                for (int64_t j = 0; j < cols; j++) {
                    const double e = fabs(row[j] - ((const float *)a->data)[r * cols + j]);
                    if (e > worst) worst = e;
                }
            }
            free(row);
        }
        CHECK(!bad_type && worst <= cases[c].tol, "%s: %d tensors not as planned, worst |error| %g", cases[c].mix,
              bad_type, worst);
        gguf_close(o);
    }

    /* a quantized input is refused unless requantizing is allowed */
    char q8[300];
    snprintf(q8, sizeof q8, "%s/w-q8.gguf", dir);
    CHECK(write_model(q8, 96, 128, 0, EM_TYPE_Q8_0) == 0, "write a Q8_0 model");
    gguf_ctx *gq = gguf_open(q8, err);
    if (gq) {
        char out2[300];
        snprintf(out2, sizeof out2, "%s/w-q8-q4.gguf", dir);
        lm_quant_params p = {lm_quant_mix_parse("Q4_0"), false, false, NULL, NULL};
        CHECK(lm_quantize(gq, out2, &p, err) == EM_ERR_UNSUPPORTED && strstr(err, "already q8_0") &&
                  access(out2, F_OK) != 0,
              "requantizing refused: %s", err);
        p.allow_requantize = true;
        CHECK(lm_quantize(gq, out2, &p, err) == EM_OK && access(out2, F_OK) == 0, "requantizing allowed: %s", err);
        gguf_close(gq);
    }
    gguf_close(g);
}

static int stop_at_3(void *user, int64_t i, int64_t n, const gguf_tensor_info *t, enum em_type to) {
    (void)user, (void)n, (void)t, (void)to;
    return i == 3;
}

/* Stopped between tensors: OUT not written, and no temporary left. */
static void test_interrupt(void) {
    char in[300], out[300], err[EM_ERR_LEN];
    snprintf(in, sizeof in, "%s/w.gguf", dir);
    snprintf(out, sizeof out, "%s/stopped.gguf", dir);
    gguf_ctx *g = gguf_open(in, err);
    if (!g) { CHECK(0, "open: %s", err); return; }
    lm_quant_params p = {lm_quant_mix_parse("Q8_0"), false, false, stop_at_3, NULL};
    CHECK(lm_quantize(g, out, &p, err) == EM_ERR_RANGE && strstr(err, "stopped at tensor 4"), "stop: %s", err);
    CHECK(access(out, F_OK) != 0, "a stopped run left %s", out);
    DIR *d = opendir(dir);
    int tmp = 0;
    for (struct dirent *e; d && (e = readdir(d));) tmp += strstr(e->d_name, ".tmp") != NULL;
    if (d) closedir(d);
    CHECK(tmp == 0, "%d temporary files left", tmp);
    gguf_close(g);
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_plans();
    test_write();
    test_interrupt();
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[sizeof dir + 300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.') unlink(path);
    }
    if (d) closedir(d);
    rmdir(dir);
    return CHECK_DONE();
}
