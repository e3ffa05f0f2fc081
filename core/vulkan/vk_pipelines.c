/* vk_pipelines.c - compute pipelines from the embedded SPIR-V.
 *
 * A pipeline is keyed by (variant name, specialization constants): the op
 * files ask for what they need at record time, the first request builds it,
 * later ones find it in a short list (a model uses a few dozen). Each has its
 * own descriptor set layout: binding 0 the params uniform block, then n_bind
 * storage buffers. Where a subgroup size is forced (EMBER_VK_SUBGROUP_SIZE),
 * every pipeline is created with it and with full subgroups. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_ctx.h"
#include "vk_shaders.h"

static const vk_shader_blob *find_blob(const char *name) {
    for (int i = 0; i < vk_shader_count; i++)
        if (!strcmp(vk_shader_blobs[i].name, name)) return &vk_shader_blobs[i];
    return NULL;
}

bool vk_shader_exists(const char *shader) { return find_blob(shader) != NULL; }

static void destroy(vk_ctx *c, vk_pipeline *p) {
    vk_api *api = &c->api;
    if (p->pipe) api->vkDestroyPipeline(c->dev, p->pipe, NULL);
    if (p->layout) api->vkDestroyPipelineLayout(c->dev, p->layout, NULL);
    if (p->dsl) api->vkDestroyDescriptorSetLayout(c->dev, p->dsl, NULL);
    free(p);
}

static vk_pipeline *build(vk_ctx *c, const vk_shader_blob *blob, int n_bind, const uint32_t *spec, int n_spec) {
    vk_api *api = &c->api;
    vk_pipeline *p = calloc(1, sizeof *p);
    if (!p) { vk_fail(c, EM_ERR_NOMEM, "vulkan: out of host memory for a pipeline"); return NULL; }
    snprintf(p->shader, sizeof p->shader, "%s", blob->name);
    memcpy(p->spec, spec, (size_t)n_spec * sizeof *spec);
    p->n_spec = n_spec;
    p->n_bind = n_bind;

    VkDescriptorSetLayoutBinding lb[1 + VK_MAX_BIND];
    for (int i = 0; i <= n_bind; i++)
        lb[i] = (VkDescriptorSetLayoutBinding){.binding = (uint32_t)i,
                                               .descriptorType = i ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER : VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER,
                                               .descriptorCount = 1, .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                          .bindingCount = (uint32_t)n_bind + 1, .pBindings = lb};
    VkResult r = api->vkCreateDescriptorSetLayout(c->dev, &li, NULL, &p->dsl);
    if (r == VK_SUCCESS) {
        VkPipelineLayoutCreateInfo pli = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                          .pSetLayouts = &p->dsl};
        r = api->vkCreatePipelineLayout(c->dev, &pli, NULL, &p->layout);
    }
    VkShaderModule mod = VK_NULL_HANDLE;
    if (r == VK_SUCCESS) {
        VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                       .codeSize = blob->n_words * 4, .pCode = blob->code};
        r = api->vkCreateShaderModule(c->dev, &mi, NULL, &mod);
    }
    if (r == VK_SUCCESS) {
        VkSpecializationMapEntry me[12];
        for (int i = 0; i < n_spec; i++)
            me[i] = (VkSpecializationMapEntry){.constantID = (uint32_t)i, .offset = (uint32_t)(i * 4), .size = 4};
        VkSpecializationInfo si = {.mapEntryCount = (uint32_t)n_spec, .pMapEntries = me,
                                   .dataSize = (size_t)n_spec * 4, .pData = p->spec};
        VkPipelineShaderStageRequiredSubgroupSizeCreateInfo rss = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO,
            .requiredSubgroupSize = c->caps.required_subgroup};
        VkComputePipelineCreateInfo ci = {
            .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
            .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                      .module = mod, .pName = "main", .pSpecializationInfo = &si},
            .layout = p->layout};
        if (c->caps.required_subgroup) {
            ci.stage.pNext = &rss;
            ci.stage.flags = VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT;
        }
        r = api->vkCreateComputePipelines(c->dev, c->pcache, 1, &ci, NULL, &p->pipe);
    }
    if (mod) api->vkDestroyShaderModule(c->dev, mod, NULL);
    if (r != VK_SUCCESS) {
        vk_fail(c, r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY ? EM_ERR_NOMEM : EM_ERR_UNSUPPORTED,
                "vulkan: building pipeline %s on %s: %s", blob->name, c->caps.name, vk_result_str(r));
        destroy(c, p);
        return NULL;
    }
    return p;
}

vk_pipeline *vk_pipeline_get(vk_ctx *c, const char *shader, int n_bind, const uint32_t *spec, int n_spec) {
    if (n_bind < 0 || n_bind > VK_MAX_BIND || n_spec < 3 || n_spec > 12) {
        vk_fail(c, EM_ERR_INTERNAL, "vulkan: pipeline %s: %d bindings, %d constants out of range", shader, n_bind, n_spec);
        return NULL;
    }
    /* The workgroup must fit the device: a bug in an op's sizing, not bad input. */
    const uint64_t inv = (uint64_t)spec[0] * spec[1] * spec[2];
    if (inv == 0 || inv > c->caps.max_wg_invocations || spec[0] > c->caps.max_wg_size[0] ||
        spec[1] > c->caps.max_wg_size[1] || spec[2] > c->caps.max_wg_size[2]) {
        vk_fail(c, EM_ERR_INTERNAL, "vulkan: pipeline %s: workgroup %ux%ux%u exceeds %s's limit of %u invocations", shader,
                spec[0], spec[1], spec[2], c->caps.name, c->caps.max_wg_invocations);
        return NULL;
    }
    for (vk_pipeline *p = c->pipes; p; p = p->next)
        if (p->n_spec == n_spec && p->n_bind == n_bind && !strcmp(p->shader, shader) &&
            !memcmp(p->spec, spec, (size_t)n_spec * sizeof *spec))
            return p;
    const vk_shader_blob *blob = find_blob(shader);
    if (!blob) {
        vk_fail(c, EM_ERR_INTERNAL, "vulkan: shader variant %s is not built in (shaders/shaders.list)", shader);
        return NULL;
    }
    vk_pipeline *p = build(c, blob, n_bind, spec, n_spec);
    if (!p) return NULL;
    p->next = c->pipes;
    c->pipes = p;
    return p;
}

void vk_pipelines_free(vk_ctx *c) {
    for (vk_pipeline *p = c->pipes, *nx; p; p = nx) {
        nx = p->next;
        destroy(c, p);
    }
    c->pipes = NULL;
    if (c->pcache) c->api.vkDestroyPipelineCache(c->dev, c->pcache, NULL);
    c->pcache = VK_NULL_HANDLE;
}
