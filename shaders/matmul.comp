#version 450
/* matmul.comp - out[c][r] = sum_j w[r][j] * x[c][j] for many activation rows
 * (prefill): a tiled matrix-matrix product.
 *
 * Work split: a workgroup computes a BM x BN tile of the output (BM weight
 * rows by BN activation rows; group x walks the weight rows, group y the
 * activation rows). It steps along k in slices of BK = 32 values, one quant
 * block per weight row:
 *   - the workgroup loads the slice of its BM weight rows into shared memory,
 *     dequantized on the fly from the blocks (8-value units for the quantized types,
 *     so adjacent invocations read adjacent bytes of one block), and the
 *     slice of its BN activation rows;
 *   - each invocation then accumulates a TM x TN register tile from shared
 *     memory: every weight value read from memory serves BN activation rows,
 *     every activation value BM weight rows.
 * Both slices are stored k-major as vec4 (4 rows), with one vec4 of padding
 * per k step. An invocation's rows are the vec4s at tx + i * BM/TM of a k
 * step (columns likewise, ty + c * BN/TN): adjacent invocations load adjacent
 * vec4s (no bank conflicts, one 128-bit load per 4 rows) and write adjacent
 * outputs. The stores into shared memory (once per value per k step, against
 * BN/TN loads) may meet 2-4-way bank conflicts; the order that avoids them
 * would read global memory with a row stride between adjacent invocations.
 * Values past m, n or k are loaded as zeros and never stored, so any shape
 * works. The C side picks BM, BN, TM, TN from the device's shared memory and
 * workgroup limits (V3D: 16 KiB, 256 invocations).
 *
 * Specialization: 0 = WG = (BM/TM) * (BN/TN), 3 = BM, 4 = BN, 5 = TM, 6 = TN
 * (TM, TN multiples of 4; BM/TM, BN/TN whole). */
#include "common.glsl"

layout(constant_id = 3) const uint BM = 64;
layout(constant_id = 4) const uint BN = 64;
layout(constant_id = 5) const uint TM = 4;
layout(constant_id = 6) const uint TN = 4;

layout(set = 0, binding = 0, std140) uniform Params {
    uint m, k, n;            /* rows in this dispatch, values per row, activation rows */
    uint w_off, w_stride;    /* residual offset and row stride, bytes */
    uint x_off, x_stride;    /* bytes, floats */
    uint o_off, o_stride;    /* bytes, floats */
    uint acc;                /* 1: add to out (out += w x) */
} P;
layout(set = 0, binding = 1, std430) buffer Out { float o[]; };
layout(set = 0, binding = 2, std430) readonly buffer W { uint w[]; };
layout(set = 0, binding = 3, std430) readonly buffer X { float x[]; };

#include "mm_weights.glsl"

#define WG gl_WorkGroupSize.x
#define BK 32u
#define WS_STRIDE (BM / 4u + 1u) /* vec4 per k step in ws: BM rows + padding */
#define XS_STRIDE (BN / 4u + 1u)

shared vec4 ws[BK * WS_STRIDE]; /* row r at k step kk: ws[kk * WS_STRIDE + r / 4][r % 4] */
shared vec4 xs[BK * XS_STRIDE]; /* likewise for activation rows (columns of out) */

/* Byte offset of weight row `row` of the tile, clamped to the last row. */
uint mm_row_byte(uint row) { return P.w_off + min(gl_WorkGroupID.x * BM + row, P.m - 1u) * P.w_stride; }

void ws_put(uint kk, uint row, float v) { ws[kk * WS_STRIDE + (row >> 2)][row & 3u] = v; }

#if defined(MM_QUANT)
/* One quarter block per (row, quarter) pair: 4 * BM units; the 4 invocations
 * of a row read one block's adjacent bytes. */
