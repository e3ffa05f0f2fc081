/* test_sampler.c - the sampling chain: greedy, each truncation stage, the
 * repetition penalty, temperature, and seed determinism. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lm/sampler.h"
#include "check.h"

#define NV 1000

static int draw_counts(lm_sampler_params p, const float *logits, int n_draws, int *counts) {
    char err[EM_ERR_LEN];
    lm_sampler *s = lm_sampler_create(&p, NV, err);
    if (!s) return -1;
    memset(counts, 0, NV * sizeof *counts);
    for (int i = 0; i < n_draws; i++) counts[lm_sampler_sample(s, logits)]++;
    lm_sampler_free(s);
    return 0;
}

int main(void) {
    float logits[NV];
    for (int i = 0; i < NV; i++) logits[i] = -(float)i * 0.01f; /* descending: token 0 best */
    logits[500] = 3.0f;                                         /* the clear favourite */
    static int counts[NV];
    char err[EM_ERR_LEN];

    /* greedy ignores every other stage */
    lm_sampler_params p = lm_sampler_defaults(1);
    p.temp = 0;
    lm_sampler *s = lm_sampler_create(&p, NV, err);
    CHECK(s != NULL, "create: %s", err);
    CHECK(lm_sampler_sample(s, logits) == 500, "greedy picks the argmax");
    CHECK(lm_argmax(logits, NV) == 500, "argmax");
    lm_sampler_free(s);

    /* top-k = 3: only the three best can come out */
    p = lm_sampler_defaults(7);
    p.top_k = 3; p.top_p = 1; p.min_p = 0; p.temp = 5.0f;
    CHECK(draw_counts(p, logits, 3000, counts) == 0, "create");
    int outside = 0;
    for (int i = 0; i < NV; i++) if (i != 500 && i != 0 && i != 1) outside += counts[i];
    CHECK(outside == 0, "top-k 3 drew %d tokens outside the top 3", outside);
    CHECK(counts[0] > 0 && counts[1] > 0, "high temperature reaches the 2nd and 3rd (%d, %d)", counts[0], counts[1]);

    /* top-k over ties, the chosen set in every k and logit pattern: the k
     * best by logit, ties going to the lower id (as llama.cpp's sort),
     * whatever the order they come in; the draws then reach each of them */
    {
        float tl[NV];
        int bad = 0, unreached = 0;
        for (int pat = 0; pat < 3; pat++) {
            for (int i = 0; i < NV; i++)
                tl[i] = pat == 0 ? 0.0f                                    /* all tied */
                        : pat == 1 ? (float)((i * 37) % 10)                /* 10 levels, 100 ties each */
                                   : (float)(((NV - i) * 7919) % 13) * 0.5f; /* ties, ids in another order */
            for (int k = 1; k <= 64; k = k * 2 + 1) {
                /* the expected set: rank every token by (logit desc, id asc) */
                static char want[NV];
                for (int i = 0; i < NV; i++) {
                    int better = 0;
                    for (int j = 0; j < NV; j++) better += tl[j] > tl[i] || (tl[j] == tl[i] && j < i);
                    want[i] = better < k;
                }
                p = lm_sampler_defaults(11 + (uint64_t)k);
                p.top_k = k; p.top_p = 1; p.min_p = 0; p.temp = 1e4f; /* near-uniform over the kept */
                CHECK(draw_counts(p, tl, 40 * k, counts) == 0, "create");
                for (int i = 0; i < NV; i++) {
                    bad += counts[i] > 0 && !want[i];
                    unreached += want[i] && counts[i] == 0;
                }
            }
        }
        CHECK(bad == 0, "top-k with ties: %d draws outside the expected set", bad);
        CHECK(unreached == 0, "top-k with ties: %d kept tokens never drawn", unreached);
    }

    /* top-p: with one token holding ~95% after softmax, top_p 0.5 keeps only it */
    float peaked[NV];
    for (int i = 0; i < NV; i++) peaked[i] = 0.0f;
    peaked[42] = 12.0f;
    p = lm_sampler_defaults(3);
    p.top_k = 0; p.top_p = 0.5f; p.min_p = 0; p.temp = 1.0f;
    CHECK(draw_counts(p, peaked, 200, counts) == 0, "create");
    CHECK(counts[42] == 200, "top-p 0.5 keeps only the dominant token (%d/200)", counts[42]);

    /* min-p: min_p 0.5 drops tokens under half the best's probability */
    float two[NV];
    for (int i = 0; i < NV; i++) two[i] = -30.0f;
    two[10] = 1.0f; two[11] = 1.0f - logf(1.5f); /* p11 = p10/1.5: kept */ two[12] = 1.0f - logf(3.0f); /* dropped */
    p = lm_sampler_defaults(5);
    p.top_k = 0; p.top_p = 1; p.min_p = 0.5f; p.temp = 1.0f;
    CHECK(draw_counts(p, two, 4000, counts) == 0, "create");
    CHECK(counts[12] == 0, "min-p dropped token 12 (%d draws)", counts[12]);
    CHECK(counts[10] + counts[11] == 4000, "only 10 and 11 drawn");
    double ratio = (double)counts[10] / (counts[11] ? counts[11] : 1);
    CHECK(ratio > 1.3 && ratio < 1.7, "draws follow the probabilities: 10/11 = %.2f, expected 1.5", ratio);

    /* same seed, same draws; different seed, different draws */
    p = lm_sampler_defaults(1234);
    p.top_k = 0; p.top_p = 1; p.min_p = 0; p.temp = 1.0f;
    float flat[NV];
    for (int i = 0; i < NV; i++) flat[i] = 0.0f;
    lm_sampler *a = lm_sampler_create(&p, NV, err), *b = lm_sampler_create(&p, NV, err);
    p.seed = 99;
    lm_sampler *c = lm_sampler_create(&p, NV, err);
    int same_ab = 1, same_ac = 1;
    for (int i = 0; i < 50; i++) {
        int32_t ta = lm_sampler_sample(a, flat), tb = lm_sampler_sample(b, flat), tc = lm_sampler_sample(c, flat);
        same_ab &= ta == tb;
        same_ac &= ta == tc;
    }
    CHECK(same_ab, "one seed gives one sequence");
    CHECK(!same_ac, "another seed gives another sequence");
    lm_sampler_free(a); lm_sampler_free(b); lm_sampler_free(c);

    /* repetition penalty turns greedy away from a recent token */
    p = lm_sampler_defaults(1);
    p.temp = 0; p.repeat_penalty = 10.0f; p.repeat_last_n = 4;
    float rep[NV];
    for (int i = 0; i < NV; i++) rep[i] = 0.0f;
    rep[7] = 2.0f; rep[8] = 1.0f;
    s = lm_sampler_create(&p, NV, err);
    CHECK(lm_sampler_sample(s, rep) == 7, "before the penalty");
    lm_sampler_accept(s, 7);
    CHECK(lm_sampler_sample(s, rep) == 8, "token 7 penalised");
    for (int i = 0; i < 4; i++) lm_sampler_accept(s, 100 + i); /* 7 falls out of the window */
    CHECK(lm_sampler_sample(s, rep) == 7, "penalty window of 4");
    lm_sampler_free(s);

    /* softmax sums to one */
    float pr[NV];
    lm_softmax(logits, pr, NV);
    double sum = 0;
    for (int i = 0; i < NV; i++) sum += pr[i];
    CHECK(fabs(sum - 1.0) < 1e-5, "softmax sums to %f", sum);

    /* bad parameters are refused with a message */
    p = lm_sampler_defaults(1);
    p.repeat_penalty = 0;
    CHECK(lm_sampler_create(&p, NV, err) == NULL && strstr(err, "repeat_penalty"), "bad penalty refused");
    CHECK(lm_sampler_create(&p, 0, err) == NULL, "empty vocabulary refused");
    return CHECK_DONE();
}
