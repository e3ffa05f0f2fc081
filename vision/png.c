/* png.c - PNG in (vision_png_decode) and out (vision_png_write) through
 * libpng 1.6, as image.h describes: every PNG variant becomes 8-bit RGB with
 * the same pixels stb_image (llama.cpp's loader) gives.
 *
 * libpng reports errors by calling an error function that must not return;
 * ours copies the message and longjmps back. The C rule that matters then:
 * a local variable of the function that called setjmp and changed after it
 * is indeterminate after the longjmp. So each libpng session is split in two:
 * the public function owns the state (a struct in its frame) and cleans up
 * once, whatever happened; a static `*_run` helper calls setjmp and only
 * changes the state through a pointer, never its own locals. Nothing is
 * printed: libpng's warnings are kept (the first one explains some errors)
 * and never reach stderr. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "image.h"

/* ------------------------------------------------------------ reading */

typedef struct png_job {
    const uint8_t *data; /* the encoded file */
    size_t n, pos;       /* its size and the read cursor */
    uint8_t *rgb;        /* output pixels, owned until handed to *out */
    png_bytep *rows;     /* one pointer per output row, into rgb */
    int w, h;
    ember_status st;          /* of a failure: EM_ERR_FORMAT unless set otherwise */
    char msg[EM_ERR_LEN / 2]; /* the first error: libpng's or ours */
    char warn[128];           /* libpng's first warning, which often says why */
} png_job;

static void job_error(png_structp png, png_const_charp msg) {
    png_job *j = png_get_error_ptr(png);
    if (!j->msg[0]) snprintf(j->msg, sizeof j->msg, "%s", msg); /* ours may already be there */
    png_longjmp(png, 1);
}

static void job_warning(png_structp png, png_const_charp msg) {
    png_job *j = png_get_error_ptr(png);
    if (!j->warn[0]) snprintf(j->warn, sizeof j->warn, "%s", msg);
}

/* libpng's allocations go through here so that a failed one is told apart
 * from a corrupt file (libpng reports both as an error string). */
static png_voidp job_malloc(png_structp png, png_alloc_size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) {
        png_job *j = png_get_mem_ptr(png);
        j->st = EM_ERR_NOMEM;
    }
    return p;
}

static void job_free(png_structp png, png_voidp p) {
    (void)png;
    free(p);
}

static void job_read(png_structp png, png_bytep out, size_t len) {
    png_job *j = png_get_io_ptr(png);
    if (len > j->n - j->pos) {
        snprintf(j->msg, sizeof j->msg, "truncated: the file ends at byte %zu, inside a chunk", j->n);
        png_error(png, "truncated");
    }
    memcpy(out, j->data + j->pos, len);
    j->pos += len;
}

static ember_status check_limits(const char *name, uint32_t w, uint32_t h, const vision_limits *lim, char *err) {
    if (w == 0 || h == 0) return em_err(err, EM_ERR_FORMAT, "%s: PNG: %u x %u image has no pixels", name, w, h);
    if ((int64_t)w > lim->max_side || (int64_t)h > lim->max_side || (int64_t)w * h > lim->max_pixels)
        return em_err(err, EM_ERR_RANGE, "%s: PNG: %u x %u image outside the limits (sides up to %d, at most %lld pixels)",
                      name, w, h, lim->max_side, (long long)lim->max_pixels);
    return EM_OK;
}

/* The IHDR is the first chunk (libpng refuses anything else), so its size can
 * be read straight from the bytes. Checking it here, before libpng, lets an
 * oversized image get EM_ERR_RANGE and a message naming the limit, where
 * libpng's own user limits would only say "Invalid IHDR data". */
static ember_status peek_ihdr(const char *name, const uint8_t *b, size_t n, const vision_limits *lim, char *err) {
    if (n < 24 || memcmp(b + 12, "IHDR", 4) != 0) return EM_OK; /* libpng will say what is wrong */
    uint32_t w = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
    uint32_t h = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
    return w && h ? check_limits(name, w, h, lim, err) : EM_OK;
}

