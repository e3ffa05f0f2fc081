/* test_generate.c - the generation loop (lm/generate.h) on a small
 * random-weight model: the token budget, stop strings (cut from the text,
 * also across tokens, never streamed even in part), end-of-generation, a full
 * context, a callback's stop, the token filter (every token drawn is one it
 * allows, greedy or sampled; accept() sees each; an empty mask is an error),
 * and prefix reuse: only the differing part of a prompt is evaluated, for
 * text and embedding rows, a previous answer (decoded one token at a time)
 * is evaluated again, and the logits are those of a fresh context that
 * evaluates the whole prompt: bit-identical on the CPU, within the rounding
 * of a different split on Vulkan (see same_as_fresh). On the CPU the model
 * is wide enough (256) that the single-row and multi-row kernels sum in
 * different orders, so reusing a decoded position would show.
 *
 *   test_generate [cpu|vulkan] [f16|f32|bf16|q8_0|q4_0]
 *       (default cpu f16; vulkan runs on lavapipe in the tests, validation
 *       layer on) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/backend.h"
#include "core/backend_open.h"
#include "core/vulkan/vk_backend.h"
#include "lm/generate.h"
#include "lm/model.h"

enum { CTX = 96 };

/* ---- what the callbacks record ---- */

typedef struct sink {
    char text[4096];
    size_t n;
    int chunks;
    int stop_after; /* on_text returns 1 after this many chunks (0: never) */
    int32_t toks[256];
    int n_toks;
} sink;

static int on_text(void *u, const char *t, size_t n) {
    sink *s = u;
    if (s->n + n < sizeof s->text) {
        memcpy(s->text + s->n, t, n);
        s->n += n;
        s->text[s->n] = 0;
    }
    s->chunks++;
    return s->stop_after && s->chunks >= s->stop_after;
}

static int on_token(void *u, int32_t tok, const float *logits, int n_vocab) {
    sink *s = u;
    (void)logits, (void)n_vocab;
    if (s->n_toks < 256) s->toks[s->n_toks++] = tok;
    return 0;
}

/* A filter that allows only tokens whose id is a multiple of `mod` (and the
 * end-of-generation token when eog >= 0), and records what it was told. */
typedef struct mod_filter {
    int mod;
    int32_t eog;
    int32_t accepted[256];
    int n_accepted;
    bool allow_none, only_eog;
} mod_filter;

static ember_status mf_mask(void *u, uint8_t *allow, int n_vocab, char *err) {
    mod_filter *f = u;
    (void)err;
    for (int i = 0; i < n_vocab; i++)
        allow[i] = !f->allow_none && (f->only_eog ? i == f->eog : (i % f->mod == 0 || i == f->eog));
    return EM_OK;
}

static ember_status mf_accept(void *u, int32_t tok, char *err) {
    mod_filter *f = u;
    (void)err;
    if (f->n_accepted < 256) f->accepted[f->n_accepted++] = tok;
    return EM_OK;
}

/* ---- fixtures ---- */

static em_backend *open_backend(const char *kind, char *err) {
    if (!strcmp(kind, "vulkan")) setenv("EMBER_VK_VALIDATE", "1", 0);
    em_backend_spec spec = {.kind = kind, .device = -1, .threads = 2};
    return em_backend_open(&spec, NULL, err);
}

static lm_ctx *new_ctx(const lm_model *m, char *err) {
    lm_ctx_params cp = {CTX, 32, EM_TYPE_F16};
    return lm_ctx_create(m, &cp, err);
}

/* Logits after a fresh context evaluates the whole prompt. */
static void fresh_logits(const lm_model *m, const lm_prompt *p, float *out) {
    char err[EM_ERR_LEN];
    lm_ctx *c = new_ctx(m, err);
    lm_gen *g = c ? lm_gen_create(c, m->vocab, err) : NULL;
    lm_gen_result r;
    CHECK(g && lm_gen_prefill(g, p, &r, err) == EM_OK && r.n_reused == 0, "fresh prefill: %s", err);
    if (g) memcpy(out, lm_logits(c), (size_t)m->hp.n_vocab * sizeof *out);
    lm_gen_free(g);
    lm_ctx_free(c);
}

