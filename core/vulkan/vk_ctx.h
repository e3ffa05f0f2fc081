/* vk_ctx.h - the Vulkan backend's context, shared by the framework files
 * (vk_device.c, vk_memory.c, vk_pipelines.c, vk_record.c, vk_backend.c).
 * The op files (vk_op_*.c) see only vk_internal.h's functions. */
#ifndef EMBER_VK_CTX_H
#define EMBER_VK_CTX_H

#include "vk_backend.h"
#include "vk_internal.h"

/* One storage binding as recorded: the exact bytes (for hazards) and the
 * aligned range bound. */
typedef struct vk_rec_bind {
    vk_block *blk;
    uint64_t off, size;     /* exact bytes touched (upper bound) */
    uint64_t boff, brange;  /* what the descriptor binds */
    uint32_t write;
    uint32_t pad;
} vk_rec_bind;

/* One dispatch in the op list. Compared with memcmp against recorded graphs,
 * so entries are zeroed before they are filled (no stray padding bytes). */
typedef struct vk_oprec {
    vk_pipeline *pipe;
    uint32_t n_bind;
    uint32_t groups[3];
    uint32_t param_off, param_size;
    vk_rec_bind b[VK_MAX_BIND];
} vk_oprec;

/* A recorded command buffer and the op list it was recorded from. */
typedef struct vk_graph {
    vk_oprec *ops;
    int n_ops;
    uint64_t hash, last_used;
    uint64_t n_barriers; /* recorded in cmd */
    VkCommandBuffer cmd;
    VkDescriptorPool pool;
} vk_graph;

#define VK_MAX_GRAPHS 8

/* An op held back one call so it can go out with its twin as one dispatch
 * (vk_backend.c): a layer's query and key RoPE, its key and value stores.
 * Only vk_backend.c reads or writes it. */
typedef struct vk_pending {
    enum { VK_PEND_NONE, VK_PEND_ROPE, VK_PEND_KV } kind;
    em_tensor a, b, pos;
    em_rope_params rp;
    int64_t pos0;
} vk_pending;

struct vk_ctx {
    vk_api api;
    VkInstance inst;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    vk_caps caps;
    VkPhysicalDeviceMemoryProperties memprops;
    uint32_t mt_device; /* memory type for tensors */
    uint32_t mt_host;   /* host-visible, coherent: params, host-I/O tensors, staging */
    bool device_mapped; /* mt_device is host-visible (unified memory): no staging */

    /* memory (vk_memory.c) */
    vk_block *blocks;
    uint32_t next_block_id;
    uint64_t allocated;  /* bytes in blocks now */
    uint64_t max_memory; /* EMBER_VK_MAX_MEMORY, or 0 */
    vk_block *staging;  /* for uploads/downloads of unmapped blocks */
    vk_block *params;   /* the params arena of the current op list */
    uint32_t params_used, param_stride;
    struct vk_scratch_buf *scratch; /* op-private tensors (vk_scratch), newest first */

    /* pipelines (vk_pipelines.c) */
    vk_pipeline *pipes;
    VkPipelineCache pcache;

    /* the op list and recordings (vk_record.c) */
    vk_oprec *ops;
    int n_ops, cap_ops;
    vk_graph graphs[VK_MAX_GRAPHS];
    uint64_t clock;
    VkCommandPool cmdpool;
    VkCommandBuffer cmd_once; /* for staging copies */
    VkFence fence;
    uint64_t timeout_ns;

    vk_pending pend;

    /* status: the first failure since the last sync */
    ember_status status;
    char errmsg[EM_ERR_LEN];
    bool validate;
    vk_backend_stats stats;

    void (*progress)(void *user, size_t done);
    void *progress_user;
    size_t uploaded;        /* weight bytes copied so far */
    uint64_t weight_bytes;  /* in weight blocks, for the next block's size */
};

/* vk_device.c */
ember_status vk_device_open(vk_ctx *c, const vk_backend_params *p, char *err);
void vk_device_close(vk_ctx *c);

/* vk_memory.c */
ember_status vk_memory_init(vk_ctx *c, char *err);
void vk_memory_free(vk_ctx *c);
/* backend.h's alloc/release/wrap/upload/download on this context. Upload
 * and download run the listed ops first (vk_sync); the caller lists what it
 * holds back before (vk_backend.c). */
ember_status vk_mem_alloc(vk_ctx *c, em_tensor *t, char *err);
void vk_mem_release(vk_ctx *c, em_tensor *t);
ember_status vk_mem_wrap(vk_ctx *c, em_tensor *t, const void *host, char *err);
ember_status vk_mem_upload(vk_ctx *c, em_tensor *t, const void *src, size_t off, size_t n, char *err);
ember_status vk_mem_download(vk_ctx *c, const em_tensor *t, void *dst, size_t off, size_t n, char *err);
/* A buffer of the params arena's kind; used by vk_record.c when it grows. */
vk_block *vk_block_new(vk_ctx *c, uint32_t memtype, uint64_t size, VkBufferUsageFlags extra_usage, char *err);
void vk_block_free(vk_ctx *c, vk_block *b);

/* vk_pipelines.c */
void vk_pipelines_free(vk_ctx *c);

/* vk_record.c */
ember_status vk_record_init(vk_ctx *c, char *err);
void vk_record_free(vk_ctx *c);
/* Submit the op list and wait; the first failure since the last sync. Ops
 * held back for pairing are not seen here: vk_backend.c lists them first. */
ember_status vk_sync(vk_ctx *c, char *err);
/* Submit one command buffer and wait (with the timeout); names what for. */
ember_status vk_submit_wait(vk_ctx *c, VkCommandBuffer cmd, const char *what, char *err);
/* Drop every recorded graph (a buffer they use was replaced). */
void vk_graphs_clear(vk_ctx *c);

#endif
