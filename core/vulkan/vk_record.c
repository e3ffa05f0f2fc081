/* vk_record.c - from op calls to command buffers.
 *
 * Op calls append to a list (vk_dispatch); em_backend_sync turns the list
 * into one command buffer and one submit. Recording costs CPU time a decode
 * step can't spare on a small model (hundreds of descriptor sets and
 * dispatches per token), and successive decode steps issue the same list:
 * the same pipelines, buffers and group counts, with only parameters such as
 * the position changing. Those live in the params arena (a host-visible
 * uniform buffer, one slot per dispatch), so a list equal to one recorded
 * before (memcmp of the entries; params excluded) replays its command buffer
 * after the new params are written. A few recordings are kept (decode, and
 * the prefill shapes seen last), least recently used out.
 *
 * Barriers: a dispatch waits for earlier ones only when it reads or writes
 * bytes an earlier dispatch since the last barrier wrote, or writes bytes one
 * read (the q/k/v products of a layer, or the gate and up products, run
 * without barriers between them). One global memory barrier serves all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_ctx.h"

uint32_t vk_bind_residual(const vk_ctx *c, const em_tensor *t, uint64_t off) {
    const uint64_t a = c->caps.storage_align ? c->caps.storage_align : 1;
    return (uint32_t)((t->offs + off) % a);
}

ember_status vk_record_init(vk_ctx *c, char *err) {
    vk_api *api = &c->api;
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT, .queueFamilyIndex = c->queue_family};
    VkResult r = api->vkCreateCommandPool(c->dev, &pi, NULL, &c->cmdpool);
    if (r == VK_SUCCESS) {
        VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = c->cmdpool,
                                          .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
        r = api->vkAllocateCommandBuffers(c->dev, &ai, &c->cmd_once);
    }
    if (r == VK_SUCCESS) {
        VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        r = api->vkCreateFence(c->dev, &fi, NULL, &c->fence);
    }
    if (r != VK_SUCCESS) return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: command pool/fence: %s", vk_result_str(r));
    return EM_OK;
}

static void graph_free(vk_ctx *c, vk_graph *g) {
    vk_api *api = &c->api;
    if (g->cmd) api->vkFreeCommandBuffers(c->dev, c->cmdpool, 1, &g->cmd);
    if (g->pool) api->vkDestroyDescriptorPool(c->dev, g->pool, NULL);
    free(g->ops);
    memset(g, 0, sizeof *g);
}

void vk_graphs_clear(vk_ctx *c) {
    for (int i = 0; i < VK_MAX_GRAPHS; i++)
        if (c->graphs[i].ops) graph_free(c, &c->graphs[i]);
}

void vk_record_free(vk_ctx *c) {
    vk_api *api = &c->api;
    vk_graphs_clear(c);
    free(c->ops);
    c->ops = NULL;
    if (c->fence) api->vkDestroyFence(c->dev, c->fence, NULL);
    if (c->cmdpool) api->vkDestroyCommandPool(c->dev, c->cmdpool, NULL);
}

/* ---- the op list */

static bool grow_params(vk_ctx *c) {
    /* Called between syncs only (nothing in flight): copy the slots written
     * so far into a larger arena. Recordings bind the old one: drop them. */
    char err[EM_ERR_LEN];
    uint64_t size = c->params->size * 2;
    vk_block *nb = vk_block_new(c, c->mt_host, size, VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT, err);
    if (!nb) { vk_fail(c, EM_ERR_NOMEM, "%s (params arena)", err); return false; }
    memcpy(nb->map, c->params->map, c->params_used);
    vk_graphs_clear(c);
    vk_block_free(c, c->params);
    c->params = nb;
    return true;
}

