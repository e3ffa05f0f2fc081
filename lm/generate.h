/* generate.h - the one decode loop: a prompt in, tokens out.
 *
 *   lm_gen *g = lm_gen_create(ctx, vocab, err);
 *   lm_gen_prefill(g, &prompt, &res, err);     evaluate what the cache lacks
 *   lm_gen_generate(g, &params, &res, err);    sample, stream, stop
 *
 * Prefill with prefix reuse: the context remembers what each cached position
 * holds (lm_ctx_key), so a prompt whose beginning is already in the KV cache
 * evaluates only the rest; an agent replanning with the same system text and
 * image pays for the new feedback only. Positions past the shared prefix are
 * dropped from the cache. The rest goes to the decoder in one call
 * (lm_decode_mixed, in n_batch slices): text, image and state rows together,
 * so a prompt that alternates them streams the weights once a slice, not once
 * a run (SmolVLM's 148-position frame prompt of 5 runs, 2 threads on Zen 4:
 * prefill 212-227 -> 155-159 ms on the AVX2 path, 131-143 -> 80-96 ms with
 * AVX-512).
 *
 * Reuse must not change the answer: the same prompt gives the same logits
 * whatever the cache held before. A single-row step (decode) sums in another
 * order than a multi-row call (prefill), on either backend and in llama.cpp,
 * so what was evaluated in different calls can differ in the last bits, and
 * with F16 weights those bits grow to ~1e-3 of a logit. Hence: positions the
 * step loop evaluated one at a time (a previous answer, LM_KEY_ALONE) are
 * not reused but evaluated again with the rest, and at least the last two
 * positions of a prompt of two or more are always evaluated again, so every
 * position of the prompt has gone through the multi-row kernels, as in a
 * fresh evaluation. On the CPU backend, whose multi-row sums do not depend
 * on how rows are grouped into calls, the logits are then bit-identical to a
 * fresh evaluation's. Vulkan's kernels also choose tiles and attention paths
 * by the rows of a call (matrix-vector up to 8 rows, split attention up to
 * 4, flash-attention tiles), so there the last bits can still move (~1e-3
 * of the largest logit with F16 weights); tests/test_generate.c checks both.
 *
 * The step loop samples a token from the last logits, streams its text, and
 * stops at the first of: an end-of-generation token (unless ignore_eog), a stop
 * string in the generated text (the stop string and anything after it is not
 * streamed; text that may be the start of one is held back until it is not),
 * the token budget, a full context, or a callback asking to stop.
 *
 * The token filter is how a constrained decoder (a grammar) steers sampling:
 * before each draw, mask() clears allow[t] for every token that may not come
 * next, and the sampler sees those tokens' logits as -inf; after the draw,
 * accept() is told the token chosen. Nothing is retried: a token the filter
 * forbids is never produced. A filter that allows nothing is an error; one
 * whose complete() says nothing more may follow ends the generation
 * (LM_STOP_GRAMMAR). lm/grammar.h makes such a filter from a GBNF grammar.
 *
 * Ownership: the generator borrows the context and vocabulary (they must
 * outlive it) and owns its scratch buffers; one thread at a time. Steady-state
 * decoding allocates nothing but the growth of the token list. */
#ifndef EMBER_LM_GENERATE_H
#define EMBER_LM_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "prompt.h"
#include "sampler.h"
#include "vocab.h"

typedef struct lm_token_filter {
    /* allow: n_vocab bytes, all 1 on entry; clear the forbidden ones. */
    ember_status (*mask)(void *user, uint8_t *allow, int n_vocab, char *err);
    ember_status (*accept)(void *user, int32_t tok, char *err);
    /* After accept, may be NULL: true when nothing more may follow (a
     * grammar is complete); generation stops with LM_STOP_GRAMMAR. */
    bool (*complete)(void *user);
    void *user;
} lm_token_filter;

enum lm_stop_reason {
    LM_STOP_NONE = 0,
    LM_STOP_EOG,      /* an end-of-generation token was sampled (it is in the tokens, not the text) */
    LM_STOP_STRING,   /* a stop string appeared in the text */
    LM_STOP_BUDGET,   /* max_tokens sampled */
    LM_STOP_CTX_FULL, /* the context has no room for the next token */
    LM_STOP_CALLBACK, /* on_text or on_token returned nonzero */
    LM_STOP_GRAMMAR,  /* the token filter is complete: nothing more may follow */
};
const char *lm_stop_reason_name(enum lm_stop_reason r);

typedef struct lm_gen_params {
    int64_t max_tokens;        /* tokens to sample at most; < 0: until the context is full */
    bool ignore_eog;           /* keep going past end-of-generation tokens */
    const char *const *stop;   /* stop strings (n_stop of them; empty ones are ignored) */
    int n_stop;
    lm_sampler_params sampling;
    lm_token_filter filter;    /* mask == NULL: unconstrained */
    /* Text as it becomes final (whole UTF-8 characters, stop strings cut). */
    int (*on_text)(void *user, const char *text, size_t len);
    /* Each sampled token with the logits it was drawn from (before the
     * filter), before its text; for probability dumps and tests. */
    int (*on_token)(void *user, int32_t tok, const float *logits, int n_vocab);
    void *user;
} lm_gen_params;

/* lm_gen_params with the budget and sampling given, everything else off. */
lm_gen_params lm_gen_defaults(int64_t max_tokens, const lm_sampler_params *sampling);

typedef struct lm_gen_result {
    /* prefill */
    int64_t n_prompt;          /* positions of the prompt */
    int64_t n_reused;          /* of which already in the cache */
    double prefill_ms;
    /* generate */
    enum lm_stop_reason stop;
    int64_t n_tokens;          /* tokens sampled (an EOG included) */
    int64_t n_decoded;         /* single-token forward passes */
    double decode_ms;          /* time in those passes */
    double first_token_ms;     /* from the call to the first token sampled */
} lm_gen_result;

typedef struct lm_gen lm_gen;

lm_gen *lm_gen_create(lm_ctx *ctx, const lm_vocab *v, char *err);
void lm_gen_free(lm_gen *g);

/* Make the cache hold exactly the prompt, evaluating only what it lacks;
 * fills r's prefill fields. The prompt's embedding width must be the
 * model's. Fails with EM_ERR_RANGE when the prompt leaves no room to
 * generate (it must be shorter than the context); on any failure the cache
 * keeps at most the shared prefix. */
ember_status lm_gen_prefill(lm_gen *g, const lm_prompt *p, lm_gen_result *r, char *err);

/* Sample after the prefilled prompt until a stop condition; fills r's
 * generate fields. The sampler's repetition history starts from the text
 * tokens in the cache. */
ember_status lm_gen_generate(lm_gen *g, const lm_gen_params *p, lm_gen_result *r, char *err);

/* The tokens sampled by the last lm_gen_generate (valid until the next). */
const int32_t *lm_gen_tokens(const lm_gen *g, int64_t *n);

#endif
