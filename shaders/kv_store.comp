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
    uint cache2_off, src2_off, cache2_stride, src2_stride; /* PAIR: the second cache */
} P;
layout(set = 0, binding = 1, std430) writeonly buffer Cache { uint cache[]; };
layout(set = 0, binding = 2, std430) readonly buffer Src { float src[]; };
#ifdef PAIR
/* The PAIR variant stores a layer's keys and values in one dispatch (grid z
 * = 0: the first cache, 1: the second); both have the same shape. */
layout(set = 0, binding = 3, std430) writeonly buffer Cache2 { uint cache2[]; };
layout(set = 0, binding = 4, std430) readonly buffer Src2 { float src2[]; };
#endif

/* The cache word for values (a, b) of a source row: two fp16 or one fp32. */
#if defined(KV_F16)
#define KV_WORD(buf, s) packHalf2x16(vec2(buf[s], buf[(s) + 1u]))
#define KV_SRC(w) (2u * (w))
#else
#define KV_WORD(buf, s) floatBitsToUint(buf[s])
#define KV_SRC(w) (w)
#endif

void main() {
    const uint w = gl_GlobalInvocationID.x, r = gl_GlobalInvocationID.y;
    if (w >= P.n_words || r >= P.n_rows) return;
#ifdef PAIR
    if (gl_GlobalInvocationID.z == 1u) {
        cache2[P.cache2_off / 4u + (P.pos0 + r) * P.cache2_stride + w] =
            KV_WORD(src2, P.src2_off / 4u + r * P.src2_stride + KV_SRC(w));
        return;
    }
#endif
    cache[P.cache_off / 4u + (P.pos0 + r) * P.cache_stride + w] = KV_WORD(src, P.src_off / 4u + r * P.src_stride + KV_SRC(w));
}
