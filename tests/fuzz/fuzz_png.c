/* fuzz_png.c - fuzz target of the PNG decoder (vision/png.c), reached
 * through vision_image_decode's magic sniffing.
 *
 * Whatever the input: no crash, leak or out-of-bounds access; a success is
 * an image inside the limits with every pixel readable; a failure leaves
 * *out zeroed, says what happened in the error buffer (naming the input)
 * and has a status a caller can act on. A broken property abort()s.
 *
 * Nearly every mutation of a PNG breaks a chunk CRC, and the decoder stops
 * there; so each input is also decoded a second time with its CRCs repaired,
 * which lets mutations reach the chunk parsers, zlib and the row filters
 * (the way libpng's own fuzzer turns CRC checking off).
 *
 * Built with clang -fsanitize=fuzzer where it exists, else with
 * tests/fuzz/fuzz_driver.c (see tests/fuzz/fuzz.cmake). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vision/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, ember_status st, const char *err) {
    fprintf(stderr, "fuzz_png: %s (status %d: %s)\n", what, st, err);
    abort();
}

static void check(ember_status st, const vision_image *img, const vision_limits *lim, const char *err) {
    if (st == EM_OK) {
        if (!img->rgb || img->w < 1 || img->h < 1 || img->w > lim->max_side || img->h > lim->max_side ||
            (int64_t)img->w * img->h > lim->max_pixels)
            fail("accepted image outside the limits", st, err);
        unsigned sum = 0; /* touch every byte: ASan checks the buffer's size */
        for (size_t i = 0; i < (size_t)img->w * img->h * 3; i++) sum += img->rgb[i];
        if (sum == 0xffffffffu) fprintf(stderr, "%u\n", sum);
        return;
    }
    if (img->rgb || img->w || img->h) fail("output written on failure", st, err);
    if (!err[0]) fail("failure without a message", st, err);
    if (strncmp(err, "fuzz: ", 6) != 0) fail("message does not name the input", st, err);
    if (st != EM_ERR_FORMAT && st != EM_ERR_RANGE && st != EM_ERR_UNSUPPORTED && st != EM_ERR_NOMEM)
        fail("unexpected status", st, err);
}

static uint32_t crc32_png(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

/* Rewrite the CRC of every whole chunk; returns how many there were. */
static int repair_crcs(uint8_t *b, size_t n) {
    int k = 0;
    for (size_t at = 8; at + 12 <= n; k++) {
        size_t len = (size_t)b[at] << 24 | (size_t)b[at + 1] << 16 | (size_t)b[at + 2] << 8 | b[at + 3];
        if (len > n - at - 12) break;
        uint32_t c = crc32_png(b + at + 4, 4 + len);
        b[at + 8 + len] = (uint8_t)(c >> 24), b[at + 9 + len] = (uint8_t)(c >> 16);
        b[at + 10 + len] = (uint8_t)(c >> 8), b[at + 11 + len] = (uint8_t)c;
        at += 12 + len;
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* small limits: a 40-byte file may claim any size, and the fuzzer's
     * memory and time per input are bounded */
    const vision_limits lim = {4096, (int64_t)4 << 20, (size_t)1 << 20};
    char err[EM_ERR_LEN] = "";
    vision_image img = {0, 0, NULL};
    ember_status st = vision_image_decode(data, size, "fuzz", &lim, &img, err);
    check(st, &img, &lim, err);
    vision_image_free(&img);

    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (size < 8 || memcmp(data, sig, 8) != 0) return 0;
    uint8_t *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    if (repair_crcs(copy, size) > 0) {
        err[0] = 0;
        st = vision_png_decode(copy, size, "fuzz", &lim, &img, err);
        check(st, &img, &lim, err);
        vision_image_free(&img);
    }
    free(copy);
    return 0;
}
