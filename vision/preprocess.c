/* preprocess.c - Idefics3 tiling and normalisation, as transformers or
 * as llama.cpp does it (see preprocess.h).
 *
 * The llama.cpp resamplers reproduce its arithmetic, including its types:
 * the bicubic's coefficients are computed in double and stored to float,
 * its polynomials evaluated in float; the bilinear truncates toward zero.
 * Keep it that way: a different rounding moves a pixel by one level, and a
 * tile that differs by one level is a different input to the encoder. The
 * transformers path is Pillow's integer LANCZOS (resample.c) and its sizes
 * are Python's float arithmetic (int() truncation of double quotients). */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "preprocess.h"
#include "resample.h"

static int clampi(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }
static float lerpf(float s, float e, float t) { return s + (e - s) * t; }

static ember_status image_alloc(vision_image *img, int w, int h, char *err) {
    img->rgb = malloc((size_t)w * (size_t)h * 3);
    if (!img->rgb) return em_err(err, EM_ERR_NOMEM, "vision_preprocess: %d x %d image: out of memory", w, h);
    img->w = w;
    img->h = h;
    return EM_OK;
}

ember_status vision_resize_bilinear(const vision_image *src, int tw, int th, vision_image *dst, char *err) {
    ember_status st = image_alloc(dst, tw, th, err);
    if (st) return st;
    const int w = src->w, h = src->h;
    /* mainline's steps: (n - 1) / target from 0, the left sample at most
     * n - 2 (a 1-pixel side: its one sample, where mainline asserts) */
    const float xr = (float)(w - 1) / (float)tw, yr = (float)(h - 1) / (float)th;
    for (int y = 0; y < th; y++) {
        const float py = yr * (float)y;
        const int y0 = clampi((int)py, 0, h > 1 ? h - 2 : 0), y1 = clampi(y0 + 1, 0, h - 1);
        const float yf = py - (float)y0;
        for (int x = 0; x < tw; x++) {
            const float px = xr * (float)x;
            const int x0 = clampi((int)px, 0, w > 1 ? w - 2 : 0), x1 = clampi(x0 + 1, 0, w - 1);
            const float xf = px - (float)x0;
            const uint8_t *p00 = src->rgb + ((size_t)y0 * w + x0) * 3, *p10 = src->rgb + ((size_t)y0 * w + x1) * 3;
            const uint8_t *p01 = src->rgb + ((size_t)y1 * w + x0) * 3, *p11 = src->rgb + ((size_t)y1 * w + x1) * 3;
            uint8_t *d = dst->rgb + ((size_t)y * tw + x) * 3;
            for (int c = 0; c < 3; c++) {
                float top = lerpf((float)p00[c], (float)p10[c], xf);
                float bottom = lerpf((float)p01[c], (float)p11[c], xf);
                d[c] = (uint8_t)lerpf(top, bottom, yf);
            }
        }
    }
    return EM_OK;
}

/* The cubic through four samples around p1 at fraction t (a Catmull-Rom-like
 * form with llama.cpp's coefficients). */
static float cubic(float p0, float p1, float p2, float p3, float t) {
    float d0 = p0 - p1, d2 = p2 - p1, d3 = p3 - p1, a0 = p1;
    float a1 = (float)(-1.0 / 3 * d0 + d2 - 1.0 / 6 * d3);
    float a2 = (float)(1.0 / 2 * d0 + 1.0 / 2 * d2);
    float a3 = (float)(-1.0 / 6 * d0 - 1.0 / 2 * d2 + 1.0 / 6 * d3);
    return a0 + a1 * t + a2 * t * t + a3 * t * t * t;
}

/* llama.cpp's clamp(roundf(v), 0, 255), without a call into libm (x86-64's
 * baseline has no rounding instruction, so roundf is a function call and
 * the row loop could not be vectorised): a float widened to double plus 0.5
 * is exact, so truncating it rounds half away from zero where v >= 0, and
 * where v < 0 it gives at most 0, as roundf does after the clamp. The cubic's
 * values stay far inside int's range. */
static inline uint8_t round_u8(float v) {
    const int i = (int)((double)v + 0.5);
    return (uint8_t)(i < 0 ? 0 : i > 255 ? 255 : i);
}

/* Separable: output (i, j) is the cubic over 4 source rows of the cubic
 * over 4 columns of each, and the column pass of a source row is the same
 * for every output row that uses it. So each needed source row's column
 * pass (tw x 3 values) is computed once into a ring of 4 rows (the rows an
 * output row needs are consecutive, so row r lives in slot r & 3) and the
 * row pass reads them: 5 cubics per output value become about 1 + 4 ty,
 * with the same float operations on the same values (bit for bit the
 * direct form, which tests/test_vision.c keeps as its reference). */
