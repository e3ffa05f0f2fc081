/* preprocess.h - an RGB image to the ViT's input tiles for SmolVLM
 * (Idefics3), in one of two ways.
 *
 * VISION_RESIZE_TRANSFORMERS (SmolVLM's default): transformers' Idefics3
 * image processor, the pixels SmolVLM was trained on. Every resize is
 * Pillow's LANCZOS (resample.h) on 8-bit RGB, rounded to bytes in between:
 *   1. the longest side to `longest_edge` L (the mmproj's
 *      clip.vision.preproc_image_size), the other side
 *      int(L / aspect) rounded up to even (at least 1), the whole capped at
 *      4096 as transformers caps it;
 *   2. that image resized (aspect not kept) so both sides are multiples of
 *      the tile S: the longer side rounded up, the shorter
 *      int(longer / aspect), rounded up;
 *   3. if it is larger than S x S: the grid of S x S crops, row by row,
 *      then the global image: step 2's image resized to S x S; else the
 *      S x S image alone (grid 0 x 0, one tile, transformers' layout for a
 *      single image);
 *   4. every tile: v = (float)(u8 * (double)(1/255)) - mean[c]) / std[c]
 *      in float, planar [3][S][S].
 *
 * VISION_RESIZE_LLAMACPP (`--image-resize llamacpp`): mainline llama.cpp
 * mtmd's Idefics3 preprocessing, byte for byte, so answers can be compared
 * with llama-mtmd-cli token for token:
 *   1. refined size: scale so the longest side is L (float), each side
 *      rounded up to a multiple of S;
 *   2. the refined image: the source resized by llama.cpp's point-sampled
 *      bicubic into that size keeping its aspect, centred on black; cut
 *      into the grid row by row;
 *   3. the overview: the source resized to S x S by llama.cpp's bilinear,
 *      which steps by (src - 1) / S from 0 (so it never reaches the last
 *      row or column), aspect not kept; even an image that fits one tile
 *      gets a 1 x 1 grid plus the overview;
 *   4. every tile: v = (u8 / 255.0f - mean[c]) / std[c], planar.
 *
 * Tiles come in prompt order: the grid row-major, then the global image /
 * overview. n_tiles = grid_x * grid_y + 1 in both modes. */
#ifndef EMBER_VISION_PREPROCESS_H
#define EMBER_VISION_PREPROCESS_H

#include "../core/status.h"
#include "image.h"

typedef enum vision_resize_mode {
    VISION_RESIZE_AUTO = 0,     /* encoder parameters only: the projector's own (mmproj.h) */
    VISION_RESIZE_TRANSFORMERS, /* transformers' Idefics3 processor (Pillow LANCZOS) */
    VISION_RESIZE_LLAMACPP,     /* mainline llama.cpp mtmd */
} vision_resize_mode;

/* "transformers", "llamacpp" ("auto" for AUTO); NULL for other values. */
const char *vision_resize_mode_name(vision_resize_mode m);
/* The mode a name gives; VISION_RESIZE_AUTO (0) for an unknown name. */
vision_resize_mode vision_resize_mode_parse(const char *name);

typedef struct vision_preproc_params {
    vision_resize_mode mode; /* TRANSFORMERS or LLAMACPP */
    int tile;                /* S: the encoder's input side (clip.vision.image_size) */
    int longest_edge;        /* L: the longest side before tiling */
    int max_tiles;           /* refuse more grid tiles than this (0: no limit) */
    float mean[3], std[3];
} vision_preproc_params;

typedef struct vision_tiles {
    int grid_x, grid_y; /* the grid of tiles (0 x 0: the image is one tile) */
    int n_tiles;        /* grid_x * grid_y + 1 */
    int tile;           /* S */
    float *pix;         /* n_tiles * 3 * S * S floats, owned */
} vision_tiles;

/* The size the grid is cut from and the grid for a w x h image (no pixels
 * touched). */
ember_status vision_preproc_plan(const vision_preproc_params *p, int w, int h, int *refined_w, int *refined_h,
                                 int *grid_x, int *grid_y, char *err);

ember_status vision_preprocess(const vision_preproc_params *p, const vision_image *img, vision_tiles *out, char *err);
void vision_tiles_free(vision_tiles *t);

/* llama.cpp's resamplers, for tests: dst (tw x th) from src. The bilinear
 * is mainline's (it needs 2 x 2 source pixels there; here a 1-pixel side
 * repeats its one sample). */
ember_status vision_resize_bilinear(const vision_image *src, int tw, int th, vision_image *dst, char *err);
ember_status vision_resize_bicubic(const vision_image *src, int tw, int th, vision_image *dst, char *err);

#endif
