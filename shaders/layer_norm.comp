#version 450
/* layer_norm.comp - out[r] = (x[r] - mean) / sqrt(var + eps) * w + b, F32
 * rows, var the biased variance (torch.nn.LayerNorm, ggml_norm).
 * One workgroup per row, as rms_norm.comp. Two reductions, the mean and
 * then the variance of x - mean (not mean(x^2) - mean^2, which cancels
 * when the mean is large next to the spread, as it is for a ViT's residual
 * stream); the row is read three times, from cache after the first. */
#include "common.glsl"
#include "reduce.glsl"

layout(set = 0, binding = 0, std140) uniform Params {
    uint n_cols, n_rows;
    uint out_off, x_off, w_off, b_off; /* residual offsets, bytes */
    uint out_stride, x_stride;         /* floats */
    uint has_w, has_b;
    float eps;
} P;
layout(set = 0, binding = 1, std430) writeonly buffer Out { float o[]; };
layout(set = 0, binding = 2, std430) readonly buffer X { float x[]; };
layout(set = 0, binding = 3, std430) readonly buffer W { float w[]; };
layout(set = 0, binding = 4, std430) readonly buffer B { float b[]; };

void main() {
    const uint row = gl_WorkGroupID.x, lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    const uint xb = P.x_off / 4u + row * P.x_stride, ob = P.out_off / 4u + row * P.out_stride;
    float s = 0.0;
    for (uint i = lid; i < P.n_cols; i += wg) s += x[xb + i];
    const float mean = em_wg_sum(s) / float(P.n_cols);
    float ss = 0.0;
    for (uint i = lid; i < P.n_cols; i += wg) {
        const float d = x[xb + i] - mean;
        ss += d * d;
    }
    const float scale = 1.0 / sqrt(em_wg_sum(ss) / float(P.n_cols) + P.eps);
    /* In place (o and x one buffer) is safe: every read of the row by any
     * invocation happened before the barriers inside em_wg_sum, and below
     * each invocation reads only the values it then writes. */
    for (uint i = lid; i < P.n_cols; i += wg) {
        float v = (x[xb + i] - mean) * scale;
        if (P.has_w != 0u) v *= w[P.w_off / 4u + i];
        if (P.has_b != 0u) v += b[P.b_off / 4u + i];
        o[ob + i] = v;
    }
}
