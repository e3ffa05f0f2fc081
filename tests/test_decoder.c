/* test_decoder.c - the decoder against a plain double-precision reference.
 *
 * A tiny llama model (GQA, 2 layers) with random weights is written with the
 * GGUF writer, using the GPT-2 vocabulary from ../shared/vocab. The reference
 * here recomputes the whole sequence from scratch for every position, with
 * no KV cache, straight from the math; Ember decodes incrementally (a
 * prompt, then one token at a time, in batches of several sizes). Logits
 * must agree to float precision for an F32 KV cache, and closely with the
 * F16 cache and quantized weights. Also: errors for a full context and a bad
 * token leave the context as it was. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/backend.h"
#include "core/cpu/cpu_backend.h"
#include "core/cpu/cpu_kernels.h"
#include "core/gguf.h"
#include "lm/model.h"
#include "check.h"

enum { DIM = 64, NH = 4, NKV = 2, HD = DIM / NH, FF = 96, NL = 2, CTX = 64 };

static uint64_t rng = 0x1234567;
static float frand(void) { /* uniform in [-1, 1) */
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

typedef struct { float *embd, *out, *onorm; float *an[NL], *wq[NL], *wk[NL], *wv[NL], *wo[NL], *fn[NL], *wg[NL], *wu[NL], *wd[NL]; int nv; } ref_model;

static float *randm(int64_t n, float scale, float base) {
    float *p = malloc((size_t)n * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = base + scale * frand();
    return p;
}

/* Write the model with matrices of type t; the reference keeps the values
 * as the file holds them (dequantized), so both sides see the same weights. */
static int write_model(const char *path, const gguf_ctx *vocab, enum em_type t, bool tied, ref_model *r, char *err) {
    cpu_kernels k;
    cpu_kernels_init_ref(&k);
    gguf_writer *w = gguf_writer_create(err);
    if (!w) return -1;
    gguf_writer_copy_kv(w, vocab);
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "general.name", "test-tiny");
    gguf_writer_set_u32(w, "llama.context_length", CTX);
    gguf_writer_set_u32(w, "llama.embedding_length", DIM);
    gguf_writer_set_u32(w, "llama.block_count", NL);
    gguf_writer_set_u32(w, "llama.feed_forward_length", FF);
    gguf_writer_set_u32(w, "llama.attention.head_count", NH);
    gguf_writer_set_u32(w, "llama.attention.head_count_kv", NKV);
    gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f);
    const int nv = r->nv;
    void *bufs[64];
    int nb = 0;
    /* quantize a matrix, add it, and replace the reference copy by what the file holds */
    #define ADD(name, p, rows, cols, type) do {                                         \
        int64_t ne[2] = {cols, rows};                                                   \
        size_t bytes = em_row_bytes(type, cols) * (size_t)(rows);                       \
        void *q = malloc(bytes);                                                        \
        cpu_quantize(type, p, q, rows, cols);                                           \
        for (int64_t i_ = 0; i_ < (rows); i_++)                                         \
            k.to_float[type]((char *)q + (size_t)i_ * em_row_bytes(type, cols), (p) + i_ * (cols), cols); \
        gguf_writer_add_tensor(w, name, type, (rows) == 1 ? 1 : 2, ne, q);              \
        bufs[nb++] = q;                                                                 \
    } while (0)
    ADD("token_embd.weight", r->embd, nv, DIM, t);
    ADD("output_norm.weight", r->onorm, 1, DIM, EM_TYPE_F32);
    if (!tied) ADD("output.weight", r->out, nv, DIM, t);
    char name[64];
    for (int l = 0; l < NL; l++) {
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l); ADD(name, r->an[l], 1, DIM, EM_TYPE_F32);
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", l); ADD(name, r->wq[l], DIM, DIM, t);
        snprintf(name, sizeof name, "blk.%d.attn_k.weight", l); ADD(name, r->wk[l], NKV * HD, DIM, t);
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", l); ADD(name, r->wv[l], NKV * HD, DIM, t);
        snprintf(name, sizeof name, "blk.%d.attn_output.weight", l); ADD(name, r->wo[l], DIM, DIM, t);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l); ADD(name, r->fn[l], 1, DIM, EM_TYPE_F32);
        snprintf(name, sizeof name, "blk.%d.ffn_gate.weight", l); ADD(name, r->wg[l], FF, DIM, t);
        snprintf(name, sizeof name, "blk.%d.ffn_up.weight", l); ADD(name, r->wu[l], FF, DIM, t);
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l); ADD(name, r->wd[l], DIM, FF, t);
    }
    #undef ADD
    ember_status st = gguf_writer_write(w, path);
    if (st != EM_OK) snprintf(err, EM_ERR_LEN, "%s", gguf_writer_errmsg(w));
    gguf_writer_free(w);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    return st == EM_OK ? 0 : -1;
}

