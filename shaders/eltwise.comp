#version 450
/* eltwise.comp - element-wise ops over F32 rows: out = a + b (OP_ADD),
 * out = silu(a) * b (OP_SWIGLU) or out = gelu(a) (OP_GELU, no b). Views are
 * 2-D: n_rows rows of n_cols values with their own row strides (in floats),
 * so row slices of larger buffers work, and a b_stride of 0 adds the same
 * row b to every row (a bias). One invocation per value; a 2-D grid
 * (x: columns, y: rows). */
#include "common.glsl"

layout(set = 0, binding = 0, std140) uniform Params {
    uint n_cols, n_rows;
    uint out_off, a_off, b_off;      /* residual offsets, bytes */
    uint out_stride, a_stride, b_stride; /* floats */
} P;
layout(set = 0, binding = 1, std430) writeonly buffer Out { float o[]; };
layout(set = 0, binding = 2, std430) readonly buffer A { float a[]; };
#ifndef OP_GELU
layout(set = 0, binding = 3, std430) readonly buffer B { float b[]; };
#endif

void main() {
    const uint col = gl_GlobalInvocationID.x, row = gl_GlobalInvocationID.y;
    if (col >= P.n_cols || row >= P.n_rows) return;
    const float x = a[P.a_off / 4 + row * P.a_stride + col];
#if defined(OP_GELU)
    /* 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3):
     * the same function without tanh, whose accuracy Vulkan bounds only as
     * that of sinh(u) / cosh(u), a form that gives inf / inf = NaN once exp
     * overflows (|u| > ~89). Here exp(-2u) overflows to inf for very
     * negative u and x / inf = 0, the right limit; for large u it is 0 and
     * the result x. */
    const float u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
    o[P.out_off / 4 + row * P.out_stride + col] = x / (1.0 + exp(-2.0 * u));
#else
    const float y = b[P.b_off / 4 + row * P.b_stride + col];
#if defined(OP_ADD)
    o[P.out_off / 4 + row * P.out_stride + col] = x + y;
#elif defined(OP_SWIGLU)
    o[P.out_off / 4 + row * P.out_stride + col] = x / (1.0 + exp(-x)) * y;
#endif
#endif
}
