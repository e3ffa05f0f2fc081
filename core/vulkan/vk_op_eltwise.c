/* vk_op_eltwise.c - residual add, SwiGLU, GELU and the bias add on Vulkan
 * (shaders/eltwise.comp). The bias add is the add variant with b's row
 * stride 0: every row of a reads the same row b, so no shader of its own. */
#include "vk_internal.h"

struct eltwise_params {
    uint32_t n_cols, n_rows, out_off, a_off, b_off, out_stride, a_stride, b_stride;
};

/* b NULL: a one-input op (gelu), two bindings. b_bcast: b is one row. */
static void eltwise(vk_ctx *c, const char *shader, em_tensor *out, const em_tensor *a, const em_tensor *b,
                    bool b_bcast) {
    const uint32_t wg = 64 <= vk_ctx_caps(c)->max_wg_invocations ? 64 : vk_ctx_caps(c)->max_wg_invocations;
    const uint32_t spec[3] = {wg, 1, 1};
    const int n_bind = b ? 3 : 2;
    vk_pipeline *p = vk_pipeline_get(c, shader, n_bind, spec, 3);
    if (!p) return;
    struct eltwise_params P = {
        (uint32_t)out->ne[0], (uint32_t)out->ne[1], vk_bind_residual(c, out, 0), vk_bind_residual(c, a, 0),
        b ? vk_bind_residual(c, b, 0) : 0, (uint32_t)(out->nb[1] / 4), (uint32_t)(a->nb[1] / 4),
        b && !b_bcast ? (uint32_t)(b->nb[1] / 4) : 0};
    const vk_bind binds[3] = {{out, 0, vk_view_bytes(out), true}, {a, 0, vk_view_bytes(a), false},
                              {b, 0, b ? (b_bcast ? em_row_bytes(b->type, out->ne[0]) : vk_view_bytes(b)) : 0, false}};
    vk_dispatch(c, p, &P, sizeof P, n_bind, binds, (P.n_cols + wg - 1) / wg, P.n_rows, 1);
}

void vk_op_add(vk_ctx *c, em_tensor *out, const em_tensor *a, const em_tensor *b) { eltwise(c, "add", out, a, b, false); }

void vk_op_swiglu(vk_ctx *c, em_tensor *out, const em_tensor *gate, const em_tensor *up) {
    eltwise(c, "swiglu", out, gate, up, false);
}

void vk_op_gelu(vk_ctx *c, em_tensor *out, const em_tensor *x) { eltwise(c, "gelu", out, x, NULL, false); }

void vk_op_add_bias(vk_ctx *c, em_tensor *out, const em_tensor *x, const em_tensor *b) {
    if (b->ne[0] < out->ne[0]) {
        vk_fail(c, EM_ERR_ARG, "vulkan: add_bias: bias of %lld values for rows of %lld", (long long)b->ne[0],
                (long long)out->ne[0]);
        return;
    }
    eltwise(c, "add", out, x, b, true);
}
