/* vlm_prompt.c - the SmolVLM image-token layout (see vlm_prompt.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../vision/mmproj.h"
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

ember_status vision_layout_tokens_find(const lm_vocab *v, vision_layout_tokens *t, char *err) {
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

void vision_prompt_free(vision_prompt *p) {
    if (!p) return;
    free(p->tokens);
    free(p->embd_row);
    memset(p, 0, sizeof *p);
}

static ember_status reserve(vision_prompt *p, int64_t extra, char *err) {
    if (p->n + extra <= p->cap) return EM_OK;
    int64_t cap = p->cap ? p->cap : 256;
    while (cap < p->n + extra) cap *= 2;
    int32_t *t = realloc(p->tokens, (size_t)cap * sizeof *t);
    if (!t) return em_err(err, EM_ERR_NOMEM, "vision_prompt: %lld positions: out of memory", (long long)cap);
    p->tokens = t;
    int64_t *r = realloc(p->embd_row, (size_t)cap * sizeof *r);
    if (!r) return em_err(err, EM_ERR_NOMEM, "vision_prompt: %lld positions: out of memory", (long long)cap);
    p->embd_row = r;
    p->cap = cap;
    return EM_OK;
}

static ember_status push(vision_prompt *p, int32_t tok, int64_t row, char *err) {
    ember_status st = reserve(p, 1, err);
    if (st) return st;
    p->tokens[p->n] = tok;
    p->embd_row[p->n++] = row;
    return EM_OK;
}

ember_status vision_prompt_add_text(vision_prompt *p, const lm_vocab *v, const char *text, size_t len, bool add_bos,
                                    char *err) {
    int64_t n = lm_tokenize(v, text, len, add_bos, true, NULL, 0, err);
    if (n < 0) return (ember_status)n;
    ember_status st = reserve(p, n, err);
    if (st) return st;
    int64_t got = lm_tokenize(v, text, len, add_bos, true, p->tokens + p->n, n, err);
    if (got < 0) return (ember_status)got;
    for (int64_t i = 0; i < got; i++) p->embd_row[p->n + i] = -1;
    p->n += got;
    return EM_OK;
}

ember_status vision_prompt_add_image(vision_prompt *p, const lm_vocab *v, const vision_layout_tokens *t, int grid_x,
                                     int grid_y, int tokens_per_tile, int64_t row0, char *err) {
    ember_status st;
    int64_t row = row0;
    for (int r = 0; r < grid_y; r++) {
        for (int c = 0; c < grid_x; c++) {
            /* tokenized like llama.cpp: a <row_r_col_c> the vocabulary lacks
             * (grids past 6 x 6) falls back to its text */
            char tag[80];
            int len = snprintf(tag, sizeof tag, "<fake_token_around_image><row_%d_col_%d>", r + 1, c + 1);
            if ((st = vision_prompt_add_text(p, v, tag, (size_t)len, false, err))) return st;
            if ((st = reserve(p, tokens_per_tile, err))) return st;
            for (int i = 0; i < tokens_per_tile; i++) push(p, t->image, row++, err);
        }
        if (r != grid_y - 1 && (st = push(p, t->nl, -1, err))) return st;
    }
    if ((st = push(p, t->nlnl, -1, err)) || (st = push(p, t->fake, -1, err)) || (st = push(p, t->global, -1, err)) ||
        (st = reserve(p, tokens_per_tile + 1, err)))
        return st;
    for (int i = 0; i < tokens_per_tile; i++) push(p, t->image, row++, err);
    return push(p, t->fake, -1, err);
}

ember_status vision_prompt_build(vision_prompt *p, const lm_vocab *v, const vision_layout_tokens *t, const char *text,
                                 const vision_prompt_image *images, int n_images, int tokens_per_tile, char *err) {
    const size_t ml = strlen(VISION_MARKER);
    int found = 0;
    for (const char *s = strstr(text, VISION_MARKER); s; s = strstr(s + ml, VISION_MARKER)) found++;
    if (found != n_images)
        return em_err(err, EM_ERR_ARG, "the prompt has %d image marker%s (%s) for %d image%s", found, found == 1 ? "" : "s",
                      VISION_MARKER, n_images, n_images == 1 ? "" : "s");
    const char *s = text;
    bool first = true;
    ember_status st;
    for (int i = 0; i <= n_images; i++) {
        const char *m = i < n_images ? strstr(s, VISION_MARKER) : s + strlen(s);
        /* the BOS, where the vocabulary adds one, goes before everything */
        if ((m > s || first) && (st = vision_prompt_add_text(p, v, s, (size_t)(m - s), first, err))) return st;
        first = false;
        if (i == n_images) break;
        if ((st = vision_prompt_add_image(p, v, t, images[i].grid_x, images[i].grid_y, tokens_per_tile, images[i].row0, err)))
            return st;
        s = m + ml;
    }
    return EM_OK;
}

ember_status vision_mmproj_check_model(const vision_mmproj *mp, const lm_model *m, const char *mmproj_path,
                                       const char *model_path, char *err) {
    if (mp->hp.proj_dim != m->hp.n_embd)
        return em_err(err, EM_ERR_ARG, "%s projects images to width %d, but %s has embedding width %d: "
                      "they are not a pair (use the mmproj published with this model)",
                      mmproj_path, mp->hp.proj_dim, model_path, m->hp.n_embd);
    vision_layout_tokens t;
    char e[EM_ERR_LEN];
    if (vision_layout_tokens_find(m->vocab, &t, e) != EM_OK)
        return em_err(err, EM_ERR_ARG, "%s cannot take SmolVLM images: %s", model_path, e);
    return EM_OK;
}
