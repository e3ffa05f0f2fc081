/* cpu_neon_tiles.h - private to the NEON files (cpu_kernels_neon.c,
 * cpu_quant_neon.c): the gemm tiles' shape and the loop that runs a tile
 * over all activation rows, written once for the float, the Q8_0/Q4_0 and
 * the newer block types' tiles.
 *
 * A tile is TM weight rows x NC <= TN activation rows; NC is a constant in
 * each call the driver makes, so a short last tile or a single activation
 * row costs only its own products. Weight rows past nr repeat the last one:
 * computed, never stored. Includers define INLINE first. */
#ifndef EMBER_CPU_NEON_TILES_H
#define EMBER_CPU_NEON_TILES_H

#include <arm_neon.h>

#define TM 4
#define TN 4

/* Block b's 32 values of each of NC activation rows in the panel layout
 * (cpu_kernels_impl.h), as two vectors each. */
INLINE void neon_panel_block(int NC, const char *const *xr, int64_t b, int8x16_t *x0, int8x16_t *x1) {
    for (int c = 0; c < NC; c++) {
        x0[c] = vld1q_s8((const int8_t *)xr[c] + b * 32);
        x1[c] = vld1q_s8((const int8_t *)xr[c] + b * 32 + 16);
    }
}

/* NEON_TILES(name, tile): defines
 *   INLINE void name(int form, int64_t k, const void *w, size_t w_stride, int nr,
 *                    const void *x, size_t x_stride, int64_t nc, float *y, int64_t ldy)
 * calling tile(form, NC, k, wr, xr, y, ldy, nr) with wr the TM weight rows
 * and xr the NC activation rows of each tile. */
#define NEON_TILES(name, tile)                                                                                    \
    INLINE void name(int form, int64_t k, const void *w, size_t w_stride, int nr, const void *x, size_t x_stride, \
                     int64_t nc, float *y, int64_t ldy) {                                                         \
        const char *wr[TM];                                                                                       \
        for (int r = 0; r < TM; r++) wr[r] = (const char *)w + (size_t)(r < nr ? r : nr - 1) * w_stride;          \
        for (int64_t c0 = 0; c0 < nc; c0 += TN) {                                                                 \
            const char *xr[TN];                                                                                   \
            for (int c = 0; c < TN; c++) xr[c] = (const char *)x + (size_t)(c0 + c < nc ? c0 + c : c0) * x_stride; \
            switch (nc - c0 < TN ? nc - c0 : TN) {                                                                \
            case 1: tile(form, 1, k, wr, xr, y + c0 * ldy, ldy, nr); break;                                        \
            case 2: tile(form, 2, k, wr, xr, y + c0 * ldy, ldy, nr); break;                                        \
            case 3: tile(form, 3, k, wr, xr, y + c0 * ldy, ldy, nr); break;                                        \
            default: tile(form, 4, k, wr, xr, y + c0 * ldy, ldy, nr); break;                                       \
            }                                                                                                     \
        }                                                                                                         \
    }

#endif
