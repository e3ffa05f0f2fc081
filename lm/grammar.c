/* grammar.c - the GBNF matcher and the vocabulary trie (grammar.h).
 *
 * States. A state is a canonical set of stacks (sorted, no duplicates),
 * each stack a list of element positions whose top is a character set, as
 * in llama.cpp; the empty stack means "the grammar may end here". States
 * are interned (hash table over their serialised form), so a state is an
 * int. step(state, code point) is computed by llama.cpp's rules (each stack
 * whose top matches advances past it, then references on top are expanded
 * into their alternatives) and remembered in a transition table: the
 * matcher is a DFA built lazily over the states generation reaches.
 *
 * Masks. A state's allowed tokens are found by one depth-first walk over
 * the vocabulary's byte trie (tokens sorted by their bytes, nodes in
 * preorder): a branch is left as soon as its prefix takes the state to no
 * stack. UTF-8 is decoded byte by byte the way llama.cpp decodes a token
 * (a sequence the token leaves unfinished is allowed when a stack's top can
 * still match some completion of it). The result is remembered per state:
 * a list of ids, or a byte mask when the list would be long. */
#include <stdlib.h>
#include <string.h>

#include "grammar_internal.h"

#define GM_DEAD (-1)
/* Stacks in one state: beyond, the grammar is too ambiguous to match (an
 * error, not a hang). Plan and JSON grammars use well under a hundred; at
 * 20000 a nested-star grammar the fuzzer found took 6 s for five bytes
 * under ASan, at 4096 under 1 s. */
#define GM_MAX_STACKS 4096

/* ---- the matcher ---- */

typedef struct gm_state {
    size_t key_off;   /* into keys: [n_stacks, (len, pos...)...] */
    uint32_t key_len;
    uint32_t hash;
    int32_t mask;     /* index into masks, -1: not computed */
    uint8_t can_end, complete;
    /* What the stacks' tops can match, for pruning the trie walk without a
     * step per byte: ASCII code points, and whether any code point >= 0x80 */
    uint8_t summary, nonascii;
    uint64_t ascii[2];
} gm_state;

typedef struct gm_mask {
    int32_t *ids; /* allowed ids (list form), or NULL */
    uint8_t *bytes; /* n_vocab bytes (mask form), or NULL */
    int n;
} gm_mask;

struct lm_grammar_matcher {
    const lm_grammar *g;
    const lm_grammar_vocab *gv;
    uint32_t *keys;
    size_t n_keys, cap_keys;
    gm_state *states;
    uint32_t n_states, cap_states;
    uint32_t *tab; /* state id + 1, open addressing */
    uint32_t tab_cap;
    uint64_t *tr_key; /* (state << 22 | cp) + 1 */
    int32_t *tr_val;
    uint32_t tr_cap, tr_n;
    gm_mask *masks;
    uint32_t n_masks, cap_masks;
    size_t mask_bytes;
    /* scratch: stacks being built (storage, offsets, lengths) */
    uint32_t *sv;
    size_t n_sv, cap_sv;
    uint32_t *so, *sl, *order;
    uint32_t n_st, cap_st;
    int32_t *tmp_ids;
    /* where the matcher stands */
    int32_t cur, start;
    uint32_t pv;   /* a code point the last token left unfinished: its bits so far */
    int pn;        /* and the bytes it still needs (0: none) */
    int failed;    /* out of memory or too ambiguous inside a step */
    lm_grammar_stats st;
};

static uint32_t hash_words(const uint32_t *w, uint32_t n) {
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < n; i++) {
        h ^= w[i];
        h *= 16777619u;
        h ^= h >> 15;
    }
    return h;
}

static int grow(void **p, uint32_t *cap, uint32_t need, size_t size) {
    if (need <= *cap) return 0;
    uint32_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *n = realloc(*p, (size_t)c * size);
    if (!n) return -1;
    *p = n, *cap = c;
    return 0;
}

static int grow_sz(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    void *n = realloc(*p, c * size);
    if (!n) return -1;
    *p = n, *cap = c;
    return 0;
}

