/* tokenize_spm.c - SentencePiece-style tokenization (tokenizer.ggml.model =
 * "llama"), as llama.cpp's llm_tokenizer_spm_session does it:
 *
 *   1. spaces become "▁" (U+2581); the caller has already put a space in
 *      front of a fragment that starts the text or follows a special token
 *      when add_space_prefix is set;
 *   2. one symbol per UTF-8 character (by its lead byte, as llama.cpp does,
 *      so stray bytes are one-byte symbols);
 *   3. repeatedly merge the adjacent pair whose concatenation is a token with
 *      the highest score (ties: the leftmost);
 *   4. emit each symbol's token; a symbol that is no token (a character the
 *      vocabulary lacks) becomes its bytes as <0xXX> byte tokens.
 *
 * (llama.cpp's resegment also walks back merges, but every merged symbol is a
 * token by construction, so only the byte fallback is reachable.) If the
 * vocabulary lacks a byte token too, Ember emits the unknown token where
 * llama.cpp would throw out of its tokenizer. */
#include "vocab_internal.h"
#include "bigram_heap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sym {
    int32_t prev, next;
    uint32_t off, n;
};

static bool try_bigram(const lm_vocab *v, lm_bigram_heap *h, const struct sym *s, const char *t, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return true;
    uint32_t size = s[l].n + s[r].n;
    int32_t id = lm_vocab_lookup(v, t + s[l].off, size);
    if (id < 0) return true;
    return lm_bigram_push(h, (lm_bigram){l, r, v->score[id], id, s[l].n, s[r].n});
}

static int32_t byte_token(const lm_vocab *v, unsigned char b) {
    char hex[8];
    snprintf(hex, sizeof hex, "<0x%02X>", b);
    int32_t id = lm_vocab_lookup(v, hex, 6);
    if (id < 0) id = lm_vocab_lookup(v, (const char *)&b, 1);
    if (id < 0) id = v->unk;
    return id;
}

ember_status lm_tokenize_spm(const lm_vocab *v, const char *text, size_t len, struct lm_toks *out, char *err) {
    char *t = NULL;
    struct sym *s = NULL;
    lm_bigram_heap h = {0};
    ember_status st = EM_OK;
    /* 1. escape spaces */
    size_t n_sp = 0;
    for (size_t i = 0; i < len; i++) n_sp += text[i] == ' ';
    size_t tn = len + 2 * n_sp;
    t = malloc(tn + 1);
    s = malloc((tn ? tn : 1) * sizeof *s);
    if (!t || !s) goto nomem;
    for (size_t i = 0, o = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(t + o, "\xe2\x96\x81", 3);
            o += 3;
        } else {
            t[o++] = text[i];
        }
    }
    /* 2. symbols */
    int32_t ns = 0;
    for (size_t off = 0; off < tn;) {
        unsigned char b = (unsigned char)t[off];
        size_t k = b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
        if (k > tn - off) k = tn - off;
        s[ns] = (struct sym){ns - 1, off + k == tn ? -1 : ns + 1, (uint32_t)off, (uint32_t)k};
        off += k;
        ns++;
    }
    /* 3. merge by score */
    for (int32_t i = 1; i < ns; i++)
        if (!try_bigram(v, &h, s, t, i - 1, i)) goto nomem;
    while (h.n) {
        lm_bigram b = lm_bigram_pop(&h);
        struct sym *l = &s[b.left], *r = &s[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.left_n + b.right_n) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = b.left;
        if (!try_bigram(v, &h, s, t, l->prev, b.left)) goto nomem;
        if (!try_bigram(v, &h, s, t, b.left, l->next)) goto nomem;
    }
    /* 4. emit */
    for (int32_t i = 0; i != -1 && ns > 0; i = s[i].next) {
        int32_t id = lm_vocab_lookup(v, t + s[i].off, s[i].n);
        if (id >= 0) {
            if (lm_toks_push(out, id)) goto nomem;
            continue;
        }
        for (uint32_t j = 0; j < s[i].n; j++) {
            int32_t b = byte_token(v, (unsigned char)t[s[i].off + j]);
            if (b >= 0 && lm_toks_push(out, b)) goto nomem;
        }
    }
    goto done;
nomem:
    st = em_err(err, EM_ERR_NOMEM, "lm_tokenize: text of %zu bytes: out of memory", len);
done:
    free(t);
    free(s);
    free(h.v);
    return st;
}
