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
#include "vision/resample.h"

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
    vision_preproc_params p = {VISION_RESIZE_LLAMACPP, 512, 2048, 0, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}};
    struct { int w, h, rw, rh, gx, gy; } cases[] = {
        {512, 512, 2048, 2048, 4, 4},   /* upscaled: the longest edge goes to 2048 */
        {640, 480, 2048, 1536, 4, 3},   /* 480 * 3.2 = 1536 exactly */
        {1920, 1080, 2048, 1536, 4, 3}, /* 1080 * 1.0667 = 1152 -> up to 1536 */
        {100, 1000, 512, 2048, 1, 4},   /* 100 * 2.048 = 204.8 -> 512 */
        {1, 1, 2048, 2048, 4, 4},
    };
    /* transformers: the sizes of Python's arithmetic (tests/preprocess_ref.py
     * draws many more against Pillow) */
    struct { int w, h, rw, rh, gx, gy; } hf[] = {
        {512, 512, 2048, 2048, 4, 4},   {640, 480, 2048, 1536, 4, 3},  {1920, 1080, 2048, 1536, 4, 3},
        {100, 1000, 512, 2048, 1, 4},   /* 204.8 -> 204 wide, then 512 */
        {300, 200, 2048, 1536, 4, 3},   /* 1365.33 -> 1365, odd -> 1366, then 1536 */
        {333, 1000, 1024, 2048, 2, 4},  /* 681.98 -> 681 -> 682, then 1024 */
        {1, 20000, 512, 2048, 1, 4},    /* 0 wide -> 1, then 512 */
    };
    int rw, rh, gx, gy;
    char err[EM_ERR_LEN];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ember_status st = vision_preproc_plan(&p, cases[i].w, cases[i].h, &rw, &rh, &gx, &gy, err);
        CHECK(st == EM_OK && rw == cases[i].rw && rh == cases[i].rh && gx == cases[i].gx && gy == cases[i].gy,
              "llamacpp %dx%d: got %dx%d grid %dx%d (%s)", cases[i].w, cases[i].h, rw, rh, gx, gy, st ? err : "ok");
    }
    p.mode = VISION_RESIZE_TRANSFORMERS;
    for (size_t i = 0; i < sizeof hf / sizeof hf[0]; i++) {
        ember_status st = vision_preproc_plan(&p, hf[i].w, hf[i].h, &rw, &rh, &gx, &gy, err);
        CHECK(st == EM_OK && rw == hf[i].rw && rh == hf[i].rh && gx == hf[i].gx && gy == hf[i].gy,
              "transformers %dx%d: got %dx%d grid %dx%d (%s)", hf[i].w, hf[i].h, rw, rh, gx, gy, st ? err : "ok");
    }
    p.longest_edge = 512; /* 640 x 480 -> 512 x 384 -> 512 x 512: one tile, no grid */
    CHECK(vision_preproc_plan(&p, 640, 480, &rw, &rh, &gx, &gy, err) == EM_OK && gx == 0 && gy == 0 && rw == 512 && rh == 512,
          "transformers, 512 edge: a single tile (grid %dx%d)", gx, gy);
    /* an edge past 4096: step 1 gives 8192 x 6144, capped to 4096 x 3072 */
    p.longest_edge = 8192;
    CHECK(vision_preproc_plan(&p, 640, 480, &rw, &rh, &gx, &gy, err) == EM_OK && rw == 4096 && rh == 3072 && gx == 8 && gy == 6,
          "transformers caps sides at 4096: %dx%d", rw, rh);
    p.mode = VISION_RESIZE_AUTO;
    p.longest_edge = 2048;
    CHECK(vision_preproc_plan(&p, 640, 480, &rw, &rh, &gx, &gy, err) == EM_ERR_ARG, "a mode must be chosen");
    p.mode = VISION_RESIZE_LLAMACPP;
    p.longest_edge = 512;
    CHECK(vision_preproc_plan(&p, 640, 480, &rw, &rh, &gx, &gy, err) == EM_OK && gx == 1 && gy == 1, "llamacpp, 512 edge: one tile");
    p.max_tiles = 4;
    p.longest_edge = 2048;
    CHECK(vision_preproc_plan(&p, 640, 480, &rw, &rh, &gx, &gy, err) == EM_ERR_RANGE && strstr(err, "tiles"),
          "max_tiles refuses 12 tiles: %s", err);
    p.mode = VISION_RESIZE_TRANSFORMERS;
    CHECK(vision_preproc_plan(&p, 640, 480, &rw, &rh, &gx, &gy, err) == EM_ERR_RANGE, "max_tiles, transformers");
    p.mode = VISION_RESIZE_LLAMACPP;
    p.max_tiles = 0;
    p.tile = 8;
    p.longest_edge = 1 << 16; /* 1 x 20000 -> 1 x 8192 tiles of 8 */
    CHECK(vision_preproc_plan(&p, 1, 20000, &rw, &rh, &gx, &gy, err) == EM_ERR_RANGE, "an extreme aspect ratio is refused");
    CHECK(vision_preproc_plan(&p, 0, 10, &rw, &rh, &gx, &gy, err) == EM_ERR_ARG, "empty image refused");
    CHECK(strcmp(vision_resize_mode_name(VISION_RESIZE_LLAMACPP), "llamacpp") == 0 &&
              vision_resize_mode_parse("transformers") == VISION_RESIZE_TRANSFORMERS && vision_resize_mode_parse("bicubic") == 0,
          "mode names");
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
    /* mainline's bilinear is not the identity at the same size (it steps by
     * (w - 1) / w); its caller copies instead, as tiles_llamacpp does */
    CHECK(vision_resize_bilinear(&src, 37, 23, &d, err) == EM_OK && memcmp(d.rgb, src.rgb, 37 * 23 * 3) != 0 &&
              memcmp(d.rgb, src.rgb, 3) == 0,
          "bilinear at the same size: mainline's steps");
    vision_image_free(&d);
    CHECK(vision_resize_bicubic(&src, 37, 23, &d, err) == EM_OK && memcmp(d.rgb, src.rgb, 37 * 23 * 3) == 0, "bicubic identity");
    vision_image_free(&d);
    /* mainline's bilinear steps by (w - 1) / tw from 0: one row [0, 100, 200]
     * to 4 columns samples x = 0, 0.5, 1, 1.5 (not corner to corner) */
    vision_image row3 = {3, 1, malloc(9)};
    const uint8_t r3[9] = {0, 0, 0, 100, 100, 100, 200, 200, 200};
    memcpy(row3.rgb, r3, 9);
    CHECK(vision_resize_bilinear(&row3, 4, 1, &d, err) == EM_OK && d.rgb[0] == 0 && d.rgb[3] == 50 && d.rgb[6] == 100 &&
              d.rgb[9] == 150,
          "bilinear steps: %d %d %d %d", d.rgb[0], d.rgb[3], d.rgb[6], d.rgb[9]);
    vision_image_free(&d);
    vision_image_free(&row3);
    /* truncation: 2 columns [0, 255] to 3: x = 0, 1/3, 2/3 -> 0, 85, 170 */
    vision_image two2 = {2, 2, malloc(12)};
    const uint8_t t2[12] = {0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255};
    memcpy(two2.rgb, t2, 12);
    CHECK(vision_resize_bilinear(&two2, 3, 2, &d, err) == EM_OK && d.rgb[3] == 85 && d.rgb[6] == 170, "bilinear thirds: %d %d",
          d.rgb[3], d.rgb[6]);
    vision_image_free(&d);
    vision_image_free(&two2);
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
    vision_preproc_params p = {VISION_RESIZE_LLAMACPP, 8, 16, 0, {0.5f, 0.25f, 0.0f}, {0.5f, 0.5f, 1.0f}};
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

