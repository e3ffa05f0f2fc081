/* generate.c - prefill with prefix reuse and the step loop (see generate.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "generate.h"

struct lm_gen {
    lm_ctx *ctx;
    const lm_vocab *vocab;
    int n_vocab;
    float *logits;     /* the filtered copy the sampler reads */
    uint8_t *allow;    /* the filter's mask */
    char *piece;       /* one token's text */
    size_t piece_cap;
    char *hold;        /* text not yet streamed: it may begin a stop string */
    size_t n_hold, hold_cap;
    int32_t *tokens;   /* sampled by the last generate */
    int64_t n_tokens, tokens_cap;
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

const char *lm_stop_reason_name(enum lm_stop_reason r) {
    switch (r) {
    case LM_STOP_NONE: return "none";
    case LM_STOP_EOG: return "eog";
    case LM_STOP_STRING: return "stop-string";
    case LM_STOP_BUDGET: return "budget";
    case LM_STOP_CTX_FULL: return "context-full";
    case LM_STOP_CALLBACK: return "callback";
    case LM_STOP_GRAMMAR: return "grammar";
    }
    return "?";
}

lm_gen_params lm_gen_defaults(int64_t max_tokens, const lm_sampler_params *sampling) {
    lm_gen_params p = {0};
    p.max_tokens = max_tokens;
    p.sampling = sampling ? *sampling : lm_sampler_defaults(0);
    return p;
}

lm_gen *lm_gen_create(lm_ctx *ctx, const lm_vocab *v, char *err) {
    lm_gen *g = calloc(1, sizeof *g);
    if (!g) goto nomem;
    g->ctx = ctx;
    g->vocab = v;
    g->n_vocab = lm_vocab_n_tokens(v);
    g->piece_cap = 3 * (size_t)lm_vocab_max_token_len(v) + 64;
    g->hold_cap = 2 * g->piece_cap;
    g->logits = malloc((size_t)g->n_vocab * sizeof *g->logits);
    g->allow = malloc((size_t)g->n_vocab);
    g->piece = malloc(g->piece_cap);
    g->hold = malloc(g->hold_cap);
    if (!g->logits || !g->allow || !g->piece || !g->hold) goto nomem;
    return g;
nomem:
    lm_gen_free(g);
    em_err(err, EM_ERR_NOMEM, "lm_gen_create: out of memory");
    return NULL;
}

void lm_gen_free(lm_gen *g) {
    if (!g) return;
    free(g->logits);
    free(g->allow);
    free(g->piece);
    free(g->hold);
    free(g->tokens);
    free(g);
}

const int32_t *lm_gen_tokens(const lm_gen *g, int64_t *n) {
    *n = g->n_tokens;
    return g->tokens;
}

/* ---- prefill ---- */

ember_status lm_gen_prefill(lm_gen *g, const lm_prompt *p, lm_gen_result *r, char *err) {
    lm_ctx *c = g->ctx;
    r->n_prompt = p->n;
    r->n_reused = 0;
    r->prefill_ms = 0;
    if (p->n <= 0) return em_err(err, EM_ERR_ARG, "the prompt is empty (no tokens)");
    if (p->n >= lm_n_ctx(c))
        return em_err(err, EM_ERR_RANGE, "the prompt takes %lld positions; the context holds %lld and needs room to answer",
                      (long long)p->n, (long long)lm_n_ctx(c));
    if (p->n_rows > 0 && p->n_embd != lm_ctx_model(c)->hp.n_embd)
        return em_err(err, EM_ERR_ARG, "the prompt's embedding rows have width %d; the model's is %d", p->n_embd,
                      lm_ctx_model(c)->hp.n_embd);
    /* the shared prefix, less the last two positions (see generate.h) */
    int64_t k = 0;
    const int64_t lim = p->n >= 2 ? p->n - 2 : 0;
    while (k < lim && k < lm_n_past(c) && lm_ctx_key(c, k) == lm_prompt_key(p, k)) k++;
    lm_ctx_truncate(c, k);
    r->n_reused = k;
    const double t0 = now_ms();
    /* text, image and state rows in one call (n_batch slices) */
    ember_status st = lm_decode_mixed(c, p->tokens + k, p->embd_row + k, p->embd, p->n_rows, p->n - k, err);
    if (st) {
        lm_ctx_truncate(c, k);
        return st;
    }
    r->prefill_ms = now_ms() - t0;
    return EM_OK;
}