/* Add one stack (copied) to the scratch set. */
static void scratch_add(lm_grammar_matcher *m, const uint32_t *s, uint32_t len) {
    if (m->failed) return;
    if (m->n_st >= GM_MAX_STACKS) { m->failed = 2; return; }
    if (grow_sz((void **)&m->sv, &m->cap_sv, m->n_sv + len, sizeof *m->sv)) { m->failed = 1; return; }
    if (m->n_st == m->cap_st) { /* so, sl and order grow together */
        uint32_t cap = m->cap_st ? m->cap_st * 2 : 64;
        uint32_t *so = realloc(m->so, cap * sizeof *so);
        if (so) m->so = so;
        uint32_t *sl = so ? realloc(m->sl, cap * sizeof *sl) : NULL;
        if (sl) m->sl = sl;
        uint32_t *order = sl ? realloc(m->order, cap * sizeof *order) : NULL;
        if (!order) { m->failed = 1; return; }
        m->order = order, m->cap_st = cap;
    }
    if (len) memcpy(m->sv + m->n_sv, s, len * sizeof *s); /* sv may still be NULL for empty stacks */
    m->so[m->n_st] = (uint32_t)m->n_sv;
    m->sl[m->n_st] = len;
    m->n_sv += len;
    m->n_st++;
}

/* llama.cpp's advance: until every stack has a character set on top (or is
 * empty), replace a reference on top by each of its rule's alternatives. */
static void expand(lm_grammar_matcher *m, const uint32_t *s, uint32_t len) {
    const lm_grammar *g = m->g;
    if (m->failed) return;
    if (len == 0 || g->el[s[len - 1]].type == GR_CHARS) {
        scratch_add(m, s, len);
        return;
    }
    const uint32_t top = s[len - 1], rule = g->el[top].arg;
    uint32_t local[64], *buf = len + 1 <= 64 ? local : malloc((len + 1) * sizeof *buf);
    if (!buf) { m->failed = 1; return; }
    for (uint32_t a = g->rule_start[rule];;) {
        uint32_t n = len - 1;
        memcpy(buf, s, n * sizeof *s);
        if (!gr_is_end(g, top + 1)) buf[n++] = top + 1;
        if (!gr_is_end(g, a)) buf[n++] = a;
        expand(m, buf, n);
        while (!gr_is_end(g, a)) a++;
        if (g->el[a].type == GR_END) break;
        a++;
    }
    if (buf != local) free(buf);
}

/* Scratch stacks i and j in the canonical order (by length, then positions). */
static int stack_cmp(const lm_grammar_matcher *m, uint32_t i, uint32_t j) {
    if (m->sl[i] != m->sl[j]) return m->sl[i] < m->sl[j] ? -1 : 1;
    if (!m->sl[i]) return 0;
    return memcmp(m->sv + m->so[i], m->sv + m->so[j], m->sl[i] * sizeof *m->sv);
}

