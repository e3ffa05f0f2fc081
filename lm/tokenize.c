/* tokenize.c - lm_tokenize: special tokens, BOS/EOS, then the model's
 * tokenizer on each stretch of ordinary text.
 *
 * As llama.cpp's tokenizer_st_partition: the text is cut at every occurrence
 * of a special token's string, trying the special tokens longest first (each
 * one over the fragments the earlier ones left). CONTROL and UNKNOWN tokens
 * are cut out only when parse_special is set; USER_DEFINED tokens always are
 * (as in Hugging Face's tokenizers). The remaining text fragments go to the
 * BPE or SPM tokenizer one by one, so no merge crosses a special token. */
#include "vocab_internal.h"

#include <stdlib.h>
#include <string.h>

struct frag {
    int32_t tok; /* -1: text [off, off + len) */
    size_t off, len;
};

struct frags {
    struct frag *v;
    size_t n, cap;
};

static bool frags_push(struct frags *f, int32_t tok, size_t off, size_t len) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        struct frag *nv = realloc(f->v, cap * sizeof *nv);
        if (!nv) return false;
        f->v = nv;
        f->cap = cap;
    }
    f->v[f->n++] = (struct frag){tok, off, len};
    return true;
}

static const char *find(const char *hay, size_t n, const char *needle, size_t m) {
    if (m == 0 || m > n) return NULL;
    const char *end = hay + n - m + 1;
    for (const char *p = hay; p < end;) {
        p = memchr(p, needle[0], (size_t)(end - p));
        if (!p) return NULL;
        if (memcmp(p, needle, m) == 0) return p;
        p++;
    }
    return NULL;
}

static ember_status partition(const lm_vocab *v, const char *text, size_t len, bool parse_special,
                              struct frags *cur, char *err) {
    struct frags next = {0};
    if (len && !frags_push(cur, -1, 0, len)) goto nomem;
    for (int32_t k = 0; k < v->n_special; k++) {
        int32_t id = v->special[k];
        if (!parse_special && (v->attr[id] & (LM_ATTR_CONTROL | LM_ATTR_UNKNOWN))) continue;
        const char *tt = v->text[id];
        size_t tl = v->len[id];
        bool hit = false;
        for (size_t i = 0; i < cur->n && !hit; i++)
            hit = cur->v[i].tok < 0 && find(text + cur->v[i].off, cur->v[i].len, tt, tl);
        if (!hit) continue;
        next.n = 0;
        for (size_t i = 0; i < cur->n; i++) {
            struct frag f = cur->v[i];
            if (f.tok >= 0) {
                if (!frags_push(&next, f.tok, 0, 0)) goto nomem;
                continue;
            }
            size_t pos = f.off, end = f.off + f.len;
            const char *m;
            while ((m = find(text + pos, end - pos, tt, tl))) {
                size_t at = (size_t)(m - text);
                if (at > pos && !frags_push(&next, -1, pos, at - pos)) goto nomem;
                if (!frags_push(&next, id, 0, 0)) goto nomem;
                pos = at + tl;
            }
            if (pos < end && !frags_push(&next, -1, pos, end - pos)) goto nomem;
        }
        struct frags t = *cur;
        *cur = next;
        next = t;
    }
    free(next.v);
    return EM_OK;
nomem:
    free(next.v);
    return em_err(err, EM_ERR_NOMEM, "lm_tokenize: text of %zu bytes: out of memory", len);
}

int64_t lm_tokenize(const lm_vocab *v, const char *text, size_t len, bool add_special, bool parse_special,
                    int32_t *out, int64_t n_max, char *err) {
    struct frags fr = {0};
    struct lm_toks toks = {0};
    char *buf = NULL;
    ember_status st = EM_OK;
    if (!v || (!text && len) || (n_max > 0 && !out)) {
        st = em_err(err, EM_ERR_ARG, "lm_tokenize: NULL vocabulary, text or output buffer");
        goto done;
    }
    if ((st = partition(v, text, len, parse_special, &fr, err))) goto done;

    if (add_special && v->add_bos && (st = lm_toks_push(&toks, v->bos))) goto nomem;
    /* SPM: a text fragment at the start or right after a special token gets
     * a leading space (llama.cpp's is_prev_special) */
    bool prev_special = true;
    for (size_t i = 0; i < fr.n; i++) {
        struct frag f = fr.v[i];
        if (f.tok >= 0) {
            if ((st = lm_toks_push(&toks, f.tok))) goto nomem;
            prev_special = true;
            continue;
        }
        if (v->type == LM_VOCAB_SPM) {
            const char *p = text + f.off;
            size_t n = f.len;
            if (v->add_space_prefix && prev_special) {
                free(buf);
                buf = malloc(n + 1);
                if (!buf) goto nomem;
                buf[0] = ' ';
                memcpy(buf + 1, p, n);
                p = buf;
                n++;
            }
            st = lm_tokenize_spm(v, p, n, &toks, err);
        } else {
            st = lm_tokenize_bpe(v, text + f.off, f.len, &toks, err);
        }
        if (st) goto done;
        prev_special = false;
    }
    if (add_special && v->add_eos && (st = lm_toks_push(&toks, v->eos))) goto nomem;
    if (toks.n > INT64_MAX / 2) goto nomem;
    for (size_t i = 0; i < toks.n && (int64_t)i < n_max; i++) out[i] = toks.v[i];
    goto done;
nomem:
    st = em_err(err, EM_ERR_NOMEM, "lm_tokenize: text of %zu bytes: out of memory", len);
done:
    free(fr.v);
    free(buf);
    free(toks.v);
    return st ? (int64_t)st : (int64_t)toks.n;
}
