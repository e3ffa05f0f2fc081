#version 450
/* matvec.comp - out[c][r] = sum_j w[r][j] * x[c][j] for a few activation
 * rows c < NCOLS (decode: n = 1; the C side uses it up to n = 8).
 *
 * This product is memory-bound: every weight byte is used NCOLS times only,
 * so what counts is reading each weight byte once, with adjacent invocations
 * reading adjacent words. Work split:
 *   - one workgroup per ROWS weight rows (group x, within the dispatch's row
 *     range);
 *   - its WG invocations stride over the rows together: invocation t takes
 *     units t, t + WG, t + 2 WG, ... of each row, a unit being one value for
 *     F32, one 32-bit word (a pair of values) for F16/BF16, a quarter block
 *     (8 values) for the quantized types; the ROWS rows share each activation load;
 *   - each invocation keeps ROWS x NCOLS partial sums in registers, reduced
 *     across the workgroup once at the end: a shared-memory tree (any
 *     subgroup size), or with EM_SUBGROUP subgroupAdd then one shared-memory
 *     pass over the subgroups' sums.
 * Quant blocks are used as they are: the integer values are dotted with the
 * fp32 activations and scaled by the block's d, all in fp32.
 *
 * Specialization: 0 = WG (a power of two), 3 = ROWS, 4 = NCOLS (= n). */
#include "common.glsl"

layout(constant_id = 3) const uint ROWS = 2;
layout(constant_id = 4) const uint NCOLS = 1;

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
#define NACC (ROWS * NCOLS)

float acc[NACC]; /* acc[r * NCOLS + c]: row r, activation row c */
uint row_byte[ROWS], x_base[NCOLS];

/* Partial sums: NACC x WG (the tree), or NACC x subgroups (at most WG). */
shared float red[NACC * WG];

void mv_init() {
    const uint row0 = gl_WorkGroupID.x * ROWS;
    /* Rows past m repeat the last row (valid reads); their sums are dropped. */
    [[unroll]] for (uint r = 0; r < ROWS; r++)
        row_byte[r] = P.w_off + min(row0 + r, P.m - 1u) * P.w_stride;
    [[unroll]] for (uint c = 0; c < NCOLS; c++)
        x_base[c] = (P.x_off >> 2) + min(c, P.n - 1u) * P.x_stride;
    [[unroll]] for (uint i = 0; i < NACC; i++) acc[i] = 0.0;
}

#if defined(MM_QUANT)
void mv_accumulate() {
    const uint units = P.k >> 3; /* quarter blocks per row */
    for (uint u = gl_LocalInvocationID.x; u < units; u += WG) {
        float d[ROWS];
        vec4 lo[ROWS], hi[ROWS];
        [[unroll]] for (uint r = 0; r < ROWS; r++) mm_quarter(row_byte[r], u, d[r], lo[r], hi[r]);
        const uvec2 j = mm_quarter_cols(u);
        [[unroll]] for (uint c = 0; c < NCOLS; c++) {
            const uint a = x_base[c] + j.x, b = x_base[c] + j.y;
            const vec4 xl = vec4(x[a], x[a + 1u], x[a + 2u], x[a + 3u]);
            const vec4 xh = vec4(x[b], x[b + 1u], x[b + 2u], x[b + 3u]);
            [[unroll]] for (uint r = 0; r < ROWS; r++)
                acc[r * NCOLS + c] += d[r] * (dot(lo[r], xl) + dot(hi[r], xh));
        }
    }
}
#elif defined(W_F32)
void mv_accumulate() {
    for (uint j = gl_LocalInvocationID.x; j < P.k; j += WG) {
        float v[ROWS];
        [[unroll]] for (uint r = 0; r < ROWS; r++) v[r] = uintBitsToFloat(w[(row_byte[r] >> 2) + j]);
        [[unroll]] for (uint c = 0; c < NCOLS; c++) {
            const float xv = x[x_base[c] + j];
            [[unroll]] for (uint r = 0; r < ROWS; r++) acc[r * NCOLS + c] += v[r] * xv;
        }
    }
}
#else /* F16, BF16: one word (two values) per unit; a last odd value alone */
void mv_accumulate() {
    const uint pairs = P.k >> 1;
    for (uint p = gl_LocalInvocationID.x; p < pairs; p += WG) {
        vec2 v[ROWS];
        [[unroll]] for (uint r = 0; r < ROWS; r++) v[r] = mm_pair(row_byte[r] + 4u * p);
        [[unroll]] for (uint c = 0; c < NCOLS; c++) {
            const vec2 xv = vec2(mm_act(x[x_base[c] + 2u * p]), mm_act(x[x_base[c] + 2u * p + 1u]));
            [[unroll]] for (uint r = 0; r < ROWS; r++) acc[r * NCOLS + c] += dot(v[r], xv);
        }
    }
    if ((P.k & 1u) != 0u && gl_LocalInvocationID.x == 0u) {
        const uint j = P.k - 1u;
        [[unroll]] for (uint r = 0; r < ROWS; r++) {
            const float v = mm_single(row_byte[r] + 2u * j);
            [[unroll]] for (uint c = 0; c < NCOLS; c++) acc[r * NCOLS + c] += v * mm_act(x[x_base[c] + j]);
        }
    }
}
#endif

/* Sum acc[] over the workgroup into shared memory; returns the stride:
 * the partial sums of acc[i] are red[i * stride + 0 .. parts-1] with parts
 * returned in *parts (1 after the tree). */
uint mv_reduce(out uint parts) {
    const uint t = gl_LocalInvocationID.x;
#if defined(EM_SUBGROUP)
    const uint nsg = gl_NumSubgroups;
    [[unroll]] for (uint i = 0; i < NACC; i++) {
        const float s = subgroupAdd(acc[i]);
        if (subgroupElect()) red[i * nsg + gl_SubgroupID] = s;
    }
    barrier();
    parts = nsg;
    return nsg;
#else
    [[unroll]] for (uint i = 0; i < NACC; i++) red[i * WG + t] = acc[i];
    barrier();
    for (uint h = WG >> 1; h > 0u; h >>= 1) {
        if (t < h) {
            [[unroll]] for (uint i = 0; i < NACC; i++) red[i * WG + t] += red[i * WG + t + h];
        }
        barrier();
    }
    parts = 1u;
    return WG;
#endif
}

void main() {
    mv_init();
    mv_accumulate();
    uint parts;
    const uint stride = mv_reduce(parts);
    /* NACC may exceed WG (small workgroups on CPU devices): loop. */
    for (uint i = gl_LocalInvocationID.x; i < NACC; i += WG) {
        const uint r = i / NCOLS, c = i % NCOLS, row = gl_WorkGroupID.x * ROWS + r;
        float s = 0.0;
        for (uint g = 0; g < parts; g++) s += red[i * stride + g];
        if (row < P.m && c < P.n) {
            const uint at = (P.o_off >> 2) + c * P.o_stride + row;
            o[at] = P.acc != 0u ? o[at] + s : s; /* acc: out += w x (a residual add) */
        }
    }
}