/* Intern the scratch set as a state (GM_DEAD when it holds no stack). */
static int32_t intern(lm_grammar_matcher *m) {
    if (m->failed) return GM_DEAD;
    if (m->n_st == 0) return GM_DEAD;
    for (uint32_t i = 0; i < m->n_st; i++) m->order[i] = i;
    /* Shell sort (gaps 1, 4, 13, ...): a handful of stacks usually, a
     * few thousand for an ambiguous grammar */
    uint32_t gap = 1;
    while (gap < m->n_st / 3) gap = 3 * gap + 1;
    for (; gap > 0; gap /= 3)
        for (uint32_t i = gap; i < m->n_st; i++) {
            uint32_t x = m->order[i], k = i;
            for (; k >= gap && stack_cmp(m, m->order[k - gap], x) > 0; k -= gap) m->order[k] = m->order[k - gap];
            m->order[k] = x;
        }
    /* serialise, dropping duplicates */
    size_t need = m->n_keys + 1 + m->n_st + m->n_sv;
    if (grow_sz((void **)&m->keys, &m->cap_keys, need, sizeof *m->keys)) { m->failed = 1; return GM_DEAD; }
    const size_t off = m->n_keys;
    uint32_t *k = m->keys + off, n = 1, count = 0, prev = UINT32_MAX;
    int can_end = 0;
    for (uint32_t i = 0; i < m->n_st; i++) {
        uint32_t s = m->order[i];
        if (prev != UINT32_MAX && !stack_cmp(m, prev, s)) continue;
        k[n++] = m->sl[s];
        if (m->sl[s]) memcpy(k + n, m->sv + m->so[s], m->sl[s] * sizeof *k);
        n += m->sl[s];
        can_end |= m->sl[s] == 0;
        count++;
        prev = s;
    }
    k[0] = count;
    const uint32_t h = hash_words(k, n);
    for (uint32_t i = h & (m->tab_cap - 1);; i = (i + 1) & (m->tab_cap - 1)) {
        uint32_t id = m->tab[i];
        if (!id) break;
        const gm_state *s = &m->states[id - 1];
        if (s->hash == h && s->key_len == n && !memcmp(m->keys + s->key_off, k, n * sizeof *k)) return (int32_t)(id - 1);
    }
    /* new */
    if (grow((void **)&m->states, &m->cap_states, m->n_states + 1, sizeof *m->states)) { m->failed = 1; return GM_DEAD; }
    if ((m->n_states + 1) * 2 > m->tab_cap) {
        uint32_t cap = m->tab_cap * 2, *tab = calloc(cap, sizeof *tab);
        if (!tab) { m->failed = 1; return GM_DEAD; }
        for (uint32_t i = 0; i < m->n_states; i++)
            for (uint32_t j = m->states[i].hash & (cap - 1);; j = (j + 1) & (cap - 1))
                if (!tab[j]) { tab[j] = i + 1; break; }
        free(m->tab);
        m->tab = tab, m->tab_cap = cap;
    }
    const uint32_t id = m->n_states++;
    m->states[id] = (gm_state){off, n, h, -1, (uint8_t)can_end, (uint8_t)(can_end && count == 1), 0, 0, {0, 0}};
    for (uint32_t j = h & (m->tab_cap - 1);; j = (j + 1) & (m->tab_cap - 1))
        if (!m->tab[j]) { m->tab[j] = id + 1; break; }
    m->n_keys += n;
    m->st.states++;
    return (int32_t)id;
}

/* The state after code point c from state s (GM_DEAD: no stack survives). */
static int32_t step(lm_grammar_matcher *m, int32_t s, uint32_t c) {
    const uint64_t key = (((uint64_t)(uint32_t)s << 22) | (c & 0x3FFFFF)) + 1;
    uint32_t i = (uint32_t)(key * 0x9E3779B97F4A7C15ull >> 32) & (m->tr_cap - 1);
    for (;; i = (i + 1) & (m->tr_cap - 1)) {
        if (m->tr_key[i] == key) return m->tr_val[i];
        if (!m->tr_key[i]) break;
    }
    const lm_grammar *g = m->g;
    m->n_st = 0, m->n_sv = 0;
    const gm_state *st = &m->states[s];
    const uint32_t *k = m->keys + st->key_off, n_stacks = k[0];
    uint32_t local[64];
    for (uint32_t j = 0, at = 1; j < n_stacks && !m->failed; j++) {
        const uint32_t len = k[at], *stk = k + at + 1;
        at += 1 + len;
        if (!len) continue;
        const uint32_t top = stk[len - 1];
        if (!gr_set_match(g, &g->sets[g->el[top].arg], c)) continue;
        uint32_t *buf = len <= 64 ? local : malloc(len * sizeof *buf), n = len - 1;
        if (!buf) { m->failed = 1; break; }
        memcpy(buf, stk, n * sizeof *buf);
        if (!gr_is_end(g, top + 1)) buf[n++] = top + 1;
        expand(m, buf, n);
        if (buf != local) free(buf);
    }
    const int32_t next = intern(m);
    if (m->failed) return GM_DEAD;
    /* remember (the table grows at half full) */
    if ((m->tr_n + 1) * 2 > m->tr_cap) {
        uint32_t cap = m->tr_cap * 2;
        uint64_t *tk = calloc(cap, sizeof *tk);
        int32_t *tv = malloc(cap * sizeof *tv);
        if (!tk || !tv) {
            free(tk), free(tv);
            return next; /* not remembered: computed again next time */
        }
        for (uint32_t a = 0; a < m->tr_cap; a++) {
            if (!m->tr_key[a]) continue;
            uint32_t b = (uint32_t)(m->tr_key[a] * 0x9E3779B97F4A7C15ull >> 32) & (cap - 1);
            while (tk[b]) b = (b + 1) & (cap - 1);
            tk[b] = m->tr_key[a], tv[b] = m->tr_val[a];
        }
        free(m->tr_key), free(m->tr_val);
        m->tr_key = tk, m->tr_val = tv, m->tr_cap = cap;
        i = (uint32_t)(key * 0x9E3779B97F4A7C15ull >> 32) & (cap - 1);
        while (m->tr_key[i]) i = (i + 1) & (cap - 1);
    }
    m->tr_key[i] = key, m->tr_val[i] = next;
    m->tr_n++;
    return next;
}