void mm_load_w(uint k0) {
    for (uint u = gl_LocalInvocationID.x; u < 4u * BM; u += WG) {
        const uint row = u >> 2, q = u & 3u;
        float d;
        vec4 lo, hi;
        mm_quarter(mm_row_byte(row), (k0 >> 3) + q, d, lo, hi);
        const uvec2 j = mm_quarter_cols(q); /* columns within the block */
        [[unroll]] for (uint e = 0; e < 4u; e++) {
            ws_put(j.x + e, row, d * lo[e]);
            ws_put(j.y + e, row, d * hi[e]);
        }
    }
}
#else
/* One value per (row, kk), adjacent invocations on adjacent values of a row;
 * zeros past k. */
void mm_load_w(uint k0) {
    for (uint e = gl_LocalInvocationID.x; e < BK * BM; e += WG) {
        const uint row = e / BK, kk = e % BK, j = k0 + kk;
        float v = 0.0;
        if (j < P.k) {
#if defined(W_F32)
            v = uintBitsToFloat(w[(mm_row_byte(row) >> 2) + j]);
#else
            v = mm_single(mm_row_byte(row) + 2u * j);
#endif
        }
        ws_put(kk, row, v);
    }
}
#endif

/* One value per (column, kk); zeros past n and k. */
void mm_load_x(uint k0) {
    const uint n0 = gl_WorkGroupID.y * BN;
    for (uint e = gl_LocalInvocationID.x; e < BK * BN; e += WG) {
        const uint col = e / BK, kk = e % BK, j = k0 + kk, c = n0 + col;
        float v = 0.0;
        if (j < P.k && c < P.n) v = mm_act(x[(P.x_off >> 2) + c * P.x_stride + j]);
        xs[kk * XS_STRIDE + (col >> 2)][col & 3u] = v;
    }
}

/* The invocation's rows are the groups of 4 at vec4 index tx + i * (BM/TM)
 * of a k step, its columns those at ty + c * (BN/TN): adjacent invocations
 * read adjacent vec4s of shared memory and write adjacent outputs. */
void main() {
    const uint tx = gl_LocalInvocationID.x % (BM / TM), ty = gl_LocalInvocationID.x / (BM / TM);
    vec4 acc[TN][TM / 4u]; /* acc[c][i][e]: row 4 (tx + i BM/TM) + e, column c */
    [[unroll]] for (uint c = 0; c < TN; c++)
        [[unroll]] for (uint i = 0; i < TM / 4u; i++) acc[c][i] = vec4(0.0);

    for (uint k0 = 0; k0 < P.k; k0 += BK) {
        mm_load_w(k0);
        mm_load_x(k0);
        barrier();
        [[unroll]] for (uint kk = 0; kk < BK; kk++) {
            vec4 a[TM / 4u], b[TN / 4u];
            [[unroll]] for (uint i = 0; i < TM / 4u; i++) a[i] = ws[kk * WS_STRIDE + tx + i * (BM / TM)];
            [[unroll]] for (uint c = 0; c < TN / 4u; c++) b[c] = xs[kk * XS_STRIDE + ty + c * (BN / TN)];
            [[unroll]] for (uint c = 0; c < TN; c++)
                [[unroll]] for (uint i = 0; i < TM / 4u; i++) acc[c][i] += a[i] * b[c >> 2][c & 3u];
        }
        barrier();
    }

    const uint m0 = gl_WorkGroupID.x * BM, n0 = gl_WorkGroupID.y * BN;
    [[unroll]] for (uint c = 0; c < TN; c++) {
        const uint col = n0 + 4u * (ty + (c >> 2) * (BN / TN)) + (c & 3u);
        if (col >= P.n) continue;
        [[unroll]] for (uint i = 0; i < TM / 4u; i++) {
            const uint row = m0 + 4u * (tx + i * (BM / TM));
            [[unroll]] for (uint e = 0; e < 4u; e++)
                if (row + e < P.m) {
                    const uint at = (P.o_off >> 2) + col * P.o_stride + row + e;
                    o[at] = P.acc != 0u ? o[at] + acc[c][i][e] : acc[c][i][e]; /* acc: out += w x */
                }
        }
    }
}
