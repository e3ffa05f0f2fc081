/* vocab.c - load a vocabulary from GGUF tokenizer.ggml.* keys, and the lookups
 * (token text -> id hash, merge pair -> rank hash) the tokenizers use.
 *
 * The rules follow llama.cpp's llama_vocab::impl::load: the defaults per model
 * type (SPM: bos 1, eos 2, unk 0, add_bos; gpt2: bos = eos = 11, no add_bos),
 * the flags a pre-tokenizer sets, the EOT/EOG detection by token text, the
 * "unused" control tokens. Where llama.cpp tolerates bad input silently
 * (an explicit special-token id out of range, a merge naming no token) Ember
 * refuses the file with a message instead: a wrong vocabulary gives wrong
 * tokens, and nothing downstream could tell.
 *
 * Workload: 32k-256k tokens, up to ~300k merges, loaded once per model; both
 * tables are open-addressing hashes sized to a power of two >= 2n. */
#include "vocab_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FN "lm_vocab_load"

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static size_t table_size(uint64_t n) {
    size_t s = 16;
    while (s < 2 * n) s <<= 1;
    return s;
}

ember_status lm_toks_push(struct lm_toks *t, int32_t id) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        int32_t *nv = realloc(t->v, cap * sizeof *nv);
        if (!nv) return EM_ERR_NOMEM;
        t->v = nv;
        t->cap = cap;
    }
    t->v[t->n++] = id;
    return EM_OK;
}

int32_t lm_vocab_lookup(const lm_vocab *v, const char *s, size_t n) {
    size_t i = hash_bytes(s, n) & v->hash_mask;
    for (;;) {
        int32_t id = v->hash[i];
        if (id < 0) return -1;
        if (v->len[id] == n && memcmp(v->text[id], s, n) == 0) return id;
        i = (i + 1) & v->hash_mask;
    }
}

int32_t lm_merge_find(const lm_vocab *v, int32_t left, int32_t right, int32_t *result) {
    if (!v->merges || left < 0 || right < 0) return -1;
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    size_t i = hash_u64(key) & v->merge_mask;
    for (;;) {
        const struct lm_merge_slot *s = &v->merges[i];
        if (s->key == UINT64_MAX) return -1;
        if (s->key == key) {
            if (result) *result = s->result;
            return s->rank;
        }
        i = (i + 1) & v->merge_mask;
    }
}

/* ---- loading steps */

static ember_status load_tokens(lm_vocab *v, const gguf_ctx *g, char *err) {
    enum gguf_vtype et;
    uint64_t n;
    const void *data;
    ember_status st = gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n, &data, err);
    if (st == EM_ERR_NOT_FOUND)
        return em_err(err, st, FN ": tokenizer.ggml.tokens: missing (not a model with a vocabulary?)");
    if (st) return st;
    if (et != GGUF_TYPE_STRING)
        return em_err(err, EM_ERR_FORMAT, FN ": tokenizer.ggml.tokens: array of %s, expected array of string",
                      gguf_vtype_name(et));
    if (n == 0 || n > INT32_MAX / 2)
        return em_err(err, EM_ERR_FORMAT, FN ": tokenizer.ggml.tokens: %" PRIu64 " tokens, expected 1..%d", n,
                      INT32_MAX / 2);
    v->n_tokens = (int32_t)n;
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = 0;
        if (!gguf_get_arr_str(g, "tokenizer.ggml.tokens", i, &len))
            return em_err(err, EM_ERR_FORMAT, FN ": tokenizer.ggml.tokens[%" PRIu64 "]: unreadable", i);
        if (len > UINT32_MAX / 2)
            return em_err(err, EM_ERR_FORMAT, FN ": tokenizer.ggml.tokens[%" PRIu64 "]: %zu bytes long", i, len);
        total += (len ? len : 24) + 1;
    }
    v->text = calloc(n, sizeof *v->text);
    v->len = calloc(n, sizeof *v->len);
    v->score = calloc(n, sizeof *v->score);
    v->ttype = calloc(n, 1);
    v->attr = calloc(n, 1);
    v->eog = calloc(n, 1);
    v->arena = malloc(total);
    v->hash_mask = table_size(n) - 1;
    v->hash = malloc((v->hash_mask + 1) * sizeof *v->hash);
    if (!v->text || !v->len || !v->score || !v->ttype || !v->attr || !v->eog || !v->arena || !v->hash)
        return em_err(err, EM_ERR_NOMEM, FN ": %" PRIu64 " tokens: out of memory", n);
    memset(v->hash, 0xff, (v->hash_mask + 1) * sizeof *v->hash);
    char *p = v->arena;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *s = gguf_get_arr_str(g, "tokenizer.ggml.tokens", i, &len);
        if (len == 0) {
            /* llama.cpp names empty tokens so they stay unique and never match text */
            len = (size_t)snprintf(p, 24, "[EMPTY_%" PRIu64 "]", i);
        } else {
            memcpy(p, s, len);
            p[len] = 0;
        }
        v->text[i] = p;
        v->len[i] = (uint32_t)len;
        if (len > v->max_len) v->max_len = (uint32_t)len;
        p += len + 1;
        size_t h = hash_bytes(v->text[i], len) & v->hash_mask;
        while (v->hash[h] >= 0) {
            int32_t o = v->hash[h];
            if (v->len[o] == len && memcmp(v->text[o], v->text[i], len) == 0)
                return em_err(err, EM_ERR_FORMAT, FN ": tokenizer.ggml.tokens: '%.64s' appears twice (ids %d and %" PRIu64 ")",
                              v->text[i], o, i);
            h = (h + 1) & v->hash_mask;
        }
        v->hash[h] = (int32_t)i;
    }
    return EM_OK;
}

