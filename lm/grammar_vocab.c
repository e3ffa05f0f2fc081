/* grammar_vocab.c - the vocabulary's byte trie for grammar masks
 * (grammar.h, grammar_internal.h): every token's text as llama.cpp's grammar
 * sees it (specials rendered, cut at a NUL; empty ones and end-of-generation
 * tokens apart), sorted by bytes, and the trie built from the sorted list in
 * one pass (each token shares its longest common prefix with the one
 * before it). Built once per vocabulary. */
#include <stdlib.h>
#include <string.h>

#include "grammar_internal.h"

typedef struct piece_ref {
    const char *s;
    uint16_t n;
    int32_t tok;
} piece_ref;

static int cmp_piece(const void *a, const void *b) {
    const piece_ref *x = a, *y = b;
    int n = x->n < y->n ? x->n : y->n, c = memcmp(x->s, y->s, (size_t)n);
    return c ? c : x->n != y->n ? (int)x->n - (int)y->n : x->tok - y->tok;
}

lm_grammar_vocab *lm_grammar_vocab_create(const lm_vocab *v, char *err) {
    lm_grammar_vocab *gv = calloc(1, sizeof *gv);
    const int n = lm_vocab_n_tokens(v);
    piece_ref *refs = NULL;
    int32_t *last_child = NULL;
    if (!gv) goto nomem;
    gv->v = v;
    gv->n_vocab = n;
    gv->piece = calloc((size_t)n, sizeof *gv->piece);
    gv->piece_len = calloc((size_t)n, sizeof *gv->piece_len);
    gv->eog = malloc((size_t)n * sizeof *gv->eog);
    refs = malloc((size_t)n * sizeof *refs);
    if (!gv->piece || !gv->piece_len || !gv->eog || !refs) goto nomem;
    /* each token's text as llama.cpp's grammar sees it: specials rendered,
     * cut at a NUL; end-of-generation tokens apart, empty ones never */
    int n_refs = 0;
    size_t total = 0;
    char buf[1024];
    for (int t = 0; t < n; t++) {
        if (lm_vocab_is_eog(v, t)) {
            gv->eog[gv->n_eog++] = t;
            continue;
        }
        int len = lm_token_to_piece(v, t, true, buf, sizeof buf);
        if (len <= 0 || len > (int)sizeof buf) continue;
        len = (int)strnlen(buf, (size_t)len);
        if (len == 0) continue;
        if (!(gv->piece[t] = malloc((size_t)len))) goto nomem;
        memcpy(gv->piece[t], buf, (size_t)len);
        gv->piece_len[t] = (uint16_t)len;
        refs[n_refs++] = (piece_ref){gv->piece[t], (uint16_t)len, t};
        total += (size_t)len;
    }
    qsort(refs, (size_t)n_refs, sizeof *refs, cmp_piece);
    /* preorder nodes: node 0 is the root (the empty prefix) */
    gv->nodes = malloc((total + 1) * sizeof *gv->nodes);
    gv->toks = malloc(((size_t)n_refs + 1) * sizeof *gv->toks);
    last_child = malloc((total + 1) * sizeof *last_child);
    if (!gv->nodes || !gv->toks || !last_child) goto nomem;
    gv->nodes[0] = (gv_node){-1, -1, 0, 0, 0};
    last_child[0] = -1;
    gv->n_nodes = 1;
    int32_t path[1025];
    path[0] = 0;
    int depth = 0;
    const piece_ref *prev = NULL;
    for (int i = 0; i < n_refs; i++) {
        const piece_ref *r = &refs[i];
        int lcp = 0;
        if (prev)
            while (lcp < r->n && lcp < prev->n && r->s[lcp] == prev->s[lcp]) lcp++;
        depth = lcp;
        for (int d = lcp; d < r->n; d++) {
            int32_t id = (int32_t)gv->n_nodes++, parent = path[d];
            gv->nodes[id] = (gv_node){-1, -1, 0, 0, (uint8_t)r->s[d]};
            last_child[id] = -1;
            if (last_child[parent] < 0) gv->nodes[parent].first_child = id;
            else gv->nodes[last_child[parent]].next_sibling = id;
            last_child[parent] = id;
            path[d + 1] = id;
        }
        depth = r->n;
        gv_node *nd = &gv->nodes[path[depth]];
        if (!nd->tok_n) nd->tok_off = (uint32_t)i;
        nd->tok_n++;
        gv->toks[i] = r->tok;
        prev = r;
    }
    free(refs);
    free(last_child);
    return gv;
nomem:
    free(refs);
    free(last_child);
    lm_grammar_vocab_free(gv);
    em_err(err, EM_ERR_NOMEM, "grammar: out of memory for the vocabulary's trie");
    return NULL;
}

void lm_grammar_vocab_free(lm_grammar_vocab *gv) {
    if (!gv) return;
    for (int t = 0; gv->piece && t < gv->n_vocab; t++) free(gv->piece[t]);
    free(gv->piece);
    free(gv->piece_len);
    free(gv->nodes);
    free(gv->toks);
    free(gv->eog);
    free(gv);
}

size_t lm_grammar_vocab_bytes(const lm_grammar_vocab *gv) {
    size_t b = sizeof *gv + (size_t)gv->n_nodes * sizeof *gv->nodes + (size_t)gv->n_vocab * (sizeof *gv->toks + sizeof *gv->eog);
    for (int t = 0; t < gv->n_vocab; t++) b += gv->piece_len[t] + sizeof(char *) + sizeof(uint16_t);
    return b;
}