/* Could some completion of the unfinished code point (bits v, n more
 * bytes) match a stack's top in state s? llama.cpp's rule, stack by stack. */
static int partial_ok(const lm_grammar_matcher *m, int32_t s, uint32_t v, int n) {
    if (n < 0 || (n == 1 && v < 2)) return 0; /* invalid, or an overlong 7-bit character */
    uint32_t lo = v << (n * 6), hi = lo | ((1u << (n * 6)) - 1);
    if (lo == 0) lo = n == 2 ? 1u << 11 : n == 3 ? 1u << 16 : lo;
    const lm_grammar *g = m->g;
    const uint32_t *k = m->keys + m->states[s].key_off;
    for (uint32_t j = 0, at = 1; j < k[0]; j++) {
        const uint32_t len = k[at];
        if (len) {
            const gr_set *set = &g->sets[g->el[k[at + len]].arg];
            int r = -1;
            if (set->any) r = 1;
            for (uint32_t q = 0; r < 0 && q < set->n; q++)
                if (g->ranges[2 * (set->off + q)] <= hi && lo <= g->ranges[2 * (set->off + q) + 1]) r = !set->neg;
            if (r < 0) r = (int)set->neg;
            if (r) return 1;
        }
        at += 1 + len;
    }
    return 0;
}

static void init_start(lm_grammar_matcher *m) {
    const lm_grammar *g = m->g;
    m->n_st = 0, m->n_sv = 0;
    for (uint32_t a = g->rule_start[g->root];;) {
        uint32_t s = a;
        expand(m, &s, gr_is_end(g, a) ? 0 : 1);
        while (!gr_is_end(g, a)) a++;
        if (g->el[a].type == GR_END) break;
        a++;
    }
    m->start = intern(m);
}

lm_grammar_matcher *lm_grammar_matcher_create(const lm_grammar *g, const lm_grammar_vocab *gv, char *err) {
    lm_grammar_matcher *m = calloc(1, sizeof *m);
    if (!m) goto nomem;
    m->g = g, m->gv = gv;
    m->tab_cap = 256;
    m->tr_cap = 1024;
    m->tab = calloc(m->tab_cap, sizeof *m->tab);
    m->tr_key = calloc(m->tr_cap, sizeof *m->tr_key);
    m->tr_val = malloc(m->tr_cap * sizeof *m->tr_val);
    if (gv && !(m->tmp_ids = malloc((size_t)gv->n_vocab * sizeof *m->tmp_ids))) goto nomem;
    if (!m->tab || !m->tr_key || !m->tr_val) goto nomem;
    init_start(m);
    if (m->failed == 2) {
        em_err(err, EM_ERR_UNSUPPORTED, "grammar: its start expands to more than %d stacks (too ambiguous)", GM_MAX_STACKS);
        lm_grammar_matcher_free(m);
        return NULL;
    }
    if (m->failed || m->start == GM_DEAD) goto nomem;
    m->cur = m->start;
    return m;
nomem:
    lm_grammar_matcher_free(m);
    em_err(err, EM_ERR_NOMEM, "grammar: out of memory for the matcher");
    return NULL;
}

static void drop_masks(lm_grammar_matcher *m) {
    for (uint32_t i = 0; i < m->n_masks; i++) {
        free(m->masks[i].ids);
        free(m->masks[i].bytes);
    }
    m->n_masks = 0;
    m->mask_bytes = 0;
    for (uint32_t i = 0; i < m->n_states; i++) m->states[i].mask = -1;
}