static ember_status load_scores_types(lm_vocab *v, const gguf_ctx *g, char *err) {
    enum gguf_vtype et;
    uint64_t n;
    const void *data;
    ember_status st = gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n, &data, err);
    if (st && st != EM_ERR_NOT_FOUND) return st;
    if (st == EM_OK) {
        if (et != GGUF_TYPE_FLOAT32 && et != GGUF_TYPE_INT32)
            return em_err(err, EM_ERR_FORMAT, FN ": tokenizer.ggml.scores: array of %s, expected f32 or i32",
                          gguf_vtype_name(et));
        if (n != (uint64_t)v->n_tokens)
            return em_err(err, EM_ERR_FORMAT, FN ": tokenizer.ggml.scores: %" PRIu64 " entries, expected %d (one per token)",
                          n, v->n_tokens);
        for (int32_t i = 0; i < v->n_tokens; i++)
            v->score[i] = et == GGUF_TYPE_FLOAT32 ? ((const float *)data)[i] : (float)((const int32_t *)data)[i];
    }
    st = gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n, &data, err);
    if (st && st != EM_ERR_NOT_FOUND) return st;
    if (st == EM_ERR_NOT_FOUND) {
        for (int32_t i = 0; i < v->n_tokens; i++) {
            v->ttype[i] = LM_TOKEN_NORMAL;
            v->attr[i] = LM_ATTR_NORMAL;
        }
        return EM_OK;
    }
    if (et != GGUF_TYPE_INT32)
        return em_err(err, EM_ERR_FORMAT, FN ": tokenizer.ggml.token_type: array of %s, expected i32", gguf_vtype_name(et));
    if (n != (uint64_t)v->n_tokens)
        return em_err(err, EM_ERR_FORMAT, FN ": tokenizer.ggml.token_type: %" PRIu64 " entries, expected %d (one per token)",
                      n, v->n_tokens);
    const int32_t *tt = data;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        static const uint8_t bits[] = {0, LM_ATTR_NORMAL, LM_ATTR_UNKNOWN, LM_ATTR_CONTROL,
                                       LM_ATTR_USER_DEFINED, LM_ATTR_UNUSED, LM_ATTR_BYTE};
        if (tt[i] < 0 || tt[i] > LM_TOKEN_BYTE)
            return em_err(err, EM_ERR_FORMAT, FN ": tokenizer.ggml.token_type[%d] = %d, expected 0..6", i, tt[i]);
        v->ttype[i] = (uint8_t)tt[i];
        v->attr[i] = bits[tt[i]];
        if (tt[i] == LM_TOKEN_BYTE) {
            /* byte tokens are "<0xXX>"; detok reads the two hex digits */
            const char *s = v->text[i];
            unsigned x;
            char tail;
            if (v->len[i] != 6 || sscanf(s, "<0x%2X%c", &x, &tail) != 2 || tail != '>')
                return em_err(err, EM_ERR_FORMAT, FN ": token %d '%.32s' has type BYTE, expected text <0xXX>", i, s);
        }
    }
    return EM_OK;
}

