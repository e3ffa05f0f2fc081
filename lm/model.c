/* model.c - loading a llama-architecture GGUF: hyperparameters from the
 * `llama.*` keys, every tensor checked for presence, type and shape before
 * use, weights wrapped (not copied) into the backend. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ember_status get_int_key(const gguf_ctx *g, const char *path, const char *key, int *out,
                                bool required, int dflt, int64_t max, char *err) {
    int64_t v;
    char e[EM_ERR_LEN];
    ember_status st = gguf_get_int(g, key, &v, e);
    if (st == EM_ERR_NOT_FOUND) {
        if (required) return em_err(err, EM_ERR_FORMAT, "lm_model_load: %s: key %s missing", path, key);
        *out = dflt;
        return EM_OK;
    }
    if (st != EM_OK) return em_err(err, st, "lm_model_load: %s: %s", path, e);
    if (v < 1 || v > max)
        return em_err(err, EM_ERR_FORMAT, "lm_model_load: %s: %s = %lld, expected 1..%lld", path, key,
                      (long long)v, (long long)max);
    *out = (int)v;
    return EM_OK;
}

static ember_status get_float_key(const gguf_ctx *g, const char *path, const char *key, float *out,
                                  float dflt, char *err) {
    double v;
    char e[EM_ERR_LEN];
    ember_status st = gguf_get_float(g, key, &v, e);
    if (st == EM_ERR_NOT_FOUND) { *out = dflt; return EM_OK; }
    if (st != EM_OK) return em_err(err, st, "lm_model_load: %s: %s", path, e);
    if (!(v > 0 && v < 1e30)) return em_err(err, EM_ERR_FORMAT, "lm_model_load: %s: %s = %g, expected a positive number", path, key, v);
    *out = (float)v;
    return EM_OK;
}

/* Find tensor `name` of shape (ne0, ne1) (ne1 = 1 for a vector), check its
 * type is one this backend computes with, and wrap it. */
static ember_status bind_tensor(lm_model *m, const char *path, const char *name, int64_t ne0, int64_t ne1,
                                bool f32_only, em_tensor *t, char *err) {
    const gguf_tensor_info *ti = gguf_find_tensor(m->gguf, name);
    if (!ti) return em_err(err, EM_ERR_FORMAT, "lm_model_load: %s: tensor %s missing", path, name);
    int64_t n2 = 1;
    for (int d = 2; d < ti->n_dims; d++) n2 *= ti->ne[d];
    if (ti->ne[0] != ne0 || ti->ne[1] != ne1 || n2 != 1)
        return em_err(err, EM_ERR_FORMAT, "lm_model_load: %s: %s has shape [%lld, %lld, %lld], expected [%lld, %lld]",
                      path, name, (long long)ti->ne[0], (long long)ti->ne[1], (long long)n2, (long long)ne0,
                      (long long)ne1);
    const char *tn = em_type_name(ti->type);
    if (f32_only && ti->type != EM_TYPE_F32)
        return em_err(err, EM_ERR_UNSUPPORTED, "lm_model_load: %s: %s is %s; norm weights must be f32", path, name, tn ? tn : "?");
    if (!em_type_supported(ti->type) || !m->be->ops->supports(m->be, EM_OP_MATMUL, ti->type))
        return em_err(err, EM_ERR_UNSUPPORTED,
                      "lm_model_load: %s: %s has type %s, which Ember does not compute with yet (supported: f32, f16, bf16, q8_0, q4_0)",
                      path, name, tn ? tn : "unknown");
    *t = em_tensor_make(ti->type, ne0, ne1, 1, 1);
    t->name = ti->name;
    ember_status st = em_backend_wrap(m->be, t, ti->data, err);
    if (st == EM_OK && m->be->ops->copies_weights) gguf_drop_pages(m->gguf, ti->data, ti->nbytes);
    return st;
}

