/* vk_op_rows.c - row movers on Vulkan: the embedding lookup (get_rows.comp,
 * every weight type) and the KV-cache store (kv_store.comp). */
#include <stdio.h>

#include "vk_internal.h"

struct get_rows_params {
    uint32_t n_cols, n_ids, out_off, table_off, ids_off, out_stride, row_bytes, row_lo, row_hi, n_table;
};

static const char *get_rows_shader(enum em_type t) {
    switch (t) {
    case EM_TYPE_F32: return "get_rows_f32";
    case EM_TYPE_F16: return "get_rows_f16";
    case EM_TYPE_BF16: return "get_rows_bf16";
    case EM_TYPE_Q8_0: return "get_rows_q8_0";
    case EM_TYPE_Q4_0: return "get_rows_q4_0";
    case EM_TYPE_Q4_1: return "get_rows_q4_1";
    case EM_TYPE_Q5_0: return "get_rows_q5_0";
    case EM_TYPE_Q5_1: return "get_rows_q5_1";
    case EM_TYPE_IQ4_NL: return "get_rows_iq4_nl";
    case EM_TYPE_Q2_K: return "get_rows_q2_k";
    case EM_TYPE_Q3_K: return "get_rows_q3_k";
    case EM_TYPE_Q4_K: return "get_rows_q4_k";
    case EM_TYPE_Q5_K: return "get_rows_q5_k";
    case EM_TYPE_Q6_K: return "get_rows_q6_k";
    default: return NULL;
    }
}

void vk_op_get_rows(vk_ctx *c, em_tensor *out, const em_tensor *table, const em_tensor *ids) {
    const vk_caps *k = vk_ctx_caps(c);
    const char *shader = get_rows_shader(table->type);
    if (!shader) {
        vk_fail(c, EM_ERR_UNSUPPORTED, "vulkan: get_rows: table type %s", em_type_name(table->type));
        return;
    }
    const uint32_t wg = 64 <= k->max_wg_invocations ? 64 : k->max_wg_invocations;
    const uint32_t spec[3] = {wg, 1, 1};
    vk_pipeline *p = vk_pipeline_get(c, shader, 3, spec, 3);
    if (!p) return;
    const uint64_t row_bytes = table->nb[1], n_table = (uint64_t)table->ne[1];
    /* Rows per binding: as many as fit in the largest storage range. */
    uint64_t per = (k->max_range - 256) / row_bytes;
    if (per == 0) {
        vk_fail(c, EM_ERR_UNSUPPORTED, "vulkan: get_rows: a %llu-byte row exceeds the storage range", (unsigned long long)row_bytes);
        return;
    }
    for (uint64_t lo = 0; lo < n_table; lo += per) {
        const uint64_t hi = lo + per < n_table ? lo + per : n_table;
        struct get_rows_params P = {(uint32_t)out->ne[0], (uint32_t)ids->ne[0], vk_bind_residual(c, out, 0),
                                    vk_bind_residual(c, table, lo * row_bytes), vk_bind_residual(c, ids, 0),
                                    (uint32_t)(out->nb[1] / 4), (uint32_t)row_bytes, (uint32_t)lo, (uint32_t)hi,
                                    (uint32_t)n_table};
        const vk_bind binds[3] = {{out, 0, vk_view_bytes(out), true},
                                  {table, lo * row_bytes, (hi - lo) * row_bytes, false},
                                  {ids, 0, (uint64_t)ids->ne[0] * 4, false}};
        vk_dispatch(c, p, &P, sizeof P, 3, binds, (P.n_cols + wg - 1) / wg, P.n_ids, 1);
    }
}

struct kv_store_params {
    uint32_t n_words, n_rows, cache_off, src_off, cache_stride, src_stride, pos0;
    uint32_t cache2_off, src2_off, cache2_stride, src2_stride;
};

static bool kv_store_ok(vk_ctx *c, const em_tensor *cache, const em_tensor *src, int64_t pos0) {
    if ((cache->type != EM_TYPE_F16 && cache->type != EM_TYPE_F32) || (cache->type == EM_TYPE_F16 && (src->ne[0] & 1))) {
        vk_fail(c, EM_ERR_UNSUPPORTED, "vulkan: kv_store: cache type %s, width %lld", em_type_name(cache->type),
                (long long)src->ne[0]);
        return false;
    }
    if (pos0 < 0 || pos0 + src->ne[1] > cache->ne[1]) {
        vk_fail(c, EM_ERR_RANGE, "vulkan: kv_store: rows past the end of the KV cache");
        return false;
    }
    return true;
}

void vk_op_kv_store(vk_ctx *c, em_tensor *cache, const em_tensor *src, em_tensor *cache2, const em_tensor *src2,
                    int64_t pos0) {
    const bool f16 = cache->type == EM_TYPE_F16, pair = cache2 != NULL;
    if (!kv_store_ok(c, cache, src, pos0) || (pair && !kv_store_ok(c, cache2, src2, pos0))) return;
    const uint32_t wg = 64 <= vk_ctx_caps(c)->max_wg_invocations ? 64 : vk_ctx_caps(c)->max_wg_invocations;
    const uint32_t spec[3] = {wg, 1, 1};
    const char *name = f16 ? (pair ? "kv_store_f16_pair" : "kv_store_f16") : (pair ? "kv_store_f32_pair" : "kv_store_f32");
    vk_pipeline *p = vk_pipeline_get(c, name, pair ? 4 : 2, spec, 3);
    if (!p) return;
    struct kv_store_params P = {(uint32_t)(f16 ? src->ne[0] / 2 : src->ne[0]), (uint32_t)src->ne[1],
                                vk_bind_residual(c, cache, 0), vk_bind_residual(c, src, 0), (uint32_t)(cache->nb[1] / 4),
                                (uint32_t)(src->nb[1] / 4), (uint32_t)pos0, 0, 0, 0, 0};
    /* The whole cache is bound (pos0 is a parameter), so the recording of a
     * decode step replays at every position. */
    vk_bind binds[4] = {{cache, 0, vk_view_bytes(cache), true}, {src, 0, vk_view_bytes(src), false}, {0}, {0}};
    if (pair) {
        P.cache2_off = vk_bind_residual(c, cache2, 0);
        P.src2_off = vk_bind_residual(c, src2, 0);
        P.cache2_stride = (uint32_t)(cache2->nb[1] / 4);
        P.src2_stride = (uint32_t)(src2->nb[1] / 4);
        binds[2] = (vk_bind){cache2, 0, vk_view_bytes(cache2), true};
        binds[3] = (vk_bind){src2, 0, vk_view_bytes(src2), false};
    }
    vk_dispatch(c, p, &P, sizeof P, pair ? 4 : 2, binds, (P.n_words + wg - 1) / wg, P.n_rows, pair ? 2 : 1);
}