/* Pillow 9.4's Image.resize(LANCZOS) of pattern(11, 7), computed once with
 * Debian's python3-pil: down to 5 x 3 (every byte) and up to 19 x 13 (the
 * first 8 pixels and the sum of all bytes). tests/preprocess_ref.py compares
 * many more sizes against Pillow itself. */
static void test_lanczos(void) {
    static const uint8_t down[45] = {13, 63,  113, 30,  80,  130, 47,  97,  147, 63,  113, 163, 80,  130, 180,
                                     46, 96,  146, 64,  114, 164, 80,  130, 180, 95,  145, 195, 112, 162, 212,
                                     77, 127, 177, 95,  145, 195, 110, 160, 210, 126, 176, 226, 141, 191, 241};
    static const uint8_t up[24] = {0, 48, 98, 1, 51, 101, 6, 56, 106, 10, 60, 110, 14, 64, 114, 18, 68, 118, 22, 72, 122, 26, 76, 126};
    char err[EM_ERR_LEN];
    vision_image src = pattern(11, 7), d = {0};
    CHECK(vision_resize_lanczos(&src, 5, 3, &d, err) == EM_OK && memcmp(d.rgb, down, sizeof down) == 0, "lanczos 11x7 -> 5x3 as Pillow");
    vision_image_free(&d);
    long sum = 0;
    CHECK(vision_resize_lanczos(&src, 19, 13, &d, err) == EM_OK && memcmp(d.rgb, up, sizeof up) == 0, "lanczos 11x7 -> 19x13 as Pillow");
    for (int i = 0; d.rgb && i < 19 * 13 * 3; i++) sum += d.rgb[i];
    CHECK(sum == 95041, "lanczos 11x7 -> 19x13: byte sum %ld, Pillow's 95041", sum);
    vision_image_free(&d);
    CHECK(vision_resize_lanczos(&src, 11, 7, &d, err) == EM_OK && memcmp(d.rgb, src.rgb, 11 * 7 * 3) == 0, "lanczos identity");
    vision_image_free(&d);
    /* one axis only: a pass whose size does not change is not run */
    vision_image h = {0}, v = {0};
    CHECK(vision_resize_lanczos(&src, 11, 3, &v, err) == EM_OK && vision_resize_lanczos(&v, 5, 3, &h, err) == EM_OK,
          "lanczos by axes");
    vision_image flat = {23, 17, malloc(23 * 17 * 3)};
    memset(flat.rgb, 201, 23 * 17 * 3);
    int ok = 1;
    CHECK(vision_resize_lanczos(&flat, 64, 5, &d, err) == EM_OK, "lanczos flat");
    for (int i = 0; d.rgb && i < 64 * 5 * 3; i++) ok &= d.rgb[i] == 201;
    CHECK(ok, "lanczos keeps a flat image flat");
    vision_image_free(&d);
    CHECK(vision_resize_lanczos(&flat, 0, 5, &d, err) == EM_ERR_ARG, "lanczos to an empty size refused");
    vision_image_free(&h);
    vision_image_free(&v);
    vision_image_free(&flat);
    vision_image_free(&src);
}