static void bicubic_cols(const vision_image *src, int yy, int tw, const int *xs, const float *dxs, float *hr) {
    const int w = src->w;
    const uint8_t *row = src->rgb + (size_t)yy * w * 3;
    for (int j = 0; j < tw; j++) {
        const int x = xs[j];
        const int c0 = clampi(x - 1, 0, w - 1) * 3, c1 = clampi(x, 0, w - 1) * 3;
        const int c2 = clampi(x + 1, 0, w - 1) * 3, c3 = clampi(x + 2, 0, w - 1) * 3;
        for (int k = 0; k < 3; k++)
            hr[j * 3 + k] = cubic((float)row[c0 + k], (float)row[c1 + k], (float)row[c2 + k], (float)row[c3 + k], dxs[j]);
    }
}

ember_status vision_resize_bicubic(const vision_image *src, int tw, int th, vision_image *dst, char *err) {
    ember_status st = image_alloc(dst, tw, th, err);
    if (st) return st;
    const int w = src->w, h = src->h;
    int *xs = malloc((size_t)tw * sizeof *xs);
    float *dxs = malloc((size_t)tw * sizeof *dxs), *ring = malloc((size_t)4 * tw * 3 * sizeof *ring);
    if (!xs || !dxs || !ring) {
        free(xs);
        free(dxs);
        free(ring);
        vision_image_free(dst);
        return em_err(err, EM_ERR_NOMEM, "vision_resize_bicubic: %d x %d: out of memory", tw, th);
    }
    /* no half-pixel centres: output j samples source x = j * w / tw */
    const float tx = (float)w / (float)tw, ty = (float)h / (float)th;
    for (int j = 0; j < tw; j++) {
        xs[j] = (int)(tx * (float)j);
        dxs[j] = tx * (float)j - (float)xs[j];
    }
    int tag[4] = {-1, -1, -1, -1};
    for (int i = 0; i < th; i++) {
        const int y = (int)(ty * (float)i);
        const float dy = ty * (float)i - (float)y;
        const float *H[4];
        for (int jj = 0; jj < 4; jj++) {
            const int r = clampi(y - 1 + jj, 0, h - 1), slot = r & 3;
            float *hr = ring + (size_t)slot * tw * 3;
            if (tag[slot] != r) {
                bicubic_cols(src, r, tw, xs, dxs, hr);
                tag[slot] = r;
            }
            H[jj] = hr;
        }
        uint8_t *d = dst->rgb + (size_t)i * tw * 3;
        for (int j = 0; j < tw * 3; j++) d[j] = round_u8(cubic(H[0][j], H[1][j], H[2][j], H[3][j], dy));
    }
    free(xs);
    free(dxs);
    free(ring);
    return EM_OK;
}

const char *vision_resize_mode_name(vision_resize_mode m) {
    switch (m) {
    case VISION_RESIZE_AUTO: return "auto";
    case VISION_RESIZE_TRANSFORMERS: return "transformers";
    case VISION_RESIZE_LLAMACPP: return "llamacpp";
    }
    return NULL;
}

vision_resize_mode vision_resize_mode_parse(const char *name) {
    if (name && strcmp(name, "transformers") == 0) return VISION_RESIZE_TRANSFORMERS;
    if (name && strcmp(name, "llamacpp") == 0) return VISION_RESIZE_LLAMACPP;
    return VISION_RESIZE_AUTO;
}

/* transformers caps every side at 4096 ("4k resolution as absolute maximum") */
#define HF_MAX_SIDE 4096

static int ceil_to(int v, int m) { return (v + m - 1) / m * m; }

/* Steps 1 and 2 of the transformers chain: (w1, h1) is the longest-edge
 * resize, (w2, h2) the multiples of S. Python's arithmetic: `/` in double,
 * int() truncating. */
static void hf_sizes(const vision_preproc_params *p, int w, int h, int *w1, int *h1, int *w2, int *h2) {
    const int L = p->longest_edge, S = p->tile;
    double aspect = (double)w / (double)h;
    int nw, nh;
    if (w >= h) {
        nw = L;
        nh = (int)((double)nw / aspect);
        if (nh % 2) nh++;
    } else {
        nh = L;
        nw = (int)((double)nh * aspect);
        if (nw % 2) nw++;
    }
    if (nh < 1) nh = 1;
    if (nw < 1) nw = 1;
    aspect = (double)nw / (double)nh;
    if (nw >= nh && nw > HF_MAX_SIDE) {
        nw = HF_MAX_SIDE;
        nh = (int)((double)nw / aspect);
    } else if (nh > nw && nh > HF_MAX_SIDE) {
        nh = HF_MAX_SIDE;
        nw = (int)((double)nh * aspect);
    }
    if (nh < 1) nh = 1;
    if (nw < 1) nw = 1;
    *w1 = nw;
    *h1 = nh;
    aspect = (double)nw / (double)nh;
    int W, H;
    if (nw >= nh) {
        W = ceil_to(nw, S);
        H = ceil_to((int)((double)W / aspect), S);
    } else {
        H = ceil_to(nh, S);
        W = ceil_to((int)((double)H * aspect), S);
    }
    /* a quotient that truncates to 0 would ask Pillow for an empty image
     * (transformers fails there); one tile's side instead */
    *w2 = W < S ? S : W;
    *h2 = H < S ? S : H;
}

