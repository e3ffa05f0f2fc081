/* detok.c - tokens back to text, as llama.cpp's token_to_piece and
 * detokenize do, plus a streaming UTF-8-safe detokenizer.
 *
 * A piece: CONTROL/UNKNOWN tokens are "" unless render_special (then their
 * text); USER_DEFINED tokens are their text; NORMAL tokens are their text with
 * "▁" as space (SPM) or decoded from GPT-2's byte code points (BPE); BYTE
 * tokens <0xXX> are the byte; UNUSED/UNDEFINED tokens are "".
 * Whole-sequence detokenizing (lm_detokenize) also strips one leading space
 * of the first piece when the vocabulary adds a space prefix, and for BPE
 * vocabularies with clean_spaces removes the spaces llama.cpp removes
 * (" ?" " !" " ." " ," " ' " " 's" " 'm" " 're" " 've"). */
#include "vocab_internal.h"

#include <stdlib.h>
#include <string.h>

/* A byte sink that counts what did not fit. */
struct sink {
    char *buf;
    size_t cap, n;
};

static void put(struct sink *s, const char *p, size_t n) {
    if (s->n < s->cap) memcpy(s->buf + s->n, p, n <= s->cap - s->n ? n : s->cap - s->n);
    s->n += n;
}

static const char hexd[] = "0123456789abcdef";

static void piece(const lm_vocab *v, int32_t tok, bool special, int lstrip, struct sink *s) {
    if (tok < 0 || tok >= v->n_tokens) return;
    uint8_t a = v->attr[tok];
    if (!special && (a & (LM_ATTR_UNKNOWN | LM_ATTR_CONTROL))) return;
    const char *t = v->text[tok];
    size_t n = v->len[tok];
    if (a & (LM_ATTR_UNKNOWN | LM_ATTR_CONTROL | LM_ATTR_USER_DEFINED)) {
        if (lstrip && n && t[0] == ' ') t++, n--;
        put(s, t, n);
        return;
    }
    if (a & LM_ATTR_NORMAL) {
        if (v->type == LM_VOCAB_SPM) {
            for (size_t i = 0; i < n;) {
                if (n - i >= 3 && !memcmp(t + i, "\xe2\x96\x81", 3)) {
                    if (!lstrip) put(s, " ", 1);
                    lstrip = 0;
                    i += 3;
                } else {
                    lstrip = 0;
                    put(s, t + i, 1);
                    i++;
                }
            }
            return;
        }
        /* BPE: each code point is one byte; llama.cpp writes one it cannot
         * map as "[UNK_BYTE_0x<utf8 hex><token text>]" */
        for (size_t i = 0; i < n;) {
            unsigned char b0 = (unsigned char)t[i];
            size_t k = b0 < 0x80 ? 1 : b0 < 0xE0 ? 2 : b0 < 0xF0 ? 3 : 4;
            if (k > n - i) k = n - i;
            uint32_t c = k == 1 ? b0 : (uint32_t)(b0 & (0x7F >> k));
            for (size_t j = 1; j < k; j++) c = (c << 6) | ((unsigned char)t[i + j] & 0x3F);
            int byte = lm_cpt_to_byte(c);
            if (byte >= 0) {
                char ch = (char)byte;
                if (!(lstrip && ch == ' ')) put(s, &ch, 1);
            } else {
                put(s, "[UNK_BYTE_0x", 12);
                for (size_t j = 0; j < k; j++) {
                    char hx[2] = {hexd[(unsigned char)t[i + j] >> 4], hexd[t[i + j] & 15]};
                    put(s, hx, 2);
                }
                put(s, t, n);
                put(s, "]", 1);
            }
            lstrip = 0;
            i += k;
        }
        return;
    }
    if (a & LM_ATTR_BYTE) {
        unsigned x = 0;
        for (int i = 3; i < 5; i++) {
            char c = t[i];
            x = x * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        }
        char ch = (char)x;
        if (!(lstrip && ch == ' ')) put(s, &ch, 1);
    }
}

int lm_token_to_piece(const lm_vocab *v, int32_t tok, bool render_special, char *buf, int n) {
    struct sink s = {buf, n > 0 ? (size_t)n : 0, 0};
    piece(v, tok, render_special, 0, &s);
    return (int)s.n;
}

