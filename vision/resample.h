/* resample.h - Pillow's 8-bit convolution resize with its LANCZOS filter
 * (PIL.Image.resize(size, Image.LANCZOS) on an RGB image, reducing_gap
 * None), byte for byte: what transformers' Idefics3 image processor calls to
 * prepare SmolVLM's pixels.
 *
 * Pillow's algorithm, as it publishes it (libImaging/Resample.c):
 *   - per axis, output x samples the input around centre (x + 0.5) * scale,
 *     scale = in / out; the filter is sinc(t) sinc(t / 3) on |t| < 3,
 *     stretched by max(scale, 1) when shrinking; the taps in
 *     [centre - support, centre + support) (rounded, clipped to the image)
 *     are normalised to sum to 1, in double;
 *   - the weights become integers with 22 fraction bits, rounded half away
 *     from zero; each output byte is (2^21 + sum w * byte) >> 22, clamped
 *     to 0..255;
 *   - the horizontal pass first (over only the rows the vertical pass will
 *     read), rounded to bytes, then the vertical pass; an axis whose size
 *     does not change is not filtered at all.
 * Integer sums are exact, so the passes may run in any order of taps and
 * columns: the horizontal pass runs as a vertical one over transposed strips
 * (one SIMD kernel, cpu_kernels.resample_u8, for both). The weights are
 * computed in double with the C library's sin(), as Pillow does: the same
 * libm gives the same weights.
 *
 * Threads: none; one resize uses the calling thread. */
#ifndef EMBER_VISION_RESAMPLE_H
#define EMBER_VISION_RESAMPLE_H

#include "../core/status.h"
#include "image.h"

/* dst (tw x th, allocated) from src; a copy when the sizes agree. */
ember_status vision_resize_lanczos(const vision_image *src, int tw, int th, vision_image *dst, char *err);

#endif
