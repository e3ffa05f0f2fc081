/* decoder.c - the LLaMA forward pass over a KV cache, written once against
 * the backend interface (backend.h), so it runs on any backend.
 *
 * A step reads, for each of n tokens at positions p0..p0+n-1:
 *   x = embed(token)
 *   per layer: h = rmsnorm(x) ; q,k,v = h·Wq, h·Wk, h·Wv ; rope(q, k)
 *              cache[k,v] at p ; x += attention(q, cache)·Wo
 *              h = rmsnorm(x) ; x += (silu(h·Wgate) * h·Wup)·Wdown
 *   logits = rmsnorm(x_last)·Wout
 * Batches larger than n_batch are evaluated in n_batch slices. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "prompt.h"

struct lm_ctx {
    const lm_model *m;
    em_backend *be;
    int64_t n_ctx, n_batch, n_past;
    em_tensor *k_cache, *v_cache; /* per layer: (n_ctx rows, n_head_kv*head_dim) */
    /* activations, for n_batch rows */
    em_tensor x;      /* residual stream (n, n_embd) */
    em_tensor h;      /* normed input (n, n_embd) */
    em_tensor q;      /* (n, n_head*head_dim) */
    em_tensor k, v;   /* (n, n_head_kv*head_dim) */
    em_tensor att;    /* attention output (n, n_head*head_dim) */
    em_tensor proj;   /* Wo / Wdown output (n, n_embd) */
    em_tensor gate, up; /* (n, n_ff) */
    em_tensor ids, pos; /* I32 (n) */
    em_tensor logits_t; /* (1, n_vocab) */
    float *logits;    /* host copy */
    int32_t *posv;    /* host positions of a batch (n_batch) */
    int32_t *idv;     /* host token ids of a mixed batch (n_batch) */
    uint64_t *keys;   /* n_ctx: what each cached position holds (lm_prompt_key) */
    size_t bytes;
};

static ember_status alloc_flags(lm_ctx *c, em_tensor *t, enum em_type type, int64_t ne0, int64_t ne1,
                                const char *name, uint32_t flags, char *err) {
    *t = em_tensor_make(type, ne0, ne1, 1, 1);
    t->name = name;
    t->flags = flags;
    ember_status st = em_backend_alloc(c->be, t, err);
    if (st == EM_OK) c->bytes += em_tensor_nbytes(t);
    return st;
}

static ember_status alloc_act(lm_ctx *c, em_tensor *t, enum em_type type, int64_t ne0, int64_t ne1,
                              const char *name, char *err) {
    return alloc_flags(c, t, type, ne0, ne1, name, 0, err);
}

