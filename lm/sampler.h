/* sampler.h - choosing the next token from logits.
 *
 * The chain, in llama.cpp's order: repetition penalty over the last
 * repeat_last_n tokens, top-k, top-p (nucleus), min-p, temperature, then a
 * draw from a seeded generator. temp <= 0 means greedy (argmax, ties to the
 * lowest id); the other stages then do not change the choice.
 * Steady state allocates nothing (buffers are sized for the vocabulary at
 * create). One thread at a time. */
#ifndef EMBER_LM_SAMPLER_H
#define EMBER_LM_SAMPLER_H

#include <stdint.h>

#include "../core/status.h"

typedef struct lm_sampler_params {
    float temp;           /* 0.8; <= 0: greedy */
    int top_k;            /* 40; <= 0: off */
    float top_p;          /* 0.95; >= 1: off */
    float min_p;          /* 0.05; <= 0: off */
    float repeat_penalty; /* 1.0: off */
    int repeat_last_n;    /* 64 */
    uint64_t seed;
} lm_sampler_params;

/* llama.cpp's defaults, with the given seed. */
lm_sampler_params lm_sampler_defaults(uint64_t seed);

typedef struct lm_sampler lm_sampler;

lm_sampler *lm_sampler_create(const lm_sampler_params *p, int n_vocab, char *err);
void lm_sampler_free(lm_sampler *s);
/* Pick a token from n_vocab logits (not modified). */
int32_t lm_sampler_sample(lm_sampler *s, const float *logits);
/* Record a token of the text (prompt or generated) for the repetition penalty. */
void lm_sampler_accept(lm_sampler *s, int32_t tok);

/* Index of the largest logit (lowest index on ties). */
int32_t lm_argmax(const float *logits, int n);
/* probs = softmax(logits), in double precision sums. */
void lm_softmax(const float *logits, float *probs, int n);

#endif
