/* bench_grammar.c - what a grammar costs per token: the time of each token
 * mask along random walks (every step takes a uniformly random allowed
 * token, as a sampler at a high temperature does), its median, p99, mean
 * and max, the share answered from the cache, the time to compile a
 * grammar (parse + matcher) and to build the vocabulary's trie (once per
 * vocabulary), for Ember's plan grammar over the simulated robot's skills,
 * and llama.cpp's json.gbnf and arithmetic.gbnf.
 *
 *   bench_grammar [VOCAB.gguf] [WALKS]   (default ../shared/vocab/ggml-vocab-gpt-2.gguf, 300)
 *
 * Published anchors for a mask over a ~50k vocabulary (MaskBench, JSON
 * schemas): llama.cpp's GBNF about 14.5 ms average; llguidance about 47 us
 * average; XGrammar about 8 us median, up to ms at p99. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/plan_text.h"
#include "agent/skills.h"
#include "core/gguf.h"
#include "lm/grammar.h"
#include "lm/vocab.h"
#include "sim/sim.h"

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[n] = 0, *len = (size_t)n;
    return b;
}

static void run(const char *name, const char *text, const lm_grammar_vocab *gv, int n_vocab, const lm_vocab *v,
                int walks, int max_steps) {
    char err[EM_ERR_LEN];
    double t0 = now_us();
    lm_grammar *g = lm_grammar_parse(text, strlen(text), err);
    lm_grammar_matcher *m = g ? lm_grammar_matcher_create(g, gv, err) : NULL;
    const double compile_us = now_us() - t0;
    if (!m) {
        fprintf(stderr, "%s: %s\n", name, err);
        lm_grammar_free(g);
        return;
    }
    uint8_t *allow = malloc((size_t)n_vocab);
    double *t = malloc(sizeof *t * (size_t)walks * (size_t)max_steps);
    size_t n = 0;
    uint64_t seed = 88172645463325252ull;
    double first_walk_total = 0;
    for (int w = 0; w < walks; w++) {
        lm_grammar_matcher_reset(m);
        for (int s = 0; s < max_steps && !lm_grammar_matcher_complete(m); s++) {
            double a = now_us();
            if (lm_grammar_matcher_mask(m, allow, n_vocab, err)) break;
            double dt = now_us() - a;
            t[n++] = dt;
            if (w == 0) first_walk_total += dt;
            int k = 0;
            for (int i = 0; i < n_vocab; i++) k += allow[i];
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            int pick = (int)(seed % (uint64_t)k), tok = -1;
            for (int i = 0; i < n_vocab && tok < 0; i++)
                if (allow[i] && pick-- == 0) tok = i;
            if (lm_vocab_is_eog(v, tok) || lm_grammar_matcher_accept(m, tok, err)) break;
        }
    }
    lm_grammar_stats st;
    lm_grammar_matcher_stats(m, &st);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += t[i];
    qsort(t, n, sizeof *t, cmp_d);
    printf("| %-10s | %6.0f | %7zu | %7.1f | %7.1f | %7.1f | %8.0f | %5.1f%% | %6llu | %6.1f |\n", name, compile_us, n,
           n ? t[n / 2] : 0, n ? t[(size_t)(n * 0.99)] : 0, n ? sum / n : 0, n ? t[n - 1] : 0,
           st.masks ? 100.0 * st.mask_hits / st.masks : 0, (unsigned long long)st.states, st.cache_bytes / 1048576.0);
    free(allow);
    free(t);
    lm_grammar_matcher_free(m);
    lm_grammar_free(g);
}

int main(int argc, char **argv) {
    const char *vpath = argc > 1 ? argv[1] : "../shared/vocab/ggml-vocab-gpt-2.gguf";
    const int walks = argc > 2 ? atoi(argv[2]) : 300;
    char err[EM_ERR_LEN];
    gguf_ctx *gg = gguf_open(vpath, err);
    lm_vocab *v = gg ? lm_vocab_load(gg, err) : NULL;
    if (!v) return fprintf(stderr, "bench_grammar: %s: %s\n", vpath, err), 1;
    const int n_vocab = lm_vocab_n_tokens(v);
    double t0 = now_us();
    lm_grammar_vocab *gv = lm_grammar_vocab_create(v, err);
    const double trie_ms = (now_us() - t0) / 1e3;
    if (!gv) return fprintf(stderr, "bench_grammar: %s\n", err), 1;
    printf("vocabulary %s: %d tokens; trie built in %.1f ms (%.1f MiB), once per vocabulary\n\n", vpath, n_vocab, trie_ms,
           lm_grammar_vocab_bytes(gv) / 1048576.0);
    printf("| grammar    | compile us | masks | median us | p99 us | mean us | max us | cached | states | cache MiB |\n");
    printf("|------------|--------|---------|---------|---------|---------|----------|--------|--------|--------|\n");

    /* the plan grammar over the sim's skills (scene seed 1), 8 steps at most */
    sim_config sc;
    sim_config_defaults(&sc);
    sc.seed = 1;
    sim_world *w = sim_create(&sc, err);
    rio_hello h = {0};
    agent_skills *reg = NULL;
    char *plan = NULL;
    if (!w || sim_describe(w, &h, err) || !(reg = agent_skills_from_hello(&h, -1, err)) ||
        agent_plan_grammar(reg, 8, &plan, err))
        return fprintf(stderr, "bench_grammar: the plan grammar: %s\n", err), 1;
    run("plan", plan, gv, n_vocab, v, walks, 400);
    const char *dir = "bench/peer/node_modules/node-llama-cpp/llama/grammars";
    const char *names[] = {"json", "arithmetic"};
    for (int i = 0; i < 2; i++) {
        char path[512];
        size_t len;
        snprintf(path, sizeof path, "%s/%s.gbnf", dir, names[i]);
        char *text = slurp(path, &len);
        if (!text) {
            printf("| %-10s | (not found: %s; run scripts/setup.sh) |\n", names[i], path);
            continue;
        }
        run(names[i], text, gv, n_vocab, v, walks / 3 + 1, 200);
        free(text);
    }
    printf("\ncompile: parse + matcher; masks: one per generated token along random walks; cached: masks answered from\n"
           "the per-state cache (the rest walk the trie once). Anchors (MaskBench, ~50k vocab): llama.cpp GBNF ~14.5 ms\n"
           "mean; llguidance ~47 us mean; XGrammar ~8 us median, up to ms at p99.\n");
    free(plan);
    agent_skills_free(reg);
    rio_msg hm = {.type = RIO_MSG_HELLO};
    hm.u.hello = h;
    rio_msg_clear(&hm);
    sim_free(w);
    lm_grammar_vocab_free(gv);
    lm_vocab_free(v);
    gguf_close(gg);
    return 0;
}