static ember_status load_merges(lm_vocab *v, const gguf_ctx *g, char *err) {
    const char *key = "tokenizer.ggml.merges";
    enum gguf_vtype et;
    uint64_t n;
    const void *data;
    ember_status st = gguf_get_arr(g, key, &et, &n, &data, err);
    if (st == EM_ERR_NOT_FOUND) return em_err(err, st, FN ": %s: missing (required by a gpt2 vocabulary)", key);
    if (st) return st;
    if (et != GGUF_TYPE_STRING)
        return em_err(err, EM_ERR_FORMAT, FN ": %s: array of %s, expected array of string", key, gguf_vtype_name(et));
    /* ranks order the merge queue as floats (bigram_heap.h), exact below 2^24;
     * real vocabularies have well under a million merges */
    if (n > (1u << 24)) return em_err(err, EM_ERR_FORMAT, FN ": %s: %" PRIu64 " merges, more than the 16777216 Ember handles", key, n);
    v->merge_mask = table_size(n) - 1;
    v->merges = malloc((v->merge_mask + 1) * sizeof *v->merges);
    if (!v->merges) return em_err(err, EM_ERR_NOMEM, FN ": %s: %" PRIu64 " merges: out of memory", key, n);
    for (size_t i = 0; i <= v->merge_mask; i++) v->merges[i].key = UINT64_MAX;
    char *tmp = malloc(2 * (size_t)v->max_len + 2);
    if (!tmp) return em_err(err, EM_ERR_NOMEM, FN ": %s: out of memory", key);
    st = EM_OK;
    for (uint64_t r = 0; r < n; r++) {
        size_t len = 0;
        const char *s = gguf_get_arr_str(g, key, r, &len);
        /* "left right", split at the first space after the first byte (a
         * token may itself begin with a space in some vocabularies) */
        const char *sp = s && len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp) {
            st = em_err(err, EM_ERR_FORMAT, FN ": %s[%" PRIu64 "] = '%.64s': expected two tokens separated by a space",
                        key, r, s ? s : "");
            break;
        }
        size_t ln = (size_t)(sp - s), rn = len - ln - 1;
        int32_t left = lm_vocab_lookup(v, s, ln), right = lm_vocab_lookup(v, sp + 1, rn);
        if (left < 0 || right < 0) {
            st = em_err(err, EM_ERR_FORMAT, FN ": %s[%" PRIu64 "] = '%.64s': '%.*s' is not a token", key, r, s,
                        (int)(left < 0 ? (ln > 64 ? 64 : ln) : (rn > 64 ? 64 : rn)), left < 0 ? s : sp + 1);
            break;
        }
        int32_t result = -1;
        if (ln + rn <= 2 * (size_t)v->max_len) {
            memcpy(tmp, s, ln);
            memcpy(tmp + ln, sp + 1, rn);
            result = lm_vocab_lookup(v, tmp, ln + rn);
        }
        uint64_t k = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
        size_t h = hash_u64(k) & v->merge_mask;
        while (v->merges[h].key != UINT64_MAX && v->merges[h].key != k) h = (h + 1) & v->merge_mask;
        if (v->merges[h].key == UINT64_MAX) { /* a repeated pair keeps its first rank, as llama.cpp's emplace */
            v->merges[h].key = k;
            v->merges[h].rank = (int32_t)r;
            v->merges[h].result = result;
        }
    }
    free(tmp);
    v->n_merges = (int64_t)n;
    return st;
}

/* An optional token id key; out of range is an error (llama.cpp warns and
 * keeps its default, which would silently change BOS/EOS). */
static ember_status get_id(const lm_vocab *v, const gguf_ctx *g, const char *key, int32_t *id, char *err) {
    int64_t x;
    ember_status st = gguf_get_int(g, key, &x, err);
    if (st == EM_ERR_NOT_FOUND) return EM_OK;
    if (st) return st;
    if (x < 0 || x >= v->n_tokens)
        return em_err(err, EM_ERR_FORMAT, FN ": %s = %" PRId64 ": out of range, the vocabulary has %d tokens", key, x,
                      v->n_tokens);
    *id = (int32_t)x;
    return EM_OK;
}

static ember_status get_flag(const gguf_ctx *g, const char *key, bool *flag, char *err) {
    bool b;
    ember_status st = gguf_get_bool(g, key, &b, err);
    if (st == EM_ERR_NOT_FOUND) return EM_OK;
    if (st) return st;
    *flag = b;
    return EM_OK;
}

static void make_control(lm_vocab *v, int32_t id) {
    /* llama.cpp: "control-looking token ... its type will be overridden" */
    if (!(v->attr[id] & LM_ATTR_CONTROL)) {
        v->attr[id] |= LM_ATTR_CONTROL;
        v->ttype[id] = LM_TOKEN_CONTROL;
    }
}

/* EOT by text when the file names none. llama.cpp takes whichever of these its
 * hash map yields first; Ember takes the first in this list, so the choice is
 * stable (all of them are end-of-generation either way). */
static const char *const eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
    "<end_of_utterance>", NULL};
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "[e~[", NULL};