/* y[r] = sum_j W[r][j] x[j] in double */
static void mv(double *y, const float *W, const double *x, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        double s = 0;
        for (int j = 0; j < cols; j++) s += (double)W[(int64_t)r * cols + j] * x[j];
        y[r] = s;
    }
}

static void rmsnorm(double *y, const double *x, const float *w, int n) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    double s = 1.0 / sqrt(ss / n + 1e-5);
    for (int i = 0; i < n; i++) y[i] = x[i] * s * w[i];
}

static void rope(double *v, int pos) {
    for (int i = 0; i < HD / 2; i++) {
        double th = pos * pow(10000.0, -2.0 * i / HD);
        double a = v[2 * i], b = v[2 * i + 1];
        v[2 * i] = a * cos(th) - b * sin(th);
        v[2 * i + 1] = a * sin(th) + b * cos(th);
    }
}

/* Logits after tokens[0..n) computed from scratch. */
static void ref_forward(const ref_model *r, const int32_t *tok, int n, bool tied, double *logits) {
    static double x[CTX][DIM], K[NL][CTX][NKV * HD], V[NL][CTX][NKV * HD];
    double h[DIM], q[DIM], att[DIM], o[DIM], g[FF], u[FF];
    for (int t = 0; t < n; t++)
        for (int i = 0; i < DIM; i++) x[t][i] = r->embd[(int64_t)tok[t] * DIM + i];
    for (int l = 0; l < NL; l++) {
        for (int t = 0; t < n; t++) {
            rmsnorm(h, x[t], r->an[l], DIM);
            mv(K[l][t], r->wk[l], h, NKV * HD, DIM);
            mv(V[l][t], r->wv[l], h, NKV * HD, DIM);
            for (int kh = 0; kh < NKV; kh++) rope(K[l][t] + kh * HD, t);
        }
        for (int t = 0; t < n; t++) {
            rmsnorm(h, x[t], r->an[l], DIM);
            mv(q, r->wq[l], h, DIM, DIM);
            for (int hh = 0; hh < NH; hh++) {
                double *qh = q + hh * HD, s[CTX], mx = -1e300, sum = 0;
                rope(qh, t);
                const int kh = hh / (NH / NKV);
                for (int j = 0; j <= t; j++) {
                    double d = 0;
                    for (int e = 0; e < HD; e++) d += qh[e] * K[l][j][kh * HD + e];
                    s[j] = d / sqrt((double)HD);
                    if (s[j] > mx) mx = s[j];
                }
                for (int j = 0; j <= t; j++) { s[j] = exp(s[j] - mx); sum += s[j]; }
                for (int e = 0; e < HD; e++) {
                    double a = 0;
                    for (int j = 0; j <= t; j++) a += s[j] / sum * V[l][j][kh * HD + e];
                    att[hh * HD + e] = a;
                }
            }
            mv(o, r->wo[l], att, DIM, DIM);
            for (int i = 0; i < DIM; i++) x[t][i] += o[i];
        }
        for (int t = 0; t < n; t++) {
            rmsnorm(h, x[t], r->fn[l], DIM);
            mv(g, r->wg[l], h, FF, DIM);
            mv(u, r->wu[l], h, FF, DIM);
            for (int i = 0; i < FF; i++) g[i] = g[i] / (1 + exp(-g[i])) * u[i];
            mv(o, r->wd[l], g, DIM, FF);
            for (int i = 0; i < DIM; i++) x[t][i] += o[i];
        }
    }
    rmsnorm(h, x[n - 1], r->onorm, DIM);
    mv(logits, tied ? r->embd : r->out, h, r->nv, DIM);
}

/* Decode `seq` as a prompt of n_prompt tokens then one at a time; compare the
 * logits after each with the reference. Returns the worst relative error. */
