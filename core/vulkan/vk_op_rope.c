/* vk_op_rope.c - rotary embedding on Vulkan (shaders/rope.comp). */
#include <math.h>

#include "vk_internal.h"

struct rope_params {
    uint32_t n_pairs, n_head, n_tok, x_off, pos_off, head_stride, tok_stride;
    float theta_scale, freq_scale;
    uint32_t n_head2, x2_off, head_stride2, tok_stride2;
};

void vk_op_rope(vk_ctx *c, em_tensor *x, em_tensor *x2, const em_tensor *pos, const em_rope_params *rp) {
    const uint32_t wg = 32 <= vk_ctx_caps(c)->max_wg_invocations ? 32 : vk_ctx_caps(c)->max_wg_invocations;
    const uint32_t spec[3] = {wg, 1, 1};
    vk_pipeline *p = vk_pipeline_get(c, x2 ? "rope_pair" : "rope", x2 ? 3 : 2, spec, 3);
    if (!p) return;
    /* The same float the CPU steps the angle with (cpu_rope_row). */
    const float theta_scale = powf(rp->freq_base, -2.0f / (float)rp->n_dims);
    struct rope_params P = {(uint32_t)(rp->n_dims / 2), (uint32_t)x->ne[1], (uint32_t)x->ne[2], vk_bind_residual(c, x, 0),
                            vk_bind_residual(c, pos, 0), (uint32_t)(x->nb[1] / 4), (uint32_t)(x->nb[2] / 4),
                            theta_scale, rp->freq_scale, 0, 0, 0, 0};
    vk_bind binds[3] = {{x, 0, vk_view_bytes(x), true}, {pos, 0, (uint64_t)x->ne[2] * 4, false}, {0}};
    if (x2) {
        P.n_head2 = (uint32_t)x2->ne[1];
        P.x2_off = vk_bind_residual(c, x2, 0);
        P.head_stride2 = (uint32_t)(x2->nb[1] / 4);
        P.tok_stride2 = (uint32_t)(x2->nb[2] / 4);
        binds[2] = (vk_bind){x2, 0, vk_view_bytes(x2), true};
    }
    vk_dispatch(c, p, &P, sizeof P, x2 ? 3 : 2, binds, (P.n_pairs + wg - 1) / wg, P.n_head + P.n_head2, P.n_tok);
}
