#version 450
/* attn_combine.comp - decode attention, second pass: merge the per-chunk
 * partials of attn_split.comp into the output row of each (query row,
 * head). One workgroup per (head, query row), invocations over head_dim.
 *
 * With M the largest chunk maximum and w_c = exp(m_c - M):
 *     out[d] = sum_c w_c * o_c[d] / sum_c w_c * l_c
 * Empty chunks carry m_c = ATTN_NEG, so w_c = 0. Every invocation
 * recomputes M and the weights itself: n_chunks is small (<= 64) and that
 * needs no reduction and no barrier.
 *
 * Specialization: 0 = workgroup size, 3 = HD (head_dim). */
#include "common.glsl"
#include "attn.glsl"

layout(constant_id = 3) const uint HD = 64;

layout(set = 0, binding = 0, std140) uniform Params {
    uint n_head, n_chunks;
    uint out_off, part_off; /* residual offsets, bytes */
    uint out_stride;        /* floats between output rows */
} P;
layout(set = 0, binding = 1, std430) writeonly buffer Out { float o[]; };
layout(set = 0, binding = 2, std430) readonly buffer Part { float part[]; };

void main() {
    const uint h = gl_WorkGroupID.x, qi = gl_WorkGroupID.y;
    const uint stride = HD + 2u;
    const uint pbase = P.part_off / 4u + (qi * P.n_head + h) * P.n_chunks * stride;
    float mx = ATTN_NEG;
    for (uint c = 0u; c < P.n_chunks; c++) mx = max(mx, part[pbase + c * stride]);
    float l = 0.0;
    for (uint c = 0u; c < P.n_chunks; c++) l += exp(part[pbase + c * stride] - mx) * part[pbase + c * stride + 1u];
    const float inv = 1.0 / l;
    const uint obase = P.out_off / 4u + qi * P.out_stride + h * HD;
    for (uint d = gl_LocalInvocationID.x; d < HD; d += gl_WorkGroupSize.x) {
        float acc = 0.0;
        for (uint c = 0u; c < P.n_chunks; c++)
            acc += exp(part[pbase + c * stride] - mx) * part[pbase + c * stride + 2u + d];
        o[obase + d] = acc * inv;
    }
}
