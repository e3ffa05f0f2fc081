/* vk_device.c - the Vulkan instance, the choice of device, what it offers.
 *
 * Devices are ranked discrete GPU, integrated GPU, virtual GPU, then CPU
 * implementations (lavapipe): the robot's own GPU first. EMBER_VK_DEVICE or
 * the caller's index overrides. Features and limits are read once here into
 * vk_caps, then capped by the switches documented in vk_backend.h, so every
 * pipeline is sized from vk_caps and a test on lavapipe can pretend to be a
 * Raspberry Pi 5 (EMBER_VK_LIMITS=v3d). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_ctx.h"

void vk_fail(vk_ctx *c, ember_status st, const char *fmt, ...) {
    if (c->status != EM_OK) return;
    c->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
}

const vk_caps *vk_ctx_caps(const vk_ctx *c) { return &c->caps; }

static long env_long(const char *name, long dflt) {
    const char *s = getenv(name);
    if (!s || !*s) return dflt;
    char *end;
    long v = strtol(s, &end, 0);
    return *end ? dflt : v;
}

static bool env_on(const char *name) {
    const char *s = getenv(name);
    return s && *s && strcmp(s, "0") != 0;
}

/* ---- validation messages: counted, printed, and they fail the next sync */

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                    VkDebugUtilsMessageTypeFlagsEXT type,
                                                    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    vk_ctx *c = user;
    (void)type;
    if (!(sev & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT)))
        return VK_FALSE;
    c->stats.validation_messages++;
    fprintf(stderr, "vulkan validation: %s\n", data && data->pMessage ? data->pMessage : "(no message)");
    vk_fail(c, EM_ERR_INTERNAL, "vulkan validation layer: %.400s", data && data->pMessage ? data->pMessage : "(no message)");
    return VK_FALSE;
}

static bool has_layer(vk_api *api, const char *name) {
    uint32_t n = 0;
    if (api->vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return false;
    VkLayerProperties *lp = calloc(n, sizeof *lp);
    bool found = false;
    if (lp && api->vkEnumerateInstanceLayerProperties(&n, lp) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(lp[i].layerName, name);
    free(lp);
    return found;
}

static bool has_device_ext(vk_api *api, VkPhysicalDevice pd, const char *name) {
    uint32_t n = 0;
    if (api->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || n == 0) return false;
    VkExtensionProperties *ep = calloc(n, sizeof *ep);
    bool found = false;
    if (ep && api->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, ep) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(ep[i].extensionName, name);
    free(ep);
    return found;
}

/* An instance for Vulkan 1.2; with the validation layer when asked. */
static ember_status make_instance(vk_api *api, vk_ctx *c, bool validate, VkInstance *out, char *err) {
    uint32_t ver = VK_API_VERSION_1_0;
    if (api->vkEnumerateInstanceVersion) api->vkEnumerateInstanceVersion(&ver);
    if (ver < VK_API_VERSION_1_2)
        return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: the loader offers Vulkan %u.%u; Ember needs 1.2",
                      VK_API_VERSION_MAJOR(ver), VK_API_VERSION_MINOR(ver));
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "ember",
                             .pEngineName = "ember", .apiVersion = VK_API_VERSION_1_3 <= ver ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO, .pApplicationInfo = &app};
    const char *layers[] = {"VK_LAYER_KHRONOS_validation"};
    const char *exts[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    /* Synchronization validation catches a missing barrier, which the core
     * checks cannot. */
    VkValidationFeatureEnableEXT vfe[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT vf = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
                                  .enabledValidationFeatureCount = 1, .pEnabledValidationFeatures = vfe};
    VkDebugUtilsMessengerCreateInfoEXT mi = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_validation, .pUserData = c};
    if (validate) {
        if (!has_layer(api, layers[0]))
            return em_err(err, EM_ERR_UNSUPPORTED,
                          "vulkan: EMBER_VK_VALIDATE is set but VK_LAYER_KHRONOS_validation is not installed (Debian: vulkan-validationlayers)");
        ci.enabledLayerCount = 1;
        ci.ppEnabledLayerNames = layers;
        ci.enabledExtensionCount = 1;
        ci.ppEnabledExtensionNames = exts;
        mi.pNext = &vf;
        ci.pNext = &mi;
    }
    VkResult r = api->vkCreateInstance(&ci, NULL, out);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: no Vulkan driver (ICD) installed; install your GPU's driver (or mesa-vulkan-drivers)");
    if (r != VK_SUCCESS) return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: vkCreateInstance: %s", vk_result_str(r));
    if (validate && c) {
        ember_status st = vk_api_load_instance(api, *out, err);
        if (st) return st;
        mi.pNext = NULL;
        if (!api->vkCreateDebugUtilsMessengerEXT ||
            api->vkCreateDebugUtilsMessengerEXT(*out, &mi, NULL, &c->messenger) != VK_SUCCESS)
            return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: cannot install the validation message callback");
    }
    return EM_OK;
}