void lm_grammar_matcher_free(lm_grammar_matcher *m) {
    if (!m) return;
    drop_masks(m);
    free(m->masks);
    free(m->keys);
    free(m->states);
    free(m->tab);
    free(m->tr_key);
    free(m->tr_val);
    free(m->sv);
    free(m->so);
    free(m->sl);
    free(m->order);
    free(m->tmp_ids);
    free(m);
}

void lm_grammar_matcher_reset(lm_grammar_matcher *m) {
    m->cur = m->start;
    m->pv = 0, m->pn = 0;
}

bool lm_grammar_matcher_can_end(const lm_grammar_matcher *m) { return m->pn == 0 && m->states[m->cur].can_end; }
bool lm_grammar_matcher_complete(const lm_grammar_matcher *m) { return m->pn == 0 && m->states[m->cur].complete; }

/* The trie walk: tokens whose bytes take state s (with an unfinished code
 * point v/n, checked as a continuation when from_prev) to a live state. */
typedef struct walk_ctx {
    lm_grammar_matcher *m;
    int32_t *out;
    int n_out;
    uint64_t nodes;
} walk_ctx;

static const int8_t utf8_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 2, 3, 4};

static void summarise(lm_grammar_matcher *m, gm_state *st) {
    const lm_grammar *g = m->g;
    const uint32_t *k = m->keys + st->key_off;
    for (uint32_t j = 0, at = 1; j < k[0]; j++) {
        const uint32_t len = k[at];
        if (len) {
            const gr_set *set = &g->sets[g->el[k[at + len]].arg];
            for (uint32_t c = 0; c < 128; c++)
                if (gr_set_match(g, set, c)) st->ascii[c >> 6] |= 1ull << (c & 63);
            if (set->any || set->neg) st->nonascii = 1;
            for (uint32_t q = 0; q < set->n; q++)
                if (g->ranges[2 * (set->off + q) + 1] >= 0x80) st->nonascii = 1;
        }
        at += 1 + len;
    }
    st->summary = 1;
}

static void walk(walk_ctx *w, int32_t node, int32_t s, uint32_t v, int n, int from_prev) {
    const lm_grammar_vocab *gv = w->m->gv;
    const gv_node *nd = &gv->nodes[node];
    w->nodes++;
    if (nd->tok_n && node != 0 && (n == 0 || partial_ok(w->m, s, v, n)))
        for (uint32_t i = 0; i < nd->tok_n; i++) w->out[w->n_out++] = gv->toks[nd->tok_off + i];
    gm_state *st = &w->m->states[s];
    if (!st->summary) summarise(w->m, st);
    const uint64_t a0 = st->ascii[0], a1 = st->ascii[1];
    const int nonascii = st->nonascii;
    for (int32_t c = nd->first_child; c >= 0; c = gv->nodes[c].next_sibling) {
        const uint8_t b = gv->nodes[c].byte;
        uint32_t v2;
        int n2;
        /* a character no stack can take: the whole branch is refused. A
         * lead byte of C2..DF, E1..EF, F1..FF decodes to >= 0x80 whatever
         * follows (C0, C1, E0, F0 can spell small values, overlong) */
        if (n == 0 && b < 0x80 && !((b < 64 ? a0 >> b : a1 >> (b - 64)) & 1)) continue;
        if (n == 0 && b >= 0xC2 && b != 0xE0 && b != 0xF0 && !nonascii) continue;
        if (n > 0) {
            if (from_prev && (b >> 6) != 2) continue; /* the unfinished character of the last token: invalid */
            v2 = (v << 6) + (b & 0x3F), n2 = n - 1;
            if (n2 > 0) { walk(w, c, s, v2, n2, from_prev); continue; }
        } else {
            const int len = utf8_len[b >> 4];
            if (len == 0) continue; /* a continuation byte first: invalid, every token below too */
            n2 = len - 1;
            v2 = b & ((1u << (7 - n2)) - 1);
            if (n2 > 0) { walk(w, c, s, v2, n2, 0); continue; }
        }
        const int32_t s2 = step(w->m, s, v2);
        if (s2 != GM_DEAD) walk(w, c, s2, 0, 0, 0);
    }
}

