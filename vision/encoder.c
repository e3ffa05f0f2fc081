/* encoder.c - preprocessing, the ViT per tile, and the embedding cache
 * (see encoder.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encoder.h"
#include "vit.h"

typedef struct cache_entry {
    uint64_t key[2];
    unsigned long long used; /* last use, for LRU */
    size_t bytes;
    vision_embd embd;
} cache_entry;

struct vision_encoder {
    const vision_mmproj *mp;
    vision_encoder_params p;
    vision_preproc_params pp;
    vision_vit *vit;
    cache_entry *cache;
    int n_cache, cap_cache;
    size_t cache_bytes;
    unsigned long long clock;
    vision_cache_stats stats;
    vision_embd scratch; /* the result when nothing is kept */
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void embd_free(vision_embd *e) {
    free(e->data);
    free(e->pixels);
    free(e->vit);
    memset(e, 0, sizeof *e);
}

vision_encoder *vision_encoder_create(const vision_mmproj *mp, const vision_encoder_params *p, char *err) {
    vision_encoder *e = calloc(1, sizeof *e);
    if (!e) { em_err(err, EM_ERR_NOMEM, "vision_encoder_create: out of memory"); return NULL; }
    e->mp = mp;
    if (p) e->p = *p;
    if (e->p.cache_bytes == 0) e->p.cache_bytes = (size_t)64 << 20;
    const vision_hparams *hp = &mp->hp;
    e->pp.tile = hp->image_size;
    e->pp.longest_edge = e->p.longest_edge > 0 ? e->p.longest_edge : hp->longest_edge;
    e->pp.max_tiles = e->p.max_tiles;
    e->pp.mode = e->p.resize != VISION_RESIZE_AUTO ? e->p.resize : hp->resize;
    if (!vision_resize_mode_name(e->pp.mode)) {
        em_err(err, EM_ERR_ARG, "vision_encoder_create: resize mode %d is not one of preprocess.h's", (int)e->pp.mode);
        free(e);
        return NULL;
    }
    memcpy(e->pp.mean, hp->mean, sizeof e->pp.mean);
    memcpy(e->pp.std, hp->std, sizeof e->pp.std);
    if (!(e->vit = vision_vit_create(mp, err))) {
        free(e);
        return NULL;
    }
    return e;
}

void vision_encoder_free(vision_encoder *e) {
    if (!e) return;
    for (int i = 0; i < e->n_cache; i++) embd_free(&e->cache[i].embd);
    free(e->cache);
    embd_free(&e->scratch);
    vision_vit_free(e->vit);
    free(e);
}

ember_status vision_encode_tiles(vision_encoder *e, const float *pix, int n_tiles, float *tokens, float *vit, char *err) {
    const vision_hparams *hp = &e->mp->hp;
    const size_t per_pix = (size_t)3 * hp->image_size * hp->image_size;
    const size_t per_tok = (size_t)hp->tokens_per_tile * hp->proj_dim, per_vit = (size_t)hp->n_patches * hp->n_embd;
    for (int t = 0; t < n_tiles; t++) {
        ember_status st = vision_vit_run(e->vit, pix + per_pix * t, tokens + per_tok * t, vit ? vit + per_vit * t : NULL, err);
        if (st) return st;
        if (e->p.progress) e->p.progress(e->p.progress_user, t + 1, n_tiles);
    }
    return EM_OK;
}

ember_status vision_encoder_plan(const vision_encoder *e, int w, int h, int *grid_x, int *grid_y, int *n_tiles, char *err) {
    int rw, rh;
    ember_status st = vision_preproc_plan(&e->pp, w, h, &rw, &rh, grid_x, grid_y, err);
    if (st) return st;
    *n_tiles = *grid_x * *grid_y + 1;
    return EM_OK;
}

/* Two independent 64-bit hashes (FNV-1a and a multiply-xorshift) over the
 * size, the preprocessing that shapes the tiles, and every pixel: a false
 * hit would answer about the wrong frame, so 128 bits, not 64. */
static void image_key(const vision_encoder *e, const vision_image *img, uint64_t key[2]) {
    uint64_t a = 0xcbf29ce484222325ull, b = 0x9e3779b97f4a7c15ull;
    const uint64_t hdr[5] = {(uint64_t)img->w, (uint64_t)img->h, (uint64_t)e->pp.longest_edge, (uint64_t)e->pp.tile,
                             (uint64_t)e->pp.mode};
    const uint8_t *hb = (const uint8_t *)hdr;
    for (size_t i = 0; i < sizeof hdr; i++) a = (a ^ hb[i]) * 0x100000001b3ull;
    const size_t n = (size_t)img->w * img->h * 3;
    const uint8_t *px = img->rgb;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, px + i, 8);
        b ^= w;
        b *= 0xff51afd7ed558ccdull;
        b ^= b >> 32;
        for (int j = 0; j < 8; j++) a = (a ^ px[i + j]) * 0x100000001b3ull;
    }
    for (; i < n; i++) {
        a = (a ^ px[i]) * 0x100000001b3ull;
        b = (b ^ px[i]) * 0xc4ceb9fe1a85ec53ull;
    }
    key[0] = a;
    key[1] = b ^ (b >> 29);
}