lm_ctx *lm_ctx_create(const lm_model *m, const lm_ctx_params *p, char *err) {
    const lm_hparams *hp = &m->hp;
    lm_ctx_params dp = {0};
    if (!p) p = &dp;
    lm_ctx *c = calloc(1, sizeof *c);
    if (!c) { em_err(err, EM_ERR_NOMEM, "lm_ctx_create: out of memory"); return NULL; }
    c->m = m;
    c->be = m->be;
    c->n_ctx = p->n_ctx > 0 ? p->n_ctx : (hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096);
    c->n_batch = p->n_batch > 0 ? p->n_batch : 512;
    if (c->n_batch > c->n_ctx) c->n_batch = c->n_ctx;
    if (p->n_ctx < 0 || p->n_ctx > (1 << 24) || p->n_batch < 0) {
        em_err(err, EM_ERR_ARG, "lm_ctx_create: context %d / batch %d out of range", p->n_ctx, p->n_batch);
        goto fail;
    }
    enum em_type kvt = p->kv_type == EM_TYPE_F32 ? EM_TYPE_F32 : EM_TYPE_F16;
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim, kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    const int64_t nb = c->n_batch;

    c->k_cache = calloc((size_t)hp->n_layer, sizeof *c->k_cache);
    c->v_cache = calloc((size_t)hp->n_layer, sizeof *c->v_cache);
    if (!c->k_cache || !c->v_cache) { em_err(err, EM_ERR_NOMEM, "lm_ctx_create: out of memory"); goto fail; }
    for (int l = 0; l < hp->n_layer; l++) {
        if (alloc_flags(c, &c->k_cache[l], kvt, kv_dim, c->n_ctx, "k_cache", EM_TENSOR_GROWS, err) ||
            alloc_flags(c, &c->v_cache[l], kvt, kv_dim, c->n_ctx, "v_cache", EM_TENSOR_GROWS, err)) {
            /* say what the asked context costs, so the fix is clear */
            char e[EM_ERR_LEN];
            snprintf(e, sizeof e, "%s", err);
            const double need = 2.0 * hp->n_layer * (double)c->n_ctx * (double)em_row_bytes(kvt, kv_dim) / 1048576.0;
            em_err(err, EM_ERR_NOMEM, "lm_ctx_create: the KV cache for a context of %lld positions needs %.1f MiB "
                   "(%d layers, K and V of %lld %s values per position): %s",
                   (long long)c->n_ctx, need, hp->n_layer, (long long)kv_dim, em_type_name(kvt), e);
            goto fail;
        }
    }
    if (alloc_act(c, &c->x, EM_TYPE_F32, hp->n_embd, nb, "x", err) ||
        alloc_act(c, &c->h, EM_TYPE_F32, hp->n_embd, nb, "h", err) ||
        alloc_act(c, &c->q, EM_TYPE_F32, q_dim, nb, "q", err) ||
        alloc_act(c, &c->k, EM_TYPE_F32, kv_dim, nb, "k", err) ||
        alloc_act(c, &c->v, EM_TYPE_F32, kv_dim, nb, "v", err) ||
        alloc_act(c, &c->att, EM_TYPE_F32, q_dim, nb, "att", err) ||
        alloc_act(c, &c->proj, EM_TYPE_F32, hp->n_embd, nb, "proj", err) ||
        alloc_act(c, &c->gate, EM_TYPE_F32, hp->n_ff, nb, "gate", err) ||
        alloc_act(c, &c->up, EM_TYPE_F32, hp->n_ff, nb, "up", err) ||
        /* written or read by the host every step */
        alloc_flags(c, &c->ids, EM_TYPE_I32, nb, 1, "ids", EM_TENSOR_HOST_IO, err) ||
        alloc_flags(c, &c->pos, EM_TYPE_I32, nb, 1, "pos", EM_TENSOR_HOST_IO, err) ||
        alloc_flags(c, &c->logits_t, EM_TYPE_F32, hp->n_vocab, 1, "logits", EM_TENSOR_HOST_IO, err))
        goto fail;
    c->logits = calloc((size_t)hp->n_vocab, sizeof(float));
    c->posv = calloc((size_t)nb, sizeof(int32_t));
    c->idv = calloc((size_t)nb, sizeof(int32_t));
    c->keys = calloc((size_t)c->n_ctx, sizeof(uint64_t));
    if (!c->logits || !c->posv || !c->idv || !c->keys) {
        em_err(err, EM_ERR_NOMEM, "lm_ctx_create: out of memory");
        goto fail;
    }
    c->bytes += (size_t)hp->n_vocab * sizeof(float);
    return c;
fail:
    lm_ctx_free(c);
    return NULL;
}

void lm_ctx_free(lm_ctx *c) {
    if (!c) return;
    em_backend *be = c->be;
    for (int l = 0; l < c->m->hp.n_layer; l++) {
        if (c->k_cache) em_backend_release(be, &c->k_cache[l]);
        if (c->v_cache) em_backend_release(be, &c->v_cache[l]);
    }
    em_tensor *acts[] = {&c->x, &c->h, &c->q, &c->k, &c->v, &c->att, &c->proj,
                         &c->gate, &c->up, &c->ids, &c->pos, &c->logits_t};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) em_backend_release(be, acts[i]);
    free(c->k_cache);
    free(c->v_cache);
    free(c->logits);
    free(c->posv);
    free(c->idv);
    free(c->keys);
    free(c);
}

/* n rows of an activation buffer, viewed as a 2-D tensor. */
static em_tensor rows(const em_tensor *t, int64_t n) { return em_tensor_rows(t, 0, n); }

