/* prompt.h - what the decoder reads, whatever produced it: a sequence of
 * positions, each either a token id or a row of input embeddings (an image
 * tile's projected patch, a sensor-state encoding, ...), in order.
 *
 * The prompt owns copies of its embedding rows, so an encoder's cache may
 * drop its own copy once they are added. An embedding position keeps a
 * placeholder token id (the <image> token of a VLM layout, or -1): dumps and
 * tests read it; the decoder sees only the row.
 *
 * Each position also has a key (lm_prompt_key): the token id for a token, a
 * hash of the row's bytes (top bit set) for an embedding. The context
 * remembers the keys of what its KV cache holds, which is how lm_gen_prefill
 * finds the part of a new prompt that is already evaluated; it sets
 * LM_KEY_ALONE in the key of a position it evaluated in a call of one row (a
 * decode step), which no prompt key has.
 *
 * Ownership: the struct is the caller's (zero-initialise it, then
 * lm_prompt_init); lm_prompt_free releases what it holds. */
#ifndef EMBER_LM_PROMPT_H
#define EMBER_LM_PROMPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"
#include "vocab.h"

typedef struct lm_prompt {
    int n_embd;          /* width of an embedding row (the decoder's n_embd) */
    int64_t n;           /* positions */
    int32_t *tokens;     /* n: the token, or the placeholder at an embedding position */
    int64_t *embd_row;   /* n: -1 for a token, else the row index into embd */
    float *embd;         /* n_rows x n_embd, row-major */
    int64_t n_rows;
    int64_t cap, rows_cap;
} lm_prompt;

void lm_prompt_init(lm_prompt *p, int n_embd);
void lm_prompt_free(lm_prompt *p);
/* Forget the positions (keeps the memory for reuse). */
void lm_prompt_clear(lm_prompt *p);

ember_status lm_prompt_add_tokens(lm_prompt *p, const int32_t *tokens, int64_t n, char *err);
/* Tokenize text (special tokens parsed) and append it; add_bos: the
 * vocabulary's BOS first when the vocabulary asks for one. */
ember_status lm_prompt_add_text(lm_prompt *p, const lm_vocab *v, const char *text, size_t len, bool add_bos, char *err);
/* Append n_rows rows of embeddings (copied), one position each, with the
 * given placeholder token id (or -1). rows NULL: zeroed rows, for the caller
 * to fill (at p->embd + row * n_embd) before the prompt is evaluated, so a
 * prompt can be laid out and checked before its encoders run. */
ember_status lm_prompt_add_embd(lm_prompt *p, const float *rows, int64_t n_rows, int32_t placeholder, char *err);

/* Set in a cached position's key when it was evaluated alone (see above). */
#define LM_KEY_ALONE (1ull << 62)

/* The key of position i (see above). */
uint64_t lm_prompt_key(const lm_prompt *p, int64_t i);
/* The key of a token, and of an embedding row of n floats. */
uint64_t lm_key_token(int32_t tok);
uint64_t lm_key_embd(const float *row, int64_t n);

#endif
