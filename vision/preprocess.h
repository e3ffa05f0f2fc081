/* preprocess.h - an RGB image to the ViT's input tiles, as SmolVLM
 * (Idefics3) specifies and llama.cpp's mtmd implements it.
 *
 *   1. refined size: scale the image so its longest side is `longest_edge`
 *      (the mmproj's clip.vision.preproc_image_size), then round each side
 *      up to a multiple of the tile size S (clip.vision.image_size);
 *   2. the refined image: the source resized (bicubic) into that size,
 *      keeping its aspect ratio, centred on black; cut into a grid of
 *      grid_x x grid_y tiles of S x S, row by row;
 *   3. the overview ("global image"): the source resized (bilinear) to
 *      S x S, aspect not kept;
 *   4. every tile: v = (u8 / 255 - mean[c]) / std[c], planar [3][S][S].
 *
 * The resampling arithmetic is llama.cpp's (its bicubic and bilinear differ
 * from PIL's, which transformers uses), so Ember's tiles are the pixels
 * llama.cpp feeds its encoder: answers can be compared token for token.
 * Tiles come in prompt order: the grid row-major, then the overview. Unlike
 * transformers, an image that fits one tile still gets a 1 x 1 grid plus the
 * overview (as llama.cpp does). */
#ifndef EMBER_VISION_PREPROCESS_H
#define EMBER_VISION_PREPROCESS_H

#include "../core/status.h"
#include "image.h"

typedef struct vision_preproc_params {
    int tile;          /* S: the encoder's input side (clip.vision.image_size) */
    int longest_edge;  /* the refined image's longest side before rounding up */
    int max_tiles;     /* refuse more grid tiles than this (0: no limit) */
    float mean[3], std[3];
} vision_preproc_params;

typedef struct vision_tiles {
    int grid_x, grid_y; /* the refined image's grid of tiles */
    int n_tiles;        /* grid_x * grid_y + 1 (the overview) */
    int tile;           /* S */
    float *pix;         /* n_tiles * 3 * S * S floats, owned */
} vision_tiles;

/* Refined size and grid for a w x h image (no pixels touched). */
ember_status vision_preproc_plan(const vision_preproc_params *p, int w, int h, int *refined_w, int *refined_h,
                                 int *grid_x, int *grid_y, char *err);

ember_status vision_preprocess(const vision_preproc_params *p, const vision_image *img, vision_tiles *out, char *err);
void vision_tiles_free(vision_tiles *t);

/* llama.cpp's resamplers, for tests: dst (tw x th) from src. */
ember_status vision_resize_bilinear(const vision_image *src, int tw, int th, vision_image *dst, char *err);
ember_status vision_resize_bicubic(const vision_image *src, int tw, int th, vision_image *dst, char *err);

#endif