static void find_eog(lm_vocab *v) {
    if (v->eot < 0)
        for (int i = 0; eot_texts[i] && v->eot < 0; i++) {
            int32_t id = lm_vocab_lookup(v, eot_texts[i], strlen(eot_texts[i]));
            if (id >= 0) {
                v->eot = id;
                make_control(v, id);
            }
        }
    if (v->eom < 0) {
        int32_t id = lm_vocab_lookup(v, "<|eom_id|>", 10);
        if (id >= 0) {
            v->eom = id;
            make_control(v, id);
        }
    }
    /* control tokens named "unused" are unused (llama.cpp's auto-detection) */
    for (int32_t i = 0; i < v->n_tokens; i++)
        if ((v->attr[i] & LM_ATTR_CONTROL) && strstr(v->text[i], "unused")) v->attr[i] |= LM_ATTR_UNUSED;
    for (int i = 0; eog_texts[i]; i++) {
        int32_t id = lm_vocab_lookup(v, eog_texts[i], strlen(eog_texts[i]));
        if (id >= 0) {
            v->eog[id] = 1;
            make_control(v, id);
        }
    }
    if (v->eos >= 0) v->eog[v->eos] = 1;
    if (v->eot >= 0) v->eog[v->eot] = 1;
    if (v->eom >= 0) v->eog[v->eom] = 1;
    /* gpt-oss / solar-open: with <|return|> and <|call|> (or <|calls|> and
     * <|flush|>) present, <|end|> only ends a message, not the generation */
    int32_t end = lm_vocab_lookup(v, "<|end|>", 7);
    int32_t ret = lm_vocab_lookup(v, "<|return|>", 10), call = lm_vocab_lookup(v, "<|call|>", 8);
    int32_t calls = lm_vocab_lookup(v, "<|calls|>", 9), flush = lm_vocab_lookup(v, "<|flush|>", 9);
    if (end >= 0 && ((ret >= 0 && call >= 0) || (calls >= 0 && flush >= 0))) {
        v->eog[end] = 0;
        v->attr[end] = LM_ATTR_USER_DEFINED;
        v->ttype[end] = LM_TOKEN_USER_DEFINED;
    }
}

static int u64_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static ember_status build_special(lm_vocab *v, char *err) {
    int32_t n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (v->attr[i] & (LM_ATTR_CONTROL | LM_ATTR_USER_DEFINED | LM_ATTR_UNKNOWN)) n++;
    uint64_t *keys = malloc((n ? n : 1) * sizeof *keys);
    v->special = malloc((n ? n : 1) * sizeof *v->special);
    if (!keys || !v->special) {
        free(keys);
        return em_err(err, EM_ERR_NOMEM, FN ": special tokens: out of memory");
    }
    /* longest first, so "<|im_end|>" wins over a shorter token it contains;
     * ties by id to be deterministic */
    n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (v->attr[i] & (LM_ATTR_CONTROL | LM_ATTR_USER_DEFINED | LM_ATTR_UNKNOWN))
            keys[n++] = ((uint64_t)(UINT32_MAX - v->len[i]) << 32) | (uint32_t)i;
    qsort(keys, (size_t)n, sizeof *keys, u64_cmp);
    for (int32_t i = 0; i < n; i++) v->special[i] = (int32_t)(uint32_t)keys[i];
    free(keys);
    v->n_special = n;
    return EM_OK;
}