/* Everything after setjmp; returns 0 on success, -1 with j->msg set. */
static int png_run(png_job *j, png_structp png, png_infop info, const vision_limits *lim) {
    if (setjmp(png_jmpbuf(png))) return -1;

    /* A corrupt chunk of any kind is an error: libpng's default only warns
     * about ancillary ones, but a CRC mismatch means the file is damaged,
     * and a robot should not act on a damaged frame. */
    png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    /* Second guard behind peek_ihdr: libpng refuses larger sides itself. */
    png_uint_32 side = lim->max_side > 0 ? (png_uint_32)lim->max_side : 1;
    png_set_user_limits(png, side, side);
    /* No ancillary chunk changes the pixels we produce (gamma, ICC and sBIT
     * are not applied, as in stb_image), so libpng skips them all, after
     * checking their CRC, instead of parsing and storing text or profiles;
     * tRNS still goes through libpng. The caps bound what a hostile file can
     * make libpng keep anyway: at most 8 MB for one chunk, 64 chunks. */
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
    png_set_chunk_malloc_max(png, 8u << 20);
    png_set_chunk_cache_max(png, 64);
    png_set_read_fn(png, j, job_read);

    png_read_info(png, info);
    png_uint_32 w, h;
    int depth, color, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    /* peek_ihdr has checked the same bytes; this keeps the allocation below
     * bounded by what libpng actually parsed, whatever the file did. */
    if (w == 0 || h == 0 || (int64_t)w > lim->max_side || (int64_t)h > lim->max_side ||
        (int64_t)w * h > lim->max_pixels) {
        j->st = EM_ERR_RANGE;
        snprintf(j->msg, sizeof j->msg, "%u x %u image outside the limits (sides up to %d, at most %lld pixels)",
                 (unsigned)w, (unsigned)h, lim->max_side, (long long)lim->max_pixels);
        return -1;
    }

    /* To 8-bit RGB: palette and 1/2/4-bit gray to 8 bits (bit replication,
     * as stb_image scales: 1 -> 255, 2-bit by 0x55, 4-bit by 0x11); 16-bit
     * samples keep their high byte (png_set_strip_16, not the rounding
     * png_set_scale_16: stb_image does v >> 8); gray replicated; alpha,
     * including what tRNS would give, dropped without blending. */
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if ((color & PNG_COLOR_MASK_COLOR) == 0 && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    if ((color & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(png);
    /* palette expansion turns tRNS into an alpha channel as well */
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
    (void)png_set_interlace_handling(png); /* Adam7: png_read_image runs all 7 passes */
    png_read_update_info(png, info);
    if (png_get_bit_depth(png, info) != 8 || png_get_channels(png, info) != 3 ||
        png_get_rowbytes(png, info) != (size_t)w * 3) {
        j->st = EM_ERR_INTERNAL;
        snprintf(j->msg, sizeof j->msg, "libpng's transforms gave %d channels of %d bits", png_get_channels(png, info),
                 png_get_bit_depth(png, info));
        return -1;
    }

    j->rgb = malloc((size_t)w * h * 3);
    j->rows = malloc((size_t)h * sizeof *j->rows);
    if (!j->rgb || !j->rows) {
        j->st = EM_ERR_NOMEM;
        snprintf(j->msg, sizeof j->msg, "%u x %u: out of memory", (unsigned)w, (unsigned)h);
        return -1;
    }
    for (png_uint_32 y = 0; y < h; y++) j->rows[y] = j->rgb + (size_t)y * w * 3;
    png_read_image(png, j->rows);
    /* Read on to IEND: the last IDAT's CRC and a cut-off end are errors too,
     * so a truncated file never passes for a whole one. */
    png_read_end(png, NULL);
    j->w = (int)w;
    j->h = (int)h;
    return 0;
}

ember_status vision_png_decode(const void *buf, size_t n, const char *name, const vision_limits *lim,
                               vision_image *out, char *err) {
    vision_limits dl = vision_limits_default();
    if (!lim) lim = &dl;
    if (!name) name = "image";
    if (!buf && n) return em_err(err, EM_ERR_ARG, "%s: PNG: no data", name);
    ember_status st = peek_ihdr(name, buf, n, lim, err);
    if (st) return st;

    png_job j;
    memset(&j, 0, sizeof j);
    j.data = buf;
    j.n = n;
    j.st = EM_ERR_FORMAT;
    png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &j, job_error, job_warning, &j, job_malloc,
                                               job_free);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
        return em_err(err, EM_ERR_NOMEM, "%s: PNG: out of memory", name);
    }

    if (png_run(&j, png, info, lim) == 0) {
        out->w = j.w;
        out->h = j.h;
        out->rgb = j.rgb;
        j.rgb = NULL;
        st = EM_OK;
    } else if (j.st == EM_ERR_NOMEM) {
        st = em_err(err, EM_ERR_NOMEM, "%s: PNG: out of memory (%s)", name, j.msg);
    } else if (j.st == EM_ERR_FORMAT && j.warn[0] && strcmp(j.warn, j.msg) != 0) {
        st = em_err(err, EM_ERR_FORMAT, "%s: PNG: %s (%s)", name, j.msg, j.warn);
    } else {
        st = em_err(err, j.st, "%s: PNG: %s", name, j.msg);
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(j.rows);
    free(j.rgb);
    return st;
}

/* ------------------------------------------------------------ writing */

typedef struct png_wjob {
    char msg[EM_ERR_LEN / 2];
} png_wjob;

static void wjob_error(png_structp png, png_const_charp msg) {
    png_wjob *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void wjob_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static int png_write_run(png_structp png, png_infop info, FILE *f, const vision_image *img) {
    if (setjmp(png_jmpbuf(png))) return -1;
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < img->h; y++) png_write_row(png, img->rgb + (size_t)y * (size_t)img->w * 3);
    png_write_end(png, NULL);
    return 0;
}

ember_status vision_png_write(const char *path, const vision_image *img, char *err) {
    if (!img || !img->rgb || img->w <= 0 || img->h <= 0)
        return em_err(err, EM_ERR_ARG, "vision_png_write: %s: no image to write", path);
    FILE *f = fopen(path, "wb");
    if (!f) return em_err(err, EM_ERR_IO, "vision_png_write: %s: cannot create: %s", path, strerror(errno));
    png_wjob j;
    memset(&j, 0, sizeof j);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &j, wjob_error, wjob_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    ember_status st = EM_OK;
    if (!png || !info) {
        st = em_err(err, EM_ERR_NOMEM, "vision_png_write: %s: out of memory", path);
    } else if (png_write_run(png, info, f, img) != 0) {
        st = em_err(err, EM_ERR_IO, "vision_png_write: %s: %s", path, j.msg);
    }
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    if (fclose(f) != 0 && st == EM_OK)
        st = em_err(err, EM_ERR_IO, "vision_png_write: %s: %s", path, strerror(errno));
    if (st != EM_OK) remove(path); /* no half-written file left behind */
    return st;
}
