/* idefics3.h - the Idefics3 connector (SmolVLM): pixel shuffle, then one
 * linear map into the decoder's embedding width.
 *
 * Pixel shuffle trades resolution for width: the ViT's g x g grid of D-wide
 * patch features becomes a (g/s) x (g/s) grid of (D*s*s)-wide features, the
 * s x s block at (X, Y) concatenated row by row:
 *   out[Y*(g/s) + X][(dy*s + dx)*D + c] = in[(Y*s + dy)*g + X*s + dx][c]
 * (transformers' Idefics3Connector.pixel_shuffle; llama.cpp's
 * build_patch_merge_permute computes the same). Then
 *   tokens = shuffled . W^T,  W = mm.model.fc.weight (n_embd_text rows, D*s*s), no bias.
 * The shuffle is a permutation, done on the host between the encoder's
 * output and the product (a tile's features are a few MB). */
#ifndef EMBER_PROJECTOR_IDEFICS3_H
#define EMBER_PROJECTOR_IDEFICS3_H

#include "../core/backend.h"

typedef struct proj_idefics3 {
    int scale;     /* s: clip.vision.projector.scale_factor */
    int n_in;      /* D */
    int n_out;     /* the text model's n_embd */
    em_tensor fc;  /* (n_out rows, D*s*s) */
} proj_idefics3;

/* in: g*g rows of d floats; out: (g/s)^2 rows of d*s*s floats. g % s == 0. */
void proj_idefics3_shuffle(const float *in, int g, int d, int s, float *out);

/* out (rows, n_out) = x (rows, D*s*s) . fc^T, recorded on the backend. */
void proj_idefics3_project(const proj_idefics3 *p, em_backend *be, em_tensor *out, const em_tensor *x);

#endif
