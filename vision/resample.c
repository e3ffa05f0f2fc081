/* resample.c - Pillow's LANCZOS resize (see resample.h). */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu/cpu_kernels.h"
#include "resample.h"

/* sinc(x) sinc(x / 3) on [-3, 3), Pillow's "truncated sinc" */
static double sinc(double x) {
    if (x == 0.0) return 1.0;
    x *= M_PI;
    return sin(x) / x;
}
static double lanczos(double x) { return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3.0) : 0.0; }

#define LANCZOS_SUPPORT 3.0

/* One axis: output x reads ntaps[x] inputs from first[x] with weights
 * k[x * ksize ..] (fixed point, CPU_RESAMPLE_BITS fraction bits). */
typedef struct axis {
    int ksize;
    int *first, *ntaps;
    int32_t *k;
} axis;

static void axis_free(axis *a) {
    free(a->first);
    free(a->ntaps);
    free(a->k);
    memset(a, 0, sizeof *a);
}

/* Pillow's precompute_coeffs and normalize_coeffs_8bpc, for the box
 * (0, in): the same double operations in the same order. */
static ember_status axis_init(axis *a, int in, int out, char *err) {
    const double scale = (double)(float)in / out;
    const double fscale = scale < 1.0 ? 1.0 : scale;
    const double support = LANCZOS_SUPPORT * fscale, ss = 1.0 / fscale;
    const int ksize = (int)ceil(support) * 2 + 1;
    a->ksize = ksize;
    a->first = malloc((size_t)out * sizeof *a->first);
    a->ntaps = malloc((size_t)out * sizeof *a->ntaps);
    a->k = calloc((size_t)out * (size_t)ksize, sizeof *a->k);
    double *w = malloc((size_t)ksize * sizeof *w);
    if (!a->first || !a->ntaps || !a->k || !w) {
        free(w);
        axis_free(a);
        return em_err(err, EM_ERR_NOMEM, "vision_resize_lanczos: %d -> %d weights: out of memory", in, out);
    }
    for (int x = 0; x < out; x++) {
        const double centre = (x + 0.5) * scale;
        int lo = (int)(centre - support + 0.5), hi = (int)(centre + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        const int n = hi - lo;
        double sum = 0.0;
        for (int t = 0; t < n; t++) {
            w[t] = lanczos((t + lo - centre + 0.5) * ss);
            sum += w[t];
        }
        int32_t *k = a->k + (size_t)x * ksize;
        for (int t = 0; t < n; t++) {
            const double v = (sum != 0.0 ? w[t] / sum : w[t]) * (1 << CPU_RESAMPLE_BITS);
            k[t] = (int32_t)(v < 0 ? v - 0.5 : v + 0.5); /* half away from zero */
        }
        a->first[x] = lo;
        a->ntaps[x] = n;
    }
    free(w);
    return EM_OK;
}

/* Rows of a strip at a time are transposed (pixel x becomes a row of the
 * strip's rows' bytes), filtered as a vertical pass, and transposed back:
 * 32 rows make 96-byte lines, three full steps of the 32-byte SIMD kernel. */
enum { STRIP = 32 };

static ember_status horizontal(const cpu_kernels *kern, const vision_image *src, int y0, int y1, const axis *ax,
                               int tw, uint8_t *out, char *err) {
    const int w = src->w;
    uint8_t *t = malloc((size_t)w * STRIP * 3), *o = malloc((size_t)tw * STRIP * 3);
    if (!t || !o) {
        free(t);
        free(o);
        return em_err(err, EM_ERR_NOMEM, "vision_resize_lanczos: %d-wide strip: out of memory", w);
    }
    for (int r0 = y0; r0 < y1; r0 += STRIP) {
        const int rows = y1 - r0 < STRIP ? y1 - r0 : STRIP;
        const size_t line = (size_t)rows * 3;
        for (int r = 0; r < rows; r++) {
            const uint8_t *s = src->rgb + (size_t)(r0 + r) * w * 3;
            for (int x = 0; x < w; x++) memcpy(t + (size_t)x * line + (size_t)r * 3, s + (size_t)x * 3, 3);
        }
        for (int x = 0; x < tw; x++)
            kern->resample_u8((int64_t)line, o + (size_t)x * line, t + (size_t)ax->first[x] * line, line,
                              ax->k + (size_t)x * ax->ksize, ax->ntaps[x]);
        for (int r = 0; r < rows; r++) {
            uint8_t *d = out + (size_t)(r0 - y0 + r) * tw * 3;
            for (int x = 0; x < tw; x++) memcpy(d + (size_t)x * 3, o + (size_t)x * line + (size_t)r * 3, 3);
        }
    }
    free(t);
    free(o);
    return EM_OK;
}

ember_status vision_resize_lanczos(const vision_image *src, int tw, int th, vision_image *dst, char *err) {
    const int w = src->w, h = src->h;
    if (tw <= 0 || th <= 0 || w <= 0 || h <= 0)
        return em_err(err, EM_ERR_ARG, "vision_resize_lanczos: %d x %d to %d x %d: sizes must be positive", w, h, tw, th);
    dst->rgb = malloc((size_t)tw * th * 3);
    if (!dst->rgb) return em_err(err, EM_ERR_NOMEM, "vision_resize_lanczos: %d x %d image: out of memory", tw, th);
    dst->w = tw;
    dst->h = th;
    if (tw == w && th == h) {
        memcpy(dst->rgb, src->rgb, (size_t)w * h * 3);
        return EM_OK;
    }
    cpu_kernels kern;
    cpu_kernels_init(&kern);
    axis ah = {0}, av = {0};
    uint8_t *mid = NULL;
    ember_status st = EM_OK;
    const bool need_h = tw != w, need_v = th != h;
    /* the horizontal pass covers only the rows the vertical one reads */
    int y0 = 0, y1 = h;
    if (need_v) {
        if ((st = axis_init(&av, h, th, err))) goto done;
        y0 = av.first[0];
        y1 = av.first[th - 1] + av.ntaps[th - 1];
    }
    const uint8_t *rows = src->rgb; /* the vertical pass's input, from row y0 */
    if (need_h) {
        if ((st = axis_init(&ah, w, tw, err))) goto done;
        if (!(mid = malloc((size_t)tw * (size_t)(y1 - y0) * 3))) {
            st = em_err(err, EM_ERR_NOMEM, "vision_resize_lanczos: %d x %d pass: out of memory", tw, y1 - y0);
            goto done;
        }
        if ((st = horizontal(&kern, src, y0, y1, &ah, tw, mid, err))) goto done;
        if (!need_v) {
            memcpy(dst->rgb, mid, (size_t)tw * th * 3);
            goto done;
        }
        rows = mid;
    } else {
        rows = src->rgb + (size_t)y0 * w * 3;
    }
    const size_t line = (size_t)tw * 3;
    for (int y = 0; y < th; y++)
        kern.resample_u8((int64_t)line, dst->rgb + (size_t)y * line, rows + (size_t)(av.first[y] - y0) * line, line,
                         av.k + (size_t)y * av.ksize, av.ntaps[y]);
done:
    axis_free(&ah);
    axis_free(&av);
    free(mid);
    if (st) vision_image_free(dst);
    return st;
}