/* x += a . w^T: one op where the backend fuses it, else through proj. */
static void residual_product(em_backend *be, em_tensor *x, em_tensor *proj, const em_tensor *w, const em_tensor *a) {
    if (be->ops->matmul_acc) {
        be->ops->matmul_acc(be, x, w, a);
    } else {
        be->ops->matmul(be, proj, w, a);
        be->ops->add(be, x, x, proj);
    }
}

/* What a call evaluates: position i is token tokens[i], or, where row is
 * given and row[i] >= 0, row row[i] of embd (n_embd floats) in place of the
 * token's lookup; tokens NULL: every position i is row i of embd. */
typedef struct lm_inputs {
    const int32_t *tokens;
    const int64_t *row;
    const float *embd;
} lm_inputs;

static bool in_is_row(const lm_inputs *in, int64_t i) { return !in->tokens || (in->row && in->row[i] >= 0); }
static const float *in_row(const lm_inputs *in, int64_t i, int64_t d) {
    return in->embd + (size_t)(in->tokens ? in->row[i] : i) * (size_t)d;
}

/* Positions [i0, i0 + n) of in into the n rows of x: the token lookup for
 * the whole slice (an embedding position looks up token 0, then is
 * overwritten), then each run of consecutive embedding rows in one upload
 * (an upload waits for the ops listed before it, so it lands after the
 * lookup on every backend). One call for a prompt of text and image rows,
 * instead of one per run: each call streams all the weights once. */
static ember_status embed_inputs(lm_ctx *c, em_tensor *x, const lm_inputs *in, int64_t i0, int64_t n, char *err) {
    const lm_model *m = c->m;
    em_backend *be = c->be;
    const int64_t d = m->hp.n_embd;
    ember_status st;
    if (in->tokens) {
        bool any = false;
        for (int64_t i = 0; i < n; i++) {
            const bool r = in_is_row(in, i0 + i);
            c->idv[i] = r ? 0 : in->tokens[i0 + i];
            any |= !r;
        }
        if (any) {
            em_tensor ids = c->ids;
            ids.ne[0] = n;
            if ((st = be->ops->upload(be, &ids, c->idv, 0, (size_t)n * sizeof(int32_t), err))) return st;
            be->ops->get_rows(be, x, &m->tok_embd, &ids);
        }
    }
    for (int64_t i = 0, j; i < n; i = j) {
        j = i + 1;
        if (!in_is_row(in, i0 + i)) continue;
        const float *r0 = in_row(in, i0 + i, d);
        while (j < n && in_is_row(in, i0 + j) && in_row(in, i0 + j, d) == r0 + (j - i) * d) j++;
        if ((st = be->ops->upload(be, x, r0, (size_t)(i * d) * sizeof(float), (size_t)((j - i) * d) * sizeof(float),
                                  err)))
            return st;
    }
    return EM_OK;
}

/* Evaluate positions [i0, i0 + n) of in (n <= n_batch) at cache positions
 * c->n_past on. */