/* transformers' tiles: crops of the resized image, the global image its
 * LANCZOS S x S, the double-then-float rescale; an image of one tile alone. */
static void test_tiles_transformers(void) {
    char err[EM_ERR_LEN];
    vision_preproc_params p = {VISION_RESIZE_TRANSFORMERS, 8, 16, 0, {0.5f, 0.25f, 0.0f}, {0.5f, 0.5f, 1.0f}};
    /* 16 x 8: step 1 keeps 16 x 8 (8 is even), step 2 too: crops of the image itself */
    vision_image img = pattern(16, 8), g = {0};
    vision_tiles t = {0};
    CHECK(vision_preprocess(&p, &img, &t, err) == EM_OK && t.grid_x == 2 && t.grid_y == 1 && t.n_tiles == 3, "hf 16x8: %s", err);
    if (t.pix) {
        const uint8_t u = img.rgb[((size_t)5 * 16 + 11) * 3 + 1];
        const float want = ((float)((double)u * (1.0 / 255.0)) - 0.25f) / 0.5f;
        CHECK(t.pix[(size_t)1 * 3 * 64 + 1 * 64 + 5 * 8 + 3] == want, "hf tile order and rescale");
        vision_resize_lanczos(&img, 8, 8, &g, err);
        const float w2 = ((float)((double)g.rgb[((size_t)7 * 8 + 6) * 3 + 2] * (1.0 / 255.0)) - 0.0f) / 1.0f;
        CHECK(g.rgb && t.pix[(size_t)2 * 3 * 64 + 2 * 64 + 7 * 8 + 6] == w2, "hf global image last, LANCZOS");
        vision_image_free(&g);
    }
    vision_tiles_free(&t);
    vision_image_free(&img);
    /* 8 x 8 with the longest edge 8: one tile, grid 0 x 0 */
    p.longest_edge = 8;
    img = pattern(8, 8);
    CHECK(vision_preprocess(&p, &img, &t, err) == EM_OK && t.grid_x == 0 && t.grid_y == 0 && t.n_tiles == 1, "hf single tile");
    if (t.pix) {
        const float want = ((float)((double)img.rgb[((size_t)3 * 8 + 4) * 3] * (1.0 / 255.0)) - 0.5f) / 0.5f;
        CHECK(t.pix[3 * 8 + 4] == want, "hf single tile is the image");
    }
    vision_tiles_free(&t);
    vision_image_free(&img);
}

int main(void) {
    test_shuffle();
    test_plan();
    test_resize();
    test_bicubic_exact();
    test_tiles();
    test_lanczos();
    test_tiles_transformers();
    return CHECK_DONE();
}
