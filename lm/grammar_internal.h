/* grammar_internal.h - the compiled grammar shared by the GBNF parser
 * (gbnf_parse.c) and the matcher (grammar.c). Not part of lm/'s interface.
 *
 * A grammar is a flat array of elements; rule r's alternatives start at
 * rule_start[r], each ends at GR_ALT (another follows) or GR_END (the last).
 * A terminal is one GR_CHARS element naming a character set (a literal
 * "abc" is three of them). Repetitions and groups were turned into rules by
 * the parser, as llama.cpp does (S* -> S' ::= S S' | ; S{m,n} -> m copies and
 * n-m nested optional rules), so the matcher sees only sequences,
 * alternatives and references. */
#ifndef EMBER_LM_GRAMMAR_INTERNAL_H
#define EMBER_LM_GRAMMAR_INTERNAL_H

#include <stdint.h>

#include "grammar.h"

enum { GR_END = 0, GR_ALT = 1, GR_REF = 2, GR_CHARS = 3 };

typedef struct gr_elem {
    uint32_t type; /* GR_* */
    uint32_t arg;  /* GR_REF: the rule; GR_CHARS: the set */
} gr_elem;

/* A character set: code points in any of ranges[off..off+n) (pairs lo, hi,
 * inclusive), negated when neg; any = "." (every code point). */
typedef struct gr_set {
    uint32_t neg, any;
    uint32_t off, n;
} gr_set;

struct lm_grammar {
    gr_elem *el;
    uint32_t n_el;
    uint32_t *rule_start; /* n_rules */
    uint32_t n_rules;
    uint32_t root;
    gr_set *sets;
    uint32_t n_sets;
    uint32_t *ranges;     /* 2 per range */
    uint32_t n_ranges;
};

static inline int gr_is_end(const lm_grammar *g, uint32_t pos) { return g->el[pos].type <= GR_ALT; }

static inline int gr_set_match(const lm_grammar *g, const gr_set *s, uint32_t c) {
    if (s->any) return 1;
    int found = 0;
    for (uint32_t i = 0; i < s->n && !found; i++) found = g->ranges[2 * (s->off + i)] <= c && c <= g->ranges[2 * (s->off + i) + 1];
    return found != (int)s->neg;
}

/* The vocabulary's byte trie (grammar_vocab.c builds it, grammar.c walks
 * it): nodes in preorder, node 0 the empty prefix; a node's tokens are
 * those whose bytes end there. */
typedef struct gv_node {
    int32_t first_child, next_sibling; /* -1: none */
    uint32_t tok_off, tok_n;           /* tokens whose bytes end here: toks[tok_off..+tok_n) */
    uint8_t byte;
} gv_node;

struct lm_grammar_vocab {
    const lm_vocab *v;
    int n_vocab;
    gv_node *nodes;
    uint32_t n_nodes;
    int32_t *toks;
    int32_t *eog;
    int n_eog;
    char **piece;       /* each token's bytes as the grammar reads them (NULL: never allowed) */
    uint16_t *piece_len;
};

#endif
