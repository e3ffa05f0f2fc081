/* vk_memory.c - device memory for tensors.
 *
 * Tensors are placed in a few large blocks (one VkDeviceMemory and one
 * VkBuffer each), not one allocation per tensor: drivers cap the number of
 * allocations (maxMemoryAllocationCount, 4096 on many) and each costs a
 * kernel call. em_tensor.extra is the block, em_tensor.offs the offset.
 *
 * Three kinds of block:
 *   weights  bump-allocated as the model is wrapped; block sizes grow with
 *            what was loaded so far (16 MiB up to 256 MiB), so a small model
 *            does not reserve a large block; freed with the backend.
 *   tensors  KV cache and activations: allocated once when a context is
 *            made (decoding allocates nothing), freed when the last tensor
 *            of a block is released.
 *   host I/O tensors marked EM_TENSOR_HOST_IO (token ids, positions,
 *            logits): host-visible, so a step's upload and readback are
 *            memcpys, not staged copies with submits of their own.
 * On unified-memory devices (Jetson, Pi, phones, iGPUs, lavapipe) device
 * memory is host-visible and everything is a memcpy; on a discrete GPU
 * weights and tensors go through a host-visible staging block. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_ctx.h"

#define MIB (1024ull * 1024ull)
#define VK_TENSOR_ALIGN 256 /* >= every device's minStorageBufferOffsetAlignment */
#define VK_STAGING_SIZE (16 * MIB)

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }


vk_block *vk_block_new(vk_ctx *c, uint32_t memtype, uint64_t size, VkBufferUsageFlags extra_usage, char *err) {
    vk_api *api = &c->api;
    vk_block *b = calloc(1, sizeof *b);
    if (!b) { em_err(err, EM_ERR_NOMEM, "vulkan: out of host memory"); return NULL; }
    b->size = size;
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size,
                             .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                      VK_BUFFER_USAGE_TRANSFER_DST_BIT | extra_usage,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = api->vkCreateBuffer(c->dev, &bi, NULL, &b->buf);
    if (r != VK_SUCCESS) {
        em_err(err, r == VK_ERROR_OUT_OF_DEVICE_MEMORY ? EM_ERR_NOMEM : EM_ERR_UNSUPPORTED,
               "vulkan: vkCreateBuffer (%llu bytes): %s", (unsigned long long)size, vk_result_str(r));
        free(b);
        return NULL;
    }
    VkMemoryRequirements req;
    api->vkGetBufferMemoryRequirements(c->dev, b->buf, &req);
    uint32_t mt = memtype;
    if (!(req.memoryTypeBits & (1u << mt))) { /* a type with the same properties the buffer accepts */
        VkMemoryPropertyFlags want = c->memprops.memoryTypes[memtype].propertyFlags;
        mt = UINT32_MAX;
        for (uint32_t i = 0; i < c->memprops.memoryTypeCount && mt == UINT32_MAX; i++)
            if ((req.memoryTypeBits & (1u << i)) && (c->memprops.memoryTypes[i].propertyFlags & want) == want) mt = i;
    }
    if (mt == UINT32_MAX) {
        em_err(err, EM_ERR_UNSUPPORTED, "vulkan: no memory type for a storage buffer");
        api->vkDestroyBuffer(c->dev, b->buf, NULL);
        free(b);
        return NULL;
    }
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size, .memoryTypeIndex = mt};
    /* EMBER_VK_MAX_MEMORY plays a smaller device: past it, allocation fails
     * as the driver's would. */
    if (c->max_memory && c->allocated + req.size > c->max_memory) r = VK_ERROR_OUT_OF_DEVICE_MEMORY;
    else r = api->vkAllocateMemory(c->dev, &ai, NULL, &b->mem);
    if (r != VK_SUCCESS) {
        em_err(err, EM_ERR_NOMEM, "vulkan: out of device memory: %s for a %.1f MiB block (%s has %.0f MiB device-local); a shorter context or a smaller model needs less",
               vk_result_str(r), (double)size / MIB, c->caps.name, (double)c->caps.device_local_bytes / MIB);
        api->vkDestroyBuffer(c->dev, b->buf, NULL);
        free(b);
        return NULL;
    }
    b->mem_size = req.size;
    c->allocated += req.size;
    if ((r = api->vkBindBufferMemory(c->dev, b->buf, b->mem, 0)) != VK_SUCCESS) {
        em_err(err, EM_ERR_UNSUPPORTED, "vulkan: vkBindBufferMemory: %s", vk_result_str(r));
        vk_block_free(c, b);
        return NULL;
    }
    if (c->memprops.memoryTypes[mt].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        void *p = NULL;
        if ((r = api->vkMapMemory(c->dev, b->mem, 0, VK_WHOLE_SIZE, 0, &p)) != VK_SUCCESS) {
            em_err(err, EM_ERR_UNSUPPORTED, "vulkan: vkMapMemory: %s", vk_result_str(r));
            vk_block_free(c, b);
            return NULL;
        }
        b->map = p;
    }
    b->id = ++c->next_block_id;
    return b;
}

