#version 450
/* get_rows.comp - out[i] = table[ids[i]] as F32, for every table type.
 * One invocation per output value (x: columns, y: rows). A table larger than
 * a storage binding may hold (maxStorageBufferRange) is dispatched once per
 * row range; each dispatch writes only the rows whose id falls in its range.
 * Ids outside the table write zeros (the decoder checks ids beforehand). */
#include "common.glsl"

layout(set = 0, binding = 0, std140) uniform Params {
    uint n_cols, n_ids;
    uint out_off, table_off, ids_off; /* residual offsets, bytes */
    uint out_stride;                  /* floats */
    uint row_bytes;                   /* bytes per table row */
    uint row_lo, row_hi;              /* rows of the table in this binding */
    uint n_table;                     /* rows of the whole table */
} P;
layout(set = 0, binding = 1, std430) writeonly buffer Out { float o[]; };
layout(set = 0, binding = 2, std430) readonly buffer T { uint tb[]; };
layout(set = 0, binding = 3, std430) readonly buffer Ids { int ids[]; };

void main() {
    const uint col = gl_GlobalInvocationID.x, r = gl_GlobalInvocationID.y;
    if (col >= P.n_cols || r >= P.n_ids) return;
    const int id = ids[P.ids_off / 4u + r];
    const uint dst = P.out_off / 4u + r * P.out_stride + col;
    if (id < 0 || uint(id) >= P.n_table) {
        if (P.row_lo == 0u) o[dst] = 0.0;
        return;
    }
    if (uint(id) < P.row_lo || uint(id) >= P.row_hi) return;
    const uint rb = P.table_off + (uint(id) - P.row_lo) * P.row_bytes;
#if defined(TYPE_F32)
    o[dst] = uintBitsToFloat(tb[(rb >> 2) + col]);
#elif defined(TYPE_F16)
    o[dst] = EM_LOAD_F16(tb, rb + 2u * col);
#elif defined(TYPE_BF16)
    o[dst] = EM_LOAD_BF16(tb, rb + 2u * col);
#elif defined(TYPE_Q8_0)
    const uint blk = rb + (col / 32u) * 34u;
    o[dst] = EM_LOAD_F16(tb, blk) * float(EM_LOAD_I8(tb, blk + 2u + (col % 32u)));
#elif defined(TYPE_Q4_0)
    const uint blk = rb + (col / 32u) * 18u, j = col % 32u;
    const uint byte = EM_LOAD_U8(tb, blk + 2u + (j % 16u));
    const uint nib = j < 16u ? (byte & 15u) : (byte >> 4);
    o[dst] = EM_LOAD_F16(tb, blk) * (float(nib) - 8.0);
#elif defined(TYPE_Q4_1) || defined(TYPE_Q5_0) || defined(TYPE_Q5_1) || defined(TYPE_IQ4_NL)
    /* mm_weights.glsl has the layouts */
#if defined(TYPE_Q4_1)
    const uint bb = 20u, qs = 4u;
#elif defined(TYPE_Q5_0)
    const uint bb = 22u, qs = 6u;
#elif defined(TYPE_Q5_1)
    const uint bb = 24u, qs = 8u;
#else
    const uint bb = 18u, qs = 2u;
#endif
    const uint blk = rb + (col / 32u) * bb, j = col % 32u;
    const uint byte = EM_LOAD_U8(tb, blk + qs + (j % 16u));
    uint q = j < 16u ? (byte & 15u) : (byte >> 4);
    const float d = EM_LOAD_F16(tb, blk);
#if defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
    q |= ((EM_LOAD_U8(tb, blk + qs - 4u + j / 8u) >> (j % 8u)) & 1u) << 4;
#endif
#if defined(TYPE_Q4_1) || defined(TYPE_Q5_1)
    o[dst] = d * float(q) + EM_LOAD_F16(tb, blk + 2u);
#elif defined(TYPE_Q5_0)
    o[dst] = d * (float(q) - 16.0);
#else
    const float t[16] = float[16](-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0,
                                  1.0, 13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);
    o[dst] = d * t[q];
#endif
#elif defined(TYPE_Q2_K) || defined(TYPE_Q3_K)
    /* mm_weights.glsl has the layouts; j: the value's group of 16 */
    const uint p = col % 256u, h = p / 128u, g = (p % 128u) / 32u, l = p % 32u, j = p / 16u;
#if defined(TYPE_Q2_K)
    const uint blk = rb + (col / 256u) * 84u;
    const uint q = (EM_LOAD_U8(tb, blk + 16u + 32u * h + l) >> (2u * g)) & 3u;
    const uint sc = EM_LOAD_U8(tb, blk + j);
    o[dst] = EM_LOAD_F16(tb, blk + 80u) * float(sc & 15u) * float(q) - EM_LOAD_F16(tb, blk + 82u) * float(sc >> 4);
#else
    const uint blk = rb + (col / 256u) * 110u;
    const uint q = ((EM_LOAD_U8(tb, blk + 32u + 32u * h + l) >> (2u * g)) & 3u) |
                   (((EM_LOAD_U8(tb, blk + l) >> (4u * h + g)) & 1u) << 2);
    const uint lo4 = (EM_LOAD_U8(tb, blk + 96u + j % 8u) >> (4u * (j / 8u))) & 15u;
    const uint hi2 = (EM_LOAD_U8(tb, blk + 104u + j % 4u) >> (2u * (j / 4u))) & 3u;
    o[dst] = EM_LOAD_F16(tb, blk + 108u) * float(int(lo4 | (hi2 << 4)) - 32) * (float(q) - 4.0);
#endif
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
    /* mm_weights.glsl has the layouts */
#if defined(TYPE_Q4_K)
    const uint blk = rb + (col / 256u) * 144u, qs = blk + 16u;
#else
    const uint blk = rb + (col / 256u) * 176u, qs = blk + 48u;
#endif
    const uint p = col % 256u, sb = p / 32u, l = p % 32u, sc = blk + 4u;
    const uint byte = EM_LOAD_U8(tb, qs + 32u * (sb >> 1) + l);
    uint q = (sb & 1u) != 0u ? byte >> 4 : byte & 15u;
#if defined(TYPE_Q5_K)
    q |= ((EM_LOAD_U8(tb, blk + 16u + l) >> sb) & 1u) << 4;
#endif
    uint scale, mn;
    if (sb < 4u) {
        scale = EM_LOAD_U8(tb, sc + sb) & 63u;
        mn = EM_LOAD_U8(tb, sc + sb + 4u) & 63u;
    } else {
        const uint h = EM_LOAD_U8(tb, sc + sb + 4u);
        scale = (h & 15u) | ((EM_LOAD_U8(tb, sc + sb - 4u) >> 6) << 4);
        mn = (h >> 4) | ((EM_LOAD_U8(tb, sc + sb) >> 6) << 4);
    }
    o[dst] = EM_LOAD_F16(tb, blk) * float(scale) * float(q) - EM_LOAD_F16(tb, blk + 2u) * float(mn);
#elif defined(TYPE_Q6_K)
    const uint blk = rb + (col / 256u) * 210u, p = col % 256u;
    const uint n = p / 128u, g = (p % 128u) / 32u, l = p % 32u;
    const uint byte = EM_LOAD_U8(tb, blk + 64u * n + l + 32u * (g & 1u));
    const uint q = (g >= 2u ? byte >> 4 : byte & 15u) | (((EM_LOAD_U8(tb, blk + 128u + 32u * n + l) >> (2u * g)) & 3u) << 4);
    const float scale = float(EM_LOAD_I8(tb, blk + 192u + 8u * n + l / 16u + 2u * g));
    o[dst] = EM_LOAD_F16(tb, blk + 208u) * scale * (float(q) - 32.0);
#endif
}
