/* model.h - a LLaMA-architecture decoder (general.architecture = llama, the
 * SmolLM2 family first) loaded from GGUF, and a context that runs it.
 *
 * lm_model holds the hyperparameters, the vocabulary and the weights as
 * backend tensors; on the CPU they point into the mapped file (no copy).
 * lm_ctx holds what one conversation needs: the KV cache (sized once, from the
 * context length asked for), the activation buffers (sized once, for n_batch
 * tokens), the logits. Decoding allocates nothing in steady state.
 *
 * Ownership: lm_model_load borrows the backend (which must outlive the
 * model); lm_ctx_create borrows the model and backend. Free with
 * lm_ctx_free / lm_model_free (NULL is a no-op), contexts before their model.
 * Threads: a context is used by one thread at a time; a model may be shared
 * by contexts that use one backend from one thread. */
#ifndef EMBER_LM_MODEL_H
#define EMBER_LM_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/backend.h"
#include "../core/gguf.h"
#include "../core/gguf_bind.h"
#include "vocab.h"

typedef struct lm_hparams {
    int n_vocab;      /* rows of token_embd */
    int n_ctx_train;  /* llama.context_length */
    int n_embd;       /* llama.embedding_length */
    int n_layer;      /* llama.block_count */
    int n_ff;         /* llama.feed_forward_length */
    int n_head;       /* llama.attention.head_count */
    int n_head_kv;    /* llama.attention.head_count_kv (GQA), default n_head */
    int head_dim;     /* n_embd / n_head, or llama.attention.key_length */
    int n_rot;        /* llama.rope.dimension_count, default head_dim */
    float rms_eps;    /* llama.attention.layer_norm_rms_epsilon */
    float rope_base;  /* llama.rope.freq_base, default 10000 */
    float rope_scale; /* 1/llama.rope.scaling.factor for linear scaling, else 1 */
} lm_hparams;

typedef struct lm_layer {
    em_tensor attn_norm; /* (n_embd) f32 */
    em_tensor wq;        /* (n_head*head_dim rows, n_embd) */
    em_tensor wk;        /* (n_head_kv*head_dim rows, n_embd) */
    em_tensor wv;        /* (n_head_kv*head_dim rows, n_embd) */
    em_tensor wo;        /* (n_embd rows, n_head*head_dim) */
    em_tensor ffn_norm;  /* (n_embd) f32 */
    em_tensor w_gate;    /* (n_ff rows, n_embd) */
    em_tensor w_up;      /* (n_ff rows, n_embd) */
    em_tensor w_down;    /* (n_embd rows, n_ff) */
} lm_layer;

typedef struct lm_model {
    gguf_ctx *gguf;       /* the mapped file; weights point into it */
    em_binder *bind;      /* what bound the weights; freed before gguf */
    em_backend *be;       /* borrowed */
    lm_vocab *vocab;
    lm_hparams hp;
    em_tensor tok_embd;   /* (n_vocab rows, n_embd) */
    em_tensor output_norm;/* (n_embd) f32 */
    em_tensor output;     /* (n_vocab rows, n_embd); token_embd when tied */
    bool tied;            /* output is token_embd */
    lm_layer *layers;     /* n_layer */
    const char *name;          /* general.name or "" */
    const char *chat_template; /* tokenizer.chat_template or NULL */
} lm_model;

lm_model *lm_model_load(const char *path, em_backend *be, char *err);
void lm_model_free(lm_model *m);
/* Bytes of weights (as stored). */
size_t lm_model_weight_bytes(const lm_model *m);

typedef struct lm_ctx_params {
    int n_ctx;            /* positions the KV cache holds (0: min(n_ctx_train, 4096)) */
    int n_batch;          /* tokens evaluated per forward pass (0: 512) */
    enum em_type kv_type; /* EM_TYPE_F16 (default, as llama.cpp) or EM_TYPE_F32 */
} lm_ctx_params;

typedef struct lm_ctx lm_ctx;

lm_ctx *lm_ctx_create(const lm_model *m, const lm_ctx_params *p, char *err);
void lm_ctx_free(lm_ctx *c);

/* Evaluate n tokens at positions n_past.. and append them to the KV cache;
 * afterwards lm_logits gives the next-token logits after the last one.
 * Fails with EM_ERR_RANGE (cache unchanged) when they do not fit. */
ember_status lm_decode(lm_ctx *c, const int32_t *tokens, int64_t n, char *err);
/* The same for n rows of input embeddings (n x n_embd floats, row-major) in
 * place of tokens: what a vision or state encoder hands the decoder. */
ember_status lm_decode_embd(lm_ctx *c, const float *embd, int64_t n, char *err);
/* Both in one call (a prompt of text, image and state rows): position i is
 * row embd_row[i] of embd (n_rows x n_embd floats) where embd_row[i] >= 0,
 * else token tokens[i]. Each call streams all the weights once, so one call
 * of n positions costs less than one per run of tokens or rows. Fails with
 * EM_ERR_ARG (a token outside the vocabulary, a row >= n_rows) or
 * EM_ERR_RANGE before evaluating anything. */
ember_status lm_decode_mixed(lm_ctx *c, const int32_t *tokens, const int64_t *embd_row, const float *embd,
                             int64_t n_rows, int64_t n, char *err);
const float *lm_logits(const lm_ctx *c); /* n_vocab floats */
int64_t lm_n_past(const lm_ctx *c);
int64_t lm_n_ctx(const lm_ctx *c);
const lm_model *lm_ctx_model(const lm_ctx *c);
/* What position pos of the cache holds (lm_prompt_key's key of the token or
 * embedding row evaluated there, with LM_KEY_ALONE set when it was evaluated
 * in a call of one row); 0 for pos >= n_past. */
uint64_t lm_ctx_key(const lm_ctx *c, int64_t pos);
/* Forget positions >= n (n <= n_past): the next decode continues at n. */
void lm_ctx_truncate(lm_ctx *c, int64_t n);
/* Bytes this context allocated (KV cache + activations + logits). */
size_t lm_ctx_bytes(const lm_ctx *c);

#endif