static void add_text(lm_prompt *p, const lm_model *m, const char *s, bool bos) {
    char err[EM_ERR_LEN];
    CHECK(lm_prompt_add_text(p, m->vocab, s, strlen(s), bos, err) == EM_OK, "tokenize: %s", err);
}

/* The CPU backend's sums do not depend on how a prompt is split into calls
 * (of two rows or more), so reuse must be bit-identical there. Vulkan's
 * kernels pick tiles and attention paths by the rows of a call, which moves
 * the last bits (F32 weights: ~4e-7 relative), and F16 rounding of the
 * activations amplifies that to ~3e-4: there the logits must agree to 2e-3
 * of the largest. */
static void same_as_fresh(const char *what, const float *fresh, const float *reused, int n, bool bitwise) {
    double worst = 0, mx = 0;
    int first = -1;
    for (int i = 0; i < n; i++) {
        if (first < 0 && memcmp(&fresh[i], &reused[i], sizeof *fresh)) first = i;
        worst = fmax(worst, fabs((double)fresh[i] - reused[i]));
        mx = fmax(mx, fabs(fresh[i]));
    }
    if (bitwise)
        CHECK(first < 0, "%s: logit %d differs from a fresh evaluation's: %.9g vs %.9g", what, first,
              first >= 0 ? reused[first] : 0.0, first >= 0 ? fresh[first] : 0.0);
    else
        CHECK(worst <= 2e-3 * mx, "%s: logits differ from a fresh evaluation's by %.3g (largest %.3g)", what, worst, mx);
    printf("%s: max |reused - fresh| = %.3g\n", what, worst);
}

