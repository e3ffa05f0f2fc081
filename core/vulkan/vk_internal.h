/* vk_internal.h - what the Vulkan backend's files share: the loaded API, the
 * device's capabilities, memory blocks, pipelines and the dispatch recorder.
 *
 * Not a public header: vk_backend.h is. The pieces, one file each:
 *   vk_loader.c     dlopen("libvulkan.so.1") and the function table (no link
 *                   dependency: a machine without a loader still runs on the CPU)
 *   vk_device.c     instance, device choice, features and limits, the
 *                   V3D-limits mode and the EMBER_VK_* switches
 *   vk_memory.c     device memory blocks, tensor alloc/wrap/upload/download
 *   vk_pipelines.c  embedded SPIR-V -> pipelines, cached by (shader, constants)
 *   vk_record.c     the op list of a forward pass, barriers where data flows,
 *                   command buffers recorded once and replayed, submit/sync
 *   vk_op_*.c       one file per op family: params, pipeline choice, dispatch
 *   vk_backend.c    the em_backend_ops table
 *
 * How an op is run. An op function (vk_op_*.c) picks a pipeline with
 * vk_pipeline_get, fills a params struct (the shader's uniform block at binding
 * 0), and calls vk_dispatch with the tensors it reads and writes (bindings 1..).
 * Nothing reaches the GPU then: vk_dispatch appends to the op list. At sync the
 * list is compared with the command buffers recorded before; when one matches
 * (the same pipelines, buffers, ranges and group counts: a decode step after
 * the first) only the params are rewritten and it is submitted again.
 * Otherwise a new command buffer is recorded, with a barrier before an op only
 * when it reads or writes what an earlier op since the last barrier wrote (or
 * writes what one read).
 *
 * Shader conventions (shaders/common.glsl):
 *   - set 0, binding 0: the params uniform block (std140; scalars only, so the
 *     C struct is laid out the same: uint32_t / int32_t / float fields);
 *     bindings 1..n: storage buffers, declared as uint/float/vec4 arrays.
 *   - specialization constants 0, 1, 2 are the workgroup size x, y, z;
 *     3.. are the shader's own (tile sizes, ...).
 *   - a storage binding starts at an offset aligned to the device's
 *     minStorageBufferOffsetAlignment; the rest of the tensor's offset (its
 *     "residual", vk_bind_residual) is passed in the params, in bytes. */
#ifndef EMBER_VK_INTERNAL_H
#define EMBER_VK_INTERNAL_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include <stdbool.h>
#include <stdint.h>

#include "core/backend.h"

/* ---- the API, loaded at run time */

#define VK_GLOBAL_FNS(X) \
    X(vkCreateInstance) X(vkEnumerateInstanceLayerProperties) X(vkEnumerateInstanceExtensionProperties) \
    X(vkEnumerateInstanceVersion)

#define VK_INSTANCE_FNS(X) \
    X(vkDestroyInstance) X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties) \
    X(vkGetPhysicalDeviceProperties2) X(vkGetPhysicalDeviceFeatures2) X(vkGetPhysicalDeviceMemoryProperties) \
    X(vkGetPhysicalDeviceQueueFamilyProperties) X(vkEnumerateDeviceExtensionProperties) X(vkCreateDevice) \
    X(vkGetDeviceProcAddr)

#define VK_DEVICE_FNS(X) \
    X(vkDestroyDevice) X(vkGetDeviceQueue) X(vkDeviceWaitIdle) X(vkQueueSubmit) \
    X(vkCreateBuffer) X(vkDestroyBuffer) X(vkGetBufferMemoryRequirements) X(vkAllocateMemory) \
    X(vkFreeMemory) X(vkBindBufferMemory) X(vkMapMemory) X(vkUnmapMemory) \
    X(vkCreateShaderModule) X(vkDestroyShaderModule) X(vkCreateDescriptorSetLayout) \
    X(vkDestroyDescriptorSetLayout) X(vkCreatePipelineLayout) X(vkDestroyPipelineLayout) \
    X(vkCreateComputePipelines) X(vkDestroyPipeline) X(vkCreatePipelineCache) X(vkDestroyPipelineCache) \
    X(vkGetPipelineCacheData) X(vkCreateDescriptorPool) X(vkDestroyDescriptorPool) \
    X(vkAllocateDescriptorSets) X(vkUpdateDescriptorSets) X(vkCreateCommandPool) X(vkDestroyCommandPool) \
    X(vkAllocateCommandBuffers) X(vkFreeCommandBuffers) X(vkBeginCommandBuffer) X(vkEndCommandBuffer) \
    X(vkCmdBindPipeline) X(vkCmdBindDescriptorSets) X(vkCmdDispatch) X(vkCmdPipelineBarrier) \
    X(vkCmdCopyBuffer) X(vkCreateFence) X(vkDestroyFence) X(vkWaitForFences) X(vkResetFences)