void vk_block_free(vk_ctx *c, vk_block *b) {
    if (!b) return;
    vk_api *api = &c->api;
    if (b->map) api->vkUnmapMemory(c->dev, b->mem);
    if (b->buf) api->vkDestroyBuffer(c->dev, b->buf, NULL);
    if (b->mem) {
        api->vkFreeMemory(c->dev, b->mem, NULL);
        c->allocated -= b->mem_size;
    }
    free(b);
}

ember_status vk_memory_init(vk_ctx *c, char *err) {
    c->param_stride = (uint32_t)align_up(VK_MAX_PARAMS, c->caps.uniform_align ? c->caps.uniform_align : 256);
    c->params = vk_block_new(c, c->mt_host, (uint64_t)c->param_stride * 1024, VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT, err);
    return c->params ? EM_OK : EM_ERR_NOMEM;
}

/* One vk_scratch tensor. */
struct vk_scratch_buf {
    char name[32];
    em_tensor t;
    struct vk_scratch_buf *next;
};

void vk_memory_free(vk_ctx *c) {
    for (struct vk_scratch_buf *s = c->scratch, *nx; s; s = nx) {
        nx = s->next;
        free(s);
    }
    c->scratch = NULL;
    for (vk_block *b = c->blocks, *nx; b; b = nx) {
        nx = b->next;
        vk_block_free(c, b);
    }
    c->blocks = NULL;
    vk_block_free(c, c->staging);
    vk_block_free(c, c->params);
    c->staging = c->params = NULL;
}

/* Space for n bytes in a block of the kind asked for, making one if needed. */
static vk_block *place(vk_ctx *c, uint64_t n, bool weights, bool host_io, uint64_t *off, char *err) {
    for (vk_block *b = c->blocks; b; b = b->next) {
        if (b->weights != weights || b->host_io != host_io) continue;
        uint64_t o = align_up(b->used, VK_TENSOR_ALIGN);
        if (o + n <= b->size) { *off = o; b->used = o + n; return b; }
    }
    uint64_t size;
    if (weights) {
        size = c->weight_bytes < 16 * MIB ? 16 * MIB : c->weight_bytes > 256 * MIB ? 256 * MIB : c->weight_bytes;
    } else {
        size = host_io ? 4 * MIB : 64 * MIB;
    }
    if (size < n) size = align_up(n, VK_TENSOR_ALIGN);
    if (c->caps.max_alloc_size && size > c->caps.max_alloc_size) size = c->caps.max_alloc_size;
    if (size < n) {
        em_err(err, EM_ERR_NOMEM, "vulkan: a %.1f MiB tensor exceeds %s's largest allocation (%.1f MiB)", (double)n / MIB,
               c->caps.name, (double)c->caps.max_alloc_size / MIB);
        return NULL;
    }
    vk_block *b = vk_block_new(c, host_io ? c->mt_host : c->mt_device, size, 0, err);
    if (!b) return NULL;
    b->weights = weights;
    b->host_io = host_io;
    b->next = c->blocks;
    c->blocks = b;
    *off = 0;
    b->used = n;
    return b;
}

ember_status vk_mem_alloc(vk_ctx *c, em_tensor *t, char *err) {
    uint64_t n = em_tensor_nbytes(t), off;
    char msg[EM_ERR_LEN];
    vk_block *b = place(c, n ? n : 4, false, (t->flags & EM_TENSOR_HOST_IO) != 0, &off, msg);
    if (!b) return em_err(err, EM_ERR_NOMEM, "%s (allocating %s)", msg, t->name ? t->name : "a tensor");
    b->live++;
    t->extra = b;
    t->offs = off;
    t->data = NULL; /* device memory: ops reach it through extra/offs */
    return EM_OK;
}

void vk_mem_release(vk_ctx *c, em_tensor *t) {
    vk_block *b = t->extra;
    t->extra = t->data = NULL;
    if (!b || b->weights || --b->live > 0) return;
    /* The last tensor of a block: free it. Recorded command buffers may bind
     * it (and a new block could reuse its address), so forget them. */
    vk_graphs_clear(c);
    for (vk_block **pp = &c->blocks; *pp; pp = &(*pp)->next)
        if (*pp == b) { *pp = b->next; break; }
    vk_block_free(c, b);
}

