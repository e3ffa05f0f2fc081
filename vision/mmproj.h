/* mmproj.h - a vision projector file (`mmproj`), as llama.cpp's converter
 * writes it for SmolVLM: general.architecture = clip, clip.projector_type =
 * idefics3, the SigLIP ViT under `v.*` and the connector under `mm.*`.
 *
 * vision_mmproj_load checks everything before use: that the file is a clip
 * file with a vision encoder and a projector type Ember implements, every
 * hyperparameter present and in range (heads divide the width, the patch
 * divides the tile, the scale factor divides the patch grid), every tensor
 * present with the shape the hyperparameters imply and a type the backend
 * computes with. Weights are wrapped into the backend like the decoder's
 * (no copy on the CPU). Whether it fits a text model is checked where both
 * are known (agent/vlm_prompt.h).
 *
 * Ownership: the mmproj borrows the backend, which must outlive it. */
#ifndef EMBER_VISION_MMPROJ_H
#define EMBER_VISION_MMPROJ_H

#include <stdbool.h>

#include "../core/backend.h"
#include "../core/gguf.h"
#include "../core/gguf_bind.h"
#include "../projector/idefics3.h"
#include "preprocess.h"

typedef struct vision_hparams {
    int image_size;   /* clip.vision.image_size: a tile's side S */
    int patch_size;   /* clip.vision.patch_size: P */
    int n_embd;       /* clip.vision.embedding_length: D */
    int n_ff;         /* clip.vision.feed_forward_length */
    int n_layer;      /* clip.vision.block_count */
    int n_head;       /* clip.vision.attention.head_count */
    int proj_dim;     /* clip.vision.projection_dim: the text model's width */
    int scale_factor; /* clip.vision.projector.scale_factor */
    int longest_edge; /* clip.vision.preproc_image_size (default S) */
    /* ember.vision.image_resize ("transformers" or "llamacpp"): the
     * preprocessing the model was trained with. Published SmolVLM files
     * lack the key: their training used transformers' processor, the
     * default. Ember's own trained pairs record "llamacpp" (their trainer
     * laid frames out as a 1 x 1 grid plus the overview). */
    vision_resize_mode resize;
    float eps;        /* clip.vision.attention.layer_norm_epsilon */
    float mean[3], std[3];
    int n_patches;       /* (S/P)^2 */
    int tokens_per_tile; /* n_patches / scale_factor^2 */
} vision_hparams;

/* How the projector's matrices are multiplied (`--vision-weights`). */
typedef enum vision_weights {
    VISION_WEIGHTS_STORED = 0, /* as the file stores them: llama.cpp's products */
    /* The ViT's and the connector's f16 matrices converted to bf16 at load
     * (the patch embedding, 0.3% of a tile's work, stays): on a CPU with
     * AVX512_BF16 a bf16 product takes half an f16 one's time, so a tile
     * encodes ~1.6x faster. The activations are then rounded to bf16's
     * 8-bit mantissa before each product, where f16 keeps 11 bits. The
     * weights keep their values when the f16 file was converted from a bf16
     * checkpoint: vision_mmproj.bf16_inexact says whether they did. */
    VISION_WEIGHTS_BF16,
} vision_weights;

typedef struct vision_layer {
    em_tensor ln1_w, ln1_b, ln2_w, ln2_b;     /* (D) f32 */
    em_tensor wq, wk, wv, wo;                 /* (D rows, D) */
    em_tensor bq, bk, bv, bo;                 /* (D) f32 */
    em_tensor w_up, b_up;                     /* (FF rows, D), (FF) */
    em_tensor w_down, b_down;                 /* (D rows, FF), (D) */
} vision_layer;

typedef struct vision_mmproj {
    gguf_ctx *gguf;
    em_binder *bind; /* bound the weights; owns the converted ones; freed before gguf */
    em_backend *be; /* borrowed */
    vision_hparams hp;
    const char *name;
    em_tensor patch_w;  /* (D rows, 3*P*P): the conv kernel as a matrix */
    em_tensor patch_b;  /* (D) f32 */
    em_tensor pos;      /* (n_patches rows, D) f32 */
    em_tensor post_ln_w, post_ln_b;
    vision_layer *layers;
    proj_idefics3 proj;
    vision_weights weights; /* as loaded */
    int n_bf16;             /* f16 matrices converted to bf16 (VISION_WEIGHTS_BF16) */
    size_t bf16_inexact;    /* of their values, how many bf16 could not hold */
} vision_mmproj;

/* weights: VISION_WEIGHTS_STORED for the file's types. VISION_WEIGHTS_BF16
 * is refused (EM_ERR_UNSUPPORTED) on a backend without bf16 products. */
vision_mmproj *vision_mmproj_load(const char *path, em_backend *be, vision_weights weights, char *err);
void vision_mmproj_free(vision_mmproj *mp);

/* Does this projector feed this text model? Checks the embedding width and
 * that the vocabulary has the tokens the image layout needs. */


#endif
