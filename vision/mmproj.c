/* mmproj.c - loading and checking a SmolVLM `mmproj` GGUF (see mmproj.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/types.h"
#include "mmproj.h"

static ember_status load_hparams(vision_mmproj *mp, const char *path, char *err) {
    const gguf_ctx *g = mp->gguf;
    vision_hparams *hp = &mp->hp;
    const char *s = NULL;
    char e[EM_ERR_LEN];
    if (gguf_get_str(g, "general.architecture", &s, e) != EM_OK || strcmp(s, "clip") != 0)
        return em_err(err, EM_ERR_FORMAT, "%s: not a vision projector (general.architecture is '%s', expected 'clip')", path,
                      s ? s : "(missing)");
    bool has_vision = false;
    if (gguf_get_bool(g, "clip.has_vision_encoder", &has_vision, e) != EM_OK || !has_vision)
        return em_err(err, EM_ERR_UNSUPPORTED, "%s: this projector has no vision encoder (clip.has_vision_encoder)", path);
    const char *ptype = NULL;
    if (gguf_get_str(g, "clip.projector_type", &ptype, e) != EM_OK && gguf_get_str(g, "clip.vision.projector_type", &ptype, e) != EM_OK)
        return em_err(err, EM_ERR_FORMAT, "%s: clip.projector_type missing", path);
    if (strcmp(ptype, "idefics3") != 0)
        return em_err(err, EM_ERR_UNSUPPORTED, "%s: projector type '%s'; Ember implements 'idefics3' (SmolVLM)", path, ptype);
    bool gelu = false;
    if (gguf_get_bool(g, "clip.use_gelu", &gelu, e) != EM_OK || !gelu)
        return em_err(err, EM_ERR_UNSUPPORTED, "%s: clip.use_gelu is not set; Ember's SigLIP runs GELU MLPs only", path);
    em_binder *b = mp->bind;
    ember_status st;
    if ((st = em_bind_key_int(b, "clip.vision.image_size", true, 1, 4096, 0, &hp->image_size, err)) ||
        (st = em_bind_key_int(b, "clip.vision.patch_size", true, 1, 256, 0, &hp->patch_size, err)) ||
        (st = em_bind_key_int(b, "clip.vision.embedding_length", true, 1, 16384, 0, &hp->n_embd, err)) ||
        (st = em_bind_key_int(b, "clip.vision.feed_forward_length", true, 1, 65536, 0, &hp->n_ff, err)) ||
        (st = em_bind_key_int(b, "clip.vision.block_count", true, 1, 256, 0, &hp->n_layer, err)) ||
        (st = em_bind_key_int(b, "clip.vision.attention.head_count", true, 1, 256, 0, &hp->n_head, err)) ||
        (st = em_bind_key_int(b, "clip.vision.projection_dim", false, 1, 65536, 0, &hp->proj_dim, err)) ||
        (st = em_bind_key_int(b, "clip.vision.projector.scale_factor", false, 1, 64, 2, &hp->scale_factor, err)) ||
        (st = em_bind_key_int(b, "clip.vision.preproc_image_size", false, 1, 65536, hp->image_size, &hp->longest_edge, err)) ||
        (st = em_bind_key_f32_array(b, "clip.vision.image_mean", 3, hp->mean, err)) ||
        (st = em_bind_key_f32_array(b, "clip.vision.image_std", 3, hp->std, err)) ||
        (st = em_bind_key_f32(b, "clip.vision.attention.layer_norm_epsilon", false, 0, 1, 1e-6f, &hp->eps, err)))
        return st;
    for (int c = 0; c < 3; c++)
        if (!(hp->std[c] > 0)) return em_err(err, EM_ERR_FORMAT, "%s: clip.vision.image_std[%d] = %g; expected > 0", path, c, hp->std[c]);
    hp->resize = VISION_RESIZE_TRANSFORMERS;
    const char *rs = NULL;
    if ((st = gguf_get_str(g, "ember.vision.image_resize", &rs, e)) == EM_OK) {
        if ((hp->resize = vision_resize_mode_parse(rs)) == VISION_RESIZE_AUTO)
            return em_err(err, EM_ERR_FORMAT, "%s: ember.vision.image_resize is '%s'; expected 'transformers' or 'llamacpp'", path, rs);
    } else if (st != EM_ERR_NOT_FOUND) {
        return em_err(err, st, "%s: %s", path, e);
    }
    if (hp->image_size % hp->patch_size)
        return em_err(err, EM_ERR_FORMAT, "%s: patch size %d does not divide the image size %d", path, hp->patch_size, hp->image_size);
    const int g_side = hp->image_size / hp->patch_size;
    if (g_side % hp->scale_factor)
        return em_err(err, EM_ERR_FORMAT, "%s: scale factor %d does not divide the %d x %d patch grid", path, hp->scale_factor, g_side, g_side);
    if (hp->n_embd % hp->n_head)
        return em_err(err, EM_ERR_FORMAT, "%s: %d heads do not divide the width %d", path, hp->n_head, hp->n_embd);
    hp->n_patches = g_side * g_side;
    hp->tokens_per_tile = hp->n_patches / (hp->scale_factor * hp->scale_factor);
    return EM_OK;
}

/* A matrix of the ViT or the connector, converted where mp->weights asks. */
static ember_status bind_weight(vision_mmproj *mp, const char *name, int64_t cols, int64_t rows, em_tensor *out,
                                char *err) {
    const gguf_tensor_info *ti = gguf_find_tensor(mp->gguf, name);
    if (mp->weights != VISION_WEIGHTS_BF16 || !ti || ti->type != EM_TYPE_F16)
        return em_bind_mat(mp->bind, name, cols, rows, out, err);
    ember_status st = em_bind_mat_bf16(mp->bind, name, cols, rows, out, &mp->bf16_inexact, err);
    if (st == EM_OK) mp->n_bf16++;
    return st;
}

