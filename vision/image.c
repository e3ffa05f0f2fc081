/* image.c - the format-neutral half of image input (image.h): limits, raw
 * frames, reading a file and handing it to the decoder its magic names. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image.h"

vision_limits vision_limits_default(void) {
    vision_limits l = {16384, (int64_t)64 << 20, (size_t)256 << 20};
    return l;
}

int vision_pixfmt_from_name(const char *name) {
    static const char *const names[] = {"rgb8", "rgba8", "bgr8", "bgra8", "gray8"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (name && strcmp(name, names[i]) == 0) return i;
    return -1;
}

int vision_pixfmt_bpp(enum vision_pixfmt fmt) {
    switch (fmt) {
    case VISION_RGB8: case VISION_BGR8: return 3;
    case VISION_RGBA8: case VISION_BGRA8: return 4;
    case VISION_GRAY8: return 1;
    }
    return 0;
}

void vision_image_free(vision_image *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

ember_status vision_image_from_raw(const void *px, int w, int h, size_t stride, enum vision_pixfmt fmt,
                                   const vision_limits *lim, vision_image *out, char *err) {
    vision_limits dl = vision_limits_default();
    if (!lim) lim = &dl;
    const int bpp = vision_pixfmt_bpp(fmt);
    if (bpp == 0) return em_err(err, EM_ERR_ARG, "vision_image_from_raw: unknown pixel format %d", (int)fmt);
    if (w <= 0 || h <= 0 || w > lim->max_side || h > lim->max_side || (int64_t)w * h > lim->max_pixels)
        return em_err(err, EM_ERR_RANGE, "vision_image_from_raw: %d x %d frame outside the limits (sides 1..%d, at most %lld pixels)",
                      w, h, lim->max_side, (long long)lim->max_pixels);
    if (!px) return em_err(err, EM_ERR_ARG, "vision_image_from_raw: no pixels");
    if (stride == 0) stride = (size_t)w * (size_t)bpp;
    if (stride < (size_t)w * (size_t)bpp)
        return em_err(err, EM_ERR_ARG, "vision_image_from_raw: row stride %zu shorter than a row of %d pixels of %d bytes",
                      stride, w, bpp);
    uint8_t *rgb = malloc((size_t)w * (size_t)h * 3);
    if (!rgb) return em_err(err, EM_ERR_NOMEM, "vision_image_from_raw: %d x %d: out of memory", w, h);
    for (int y = 0; y < h; y++) {
        const uint8_t *s = (const uint8_t *)px + (size_t)y * stride;
        uint8_t *d = rgb + (size_t)y * (size_t)w * 3;
        for (int x = 0; x < w; x++, s += bpp, d += 3) {
            switch (fmt) {
            case VISION_RGB8: case VISION_RGBA8: d[0] = s[0]; d[1] = s[1]; d[2] = s[2]; break;
            case VISION_BGR8: case VISION_BGRA8: d[0] = s[2]; d[1] = s[1]; d[2] = s[0]; break;
            case VISION_GRAY8: d[0] = d[1] = d[2] = s[0]; break;
            }
        }
    }
    out->w = w;
    out->h = h;
    out->rgb = rgb;
    return EM_OK;
}

ember_status vision_image_decode(const void *buf, size_t n, const char *name, const vision_limits *lim,
                                 vision_image *out, char *err) {
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t *b = buf;
    if (!name) name = "image";
    if (n >= 8 && memcmp(b, png_magic, 8) == 0) return vision_png_decode(buf, n, name, lim, out, err);
    if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return vision_jpeg_decode(buf, n, name, lim, out, err);
    if (n == 0) return em_err(err, EM_ERR_FORMAT, "%s: empty file; expected a PNG or JPEG image", name);
    /* shorter than a magic number, and the start of one: a cut-off file */
    static const uint8_t jpeg_magic[3] = {0xff, 0xd8, 0xff};
    if ((n < 8 && !memcmp(b, png_magic, n)) || (n < 3 && !memcmp(b, jpeg_magic, n)))
        return em_err(err, EM_ERR_FORMAT, "%s: truncated: %zu byte%s, the start of a %s signature and nothing more", name, n,
                      n == 1 ? "" : "s", b[0] == 0x89 ? "PNG" : "JPEG");
    return em_err(err, EM_ERR_UNSUPPORTED, "%s: not a PNG or JPEG image (first bytes %02x %02x %02x %02x); "
                  "convert it to PNG or JPEG", name, b[0], n > 1 ? b[1] : 0, n > 2 ? b[2] : 0, n > 3 ? b[3] : 0);
}

ember_status vision_image_load(const char *path, const vision_limits *lim, vision_image *out, char *err) {
    vision_limits dl = vision_limits_default();
    if (!lim) lim = &dl;
    FILE *f = fopen(path, "rb");
    if (!f) return em_err(err, EM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return em_err(err, EM_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > lim->max_file_bytes) {
        fclose(f);
        return em_err(err, EM_ERR_RANGE, "%s: %lld bytes, more than the %zu-byte limit for an image file",
                      path, (long long)sb.st_size, lim->max_file_bytes);
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        fclose(f);
        return em_err(err, EM_ERR_NOMEM, "%s: %zu bytes: out of memory", path, n);
    }
    size_t got = fread(buf, 1, n, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr || got != n) {
        free(buf);
        return em_err(err, EM_ERR_IO, "%s: read %zu of %zu bytes", path, got, n);
    }
    ember_status st = vision_image_decode(buf, n, path, lim, out, err);
    free(buf);
    return st;
}