ember_status vision_preproc_plan(const vision_preproc_params *p, int w, int h, int *refined_w, int *refined_h,
                                 int *grid_x, int *grid_y, char *err) {
    const int S = p->tile;
    if (S <= 0 || p->longest_edge <= 0)
        return em_err(err, EM_ERR_ARG, "vision_preprocess: tile %d / longest edge %d must be positive", S, p->longest_edge);
    if (p->mode != VISION_RESIZE_TRANSFORMERS && p->mode != VISION_RESIZE_LLAMACPP)
        return em_err(err, EM_ERR_ARG, "vision_preprocess: resize mode %d is neither transformers nor llamacpp", (int)p->mode);
    if (w <= 0 || h <= 0) return em_err(err, EM_ERR_ARG, "vision_preprocess: empty image (%d x %d)", w, h);
    double rw, rh; /* the grid, in tiles */
    if (p->mode == VISION_RESIZE_TRANSFORMERS) {
        int w1, h1, w2, h2;
        hf_sizes(p, w, h, &w1, &h1, &w2, &h2);
        rw = w2 / S;
        rh = h2 / S;
    } else {
        /* longest side to longest_edge, then each side up to a multiple of S */
        const float sw = (float)p->longest_edge / (float)w, sh = (float)p->longest_edge / (float)h;
        const float scale = sw < sh ? sw : sh;
        rw = ceil((double)((float)w * scale / (float)S));
        rh = ceil((double)((float)h * scale / (float)S));
    }
    /* an extreme aspect ratio (1 x 20000) would ask for thousands of tiles */
    if (rw < 1 || rh < 1 || rw * rh > 4096 || (p->max_tiles > 0 && rw * rh > p->max_tiles))
        return em_err(err, EM_ERR_RANGE, "vision_preprocess: a %d x %d image needs %.0f x %.0f tiles of %d, more than the %d allowed; "
                      "crop it or lower the longest edge", w, h, rw, rh, S, p->max_tiles > 0 ? p->max_tiles : 4096);
    *refined_w = (int)rw * S;
    *refined_h = (int)rh * S;
    /* transformers: an image of one tile is that tile alone, no grid */
    const bool single = p->mode == VISION_RESIZE_TRANSFORMERS && rw == 1 && rh == 1;
    *grid_x = single ? 0 : (int)rw;
    *grid_y = single ? 0 : (int)rh;
    return EM_OK;
}

/* src resized to fit tw x th keeping its aspect (bicubic), centred on black;
 * a copy when the sizes already agree. */
static ember_status refine(const vision_image *src, int tw, int th, vision_image *dst, char *err) {
    ember_status st = image_alloc(dst, tw, th, err);
    if (st) return st;
    if (src->w == tw && src->h == th) {
        memcpy(dst->rgb, src->rgb, (size_t)tw * th * 3);
        return EM_OK;
    }
    const float sw = (float)tw / (float)src->w, sh = (float)th / (float)src->h;
    const float s = sw < sh ? sw : sh;
    int nw = (int)ceilf((float)src->w * s), nh = (int)ceilf((float)src->h * s);
    if (nw > tw) nw = tw;
    if (nh > th) nh = th;
    if (nw < 1) nw = 1;
    if (nh < 1) nh = 1;
    vision_image r = {0};
    if ((st = vision_resize_bicubic(src, nw, nh, &r, err))) {
        vision_image_free(dst);
        return st;
    }
    memset(dst->rgb, 0, (size_t)tw * th * 3);
    const int ox = (tw - nw) / 2, oy = (th - nh) / 2;
    for (int y = 0; y < nh; y++) memcpy(dst->rgb + ((size_t)(y + oy) * tw + ox) * 3, r.rgb + (size_t)y * nw * 3, (size_t)nw * 3);
    vision_image_free(&r);
    return EM_OK;
}

/* Normalise the S x S window at (x0, y0) of img into planar floats. A byte
 * has 256 values: each channel's are computed once, with the same float
 * operations, into a table. */
