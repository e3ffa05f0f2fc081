/* vk_op_pending.c - placeholders for op families still being written
 * (removed as each lands): they fail cleanly at sync. */
#include "vk_internal.h"

void vk_op_attention(vk_ctx *c, em_tensor *out, const em_tensor *q, const em_tensor *k, const em_tensor *v,
                     const em_attn_params *p) {
    (void)out; (void)q; (void)k; (void)v; (void)p;
    vk_fail(c, EM_ERR_UNSUPPORTED, "vulkan: attention not implemented yet");
}
bool vk_op_attention_supports(const vk_ctx *c, enum em_type kv) { (void)c; (void)kv; return false; }