ember_status lm_grammar_matcher_mask(lm_grammar_matcher *m, uint8_t *allow, int n_vocab, char *err) {
    const lm_grammar_vocab *gv = m->gv;
    if (!gv || n_vocab != gv->n_vocab)
        return em_err(err, EM_ERR_ARG, "grammar: a mask of %d tokens for a vocabulary of %d", n_vocab, gv ? gv->n_vocab : 0);
    m->st.masks++;
    gm_state *cs = &m->states[m->cur];
    if (m->pn == 0 && cs->mask >= 0) {
        const gm_mask *k = &m->masks[cs->mask];
        m->st.mask_hits++;
        if (k->bytes) {
            memcpy(allow, k->bytes, (size_t)n_vocab);
        } else {
            memset(allow, 0, (size_t)n_vocab);
            for (int i = 0; i < k->n; i++) allow[k->ids[i]] = 1;
        }
        return EM_OK;
    }
    walk_ctx w = {m, m->tmp_ids, 0, 0};
    walk(&w, 0, m->cur, m->pv, m->pn, m->pn > 0);
    m->st.trie_nodes_walked += w.nodes;
    if (m->failed) {
        int ambiguous = m->failed == 2;
        m->failed = 0;
        return em_err(err, ambiguous ? EM_ERR_UNSUPPORTED : EM_ERR_NOMEM,
                      ambiguous ? "grammar: more than %d stacks at once (the grammar is too ambiguous)"
                                : "grammar: out of memory", GM_MAX_STACKS);
    }
    memset(allow, 0, (size_t)n_vocab);
    for (int i = 0; i < w.n_out; i++) allow[w.out[i]] = 1;
    if (lm_grammar_matcher_can_end(m))
        for (int i = 0; i < gv->n_eog; i++) allow[gv->eog[i]] = 1;
    if (m->pn) return EM_OK; /* mid-character: not worth remembering */
    /* remember: a list when short, else the bytes */
    if (m->mask_bytes > LM_GRAMMAR_CACHE_BYTES) drop_masks(m);
    if (grow((void **)&m->masks, &m->cap_masks, m->n_masks + 1, sizeof *m->masks)) return EM_OK;
    gm_mask k = {0};
    const int n_allowed = w.n_out + (lm_grammar_matcher_can_end(m) ? gv->n_eog : 0);
    if (n_allowed > n_vocab / 16) {
        if (!(k.bytes = malloc((size_t)n_vocab))) return EM_OK;
        memcpy(k.bytes, allow, (size_t)n_vocab);
        m->mask_bytes += (size_t)n_vocab;
    } else {
        if (!(k.ids = malloc(((size_t)n_allowed + 1) * sizeof *k.ids))) return EM_OK;
        memcpy(k.ids, w.out, (size_t)w.n_out * sizeof *k.ids);
        k.n = w.n_out;
        if (lm_grammar_matcher_can_end(m))
            for (int i = 0; i < gv->n_eog; i++) k.ids[k.n++] = gv->eog[i];
        m->mask_bytes += (size_t)k.n * sizeof *k.ids;
    }
    m->masks[m->n_masks] = k;
    m->states[m->cur].mask = (int32_t)m->n_masks++;
    return EM_OK;
}

/* Feed bytes as llama.cpp decodes a token's text; on a refusal the state
 * is left before the code point refused. 0 or the byte index refused. */
static long feed(lm_grammar_matcher *m, const char *text, size_t len) {
    int32_t s = m->cur;
    uint32_t v = m->pv;
    int n = m->pn;
    size_t i = 0;
    for (; i < len && n > 0; i++) { /* the last token's unfinished character */
        const uint8_t b = (uint8_t)text[i];
        if ((b >> 6) != 2) return (long)i + 1;
        v = (v << 6) + (b & 0x3F);
        if (--n == 0) {
            int32_t s2 = step(m, s, v);
            if (s2 == GM_DEAD) return (long)i + 1;
            s = s2, m->cur = s;
            m->pv = 0, m->pn = 0;
        }
    }
    for (; i < len; i++) {
        const uint8_t b = (uint8_t)text[i];
        if (n == 0) {
            const int l = utf8_len[b >> 4];
            if (l == 0) return (long)i + 1;
            n = l - 1;
            v = b & ((1u << (7 - n)) - 1);
        } else {
            v = (v << 6) + (b & 0x3F);
            n--;
        }
        if (n == 0) {
            int32_t s2 = step(m, s, v);
            if (s2 == GM_DEAD) return (long)i + 1;
            s = s2;
            m->cur = s;
        }
    }
    m->cur = s;
    m->pv = n ? v : 0, m->pn = n;
    return 0;
}

