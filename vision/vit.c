/* vit.c - SigLIP on the backend interface, then the Idefics3 connector.
 *
 * The patch embedding is a convolution with stride = kernel = P, i.e. one
 * product per patch: each patch's 3*P*P pixels (channel, row, column: the
 * order of the conv kernel's dims in the file) against the kernel read as a
 * (D, 3*P*P) matrix. Gathering patches (im2col) is a copy on the host.
 *
 * The host reads and writes three tensors: the patches, the encoder's output
 * (for the connector's shuffle) and the shuffled features. Where the backend
 * exposes them (the CPU's are host memory) that happens in place; otherwise
 * through host buffers and upload/download. In place saves four 3 MiB copies
 * a tile, 9 MiB of memory, and the first tile's faults on that memory (~45 ms
 * on the 2-core development VM, where a fault costs ~20 us). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vit.h"

struct vision_vit {
    const vision_mmproj *mp;
    em_backend *be;
    em_tensor inp;           /* (n, 3*P*P) gathered patches */
    em_tensor x, h;          /* (n, D) residual stream, normed input */
    em_tensor q, k, v, att;  /* (n, D) */
    em_tensor ff;            /* (n, FF) */
    em_tensor shuf;          /* (T, D*s*s) shuffled features */
    em_tensor tok;           /* (T, n_embd) */
    float *host_patches;     /* n * 3*P*P: inp's memory, or a staging copy */
    float *host_feats;       /* n * D: h's memory after the last layer norm, or a copy */
    float *host_shuf;        /* T * D*s*s: shuf's memory, or a staging copy */
    bool own_patches, own_feats, own_shuf; /* staging buffers, freed here */
    size_t bytes;
};

static ember_status act(vision_vit *v, em_tensor *t, int64_t cols, int64_t rows, const char *name, uint32_t flags, char *err) {
    *t = em_tensor_make(EM_TYPE_F32, cols, rows, 1, 1);
    t->name = name;
    t->flags = flags;
    ember_status st = em_backend_alloc(v->be, t, err);
    if (st == EM_OK) v->bytes += em_tensor_nbytes(t);
    return st;
}

/* t's memory where the host may use it in place, else a staging buffer of
 * t's size (*own set: freed with the encoder); NULL when out of memory. */
static float *host_view(vision_vit *v, const em_tensor *t, bool *own) {
    float *p = em_backend_host_ptr(v->be, t);
    if (p) return p;
    *own = true;
    return malloc(em_tensor_nbytes(t));
}

vision_vit *vision_vit_create(const vision_mmproj *mp, char *err) {
    const vision_hparams *hp = &mp->hp;
    vision_vit *v = calloc(1, sizeof *v);
    if (!v) { em_err(err, EM_ERR_NOMEM, "vision_vit_create: out of memory"); return NULL; }
    v->mp = mp;
    v->be = mp->be;
    const int64_t n = hp->n_patches, D = hp->n_embd, P = hp->patch_size, T = hp->tokens_per_tile;
    const int64_t S2D = (int64_t)D * hp->scale_factor * hp->scale_factor;
    if (act(v, &v->inp, 3 * P * P, n, "vit_inp", EM_TENSOR_HOST_IO, err) || act(v, &v->x, D, n, "vit_x", 0, err) ||
        act(v, &v->h, D, n, "vit_h", 0, err) || act(v, &v->q, D, n, "vit_q", 0, err) ||
        act(v, &v->k, D, n, "vit_k", 0, err) || act(v, &v->v, D, n, "vit_v", 0, err) ||
        act(v, &v->att, D, n, "vit_att", 0, err) || act(v, &v->ff, hp->n_ff, n, "vit_ff", 0, err) ||
        act(v, &v->shuf, S2D, T, "vit_shuf", EM_TENSOR_HOST_IO, err) ||
        act(v, &v->tok, hp->proj_dim, T, "vit_tok", EM_TENSOR_HOST_IO, err))
        goto fail;
    v->host_patches = host_view(v, &v->inp, &v->own_patches);
    v->host_feats = host_view(v, &v->h, &v->own_feats);
    v->host_shuf = host_view(v, &v->shuf, &v->own_shuf);
    if (!v->host_patches || !v->host_feats || !v->host_shuf) {
        em_err(err, EM_ERR_NOMEM, "vision_vit_create: out of memory");
        goto fail;
    }
    v->bytes += (size_t)(n * 3 * P * P + n * D + T * S2D) * sizeof(float);
    return v;
fail:
    vision_vit_free(v);
    return NULL;
}

void vision_vit_free(vision_vit *v) {
    if (!v) return;
    em_tensor *ts[] = {&v->inp, &v->x, &v->h, &v->q, &v->k, &v->v, &v->att, &v->ff, &v->shuf, &v->tok};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        if (ts[i]->data || ts[i]->extra) em_backend_release(v->be, ts[i]);
    if (v->own_patches) free(v->host_patches);
    if (v->own_feats) free(v->host_feats);
    if (v->own_shuf) free(v->host_shuf);
    free(v);
}