static int type_rank(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
    }
}

static const char *type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
    }
}

/* Read what pd offers into caps (raw, before switches). */
static void read_caps(vk_api *api, VkPhysicalDevice pd, vk_caps *caps) {
    memset(caps, 0, sizeof *caps);
    VkPhysicalDeviceSubgroupSizeControlProperties sscp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES};
    VkPhysicalDeviceShaderIntegerDotProductProperties idp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES};
    VkPhysicalDeviceVulkan11Properties p11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES};
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES, .pNext = &p11};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &drv};
    VkPhysicalDeviceProperties base;
    api->vkGetPhysicalDeviceProperties(pd, &base);
    const bool v13 = base.apiVersion >= VK_API_VERSION_1_3;
    const bool has_ssc = v13 || has_device_ext(api, pd, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
    const bool has_idp = v13 || has_device_ext(api, pd, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    if (has_ssc) { sscp.pNext = p2.pNext; p2.pNext = &sscp; }
    if (has_idp) { idp.pNext = p2.pNext; p2.pNext = &idp; }
    api->vkGetPhysicalDeviceProperties2(pd, &p2);

    VkPhysicalDeviceSubgroupSizeControlFeatures sscf = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &f12};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
    if (has_ssc) { sscf.pNext = f2.pNext; f2.pNext = &sscf; }
    api->vkGetPhysicalDeviceFeatures2(pd, &f2);

    const VkPhysicalDeviceProperties *P = &p2.properties;
    const VkPhysicalDeviceLimits *L = &P->limits;
    snprintf(caps->name, sizeof caps->name, "%s", P->deviceName);
    snprintf(caps->driver, sizeof caps->driver, "%s", drv.driverName[0] ? drv.driverName : "?");
    caps->type = P->deviceType;
    caps->api_version = P->apiVersion;
    caps->vendor_id = P->vendorID;
    caps->device_id = P->deviceID;
    caps->max_shared = L->maxComputeSharedMemorySize;
    caps->max_wg_invocations = L->maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) {
        caps->max_wg_size[i] = L->maxComputeWorkGroupSize[i];
        caps->max_groups[i] = L->maxComputeWorkGroupCount[i];
    }
    caps->max_range = L->maxStorageBufferRange;
    caps->storage_align = (uint32_t)L->minStorageBufferOffsetAlignment;
    caps->uniform_align = (uint32_t)L->minUniformBufferOffsetAlignment;
    caps->max_alloc_count = L->maxMemoryAllocationCount;
    caps->max_alloc_size = p11.maxMemoryAllocationSize;
    caps->subgroup_size = p11.subgroupSize;
    caps->subgroup_min = caps->subgroup_max = p11.subgroupSize;
    const bool compute_sg = (p11.subgroupSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
    caps->subgroup_arith = compute_sg && (p11.subgroupSupportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    caps->subgroup_shuffle = compute_sg && (p11.subgroupSupportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
    if (has_ssc && sscf.subgroupSizeControl && sscf.computeFullSubgroups &&
        (sscp.requiredSubgroupSizeStages & VK_SHADER_STAGE_COMPUTE_BIT)) {
        caps->size_control = true;
        caps->subgroup_min = sscp.minSubgroupSize;
        caps->subgroup_max = sscp.maxSubgroupSize;
    }
    caps->storage16 = f11.storageBuffer16BitAccess;
    caps->fp16 = f12.shaderFloat16;
    caps->storage8 = f12.storageBuffer8BitAccess;
    caps->int8 = f12.shaderInt8;
    caps->dot8 = has_idp && idp.integerDotProduct4x8BitPackedSignedAccelerated;
    caps->coopmat = has_device_ext(api, pd, "VK_KHR_cooperative_matrix");

    VkPhysicalDeviceMemoryProperties mp;
    api->vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    for (uint32_t i = 0; i < mp.memoryHeapCount; i++)
        if ((mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) && mp.memoryHeaps[i].size > caps->device_local_bytes)
            caps->device_local_bytes = mp.memoryHeaps[i].size;
    /* Unified memory: every device-local type is also host-visible. */
    bool any = false, all_visible = true;
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++) {
        if (!(mp.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT)) continue;
        any = true;
        if (!(mp.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)) all_visible = false;
    }
    caps->uma = any && all_visible;
}

/* The EMBER_VK_* switches and the limit modes (vk_backend.h). */
static ember_status apply_switches(vk_caps *caps, char *err) {
    const char *lim = getenv("EMBER_VK_LIMITS");
    if (lim && *lim) {
        if (strcmp(lim, "v3d") != 0)
            return em_err(err, EM_ERR_ARG, "vulkan: EMBER_VK_LIMITS=%s: unknown limit mode (known: v3d)", lim);
        /* The Raspberry Pi 5's V3D 7.1 as Mesa's v3dv reports it. */
        caps->limits = "v3d";
        if (caps->max_shared > 16384) caps->max_shared = 16384;
        if (caps->max_wg_invocations > 256) caps->max_wg_invocations = 256;
        for (int i = 0; i < 3; i++)
            if (caps->max_wg_size[i] > 256) caps->max_wg_size[i] = 256;
        caps->fp16 = caps->int8 = caps->storage16 = caps->storage8 = caps->dot8 = caps->coopmat = false;
        caps->subgroup_arith = false;
    }
    caps->cpu_tuning = caps->type == VK_PHYSICAL_DEVICE_TYPE_CPU && !caps->limits;
    const char *tune = getenv("EMBER_VK_TUNE");
    if (tune && *tune) {
        if (strcmp(tune, "gpu") && strcmp(tune, "cpu"))
            return em_err(err, EM_ERR_ARG, "vulkan: EMBER_VK_TUNE=%s: expected gpu or cpu", tune);
        caps->cpu_tuning = !strcmp(tune, "cpu");
    }
    if (env_on("EMBER_VK_DISABLE_FP16")) caps->fp16 = caps->storage16 = false;
    if (env_on("EMBER_VK_DISABLE_INT8")) caps->int8 = caps->storage8 = caps->dot8 = false;
    if (env_on("EMBER_VK_DISABLE_SUBGROUP")) caps->subgroup_arith = caps->subgroup_shuffle = false;
    long v;
    if ((v = env_long("EMBER_VK_MAX_SHARED", 0)) > 0 && (uint64_t)v < caps->max_shared) caps->max_shared = (uint32_t)v;
    if ((v = env_long("EMBER_VK_MAX_WG", 0)) > 0 && (uint64_t)v < caps->max_wg_invocations) caps->max_wg_invocations = (uint32_t)v;
    if ((v = env_long("EMBER_VK_MAX_RANGE", 0)) > 0 && (uint64_t)v < caps->max_range) caps->max_range = (uint64_t)v & ~(uint64_t)255;
    if ((v = env_long("EMBER_VK_SUBGROUP_SIZE", 0)) > 0) {
        if (caps->size_control && (uint32_t)v >= caps->subgroup_min && (uint32_t)v <= caps->subgroup_max &&
            ((uint32_t)v & ((uint32_t)v - 1)) == 0) {
            caps->required_subgroup = (uint32_t)v;
            caps->subgroup_size = (uint32_t)v;
        } else {
            fprintf(stderr, "vulkan: EMBER_VK_SUBGROUP_SIZE=%ld not offered by %s (sizes %u..%u%s); using %u\n", v,
                    caps->name, caps->subgroup_min, caps->subgroup_max, caps->size_control ? "" : ", no size control",
                    caps->subgroup_size);
        }
    }
    return EM_OK;
}

static bool compute_queue(vk_api *api, VkPhysicalDevice pd, uint32_t *family) {
    uint32_t n = 0;
    api->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties qf[32];
    if (n > 32) n = 32;
    api->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, qf);
    /* Prefer a compute queue without graphics (async compute on desktops). */
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < n; i++)
            if ((qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && (pass || !(qf[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))) {
                *family = i;
                return true;
            }
    return false;
}

/* Physical devices in Ember's order of preference (stable within a rank). */
static ember_status list_devices(vk_api *api, VkInstance inst, VkPhysicalDevice *out, uint32_t *n, char *err) {
    uint32_t cnt = 0;
    VkResult r = api->vkEnumeratePhysicalDevices(inst, &cnt, NULL);
    if (r != VK_SUCCESS) return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: vkEnumeratePhysicalDevices: %s", vk_result_str(r));
    if (cnt > *n) cnt = *n;
    if (cnt && (r = api->vkEnumeratePhysicalDevices(inst, &cnt, out)) != VK_SUCCESS && r != VK_INCOMPLETE)
        return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: vkEnumeratePhysicalDevices: %s", vk_result_str(r));
    for (uint32_t i = 1; i < cnt; i++) { /* insertion sort by rank */
        VkPhysicalDevice d = out[i];
        VkPhysicalDeviceProperties pi;
        api->vkGetPhysicalDeviceProperties(d, &pi);
        uint32_t j = i;
        for (; j > 0; j--) {
            VkPhysicalDeviceProperties pj;
            api->vkGetPhysicalDeviceProperties(out[j - 1], &pj);
            if (type_rank(pj.deviceType) <= type_rank(pi.deviceType)) break;
            out[j] = out[j - 1];
        }
        out[j] = d;
    }
    *n = cnt;
    if (cnt == 0) return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: no Vulkan device found");
    return EM_OK;
}

static uint32_t pick_memtype(const VkPhysicalDeviceMemoryProperties *mp, VkMemoryPropertyFlags want,
                             VkMemoryPropertyFlags avoid) {
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp->memoryTypes[i].propertyFlags;
        if ((f & want) == want && !(f & avoid)) return i;
    }
    return UINT32_MAX;
}