static ember_status forward(lm_ctx *c, const lm_inputs *in, int64_t i0, int64_t n, char *err) {
    const lm_model *m = c->m;
    const lm_hparams *hp = &m->hp;
    em_backend *be = c->be;
    const em_backend_ops *op = be->ops;
    const int64_t p0 = c->n_past;
    ember_status st;

    int32_t *posv = c->posv;
    for (int64_t i = 0; i < n; i++) posv[i] = (int32_t)(p0 + i);
    em_tensor pos = c->pos;
    pos.ne[0] = n;
    if ((st = op->upload(be, &pos, posv, 0, (size_t)n * sizeof(int32_t), err))) return st;

    em_tensor x = rows(&c->x, n), h = rows(&c->h, n), q = rows(&c->q, n), k = rows(&c->k, n),
              v = rows(&c->v, n), att = rows(&c->att, n), proj = rows(&c->proj, n),
              gate = rows(&c->gate, n), up = rows(&c->up, n);
    /* q and k seen as (head_dim, heads, n) for rope */
    em_tensor q3 = em_tensor_make(EM_TYPE_F32, hp->head_dim, hp->n_head, n, 1);
    em_tensor k3 = em_tensor_make(EM_TYPE_F32, hp->head_dim, hp->n_head_kv, n, 1);
    q3.data = q.data; q3.extra = q.extra; q3.offs = q.offs;
    k3.data = k.data; k3.extra = k.extra; k3.offs = k.offs;
    const em_rope_params rp = {hp->n_rot, hp->rope_base, hp->rope_scale};
    const em_attn_params ap = {hp->n_head, hp->n_head_kv, hp->head_dim, p0, p0 + n,
                               1.0f / sqrtf((float)hp->head_dim)};

    if ((st = embed_inputs(c, &x, in, i0, n, err))) return st;
    for (int l = 0; l < hp->n_layer; l++) {
        const lm_layer *L = &m->layers[l];
        /* attention */
        op->rms_norm(be, &h, &x, &L->attn_norm, hp->rms_eps);
        em_tensor *qkv[3] = {&q, &k, &v};
        const em_tensor *wqkv[3] = {&L->wq, &L->wk, &L->wv};
        op->matmul_multi(be, 3, qkv, wqkv, &h);
        op->rope(be, &q3, &pos, &rp);
        op->rope(be, &k3, &pos, &rp);
        op->kv_store(be, &c->k_cache[l], &k, p0);
        op->kv_store(be, &c->v_cache[l], &v, p0);
        op->attention(be, &att, &q, &c->k_cache[l], &c->v_cache[l], &ap);
        residual_product(be, &x, &proj, &L->wo, &att); /* x += att Wo */
        if (l == hp->n_layer - 1 && n > 1) {
            /* Only the last row's logits are wanted, and the last layer's
             * feed-forward reads nothing of the other rows: skip them, as
             * llama.cpp does (whose single-row products then sum as a
             * decode step's do, so ours must too). */
            x = em_tensor_rows(&c->x, n - 1, 1);
            h = rows(&c->h, 1), gate = rows(&c->gate, 1), up = rows(&c->up, 1), proj = rows(&c->proj, 1);
        }
        /* feed-forward (SwiGLU) */
        op->rms_norm(be, &h, &x, &L->ffn_norm, hp->rms_eps);
        em_tensor *gu[2] = {&gate, &up};
        const em_tensor *wgu[2] = {&L->w_gate, &L->w_up};
        op->matmul_multi(be, 2, gu, wgu, &h);
        op->swiglu(be, &gate, &gate, &up);
        residual_product(be, &x, &proj, &L->w_down, &gate); /* x += gate Wdown */
    }
    /* logits of the last token only */
    em_tensor xl = em_tensor_rows(&c->x, n - 1, 1), hl = em_tensor_rows(&c->h, 0, 1);
    op->rms_norm(be, &hl, &xl, &m->output_norm, hp->rms_eps);
    op->matmul(be, &c->logits_t, &m->output, &hl);
    if ((st = em_backend_sync(be, err))) return st;
    return op->download(be, &c->logits_t, c->logits, 0, (size_t)hp->n_vocab * sizeof(float), err);
}

/* Evaluate n inputs (tokens or embedding rows) in n_batch slices. A slice
 * of one row goes through the single-row kernels (decode's), which sum in
 * another order than the multi-row ones: so a prompt of two rows or more is
 * never left with a one-row slice (the one before gives a row up), and a
 * position evaluated alone is marked in its key (LM_KEY_ALONE) so that a
 * later prompt does not take it for one evaluated with the rest
 * (lm/generate.h: prefix reuse). */
static ember_status decode_slices(lm_ctx *c, const lm_inputs *in, int64_t n, char *err) {
    const int64_t start = c->n_past, d = c->m->hp.n_embd;
    for (int64_t i = 0, nb; i < n; i += nb) {
        nb = n - i < c->n_batch ? n - i : c->n_batch;
        if (n - i - nb == 1 && nb > 2) nb--;
        const uint64_t alone = nb == 1 ? LM_KEY_ALONE : 0; /* a decode step, or --batch 1 */
        for (int64_t r = i; r < i + nb; r++) {
            const uint64_t key = in_is_row(in, r) ? lm_key_embd(in_row(in, r, d), d) : lm_key_token(in->tokens[r]);
            c->keys[start + r] = key | alone;
        }
        ember_status st = forward(c, in, i, nb, err);
        if (st != EM_OK) {
            c->n_past = start; /* nothing of a failed call stays in the cache */
            return st;
        }
        c->n_past += nb;
    }
    return EM_OK;
}

