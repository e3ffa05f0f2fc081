/* test_vision.c - the vision pipeline's pieces that need no model file:
 * Idefics3 pixel shuffle against transformers' reshape/permute chain done
 * index by index, the tiling plan against llama.cpp's arithmetic worked by
 * hand, the resamplers (identity, corners, flat images, a hand-computed
 * bicubic value), tile order and normalisation, and bad input.
 * (The ViT, the projector product and the prompt layout are checked against
 * the PyTorch reference in tests/vision_ref.py.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "projector/idefics3.h"
#include "vision/image.h"
#include "vision/preprocess.h"

/* transformers' Idefics3Connector.pixel_shuffle, one reshape/permute at a
 * time over explicit index arithmetic (not the closed form idefics3.c uses). */
static void shuffle_by_steps(const float *in, int g, int d, int s, float *out) {
    const int seq = g * g;
    /* x.view(h, w, d) -> view(h, w/s, d*s): a pure reinterpretation */
    /* permute(0,2,1,3) -> [w/s][h][d*s] materialised */
    float *a = malloc(sizeof(float) * (size_t)seq * d);
    for (int h = 0; h < g; h++)
        for (int W = 0; W < g / s; W++)
            for (int e = 0; e < d * s; e++) a[((size_t)W * g + h) * d * s + e] = in[((size_t)h * (g / s) + W) * d * s + e];
    /* reshape(w/s, h/s, d*s*s): reinterpretation; permute(0,2,1,3) -> [h/s][w/s][d*s*s] */
    for (int H = 0; H < g / s; H++)
        for (int W = 0; W < g / s; W++)
            for (int e = 0; e < d * s * s; e++)
                out[((size_t)H * (g / s) + W) * d * s * s + e] = a[((size_t)W * (g / s) + H) * d * s * s + e];
    free(a);
}

static void test_shuffle(void) {
    const int cases[][3] = {{4, 3, 2}, {8, 5, 4}, {6, 2, 3}, {32, 4, 4}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int g = cases[c][0], d = cases[c][1], s = cases[c][2];
        size_t n = (size_t)g * g * d;
        float *in = malloc(n * sizeof(float)), *o1 = malloc(n * sizeof(float)), *o2 = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) in[i] = (float)i;
        proj_idefics3_shuffle(in, g, d, s, o1);
        shuffle_by_steps(in, g, d, s, o2);
        CHECK(memcmp(o1, o2, n * sizeof(float)) == 0, "shuffle g=%d d=%d s=%d differs from the reshape chain", g, d, s);
        /* and the closed form of the header, at one spot: token (X=1,Y=0), block (dx=1, dy=0) */
        if (g / s > 1) {
            int X = 1, Y = 0, dx = 1, dy = 0, cc = d - 1;
            float want = in[((size_t)(Y * s + dy) * g + X * s + dx) * d + cc];
            float got = o1[((size_t)Y * (g / s) + X) * d * s * s + (size_t)(dy * s + dx) * d + cc];
            CHECK(want == got, "closed form: %g vs %g", want, got);
        }
        free(in); free(o1); free(o2);
    }
}

static void test_plan(void) {
    vision_preproc_params p = {512, 2048, 0, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}};
    struct { int w, h, rw, rh, gx, gy; } cases[] = {
        {512, 512, 2048, 2048, 4, 4},   /* upscaled: the longest edge goes to 2048 */
        {640, 480, 2048, 1536, 4, 3},   /* 480 * 3.2 = 1536 exactly */
        {1920, 1080, 2048, 1536, 4, 3}, /* 1080 * 1.0667 = 1152 -> up to 1536 */
        {100, 1000, 512, 2048, 1, 4},   /* 100 * 2.048 = 204.8 -> 512 */
        {1, 1, 2048, 2048, 4, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rw, rh, gx, gy;
        char err[EM_ERR_LEN];
        ember_status st = vision_preproc_plan(&p, cases[i].w, cases[i].h, &rw, &rh, &gx, &gy, err);
        CHECK(st == EM_OK && rw == cases[i].rw && rh == cases[i].rh && gx == cases[i].gx && gy == cases[i].gy,
              "%dx%d: got %dx%d grid %dx%d (%s)", cases[i].w, cases[i].h, rw, rh, gx, gy, st ? err : "ok");
    }
    p.longest_edge = 512;
    int rw, rh, gx, gy;
    char err[EM_ERR_LEN];
    CHECK(vision_preproc_plan(&p, 640, 480, &rw, &rh, &gx, &gy, err) == EM_OK && gx == 1 && gy == 1, "512 edge: one tile");
    p.max_tiles = 4;
    p.longest_edge = 2048;
    CHECK(vision_preproc_plan(&p, 640, 480, &rw, &rh, &gx, &gy, err) == EM_ERR_RANGE && strstr(err, "tiles"),
          "max_tiles refuses 12 tiles: %s", err);
    p.max_tiles = 0;
    p.tile = 8;
    p.longest_edge = 1 << 16; /* 1 x 20000 -> 1 x 8192 tiles of 8 */
    CHECK(vision_preproc_plan(&p, 1, 20000, &rw, &rh, &gx, &gy, err) == EM_ERR_RANGE, "an extreme aspect ratio is refused");
    CHECK(vision_preproc_plan(&p, 0, 10, &rw, &rh, &gx, &gy, err) == EM_ERR_ARG, "empty image refused");
}