/* ---- streaming text with stop strings ---- */

/* Where the earliest stop string starts in s[0..n), or -1. */
static int64_t find_stop(const lm_gen_params *p, const char *s, size_t n) {
    int64_t best = -1;
    for (int i = 0; i < p->n_stop; i++) {
        const size_t m = p->stop[i] ? strlen(p->stop[i]) : 0;
        if (!m || m > n) continue;
        for (size_t at = 0; at + m <= n && (best < 0 || (int64_t)at < best); at++)
            if (!memcmp(s + at, p->stop[i], m)) { best = (int64_t)at; break; }
    }
    return best;
}

/* Bytes at the end of s[0..n) that could begin a stop string. */
static size_t stop_prefix_tail(const lm_gen_params *p, const char *s, size_t n) {
    size_t keep = 0;
    for (int i = 0; i < p->n_stop; i++) {
        const size_t m = p->stop[i] ? strlen(p->stop[i]) : 0;
        const size_t longest = m == 0 ? 0 : m - 1 < n ? m - 1 : n; /* a whole one is found, not held */
        for (size_t t = longest; t > keep; t--)
            if (!memcmp(s + n - t, p->stop[i], t)) { keep = t; break; }
    }
    return keep;
}

/* Add text to what is held; stream what can no longer begin a stop string.
 * final: nothing more comes, stream all that precedes a stop string.
 * Returns 1 when a stop string was found, 2 when on_text asked to stop,
 * 0 to go on, or a negative status. */
static int stream_text(lm_gen *g, const lm_gen_params *p, const char *s, size_t n, bool final, char *err) {
    if (g->n_hold + n > g->hold_cap) {
        size_t cap = g->hold_cap * 2;
        while (cap < g->n_hold + n) cap *= 2;
        char *h = realloc(g->hold, cap);
        if (!h) return em_err(err, EM_ERR_NOMEM, "generate: out of memory");
        g->hold = h;
        g->hold_cap = cap;
    }
    memcpy(g->hold + g->n_hold, s, n);
    g->n_hold += n;
    int64_t at = find_stop(p, g->hold, g->n_hold);
    size_t out = at >= 0 ? (size_t)at : final ? g->n_hold : g->n_hold - stop_prefix_tail(p, g->hold, g->n_hold);
    int rc = 0;
    if (out && p->on_text && p->on_text(p->user, g->hold, out)) rc = 2;
    memmove(g->hold, g->hold + out, g->n_hold - out);
    g->n_hold -= out;
    return at >= 0 ? 1 : rc;
}

static ember_status push_token(lm_gen *g, int32_t tok, char *err) {
    if (g->n_tokens == g->tokens_cap) {
        int64_t cap = g->tokens_cap ? 2 * g->tokens_cap : 256;
        int32_t *t = realloc(g->tokens, (size_t)cap * sizeof *t);
        if (!t) return em_err(err, EM_ERR_NOMEM, "generate: out of memory");
        g->tokens = t;
        g->tokens_cap = cap;
    }
    g->tokens[g->n_tokens++] = tok;
    return EM_OK;
}