void vk_dispatch(vk_ctx *c, vk_pipeline *p, const void *params, uint32_t params_size, int n_bind,
                 const vk_bind *binds, uint32_t gx, uint32_t gy, uint32_t gz) {
    if (c->status != EM_OK) return; /* the list is discarded at sync anyway */
    if (!p) { vk_fail(c, EM_ERR_INTERNAL, "vulkan: dispatch without a pipeline"); return; }
    if (n_bind != p->n_bind || params_size > VK_MAX_PARAMS) {
        vk_fail(c, EM_ERR_INTERNAL, "vulkan: %s: %d bindings / %u params bytes for a pipeline of %d", p->shader, n_bind,
                params_size, p->n_bind);
        return;
    }
    if (gx > c->caps.max_groups[0] || gy > c->caps.max_groups[1] || gz > c->caps.max_groups[2]) {
        vk_fail(c, EM_ERR_INTERNAL, "vulkan: %s: %ux%ux%u workgroups exceed the device's limits", p->shader, gx, gy, gz);
        return;
    }
    if (gx == 0 || gy == 0 || gz == 0) return; /* nothing to do */
    if (c->n_ops == c->cap_ops) {
        int cap = c->cap_ops ? 2 * c->cap_ops : 512;
        vk_oprec *o = realloc(c->ops, (size_t)cap * sizeof *o);
        if (!o) { vk_fail(c, EM_ERR_NOMEM, "vulkan: out of host memory for the op list"); return; }
        c->ops = o;
        c->cap_ops = cap;
    }
    if ((uint64_t)c->params_used + c->param_stride > c->params->size && !grow_params(c)) return;
    vk_oprec *o = &c->ops[c->n_ops];
    memset(o, 0, sizeof *o);
    o->pipe = p;
    o->n_bind = (uint32_t)n_bind;
    o->groups[0] = gx; o->groups[1] = gy; o->groups[2] = gz;
    o->param_off = c->params_used;
    o->param_size = c->param_stride;
    const uint64_t align = c->caps.storage_align ? c->caps.storage_align : 1;
    for (int i = 0; i < n_bind; i++) {
        const vk_bind *b = &binds[i];
        vk_block *blk = b->t ? b->t->extra : NULL;
        if (!blk) { vk_fail(c, EM_ERR_INTERNAL, "vulkan: %s: binding %d has no device memory", p->shader, i + 1); return; }
        const uint64_t start = b->t->offs + b->off;
        const uint64_t boff = start / align * align;
        /* A multiple of 4 past the residual, so word-array shaders may read
         * the last partial word. */
        uint64_t brange = (start - boff + b->size + 3) & ~(uint64_t)3;
        if (boff + brange > blk->size) brange = blk->size - boff;
        if (brange > c->caps.max_range || b->size == 0 || start + b->size > blk->size) {
            vk_fail(c, EM_ERR_INTERNAL, "vulkan: %s: binding %d of %llu bytes (max %llu, block %llu)", p->shader, i + 1,
                    (unsigned long long)brange, (unsigned long long)c->caps.max_range, (unsigned long long)blk->size);
            return;
        }
        o->b[i] = (vk_rec_bind){blk, start, b->size, boff, brange, b->write, 0};
    }
    memcpy(c->params->map + c->params_used, params, params_size);
    c->params_used += c->param_stride;
    c->n_ops++;
    c->stats.dispatches++;
}

/* ---- recording */

typedef struct range { uint32_t blk; uint64_t lo, hi; } range;

static bool overlaps(const range *set, int n, const vk_rec_bind *b) {
    for (int i = 0; i < n; i++)
        if (set[i].blk == b->blk->id && set[i].lo < b->off + b->size && b->off < set[i].hi) return true;
    return false;
}