ember_status vk_device_open(vk_ctx *c, const vk_backend_params *p, char *err) {
    ember_status st;
    c->validate = env_on("EMBER_VK_VALIDATE");
    if ((st = vk_api_open(&c->api, err))) return st;
    vk_api *api = &c->api;
    if ((st = make_instance(api, c, c->validate, &c->inst, err))) return st;
    if (!c->validate && (st = vk_api_load_instance(api, c->inst, err))) return st;

    VkPhysicalDevice devs[16];
    uint32_t n = 16;
    if ((st = list_devices(api, c->inst, devs, &n, err))) return st;
    long want = p && p->device >= 0 ? p->device : env_long("EMBER_VK_DEVICE", -1);
    if (want >= (long)n)
        return em_err(err, EM_ERR_ARG, "vulkan: device %ld asked for, but there %s %u (0..%u)", want,
                      n == 1 ? "is" : "are", n, n - 1);
    uint32_t idx = UINT32_MAX;
    for (uint32_t i = 0; i < n && idx == UINT32_MAX; i++) {
        if (want >= 0 && (long)i != want) continue;
        VkPhysicalDeviceProperties pr;
        api->vkGetPhysicalDeviceProperties(devs[i], &pr);
        uint32_t fam;
        if (pr.apiVersion >= VK_API_VERSION_1_2 && compute_queue(api, devs[i], &fam)) idx = i;
        else if (want >= 0)
            return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: device %ld (%s) lacks Vulkan 1.2 or a compute queue", want, pr.deviceName);
    }
    if (idx == UINT32_MAX) return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: no device with Vulkan 1.2 and a compute queue");
    c->phys = devs[idx];
    compute_queue(api, c->phys, &c->queue_family);
    read_caps(api, c->phys, &c->caps);
    if ((st = apply_switches(&c->caps, err))) return st;
    if (p && p->require_gpu && c->caps.type == VK_PHYSICAL_DEVICE_TYPE_CPU)
        return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: only a CPU implementation (%s) is present, not a GPU", c->caps.name);

    /* Enable what variants may use; the baseline shaders need none of it. */
    const vk_caps *k = &c->caps;
    VkPhysicalDeviceSubgroupSizeControlFeatures sscf = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES,
                                                        .subgroupSizeControl = VK_TRUE, .computeFullSubgroups = VK_TRUE};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                            .shaderFloat16 = k->fp16, .shaderInt8 = k->int8,
                                            .storageBuffer8BitAccess = k->storage8};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES, .pNext = &f12,
                                            .storageBuffer16BitAccess = k->storage16};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
    const char *exts[2];
    uint32_t n_ext = 0;
    if (k->required_subgroup) {
        sscf.pNext = f2.pNext;
        f2.pNext = &sscf;
        if (k->api_version < VK_API_VERSION_1_3) exts[n_ext++] = VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME;
    }
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, .queueFamilyIndex = c->queue_family,
                                   .queueCount = 1, .pQueuePriorities = &prio};
    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = &f2, .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci, .enabledExtensionCount = n_ext, .ppEnabledExtensionNames = exts};
    VkResult r = api->vkCreateDevice(c->phys, &dci, NULL, &c->dev);
    if (r != VK_SUCCESS) return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: vkCreateDevice (%s): %s", k->name, vk_result_str(r));
    if ((st = vk_api_load_device(api, c->dev, err))) return st;
    api->vkGetDeviceQueue(c->dev, c->queue_family, 0, &c->queue);

    api->vkGetPhysicalDeviceMemoryProperties(c->phys, &c->memprops);
    const VkMemoryPropertyFlags HV = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    const VkMemoryPropertyFlags DL = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    if (k->uma) {
        /* Unified memory: map device memory directly, no staging copies. */
        c->mt_device = pick_memtype(&c->memprops, DL | HV, 0);
        c->device_mapped = c->mt_device != UINT32_MAX;
    }
    if (!c->device_mapped) c->mt_device = pick_memtype(&c->memprops, DL, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
    if (c->mt_device == UINT32_MAX) c->mt_device = pick_memtype(&c->memprops, DL, 0);
    c->mt_host = pick_memtype(&c->memprops, HV | DL, 0);
    if (c->mt_host == UINT32_MAX) c->mt_host = pick_memtype(&c->memprops, HV, 0);
    if (c->mt_device == UINT32_MAX || c->mt_host == UINT32_MAX)
        return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: %s has no device-local or no host-visible coherent memory type", k->name);
    if (c->mt_device == c->mt_host) c->device_mapped = true;
    long mm = env_long("EMBER_VK_MAX_MEMORY", 0);
    c->max_memory = mm > 0 ? (uint64_t)mm : 0;
    long t = env_long("EMBER_VK_TIMEOUT_S", 120);
    c->timeout_ns = (uint64_t)(t > 0 ? t : 120) * 1000000000ull;
    return EM_OK;
}

