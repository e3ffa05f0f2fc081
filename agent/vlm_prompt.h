/* vlm_prompt.h - a multimodal prompt: text tokens with image embeddings placed
 * where SmolVLM expects them.
 *
 * An image of grid_x x grid_y tiles plus its overview takes, as llama.cpp's
 * mtmd lays it out for Idefics3 (and transformers' processor, up to how the
 * newlines are tokenized):
 *   for each grid row r, column c (1-based):
 *       <fake_token_around_image> <row_r_col_c> <image> x T
 *     then "\n" after every row but the last;
 *   "\n\n" <fake_token_around_image> <global-img> <image> x T <fake_token_around_image>
 * where T is the tokens per tile. Each <image> position carries one row of
 * the image's projected embeddings (tiles in the same order, overview last)
 * in place of the token's own embedding: the token id stays in the sequence
 * (tests and dumps read it), the decoder sees the embedding.
 *
 * A vision_prompt is two parallel arrays: tokens[i], and embd_row[i] = -1
 * for text or the index of the embedding row fed at position i. */
#ifndef EMBER_AGENT_VLM_PROMPT_H
#define EMBER_AGENT_VLM_PROMPT_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/status.h"
#include "../lm/model.h"
#include "../lm/vocab.h"

typedef struct vision_layout_tokens {
    int32_t fake;   /* <fake_token_around_image> */
    int32_t image;  /* <image> */
    int32_t global; /* <global-img> */
    int32_t nl;     /* "\n" */
    int32_t nlnl;   /* "\n\n" */
} vision_layout_tokens;

/* Look the layout's tokens up by their text (as llama.cpp does: the first
 * token whose piece, specials rendered, is that text). EM_ERR_NOT_FOUND
 * names the first one missing. */
ember_status vision_layout_tokens_find(const lm_vocab *v, vision_layout_tokens *t, char *err);

typedef struct vision_prompt {
    int32_t *tokens;
    int64_t *embd_row;
    int64_t n, cap;
} vision_prompt;

void vision_prompt_free(vision_prompt *p);

/* Append text, tokenized with special tokens parsed (add_bos: the
 * vocabulary's BOS first, when it asks for one). */
ember_status vision_prompt_add_text(vision_prompt *p, const lm_vocab *v, const char *text, size_t len, bool add_bos,
                                    char *err);

/* Append one image's layout; its embedding rows start at row0. */
ember_status vision_prompt_add_image(vision_prompt *p, const lm_vocab *v, const vision_layout_tokens *t, int grid_x,
                                     int grid_y, int tokens_per_tile, int64_t row0, char *err);

/* Image positions in a formatted prompt are marked by this string (llama.cpp's
 * default media marker, so prompts written for llama-mtmd-cli work as they are). */
#define VISION_MARKER "<__media__>"

typedef struct vision_prompt_image {
    int grid_x, grid_y;
    int64_t row0; /* first embedding row of this image */
} vision_prompt_image;

/* Build the prompt from formatted text holding n_images markers: text
 * between markers tokenized, each marker replaced by the next image's layout.
 * A marker count different from n_images is an EM_ERR_ARG. */
ember_status vision_prompt_build(vision_prompt *p, const lm_vocab *v, const vision_layout_tokens *t, const char *text,
                                 const vision_prompt_image *images, int n_images, int tokens_per_tile, char *err);

/* Whether an mmproj fits a text model: the embedding width it projects to,
 * and the image tokens of the layout in the model's vocabulary. */
struct vision_mmproj;
ember_status vision_mmproj_check_model(const struct vision_mmproj *mp, const lm_model *m, const char *mmproj_path,
                                       const char *model_path, char *err);

#endif