/* Copy n bytes of host memory to (b, off) through the staging block. */
static ember_status staged_copy(vk_ctx *c, vk_block *b, uint64_t off, const void *src, void *dst, uint64_t n, char *err) {
    vk_api *api = &c->api;
    if (!c->staging && !(c->staging = vk_block_new(c, c->mt_host, VK_STAGING_SIZE, 0, err))) return EM_ERR_NOMEM;
    for (uint64_t done = 0; done < n;) {
        uint64_t k = n - done < VK_STAGING_SIZE ? n - done : VK_STAGING_SIZE;
        if (src) memcpy(c->staging->map, (const char *)src + done, k);
        VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                       .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
        api->vkBeginCommandBuffer(c->cmd_once, &bi);
        VkBufferCopy reg = {.srcOffset = src ? 0 : off + done, .dstOffset = src ? off + done : 0, .size = k};
        api->vkCmdCopyBuffer(c->cmd_once, src ? c->staging->buf : b->buf, src ? b->buf : c->staging->buf, 1, &reg);
        VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                              .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT};
        api->vkCmdPipelineBarrier(c->cmd_once, VK_PIPELINE_STAGE_TRANSFER_BIT,
                                  VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
        api->vkEndCommandBuffer(c->cmd_once);
        ember_status st = vk_submit_wait(c, c->cmd_once, src ? "an upload" : "a download", err);
        if (st) return st;
        if (dst) memcpy((char *)dst + done, c->staging->map, k);
        done += k;
    }
    return EM_OK;
}

/* Bytes are copied in pieces of this size, so progress moves on large weights. */
#define VK_UPLOAD_PIECE (8 * MIB)

static ember_status write_bytes(vk_ctx *c, vk_block *b, uint64_t off, const void *src, uint64_t n, bool progress, char *err) {
    for (uint64_t done = 0; done < n;) {
        uint64_t k = n - done < VK_UPLOAD_PIECE ? n - done : VK_UPLOAD_PIECE;
        if (b->map) {
            memcpy(b->map + off + done, (const char *)src + done, k);
        } else {
            ember_status st = staged_copy(c, b, off + done, (const char *)src + done, NULL, k, err);
            if (st) return st;
        }
        done += k;
        if (progress) {
            c->uploaded += k;
            if (c->progress) c->progress(c->progress_user, c->uploaded);
        }
    }
    return EM_OK;
}

ember_status vk_mem_wrap(vk_ctx *c, em_tensor *t, const void *host, char *err) {
    uint64_t n = em_tensor_nbytes(t), off;
    char msg[EM_ERR_LEN];
    vk_block *b = place(c, n ? n : 4, true, false, &off, msg);
    if (!b) return em_err(err, EM_ERR_NOMEM, "%s (weight %s)", msg, t->name ? t->name : "");
    c->weight_bytes += n;
    t->extra = b;
    t->offs = off;
    t->data = NULL;
    return write_bytes(c, b, off, host, n, true, err);
}

static ember_status check_range(const em_tensor *t, size_t off, size_t n, const char *fn, char *err) {
    if (!t->extra) return em_err(err, EM_ERR_ARG, "%s: tensor %s has no device memory", fn, t->name ? t->name : "");
    if (off + n < off || off + n > em_tensor_nbytes(t))
        return em_err(err, EM_ERR_ARG, "%s: %zu bytes at %zu past the end of %s", fn, n, off, t->name ? t->name : "the tensor");
    return EM_OK;
}

ember_status vk_mem_upload(vk_ctx *c, em_tensor *t, const void *src, size_t off, size_t n, char *err) {
    ember_status st = check_range(t, off, n, "vulkan upload", err);
    if (st) return st;
    /* Ops already listed may read the old contents: run them first. */
    if (c->n_ops > 0 && (st = vk_sync(c, err))) return st;
    return write_bytes(c, t->extra, t->offs + off, src, n, false, err);
}

ember_status vk_mem_download(vk_ctx *c, const em_tensor *t, void *dst, size_t off, size_t n, char *err) {
    ember_status st = check_range(t, off, n, "vulkan download", err);
    if (st) return st;
    if (c->n_ops > 0 && (st = vk_sync(c, err))) return st;
    vk_block *b = t->extra;
    if (b->map) {
        memcpy(dst, b->map + t->offs + off, n);
        return EM_OK;
    }
    return staged_copy(c, b, t->offs + off, NULL, dst, n, err);
}

em_tensor *vk_scratch(vk_ctx *c, const char *name, uint64_t bytes) {
    for (struct vk_scratch_buf *s = c->scratch; s; s = s->next)
        if (!strcmp(s->name, name)) {
            if (em_tensor_nbytes(&s->t) >= bytes) return &s->t;
            break; /* too small: a larger one goes in front */
        }
    char err[EM_ERR_LEN];
    struct vk_scratch_buf *s = calloc(1, sizeof *s);
    if (!s) { vk_fail(c, EM_ERR_NOMEM, "vulkan: out of host memory for scratch %s", name); return NULL; }
    snprintf(s->name, sizeof s->name, "%s", name);
    s->t = em_tensor_make(EM_TYPE_F32, (int64_t)((bytes + 3) / 4), 1, 1, 1);
    s->t.name = s->name;
    uint64_t off;
    vk_block *b = place(c, em_tensor_nbytes(&s->t), false, false, &off, err);
    if (!b) {
        free(s);
        vk_fail(c, EM_ERR_NOMEM, "%s (scratch %s)", err, name);
        return NULL;
    }
    b->live++; /* never released: the block outlives every other tensor in it */
    s->t.extra = b;
    s->t.offs = off;
    s->next = c->scratch;
    c->scratch = s;
    return &s->t;
}
