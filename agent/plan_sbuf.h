/* plan_sbuf.h - the growing string the plan grammar's writers share
 * (plan_text.c, plan_range.c); private to agent/. An allocation failure is
 * remembered (failed) and every later put is a no-op, so a writer checks
 * once at the end. */
#ifndef EMBER_AGENT_PLAN_SBUF_H
#define EMBER_AGENT_PLAN_SBUF_H

#include <stdlib.h>
#include <string.h>

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int failed;
} sbuf;

static inline void put(sbuf *b, const char *s, size_t len) {
    if (b->failed) return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + len + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static inline void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

#endif