ember_status lm_grammar_matcher_accept(lm_grammar_matcher *m, int32_t tok, char *err) {
    const lm_grammar_vocab *gv = m->gv;
    if (!gv || tok < 0 || tok >= gv->n_vocab) return em_err(err, EM_ERR_ARG, "grammar: token %d out of range", tok);
    for (int i = 0; i < gv->n_eog; i++)
        if (gv->eog[i] == tok) {
            if (lm_grammar_matcher_can_end(m)) return EM_OK;
            return em_err(err, EM_ERR_ARG, "grammar: end of generation (token %d) before the grammar is complete", tok);
        }
    if (!gv->piece[tok]) return em_err(err, EM_ERR_ARG, "grammar: token %d has no text a grammar can match", tok);
    const int32_t cur = m->cur;
    const uint32_t pv = m->pv;
    const int pn = m->pn;
    if (feed(m, gv->piece[tok], gv->piece_len[tok]) || m->failed) {
        m->cur = cur, m->pv = pv, m->pn = pn, m->failed = 0;
        return em_err(err, EM_ERR_ARG, "grammar: token %d (\"%.*s\") is not allowed here", tok, gv->piece_len[tok],
                      gv->piece[tok]);
    }
    return EM_OK;
}

ember_status lm_grammar_matcher_accept_text(lm_grammar_matcher *m, const char *text, size_t len, char *err) {
    long at = feed(m, text, len);
    if (m->failed) {
        m->failed = 0;
        return em_err(err, EM_ERR_NOMEM, "grammar: out of memory");
    }
    if (at) return em_err(err, EM_ERR_ARG, "grammar: byte %ld of the text is not allowed", at);
    return EM_OK;
}

bool lm_grammar_accepts(const lm_grammar *g, const char *text, size_t len) {
    char err[EM_ERR_LEN];
    lm_grammar_matcher *m = lm_grammar_matcher_create(g, NULL, err);
    if (!m) return false;
    bool ok = lm_grammar_matcher_accept_text(m, text, len, err) == EM_OK && lm_grammar_matcher_can_end(m);
    lm_grammar_matcher_free(m);
    return ok;
}

static ember_status filter_mask(void *u, uint8_t *allow, int n, char *err) {
    return lm_grammar_matcher_mask(u, allow, n, err);
}
static ember_status filter_accept(void *u, int32_t tok, char *err) { return lm_grammar_matcher_accept(u, tok, err); }
static bool filter_complete(void *u) { return lm_grammar_matcher_complete(u); }

lm_token_filter lm_grammar_matcher_filter(lm_grammar_matcher *m) {
    return (lm_token_filter){filter_mask, filter_accept, filter_complete, m};
}

void lm_grammar_matcher_stats(const lm_grammar_matcher *m, lm_grammar_stats *st) {
    *st = m->st;
    st->cache_bytes = m->mask_bytes + m->n_keys * sizeof *m->keys + (size_t)m->tr_cap * (sizeof *m->tr_key + sizeof *m->tr_val);
}

lm_grammar_pos lm_grammar_matcher_tell(const lm_grammar_matcher *m) { return (lm_grammar_pos){m->cur, m->pv, m->pn}; }
void lm_grammar_matcher_seek(lm_grammar_matcher *m, lm_grammar_pos pos) { m->cur = pos.state, m->pv = pos.pv, m->pn = pos.pn; }
bool lm_grammar_matcher_viable(const lm_grammar_matcher *m) { return m->pn == 0 || partial_ok(m, m->cur, m->pv, m->pn); }
