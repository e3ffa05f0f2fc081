/* vk_op_rope.c - rotary embedding on Vulkan (shaders/rope.comp). */
#include <math.h>

#include "vk_internal.h"

struct rope_params {
    uint32_t n_pairs, n_head, n_tok, x_off, pos_off, head_stride, tok_stride;
    float theta_scale, freq_scale;
};

void vk_op_rope(vk_ctx *c, em_tensor *x, const em_tensor *pos, const em_rope_params *rp) {
    const uint32_t wg = 32 <= vk_ctx_caps(c)->max_wg_invocations ? 32 : vk_ctx_caps(c)->max_wg_invocations;
    const uint32_t spec[3] = {wg, 1, 1};
    vk_pipeline *p = vk_pipeline_get(c, "rope", 2, spec, 3);
    if (!p) return;
    /* The same float the CPU steps the angle with (cpu_rope_row). */
    const float theta_scale = powf(rp->freq_base, -2.0f / (float)rp->n_dims);
    struct rope_params P = {(uint32_t)(rp->n_dims / 2), (uint32_t)x->ne[1], (uint32_t)x->ne[2], vk_bind_residual(c, x, 0),
                            vk_bind_residual(c, pos, 0), (uint32_t)(x->nb[1] / 4), (uint32_t)(x->nb[2] / 4),
                            theta_scale, rp->freq_scale};
    const vk_bind binds[2] = {{x, 0, vk_view_bytes(x), true}, {pos, 0, (uint64_t)x->ne[2] * 4, false}};
    vk_dispatch(c, p, &P, sizeof P, 2, binds, (P.n_pairs + wg - 1) / wg, P.n_head, P.n_tok);
}