void vk_device_close(vk_ctx *c) {
    vk_api *api = &c->api;
    if (c->dev) api->vkDestroyDevice(c->dev, NULL);
    if (c->messenger && api->vkDestroyDebugUtilsMessengerEXT) api->vkDestroyDebugUtilsMessengerEXT(c->inst, c->messenger, NULL);
    if (c->inst) api->vkDestroyInstance(c->inst, NULL);
    vk_api_close(api);
}

/* ---- `ember devices` */

static void print_caps(FILE *out, const vk_caps *k) {
    fprintf(out, "    type %s, Vulkan %u.%u.%u, driver %s, vendor 0x%04x device 0x%04x\n", type_name(k->type),
            VK_API_VERSION_MAJOR(k->api_version), VK_API_VERSION_MINOR(k->api_version), VK_API_VERSION_PATCH(k->api_version),
            k->driver, k->vendor_id, k->device_id);
    fprintf(out, "    memory: %.0f MiB device-local%s\n", (double)k->device_local_bytes / 1048576.0,
            k->uma ? ", unified (host-visible): weights mapped, no staging" : ", discrete: staged uploads");
    fprintf(out, "    limits: shared memory %u B, workgroup %u invocations (%u,%u,%u), storage range %llu B, offset alignment %u\n",
            k->max_shared, k->max_wg_invocations, k->max_wg_size[0], k->max_wg_size[1], k->max_wg_size[2],
            (unsigned long long)k->max_range, k->storage_align);
    fprintf(out, "    subgroups: size %u", k->subgroup_size);
    if (k->size_control) fprintf(out, " (controllable %u..%u)", k->subgroup_min, k->subgroup_max);
    fprintf(out, ", arithmetic %s, shuffle %s\n", k->subgroup_arith ? "yes" : "no", k->subgroup_shuffle ? "yes" : "no");
    fprintf(out, "    features: fp16 %s, 16-bit storage %s, int8 %s, 8-bit storage %s, int8 dot product %s, cooperative matrix %s\n",
            k->fp16 ? "yes" : "no", k->storage16 ? "yes" : "no", k->int8 ? "yes" : "no", k->storage8 ? "yes" : "no",
            k->dot8 ? "yes" : "no", k->coopmat ? "yes" : "no");
    if (k->limits) fprintf(out, "    limit mode: %s (EMBER_VK_LIMITS)\n", k->limits);
}

