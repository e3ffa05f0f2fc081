/* vk_backend.c - the Vulkan backend's em_backend_ops table and lifetime.
 * See vk_backend.h for what it promises, vk_internal.h for how the files
 * divide the work. */
#include <stdlib.h>
#include <string.h>

#include "vk_ctx.h"

static vk_ctx *ctx_of(em_backend *be) { return be->ctx; }

bool vk_backend_built(void) { return true; }

/* Every op is listed, with no default: a new em_op is a -Wswitch error here
 * (-Werror) until this backend says which types it takes. */
static bool vk_supports(em_backend *be, enum em_op op, enum em_type t) {
    const vk_ctx *c = ctx_of(be);
    switch (op) {
    case EM_OP_GET_ROWS:
    case EM_OP_MATMUL: return vk_op_matmul_supports(c, t);
    case EM_OP_KV_STORE: return t == EM_TYPE_F16 || t == EM_TYPE_F32;
    case EM_OP_ATTENTION: return vk_op_attention_supports(c, t);
    /* Activations only. */
    case EM_OP_RMS_NORM:
    case EM_OP_ROPE:
    case EM_OP_SWIGLU:
    case EM_OP_ADD: return t == EM_TYPE_F32;
    /* The ViT's ops read activations only. vk_op_attention_full would also
     * take an F16 cache, but the CPU's has no reason to, and an op is offered
     * where both backends agree. */
    case EM_OP_LAYER_NORM:
    case EM_OP_GELU:
    case EM_OP_ADD_BIAS:
    case EM_OP_ATTENTION_FULL: return t == EM_TYPE_F32;
    case EM_OP_COUNT: break;
    }
    return false; /* not an op */
}

/* ---- pairing: RoPE of q then k, and the stores of k then v, come in twos
 * from the decoder; each is held back one call and sent as one dispatch with
 * its twin (30 layers: 60 dispatches fewer per token). Any other call, and
 * every sync, upload and download, first lists what is held back. That is
 * done here, at the top, so the files below (vk_memory.c, vk_record.c) never
 * call back up: they see only the op list. */

static void vk_pending_flush(vk_ctx *c) {
    vk_pending *p = &c->pend;
    if (p->kind == VK_PEND_ROPE) vk_op_rope(c, &p->a, NULL, &p->pos, &p->rp);
    else if (p->kind == VK_PEND_KV) vk_op_kv_store(c, &p->a, &p->b, NULL, NULL, p->pos0);
    p->kind = VK_PEND_NONE;
}

static bool same_view(const em_tensor *a, const em_tensor *b) {
    return a->extra == b->extra && a->offs == b->offs && a->type == b->type && !memcmp(a->ne, b->ne, sizeof a->ne) &&
           !memcmp(a->nb, b->nb, sizeof a->nb);
}

/* Twins written in one dispatch must not overlap (nor may one write what
 * the other reads). */
static bool disjoint(const em_tensor *a, const em_tensor *b) {
    if (a->extra != b->extra) return true;
    return a->offs + vk_view_bytes(a) <= b->offs || b->offs + vk_view_bytes(b) <= a->offs;
}

static void vk_rope(em_backend *be, em_tensor *x, const em_tensor *pos, const em_rope_params *rp) {
    vk_ctx *c = ctx_of(be);
    vk_pending *p = &c->pend;
    if (p->kind == VK_PEND_ROPE && same_view(&p->pos, pos) && !memcmp(&p->rp, rp, sizeof *rp) &&
        p->a.ne[0] == x->ne[0] && p->a.ne[2] == x->ne[2] && disjoint(&p->a, x)) {
        p->kind = VK_PEND_NONE;
        vk_op_rope(c, &p->a, x, pos, rp);
        return;
    }
    vk_pending_flush(c);
    *p = (vk_pending){.kind = VK_PEND_ROPE, .a = *x, .pos = *pos, .rp = *rp};
}

