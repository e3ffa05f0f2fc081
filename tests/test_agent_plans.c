/* test_agent_plans.c - plans valid by construction: a random-weight model,
 * sampled at temperature 1.5 with top-k/top-p/min-p off, under the plan
 * grammar compiled from the simulated robot's skills (agent/plan_text.h +
 * lm/grammar.h): every one of N plans, over many scenes and seeds, must
 * end by the grammar, parse, and pass rio_step_check against the offered
 * skills; no retry exists to hide a bad one.
 *
 *   test_agent_plans N     (N plans; the suite runs 150 everywhere, 2000 in the release pass)
 *
 * Also prints what the constrained decode costs: the mean mask time per
 * token (the filter's share of the step) beside the decode step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/plan_text.h"
#include "agent/skills.h"
#include "core/cpu/cpu_backend.h"
#include "lm/generate.h"
#include "lm/grammar.h"
#include "lm/model.h"
#include "robot_io/rio_msg.h"
#include "sim/sim.h"

static int failures;
#define CHECK(c, ...)                                                  \
    do {                                                               \
        if (!(c)) {                                                    \
            failures++;                                                \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);       \
            fprintf(stderr, __VA_ARGS__);                              \
            fputc('\n', stderr);                                       \
        }                                                              \
    } while (0)

typedef struct text_buf {
    char s[8192];
    size_t n;
} text_buf;

static int on_text(void *u, const char *t, size_t len) {
    text_buf *b = u;
    if (b->n + len >= sizeof b->s) return 1;
    memcpy(b->s + b->n, t, len);
    b->s[b->n += len] = 0;
    return 0;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    const int n_plans = argc > 1 ? atoi(argv[1]) : 150;
    const int max_steps = 8;
    const char *build = getenv("EMBER_BUILD") ? getenv("EMBER_BUILD") : "build";
    char err[EM_ERR_LEN], path[] = "/tmp/ember-test-plans-XXXXXX", cmd[4096];
    int fd = mkstemp(path);
    if (fd < 0) { perror("mkstemp"); return 1; }
    close(fd);
    snprintf(cmd, sizeof cmd,
             "'%s/mkmodel' --vocab ../shared/vocab/ggml-vocab-gpt-2.gguf --layers 1 --dim 64 --heads 4 --ffn 128 "
             "--ctx 2048 --std 0.5 --seed 11 -o '%s' 2>/dev/null", build, path);
    if (system(cmd) != 0) { fprintf(stderr, "FAIL: %s\n", cmd); unlink(path); return 1; }
    em_backend *be = cpu_backend_create(2, err);
    lm_model *m = be ? lm_model_load(path, be, err) : NULL;
    unlink(path);
    if (!m) { fprintf(stderr, "FAIL: %s\n", err); return 1; }
    lm_ctx_params cp = {1024, 64, EM_TYPE_F16};
    lm_ctx *ctx = lm_ctx_create(m, &cp, err);
    lm_gen *gen = ctx ? lm_gen_create(ctx, m->vocab, err) : NULL;
    if (!gen) { fprintf(stderr, "FAIL: %s\n", err); return 1; }
    lm_grammar_vocab *gv = lm_grammar_vocab_create(m->vocab, err);
    if (!gv) { fprintf(stderr, "FAIL: %s\n", err); return 1; }
    lm_prompt p = {0};
    lm_prompt_init(&p, m->hp.n_embd);
    const char *q = "Task: put the red cube in the blue bowl.\nPlan:\n";
    CHECK(lm_prompt_add_text(&p, m->vocab, q, strlen(q), true, err) == EM_OK, "%s", err);

    int plans = 0, steps = 0, grammar_end = 0;
    long tokens = 0;
    double gen_ms = 0;
    int per_skill[RIO_MAX_SKILLS] = {0};
    const int n_scenes = 8;
    for (int scene = 0; scene < n_scenes && !failures; scene++) {
        sim_config sc;
        sim_config_defaults(&sc);
        sc.seed = 100 + (uint64_t)scene;
        sim_world *w = sim_create(&sc, err);
        rio_hello h = {0};
        CHECK(w && sim_describe(w, &h, err) == EM_OK, "scene %d: %s", scene, err);
        agent_skills *reg = agent_skills_from_hello(&h, -1, err);
        char *gbnf = NULL;
        CHECK(reg && agent_plan_grammar(reg, max_steps, &gbnf, err) == EM_OK, "grammar: %s", err);
        lm_grammar *g = gbnf ? lm_grammar_parse(gbnf, strlen(gbnf), err) : NULL;
        CHECK(g, "the plan grammar does not compile: %s\n%s", err, gbnf ? gbnf : "");
        lm_grammar_matcher *gm = g ? lm_grammar_matcher_create(g, gv, err) : NULL;
        CHECK(gm, "matcher: %s", err);
        const int per_scene = n_plans / n_scenes + (scene < n_plans % n_scenes);
        for (int i = 0; gm && i < per_scene && !failures; i++) {
            lm_gen_result r;
            CHECK(lm_gen_prefill(gen, &p, &r, err) == EM_OK, "prefill: %s", err);
            lm_grammar_matcher_reset(gm);
            lm_sampler_params sp = lm_sampler_defaults((uint64_t)scene * 100003u + (uint64_t)i);
            sp.temp = 1.5f, sp.top_k = 0, sp.top_p = 1.0f, sp.min_p = 0.0f;
            lm_gen_params gp = lm_gen_defaults(900, &sp);
            gp.filter = lm_grammar_matcher_filter(gm);
            text_buf tb = {.n = 0};
            gp.on_text = on_text, gp.user = &tb;
            double t0 = now_ms();
            CHECK(lm_gen_generate(gen, &gp, &r, err) == EM_OK, "generate: %s", err);
            gen_ms += now_ms() - t0;
            tokens += r.n_tokens;
            grammar_end += r.stop == LM_STOP_GRAMMAR;
            CHECK(r.stop == LM_STOP_GRAMMAR, "scene %d plan %d: stopped by %s, not the grammar's end:\n%s", scene, i,
                  lm_stop_reason_name(r.stop), tb.s);
            rio_step *st = NULL;
            int n = 0;
            ember_status ps = agent_plan_parse(reg, tb.s, tb.n, max_steps, "s", &st, &n, err);
            CHECK(ps == EM_OK, "scene %d plan %d does not parse: %s\n%s", scene, i, err, tb.s);
            for (int k = 0; ps == EM_OK && k < n; k++) {
                char reason[RIO_NAME_LEN];
                CHECK(rio_step_check(agent_skills_all(reg), agent_skills_count(reg), &st[k], reason, err) == EM_OK,
                      "scene %d plan %d step %d refused: %s (%s)\n%s", scene, i, k, err, reason, tb.s);
                int s = agent_skills_find(reg, st[k].skill);
                if (s >= 0) per_skill[s]++;
            }
            if (ps == EM_OK) plans++, steps += n;
            if (scene == 0 && i < 3) printf("plan %d:\n%s", i, tb.s);
            free(st);
        }
        lm_grammar_matcher_free(gm);
        lm_grammar_free(g);
        free(gbnf);
        agent_skills_free(reg);
        rio_msg hm = {.type = RIO_MSG_HELLO};
        hm.u.hello = h;
        rio_msg_clear(&hm);
        sim_free(w);
    }
    printf("%d of %d plans parsed and passed rio_step_check (%d steps, %ld tokens, %d ended by the grammar); "
           "%.2f ms per token with the grammar\n", plans, n_plans, steps, tokens, grammar_end, tokens ? gen_ms / tokens : 0);
    printf("steps per skill:");
    for (int s = 0; s < RIO_MAX_SKILLS; s++)
        if (per_skill[s]) printf(" %d", per_skill[s]);
    printf("\n");
    CHECK(plans == n_plans, "%d of %d plans valid", plans, n_plans);
    lm_prompt_free(&p);
    lm_grammar_vocab_free(gv);
    lm_gen_free(gen);
    lm_ctx_free(ctx);
    lm_model_free(m);
    em_backend_free(be);
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
