/* vit.h - the SigLIP encoder's forward pass for one tile, on a backend
 * (the formula is in encoder.h). Activations are allocated once for a
 * tile's n_patches rows; running a tile allocates nothing. */
#ifndef EMBER_VISION_VIT_H
#define EMBER_VISION_VIT_H

#include "mmproj.h"

typedef struct vision_vit vision_vit;

vision_vit *vision_vit_create(const vision_mmproj *mp, char *err);
void vision_vit_free(vision_vit *v);

/* One tile: pix planar [3][S][S] in; tokens (T rows of the text width) out;
 * feats (n_patches rows of D: the post-LayerNorm features) too when not NULL. */
ember_status vision_vit_run(vision_vit *v, const float *pix, float *tokens, float *feats, char *err);

size_t vision_vit_bytes(const vision_vit *v);

#endif
