/* fuzz_jpeg.c - fuzz target of the JPEG decoder (vision/jpeg.c) and of the
 * EXIF Orientation parser (vision/exif.c).
 *
 * Whatever the input: no crash, leak or out-of-bounds access; a success is
 * an image inside the limits (sides swapped or not by the orientation) with
 * every pixel readable; a failure leaves *out zeroed, names the input in
 * its message and has a status a caller can act on. The input is also fed
 * to the EXIF parser as an APP1 payload, with and without the "Exif\0\0"
 * prefix, whose answer must be 1..8. A broken property abort()s.
 *
 * Built with clang -fsanitize=fuzzer where it exists, else with
 * tests/fuzz/fuzz_driver.c (see tests/fuzz/fuzz.cmake). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/exif.h"
#include "vision/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, ember_status st, const char *err) {
    fprintf(stderr, "fuzz_jpeg: %s (status %d: %s)\n", what, st, err);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const vision_limits lim = {4096, (int64_t)4 << 20, (size_t)1 << 20};
    char err[EM_ERR_LEN] = "";
    vision_image img = {0, 0, NULL};
    ember_status st = vision_jpeg_decode(data, size, "fuzz", &lim, &img, err);
    if (st == EM_OK) {
        if (!img.rgb || img.w < 1 || img.h < 1 || img.w > lim.max_side || img.h > lim.max_side ||
            (int64_t)img.w * img.h > lim.max_pixels)
            fail("accepted image outside the limits", st, err);
        unsigned sum = 0; /* touch every byte: ASan checks the buffer's size */
        for (size_t i = 0; i < (size_t)img.w * img.h * 3; i++) sum += img.rgb[i];
        if (sum == 0xffffffffu) fprintf(stderr, "%u\n", sum);
    } else {
        if (img.rgb || img.w || img.h) fail("output written on failure", st, err);
        if (strncmp(err, "fuzz: JPEG: ", 12) != 0) fail("message does not name the input", st, err);
        if (st != EM_ERR_FORMAT && st != EM_ERR_RANGE && st != EM_ERR_UNSUPPORTED && st != EM_ERR_NOMEM)
            fail("unexpected status", st, err);
    }
    vision_image_free(&img);

    int o = vision_exif_orientation(data, size);
    if (o < 1 || o > 8) fail("orientation out of 1..8", EM_OK, "");
    uint8_t *app1 = malloc(size + 6); /* exact size: ASan sees a read past the end */
    if (!app1) return 0;
    memcpy(app1, "Exif\0\0", 6);
    if (size) memcpy(app1 + 6, data, size);
    o = vision_exif_orientation(app1, size + 6);
    if (o < 1 || o > 8) fail("orientation out of 1..8", EM_OK, "");
    free(app1);
    return 0;
}
