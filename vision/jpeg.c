/* jpeg.c - JPEG in (vision_jpeg_decode) through libjpeg-turbo's libjpeg API,
 * as image.h describes: baseline or progressive, YCbCr, RGB or gray, to
 * 8-bit RGB turned by the EXIF Orientation tag (exif.c).
 *
 * libjpeg reports a fatal error by calling error_exit, which must not return;
 * ours formats the message and longjmps. Like png.c, the session is split:
 * the public function owns the state (a struct in its frame) and cleans up
 * once; jpeg_run calls setjmp and changes nothing but that struct, through a
 * pointer, so no local of the setjmp caller is left indeterminate.
 *
 * Warnings: libjpeg "recovers" from damaged data with a warning and goes on,
 * e.g. a file cut short gets a fake EOI and grey rows where the data ended.
 * A robot should not act on a half-invented picture, so the first warning
 * (emit_message at level -1) ends the decode as EM_ERR_FORMAT, reported as
 * "truncated" when the file ended early, "corrupt data" otherwise. Nothing is
 * printed. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "exif.h"
#include "image.h"

/* A progressive file can repeat scans over the whole image at a few bytes
 * each, so a small file can cost minutes of CPU. Real encoders use about 10
 * scans; TurboJPEG's own scan limit is 500, and so is ours. */
#define JPEG_MAX_SCANS 500

typedef struct jpeg_job {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_progress_mgr progress;
    jmp_buf jb;
    uint8_t *rgb; /* output pixels, owned until handed to *out */
    int w, h, orientation;
    ember_status st; /* the status of a failure */
    char msg[JMSG_LENGTH_MAX + 64];
} jpeg_job;

static void job_error_exit(j_common_ptr c) {
    jpeg_job *j = c->client_data;
    char m[JMSG_LENGTH_MAX];
    c->err->format_message(c, m);
    switch (c->err->msg_code) {
    case JERR_OUT_OF_MEMORY: j->st = EM_ERR_NOMEM; break;
    /* well-formed files of a kind this libjpeg build does not decode:
     * 12-bit samples, lossless or hierarchical JPEG */
    case JERR_BAD_PRECISION: case JERR_SOF_UNSUPPORTED: case JERR_NOT_COMPILED: j->st = EM_ERR_UNSUPPORTED; break;
    default: j->st = EM_ERR_FORMAT;
    }
    snprintf(j->msg, sizeof j->msg, "%s", m);
    longjmp(j->jb, 1);
}

static void job_emit_message(j_common_ptr c, int level) {
    if (level >= 0) return; /* trace messages */
    jpeg_job *j = c->client_data;
    char m[JMSG_LENGTH_MAX];
    c->err->format_message(c, m);
    j->st = EM_ERR_FORMAT;
    snprintf(j->msg, sizeof j->msg, "%s (%s)", c->err->msg_code == JWRN_JPEG_EOF ? "truncated" : "corrupt data", m);
    longjmp(j->jb, 1);
}

static void job_output_message(j_common_ptr c) { (void)c; }

static void job_progress(j_common_ptr c) {
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (!c->is_decompressor || d->input_scan_number <= JPEG_MAX_SCANS) return;
    jpeg_job *j = c->client_data;
    j->st = EM_ERR_RANGE;
    snprintf(j->msg, sizeof j->msg, "more than %d progressive scans (a limit against decoding bombs)", JPEG_MAX_SCANS);
    longjmp(j->jb, 1);
}

