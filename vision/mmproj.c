/* mmproj.c - loading and checking a SmolVLM `mmproj` GGUF (see mmproj.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/types.h"
#include "mmproj.h"

/* An integer key in 1..max; `dflt` when absent and not required. */
static ember_status key_int(const gguf_ctx *g, const char *path, const char *key, bool required, int dflt, int max,
                            int *out, char *err) {
    int64_t v;
    char e[EM_ERR_LEN];
    ember_status st = gguf_get_int(g, key, &v, e);
    if (st == EM_ERR_NOT_FOUND && !required) {
        *out = dflt;
        return EM_OK;
    }
    if (st == EM_ERR_NOT_FOUND) return em_err(err, EM_ERR_FORMAT, "%s: key %s missing: not a complete vision projector", path, key);
    if (st) return em_err(err, st, "%s: %s", path, e);
    if (v < 1 || v > max) return em_err(err, EM_ERR_FORMAT, "%s: %s = %lld, expected 1..%d", path, key, (long long)v, max);
    *out = (int)v;
    return EM_OK;
}

static ember_status key_f32x3(const gguf_ctx *g, const char *path, const char *key, float out[3], char *err) {
    enum gguf_vtype et;
    uint64_t n;
    const void *data;
    char e[EM_ERR_LEN];
    ember_status st = gguf_get_arr(g, key, &et, &n, &data, e);
    if (st == EM_ERR_NOT_FOUND) return em_err(err, EM_ERR_FORMAT, "%s: key %s missing: not a complete vision projector", path, key);
    if (st) return em_err(err, st, "%s: %s", path, e);
    if (n < 3 || (et != GGUF_TYPE_FLOAT32 && et != GGUF_TYPE_FLOAT64))
        return em_err(err, EM_ERR_FORMAT, "%s: %s: expected 3 floats, found %llu of type %s", path, key,
                      (unsigned long long)n, gguf_vtype_name(et));
    for (int i = 0; i < 3; i++) out[i] = et == GGUF_TYPE_FLOAT32 ? ((const float *)data)[i] : (float)((const double *)data)[i];
    return EM_OK;
}

/* Find `name` with dims ne[0..3] (trailing 1s), check the type, wrap it as a
 * (rows, cols) matrix or a vector. f32_only for norms, biases, embeddings. */
static ember_status bind(vision_mmproj *mp, const char *path, const char *name, const int64_t want[4], int64_t cols,
                         int64_t rows, bool f32_only, em_tensor *t, char *err) {
    const gguf_tensor_info *ti = gguf_find_tensor(mp->gguf, name);
    if (!ti) return em_err(err, EM_ERR_FORMAT, "%s: tensor %s missing", path, name);
    for (int d = 0; d < 4; d++) {
        int64_t have = d < ti->n_dims ? ti->ne[d] : 1;
        if (have != want[d])
            return em_err(err, EM_ERR_FORMAT, "%s: %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld, %lld, %lld]",
                          path, name, (long long)ti->ne[0], (long long)(ti->n_dims > 1 ? ti->ne[1] : 1),
                          (long long)(ti->n_dims > 2 ? ti->ne[2] : 1), (long long)(ti->n_dims > 3 ? ti->ne[3] : 1),
                          (long long)want[0], (long long)want[1], (long long)want[2], (long long)want[3]);
    }
    const char *tn = em_type_name(ti->type);
    if (f32_only && ti->type != EM_TYPE_F32)
        return em_err(err, EM_ERR_UNSUPPORTED, "%s: %s is %s; Ember expects f32 here (as llama.cpp's converter writes it)",
                      path, name, tn ? tn : "?");
    if (!em_type_supported(ti->type) || !mp->be->ops->supports(mp->be, EM_OP_MATMUL, ti->type))
        return em_err(err, EM_ERR_UNSUPPORTED, "%s: %s has type %s, which Ember does not compute with (f32, f16, bf16, q8_0, q4_0)",
                      path, name, tn ? tn : "unknown");
    *t = em_tensor_make(ti->type, cols, rows, 1, 1);
    t->name = ti->name;
    ember_status st = em_backend_wrap(mp->be, t, ti->data, err);
    if (st == EM_OK && mp->be->ops->copies_weights) gguf_drop_pages(mp->gguf, ti->data, ti->nbytes);
    return st;
}

