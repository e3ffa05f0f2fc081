/* model.c - loading a llama-architecture GGUF: hyperparameters from the
 * `llama.*` keys, every tensor checked for presence, type and shape before
 * use, weights wrapped (not copied) into the backend. */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ember_status load_hparams(lm_model *m, const char *path, char *err) {
    em_binder *b = m->bind;
    lm_hparams *hp = &m->hp;
    ember_status st;
    const char *arch = NULL;
    char e[EM_ERR_LEN];
    if (gguf_get_str(m->gguf, "general.architecture", &arch, e) != EM_OK)
        return em_err(err, EM_ERR_FORMAT, "lm_model_load: %s: general.architecture missing; is this a model file?", path);
    if (strcmp(arch, "llama") != 0)
        return em_err(err, EM_ERR_UNSUPPORTED, "lm_model_load: %s: architecture '%s'; Ember runs 'llama'", path, arch);
    if ((st = em_bind_key_int(b, "llama.embedding_length", true, 1, 1 << 16, 0, &hp->n_embd, err)) ||
        (st = em_bind_key_int(b, "llama.block_count", true, 1, 1024, 0, &hp->n_layer, err)) ||
        (st = em_bind_key_int(b, "llama.feed_forward_length", true, 1, 1 << 20, 0, &hp->n_ff, err)) ||
        (st = em_bind_key_int(b, "llama.attention.head_count", true, 1, 1024, 0, &hp->n_head, err)) ||
        (st = em_bind_key_int(b, "llama.attention.head_count_kv", false, 1, 1024, hp->n_head, &hp->n_head_kv, err)) ||
        (st = em_bind_key_int(b, "llama.context_length", false, 1, 1 << 24, 2048, &hp->n_ctx_train, err)))
        return st;
    if (hp->n_embd % hp->n_head)
        return em_err(err, EM_ERR_FORMAT, "lm_model_load: %s: embedding_length %d not divisible by head_count %d", path, hp->n_embd, hp->n_head);
    if ((st = em_bind_key_int(b, "llama.attention.key_length", false, 1, 1024, hp->n_embd / hp->n_head, &hp->head_dim, err)) ||
        (st = em_bind_key_int(b, "llama.rope.dimension_count", false, 1, 1024, hp->head_dim, &hp->n_rot, err)))
        return st;
    if (hp->n_head % hp->n_head_kv)
        return em_err(err, EM_ERR_FORMAT, "lm_model_load: %s: head_count %d not a multiple of head_count_kv %d", path, hp->n_head, hp->n_head_kv);
    if (hp->head_dim % 2 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return em_err(err, EM_ERR_FORMAT, "lm_model_load: %s: head dim %d / rope dims %d not even or inconsistent", path, hp->head_dim, hp->n_rot);
    int64_t v;
    if (gguf_get_int(m->gguf, "llama.attention.value_length", &v, e) == EM_OK && v != hp->head_dim)
        return em_err(err, EM_ERR_UNSUPPORTED, "lm_model_load: %s: value_length %lld differs from key_length %d", path, (long long)v, hp->head_dim);
    if ((st = em_bind_key_f32(b, "llama.attention.layer_norm_rms_epsilon", false, 0, 1e30, 1e-5f, &hp->rms_eps, err)) ||
        (st = em_bind_key_f32(b, "llama.rope.freq_base", false, 0, 1e30, 10000.0f, &hp->rope_base, err)))
        return st;
    hp->rope_scale = 1.0f;
    const char *stype = NULL;
    if (gguf_get_str(m->gguf, "llama.rope.scaling.type", &stype, e) == EM_OK && strcmp(stype, "none") != 0) {
        if (strcmp(stype, "linear") != 0)
            return em_err(err, EM_ERR_UNSUPPORTED, "lm_model_load: %s: rope scaling '%s' (Ember supports none, linear)", path, stype);
        float factor;
        if ((st = em_bind_key_f32(b, "llama.rope.scaling.factor", false, 0, 1e30, 1.0f, &factor, err))) return st;
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
    m->bind = em_binder_create(m->gguf, be, path, "lm_model_load", NULL, err);
    if (!m->bind) goto fail;
    if (load_hparams(m, path, err) != EM_OK) goto fail;
    m->vocab = lm_vocab_load(m->gguf, err);
    if (!m->vocab) goto fail;

    lm_hparams *hp = &m->hp;
    em_binder *b = m->bind;
    const gguf_tensor_info *te = em_bind_find(b, "token_embd.weight", err);
    if (!te) goto fail;
    hp->n_vocab = (int)te->ne[1];
    if (hp->n_vocab != lm_vocab_n_tokens(m->vocab)) {
        em_err(err, EM_ERR_FORMAT, "lm_model_load: %s: token_embd has %d rows but the vocabulary %d tokens", path,
               hp->n_vocab, lm_vocab_n_tokens(m->vocab));
        goto fail;
    }
    const int q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    /* untied, the embedding is only a table of rows (em_bind_table) */
    const bool untied = gguf_find_tensor(m->gguf, "output.weight") != NULL;
    if ((untied ? em_bind_table : em_bind_mat)(b, "token_embd.weight", hp->n_embd, hp->n_vocab, &m->tok_embd, err) ||
        em_bind_vec(b, "output_norm.weight", hp->n_embd, &m->output_norm, err))
        goto fail;
    if (untied) {
        if (em_bind_mat(b, "output.weight", hp->n_embd, hp->n_vocab, &m->output, err)) goto fail;
    } else {
        m->output = m->tok_embd;
        m->tied = true;
    }
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) { em_err(err, EM_ERR_NOMEM, "lm_model_load: out of memory"); goto fail; }
    for (int l = 0; l < hp->n_layer; l++) {
        lm_layer *L = &m->layers[l];
        char name[96];
#define NM(suffix) (snprintf(name, sizeof name, "blk.%d." suffix ".weight", l), name)
        if (em_bind_vec(b, NM("attn_norm"), hp->n_embd, &L->attn_norm, err) ||
            em_bind_mat(b, NM("attn_q"), hp->n_embd, q_dim, &L->wq, err) ||
            em_bind_mat(b, NM("attn_k"), hp->n_embd, kv_dim, &L->wk, err) ||
            em_bind_mat(b, NM("attn_v"), hp->n_embd, kv_dim, &L->wv, err) ||
            em_bind_mat(b, NM("attn_output"), q_dim, hp->n_embd, &L->wo, err) ||
            em_bind_vec(b, NM("ffn_norm"), hp->n_embd, &L->ffn_norm, err) ||
            em_bind_mat(b, NM("ffn_gate"), hp->n_embd, hp->n_ff, &L->w_gate, err) ||
            em_bind_mat(b, NM("ffn_up"), hp->n_embd, hp->n_ff, &L->w_up, err) ||
            em_bind_mat(b, NM("ffn_down"), hp->n_ff, hp->n_embd, &L->w_down, err))
            goto fail;
#undef NM
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
    /* Weights are wrapped views of the mapping (or in the backend's weight
     * arena): the binder releases only what it allocated. */
    em_binder_free(m->bind);
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
