/* backend.h - the compute interface every model part is written against.
 *
 * A backend is a table of function pointers plus its own context, as in ggml:
 * the CPU backend (core/cpu/) is the reference; the Vulkan backend
 * (core/vulkan/) implements the same table. A matmul, a norm, an attention is
 * written once per backend, not once per model. Nothing here names a backend:
 * they are created by core/cpu/cpu_backend.h, core/vulkan/vk_backend.h, or by
 * name through core/backend_open.h.
 *
 * Tensors are views: a type, up to 4 dims (ne[0] contiguous) and byte strides.
 * Their memory belongs to a backend: em_backend_alloc gives a tensor backend
 * memory; em_backend_wrap makes host memory that outlives the backend (a
 * mapped GGUF) usable as a weight, without a copy where the backend can read
 * host memory (the CPU always can).
 *
 * Ops are recorded in call order and may run asynchronously; a backend may run
 * each one at once (CPU) or batch them (Vulkan). em_backend_sync waits for
 * everything recorded and reports the first failure. Ops do not fail
 * individually: shapes are the caller's contract, not checked at run time
 * (a wrong shape is a bug in the model code; tests/ compares every op of
 * every backend with the CPU's); run-time failures surface at sync.
 *
 * Threads: a backend is used by one thread at a time. */
#ifndef EMBER_BACKEND_H
#define EMBER_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "types.h"

typedef struct em_tensor {
    enum em_type type;
    int64_t ne[4];   /* ne[0]: values per row (contiguous); unused dims are 1 */
    size_t nb[4];    /* byte strides; nb[0] is the element/block size */
    void *data;      /* host address where the backend has one, else NULL */
    void *extra;     /* backend-private handle (e.g. a device buffer) */
    size_t offs;     /* byte offset of this view into extra's memory */
    const char *name;
    uint32_t flags;  /* EM_TENSOR_* hints to the backend's alloc */
} em_tensor;

/* The host writes or reads this tensor every step (token ids, positions,
 * logits): a GPU backend keeps it in host-visible memory so the transfer is
 * a memcpy, not a staged copy with a submit of its own. */
#define EM_TENSOR_HOST_IO 1u
/* Filled a part at a time as a context grows (the KV cache): a host backend
 * leaves its pages uncommitted until they are written, so a long context
 * costs memory only as it is used. Other host tensors are committed at
 * allocation (their pages mapped then, not at first touch). */
#define EM_TENSOR_GROWS 2u

/* A contiguous tensor description (no memory yet). */
em_tensor em_tensor_make(enum em_type type, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3);
size_t em_tensor_nbytes(const em_tensor *t);
int64_t em_tensor_nelements(const em_tensor *t);
/* View of rows [r0, r0+n) of dims 1 (a 2-D slice), sharing memory. */
em_tensor em_tensor_rows(const em_tensor *t, int64_t r0, int64_t n);

typedef struct em_rope_params {
    int n_dims;        /* rotated dims per head (head_dim for llama) */
    float freq_base;   /* rope.freq_base, 10000 by default */
    float freq_scale;  /* 1 / rope.scaling.factor for linear scaling, else 1 */
} em_rope_params;

typedef struct em_attn_params {
    int n_head, n_head_kv, head_dim;
    int64_t pos0;      /* position of the first query row */
    int64_t n_kv;      /* keys/values valid in the cache: pos0 + n_queries */
    float scale;       /* 1/sqrt(head_dim) */
} em_attn_params;

/* What supports() is asked about. Each backend's supports() lists every op
 * (no default: a new op is a -Wswitch error) and its ops table checks
 * EM_OP_COUNT, so adding an op stops the build until every backend says what
 * it does with it. */
enum em_op {
    EM_OP_GET_ROWS,
    EM_OP_RMS_NORM,
    EM_OP_MATMUL,
    EM_OP_ROPE,
    EM_OP_KV_STORE,
    EM_OP_ATTENTION,
    EM_OP_SWIGLU,
    EM_OP_ADD,
    EM_OP_LAYER_NORM,
    EM_OP_GELU,
    EM_OP_ADD_BIAS,
    EM_OP_ATTENTION_FULL,
    EM_OP_COUNT
};

typedef struct em_backend em_backend;

