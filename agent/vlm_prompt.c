/* vlm_prompt.c - the SmolVLM image-token layout (see vlm_prompt.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vlm_prompt.h"

/* The first token whose piece (specials rendered) is exactly text. */
static int32_t find_piece(const lm_vocab *v, const char *text) {
    const int32_t n = lm_vocab_n_tokens(v);
    const int len = (int)strlen(text);
    char buf[64];
    int32_t hit = lm_vocab_find(v, text); /* fast path: stored text is the piece (specials) */
    if (hit >= 0 && lm_token_to_piece(v, hit, true, buf, sizeof buf) == len && memcmp(buf, text, (size_t)len) == 0) return hit;
    for (int32_t i = 0; i < n; i++)
        if (lm_token_to_piece(v, i, true, buf, sizeof buf) == len && memcmp(buf, text, (size_t)len) == 0) return i;
    return -1;
}

ember_status agent_vlm_layout_find(const lm_vocab *v, agent_vlm_layout *t, char *err) {
    struct { const char *text, *shown; int32_t *dst; } need[] = {
        {"<fake_token_around_image>", "<fake_token_around_image>", &t->fake},
        {"<image>", "<image>", &t->image},
        {"<global-img>", "<global-img>", &t->global},
        {"\n", "\"\\n\"", &t->nl},
        {"\n\n", "\"\\n\\n\"", &t->nlnl},
    };
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        *need[i].dst = find_piece(v, need[i].text);
        if (*need[i].dst < 0)
            return em_err(err, EM_ERR_NOT_FOUND, "the vocabulary has no %s token (SmolVLM's image layout needs it)", need[i].shown);
    }
    return EM_OK;
}

ember_status agent_vlm_add_image(lm_prompt *p, const lm_vocab *v, const agent_vlm_layout *t, agent_vlm_image *img,
                                 char *err) {
    if (img->n_tiles != img->grid_x * img->grid_y + 1)
        return em_err(err, EM_ERR_ARG, "image: %d tiles for a %d x %d grid and its overview", img->n_tiles, img->grid_x,
                      img->grid_y);
    const size_t tile = (size_t)img->tokens_per_tile * (size_t)p->n_embd;
    const float *rows = img->rows;
    img->row0 = p->n_rows;
    ember_status st;
    for (int r = 0; r < img->grid_y; r++) {
        for (int c = 0; c < img->grid_x; c++) {
            /* tokenized like llama.cpp: a <row_r_col_c> the vocabulary lacks
             * (grids past 6 x 6) falls back to its text */
            char tag[80];
            int len = snprintf(tag, sizeof tag, "<fake_token_around_image><row_%d_col_%d>", r + 1, c + 1);
            if ((st = lm_prompt_add_text(p, v, tag, (size_t)len, false, err)) ||
                (st = lm_prompt_add_embd(p, rows, img->tokens_per_tile, t->image, err)))
                return st;
            if (rows) rows += tile;
        }
        if (r != img->grid_y - 1 && (st = lm_prompt_add_tokens(p, &t->nl, 1, err))) return st;
    }
    /* a grid's global image follows "\n\n"; an image of one tile (grid
     * 0 x 0, transformers' single-image layout) is the global image alone */
    const int32_t head[3] = {t->nlnl, t->fake, t->global};
    const int skip = img->grid_x * img->grid_y == 0 ? 1 : 0;
    if ((st = lm_prompt_add_tokens(p, head + skip, 3 - skip, err)) ||
        (st = lm_prompt_add_embd(p, rows, img->tokens_per_tile, t->image, err)))
        return st;
    return lm_prompt_add_tokens(p, &t->fake, 1, err);
}

ember_status agent_vlm_prompt_build(lm_prompt *p, const lm_vocab *v, const agent_vlm_layout *t, const char *text,
                                    agent_vlm_image *images, int n_images, char *err) {
    const size_t ml = strlen(AGENT_VLM_MARKER);
    int found = 0;
    for (const char *s = strstr(text, AGENT_VLM_MARKER); s; s = strstr(s + ml, AGENT_VLM_MARKER)) found++;
    if (found != n_images)
        return em_err(err, EM_ERR_ARG, "the prompt has %d image marker%s (%s) for %d image%s", found, found == 1 ? "" : "s",
                      AGENT_VLM_MARKER, n_images, n_images == 1 ? "" : "s");
    const char *s = text;
    bool first = true;
    ember_status st;
    for (int i = 0; i <= n_images; i++) {
        const char *m = i < n_images ? strstr(s, AGENT_VLM_MARKER) : s + strlen(s);
        /* the BOS, where the vocabulary adds one, goes before everything */
        if ((m > s || first) && (st = lm_prompt_add_text(p, v, s, (size_t)(m - s), first, err))) return st;
        first = false;
        if (i == n_images) break;
        if ((st = agent_vlm_add_image(p, v, t, &images[i], err))) return st;
        s = m + ml;
    }
    return EM_OK;
}

ember_status agent_vlm_check_pair(const vision_mmproj *mp, const lm_model *m, const char *mmproj_path,
                                  const char *model_path, char *err) {
    if (mp->hp.proj_dim != m->hp.n_embd)
        return em_err(err, EM_ERR_ARG, "%s projects images to width %d, but %s has embedding width %d: "
                      "they are not a pair (use the mmproj published with this model)",
                      mmproj_path, mp->hp.proj_dim, model_path, m->hp.n_embd);
    agent_vlm_layout t;
    char e[EM_ERR_LEN];
    if (agent_vlm_layout_find(m->vocab, &t, e) != EM_OK)
        return em_err(err, EM_ERR_ARG, "%s cannot take SmolVLM images: %s", model_path, e);
    return EM_OK;
}
