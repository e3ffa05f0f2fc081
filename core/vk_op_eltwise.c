/* vk_op_eltwise.c - residual add and SwiGLU on Vulkan (shaders/eltwise.comp). */
#include "vk_internal.h"

struct eltwise_params {
    uint32_t n_cols, n_rows, out_off, a_off, b_off, out_stride, a_stride, b_stride;
};

static void eltwise(vk_ctx *c, const char *shader, em_tensor *out, const em_tensor *a, const em_tensor *b) {
    const uint32_t wg = 64 <= vk_ctx_caps(c)->max_wg_invocations ? 64 : vk_ctx_caps(c)->max_wg_invocations;
    const uint32_t spec[3] = {wg, 1, 1};
    vk_pipeline *p = vk_pipeline_get(c, shader, 3, spec, 3);
    if (!p) return;
    struct eltwise_params P = {
        (uint32_t)out->ne[0], (uint32_t)out->ne[1], vk_bind_residual(c, out, 0), vk_bind_residual(c, a, 0),
        vk_bind_residual(c, b, 0), (uint32_t)(out->nb[1] / 4), (uint32_t)(a->nb[1] / 4), (uint32_t)(b->nb[1] / 4)};
    const vk_bind binds[3] = {{out, 0, vk_view_bytes(out), true}, {a, 0, vk_view_bytes(a), false}, {b, 0, vk_view_bytes(b), false}};
    vk_dispatch(c, p, &P, sizeof P, 3, binds, (P.n_cols + wg - 1) / wg, P.n_rows, 1);
}

void vk_op_add(vk_ctx *c, em_tensor *out, const em_tensor *a, const em_tensor *b) { eltwise(c, "add", out, a, b); }

void vk_op_swiglu(vk_ctx *c, em_tensor *out, const em_tensor *gate, const em_tensor *up) {
    eltwise(c, "swiglu", out, gate, up);
}
