/* grammar.h - grammar-constrained decoding: llama.cpp's GBNF, compiled,
 * and a matcher that tells the sampler which tokens may come next.
 *
 *   lm_grammar *g = lm_grammar_parse(text, len, err);          -- GBNF, start rule "root"
 *   lm_grammar_vocab *gv = lm_grammar_vocab_create(vocab, err); -- once per vocabulary
 *   lm_grammar_matcher *m = lm_grammar_matcher_create(g, gv, err);
 *   params.filter = lm_grammar_matcher_filter(m);               -- lm/generate.h
 *
 * Syntax and semantics are llama.cpp's (its grammars/README.md): rules
 * `name ::= alternatives`, `|`, sequences, groups, "literals" and [classes]
 * with the escapes \x \u \U \t \r \n \\ \" \[ \] \-, [^negated] classes, `.`
 * (any character), `* + ?` and `{m}` `{m,}` `{m,n}`, `#` comments, newlines
 * inside parentheses and after `|`. Names are [A-Za-z0-9-]. Left recursion,
 * undefined rules and a missing root are errors; every error names the
 * line and column. A grammar is matched against the text's Unicode code
 * points (UTF-8 decoded as llama.cpp decodes it); a token whose bytes end
 * inside a code point is allowed when that prefix can still match; an
 * end-of-generation token only when the grammar can end; a token whose text
 * is empty never.
 *
 * How the masks are fast. The matcher's state is llama.cpp's: a set of
 * stacks of grammar positions (a pushdown automaton). Each distinct
 * (canonical) stack set is interned as a state with an id, the step from a
 * state over a code point is computed once and remembered (a DFA built
 * lazily over the reachable states: finite for a regular grammar such as
 * the plan grammar, growing with the nesting depth for a recursive one),
 * and a state's mask is computed once, by one walk over a byte trie of the
 * whole vocabulary that prunes every branch whose prefix the grammar
 * refuses, and remembered (a list of allowed ids, or a byte mask when it is
 * large). A state seen before costs a memset and a copy. The caches are
 * bounded (LM_GRAMMAR_CACHE_BYTES) and dropped whole when full.
 *
 * Ownership: lm_grammar is immutable once parsed (shareable); an
 * lm_grammar_vocab borrows its vocabulary and is immutable once built (any
 * number of matchers, one per thread, may share it); a matcher borrows both
 * (they must outlive it) and is used by one thread. */
#ifndef EMBER_LM_GRAMMAR_H
#define EMBER_LM_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"
#include "generate.h"
#include "vocab.h"

#define LM_GRAMMAR_CACHE_BYTES (256u << 20)

typedef struct lm_grammar lm_grammar;
typedef struct lm_grammar_vocab lm_grammar_vocab;
typedef struct lm_grammar_matcher lm_grammar_matcher;

/* Parse GBNF text of len bytes (start rule "root"). NULL on error, with
 * "grammar: line L, column C: what" in err. */
lm_grammar *lm_grammar_parse(const char *text, size_t len, char *err);
void lm_grammar_free(lm_grammar *g); /* NULL is a no-op */
/* Rules after expansion (repetitions become rules), for tests and costs. */
int lm_grammar_n_rules(const lm_grammar *g);

/* The vocabulary's byte trie (tokens' texts, specials rendered, as
 * llama.cpp's grammar sees them) and its end-of-generation tokens. */
lm_grammar_vocab *lm_grammar_vocab_create(const lm_vocab *v, char *err);
void lm_grammar_vocab_free(lm_grammar_vocab *gv); /* NULL is a no-op */
size_t lm_grammar_vocab_bytes(const lm_grammar_vocab *gv);

lm_grammar_matcher *lm_grammar_matcher_create(const lm_grammar *g, const lm_grammar_vocab *gv, char *err);
void lm_grammar_matcher_free(lm_grammar_matcher *m); /* NULL is a no-op */
/* Back to the start (nothing accepted); the caches stay. */
void lm_grammar_matcher_reset(lm_grammar_matcher *m);

/* allow: n_vocab bytes; set to 1 exactly for the tokens that may come
 * next, 0 for the rest. EM_ERR_ARG when n_vocab is not the vocabulary's. */
ember_status lm_grammar_matcher_mask(lm_grammar_matcher *m, uint8_t *allow, int n_vocab, char *err);
/* Take a token (EM_ERR_ARG, naming it, when the grammar forbids it). */
ember_status lm_grammar_matcher_accept(lm_grammar_matcher *m, int32_t tok, char *err);
/* Take raw text (tests, forced prefixes): EM_ERR_ARG at the first byte the
 * grammar refuses (the state is then left before that code point). */
ember_status lm_grammar_matcher_accept_text(lm_grammar_matcher *m, const char *text, size_t len, char *err);
/* The grammar may end here (an end-of-generation token is allowed). */
bool lm_grammar_matcher_can_end(const lm_grammar_matcher *m);
/* It may end and nothing else may follow: generation must stop. */
bool lm_grammar_matcher_complete(const lm_grammar_matcher *m);
/* Where the matcher stands, to come back to (tests, speculative checks):
 * valid for the matcher it came from. */
typedef struct lm_grammar_pos {
    int32_t state;
    uint32_t pv;
    int pn;
} lm_grammar_pos;
lm_grammar_pos lm_grammar_matcher_tell(const lm_grammar_matcher *m);
void lm_grammar_matcher_seek(lm_grammar_matcher *m, lm_grammar_pos pos);
/* The text taken so far can still be continued into the language (a
 * character left unfinished by the last bytes can still match). */
bool lm_grammar_matcher_viable(const lm_grammar_matcher *m);

/* The filter for lm_gen_params (mask, accept and complete wired to m). */
lm_token_filter lm_grammar_matcher_filter(lm_grammar_matcher *m);

/* Whether the whole text is in the grammar's language (a fresh walk from
 * the start: accepted, and may end there). */
bool lm_grammar_accepts(const lm_grammar *g, const char *text, size_t len);

typedef struct lm_grammar_stats {
    uint64_t masks, mask_hits;  /* masks asked, of which from the cache */
    uint64_t states;            /* stack sets interned */
    uint64_t trie_nodes_walked; /* by the masks computed */
    size_t cache_bytes;
} lm_grammar_stats;
void lm_grammar_matcher_stats(const lm_grammar_matcher *m, lm_grammar_stats *st);

#endif