static void vk_kv_store(em_backend *be, em_tensor *cache, const em_tensor *src, int64_t pos0) {
    vk_ctx *c = ctx_of(be);
    vk_pending *p = &c->pend;
    if (p->kind == VK_PEND_KV && p->pos0 == pos0 && p->a.type == cache->type && p->b.ne[0] == src->ne[0] &&
        p->b.ne[1] == src->ne[1] && disjoint(&p->a, cache) && disjoint(&p->a, src) && disjoint(&p->b, cache)) {
        p->kind = VK_PEND_NONE;
        vk_op_kv_store(c, &p->a, &p->b, cache, src, pos0);
        return;
    }
    vk_pending_flush(c);
    *p = (vk_pending){.kind = VK_PEND_KV, .a = *cache, .b = *src, .pos0 = pos0};
}

static void vk_get_rows(em_backend *be, em_tensor *out, const em_tensor *table, const em_tensor *ids) {
    vk_pending_flush(ctx_of(be));
    vk_op_get_rows(ctx_of(be), out, table, ids);
}
static void vk_rms_norm(em_backend *be, em_tensor *out, const em_tensor *x, const em_tensor *w, float eps) {
    vk_pending_flush(ctx_of(be));
    vk_op_rms_norm(ctx_of(be), out, x, w, eps);
}
static void vk_matmul(em_backend *be, em_tensor *out, const em_tensor *w, const em_tensor *x) {
    vk_pending_flush(ctx_of(be));
    vk_op_matmul(ctx_of(be), out, w, x, false);
}
static void vk_matmul_acc(em_backend *be, em_tensor *out, const em_tensor *w, const em_tensor *x) {
    vk_pending_flush(ctx_of(be));
    vk_op_matmul(ctx_of(be), out, w, x, true);
}
/* The products share x and write different outputs: listed back to back,
 * they run without barriers between them (vk_record.c). */
static void vk_matmul_multi(em_backend *be, int n_w, em_tensor *const *outs, const em_tensor *const *ws, const em_tensor *x) {
    vk_pending_flush(ctx_of(be));
    for (int j = 0; j < n_w; j++) vk_op_matmul(ctx_of(be), outs[j], ws[j], x, false);
}
static void vk_attention(em_backend *be, em_tensor *out, const em_tensor *q, const em_tensor *k, const em_tensor *v,
                         const em_attn_params *p) {
    vk_pending_flush(ctx_of(be));
    vk_op_attention(ctx_of(be), out, q, k, v, p);
}
static void vk_swiglu(em_backend *be, em_tensor *out, const em_tensor *gate, const em_tensor *up) {
    vk_pending_flush(ctx_of(be));
    vk_op_swiglu(ctx_of(be), out, gate, up);
}
static void vk_add(em_backend *be, em_tensor *out, const em_tensor *a, const em_tensor *b) {
    vk_pending_flush(ctx_of(be));
    vk_op_add(ctx_of(be), out, a, b);
}
static void vk_layer_norm(em_backend *be, em_tensor *out, const em_tensor *x, const em_tensor *w, const em_tensor *b,
                          float eps) {
    vk_pending_flush(ctx_of(be));
    vk_op_layer_norm(ctx_of(be), out, x, w, b, eps);
}
static void vk_gelu(em_backend *be, em_tensor *out, const em_tensor *x) {
    vk_pending_flush(ctx_of(be));
    vk_op_gelu(ctx_of(be), out, x);
}
static void vk_add_bias(em_backend *be, em_tensor *out, const em_tensor *x, const em_tensor *b) {
    vk_pending_flush(ctx_of(be));
    vk_op_add_bias(ctx_of(be), out, x, b);
}
static void vk_attention_full(em_backend *be, em_tensor *out, const em_tensor *q, const em_tensor *k,
                              const em_tensor *v, const em_attn_params *p) {
    vk_pending_flush(ctx_of(be));
    vk_op_attention_full(ctx_of(be), out, q, k, v, p);
}

/* ---- memory and sync: what is held back is listed first, so the op list
 * vk_memory.c and vk_record.c see is complete (an upload must not overtake
 * a held-back op that reads the old contents; a download must see its
 * result). */

