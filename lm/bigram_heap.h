/* bigram_heap.h - the merge queue both tokenizers use (internal).
 *
 * A candidate merge of two adjacent symbols of a word; the queue pops the best
 * first: highest priority, then the leftmost pair, as llama.cpp breaks ties.
 * BPE's priority is -rank (exact as a float for ranks below 2^24), SPM's the
 * merged token's score. Queues are small (one word), so a binary heap in a
 * growable array, reused across words, is all it needs. */
#ifndef EMBER_LM_BIGRAM_HEAP_H
#define EMBER_LM_BIGRAM_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct lm_bigram {
    int32_t left, right;      /* symbol indices */
    float priority;
    int32_t result;           /* the merged token, where the caller knows it (BPE) */
    uint32_t left_n, right_n; /* symbol lengths when queued: a mismatch at pop means stale */
} lm_bigram;

typedef struct lm_bigram_heap {
    lm_bigram *v;
    size_t n, cap;
} lm_bigram_heap;

static inline bool lm_bigram_before(const lm_bigram *a, const lm_bigram *b) {
    return a->priority > b->priority || (a->priority == b->priority && a->left < b->left);
}

/* false when growing the array failed (the queue is unchanged) */
static inline bool lm_bigram_push(lm_bigram_heap *h, lm_bigram b) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        lm_bigram *nv = realloc(h->v, cap * sizeof *nv);
        if (!nv) return false;
        h->v = nv;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!lm_bigram_before(&b, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = b;
    return true;
}

/* h->n must be > 0 */
static inline lm_bigram lm_bigram_pop(lm_bigram_heap *h) {
    lm_bigram top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && lm_bigram_before(&h->v[c + 1], &h->v[c])) c++;
        if (!lm_bigram_before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

#endif