static ember_status load_hparams(lm_model *m, const char *path, char *err) {
    const gguf_ctx *g = m->gguf;
    lm_hparams *hp = &m->hp;
    ember_status st;
    const char *arch = NULL;
    char e[EM_ERR_LEN];
    if (gguf_get_str(g, "general.architecture", &arch, e) != EM_OK)
        return em_err(err, EM_ERR_FORMAT, "lm_model_load: %s: general.architecture missing; is this a model file?", path);
    if (strcmp(arch, "llama") != 0)
        return em_err(err, EM_ERR_UNSUPPORTED, "lm_model_load: %s: architecture '%s'; Ember runs 'llama'", path, arch);
    if ((st = get_int_key(g, path, "llama.embedding_length", &hp->n_embd, true, 0, 1 << 16, err)) ||
        (st = get_int_key(g, path, "llama.block_count", &hp->n_layer, true, 0, 1024, err)) ||
        (st = get_int_key(g, path, "llama.feed_forward_length", &hp->n_ff, true, 0, 1 << 20, err)) ||
        (st = get_int_key(g, path, "llama.attention.head_count", &hp->n_head, true, 0, 1024, err)) ||
        (st = get_int_key(g, path, "llama.attention.head_count_kv", &hp->n_head_kv, false, hp->n_head, 1024, err)) ||
        (st = get_int_key(g, path, "llama.context_length", &hp->n_ctx_train, false, 2048, 1 << 24, err)))
        return st;
    if (hp->n_embd % hp->n_head)
        return em_err(err, EM_ERR_FORMAT, "lm_model_load: %s: embedding_length %d not divisible by head_count %d", path, hp->n_embd, hp->n_head);
    if ((st = get_int_key(g, path, "llama.attention.key_length", &hp->head_dim, false, hp->n_embd / hp->n_head, 1024, err)) ||
        (st = get_int_key(g, path, "llama.rope.dimension_count", &hp->n_rot, false, hp->head_dim, 1024, err)))
        return st;
    if (hp->n_head % hp->n_head_kv)
        return em_err(err, EM_ERR_FORMAT, "lm_model_load: %s: head_count %d not a multiple of head_count_kv %d", path, hp->n_head, hp->n_head_kv);
    if (hp->head_dim % 2 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return em_err(err, EM_ERR_FORMAT, "lm_model_load: %s: head dim %d / rope dims %d not even or inconsistent", path, hp->head_dim, hp->n_rot);
    int64_t v;
    if (gguf_get_int(g, "llama.attention.value_length", &v, e) == EM_OK && v != hp->head_dim)
        return em_err(err, EM_ERR_UNSUPPORTED, "lm_model_load: %s: value_length %lld differs from key_length %d", path, (long long)v, hp->head_dim);
    if ((st = get_float_key(g, path, "llama.attention.layer_norm_rms_epsilon", &hp->rms_eps, 1e-5f, err)) ||
        (st = get_float_key(g, path, "llama.rope.freq_base", &hp->rope_base, 10000.0f, err)))
        return st;
    hp->rope_scale = 1.0f;
    const char *stype = NULL;
    if (gguf_get_str(g, "llama.rope.scaling.type", &stype, e) == EM_OK && strcmp(stype, "none") != 0) {
        if (strcmp(stype, "linear") != 0)
            return em_err(err, EM_ERR_UNSUPPORTED, "lm_model_load: %s: rope scaling '%s' (Ember supports none, linear)", path, stype);
        float factor;
        if ((st = get_float_key(g, path, "llama.rope.scaling.factor", &factor, 1.0f, err))) return st;
        hp->rope_scale = 1.0f / factor;
    }
    return EM_OK;
}

lm_model *lm_model_load(const char *path, em_backend *be, char *err) {
    lm_model *m = calloc(1, sizeof *m);
    if (!m) { em_err(err, EM_ERR_NOMEM, "lm_model_load: out of memory"); return NULL; }
    m->be = be;
    m->gguf = gguf_open(path, err);
    if (!m->gguf) goto fail;
    if (load_hparams(m, path, err) != EM_OK) goto fail;
    m->vocab = lm_vocab_load(m->gguf, err);
    if (!m->vocab) goto fail;

    lm_hparams *hp = &m->hp;
    const gguf_tensor_info *te = gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!te) { em_err(err, EM_ERR_FORMAT, "lm_model_load: %s: tensor token_embd.weight missing", path); goto fail; }
    hp->n_vocab = (int)te->ne[1];
    if (hp->n_vocab != lm_vocab_n_tokens(m->vocab)) {
        em_err(err, EM_ERR_FORMAT, "lm_model_load: %s: token_embd has %d rows but the vocabulary %d tokens", path,
               hp->n_vocab, lm_vocab_n_tokens(m->vocab));
        goto fail;
    }
    const int q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    if (bind_tensor(m, path, "token_embd.weight", hp->n_embd, hp->n_vocab, false, &m->tok_embd, err) ||
        bind_tensor(m, path, "output_norm.weight", hp->n_embd, 1, true, &m->output_norm, err))
        goto fail;
    if (gguf_find_tensor(m->gguf, "output.weight")) {
        if (bind_tensor(m, path, "output.weight", hp->n_embd, hp->n_vocab, false, &m->output, err)) goto fail;
    } else {
        m->output = m->tok_embd;
        m->tied = true;
    }
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) { em_err(err, EM_ERR_NOMEM, "lm_model_load: out of memory"); goto fail; }
    for (int l = 0; l < hp->n_layer; l++) {
        lm_layer *L = &m->layers[l];
        char name[96];
#define BIND(field, suffix, ne0, ne1, f32)                                           \
        snprintf(name, sizeof name, "blk.%d." suffix ".weight", l);                  \
        if (bind_tensor(m, path, name, ne0, ne1, f32, &L->field, err)) goto fail;
        BIND(attn_norm, "attn_norm", hp->n_embd, 1, true)
        BIND(wq, "attn_q", hp->n_embd, q_dim, false)
        BIND(wk, "attn_k", hp->n_embd, kv_dim, false)
        BIND(wv, "attn_v", hp->n_embd, kv_dim, false)
        BIND(wo, "attn_output", q_dim, hp->n_embd, false)
        BIND(ffn_norm, "ffn_norm", hp->n_embd, 1, true)
        BIND(w_gate, "ffn_gate", hp->n_embd, hp->n_ff, false)
        BIND(w_up, "ffn_up", hp->n_embd, hp->n_ff, false)
        BIND(w_down, "ffn_down", hp->n_ff, hp->n_embd, false)
#undef BIND
    }
    char e[EM_ERR_LEN];
    if (gguf_get_str(m->gguf, "general.name", &m->name, e) != EM_OK) m->name = "";
    if (gguf_get_str(m->gguf, "tokenizer.chat_template", &m->chat_template, e) != EM_OK) m->chat_template = NULL;
    return m;
fail:
    lm_model_free(m);
    return NULL;
}

void lm_model_free(lm_model *m) {
    if (!m) return;
    /* Weights are wrapped views of the mapping: nothing to release per tensor. */
    free(m->layers);
    lm_vocab_free(m->vocab);
    gguf_close(m->gguf);
    free(m);
}

size_t lm_model_weight_bytes(const lm_model *m) {
    size_t n = 0;
    for (int64_t i = 0; i < gguf_n_tensors(m->gguf); i++) n += gguf_tensor(m->gguf, i)->nbytes;
    return n;
}