typedef struct vk_api {
    void *lib; /* dlopen handle */
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
#define VK_DECL(f) PFN_##f f;
    VK_GLOBAL_FNS(VK_DECL)
    VK_INSTANCE_FNS(VK_DECL)
    VK_DEVICE_FNS(VK_DECL)
#undef VK_DECL
    PFN_vkCreateDebugUtilsMessengerEXT vkCreateDebugUtilsMessengerEXT;   /* validation only */
    PFN_vkDestroyDebugUtilsMessengerEXT vkDestroyDebugUtilsMessengerEXT;
} vk_api;

/* Load libvulkan and the global functions; EM_ERR_UNSUPPORTED when there is
 * no loader. vk_api_load_instance / _device fill in the rest. */
ember_status vk_api_open(vk_api *api, char *err);
ember_status vk_api_load_instance(vk_api *api, VkInstance inst, char *err);
ember_status vk_api_load_device(vk_api *api, VkDevice dev, char *err);
void vk_api_close(vk_api *api);

/* "VK_ERROR_OUT_OF_DEVICE_MEMORY", ... */
const char *vk_result_str(VkResult r);

/* ---- what the device offers, after the EMBER_VK_* switches and limit modes */

typedef struct vk_caps {
    char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    VkPhysicalDeviceType type;
    uint32_t api_version, vendor_id, device_id;
    char driver[VK_MAX_DRIVER_NAME_SIZE];
    uint32_t max_shared;         /* maxComputeSharedMemorySize, bytes */
    uint32_t max_wg_invocations; /* maxComputeWorkGroupInvocations */
    uint32_t max_wg_size[3];
    uint32_t max_groups[3];      /* maxComputeWorkGroupCount */
    uint64_t max_range;          /* maxStorageBufferRange, bytes */
    uint32_t storage_align;      /* minStorageBufferOffsetAlignment */
    uint32_t uniform_align;      /* minUniformBufferOffsetAlignment */
    uint32_t max_alloc_count;    /* maxMemoryAllocationCount */
    uint64_t max_alloc_size;     /* maxMemoryAllocationSize (Vulkan 1.1) */
    uint32_t subgroup_size;      /* the default; required_subgroup when forced */
    uint32_t subgroup_min, subgroup_max;
    uint32_t required_subgroup;  /* 0, or the size pipelines are created with */
    bool subgroup_arith;         /* subgroupAdd/Max in compute shaders */
    bool subgroup_shuffle;
    bool size_control;           /* VK_EXT_subgroup_size_control (core 1.3) */
    bool storage16;              /* storageBuffer16BitAccess */
    bool fp16;                   /* shaderFloat16 */
    bool storage8;               /* storageBuffer8BitAccess */
    bool int8;                   /* shaderInt8 */
    bool dot8;                   /* integer dot product, 4x8 packed, accelerated */
    bool coopmat;                /* VK_KHR_cooperative_matrix offered */
    bool uma;                    /* a device-local memory type is host-visible */
    uint64_t device_local_bytes; /* largest device-local heap */
    const char *limits;          /* NULL, or the limit mode's name ("v3d") */
    bool cpu_tuning;             /* size work for a CPU implementation (lavapipe):
                                  * few, wide workgroups. Off in a limit mode and
                                  * with EMBER_VK_TUNE=gpu, so tests reach the
                                  * GPU sizing on lavapipe. */
} vk_caps;

/* ---- memory: tensors live in blocks; em_tensor.extra is the vk_block,
 * em_tensor.offs the tensor's byte offset in it. */

typedef struct vk_block {
    VkBuffer buf;
    VkDeviceMemory mem;
    char *map;          /* host address when host-visible, else NULL */
    uint64_t size, used;
    uint64_t mem_size;  /* bytes of the VkDeviceMemory */
    uint32_t id;        /* for hazard tracking */
    int live;           /* tensors allocated in it and not released */
    bool weights;       /* a weight block (bump-only, freed with the backend) */
    bool host_io;       /* the host-visible block for EM_TENSOR_HOST_IO tensors */
    struct vk_block *next;
} vk_block;

/* ---- pipelines */

typedef struct vk_pipeline {
    char shader[48];
    uint32_t spec[12];
    int n_spec, n_bind;
    VkDescriptorSetLayout dsl;
    VkPipelineLayout layout;
    VkPipeline pipe;
    struct vk_pipeline *next;
} vk_pipeline;

#define VK_MAX_BIND 6

/* One storage binding of a dispatch: bytes [off, off+size) of tensor t
 * (off relative to the tensor's start). */
typedef struct vk_bind {
    const em_tensor *t;
    uint64_t off, size;
    bool write;
} vk_bind;

typedef struct vk_ctx vk_ctx; /* defined in vk_record.h-level code below */

/* Byte offset a binding of t at off starts past the aligned offset it is
 * bound at (pass it to the shader in the params). Always a multiple of 4
 * when t->offs + off is. */
