#version 450
/* kv_store.comp - copy F32 rows into the KV cache at rows pos0.., as F16
 * (two values packed per 32-bit word; KV widths are even) or F32. The whole
 * cache is bound and pos0 comes in the params, so a decode step's recording
 * replays at the next position. One invocation per word (x) and row (y). */
#include "common.glsl"

layout(set = 0, binding = 0, std140) uniform Params {
    uint n_words, n_rows;   /* words per row: n/2 for F16, n for F32 */
    uint cache_off, src_off; /* residual offsets, bytes */
    uint cache_stride, src_stride; /* words, floats */
    uint pos0;
} P;
layout(set = 0, binding = 1, std430) writeonly buffer Cache { uint cache[]; };
layout(set = 0, binding = 2, std430) readonly buffer Src { float src[]; };

void main() {
    const uint w = gl_GlobalInvocationID.x, r = gl_GlobalInvocationID.y;
    if (w >= P.n_words || r >= P.n_rows) return;
    const uint dst = P.cache_off / 4u + (P.pos0 + r) * P.cache_stride + w;
#if defined(KV_F16)
    const uint s = P.src_off / 4u + r * P.src_stride + 2u * w;
    cache[dst] = packHalf2x16(vec2(src[s], src[s + 1u]));
#else
    cache[dst] = floatBitsToUint(src[P.src_off / 4u + r * P.src_stride + w]);
#endif
}
