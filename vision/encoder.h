/* encoder.h - an image to the decoder's input embeddings: preprocessing
 * (preprocess.h), the SigLIP ViT (vit.c) and the Idefics3 connector
 * (projector/idefics3.h), with a cache.
 *
 * The ViT is written once against the backend interface (backend.h), so it
 * runs wherever the decoder does (CPU, Vulkan). Per tile of S x S pixels:
 *   x = patches(pixels) . Wpatch^T + bpatch + pos        (the conv as a product)
 *   per layer: x += Wo.attn(LN1(x) Wq+bq, Wk+bk, Wv+bv) + bo     (no mask)
 *              x += Wdown.gelu(LN2(x) Wup + bup) + bdown
 *   feats = LNpost(x)
 *   tokens = shuffle(feats) . Wfc^T
 *
 * The cache: a frame asked about twice (the robot's camera did not move, or
 * a second question) is encoded once. Entries are keyed by a 128-bit hash of
 * the pixels, size and preprocessing settings; least recently used entries
 * go when the cache passes its byte budget.
 *
 * Ownership: the encoder borrows the mmproj (and its backend). Threads: one
 * at a time, like the backend. */
#ifndef EMBER_VISION_ENCODER_H
#define EMBER_VISION_ENCODER_H

#include <stdbool.h>

#include "image.h"
#include "mmproj.h"
#include "preprocess.h"

typedef struct vision_encoder_params {
    int longest_edge;   /* resize the longest side to this before tiling (0: the file's) */
    int max_tiles;      /* refuse images needing more grid tiles (0: no limit) */
    size_t cache_bytes; /* embedding cache budget (0: 64 MiB; SIZE_MAX: none kept) */
    bool keep_intermediates; /* keep pixels and ViT outputs (dumps, tests) */
    /* Called after each tile is encoded (done of n_tiles), on the calling
     * thread; may be NULL. Encoding a large frame on a small CPU takes
     * minutes: this is how a command shows that it is working. */
    void (*progress)(void *user, int done, int n_tiles);
    void *progress_user;
    /* How images become tiles (preprocess.h): VISION_RESIZE_AUTO (0) takes
     * the projector's (mmproj.h: transformers' for published SmolVLM files). */
    vision_resize_mode resize;
} vision_encoder_params;

typedef struct vision_embd {
    int grid_x, grid_y, n_tiles; /* tiles: grid_x*grid_y + 1 (overview last) */
    int tokens_per_tile, n_embd; /* n_embd: the text model's width */
    float *data;                 /* n_tiles * tokens_per_tile * n_embd */
    float *pixels;               /* n_tiles * 3 * S * S, if keep_intermediates */
    float *vit;                  /* n_tiles * n_patches * D, if keep_intermediates */
    double ms_preprocess, ms_encode;
    bool from_cache;             /* this call found it in the cache */
} vision_embd;

typedef struct vision_encoder vision_encoder;

vision_encoder *vision_encoder_create(const vision_mmproj *mp, const vision_encoder_params *p, char *err);
void vision_encoder_free(vision_encoder *e);

/* The grid and tile count a w x h image will take (no pixels touched), so a
 * caller can lay out and check a prompt before paying for the encoding;
 * refused as vision_encode_image would refuse it (max_tiles). */
ember_status vision_encoder_plan(const vision_encoder *e, int w, int h, int *grid_x, int *grid_y, int *n_tiles, char *err);

/* Embeddings of img. *out stays valid until the next call or the free. */
ember_status vision_encode_image(vision_encoder *e, const vision_image *img, const vision_embd **out, char *err);

/* Run the ViT and connector on tiles already preprocessed (n_tiles planar
 * S x S tiles): tokens (n_tiles * T * n_embd) out; vit (n_tiles * n_patches
 * * D) too when not NULL. */
ember_status vision_encode_tiles(vision_encoder *e, const float *pix, int n_tiles, float *tokens, float *vit, char *err);

typedef struct vision_cache_stats {
    unsigned long long hits, misses, evictions;
    size_t bytes, entries;
} vision_cache_stats;
void vision_encoder_cache_stats(const vision_encoder *e, vision_cache_stats *st);
/* The preprocessing this encoder applies (never VISION_RESIZE_AUTO). */
vision_resize_mode vision_encoder_resize(const vision_encoder *e);
/* Bytes of activations the encoder allocated. */
size_t vision_encoder_bytes(const vision_encoder *e);

#endif