vision_mmproj *vision_mmproj_load(const char *path, em_backend *be, vision_weights weights, char *err) {
    vision_mmproj *mp = calloc(1, sizeof *mp);
    if (!mp) { em_err(err, EM_ERR_NOMEM, "vision_mmproj_load: out of memory"); return NULL; }
    mp->be = be;
    mp->weights = weights;
    char e[EM_ERR_LEN];
    if (gguf_load(path, &mp->gguf, e) != EM_OK) {
        em_err(err, EM_ERR_FORMAT, "%s", e);
        goto fail;
    }
    mp->bind = em_binder_create(mp->gguf, be, path, NULL, "vision projector", err);
    if (!mp->bind) goto fail;
    em_binder *b = mp->bind;
    if (load_hparams(mp, path, err)) goto fail;
    const vision_hparams *hp = &mp->hp;
    const int64_t D = hp->n_embd, P = hp->patch_size, FF = hp->n_ff;
    if (gguf_get_str(mp->gguf, "general.name", &mp->name, e) != EM_OK) mp->name = "";

    /* the patch conv kernel [P, P, 3, D] as D rows of 3*P*P; position
     * embeddings as f32 (the add op takes f32), converted when stored f16 */
    const int64_t want_patch[4] = {P, P, 3, D}, want_pos[2] = {D, hp->n_patches};
    if (em_bind_tensor(b, "v.patch_embd.weight", EM_BIND_WEIGHT, 4, want_patch, &mp->patch_w, err) ||
        em_bind_vec(b, "v.patch_embd.bias", D, &mp->patch_b, err) ||
        em_bind_tensor_f32(b, "v.position_embd.weight", 2, want_pos, &mp->pos, err) ||
        em_bind_vec(b, "v.post_ln.weight", D, &mp->post_ln_w, err) ||
        em_bind_vec(b, "v.post_ln.bias", D, &mp->post_ln_b, err))
        goto fail;
    if (gguf_find_tensor(mp->gguf, "v.pre_ln.weight")) {
        em_err(err, EM_ERR_UNSUPPORTED, "%s: has a pre-LayerNorm (v.pre_ln); SigLIP has none and Ember does not run one", path);
        goto fail;
    }
    mp->layers = calloc((size_t)hp->n_layer, sizeof *mp->layers);
    if (!mp->layers) { em_err(err, EM_ERR_NOMEM, "vision_mmproj_load: out of memory"); goto fail; }
    for (int l = 0; l < hp->n_layer; l++) {
        vision_layer *L = &mp->layers[l];
        char n[96];
#define NM(suffix) (snprintf(n, sizeof n, "v.blk.%d.%s", l, suffix), n)
        if (em_bind_vec(b, NM("ln1.weight"), D, &L->ln1_w, err) || em_bind_vec(b, NM("ln1.bias"), D, &L->ln1_b, err) ||
            em_bind_vec(b, NM("ln2.weight"), D, &L->ln2_w, err) || em_bind_vec(b, NM("ln2.bias"), D, &L->ln2_b, err) ||
            bind_weight(mp, NM("attn_q.weight"), D, D, &L->wq, err) || em_bind_vec(b, NM("attn_q.bias"), D, &L->bq, err) ||
            bind_weight(mp, NM("attn_k.weight"), D, D, &L->wk, err) || em_bind_vec(b, NM("attn_k.bias"), D, &L->bk, err) ||
            bind_weight(mp, NM("attn_v.weight"), D, D, &L->wv, err) || em_bind_vec(b, NM("attn_v.bias"), D, &L->bv, err) ||
            bind_weight(mp, NM("attn_out.weight"), D, D, &L->wo, err) || em_bind_vec(b, NM("attn_out.bias"), D, &L->bo, err) ||
            bind_weight(mp, NM("ffn_up.weight"), D, FF, &L->w_up, err) || em_bind_vec(b, NM("ffn_up.bias"), FF, &L->b_up, err) ||
            bind_weight(mp, NM("ffn_down.weight"), FF, D, &L->w_down, err) ||
            em_bind_vec(b, NM("ffn_down.bias"), D, &L->b_down, err))
            goto fail;
#undef NM
    }
    /* the connector: its output width is the text model's; projection_dim,
     * where present, must agree with it */
    const gguf_tensor_info *fc = em_bind_find(b, "mm.model.fc.weight", err);
    if (!fc) goto fail;
    const int64_t n_in = D * hp->scale_factor * hp->scale_factor;
    if (fc->n_dims != 2 || fc->ne[0] != n_in) {
        em_err(err, EM_ERR_FORMAT, "%s: mm.model.fc.weight has %lld inputs, expected %lld (width %lld x scale factor %d squared)",
               path, (long long)fc->ne[0], (long long)n_in, (long long)D, hp->scale_factor);
        goto fail;
    }
    if (hp->proj_dim && hp->proj_dim != fc->ne[1]) {
        em_err(err, EM_ERR_FORMAT, "%s: clip.vision.projection_dim %d disagrees with mm.model.fc.weight's %lld outputs",
               path, hp->proj_dim, (long long)fc->ne[1]);
        goto fail;
    }
    mp->hp.proj_dim = (int)fc->ne[1];
    mp->proj.scale = hp->scale_factor;
    mp->proj.n_in = (int)D;
    mp->proj.n_out = (int)fc->ne[1];
    if (bind_weight(mp, "mm.model.fc.weight", n_in, fc->ne[1], &mp->proj.fc, err)) goto fail;
    return mp;
fail:
    vision_mmproj_free(mp);
    return NULL;
}

void vision_mmproj_free(vision_mmproj *mp) {
    if (!mp) return;
    em_binder_free(mp->bind); /* the converted position embeddings */
    free(mp->layers);
    gguf_close(mp->gguf);
    free(mp);
}