static double run_case(const char *path, const ref_model *r, bool tied, enum em_type kvt, int n_batch, int threads,
                       const int32_t *seq, int n_prompt, int n_total) {
    char err[EM_ERR_LEN];
    em_backend *be = cpu_backend_create(threads, err);
    lm_model *m = be ? lm_model_load(path, be, err) : NULL;
    lm_ctx_params cp = {CTX, n_batch, kvt};
    lm_ctx *c = m ? lm_ctx_create(m, &cp, err) : NULL;
    double worst = -1;
    if (!c) { fprintf(stderr, "setup: %s\n", err); goto out; }
    double *ref = malloc((size_t)r->nv * sizeof *ref);
    worst = 0;
    for (int t = n_prompt; t <= n_total; t++) {
        ember_status st = t == n_prompt ? lm_decode(c, seq, n_prompt, err) : lm_decode(c, &seq[t - 1], 1, err);
        if (st != EM_OK) { fprintf(stderr, "decode: %s\n", err); worst = 1e9; break; }
        ref_forward(r, seq, t, tied, ref);
        const float *lg = lm_logits(c);
        double mx = 0, md = 0;
        for (int i = 0; i < r->nv; i++) {
            mx = fmax(mx, fabs(ref[i]));
            md = fmax(md, fabs(ref[i] - lg[i]));
        }
        worst = fmax(worst, md / mx);
    }
    free(ref);
out:
    lm_ctx_free(c);
    lm_model_free(m);
    em_backend_free(be);
    return worst;
}

