/* vk_op_norm.c - RMSNorm and LayerNorm on Vulkan (shaders/rms_norm.comp,
 * shaders/layer_norm.comp): one workgroup per row, as wide as the device
 * allows up to 256. */
#include "vk_internal.h"

struct rms_params {
    uint32_t n_cols, n_rows, out_off, x_off, w_off, out_stride, x_stride, has_w;
    float eps;
};

struct ln_params {
    uint32_t n_cols, n_rows, out_off, x_off, w_off, b_off, out_stride, x_stride, has_w, has_b;
    float eps;
};

static uint32_t norm_wg(const vk_ctx *c) {
    const vk_caps *k = vk_ctx_caps(c);
    return vk_pow2_floor(k->max_wg_invocations < 256 ? k->max_wg_invocations : 256);
}

void vk_op_rms_norm(vk_ctx *c, em_tensor *out, const em_tensor *x, const em_tensor *w, float eps) {
    const uint32_t spec[3] = {norm_wg(c), 1, 1};
    vk_pipeline *p = vk_pipeline_get(c, vk_ctx_caps(c)->subgroup_arith ? "rms_norm_sg" : "rms_norm", 3, spec, 3);
    if (!p) return;
    struct rms_params P = {(uint32_t)x->ne[0], (uint32_t)x->ne[1], vk_bind_residual(c, out, 0), vk_bind_residual(c, x, 0),
                           w ? vk_bind_residual(c, w, 0) : 0, (uint32_t)(out->nb[1] / 4), (uint32_t)(x->nb[1] / 4),
                           w != NULL, eps};
    /* Without a weight, x is bound again in its place (never read). */
    const em_tensor *wt = w ? w : x;
    const vk_bind binds[3] = {{out, 0, vk_view_bytes(out), true}, {x, 0, vk_view_bytes(x), false},
                              {wt, 0, vk_view_bytes(wt), false}};
    vk_dispatch(c, p, &P, sizeof P, 3, binds, P.n_rows, 1, 1);
}

void vk_op_layer_norm(vk_ctx *c, em_tensor *out, const em_tensor *x, const em_tensor *w, const em_tensor *b, float eps) {
    const uint32_t spec[3] = {norm_wg(c), 1, 1};
    vk_pipeline *p = vk_pipeline_get(c, vk_ctx_caps(c)->subgroup_arith ? "layer_norm_sg" : "layer_norm", 4, spec, 3);
    if (!p) return;
    struct ln_params P = {(uint32_t)x->ne[0], (uint32_t)x->ne[1], vk_bind_residual(c, out, 0), vk_bind_residual(c, x, 0),
                          w ? vk_bind_residual(c, w, 0) : 0, b ? vk_bind_residual(c, b, 0) : 0,
                          (uint32_t)(out->nb[1] / 4), (uint32_t)(x->nb[1] / 4), w != NULL, b != NULL, eps};
    /* A missing weight or bias is replaced by x in its binding (never read). */
    const em_tensor *wt = w ? w : x, *bt = b ? b : x;
    const vk_bind binds[4] = {{out, 0, vk_view_bytes(out), true}, {x, 0, vk_view_bytes(x), false},
                              {wt, 0, vk_view_bytes(wt), false}, {bt, 0, vk_view_bytes(bt), false}};
    vk_dispatch(c, p, &P, sizeof P, 4, binds, P.n_rows, 1, 1);
}