int main(int argc, char **argv) {
    const char *kind = argc > 1 ? argv[1] : "cpu", *wtype = argc > 2 ? argv[2] : "f16";
    /* Vulkan is not bit-checked (see same_as_fresh): a narrow model keeps
     * lavapipe's time down */
    const bool vulkan = !strcmp(kind, "vulkan");
    const char *build = getenv("EMBER_BUILD") ? getenv("EMBER_BUILD") : "build";
    char err[EM_ERR_LEN], path[] = "/tmp/ember-test-generate-XXXXXX", cmd[8192];
    int fd = mkstemp(path);
    if (fd < 0) { perror("mkstemp"); return 1; }
    close(fd);
    /* F16 weights: the type whose rounding is most sensitive to summation order */
    snprintf(cmd, sizeof cmd,
             "'%s/mkmodel' --vocab ../shared/vocab/ggml-vocab-gpt-2.gguf --type %s --layers 2 --dim %d --heads 4 "
             "--kv-heads 2 --ffn %d --std 0.08 --seed 7 -o '%s' 2>/dev/null",
             build, wtype, vulkan ? 64 : 256, vulkan ? 128 : 512, path);
    if (system(cmd) != 0) { fprintf(stderr, "FAIL: %s\n", cmd); unlink(path); return 1; }

    em_backend *be = open_backend(kind, err);
    if (!be) { fprintf(stderr, "FAIL: %s backend: %s\n", kind, err); unlink(path); return 1; }
    lm_model *m = lm_model_load(path, be, err);
    if (!m) { fprintf(stderr, "FAIL: load: %s\n", err); em_backend_free(be); unlink(path); return 1; }
    const int nv = m->hp.n_vocab, d = m->hp.n_embd;
    const bool bitwise = !vulkan;
    printf("backend %s, %s weights, vocab %d, dim %d\n", kind, wtype, nv, d);
    lm_ctx *c = new_ctx(m, err);
    lm_gen *g = c ? lm_gen_create(c, m->vocab, err) : NULL;
    if (!g) { fprintf(stderr, "FAIL: setup: %s\n", err); return 1; }
    lm_sampler_params greedy = lm_sampler_defaults(1);
    greedy.temp = 0;
    lm_gen_result r;
    sink s;

    lm_prompt p;
    lm_prompt_init(&p, d);
    add_text(&p, m, "The robot picks up the red block and", true);

    /* ---- budget, and the reference text ---- */
    lm_gen_params gp = lm_gen_defaults(24, &greedy);
    gp.ignore_eog = true;
    gp.on_text = on_text;
    gp.on_token = on_token;
    memset(&s, 0, sizeof s);
    gp.user = &s;
    CHECK(lm_gen_prefill(g, &p, &r, err) == EM_OK, "prefill: %s", err);
    CHECK(r.n_prompt == p.n && r.n_reused == 0, "first prefill evaluates all: %lld of %lld reused", (long long)r.n_reused,
          (long long)r.n_prompt);
    CHECK(lm_gen_generate(g, &gp, &r, err) == EM_OK, "generate: %s", err);
    CHECK(r.stop == LM_STOP_BUDGET && r.n_tokens == 24 && r.n_decoded == 23, "budget: stop %s, %lld tokens, %lld decoded",
          lm_stop_reason_name(r.stop), (long long)r.n_tokens, (long long)r.n_decoded);
    CHECK(lm_n_past(c) == p.n + 23, "cache holds prompt + decoded: %lld", (long long)lm_n_past(c));
    int64_t nt;
    const int32_t *toks = lm_gen_tokens(g, &nt);
    CHECK(nt == 24 && s.n_toks == 24 && !memcmp(toks, s.toks, 24 * sizeof *toks), "token list = on_token's");
    char ref[4096];
    size_t nref = s.n;
    memcpy(ref, s.text, nref + 1);
    printf("reference: %s\n", ref);
    CHECK(nref >= 12, "the reference text is long enough to cut (%zu bytes)", nref);

    /* ---- stop strings: cut at the first occurrence, never streamed in part ---- */
    if (nref >= 12) {
        for (size_t at = 3; at + 4 <= nref; at += 5) {
            char stop[5];
            memcpy(stop, ref + at, 4);
            stop[4] = 0;
            const char *first = strstr(ref, stop);
            const char *stops[2] = {"never-in-this-text", stop};
            gp = lm_gen_defaults(24, &greedy);
            gp.ignore_eog = true;
            gp.stop = stops;
            gp.n_stop = 2;
            gp.on_text = on_text;
            memset(&s, 0, sizeof s);
            gp.user = &s;
            CHECK(lm_gen_prefill(g, &p, &r, err) == EM_OK && lm_gen_generate(g, &gp, &r, err) == EM_OK, "stop run: %s", err);
            CHECK(r.stop == LM_STOP_STRING, "stop '%s': reason %s", stop, lm_stop_reason_name(r.stop));
            CHECK(s.n == (size_t)(first - ref) && !memcmp(s.text, ref, s.n), "stop '%s': text '%s', want the first %zu bytes",
                  stop, s.text, (size_t)(first - ref));
        }
    }

    /* ---- a callback's stop, a full context ---- */
    gp = lm_gen_defaults(24, &greedy);
    gp.ignore_eog = true;
    gp.on_text = on_text;
    memset(&s, 0, sizeof s);
    s.stop_after = 2;
    gp.user = &s;
    CHECK(lm_gen_prefill(g, &p, &r, err) == EM_OK && lm_gen_generate(g, &gp, &r, err) == EM_OK, "callback run: %s", err);
    CHECK(r.stop == LM_STOP_CALLBACK && s.chunks == 2, "callback stop: %s after %d chunks", lm_stop_reason_name(r.stop), s.chunks);
    gp = lm_gen_defaults(-1, &greedy);
    gp.ignore_eog = true;
    CHECK(lm_gen_prefill(g, &p, &r, err) == EM_OK && lm_gen_generate(g, &gp, &r, err) == EM_OK, "ctx run: %s", err);
    CHECK(r.stop == LM_STOP_CTX_FULL && lm_n_past(c) == CTX && r.n_tokens == CTX - p.n + 1,
          "context full: %s, %lld tokens, cache %lld", lm_stop_reason_name(r.stop), (long long)r.n_tokens,
          (long long)lm_n_past(c));

    /* ---- the token filter ---- */
    const int32_t eog = lm_vocab_eos(m->vocab);
    for (int sampled = 0; sampled < 2; sampled++) {
        mod_filter f = {.mod = 7, .eog = -1};
        lm_sampler_params sp = lm_sampler_defaults(42);
        if (!sampled) sp.temp = 0;
        gp = lm_gen_defaults(20, &sp);
        gp.ignore_eog = true;
        gp.filter = (lm_token_filter){mf_mask, mf_accept, NULL, &f};
        gp.on_token = on_token;
        memset(&s, 0, sizeof s);
        gp.user = &s;
        CHECK(lm_gen_prefill(g, &p, &r, err) == EM_OK && lm_gen_generate(g, &gp, &r, err) == EM_OK, "filter run: %s", err);
        toks = lm_gen_tokens(g, &nt);
        bool all_allowed = nt == 20, same = f.n_accepted == nt;
        for (int64_t i = 0; i < nt; i++) {
            all_allowed = all_allowed && toks[i] % 7 == 0;
            same = same && i < f.n_accepted && f.accepted[i] == toks[i];
        }
        CHECK(all_allowed, "%s: every token a multiple of 7", sampled ? "sampled" : "greedy");
        CHECK(same, "%s: accept() saw each token in order", sampled ? "sampled" : "greedy");
    }
    {   /* greedy under a filter = the best allowed logit: check the first step */
        mod_filter f = {.mod = 5, .eog = -1};
        gp = lm_gen_defaults(1, &greedy);
        gp.filter = (lm_token_filter){mf_mask, mf_accept, NULL, &f};
        CHECK(lm_gen_prefill(g, &p, &r, err) == EM_OK, "prefill: %s", err);
        const float *lg = lm_logits(c);
        int32_t best = -1;
        for (int i = 0; i < nv; i += 5)
            if (best < 0 || lg[i] > lg[best]) best = i;
        CHECK(lm_gen_generate(g, &gp, &r, err) == EM_OK, "generate: %s", err);
        toks = lm_gen_tokens(g, &nt);
        CHECK(nt == 1 && toks[0] == best, "greedy filtered: %d, want %d", nt ? toks[0] : -1, best);
    }
    CHECK(eog >= 0 && lm_vocab_is_eog(m->vocab, eog), "the vocabulary has an end-of-generation token");
    {   /* a filter that leaves only end-of-generation: one token, no text */
        mod_filter f = {.mod = 1 << 30, .eog = eog, .only_eog = true};
        gp = lm_gen_defaults(20, &greedy);
        gp.filter = (lm_token_filter){mf_mask, mf_accept, NULL, &f};
        gp.on_text = on_text;
        memset(&s, 0, sizeof s);
        gp.user = &s;
        CHECK(lm_gen_prefill(g, &p, &r, err) == EM_OK && lm_gen_generate(g, &gp, &r, err) == EM_OK, "eog run: %s", err);
        toks = lm_gen_tokens(g, &nt);
        CHECK(r.stop == LM_STOP_EOG && nt == 1 && toks[0] == eog && s.n == 0, "eog: stop %s, %lld tokens, %zu bytes",
              lm_stop_reason_name(r.stop), (long long)nt, s.n);
    }
    {
        mod_filter f = {.mod = 3, .eog = -1, .allow_none = true};
        gp = lm_gen_defaults(5, &greedy);
        gp.filter = (lm_token_filter){mf_mask, mf_accept, NULL, &f};
        CHECK(lm_gen_prefill(g, &p, &r, err) == EM_OK, "prefill: %s", err);
        CHECK(lm_gen_generate(g, &gp, &r, err) != EM_OK && strstr(err, "allows no token"), "empty mask refused: %s", err);
    }

    /* ---- prefix reuse: bit-identical to a fresh evaluation ---- */
    float *fresh = malloc((size_t)nv * sizeof *fresh), *reused = malloc((size_t)nv * sizeof *reused);
    float *rows = malloc((size_t)6 * d * sizeof *rows);
    uint64_t x = 99;
    for (int i = 0; i < 6 * d; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        rows[i] = (float)((x >> 40) & 0xffff) / 65536.0f - 0.5f;
    }
    lm_prompt a, b;
    lm_prompt_init(&a, d);
    lm_prompt_init(&b, d);
    /* a: system text, 6 rows of an "image", a question; b: the same, then more */
    add_text(&a, m, "You control a robot arm. Plan the next step.", true);
    lm_prompt_add_embd(&a, rows, 6, 0, err);
    add_text(&a, m, " What is on the table?", false);
    add_text(&b, m, "You control a robot arm. Plan the next step.", true);
    lm_prompt_add_embd(&b, rows, 6, 0, err);
    add_text(&b, m, " What is on the table? Step 1 failed: the gripper slipped.", false);
    int64_t shared = 0;
    while (shared < a.n && shared < b.n && lm_prompt_key(&a, shared) == lm_prompt_key(&b, shared)) shared++;
    printf("prompt a %lld positions, b %lld, shared %lld\n", (long long)a.n, (long long)b.n, (long long)shared);

    struct { const char *what; lm_prompt *first, *second; int64_t want_reused; } cases[] = {
        {"longer prompt after a shorter one", &a, &b, shared},
        {"the same prompt again", &b, &b, b.n - 2},
        {"a shorter prompt after a longer one", &b, &a, shared < a.n - 2 ? shared : a.n - 2},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        CHECK(lm_gen_prefill(g, cases[k].first, &r, err) == EM_OK, "%s: first: %s", cases[k].what, err);
        gp = lm_gen_defaults(3, &greedy); /* generated tokens in the cache too */
        gp.ignore_eog = true;
        CHECK(lm_gen_generate(g, &gp, &r, err) == EM_OK, "%s: generate: %s", cases[k].what, err);
        CHECK(lm_gen_prefill(g, cases[k].second, &r, err) == EM_OK, "%s: second: %s", cases[k].what, err);
        CHECK(r.n_reused == cases[k].want_reused, "%s: reused %lld, want %lld", cases[k].what, (long long)r.n_reused,
              (long long)cases[k].want_reused);
        CHECK(lm_n_past(c) == cases[k].second->n, "%s: cache holds the prompt", cases[k].what);
        memcpy(reused, lm_logits(c), (size_t)nv * sizeof *reused);
        fresh_logits(m, cases[k].second, fresh);
        same_as_fresh(cases[k].what, fresh, reused, nv, bitwise);
    }
    /* the agent's replan: the last prompt, the answer given, new feedback.
     * The answer's positions were decoded one at a time: they are evaluated
     * again, with the feedback, so the logits are those of a fresh prompt. */
    CHECK(lm_gen_prefill(g, &a, &r, err) == EM_OK, "replan: first: %s", err);
    gp = lm_gen_defaults(4, &greedy);
    gp.ignore_eog = true;
    CHECK(lm_gen_generate(g, &gp, &r, err) == EM_OK, "replan: generate: %s", err);
    {
        lm_prompt re;
        lm_prompt_init(&re, d);
        add_text(&re, m, "You control a robot arm. Plan the next step.", true);
        lm_prompt_add_embd(&re, rows, 6, 0, err);
        add_text(&re, m, " What is on the table?", false);
        toks = lm_gen_tokens(g, &nt);
        CHECK(lm_prompt_add_tokens(&re, toks, nt, err) == EM_OK, "answer: %s", err);
        add_text(&re, m, " Step 1 failed.", false);
        CHECK(lm_gen_prefill(g, &re, &r, err) == EM_OK, "replan: second: %s", err);
        CHECK(r.n_reused == a.n, "replan: reused %lld, want %lld (the answer is evaluated again)", (long long)r.n_reused,
              (long long)a.n);
        memcpy(reused, lm_logits(c), (size_t)nv * sizeof *reused);
        fresh_logits(m, &re, fresh);
        same_as_fresh("replan after an answer", fresh, reused, nv, bitwise);
        lm_prompt_free(&re);
    }
    {   /* one more than a batch (32): no one-row slice, fresh or reused */
        lm_prompt lp;
        lm_prompt_init(&lp, d);
        for (int i = 0; i < 33; i++) {
            const int32_t t = 100 + 37 * i;
            lm_prompt_add_tokens(&lp, &t, 1, err);
        }
        lm_prompt head = lp;
        head.n = 20;
        CHECK(lm_gen_prefill(g, &head, &r, err) == EM_OK && lm_gen_prefill(g, &lp, &r, err) == EM_OK, "33: %s", err);
        CHECK(r.n_reused == 20, "33: reused %lld", (long long)r.n_reused);
        memcpy(reused, lm_logits(c), (size_t)nv * sizeof *reused);
        fresh_logits(m, &lp, fresh);
        same_as_fresh("a batch and one more", fresh, reused, nv, bitwise);
        lm_prompt_free(&lp);
    }

    /* a different image row breaks the prefix there */
    lm_prompt b2;
    lm_prompt_init(&b2, d);
    add_text(&b2, m, "You control a robot arm. Plan the next step.", true);
    const int64_t n_sys = b2.n;
    rows[3 * d + 5] += 0.25f;
    lm_prompt_add_embd(&b2, rows, 6, 0, err);
    add_text(&b2, m, " What is on the table?", false);
    CHECK(lm_gen_prefill(g, &a, &r, err) == EM_OK && lm_gen_prefill(g, &b2, &r, err) == EM_OK, "changed row: %s", err);
    CHECK(r.n_reused == n_sys + 3, "changed row 3: reused %lld, want %lld", (long long)r.n_reused, (long long)(n_sys + 3));
    memcpy(reused, lm_logits(c), (size_t)nv * sizeof *reused);
    fresh_logits(m, &b2, fresh);
    same_as_fresh("changed row", fresh, reused, nv, bitwise);

    /* ---- one call for text and rows: lm_decode_mixed against one call per run ----
     * 12 text positions, 40 rows, 10 text: 62 positions in slices of 32, the
     * cut inside the rows; every run has two positions or more, so on the
     * CPU the logits are bit for bit those of one call per run. */
    {
        float *many = malloc((size_t)40 * d * sizeof *many);
        for (int i = 0; i < 40 * d; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            many[i] = (float)((x >> 40) & 0xffff) / 65536.0f - 0.5f;
        }
        lm_prompt mp;
        lm_prompt_init(&mp, d);
        add_text(&mp, m, "The arm sees the table and the red block on it", true);
        const int64_t n_t0 = mp.n;
        lm_prompt_add_embd(&mp, many, 40, -1, err); /* -1: no placeholder token */
        add_text(&mp, m, " Where is the block now, left or right?", false);
        const int64_t n_t1 = mp.n - n_t0 - 40;
        CHECK(n_t0 >= 2 && n_t0 <= 31 && n_t1 >= 2, "mixed: runs of %lld, 40, %lld positions", (long long)n_t0,
              (long long)n_t1);
        lm_ctx_truncate(c, 0);
        CHECK(lm_decode_mixed(c, mp.tokens, mp.embd_row, mp.embd, mp.n_rows, mp.n, err) == EM_OK, "mixed: %s", err);
        memcpy(reused, lm_logits(c), (size_t)nv * sizeof *reused);
        int bad_key = 0;
        for (int64_t i = 0; i < mp.n; i++) bad_key += lm_ctx_key(c, i) != lm_prompt_key(&mp, i);
        CHECK(lm_n_past(c) == mp.n && bad_key == 0, "mixed: %lld positions cached, %d keys not the prompt's",
              (long long)lm_n_past(c), bad_key);
        lm_ctx_truncate(c, 0);
        CHECK(lm_decode(c, mp.tokens, n_t0, err) == EM_OK && lm_decode_embd(c, mp.embd, 40, err) == EM_OK &&
                  lm_decode(c, mp.tokens + n_t0 + 40, n_t1, err) == EM_OK,
              "per run: %s", err);
        memcpy(fresh, lm_logits(c), (size_t)nv * sizeof *fresh);
        same_as_fresh("one mixed call, one call per run", fresh, reused, nv, bitwise);
        /* rows named out of order: as the same rows copied in that order */
        int64_t *rev = malloc((size_t)mp.n * sizeof *rev);
        float *back = malloc((size_t)40 * d * sizeof *back);
        for (int64_t i = 0; i < mp.n; i++) rev[i] = mp.embd_row[i] < 0 ? -1 : 39 - mp.embd_row[i];
        for (int i = 0; i < 40; i++) memcpy(back + (size_t)i * d, many + (size_t)(39 - i) * d, (size_t)d * sizeof *back);
        lm_ctx_truncate(c, 0);
        CHECK(lm_decode_mixed(c, mp.tokens, rev, many, 40, mp.n, err) == EM_OK, "reversed rows: %s", err);
        memcpy(reused, lm_logits(c), (size_t)nv * sizeof *reused);
        lm_ctx_truncate(c, 0);
        CHECK(lm_decode_mixed(c, mp.tokens, mp.embd_row, back, 40, mp.n, err) == EM_OK, "rows copied: %s", err);
        memcpy(fresh, lm_logits(c), (size_t)nv * sizeof *fresh);
        same_as_fresh("rows named out of order", fresh, reused, nv, true);
        free(rev);
        free(back);
        /* refused before anything is evaluated */
        lm_ctx_truncate(c, 0);
        const int32_t keep = mp.tokens[1];
        mp.tokens[1] = nv;
        CHECK(lm_decode_mixed(c, mp.tokens, mp.embd_row, mp.embd, mp.n_rows, mp.n, err) == EM_ERR_ARG &&
                  strstr(err, "vocabulary") && lm_n_past(c) == 0,
              "mixed: token outside the vocabulary refused: %s", err);
        mp.tokens[1] = keep;
        CHECK(lm_decode_mixed(c, mp.tokens, mp.embd_row, mp.embd, 39, mp.n, err) == EM_ERR_ARG &&
                  strstr(err, "row 39 of 39") && lm_n_past(c) == 0,
              "mixed: a row past the rows given refused: %s", err);
        lm_prompt_free(&mp);
        free(many);
    }

    /* refusals: empty, too long, wrong width */
    lm_prompt e;
    lm_prompt_init(&e, d);
    CHECK(lm_gen_prefill(g, &e, &r, err) == EM_ERR_ARG, "empty prompt refused");
    for (int i = 0; i < CTX; i++) add_text(&e, m, " a", false);
    CHECK(lm_gen_prefill(g, &e, &r, err) == EM_ERR_RANGE && strstr(err, "context"), "long prompt refused: %s", err);
    lm_prompt w;
    lm_prompt_init(&w, d + 1);
    lm_prompt_add_embd(&w, rows, 1, 0, err);
    CHECK(lm_gen_prefill(g, &w, &r, err) == EM_ERR_ARG && strstr(err, "width"), "wrong width refused: %s", err);

    lm_prompt_free(&w);
    lm_prompt_free(&e);
    lm_prompt_free(&b2);
    lm_prompt_free(&a);
    lm_prompt_free(&b);
    lm_prompt_free(&p);
    free(rows);
    free(fresh);
    free(reused);
    lm_gen_free(g);
    lm_ctx_free(c);
    lm_model_free(m);
    if (!strcmp(kind, "vulkan")) {
        vk_backend_stats st;
        vk_backend_get_stats(be, &st);
        CHECK(st.validation_messages == 0, "%llu validation messages", st.validation_messages);
    }
    em_backend_free(be);
    unlink(path);
    return CHECK_DONE();
}
