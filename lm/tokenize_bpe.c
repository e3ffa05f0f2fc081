/* tokenize_bpe.c - byte-level BPE (tokenizer.ggml.model = "gpt2"), as
 * llama.cpp's llm_tokenizer_bpe_session does it:
 *
 *   1. the text (invalid UTF-8 bytes already U+FFFD) is split by the
 *      pre-tokenizer's regexes into words;
 *   2. each word's bytes are mapped to GPT-2's printable code points
 *      (space -> "Ġ", newline -> "Ċ", ...);
 *   3. starting from one symbol per code point, the adjacent pair with the
 *      lowest merge rank is merged (ties: the leftmost) until no pair has one;
 *   4. each symbol is emitted as its token; a symbol that is not a token (only
 *      possible with odd vocabularies) falls back to one token per byte.
 *
 * Pairs are looked up by token ids (the merge table is keyed by id pairs), so
 * a symbol carries its id; a merged symbol gets the id of the merged text.
 * Workload: words are short (a few to tens of symbols), so a binary heap per
 * word is plenty; scratch is allocated per call and reused across words. */
#include "vocab_internal.h"
#include "bigram_heap.h"

#include <stdlib.h>
#include <string.h>

struct sym {
    int32_t prev, next; /* neighbours in the word, -1 at the ends */
    uint32_t off, n;    /* bytes of the encoded word; n = 0 once merged away */
    int32_t id;         /* token of these bytes, -1 if none */
};

static bool add_bigram(const lm_vocab *v, lm_bigram_heap *h, const struct sym *s, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return true;
    int32_t result = -1;
    int32_t rank = lm_merge_find(v, s[l].id, s[r].id, &result);
    if (rank < 0) return true;
    return lm_bigram_push(h, (lm_bigram){l, r, -(float)rank, result, s[l].n, s[r].n});
}

struct scratch {
    char *enc;
    size_t enc_cap;
    struct sym *sym;
    size_t sym_cap;
    lm_bigram_heap heap;
};

static bool grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *np = realloc(*p, c * elem);
    if (!np) return false;
    *p = np;
    *cap = c;
    return true;
}

static ember_status bpe_word(const lm_vocab *v, const char *w, size_t wn, struct scratch *sc, struct lm_toks *out) {
    /* 2. byte-level encoding: every byte becomes a 1- or 2-byte code point */
    if (!grow((void **)&sc->enc, &sc->enc_cap, 2 * wn, 1)) return EM_ERR_NOMEM;
    size_t en = 0;
    for (size_t i = 0; i < wn; i++) en += (size_t)lm_utf8_put(lm_byte_to_cpt((uint8_t)w[i]), sc->enc + en);
    const char *e = sc->enc;

    if (v->ignore_merges) {
        int32_t id = lm_vocab_lookup(v, e, en);
        if (id >= 0) return lm_toks_push(out, id);
    }
    /* 3. one symbol per code point, then merge by rank */
    if (!grow((void **)&sc->sym, &sc->sym_cap, en, sizeof *sc->sym)) return EM_ERR_NOMEM;
    struct sym *s = sc->sym;
    int32_t ns = 0;
    for (size_t off = 0; off < en;) {
        size_t k = ((unsigned char)e[off] & 0xE0) == 0xC0 ? 2 : 1; /* encoded text holds only U+0000..U+0143 */
        if (off + k > en) k = en - off;
        s[ns] = (struct sym){ns - 1, off + k == en ? -1 : ns + 1, (uint32_t)off, (uint32_t)k,
                             lm_vocab_lookup(v, e + off, k)};
        off += k;
        ns++;
    }
    sc->heap.n = 0;
    for (int32_t i = 1; i < ns; i++)
        if (!add_bigram(v, &sc->heap, s, i - 1, i)) return EM_ERR_NOMEM;
    while (sc->heap.n) {
        lm_bigram b = lm_bigram_pop(&sc->heap);
        struct sym *l = &s[b.left], *r = &s[b.right];
        if (l->n == 0 || r->n == 0 || l->n != b.left_n || r->n != b.right_n) continue; /* stale */
        l->n += r->n;
        l->id = b.result;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = b.left;
        if (!add_bigram(v, &sc->heap, s, l->prev, b.left)) return EM_ERR_NOMEM;
        if (!add_bigram(v, &sc->heap, s, b.left, l->next)) return EM_ERR_NOMEM;
    }
    /* 4. emit */
    for (int32_t i = 0; i != -1 && ns > 0; i = s[i].next) {
        if (s[i].n == 0) continue;
        if (s[i].id >= 0) {
            if (lm_toks_push(out, s[i].id)) return EM_ERR_NOMEM;
            continue;
        }
        for (uint32_t j = 0; j < s[i].n; j++) {
            int32_t id = lm_vocab_lookup(v, e + s[i].off + j, 1);
            if (id >= 0 && lm_toks_push(out, id)) return EM_ERR_NOMEM;
        }
    }
    return EM_OK;
}

ember_status lm_tokenize_bpe(const lm_vocab *v, const char *text, size_t len, struct lm_toks *out, char *err) {
    char *clean = NULL;
    size_t clean_n = 0;
    struct lm_span *words = NULL;
    size_t n_words = 0;
    struct scratch sc = {0};
    ember_status st = lm_utf8_sanitize(text, len, &clean, &clean_n);
    if (st) {
        st = em_err(err, st, "lm_tokenize: text of %zu bytes: out of memory", len);
        goto done;
    }
    if ((st = lm_pretok_split(v, clean, clean_n, &words, &n_words, err))) goto done;
    for (size_t i = 0; i < n_words; i++) {
        st = bpe_word(v, clean + words[i].off, words[i].len, &sc, out);
        if (st) {
            st = em_err(err, st, "lm_tokenize: text of %zu bytes: out of memory", len);
            goto done;
        }
    }
done:
    free(clean);
    free(words);
    free(sc.enc);
    free(sc.sym);
    free(sc.heap.v);
    return st;
}
