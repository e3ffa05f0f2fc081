/* prompt.c - the modality-neutral prompt (see prompt.h). */
#include <stdlib.h>
#include <string.h>

#include "prompt.h"

void lm_prompt_init(lm_prompt *p, int n_embd) {
    memset(p, 0, sizeof *p);
    p->n_embd = n_embd;
}

void lm_prompt_free(lm_prompt *p) {
    if (!p) return;
    free(p->tokens);
    free(p->embd_row);
    free(p->embd);
    lm_prompt_init(p, p->n_embd);
}

void lm_prompt_clear(lm_prompt *p) {
    p->n = 0;
    p->n_rows = 0;
}

static ember_status reserve(lm_prompt *p, int64_t extra, char *err) {
    if (p->n + extra <= p->cap) return EM_OK;
    int64_t cap = p->cap ? p->cap : 256;
    while (cap < p->n + extra) cap *= 2;
    int32_t *t = realloc(p->tokens, (size_t)cap * sizeof *t);
    if (!t) return em_err(err, EM_ERR_NOMEM, "prompt: %lld positions: out of memory", (long long)cap);
    p->tokens = t;
    int64_t *r = realloc(p->embd_row, (size_t)cap * sizeof *r);
    if (!r) return em_err(err, EM_ERR_NOMEM, "prompt: %lld positions: out of memory", (long long)cap);
    p->embd_row = r;
    p->cap = cap;
    return EM_OK;
}

ember_status lm_prompt_add_tokens(lm_prompt *p, const int32_t *tokens, int64_t n, char *err) {
    if (n < 0) return em_err(err, EM_ERR_ARG, "prompt: %lld tokens", (long long)n);
    ember_status st = reserve(p, n, err);
    if (st) return st;
    for (int64_t i = 0; i < n; i++) {
        p->tokens[p->n + i] = tokens[i];
        p->embd_row[p->n + i] = -1;
    }
    p->n += n;
    return EM_OK;
}

ember_status lm_prompt_add_text(lm_prompt *p, const lm_vocab *v, const char *text, size_t len, bool add_bos, char *err) {
    int64_t n = lm_tokenize(v, text, len, add_bos, true, NULL, 0, err);
    if (n < 0) return (ember_status)n;
    ember_status st = reserve(p, n, err);
    if (st) return st;
    int64_t got = lm_tokenize(v, text, len, add_bos, true, p->tokens + p->n, n, err);
    if (got < 0) return (ember_status)got;
    for (int64_t i = 0; i < got; i++) p->embd_row[p->n + i] = -1;
    p->n += got;
    return EM_OK;
}

ember_status lm_prompt_add_embd(lm_prompt *p, const float *rows, int64_t n_rows, int32_t placeholder, char *err) {
    if (n_rows < 0 || p->n_embd <= 0)
        return em_err(err, EM_ERR_ARG, "prompt: %lld embedding rows of width %d", (long long)n_rows, p->n_embd);
    ember_status st = reserve(p, n_rows, err);
    if (st) return st;
    const size_t d = (size_t)p->n_embd;
    if (p->n_rows + n_rows > p->rows_cap) {
        int64_t cap = p->rows_cap ? p->rows_cap : 64;
        while (cap < p->n_rows + n_rows) cap *= 2;
        float *e = realloc(p->embd, (size_t)cap * d * sizeof *e);
        if (!e) return em_err(err, EM_ERR_NOMEM, "prompt: %lld embedding rows: out of memory", (long long)cap);
        p->embd = e;
        p->rows_cap = cap;
    }
    if (rows) memcpy(p->embd + (size_t)p->n_rows * d, rows, (size_t)n_rows * d * sizeof(float));
    else memset(p->embd + (size_t)p->n_rows * d, 0, (size_t)n_rows * d * sizeof(float));
    for (int64_t i = 0; i < n_rows; i++) {
        p->tokens[p->n + i] = placeholder;
        p->embd_row[p->n + i] = p->n_rows + i;
    }
    p->n += n_rows;
    p->n_rows += n_rows;
    return EM_OK;
}

uint64_t lm_key_token(int32_t tok) { return (uint64_t)(uint32_t)tok; }

/* FNV-1a over the row's bytes, top bit set so no token key equals it, and
 * LM_KEY_ALONE's bit clear. Two different rows share a key with probability
 * about 2^-62: the price of not keeping every row of the cache. */
uint64_t lm_key_embd(const float *row, int64_t n) {
    const unsigned char *b = (const unsigned char *)row;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < (size_t)n * sizeof(float); i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return (h | (1ull << 63)) & ~LM_KEY_ALONE;
}

uint64_t lm_prompt_key(const lm_prompt *p, int64_t i) {
    return p->embd_row[i] < 0 ? lm_key_token(p->tokens[i])
                              : lm_key_embd(p->embd + (size_t)p->embd_row[i] * (size_t)p->n_embd, p->n_embd);
}