ember_status lm_decode(lm_ctx *c, const int32_t *tokens, int64_t n, char *err) {
    if (n <= 0) return em_err(err, EM_ERR_ARG, "lm_decode: %lld tokens; expected at least one", (long long)n);
    if (c->n_past + n > c->n_ctx)
        return em_err(err, EM_ERR_RANGE, "lm_decode: context full: %lld + %lld tokens exceed the context of %lld",
                      (long long)c->n_past, (long long)n, (long long)c->n_ctx);
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->m->hp.n_vocab)
            return em_err(err, EM_ERR_ARG, "lm_decode: token %d at index %lld outside the vocabulary (0..%d)",
                          tokens[i], (long long)i, c->m->hp.n_vocab - 1);
    const lm_inputs in = {tokens, NULL, NULL};
    return decode_slices(c, &in, n, err);
}

ember_status lm_decode_embd(lm_ctx *c, const float *embd, int64_t n, char *err) {
    if (n <= 0 || !embd) return em_err(err, EM_ERR_ARG, "lm_decode_embd: %lld rows; expected at least one", (long long)n);
    if (c->n_past + n > c->n_ctx)
        return em_err(err, EM_ERR_RANGE, "lm_decode_embd: context full: %lld + %lld positions exceed the context of %lld",
                      (long long)c->n_past, (long long)n, (long long)c->n_ctx);
    const lm_inputs in = {NULL, NULL, embd};
    return decode_slices(c, &in, n, err);
}

ember_status lm_decode_mixed(lm_ctx *c, const int32_t *tokens, const int64_t *embd_row, const float *embd,
                             int64_t n_rows, int64_t n, char *err) {
    if (n <= 0 || !tokens || !embd_row)
        return em_err(err, EM_ERR_ARG, "lm_decode_mixed: %lld positions; expected at least one", (long long)n);
    if (c->n_past + n > c->n_ctx)
        return em_err(err, EM_ERR_RANGE, "lm_decode_mixed: context full: %lld + %lld positions exceed the context of %lld",
                      (long long)c->n_past, (long long)n, (long long)c->n_ctx);
    for (int64_t i = 0; i < n; i++) {
        if (embd_row[i] >= n_rows || (embd_row[i] >= 0 && !embd))
            return em_err(err, EM_ERR_ARG, "lm_decode_mixed: position %lld takes embedding row %lld of %lld", (long long)i,
                          (long long)embd_row[i], (long long)n_rows);
        if (embd_row[i] < 0 && (tokens[i] < 0 || tokens[i] >= c->m->hp.n_vocab))
            return em_err(err, EM_ERR_ARG, "lm_decode_mixed: token %d at index %lld outside the vocabulary (0..%d)",
                          tokens[i], (long long)i, c->m->hp.n_vocab - 1);
    }
    const lm_inputs in = {tokens, embd_row, embd};
    return decode_slices(c, &in, n, err);
}

const float *lm_logits(const lm_ctx *c) { return c->logits; }
int64_t lm_n_past(const lm_ctx *c) { return c->n_past; }
int64_t lm_n_ctx(const lm_ctx *c) { return c->n_ctx; }
const lm_model *lm_ctx_model(const lm_ctx *c) { return c->m; }
uint64_t lm_ctx_key(const lm_ctx *c, int64_t pos) { return pos >= 0 && pos < c->n_past ? c->keys[pos] : 0; }
size_t lm_ctx_bytes(const lm_ctx *c) { return c->bytes; }

void lm_ctx_truncate(lm_ctx *c, int64_t n) {
    if (n >= 0 && n < c->n_past) c->n_past = n;
}