static ember_status bind_vec(vision_mmproj *mp, const char *path, const char *name, int64_t n, em_tensor *t, char *err) {
    const int64_t want[4] = {n, 1, 1, 1};
    return bind(mp, path, name, want, n, 1, true, t, err);
}

static ember_status bind_mat(vision_mmproj *mp, const char *path, const char *name, int64_t cols, int64_t rows,
                             em_tensor *t, char *err) {
    const int64_t want[4] = {cols, rows, 1, 1};
    return bind(mp, path, name, want, cols, rows, false, t, err);
}

static ember_status load_hparams(vision_mmproj *mp, const char *path, char *err) {
    const gguf_ctx *g = mp->gguf;
    vision_hparams *hp = &mp->hp;
    const char *s = NULL;
    char e[EM_ERR_LEN];
    if (gguf_get_str(g, "general.architecture", &s, e) != EM_OK || strcmp(s, "clip") != 0)
        return em_err(err, EM_ERR_FORMAT, "%s: not a vision projector (general.architecture is '%s', expected 'clip'); "
                      "pass the mmproj file to --mmproj and the language model to -m", path, s ? s : "(missing)");
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
    ember_status st;
    if ((st = key_int(g, path, "clip.vision.image_size", true, 0, 4096, &hp->image_size, err)) ||
        (st = key_int(g, path, "clip.vision.patch_size", true, 0, 256, &hp->patch_size, err)) ||
        (st = key_int(g, path, "clip.vision.embedding_length", true, 0, 16384, &hp->n_embd, err)) ||
        (st = key_int(g, path, "clip.vision.feed_forward_length", true, 0, 65536, &hp->n_ff, err)) ||
        (st = key_int(g, path, "clip.vision.block_count", true, 0, 256, &hp->n_layer, err)) ||
        (st = key_int(g, path, "clip.vision.attention.head_count", true, 0, 256, &hp->n_head, err)) ||
        (st = key_int(g, path, "clip.vision.projection_dim", false, 0, 65536, &hp->proj_dim, err)) ||
        (st = key_int(g, path, "clip.vision.projector.scale_factor", false, 2, 64, &hp->scale_factor, err)) ||
        (st = key_int(g, path, "clip.vision.preproc_image_size", false, hp->image_size, 65536, &hp->longest_edge, err)) ||
        (st = key_f32x3(g, path, "clip.vision.image_mean", hp->mean, err)) ||
        (st = key_f32x3(g, path, "clip.vision.image_std", hp->std, err)))
        return st;
    double eps = 1e-6;
    if (gguf_get_float(g, "clip.vision.attention.layer_norm_epsilon", &eps, e) == EM_OK && !(eps > 0 && eps < 1))
        return em_err(err, EM_ERR_FORMAT, "%s: layer_norm_epsilon %g out of range", path, eps);
    hp->eps = (float)eps;
    for (int c = 0; c < 3; c++)
        if (!(hp->std[c] > 0)) return em_err(err, EM_ERR_FORMAT, "%s: clip.vision.image_std[%d] = %g; expected > 0", path, c, hp->std[c]);
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

/* Position embeddings as f32 in backend memory: wrapped when the file has
 * f32, converted when f16 (the add op takes f32). */
static ember_status bind_pos(vision_mmproj *mp, const char *path, char *err) {
    const vision_hparams *hp = &mp->hp;
    const gguf_tensor_info *ti = gguf_find_tensor(mp->gguf, "v.position_embd.weight");
    if (ti && ti->type == EM_TYPE_F16 && ti->ne[0] == hp->n_embd && ti->ne[1] == hp->n_patches) {
        const size_t n = (size_t)hp->n_embd * (size_t)hp->n_patches;
        float *f = malloc(n * sizeof(float));
        if (!f) return em_err(err, EM_ERR_NOMEM, "%s: position embeddings: out of memory", path);
        for (size_t i = 0; i < n; i++) f[i] = em_fp16_to_fp32(((const em_fp16 *)ti->data)[i]);
        mp->pos = em_tensor_make(EM_TYPE_F32, hp->n_embd, hp->n_patches, 1, 1);
        mp->pos.name = ti->name;
        ember_status st = em_backend_alloc(mp->be, &mp->pos, err);
        if (st == EM_OK) {
            mp->owned[mp->n_owned++] = mp->pos;
            st = mp->be->ops->upload(mp->be, &mp->pos, f, 0, n * sizeof(float), err);
        }
        free(f);
        return st;
    }
    const int64_t want[4] = {hp->n_embd, hp->n_patches, 1, 1};
    return bind(mp, path, "v.position_embd.weight", want, hp->n_embd, hp->n_patches, true, &mp->pos, err);
}

vision_mmproj *vision_mmproj_load(const char *path, em_backend *be, char *err) {
    vision_mmproj *mp = calloc(1, sizeof *mp);
    if (!mp) { em_err(err, EM_ERR_NOMEM, "vision_mmproj_load: out of memory"); return NULL; }
    mp->be = be;
    char e[EM_ERR_LEN];
    if (gguf_load(path, &mp->gguf, e) != EM_OK) {
        em_err(err, EM_ERR_FORMAT, "%s", e);
        goto fail;
    }
    if (load_hparams(mp, path, err)) goto fail;
    const vision_hparams *hp = &mp->hp;
    const int64_t D = hp->n_embd, P = hp->patch_size, FF = hp->n_ff;
    if (gguf_get_str(mp->gguf, "general.name", &mp->name, e) != EM_OK) mp->name = "";

    const int64_t want_patch[4] = {P, P, 3, D};
    if (bind(mp, path, "v.patch_embd.weight", want_patch, 3 * P * P, D, false, &mp->patch_w, err) ||
        bind_vec(mp, path, "v.patch_embd.bias", D, &mp->patch_b, err) || bind_pos(mp, path, err) ||
        bind_vec(mp, path, "v.post_ln.weight", D, &mp->post_ln_w, err) ||
        bind_vec(mp, path, "v.post_ln.bias", D, &mp->post_ln_b, err))
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
        if (bind_vec(mp, path, NM("ln1.weight"), D, &L->ln1_w, err) || bind_vec(mp, path, NM("ln1.bias"), D, &L->ln1_b, err) ||
            bind_vec(mp, path, NM("ln2.weight"), D, &L->ln2_w, err) || bind_vec(mp, path, NM("ln2.bias"), D, &L->ln2_b, err) ||
            bind_mat(mp, path, NM("attn_q.weight"), D, D, &L->wq, err) || bind_vec(mp, path, NM("attn_q.bias"), D, &L->bq, err) ||
            bind_mat(mp, path, NM("attn_k.weight"), D, D, &L->wk, err) || bind_vec(mp, path, NM("attn_k.bias"), D, &L->bk, err) ||
            bind_mat(mp, path, NM("attn_v.weight"), D, D, &L->wv, err) || bind_vec(mp, path, NM("attn_v.bias"), D, &L->bv, err) ||
            bind_mat(mp, path, NM("attn_out.weight"), D, D, &L->wo, err) || bind_vec(mp, path, NM("attn_out.bias"), D, &L->bo, err) ||
            bind_mat(mp, path, NM("ffn_up.weight"), D, FF, &L->w_up, err) || bind_vec(mp, path, NM("ffn_up.bias"), FF, &L->b_up, err) ||
            bind_mat(mp, path, NM("ffn_down.weight"), FF, D, &L->w_down, err) ||
            bind_vec(mp, path, NM("ffn_down.bias"), D, &L->b_down, err))
            goto fail;
#undef NM
    }
    /* the connector: its output width is the text model's; projection_dim,
     * where present, must agree with it */
    const gguf_tensor_info *fc = gguf_find_tensor(mp->gguf, "mm.model.fc.weight");
    if (!fc) { em_err(err, EM_ERR_FORMAT, "%s: tensor mm.model.fc.weight missing (the Idefics3 connector)", path); goto fail; }
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
    if (bind_mat(mp, path, "mm.model.fc.weight", n_in, fc->ne[1], &mp->proj.fc, err)) goto fail;
    return mp;
fail:
    vision_mmproj_free(mp);
    return NULL;
}

void vision_mmproj_free(vision_mmproj *mp) {
    if (!mp) return;
    for (int i = 0; i < mp->n_owned; i++) em_backend_release(mp->be, &mp->owned[i]);
    free(mp->layers);
    gguf_close(mp->gguf);
    free(mp);
}