/* The logits the sampler sees: the filter's forbidden tokens at -inf. */
static ember_status filtered_logits(lm_gen *g, const lm_token_filter *f, const float *logits, const float **out,
                                    char *err) {
    *out = logits;
    if (!f->mask) return EM_OK;
    memset(g->allow, 1, (size_t)g->n_vocab);
    ember_status st = f->mask(f->user, g->allow, g->n_vocab, err);
    if (st) return st;
    int n_allowed = 0;
    for (int i = 0; i < g->n_vocab; i++) {
        n_allowed += g->allow[i] != 0;
        g->logits[i] = g->allow[i] ? logits[i] : -INFINITY;
    }
    if (!n_allowed) return em_err(err, EM_ERR_ARG, "generate: the token filter allows no token");
    *out = g->logits;
    return EM_OK;
}

ember_status lm_gen_generate(lm_gen *g, const lm_gen_params *p, lm_gen_result *r, char *err) {
    lm_ctx *c = g->ctx;
    const double t0 = now_ms();
    r->stop = LM_STOP_NONE;
    r->n_tokens = r->n_decoded = 0;
    r->decode_ms = r->first_token_ms = 0;
    g->n_tokens = 0;
    g->n_hold = 0;
    if (lm_n_past(c) == 0) return em_err(err, EM_ERR_ARG, "generate: nothing prefilled");

    ember_status st = EM_OK;
    lm_sampler *smp = lm_sampler_create(&p->sampling, g->n_vocab, err);
    if (!smp) return EM_ERR_NOMEM;
    for (int64_t i = 0; i < lm_n_past(c); i++) {
        const uint64_t key = lm_ctx_key(c, i) & ~LM_KEY_ALONE;
        if (!(key >> 63)) lm_sampler_accept(smp, (int32_t)key);
    }
    lm_detok dt;
    lm_detok_init(&dt, g->vocab, false);
    const int64_t limit = p->max_tokens < 0 ? INT64_MAX : p->max_tokens;
    int rc = 0;
    while (r->n_tokens < limit) {
        const float *logits = lm_logits(c), *seen;
        if ((st = filtered_logits(g, &p->filter, logits, &seen, err))) goto done;
        int32_t tok = lm_sampler_sample(smp, seen);
        if (p->filter.mask && !g->allow[tok]) tok = lm_argmax(seen, g->n_vocab); /* never a forbidden one */
        if (r->n_tokens == 0) r->first_token_ms = now_ms() - t0;
        r->n_tokens++;
        if ((st = push_token(g, tok, err))) goto done;
        if (p->filter.accept && (st = p->filter.accept(p->filter.user, tok, err))) goto done;
        lm_sampler_accept(smp, tok);
        if (p->on_token && p->on_token(p->user, tok, logits, g->n_vocab)) { r->stop = LM_STOP_CALLBACK; break; }
        if (!p->ignore_eog && lm_vocab_is_eog(g->vocab, tok)) { r->stop = LM_STOP_EOG; break; }
        size_t nw = lm_detok_push(&dt, tok, g->piece, g->piece_cap);
        if ((rc = stream_text(g, p, g->piece, nw, false, err)) < 0) { st = rc; goto done; }
        if (rc) { r->stop = rc == 1 ? LM_STOP_STRING : LM_STOP_CALLBACK; break; }
        if (p->filter.complete && p->filter.complete(p->filter.user)) { r->stop = LM_STOP_GRAMMAR; break; }
        if (r->n_tokens >= limit) break;
        if (lm_n_past(c) >= lm_n_ctx(c)) { r->stop = LM_STOP_CTX_FULL; break; }
        const double ts = now_ms();
        if ((st = lm_decode(c, &tok, 1, err))) goto done;
        r->decode_ms += now_ms() - ts;
        r->n_decoded++;
    }
    if (r->stop == LM_STOP_NONE) r->stop = LM_STOP_BUDGET;
    if (r->stop != LM_STOP_STRING && r->stop != LM_STOP_CALLBACK) {
        size_t nw = lm_detok_flush(&dt, g->piece, g->piece_cap);
        if ((rc = stream_text(g, p, g->piece, nw, true, err)) < 0) { st = rc; goto done; }
        if (rc == 1) r->stop = LM_STOP_STRING;
    }
done:
    lm_sampler_free(smp);
    return st;
}