uint32_t vk_bind_residual(const vk_ctx *c, const em_tensor *t, uint64_t off);

/* The pipeline for shaders/<shader>.comp's variant <shader> (the name in
 * shaders/shaders.list) with these specialization constants (spec[0..2]: the
 * workgroup size), n_bind storage bindings after the params block. Created on
 * first use and kept; NULL (and the context's status set) on failure. */
vk_pipeline *vk_pipeline_get(vk_ctx *c, const char *shader, int n_bind, const uint32_t *spec, int n_spec);
/* Is shaders.list's variant <shader> built in? */
bool vk_shader_exists(const char *shader);

/* Append a dispatch: params (<= VK_MAX_PARAMS bytes) become the uniform block
 * at binding 0, binds[i] storage binding i+1; groups as vkCmdDispatch. Each
 * bind's range must be within the device's max_range (split larger work). */
#define VK_MAX_PARAMS 128
void vk_dispatch(vk_ctx *c, vk_pipeline *p, const void *params, uint32_t params_size, int n_bind,
                 const vk_bind *binds, uint32_t gx, uint32_t gy, uint32_t gz);

/* Bytes a view spans from its first byte to its last (strides included). */
static inline uint64_t vk_view_bytes(const em_tensor *t) {
    uint64_t n = em_row_bytes(t->type, t->ne[0]);
    for (int d = 1; d < 4; d++) n += (uint64_t)(t->ne[d] - 1) * t->nb[d];
    return n;
}

/* Largest power of two <= n (n >= 1). */
static inline uint32_t vk_pow2_floor(uint32_t n) {
    uint32_t p = 1;
    while (p * 2 <= n) p *= 2;
    return p;
}

/* A device tensor private to an op family (split-K partials, ...), at least
 * `bytes` long, named so ops can keep several. The same tensor comes back on
 * every call that fits, so dispatches binding it replay; a call needing more
 * gets a new one (the old stays allocated until the backend is freed: the op
 * list being built may bind it). NULL, and the context failed, when out of
 * memory. Contents are undefined; ops write before they read. */
em_tensor *vk_scratch(vk_ctx *c, const char *name, uint64_t bytes);

/* The first failure since the last sync wins; ops are void (backend.h). */
void vk_fail(vk_ctx *c, ember_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Device capabilities of this context. */
const vk_caps *vk_ctx_caps(const vk_ctx *c);

/* ---- the op families (vk_op_*.c), called from the ops table */

void vk_op_get_rows(vk_ctx *c, em_tensor *out, const em_tensor *table, const em_tensor *ids);
void vk_op_rms_norm(vk_ctx *c, em_tensor *out, const em_tensor *x, const em_tensor *w, float eps);
/* acc: out += w x (the residual add fused into the product) */
void vk_op_matmul(vk_ctx *c, em_tensor *out, const em_tensor *w, const em_tensor *x, bool acc);
/* x2 / cache2, src2 may be NULL; when given, the pair goes as one dispatch
 * (a layer's queries and keys; its keys and values). */
void vk_op_rope(vk_ctx *c, em_tensor *x, em_tensor *x2, const em_tensor *pos, const em_rope_params *p);
void vk_op_kv_store(vk_ctx *c, em_tensor *cache, const em_tensor *src, em_tensor *cache2, const em_tensor *src2,
                    int64_t pos0);
void vk_op_attention(vk_ctx *c, em_tensor *out, const em_tensor *q, const em_tensor *k, const em_tensor *v,
                     const em_attn_params *p);
/* Non-causal (bidirectional: a ViT's) attention: every query row sees rows
 * 0..p->n_kv-1 of k and v (a cache, or plain F32 activations of n_kv rows);
 * p->pos0 is ignored. */
void vk_op_attention_full(vk_ctx *c, em_tensor *out, const em_tensor *q, const em_tensor *k, const em_tensor *v,
                          const em_attn_params *p);
void vk_op_swiglu(vk_ctx *c, em_tensor *out, const em_tensor *gate, const em_tensor *up);
void vk_op_add(vk_ctx *c, em_tensor *out, const em_tensor *a, const em_tensor *b);
/* The ViT's: w or b may be NULL (no scale, no shift). */
void vk_op_layer_norm(vk_ctx *c, em_tensor *out, const em_tensor *x, const em_tensor *w, const em_tensor *b, float eps);
void vk_op_gelu(vk_ctx *c, em_tensor *out, const em_tensor *x);
/* out[i] = x[i] + b, b one row of at least out->ne[0] values. */
void vk_op_add_bias(vk_ctx *c, em_tensor *out, const em_tensor *x, const em_tensor *b);
/* Which weight/input types each family handles on this device. */
bool vk_op_matmul_supports(const vk_ctx *c, enum em_type t);
bool vk_op_attention_supports(const vk_ctx *c, enum em_type kv);

#endif