static ember_status vk_alloc(em_backend *be, em_tensor *t, char *err) { return vk_mem_alloc(ctx_of(be), t, err); }
static void vk_release(em_backend *be, em_tensor *t) { vk_mem_release(ctx_of(be), t); }
static ember_status vk_wrap(em_backend *be, em_tensor *t, const void *host, char *err) {
    return vk_mem_wrap(ctx_of(be), t, host, err);
}
static ember_status vk_upload(em_backend *be, em_tensor *t, const void *src, size_t off, size_t n, char *err) {
    vk_pending_flush(ctx_of(be));
    return vk_mem_upload(ctx_of(be), t, src, off, n, err);
}
static ember_status vk_download(em_backend *be, const em_tensor *t, void *dst, size_t off, size_t n, char *err) {
    vk_pending_flush(ctx_of(be));
    return vk_mem_download(ctx_of(be), t, dst, off, n, err);
}
static ember_status vk_backend_sync(em_backend *be, char *err) {
    vk_pending_flush(ctx_of(be));
    return vk_sync(ctx_of(be), err);
}

static void vk_free(em_backend *be) {
    if (!be) return;
    vk_ctx *c = ctx_of(be);
    if (c) {
        if (c->dev) c->api.vkDeviceWaitIdle(c->dev);
        if (c->dev) {
            vk_record_free(c);
            vk_pipelines_free(c);
            vk_memory_free(c);
        }
        vk_device_close(c);
        free(c);
    }
    free(be);
}

/* The table below has a member for each em_op (matmul also serves
 * matmul_multi and matmul_acc). A new op grows EM_OP_COUNT and stops the
 * build until it is listed here and in vk_supports. */
_Static_assert(EM_OP_COUNT == 12, "vulkan backend: a new em_op needs its function in vk_ops and a case in vk_supports");

static const em_backend_ops vk_ops = {
    .name = "vulkan",
    .copies_weights = true,
    .free = vk_free,
    .alloc = vk_alloc,
    .release = vk_release,
    .wrap = vk_wrap,
    .upload = vk_upload,
    .download = vk_download,
    .supports = vk_supports,
    .get_rows = vk_get_rows,
    .rms_norm = vk_rms_norm,
    .matmul = vk_matmul,
    .matmul_multi = vk_matmul_multi,
    .matmul_acc = vk_matmul_acc,
    .rope = vk_rope,
    .kv_store = vk_kv_store,
    .attention = vk_attention,
    .swiglu = vk_swiglu,
    .add = vk_add,
    .layer_norm = vk_layer_norm,
    .gelu = vk_gelu,
    .add_bias = vk_add_bias,
    .attention_full = vk_attention_full,
    .sync = vk_backend_sync,
};

em_backend *vk_backend_create(const vk_backend_params *p, ember_status *status, char *err) {
    ember_status st_local;
    ember_status *st = status ? status : &st_local;
    *st = EM_OK;
    em_backend *be = calloc(1, sizeof *be);
    vk_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        *st = em_err(err, EM_ERR_NOMEM, "vk_backend_create: out of memory");
        return NULL;
    }
    be->ops = &vk_ops;
    be->ctx = c;
    if (p) {
        c->progress = p->progress;
        c->progress_user = p->progress_user;
    }
    if ((*st = vk_device_open(c, p, err)) || (*st = vk_memory_init(c, err)) || (*st = vk_record_init(c, err))) {
        vk_free(be);
        return NULL;
    }
    return be;
}

const char *vk_backend_device_name(const em_backend *be) { return ((const vk_ctx *)be->ctx)->caps.name; }

bool vk_backend_is_gpu(const em_backend *be) {
    return ((const vk_ctx *)be->ctx)->caps.type != VK_PHYSICAL_DEVICE_TYPE_CPU;
}

void vk_backend_get_stats(const em_backend *be, vk_backend_stats *st) { *st = ((const vk_ctx *)be->ctx)->stats; }