ember_status vk_devices_print(FILE *out, char *err) {
    vk_api api;
    VkInstance inst = VK_NULL_HANDLE;
    ember_status st = vk_api_open(&api, err);
    if (st) return st;
    if ((st = make_instance(&api, NULL, false, &inst, err)) || (st = vk_api_load_instance(&api, inst, err))) goto done;
    VkPhysicalDevice devs[16];
    uint32_t n = 16;
    if ((st = list_devices(&api, inst, devs, &n, err))) goto done;
    long want = env_long("EMBER_VK_DEVICE", -1);
    bool chosen_done = false;
    for (uint32_t i = 0; i < n; i++) {
        vk_caps k;
        read_caps(&api, devs[i], &k);
        if ((st = apply_switches(&k, err))) goto done;
        uint32_t fam;
        bool usable = k.api_version >= VK_API_VERSION_1_2 && compute_queue(&api, devs[i], &fam);
        fprintf(out, "%u: %s%s%s\n", i, k.name, usable ? "" : "  (not usable: needs Vulkan 1.2 and a compute queue)",
                usable && !chosen_done && (want < 0 || (long)i == want) ? "  [chosen]" : "");
        if (usable && (want < 0 || (long)i == want)) chosen_done = true;
        print_caps(out, &k);
    }
    st = EM_OK;
done:
    if (inst) api.vkDestroyInstance(inst, NULL);
    vk_api_close(&api);
    return st;
}
