/* vlm_prompt.h - a question about images as SmolVLM reads it: chat text with
 * each image's projected embeddings placed in Idefics3's layout, written into
 * the decoder's neutral prompt (lm/prompt.h).
 *
 * An image of grid_x x grid_y tiles plus its overview takes, as llama.cpp's
 * mtmd lays it out for Idefics3 (and transformers' processor, up to how the
 * newlines are tokenized):
 *   for each grid row r, column c (1-based):
 *       <fake_token_around_image> <row_r_col_c> <image> x T
 *     then "\n" after every row but the last;
 *   "\n\n" <fake_token_around_image> <global-img> <image> x T <fake_token_around_image>
 * and an image of one tile (grid 0 x 0: transformers' preprocessing of an
 * image no larger than a tile) only
 *   <fake_token_around_image> <global-img> <image> x T <fake_token_around_image>
 * where T is the tokens per tile. Each <image> position carries one row of
 * the image's projected embeddings (tiles in the same order, overview last);
 * the <image> token id stays in the prompt as the placeholder (dumps and
 * tests read it), the decoder sees the row.
 *
 * This lives in agent/ because it is where the text model and the projector
 * meet: vision/ knows nothing of vocabularies, lm/ nothing of images. */
#ifndef EMBER_AGENT_VLM_PROMPT_H
#define EMBER_AGENT_VLM_PROMPT_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/status.h"
#include "../lm/model.h"
#include "../lm/prompt.h"
#include "../lm/vocab.h"
#include "../vision/mmproj.h"

typedef struct agent_vlm_layout {
    int32_t fake;   /* <fake_token_around_image> */
    int32_t image;  /* <image> */
    int32_t global; /* <global-img> */
    int32_t nl;     /* "\n" */
    int32_t nlnl;   /* "\n\n" */
} agent_vlm_layout;

/* Look the layout's tokens up by their text (as llama.cpp does: the first
 * token whose piece, specials rendered, is that text). EM_ERR_NOT_FOUND
 * names the first one missing. */
ember_status agent_vlm_layout_find(const lm_vocab *v, agent_vlm_layout *t, char *err);

/* One image: its grid and its rows of embeddings (n_tiles * tokens_per_tile
 * rows of the prompt's width, overview last). rows NULL: not encoded yet;
 * the prompt gets zeroed rows from row0 on (set when the image is added),
 * to be filled before it is evaluated. */
typedef struct agent_vlm_image {
    int grid_x, grid_y, n_tiles, tokens_per_tile;
    const float *rows;
    int64_t row0; /* out: the image's first row in the prompt's embeddings */
} agent_vlm_image;

/* Append one image's layout and rows (sets img->row0). */
ember_status agent_vlm_add_image(lm_prompt *p, const lm_vocab *v, const agent_vlm_layout *t, agent_vlm_image *img,
                                 char *err);

/* Image positions in a formatted prompt are marked by this string (llama.cpp's
 * default media marker, so prompts written for llama-mtmd-cli work as they are). */
#define AGENT_VLM_MARKER "<__media__>"

/* Append formatted text holding n_images markers: the text between markers
 * tokenized (the vocabulary's BOS first, when it adds one), each marker
 * replaced by the next image. A marker count different from n_images is an
 * EM_ERR_ARG. */
ember_status agent_vlm_prompt_build(lm_prompt *p, const lm_vocab *v, const agent_vlm_layout *t, const char *text,
                                    agent_vlm_image *images, int n_images, char *err);

/* Whether an mmproj fits a text model: the embedding width it projects to,
 * and the image tokens of the layout in the model's vocabulary. */
ember_status agent_vlm_check_pair(const vision_mmproj *mp, const lm_model *m, const char *mmproj_path,
                                  const char *model_path, char *err);

#endif