size_t vision_vit_bytes(const vision_vit *v) { return v->bytes; }

/* im2col: patch (py, px) -> row py*g + px of [c][ky][kx] values. */
static void gather_patches(const float *pix, int S, int P, float *out) {
    const int g = S / P;
    const size_t plane = (size_t)S * S;
    for (int py = 0; py < g; py++)
        for (int px = 0; px < g; px++) {
            float *o = out + ((size_t)py * g + px) * 3 * P * P;
            for (int c = 0; c < 3; c++)
                for (int ky = 0; ky < P; ky++) {
                    memcpy(o, pix + c * plane + (size_t)(py * P + ky) * S + (size_t)px * P, (size_t)P * sizeof(float));
                    o += P;
                }
        }
}

ember_status vision_vit_run(vision_vit *v, const float *pix, float *tokens, float *feats, char *err) {
    const vision_mmproj *mp = v->mp;
    const vision_hparams *hp = &mp->hp;
    em_backend *be = v->be;
    const em_backend_ops *op = be->ops;
    const int64_t n = hp->n_patches, D = hp->n_embd, P = hp->patch_size;
    ember_status st;

    gather_patches(pix, hp->image_size, hp->patch_size, v->host_patches);
    if (v->own_patches &&
        (st = op->upload(be, &v->inp, v->host_patches, 0, (size_t)(n * 3 * P * P) * sizeof(float), err)))
        return st;

    const int hd = (int)(D / hp->n_head);
    const em_attn_params ap = {hp->n_head, hp->n_head, hd, 0, n, 1.0f / sqrtf((float)hd)};
    /* embeddings */
    op->matmul(be, &v->x, &mp->patch_w, &v->inp);
    op->add_bias(be, &v->x, &v->x, &mp->patch_b);
    op->add(be, &v->x, &v->x, &mp->pos);
    for (int l = 0; l < hp->n_layer; l++) {
        const vision_layer *L = &mp->layers[l];
        /* attention block */
        op->layer_norm(be, &v->h, &v->x, &L->ln1_w, &L->ln1_b, hp->eps);
        em_tensor *qkv[3] = {&v->q, &v->k, &v->v};
        const em_tensor *wqkv[3] = {&L->wq, &L->wk, &L->wv};
        op->matmul_multi(be, 3, qkv, wqkv, &v->h);
        op->add_bias(be, &v->q, &v->q, &L->bq);
        op->add_bias(be, &v->k, &v->k, &L->bk);
        op->add_bias(be, &v->v, &v->v, &L->bv);
        op->attention_full(be, &v->att, &v->q, &v->k, &v->v, &ap);
        if (op->matmul_acc) {
            op->matmul_acc(be, &v->x, &L->wo, &v->att);
        } else {
            op->matmul(be, &v->h, &L->wo, &v->att);
            op->add(be, &v->x, &v->x, &v->h);
        }
        op->add_bias(be, &v->x, &v->x, &L->bo);
        /* MLP block */
        op->layer_norm(be, &v->h, &v->x, &L->ln2_w, &L->ln2_b, hp->eps);
        op->matmul(be, &v->ff, &L->w_up, &v->h);
        op->add_bias(be, &v->ff, &v->ff, &L->b_up);
        op->gelu(be, &v->ff, &v->ff);
        if (op->matmul_acc) {
            op->matmul_acc(be, &v->x, &L->w_down, &v->ff);
        } else {
            op->matmul(be, &v->h, &L->w_down, &v->ff);
            op->add(be, &v->x, &v->x, &v->h);
        }
        op->add_bias(be, &v->x, &v->x, &L->b_down);
    }
    op->layer_norm(be, &v->h, &v->x, &mp->post_ln_w, &mp->post_ln_b, hp->eps);
    if ((st = em_backend_sync(be, err))) return st;
    if (v->own_feats && (st = op->download(be, &v->h, v->host_feats, 0, (size_t)(n * D) * sizeof(float), err)))
        return st;
    if (feats) memcpy(feats, v->host_feats, (size_t)(n * D) * sizeof(float));

    /* connector */
    const int g = hp->image_size / hp->patch_size, s = hp->scale_factor;
    const int64_t T = hp->tokens_per_tile;
    proj_idefics3_shuffle(v->host_feats, g, (int)D, s, v->host_shuf);
    if (v->own_shuf && (st = op->upload(be, &v->shuf, v->host_shuf, 0, (size_t)(T * D * s * s) * sizeof(float), err)))
        return st;
    proj_idefics3_project(&mp->proj, be, &v->tok, &v->shuf);
    if ((st = em_backend_sync(be, err))) return st;
    return op->download(be, &v->tok, tokens, 0, (size_t)(T * hp->proj_dim) * sizeof(float), err);
}