/* Everything after setjmp; returns 0 on success, -1 with j->st and j->msg. */
static int jpeg_run(jpeg_job *j, const uint8_t *buf, size_t n, const vision_limits *lim) {
    j_decompress_ptr ci = &j->cinfo;
    ci->err = jpeg_std_error(&j->jerr);
    j->jerr.error_exit = job_error_exit;
    j->jerr.emit_message = job_emit_message;
    j->jerr.output_message = job_output_message;
    ci->client_data = j;
    if (setjmp(j->jb)) return -1;

    jpeg_create_decompress(ci); /* keeps err and client_data */
    j->progress.progress_monitor = job_progress;
    ci->progress = &j->progress;
    jpeg_mem_src(ci, buf, (unsigned long)n);
    jpeg_save_markers(ci, JPEG_APP0 + 1, 0xffff); /* APP1: EXIF, read for its Orientation */
    jpeg_read_header(ci, TRUE);

    switch (ci->jpeg_color_space) {
    case JCS_GRAYSCALE: case JCS_YCbCr: case JCS_RGB: break;
    case JCS_CMYK: case JCS_YCCK:
        j->st = EM_ERR_UNSUPPORTED;
        snprintf(j->msg, sizeof j->msg, "%s JPEG not supported; convert to RGB",
                 ci->jpeg_color_space == JCS_CMYK ? "CMYK" : "YCCK (CMYK)");
        return -1;
    default:
        j->st = EM_ERR_UNSUPPORTED;
        snprintf(j->msg, sizeof j->msg, "%d-component JPEG of unknown colour space not supported; convert to RGB",
                 ci->num_components);
        return -1;
    }
    if (ci->image_width == 0 || ci->image_height == 0 || (int64_t)ci->image_width > lim->max_side ||
        (int64_t)ci->image_height > lim->max_side || (int64_t)ci->image_width * ci->image_height > lim->max_pixels) {
        j->st = EM_ERR_RANGE;
        snprintf(j->msg, sizeof j->msg, "%u x %u image outside the limits (sides up to %d, at most %lld pixels)",
                 (unsigned)ci->image_width, (unsigned)ci->image_height, lim->max_side, (long long)lim->max_pixels);
        return -1;
    }
    j->orientation = 1;
    for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
            j->orientation = vision_exif_orientation(m->data, m->data_length);
            break;
        }
    }

    /* libjpeg-turbo converts gray to RGB itself (R = G = B). The IDCT and
     * chroma upsampling are libjpeg's defaults, named here so that the pixels
     * stay what `djpeg` and libjpeg-based tools give: the accurate integer
     * IDCT (JDCT_ISLOW) and "fancy" (triangle-filter) upsampling. stb_image
     * (llama.cpp) has its own IDCT and differs from these by a level or two. */
    ci->out_color_space = JCS_RGB;
    ci->dct_method = JDCT_ISLOW;
    ci->do_fancy_upsampling = TRUE;
    jpeg_start_decompress(ci);
    if (ci->output_components != 3 || ci->output_width != ci->image_width || ci->output_height != ci->image_height) {
        j->st = EM_ERR_INTERNAL;
        snprintf(j->msg, sizeof j->msg, "libjpeg gave %d components of %u x %u", ci->output_components,
                 (unsigned)ci->output_width, (unsigned)ci->output_height);
        return -1;
    }
    const size_t row = (size_t)ci->output_width * 3;
    j->rgb = malloc(row * ci->output_height);
    if (!j->rgb) {
        j->st = EM_ERR_NOMEM;
        snprintf(j->msg, sizeof j->msg, "%u x %u: out of memory", (unsigned)ci->output_width,
                 (unsigned)ci->output_height);
        return -1;
    }
    while (ci->output_scanline < ci->output_height) {
        JSAMPROW r = j->rgb + (size_t)ci->output_scanline * row;
        jpeg_read_scanlines(ci, &r, 1);
    }
    /* Read on to EOI: data cut off after the last row is still a truncated
     * file, and a warning there still fails the decode. */
    jpeg_finish_decompress(ci);
    j->w = (int)ci->output_width;
    j->h = (int)ci->output_height;
    return 0;
}

ember_status vision_jpeg_decode(const void *buf, size_t n, const char *name, const vision_limits *lim,
                                vision_image *out, char *err) {
    vision_limits dl = vision_limits_default();
    if (!lim) lim = &dl;
    if (!name) name = "image";
    if (!buf && n) return em_err(err, EM_ERR_ARG, "%s: JPEG: no data", name);
    static const uint8_t empty[1] = {0};
    jpeg_job *j = calloc(1, sizeof *j); /* ~1 KB of libjpeg structs and a jmp_buf: kept off the stack */
    if (!j) return em_err(err, EM_ERR_NOMEM, "%s: JPEG: out of memory", name);
    ember_status st;
    if (jpeg_run(j, buf ? buf : empty, n, lim) == 0) {
        vision_image img = {j->w, j->h, j->rgb};
        st = vision_exif_apply(&img, j->orientation, err);
        if (st == EM_OK) {
            *out = img;
            j->rgb = NULL;
        } else {
            j->rgb = img.rgb;
            st = em_err(err, st, "%s: JPEG: EXIF orientation %d: out of memory", name, j->orientation);
        }
    } else {
        st = em_err(err, j->st ? j->st : EM_ERR_INTERNAL, "%s: JPEG: %s", name, j->msg);
    }
    jpeg_destroy_decompress(&j->cinfo);
    free(j->rgb);
    free(j);
    return st;
}
