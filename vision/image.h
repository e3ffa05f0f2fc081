/* image.h - camera frames and image files in, 8-bit RGB out.
 *
 * Everything the vision side reads becomes a vision_image: width x height
 * pixels, 3 bytes each (R, G, B), rows top to bottom with no padding. That is
 * what the preprocessing (preprocess.h) takes, whatever the source was:
 *   - PNG through libpng: 1/2/4/8/16-bit, gray, gray+alpha, palette (with or
 *     without tRNS), RGB, RGBA, Adam7-interlaced. 16-bit samples keep their
 *     high byte, gray is replicated to R=G=B, alpha is dropped (not blended),
 *     as llama.cpp's loader does, so the same file gives the same pixels;
 *   - JPEG through libjpeg-turbo: baseline and progressive, 3-channel (YCbCr
 *     or RGB) and grayscale; CMYK/YCCK refused with a message saying so. The
 *     EXIF Orientation tag (APP1) is honoured: the pixels come back the way
 *     the camera was held (llama.cpp ignores it; see vision/README.md);
 *   - raw frames already in memory (a camera driver's buffer, a robot_io frame
 *     message): RGB8, RGBA8, BGR8, BGRA8 or GRAY8 with a row stride.
 *
 * Limits: a decoder refuses an image wider or taller than lim->max_side, or
 * with more than lim->max_pixels pixels, before allocating for it (a 40-byte
 * PNG can claim 2^31 x 2^31); a file larger than lim->max_file_bytes is not
 * read. Truncated or corrupt data gives EM_ERR_FORMAT with a message naming
 * the file and what is wrong; nothing is written to *out on failure and
 * nothing leaks. libpng's and libjpeg's own warnings are not printed.
 *
 * Ownership: *out owns its pixels; free them with vision_image_free (a
 * zeroed vision_image is valid to free). No global state: the decoders may
 * run on several threads at once. */
#ifndef EMBER_VISION_IMAGE_H
#define EMBER_VISION_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"

typedef struct vision_image {
    int w, h;
    uint8_t *rgb; /* w * h * 3 bytes, row-major, owned */
} vision_image;

typedef struct vision_limits {
    int max_side;          /* widest or tallest accepted side (default 16384) */
    int64_t max_pixels;    /* largest w*h accepted (default 64 Mi pixels) */
    size_t max_file_bytes; /* largest file read (default 256 MiB) */
} vision_limits;

/* The defaults above. Functions taking a `const vision_limits *` use them
 * when passed NULL. */
vision_limits vision_limits_default(void);

enum vision_pixfmt {
    VISION_RGB8 = 0,
    VISION_RGBA8,
    VISION_BGR8,
    VISION_BGRA8,
    VISION_GRAY8,
};

/* "rgb8", "rgba8", "bgr8", "bgra8", "gray8"; -1 if unknown. */
int vision_pixfmt_from_name(const char *name);
/* Bytes per pixel of fmt (1, 3 or 4). */
int vision_pixfmt_bpp(enum vision_pixfmt fmt);

/* Read and decode the file at path (PNG or JPEG, told apart by their magic
 * bytes, not by the name). `what` errors name path. */
ember_status vision_image_load(const char *path, const vision_limits *lim, vision_image *out, char *err);

/* Decode an encoded image in memory; `name` labels error messages (a path,
 * "frame from sim:front", ...; NULL: "image"). */
ember_status vision_image_decode(const void *buf, size_t n, const char *name, const vision_limits *lim,
                                 vision_image *out, char *err);
ember_status vision_png_decode(const void *buf, size_t n, const char *name, const vision_limits *lim,
                               vision_image *out, char *err);
ember_status vision_jpeg_decode(const void *buf, size_t n, const char *name, const vision_limits *lim,
                                vision_image *out, char *err);

/* Copy a raw frame: w x h pixels of fmt, rows `stride` bytes apart (0: packed). */
ember_status vision_image_from_raw(const void *px, int w, int h, size_t stride, enum vision_pixfmt fmt,
                                   const vision_limits *lim, vision_image *out, char *err);

void vision_image_free(vision_image *img);

/* For tests and tools: write img as an 8-bit RGB PNG (libpng). */
ember_status vision_png_write(const char *path, const vision_image *img, char *err);

#endif
