#version 450
/* rms_norm.comp - out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, F32 rows.
 * One workgroup per row: a row (576..4096 values) is too short to split
 * further and each workgroup reads it once for the sum and once to scale. */
#include "common.glsl"
#include "reduce.glsl"

layout(set = 0, binding = 0, std140) uniform Params {
    uint n_cols, n_rows;
    uint out_off, x_off, w_off;   /* residual offsets, bytes */
    uint out_stride, x_stride;    /* floats */
    uint has_w;
    float eps;
} P;
layout(set = 0, binding = 1, std430) writeonly buffer Out { float o[]; };
layout(set = 0, binding = 2, std430) readonly buffer X { float x[]; };
layout(set = 0, binding = 3, std430) readonly buffer W { float w[]; };

void main() {
    const uint row = gl_WorkGroupID.x, lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    const uint xb = P.x_off / 4u + row * P.x_stride, ob = P.out_off / 4u + row * P.out_stride;
    float ss = 0.0;
    for (uint i = lid; i < P.n_cols; i += wg) {
        const float v = x[xb + i];
        ss += v * v;
    }
    ss = em_wg_sum(ss);
    const float scale = 1.0 / sqrt(ss / float(P.n_cols) + P.eps);
    for (uint i = lid; i < P.n_cols; i += wg) {
        float v = x[xb + i] * scale;
        if (P.has_w != 0u) v *= w[P.w_off / 4u + i];
        o[ob + i] = v;
    }
}