static void normalize_tile(const vision_preproc_params *p, const vision_image *img, int x0, int y0, float *dst) {
    const int S = p->tile;
    const size_t plane = (size_t)S * S;
    float lut[3][256];
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++) {
            /* transformers rescales in double (u8 * 1/255) to float32, then
             * normalises in float32; llama.cpp divides in float */
            const float r = p->mode == VISION_RESIZE_TRANSFORMERS ? (float)((double)v * (1.0 / 255.0)) : (float)v / 255.0f;
            lut[c][v] = (r - p->mean[c]) / p->std[c];
        }
    for (int y = 0; y < S; y++) {
        const uint8_t *row = img->rgb + ((size_t)(y0 + y) * img->w + x0) * 3;
        float *d0 = dst + (size_t)y * S, *d1 = d0 + plane, *d2 = d1 + plane;
        for (int x = 0; x < S; x++) {
            d0[x] = lut[0][row[x * 3]];
            d1[x] = lut[1][row[x * 3 + 1]];
            d2[x] = lut[2][row[x * 3 + 2]];
        }
    }
}

/* transformers' chain: two LANCZOS resizes, the crops, the global image
 * from the second resize. */
static ember_status tiles_transformers(const vision_preproc_params *p, const vision_image *img, int gx, int gy, float *pix,
                                       char *err) {
    const int S = p->tile;
    const size_t per = (size_t)3 * S * S;
    int w1, h1, w2, h2;
    hf_sizes(p, img->w, img->h, &w1, &h1, &w2, &h2);
    vision_image a = {0}, b = {0}, g = {0};
    ember_status st = vision_resize_lanczos(img, w1, h1, &a, err);
    if (!st) st = vision_resize_lanczos(&a, w2, h2, &b, err);
    vision_image_free(&a);
    if (st) return st;
    if (gx == 0) {
        normalize_tile(p, &b, 0, 0, pix);
    } else {
        for (int ty = 0; ty < gy; ty++)
            for (int tx = 0; tx < gx; tx++) normalize_tile(p, &b, tx * S, ty * S, pix + per * (size_t)(ty * gx + tx));
        if (!(st = vision_resize_lanczos(&b, S, S, &g, err))) normalize_tile(p, &g, 0, 0, pix + per * (size_t)(gx * gy));
        vision_image_free(&g);
    }
    vision_image_free(&b);
    return st;
}

/* llama.cpp's: the refined image (bicubic, padded), its crops, the
 * overview from the source (bilinear). */
static ember_status tiles_llamacpp(const vision_preproc_params *p, const vision_image *img, int rw, int rh, int gx, int gy,
                                   float *pix, char *err) {
    const int S = p->tile;
    const size_t per = (size_t)3 * S * S;
    vision_image refined = {0}, overview = {0};
    ember_status st = refine(img, rw, rh, &refined, err);
    if (st) return st;
    for (int ty = 0; ty < gy; ty++)
        for (int tx = 0; tx < gx; tx++) normalize_tile(p, &refined, tx * S, ty * S, pix + per * (size_t)(ty * gx + tx));
    vision_image_free(&refined);
    if (img->w == S && img->h == S) {
        normalize_tile(p, img, 0, 0, pix + per * (size_t)(gx * gy));
    } else {
        if ((st = vision_resize_bilinear(img, S, S, &overview, err))) return st;
        normalize_tile(p, &overview, 0, 0, pix + per * (size_t)(gx * gy));
        vision_image_free(&overview);
    }
    return EM_OK;
}

ember_status vision_preprocess(const vision_preproc_params *p, const vision_image *img, vision_tiles *out, char *err) {
    int rw, rh, gx, gy;
    ember_status st = vision_preproc_plan(p, img->w, img->h, &rw, &rh, &gx, &gy, err);
    if (st) return st;
    for (int c = 0; c < 3; c++)
        if (!(p->std[c] > 0)) return em_err(err, EM_ERR_FORMAT, "vision_preprocess: image_std[%d] = %g; expected > 0", c, p->std[c]);
    const int S = p->tile, n = gx * gy + 1;
    float *pix = malloc((size_t)3 * S * S * (size_t)n * sizeof(float));
    if (!pix) return em_err(err, EM_ERR_NOMEM, "vision_preprocess: %d tiles of %d x %d: out of memory", n, S, S);
    st = p->mode == VISION_RESIZE_TRANSFORMERS ? tiles_transformers(p, img, gx, gy, pix, err)
                                               : tiles_llamacpp(p, img, rw, rh, gx, gy, pix, err);
    if (st) {
        free(pix);
        return st;
    }
    out->grid_x = gx;
    out->grid_y = gy;
    out->n_tiles = n;
    out->tile = S;
    out->pix = pix;
    return EM_OK;
}

void vision_tiles_free(vision_tiles *t) {
    if (!t) return;
    free(t->pix);
    memset(t, 0, sizeof *t);
}