int main(void) {
    char err[EM_ERR_LEN];
    gguf_ctx *vocab = gguf_open("../shared/vocab/ggml-vocab-gpt-2.gguf", err);
    CHECK(vocab != NULL, "vocab: %s", err);
    if (!vocab) return CHECK_DONE();
    ref_model r = {0};
    r.nv = (int)gguf_find_key(vocab, "tokenizer.ggml.tokens") >= 0 ? 50257 : 0;
    uint64_t n_tok = 0;
    enum gguf_vtype et;
    const void *d;
    gguf_get_arr(vocab, "tokenizer.ggml.tokens", &et, &n_tok, &d, err);
    r.nv = (int)n_tok;
    const float sd = 0.15f;
    r.embd = randm((int64_t)r.nv * DIM, 1.0f, 0);
    r.out = randm((int64_t)r.nv * DIM, sd, 0);
    r.onorm = randm(DIM, 0.1f, 1);
    for (int l = 0; l < NL; l++) {
        r.an[l] = randm(DIM, 0.1f, 1); r.fn[l] = randm(DIM, 0.1f, 1);
        r.wq[l] = randm(DIM * DIM, sd, 0); r.wk[l] = randm(NKV * HD * DIM, sd, 0); r.wv[l] = randm(NKV * HD * DIM, sd, 0);
        r.wo[l] = randm(DIM * DIM, sd, 0); r.wg[l] = randm(FF * DIM, sd, 0); r.wu[l] = randm(FF * DIM, sd, 0);
        r.wd[l] = randm(DIM * FF, sd, 0);
    }
    int32_t seq[24];
    for (int i = 0; i < 24; i++) seq[i] = (int32_t)((i * 7919 + 13) % r.nv);

    char path[] = "/tmp/ember-test-decoder-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "temp file");
    close(fd);

    static const struct { enum em_type t; bool tied; double tol_f32kv, tol_f16kv; } cases[] = {
        {EM_TYPE_F32, false, 2e-5, 3e-3},
        {EM_TYPE_F32, true, 2e-5, 3e-3},
        {EM_TYPE_F16, false, 2e-3, 4e-3}, /* activations rounded to f16, as llama.cpp */
        {EM_TYPE_BF16, true, 2e-2, 2e-2},
        {EM_TYPE_Q8_0, false, 2e-2, 2e-2},
        {EM_TYPE_Q4_0, true, 2e-2, 2e-2},
        {EM_TYPE_Q4_1, false, 2e-2, 2e-2}, /* Q8_1 activations */
        {EM_TYPE_Q5_0, true, 2e-2, 2e-2},
        {EM_TYPE_Q5_1, true, 2e-2, 2e-2},
        {EM_TYPE_IQ4_NL, false, 2e-2, 2e-2},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        /* fresh copies of the float weights, since writing rounds them */
        ref_model rc = r;
        #define DUP(p, n) do { float *q_ = malloc((size_t)(n) * sizeof(float)); memcpy(q_, p, (size_t)(n) * sizeof(float)); p = q_; } while (0)
        DUP(rc.embd, (int64_t)r.nv * DIM); DUP(rc.out, (int64_t)r.nv * DIM);
        for (int l = 0; l < NL; l++) {
            DUP(rc.wq[l], DIM * DIM); DUP(rc.wk[l], NKV * HD * DIM); DUP(rc.wv[l], NKV * HD * DIM); DUP(rc.wo[l], DIM * DIM);
            DUP(rc.wg[l], FF * DIM); DUP(rc.wu[l], FF * DIM); DUP(rc.wd[l], DIM * FF);
        }
        const char *tn = em_type_name(cases[ci].t);
        if (write_model(path, vocab, cases[ci].t, cases[ci].tied, &rc, err) != 0) {
            CHECK(0, "%s: write: %s", tn, err);
            continue;
        }
        double e1 = run_case(path, &rc, cases[ci].tied, EM_TYPE_F32, 512, 2, seq, 5, 12);
        CHECK(e1 >= 0 && e1 < cases[ci].tol_f32kv, "%s tied=%d f32 KV: rel err %.2e", tn, cases[ci].tied, e1);
        double e2 = run_case(path, &rc, cases[ci].tied, EM_TYPE_F16, 3, 3, seq, 7, 10);
        CHECK(e2 >= 0 && e2 < cases[ci].tol_f16kv, "%s tied=%d f16 KV, batch 3, 3 threads: rel err %.2e", tn, cases[ci].tied, e2);
        free(rc.embd); free(rc.out);
        for (int l = 0; l < NL; l++) { free(rc.wq[l]); free(rc.wk[l]); free(rc.wv[l]); free(rc.wo[l]); free(rc.wg[l]); free(rc.wu[l]); free(rc.wd[l]); }
    }

    /* errors leave the context as it was */
    write_model(path, vocab, EM_TYPE_F32, false, &r, err);
    em_backend *be = cpu_backend_create(1, err);
    lm_model *m = lm_model_load(path, be, err);
    lm_ctx_params cp = {8, 4, EM_TYPE_F16};
    lm_ctx *c = m ? lm_ctx_create(m, &cp, err) : NULL;
    CHECK(c != NULL, "ctx: %s", err);
    if (c) {
        CHECK(lm_decode(c, seq, 6, err) == EM_OK, "6 of 8");
        CHECK(lm_decode(c, seq, 3, err) == EM_ERR_RANGE && strstr(err, "context"), "full: %s", err);
        CHECK(lm_n_past(c) == 6, "n_past unchanged after a refused call");
        int32_t bad = r.nv + 5;
        CHECK(lm_decode(c, &bad, 1, err) == EM_ERR_ARG, "token out of range: %s", err);
        CHECK(lm_decode(c, seq, 0, err) == EM_ERR_ARG, "no tokens");
        CHECK(lm_n_past(c) == 6, "n_past unchanged");
        lm_ctx_truncate(c, 2);
        CHECK(lm_n_past(c) == 2 && lm_decode(c, seq, 6, err) == EM_OK, "truncate and continue");
    }
    lm_ctx_free(c);
    lm_model_free(m);
    em_backend_free(be);

    /* a model file missing a tensor names it */
    gguf_writer *w = gguf_writer_create(err);
    gguf_writer_copy_kv(w, vocab);
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "llama.embedding_length", DIM);
    gguf_writer_set_u32(w, "llama.block_count", NL);
    gguf_writer_set_u32(w, "llama.feed_forward_length", FF);
    gguf_writer_set_u32(w, "llama.attention.head_count", NH);
    int64_t ne[2] = {DIM, r.nv};
    gguf_writer_add_tensor(w, "token_embd.weight", EM_TYPE_F32, 2, ne, r.embd);
    CHECK(gguf_writer_write(w, path) == EM_OK, "write partial");
    gguf_writer_free(w);
    be = cpu_backend_create(1, err);
    m = lm_model_load(path, be, err);
    CHECK(m == NULL && strstr(err, "output_norm.weight") && strstr(err, "missing"), "missing tensor named: %s", err);
    lm_model_free(m);
    em_backend_free(be);

    unlink(path);
    gguf_close(vocab);
    free(r.embd); free(r.out); free(r.onorm);
    for (int l = 0; l < NL; l++) { free(r.an[l]); free(r.fn[l]); free(r.wq[l]); free(r.wk[l]); free(r.wv[l]); free(r.wo[l]); free(r.wg[l]); free(r.wu[l]); free(r.wd[l]); }
    return CHECK_DONE();
}