static vision_image pattern(int w, int h) {
    vision_image img = {w, h, malloc((size_t)w * h * 3)};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) img.rgb[((size_t)y * w + x) * 3 + c] = (uint8_t)((x * 7 + y * 13 + c * 50 + (x * y) % 11) & 255);
    return img;
}

/* llama.cpp's bicubic written directly (5 cubics per output value), as
 * preprocess.c had it before its separable form: the oracle that form must
 * match bit for bit. */
static float ref_cubic(float p0, float p1, float p2, float p3, float t) {
    float d0 = p0 - p1, d2 = p2 - p1, d3 = p3 - p1, a0 = p1;
    float a1 = (float)(-1.0 / 3 * d0 + d2 - 1.0 / 6 * d3);
    float a2 = (float)(1.0 / 2 * d0 + 1.0 / 2 * d2);
    float a3 = (float)(-1.0 / 6 * d0 - 1.0 / 2 * d2 + 1.0 / 6 * d3);
    return a0 + a1 * t + a2 * t * t + a3 * t * t * t;
}

static int ref_clamp(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }

static void ref_bicubic(const vision_image *src, int tw, int th, uint8_t *dst) {
    const int w = src->w, h = src->h;
    const float tx = (float)w / (float)tw, ty = (float)h / (float)th;
#define PX(xx, yy, k) ((float)src->rgb[((size_t)ref_clamp(yy, 0, h - 1) * w + ref_clamp(xx, 0, w - 1)) * 3 + (k)])
    for (int i = 0; i < th; i++) {
        const int y = (int)(ty * (float)i);
        const float dy = ty * (float)i - (float)y;
        for (int j = 0; j < tw; j++) {
            const int x = (int)(tx * (float)j);
            const float dx = tx * (float)j - (float)x;
            for (int k = 0; k < 3; k++) {
                float C[4];
                for (int jj = 0; jj < 4; jj++) {
                    const int yy = y - 1 + jj;
                    C[jj] = ref_cubic(PX(x - 1, yy, k), PX(x, yy, k), PX(x + 1, yy, k), PX(x + 2, yy, k), dx);
                }
                float v = roundf(ref_cubic(C[0], C[1], C[2], C[3], dy));
                dst[((size_t)i * tw + j) * 3 + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    }
#undef PX
}

/* The separable bicubic against the direct one, bit for bit: up, down,
 * mixed, 1-pixel sources and targets, random pixels. */
static void test_bicubic_exact(void) {
    char err[EM_ERR_LEN];
    static const int sz[][4] = {{37, 23, 90, 50}, {300, 200, 64, 43}, {512, 384, 512, 384}, {1, 1, 7, 5},
                                {9, 1, 3, 4},    {5, 17, 11, 2},    {640, 480, 333, 777}, {2, 3, 1, 1}};
    uint32_t rng = 12345;
    for (size_t c = 0; c < sizeof sz / sizeof sz[0]; c++) {
        vision_image src = {sz[c][0], sz[c][1], malloc((size_t)sz[c][0] * sz[c][1] * 3)}, d = {0};
        for (size_t i = 0; i < (size_t)sz[c][0] * sz[c][1] * 3; i++) src.rgb[i] = (uint8_t)((rng = rng * 1664525u + 1013904223u) >> 24);
        uint8_t *want = malloc((size_t)sz[c][2] * sz[c][3] * 3);
        ref_bicubic(&src, sz[c][2], sz[c][3], want);
        CHECK(vision_resize_bicubic(&src, sz[c][2], sz[c][3], &d, err) == EM_OK &&
                  memcmp(d.rgb, want, (size_t)sz[c][2] * sz[c][3] * 3) == 0,
              "bicubic %dx%d -> %dx%d differs from the direct form", sz[c][0], sz[c][1], sz[c][2], sz[c][3]);
        vision_image_free(&d);
        free(want);
        free(src.rgb);
    }
}

static void test_resize(void) {
    char err[EM_ERR_LEN];
    vision_image src = pattern(37, 23), d = {0};
    CHECK(vision_resize_bilinear(&src, 37, 23, &d, err) == EM_OK && memcmp(d.rgb, src.rgb, 37 * 23 * 3) == 0, "bilinear identity");
    vision_image_free(&d);
    CHECK(vision_resize_bicubic(&src, 37, 23, &d, err) == EM_OK && memcmp(d.rgb, src.rgb, 37 * 23 * 3) == 0, "bicubic identity");
    vision_image_free(&d);
    /* bilinear maps corners to corners */
    CHECK(vision_resize_bilinear(&src, 90, 50, &d, err) == EM_OK, "bilinear up");
    CHECK(memcmp(d.rgb, src.rgb, 3) == 0 && memcmp(d.rgb + ((size_t)49 * 90 + 89) * 3, src.rgb + ((size_t)22 * 37 + 36) * 3, 3) == 0,
          "bilinear corners");
    vision_image_free(&d);
    /* a flat image stays flat under both */
    vision_image flat = {16, 9, malloc(16 * 9 * 3)};
    memset(flat.rgb, 77, 16 * 9 * 3);
    int ok = 1;
    CHECK(vision_resize_bicubic(&flat, 40, 31, &d, err) == EM_OK, "bicubic flat");
    for (int i = 0; i < 40 * 31 * 3; i++) ok &= d.rgb[i] == 77;
    CHECK(ok, "bicubic keeps a flat image flat");
    vision_image_free(&d);
    /* bicubic, 2 -> 4 columns of one row [0, 100]: output j samples x = j/2:
     * j=1: x=0, dx=0.5, samples p(-1)=0 p0=0 p1=100 p2=100 (edges clamped):
     * d0=0, d2=100, d3=100; a1=100-16.67=83.33, a2=50, a3=-50+16.67=-33.33
     * -> 0 + 41.67 + 12.5 - 4.17 = 50.0 -> 50 */
    vision_image two = {2, 1, malloc(6)};
    uint8_t px[6] = {0, 0, 0, 100, 100, 100};
    memcpy(two.rgb, px, 6);
    CHECK(vision_resize_bicubic(&two, 4, 1, &d, err) == EM_OK && d.rgb[0] == 0 && d.rgb[3] == 50 && d.rgb[6] == 100,
          "bicubic hand value: %d %d %d", d.rgb[0], d.rgb[3], d.rgb[6]);
    vision_image_free(&d);
    vision_image_free(&two);
    vision_image_free(&flat);
    vision_image_free(&src);
}

static void test_tiles(void) {
    char err[EM_ERR_LEN];
    vision_preproc_params p = {8, 16, 0, {0.5f, 0.25f, 0.0f}, {0.5f, 0.5f, 1.0f}};
    /* 16 x 8 -> refined 16 x 8 exactly (a copy): 2 x 1 grid + overview */
    vision_image img = pattern(16, 8);
    vision_tiles t = {0};
    CHECK(vision_preprocess(&p, &img, &t, err) == EM_OK && t.grid_x == 2 && t.grid_y == 1 && t.n_tiles == 3, "16x8 plan: %s", err);
    if (t.pix) {
        /* tile 1 (the right half), channel 1, pixel (x=3, y=5) = source (11, 5) */
        float want = ((float)img.rgb[((size_t)5 * 16 + 11) * 3 + 1] / 255.0f - 0.25f) / 0.5f;
        float got = t.pix[(size_t)1 * 3 * 64 + 1 * 64 + 5 * 8 + 3];
        CHECK(fabsf(want - got) < 1e-6f, "tile order and normalisation: %g vs %g", want, got);
        /* the overview is last and is the bilinear 8 x 8 of the source */
        vision_image ov = {0};
        vision_resize_bilinear(&img, 8, 8, &ov, err);
        float w2 = ((float)ov.rgb[((size_t)7 * 8 + 7) * 3 + 2] / 255.0f - 0.0f) / 1.0f;
        CHECK(fabsf(t.pix[(size_t)2 * 3 * 64 + 2 * 64 + 7 * 8 + 7] - w2) < 1e-6f, "overview last");
        vision_image_free(&ov);
    }
    vision_tiles_free(&t);
    vision_image_free(&img);
    /* 10 x 3 -> scale 1.6 -> 16 x 4.8 -> 16 x 8 canvas; resized 16 x 5 at row offset 1, black around */
    img = pattern(10, 3);
    CHECK(vision_preprocess(&p, &img, &t, err) == EM_OK && t.grid_x == 2 && t.grid_y == 1, "10x3 plan");
    if (t.pix) {
        float black0 = (0.0f - 0.5f) / 0.5f;
        CHECK(fabsf(t.pix[0] - black0) < 1e-6f && fabsf(t.pix[7 * 8] - black0) < 1e-6f, "padding rows are black");
    }
    vision_tiles_free(&t);
    vision_image_free(&img);
    p.std[1] = 0;
    img = pattern(4, 4);
    CHECK(vision_preprocess(&p, &img, &t, err) == EM_ERR_FORMAT, "std 0 refused");
    vision_image_free(&img);
}

int main(void) {
    test_shuffle();
    test_plan();
    test_resize();
    test_bicubic_exact();
    test_tiles();
    return CHECK_DONE();
}