static uint64_t hash_ops(const vk_oprec *ops, int n) {
    const unsigned char *p = (const unsigned char *)ops;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < (size_t)n * sizeof *ops; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static ember_status record(vk_ctx *c, vk_graph *g, char *err) {
    vk_api *api = &c->api;
    VkResult r;
    int n_storage = 0;
    for (int i = 0; i < g->n_ops; i++) n_storage += (int)g->ops[i].n_bind;
    VkDescriptorPoolSize ps[2] = {{VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER, (uint32_t)g->n_ops},
                                  {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, (uint32_t)(n_storage ? n_storage : 1)}};
    VkDescriptorPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = (uint32_t)g->n_ops,
                                      .poolSizeCount = 2, .pPoolSizes = ps};
    if ((r = api->vkCreateDescriptorPool(c->dev, &pci, NULL, &g->pool)) != VK_SUCCESS)
        return em_err(err, EM_ERR_NOMEM, "vulkan: descriptor pool for %d dispatches: %s", g->n_ops, vk_result_str(r));
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = c->cmdpool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1};
    if ((r = api->vkAllocateCommandBuffers(c->dev, &ai, &g->cmd)) != VK_SUCCESS)
        return em_err(err, EM_ERR_NOMEM, "vulkan: command buffer: %s", vk_result_str(r));
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    api->vkBeginCommandBuffer(g->cmd, &bi);

    range *written = malloc(sizeof(range) * (size_t)(n_storage + 1));
    range *read = malloc(sizeof(range) * (size_t)(n_storage + 1));
    if (!written || !read) {
        free(written);
        free(read);
        return em_err(err, EM_ERR_NOMEM, "vulkan: out of host memory recording");
    }
    int n_w = 0, n_r = 0;
    const VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                                .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT};
    vk_pipeline *bound = NULL;
    ember_status st = EM_OK;
    for (int i = 0; i < g->n_ops && st == EM_OK; i++) {
        const vk_oprec *o = &g->ops[i];
        VkDescriptorSet ds;
        VkDescriptorSetAllocateInfo dai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO, .descriptorPool = g->pool,
                                           .descriptorSetCount = 1, .pSetLayouts = &o->pipe->dsl};
        if ((r = api->vkAllocateDescriptorSets(c->dev, &dai, &ds)) != VK_SUCCESS) {
            st = em_err(err, EM_ERR_NOMEM, "vulkan: descriptor set: %s", vk_result_str(r));
            break;
        }
        VkDescriptorBufferInfo dbi[1 + VK_MAX_BIND];
        VkWriteDescriptorSet wds[1 + VK_MAX_BIND];
        dbi[0] = (VkDescriptorBufferInfo){c->params->buf, o->param_off, o->param_size};
        for (uint32_t j = 0; j < o->n_bind; j++) dbi[j + 1] = (VkDescriptorBufferInfo){o->b[j].blk->buf, o->b[j].boff, o->b[j].brange};
        for (uint32_t j = 0; j <= o->n_bind; j++)
            wds[j] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = ds, .dstBinding = j,
                                            .descriptorCount = 1,
                                            .descriptorType = j ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER : VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER,
                                            .pBufferInfo = &dbi[j]};
        api->vkUpdateDescriptorSets(c->dev, o->n_bind + 1, wds, 0, NULL);

        bool hazard = false;
        for (uint32_t j = 0; j < o->n_bind && !hazard; j++)
            hazard = overlaps(written, n_w, &o->b[j]) || (o->b[j].write && overlaps(read, n_r, &o->b[j]));
        if (hazard) {
            api->vkCmdPipelineBarrier(g->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1,
                                      &mb, 0, NULL, 0, NULL);
            g->n_barriers++;
            n_w = n_r = 0;
        }
        for (uint32_t j = 0; j < o->n_bind; j++) {
            range rg = {o->b[j].blk->id, o->b[j].off, o->b[j].off + o->b[j].size};
            if (o->b[j].write) written[n_w++] = rg;
            else read[n_r++] = rg;
        }
        if (bound != o->pipe) {
            api->vkCmdBindPipeline(g->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, o->pipe->pipe);
            bound = o->pipe;
        }
        api->vkCmdBindDescriptorSets(g->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, o->pipe->layout, 0, 1, &ds, 0, NULL);
        api->vkCmdDispatch(g->cmd, o->groups[0], o->groups[1], o->groups[2]);
    }
    free(written);
    free(read);
    /* Results the host reads (mapped memory) and the next submit's copies. */
    const VkMemoryBarrier end = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
                                 .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT};
    api->vkCmdPipelineBarrier(g->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                              VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &end, 0, NULL, 0, NULL);
    if ((r = api->vkEndCommandBuffer(g->cmd)) != VK_SUCCESS && st == EM_OK)
        st = em_err(err, EM_ERR_NOMEM, "vulkan: vkEndCommandBuffer: %s", vk_result_str(r));
    c->stats.recordings++;
    return st;
}