/* llama.cpp's clean_up_tokenization_spaces, in place; returns the new length. */
static size_t clean_spaces(char *t, size_t total) {
    size_t n = total ? 1 : 0;
    for (size_t i = 1; i < total; i++) { /* " ?" " !" " ." " ," */
        char x = t[i];
        if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) n--;
        t[n++] = x;
    }
    total = n;
    n = total ? 1 : 0;
    for (size_t i = 1; i < total; i++) { /* " ' " */
        char x = t[i];
        if (x == '\'' && i + 1 < total && t[i - 1] == ' ' && t[i + 1] == ' ') {
            n--;
            t[++i] = 0;
        }
        t[n++] = x;
    }
    total = n;
    n = total ? 1 : 0;
    for (size_t i = 1; i < total; i++) { /* " 's" " 'm" " 're" " 've" */
        char x = t[i];
        if (t[i - 1] == ' ' && x == '\'' && i + 1 < total) {
            char x1 = t[i + 1];
            if (x1 == 's' || x1 == 'm') n--;
            else if (i + 2 < total && ((x1 == 'r' && t[i + 2] == 'e') || (x1 == 'v' && t[i + 2] == 'e'))) n--;
        }
        t[n++] = x;
    }
    return n;
}

size_t lm_detokenize(const lm_vocab *v, const int32_t *toks, size_t n_toks, bool remove_special,
                     bool render_special, char *out, size_t cap) {
    bool remove_space = v->add_space_prefix;
    if (remove_special && v->add_bos && n_toks > 0 && toks[0] == v->bos) {
        remove_space = false; /* llama.cpp keeps the space after a removed BOS */
        toks++;
        n_toks--;
    }
    if (remove_special && v->add_eos && n_toks > 0 && toks[n_toks - 1] == v->eos) n_toks--;
    struct sink s = {out, cap, 0};
    for (size_t i = 0; i < n_toks; i++) {
        piece(v, toks[i], render_special, remove_space, &s);
        remove_space = false;
    }
    if (s.n > cap) return s.n; /* caller retries with this much room */
    return v->clean_spaces ? clean_spaces(out, s.n) : s.n;
}

/* ---- streaming */

void lm_detok_init(lm_detok *d, const lm_vocab *v, bool render_special) {
    memset(d, 0, sizeof *d);
    d->vocab = v;
    d->render_special = render_special;
    d->at_start = true;
}

/* Length a UTF-8 sequence with this lead byte has, 0 if it cannot lead. */
static int seq_len(unsigned char b) {
    if (b < 0x80) return 1;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b >= 0xE0 && b <= 0xEF) return 3;
    if (b >= 0xF0 && b <= 0xF4) return 4;
    return 0;
}

/* Whether byte c may follow the bytes so far (pending[0..n)) in a valid
 * sequence (continuation byte; no overlong, surrogate or > U+10FFFF forms). */
static bool may_follow(const unsigned char *p, int n, unsigned char c) {
    if ((c & 0xC0) != 0x80) return false;
    if (n == 1) {
        if (p[0] == 0xE0) return c >= 0xA0;
        if (p[0] == 0xED) return c <= 0x9F;
        if (p[0] == 0xF0) return c >= 0x90;
        if (p[0] == 0xF4) return c <= 0x8F;
    }
    return true;
}

static size_t emit(char *out, size_t cap, size_t o, const void *p, size_t n) {
    if (o + n <= cap) memcpy(out + o, p, n);
    return o + n <= cap ? o + n : o; /* a too-small buffer drops what does not fit */
}

size_t lm_detok_push(lm_detok *d, int32_t tok, char *out, size_t cap) {
    char tmp[256], *heap = NULL;
    int lstrip = d->at_start && d->vocab->add_space_prefix;
    struct sink s = {tmp, sizeof tmp, 0};
    piece(d->vocab, tok, d->render_special, lstrip, &s);
    d->at_start = false;
    if (s.n > sizeof tmp) { /* a long piece: the only case that allocates */
        heap = malloc(s.n);
        if (!heap) return 0;
        s = (struct sink){heap, s.n, 0};
        piece(d->vocab, tok, d->render_special, lstrip, &s);
    }
    size_t n = s.n, o = 0;
    const unsigned char *p = (const unsigned char *)s.buf;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (d->n_pending == 0) {
            int k = seq_len(c);
            if (k == 1) o = emit(out, cap, o, &c, 1);
            else if (k == 0) o = emit(out, cap, o, "\xef\xbf\xbd", 3);
            else d->pending[d->n_pending++] = c;
            i++;
            continue;
        }
        if (!may_follow(d->pending, d->n_pending, c)) {
            /* the held bytes can never complete: one U+FFFD for them, then
             * look at c afresh */
            o = emit(out, cap, o, "\xef\xbf\xbd", 3);
            d->n_pending = 0;
            continue;
        }
        d->pending[d->n_pending++] = c;
        i++;
        if (d->n_pending == seq_len(d->pending[0])) {
            o = emit(out, cap, o, d->pending, (size_t)d->n_pending);
            d->n_pending = 0;
        }
    }
    free(heap);
    return o;
}

size_t lm_detok_flush(lm_detok *d, char *out, size_t cap) {
    size_t o = 0;
    if (d->n_pending) o = emit(out, cap, o, "\xef\xbf\xbd", 3);
    d->n_pending = 0;
    return o;
}