typedef struct em_backend_ops {
    const char *name;
    /* wrap copies weights into backend memory (the host copy may be dropped) */
    bool copies_weights;
    void (*free)(em_backend *be);
    ember_status (*alloc)(em_backend *be, em_tensor *t, char *err);
    void (*release)(em_backend *be, em_tensor *t);
    ember_status (*wrap)(em_backend *be, em_tensor *t, const void *host, char *err);
    ember_status (*upload)(em_backend *be, em_tensor *t, const void *src, size_t off, size_t n, char *err);
    ember_status (*download)(em_backend *be, const em_tensor *t, void *dst, size_t off, size_t n, char *err);
    /* Optional (NULL where not offered): where the host may read and write t
     * in place, between syncs, instead of upload/download (the CPU backend's
     * tensors are host memory); NULL for a tensor it cannot expose. */
    void *(*host_ptr)(em_backend *be, const em_tensor *t);
    /* Is op available for weight/input type t? Asked before dispatch. */
    bool (*supports)(em_backend *be, enum em_op op, enum em_type t);

    /* out[i] = table[ids[i]] as f32. table: [n_rows][dim] any supported type;
     * ids: I32 [n]; out: F32 [n][dim]. */
    void (*get_rows)(em_backend *be, em_tensor *out, const em_tensor *table, const em_tensor *ids);
    /* out[i] = x[i] / sqrt(mean(x[i]^2) + eps) * w. x, out: F32 [n][d]; w: F32 [d]. */
    void (*rms_norm)(em_backend *be, em_tensor *out, const em_tensor *x, const em_tensor *w, float eps);
    /* out[i][r] = sum_j w[r][j] * x[i][j]. w: [m][k] weight type; x: F32 [n][k]; out: F32 [n][m]. */
    void (*matmul)(em_backend *be, em_tensor *out, const em_tensor *w, const em_tensor *x);
    /* n_w products sharing the input x (a layer's q/k/v, or gate/up):
     * outs[j] = x . ws[j]^T, each as matmul. Weights of different types are
     * allowed (the backend may then run them one by one). n_w <= 4. */
    void (*matmul_multi)(em_backend *be, int n_w, em_tensor *const *outs, const em_tensor *const *ws,
                         const em_tensor *x);
    /* Optional (NULL where not offered): out += x . w^T, a product and a
     * residual add in one op, so a GPU backend runs one dispatch instead of
     * two. Shapes as matmul; out is read and written. */
    void (*matmul_acc)(em_backend *be, em_tensor *out, const em_tensor *w, const em_tensor *x);
    /* In-place rotary embedding, llama.cpp's "normal" mode (adjacent pairs).
     * x: F32 [n_tok][n_head][head_dim] as ne = {head_dim, n_head, n_tok}; pos: I32 [n_tok]. */
    void (*rope)(em_backend *be, em_tensor *x, const em_tensor *pos, const em_rope_params *p);
    /* Copy src (F32 [n][d]) into rows pos0..pos0+n-1 of cache ([n_ctx][d], F16 or F32). */
    void (*kv_store)(em_backend *be, em_tensor *cache, const em_tensor *src, int64_t pos0);
    /* Causal grouped-query attention over the cache. q: F32 [n][n_head*head_dim];
     * k, v: caches [n_ctx][n_head_kv*head_dim]; out: F32 [n][n_head*head_dim].
     * Query row i (position pos0+i) attends to cache rows 0..pos0+i. */
    void (*attention)(em_backend *be, em_tensor *out, const em_tensor *q, const em_tensor *k,
                      const em_tensor *v, const em_attn_params *p);
    /* out = silu(gate) * up, all F32 of one shape. */
    void (*swiglu)(em_backend *be, em_tensor *out, const em_tensor *gate, const em_tensor *up);
    /* out = a + b, F32 of one shape (out may alias a). */
    void (*add)(em_backend *be, em_tensor *out, const em_tensor *a, const em_tensor *b);

    /* The ViT's ops (vision/vit.c), usable by any model part. */
    /* LayerNorm over each row: out[i] = (x[i] - mean) / sqrt(var + eps) * w + b,
     * var the biased (population) variance as torch.nn.LayerNorm and ggml_norm.
     * x, out: F32 [n][d] (out may alias x); w, b: F32 [d]; b may be NULL. */
    void (*layer_norm)(em_backend *be, em_tensor *out, const em_tensor *x, const em_tensor *w,
                       const em_tensor *b, float eps);
    /* out = gelu(x) with the tanh approximation (torch gelu(approximate="tanh"),
     * ggml_gelu; what SigLIP's "gelu_pytorch_tanh" means). F32 of one shape;
     * out may alias x. */
    void (*gelu)(em_backend *be, em_tensor *out, const em_tensor *x);
    /* out[i] = x[i] + b for every row i. x, out: F32 [n][d] (out may alias x);
     * b: F32 [d]. */
    void (*add_bias)(em_backend *be, em_tensor *out, const em_tensor *x, const em_tensor *b);
    /* Attention without a mask (an encoder's): every query row attends to all
     * p->n_kv rows of k and v. q, out: F32 [n][n_head*head_dim]; k, v: F32
     * [n_kv][n_head_kv*head_dim] (grouped heads as in attention); p->pos0 is
     * ignored. Softmax in fp32. */
    void (*attention_full)(em_backend *be, em_tensor *out, const em_tensor *q, const em_tensor *k,
                           const em_tensor *v, const em_attn_params *p);

    ember_status (*sync)(em_backend *be, char *err);
} em_backend_ops;

struct em_backend {
    const em_backend_ops *ops;
    void *ctx;
};

/* Wrappers for the lifetime calls; ops are called through be->ops
 * (be->ops->matmul(be, ...)), checking optional members for NULL. */
static inline void em_backend_free(em_backend *be) { if (be) be->ops->free(be); }
static inline ember_status em_backend_alloc(em_backend *be, em_tensor *t, char *err) { return be->ops->alloc(be, t, err); }
static inline void em_backend_release(em_backend *be, em_tensor *t) { be->ops->release(be, t); }
static inline ember_status em_backend_wrap(em_backend *be, em_tensor *t, const void *host, char *err) { return be->ops->wrap(be, t, host, err); }
static inline ember_status em_backend_sync(em_backend *be, char *err) { return be->ops->sync(be, err); }
static inline void *em_backend_host_ptr(em_backend *be, const em_tensor *t) {
    return be->ops->host_ptr ? be->ops->host_ptr(be, t) : NULL;
}

#endif