/* The recorded graph for the current list: a match, or a new recording in
 * the least recently used slot. */
static vk_graph *graph_for_list(vk_ctx *c, char *err) {
    const uint64_t h = hash_ops(c->ops, c->n_ops);
    vk_graph *lru = &c->graphs[0];
    for (int i = 0; i < VK_MAX_GRAPHS; i++) {
        vk_graph *g = &c->graphs[i];
        if (g->ops && g->hash == h && g->n_ops == c->n_ops && !memcmp(g->ops, c->ops, (size_t)c->n_ops * sizeof *c->ops)) {
            g->last_used = ++c->clock;
            c->stats.replays++;
            return g;
        }
        if (!g->ops || (lru->ops && g->last_used < lru->last_used)) lru = g;
    }
    if (lru->ops) graph_free(c, lru);
    lru->ops = malloc((size_t)c->n_ops * sizeof *c->ops);
    if (!lru->ops) { em_err(err, EM_ERR_NOMEM, "vulkan: out of host memory recording"); return NULL; }
    memcpy(lru->ops, c->ops, (size_t)c->n_ops * sizeof *c->ops);
    lru->n_ops = c->n_ops;
    lru->hash = h;
    lru->last_used = ++c->clock;
    if (record(c, lru, err) != EM_OK) {
        graph_free(c, lru);
        return NULL;
    }
    return lru;
}

ember_status vk_submit_wait(vk_ctx *c, VkCommandBuffer cmd, const char *what, char *err) {
    vk_api *api = &c->api;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
    VkResult r = api->vkResetFences(c->dev, 1, &c->fence);
    if (r == VK_SUCCESS) r = api->vkQueueSubmit(c->queue, 1, &si, c->fence);
    if (r == VK_SUCCESS) {
        c->stats.submits++;
        r = api->vkWaitForFences(c->dev, 1, &c->fence, VK_TRUE, c->timeout_ns);
    }
    if (r == VK_SUCCESS) return EM_OK;
    if (r == VK_TIMEOUT)
        return em_err(err, EM_ERR_INTERNAL, "vulkan: %s on %s did not finish in %llu s (hung device?); raise EMBER_VK_TIMEOUT_S if it is only slow",
                      what, c->caps.name, (unsigned long long)(c->timeout_ns / 1000000000ull));
    if (r == VK_ERROR_DEVICE_LOST)
        return em_err(err, EM_ERR_INTERNAL, "vulkan: device lost (%s) during %s; the GPU driver reset it", c->caps.name, what);
    return em_err(err, r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY ? EM_ERR_NOMEM : EM_ERR_INTERNAL,
                  "vulkan: %s failed: %s", what, vk_result_str(r));
}

ember_status vk_sync(vk_ctx *c, char *err) {
    ember_status st = c->status;
    if (st != EM_OK) {
        em_err(err, st, "%s", c->errmsg);
    } else if (c->n_ops > 0) {
        vk_graph *g = graph_for_list(c, err);
        if (!g) st = EM_ERR_NOMEM;
        else {
            char what[160];
            snprintf(what, sizeof what, "a submit of %d dispatches (%s ... %s)", c->n_ops, c->ops[0].pipe->shader,
                     c->ops[c->n_ops - 1].pipe->shader);
            st = vk_submit_wait(c, g->cmd, what, err);
            c->stats.barriers += g->n_barriers;
        }
        /* A validation message raised while it ran fails this sync. */
        if (st == EM_OK && c->status != EM_OK) {
            st = c->status;
            em_err(err, st, "%s", c->errmsg);
        }
    }
    c->n_ops = 0;
    c->params_used = 0;
    c->status = EM_OK;
    return st;
}
