#version 450
/* eltwise.comp - element-wise ops over F32 rows: out = a + b (OP_ADD) or
 * out = silu(a) * b (OP_SWIGLU). Views are 2-D: n_rows rows of n_cols values
 * with their own row strides (in floats), so row slices of larger buffers
 * work. One invocation per value; a 2-D grid (x: columns, y: rows). */
#include "common.glsl"

layout(set = 0, binding = 0, std140) uniform Params {
    uint n_cols, n_rows;
    uint out_off, a_off, b_off;      /* residual offsets, bytes */
    uint out_stride, a_stride, b_stride; /* floats */
} P;
layout(set = 0, binding = 1, std430) writeonly buffer Out { float o[]; };
layout(set = 0, binding = 2, std430) readonly buffer A { float a[]; };
layout(set = 0, binding = 3, std430) readonly buffer B { float b[]; };

void main() {
    const uint col = gl_GlobalInvocationID.x, row = gl_GlobalInvocationID.y;
    if (col >= P.n_cols || row >= P.n_rows) return;
    const float x = a[P.a_off / 4 + row * P.a_stride + col];
    const float y = b[P.b_off / 4 + row * P.b_stride + col];
#if defined(OP_ADD)
    o[P.out_off / 4 + row * P.out_stride + col] = x + y;
#elif defined(OP_SWIGLU)
    o[P.out_off / 4 + row * P.out_stride + col] = x / (1.0 + exp(-x)) * y;
#endif
}