static void evict_to(vision_encoder *e, size_t budget) {
    while (e->n_cache > 0 && e->cache_bytes > budget) {
        int lru = 0;
        for (int i = 1; i < e->n_cache; i++)
            if (e->cache[i].used < e->cache[lru].used) lru = i;
        e->cache_bytes -= e->cache[lru].bytes;
        embd_free(&e->cache[lru].embd);
        e->cache[lru] = e->cache[--e->n_cache];
        e->stats.evictions++;
    }
}

ember_status vision_encode_image(vision_encoder *e, const vision_image *img, const vision_embd **out, char *err) {
    const vision_hparams *hp = &e->mp->hp;
    uint64_t key[2];
    image_key(e, img, key);
    for (int i = 0; i < e->n_cache; i++)
        if (e->cache[i].key[0] == key[0] && e->cache[i].key[1] == key[1]) {
            e->cache[i].used = ++e->clock;
            e->cache[i].embd.from_cache = true;
            e->stats.hits++;
            *out = &e->cache[i].embd;
            return EM_OK;
        }
    e->stats.misses++;

    vision_embd r = {0};
    vision_tiles tiles = {0};
    double t0 = now_ms();
    ember_status st = vision_preprocess(&e->pp, img, &tiles, err);
    if (st) return st;
    r.ms_preprocess = now_ms() - t0;
    r.grid_x = tiles.grid_x;
    r.grid_y = tiles.grid_y;
    r.n_tiles = tiles.n_tiles;
    r.tokens_per_tile = hp->tokens_per_tile;
    r.n_embd = hp->proj_dim;
    const size_t n_tok = (size_t)r.n_tiles * r.tokens_per_tile * r.n_embd;
    r.data = malloc(n_tok * sizeof(float));
    if (e->p.keep_intermediates) r.vit = malloc((size_t)r.n_tiles * hp->n_patches * hp->n_embd * sizeof(float));
    if (!r.data || (e->p.keep_intermediates && !r.vit)) {
        st = em_err(err, EM_ERR_NOMEM, "vision_encode_image: %d tiles: out of memory", r.n_tiles);
        goto fail;
    }
    t0 = now_ms();
    if ((st = vision_encode_tiles(e, tiles.pix, tiles.n_tiles, r.data, r.vit, err))) goto fail;
    r.ms_encode = now_ms() - t0;
    if (e->p.keep_intermediates) {
        r.pixels = tiles.pix;
        tiles.pix = NULL;
    }
    vision_tiles_free(&tiles);

    /* keep it, unless it alone exceeds the budget */
    size_t bytes = n_tok * sizeof(float);
    if (e->p.cache_bytes != SIZE_MAX && bytes <= e->p.cache_bytes) {
        evict_to(e, e->p.cache_bytes - bytes);
        if (e->n_cache == e->cap_cache) {
            int cap = e->cap_cache ? e->cap_cache * 2 : 8;
            cache_entry *c = realloc(e->cache, (size_t)cap * sizeof *c);
            if (!c) {
                st = em_err(err, EM_ERR_NOMEM, "vision_encode_image: cache: out of memory");
                goto fail;
            }
            e->cache = c;
            e->cap_cache = cap;
        }
        cache_entry *ce = &e->cache[e->n_cache++];
        ce->key[0] = key[0];
        ce->key[1] = key[1];
        ce->used = ++e->clock;
        ce->bytes = bytes;
        ce->embd = r;
        e->cache_bytes += bytes;
        *out = &ce->embd;
    } else {
        embd_free(&e->scratch);
        e->scratch = r;
        *out = &e->scratch;
    }
    return EM_OK;
fail:
    vision_tiles_free(&tiles);
    embd_free(&r);
    return st;
}

void vision_encoder_cache_stats(const vision_encoder *e, vision_cache_stats *st) {
    *st = e->stats;
    st->bytes = e->cache_bytes;
    st->entries = (size_t)e->n_cache;
}

vision_resize_mode vision_encoder_resize(const vision_encoder *e) { return e->pp.mode; }

size_t vision_encoder_bytes(const vision_encoder *e) { return vision_vit_bytes(e->vit); }