lm_vocab *lm_vocab_load(const gguf_ctx *g, char *err) {
    lm_vocab *v = calloc(1, sizeof *v);
    if (!v) {
        em_err(err, EM_ERR_NOMEM, FN ": out of memory");
        return NULL;
    }
    v->bos = v->eos = v->eot = v->eom = v->unk = v->pad = -1;
    ember_status st;
    const char *model = NULL, *pre = NULL;
    st = gguf_get_str(g, "tokenizer.ggml.model", &model, err);
    if (st == EM_ERR_NOT_FOUND) st = em_err(err, st, FN ": tokenizer.ggml.model: missing");
    if (st) goto fail;
    st = gguf_get_str(g, "tokenizer.ggml.pre", &pre, err);
    if (st == EM_ERR_NOT_FOUND) pre = NULL;
    else if (st) goto fail;

    if (!strcmp(model, "llama")) v->type = LM_VOCAB_SPM;
    else if (!strcmp(model, "gpt2")) v->type = LM_VOCAB_BPE;
    else {
        st = em_err(err, EM_ERR_UNSUPPORTED,
                    FN ": tokenizer.ggml.model = '%.64s': not supported, Ember reads 'llama' (SentencePiece) and 'gpt2' (byte-level BPE)",
                    model);
        goto fail;
    }
    if ((st = load_tokens(v, g, err))) goto fail;
    if ((st = load_scores_types(v, g, err))) goto fail;

    /* defaults per model type (llama.cpp's), before the file's keys */
    int32_t def_bos, def_eos, def_unk;
    if (v->type == LM_VOCAB_SPM) {
        def_bos = 1, def_eos = 2, def_unk = 0;
        v->add_bos = true;
        v->add_space_prefix = true;
    } else {
        def_bos = def_eos = 11, def_unk = -1;
        v->clean_spaces = true;
        if ((st = load_merges(v, g, err))) goto fail;
        if ((st = lm_pretok_setup(v, pre, err))) goto fail;
    }
    v->bos = def_bos < v->n_tokens ? def_bos : -1;
    v->eos = def_eos < v->n_tokens ? def_eos : -1;
    v->unk = def_unk < v->n_tokens ? def_unk : -1;
    if (v->type == LM_VOCAB_BPE && pre && (!strcmp(pre, "glm4") || !strcmp(pre, "chatglm-bpe"))) v->bos = -1;

    if ((st = get_flag(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix, err))) goto fail;
    if ((st = get_id(v, g, "tokenizer.ggml.bos_token_id", &v->bos, err))) goto fail;
    if ((st = get_id(v, g, "tokenizer.ggml.eos_token_id", &v->eos, err))) goto fail;
    if ((st = get_id(v, g, "tokenizer.ggml.eot_token_id", &v->eot, err))) goto fail;
    if ((st = get_id(v, g, "tokenizer.ggml.eom_token_id", &v->eom, err))) goto fail;
    if ((st = get_id(v, g, "tokenizer.ggml.unknown_token_id", &v->unk, err))) goto fail;
    if ((st = get_id(v, g, "tokenizer.ggml.padding_token_id", &v->pad, err))) goto fail;
    if ((st = get_flag(g, "tokenizer.ggml.add_bos_token", &v->add_bos, err))) goto fail;
    if ((st = get_flag(g, "tokenizer.ggml.add_eos_token", &v->add_eos, err))) goto fail;
    if (v->add_bos && v->bos < 0) {
        st = em_err(err, EM_ERR_FORMAT, FN ": tokenizer.ggml.add_bos_token is true, but there is no BOS token");
        goto fail;
    }
    if (v->add_eos && v->eos < 0) {
        st = em_err(err, EM_ERR_FORMAT, FN ": tokenizer.ggml.add_eos_token is true, but there is no EOS token");
        goto fail;
    }
    find_eog(v);
    if ((st = build_special(v, err))) goto fail;
    return v;
fail:
    lm_vocab_free(v);
    return NULL;
}

void lm_vocab_free(lm_vocab *v) {
    if (!v) return;
    for (int i = 0; i < v->n_re; i++) pcre2_code_free(v->re[i]);
    free(v->text);
    free(v->len);
    free(v->score);
    free(v->ttype);
    free(v->attr);
    free(v->eog);
    free(v->arena);
    free(v->hash);
    free(v->merges);
    free(v->special);
    free(v);
}

/* ---- accessors */

enum lm_vocab_type lm_vocab_type(const lm_vocab *v) { return v->type; }
int32_t lm_vocab_n_tokens(const lm_vocab *v) { return v->n_tokens; }
int32_t lm_vocab_bos(const lm_vocab *v) { return v->bos; }
int32_t lm_vocab_eos(const lm_vocab *v) { return v->eos; }
int32_t lm_vocab_eot(const lm_vocab *v) { return v->eot; }
bool lm_vocab_add_bos(const lm_vocab *v) { return v->add_bos; }
bool lm_vocab_add_eos(const lm_vocab *v) { return v->add_eos; }
bool lm_vocab_is_eog(const lm_vocab *v, int32_t tok) { return tok >= 0 && tok < v->n_tokens && v->eog[tok]; }
uint32_t lm_vocab_max_token_len(const lm_vocab *v) { return v->max_len; }

enum lm_token_attr lm_vocab_token_type(const lm_vocab *v, int32_t tok) {
    if (tok < 0 || tok >= v->n_tokens) return LM_TOKEN_UNDEFINED;
    return (enum lm_token_attr)v->ttype[tok];
}

const char *lm_vocab_token_text(const lm_vocab *v, int32_t tok) {
    if (tok < 0 || tok >= v->n_tokens) return NULL;
    return v->text[tok];
}

int32_t lm_vocab_find(const lm_vocab *v, const char *text) { return lm_vocab_lookup(v, text, strlen(text)); }
