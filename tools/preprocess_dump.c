/* preprocess_dump.c - Ember's image preprocessing of one file, written raw,
 * for tests/preprocess_ref.py (which compares it with transformers' and
 * llama.cpp's) and for timing it:
 *
 *   preprocess_dump IMAGE -o OUT --tile S --longest-edge L --image-resize MODE
 *       OUT: the tiles, float32 [n_tiles][3][S][S] (vision/preprocess.h),
 *       mean and std 0.5 (SmolVLM's); stdout: one JSON line
 *       {"grid_x": .., "grid_y": .., "n_tiles": .., "ms": ..} (ms: the
 *       preprocessing alone, not the file's decoding)
 *   preprocess_dump IMAGE -o OUT --lanczos WxH
 *       OUT: the image resized by vision_resize_lanczos, RGB bytes */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli/opt.h"
#include "vision/image.h"
#include "vision/preprocess.h"
#include "vision/resample.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int write_all(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "preprocess_dump: cannot write %s\n", path);
        if (f) fclose(f);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    static const char *const modes[] = {"transformers", "llamacpp", NULL};
    const char *in = NULL, *out = NULL;
    int tile = 512, longest = 2048, mode = 0, lz[2] = {0, 0};
    const opt_spec specs[] = {
        OPT_STR("-o", NULL, "PATH", &out, "output file (required)"),
        OPT_INT(NULL, "--tile", "S", &tile, 1, 4096, "the ViT's tile side"),
        OPT_INT(NULL, "--longest-edge", "L", &longest, 1, 65536, "the longest side before tiling"),
        OPT_CHOICE(NULL, "--image-resize", "MODE", &mode, modes, "transformers | llamacpp"),
        OPT_SIZE(NULL, "--lanczos", "WxH", lz, 1, 65536, "only resize the image (LANCZOS) to WxH"),
        OPT_END};
    char err[OPT_ERR_LEN];
    int n_pos = 0, rc = opt_parse("preprocess_dump", specs, argc, argv, &in, 1, &n_pos, err);
    if (rc == OPT_HELP) {
        printf("usage: preprocess_dump IMAGE -o OUT [--tile S --longest-edge L --image-resize MODE | --lanczos WxH]\n");
        opt_usage(stdout, specs);
        return 0;
    }
    if (rc != OPT_OK) return fprintf(stderr, "%s\n", err), 2;
    if (!in || !out) return fprintf(stderr, "preprocess_dump: give IMAGE and -o OUT\n"), 2;
    vision_image img = {0};
    char e[EM_ERR_LEN];
    if (vision_image_load(in, NULL, &img, e)) return fprintf(stderr, "preprocess_dump: %s\n", e), 1;
    int status = 1;
    if (lz[0] > 0) {
        vision_image r = {0};
        const double t0 = now_ms();
        if (vision_resize_lanczos(&img, lz[0], lz[1], &r, e)) {
            fprintf(stderr, "preprocess_dump: %s\n", e);
        } else if (!write_all(out, r.rgb, (size_t)r.w * r.h * 3)) {
            printf("{\"ms\": %.3f}\n", now_ms() - t0);
            status = 0;
        }
        vision_image_free(&r);
    } else {
        vision_preproc_params p = {mode == 0 ? VISION_RESIZE_TRANSFORMERS : VISION_RESIZE_LLAMACPP, tile, longest, 0,
                                   {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}};
        vision_tiles t = {0};
        const double t0 = now_ms();
        if (vision_preprocess(&p, &img, &t, e)) {
            fprintf(stderr, "preprocess_dump: %s\n", e);
        } else {
            const double ms = now_ms() - t0;
            if (!write_all(out, t.pix, (size_t)t.n_tiles * 3 * tile * tile * sizeof(float))) {
                printf("{\"grid_x\": %d, \"grid_y\": %d, \"n_tiles\": %d, \"ms\": %.3f}\n", t.grid_x, t.grid_y, t.n_tiles, ms);
                status = 0;
            }
        }
        vision_tiles_free(&t);
    }
    vision_image_free(&img);
    return status;
}
