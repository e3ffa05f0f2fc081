#version 450
/* rope.comp - rotary embedding in place, llama.cpp's "normal" mode: value
 * pairs (2i, 2i+1) of each head turn by pos * freq_scale * theta_scale^i.
 * One invocation per pair (x: pairs of a head, y: heads, z: tokens).
 * The angle is stepped by repeated multiplication with the host's
 * theta_scale, as the CPU backend (and ggml) does, so both round alike; the
 * argument is reduced to [-pi, pi] in two steps (Cody-Waite) before sin/cos,
 * whose accuracy Vulkan only bounds on that interval. */
#include "common.glsl"

layout(set = 0, binding = 0, std140) uniform Params {
    uint n_pairs, n_head, n_tok;  /* n_pairs = n_dims / 2 */
    uint x_off, pos_off;          /* residual offsets, bytes */
    uint head_stride, tok_stride; /* floats */
    float theta_scale, freq_scale;
    uint n_head2, x2_off, head_stride2, tok_stride2; /* PAIR: the second tensor */
} P;
layout(set = 0, binding = 1, std430) buffer X { float x[]; };
layout(set = 0, binding = 2, std430) readonly buffer Pos { int pos[]; };
#ifdef PAIR
/* The PAIR variant turns a layer's queries and keys in one dispatch: heads
 * n_head.. of the grid are the second tensor's. */
layout(set = 0, binding = 3, std430) buffer X2 { float x2[]; };
#endif

void turn(const float th, out float c, out float s) {
    const float a = th * P.freq_scale;
    /* a - n*2pi with 2pi = C1 + C2, C1 exact in few bits */
    const float n = floor(a * 0.15915494309189535 + 0.5);
    const float r = (a - n * 6.28125) - n * 0.0019353071795864769;
    c = cos(r);
    s = sin(r);
}

void main() {
    const uint i = gl_GlobalInvocationID.x, t = gl_GlobalInvocationID.z;
    uint h = gl_GlobalInvocationID.y;
#ifdef PAIR
    if (i >= P.n_pairs || h >= P.n_head + P.n_head2 || t >= P.n_tok) return;
#else
    if (i >= P.n_pairs || h >= P.n_head || t >= P.n_tok) return;
#endif
    float theta = float(pos[P.pos_off / 4u + t]);
    for (uint k = 0u; k < i; k++) theta *= P.theta_scale;
    float c, s;
    turn(theta, c, s);
#ifdef PAIR
    if (h >= P.n_head) {
        h -= P.n_head;
        const uint b2 = P.x2_off / 4u + t * P.tok_stride2 + h * P.head_stride2 + 2u * i;
        const float y0 = x2[b2], y1 = x2[b2 + 1u];
        x2[b2] = y0 * c - y1 * s;
        x2[b2 + 1u] = y0 * s + y1 * c;
        return;
    }
#endif
    const uint b = P.x_off / 4u + t * P.tok_stride + h * P.head_stride + 2u * i;
    const float x0 = x[b], x1 = x[b + 1u];
    x[b] = x0 * c - x1 * s;
    x[b + 1u] = x0 * s + x1 * c;
}
