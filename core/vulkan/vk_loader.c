/* vk_loader.c - the Vulkan API, opened at run time.
 *
 * Ember does not link against libvulkan: a robot image without a Vulkan
 * loader (or a test machine without a GPU) must still run on the CPU, and
 * choosing a backend automatically (em_backend_open's "auto") must be able
 * to ask "is there Vulkan here?" and get a sentence back, not a
 * dynamic-linker failure. So the loader library is
 * dlopen'ed and every function is fetched through vkGetInstanceProcAddr /
 * vkGetDeviceProcAddr (device-level pointers also skip the loader's
 * trampoline, which matters for the per-dispatch calls). */
#include <dlfcn.h>
#include <string.h>

#include "vk_internal.h"

ember_status vk_api_open(vk_api *api, char *err) {
    memset(api, 0, sizeof *api);
    const char *names[] = {"libvulkan.so.1", "libvulkan.so"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !api->lib; i++)
        api->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!api->lib)
        return em_err(err, EM_ERR_UNSUPPORTED,
                      "vulkan: no Vulkan loader (libvulkan.so.1) on this machine; install libvulkan1 and a driver");
    api->vkGetInstanceProcAddr = (PFN_vkGetInstanceProcAddr)dlsym(api->lib, "vkGetInstanceProcAddr");
    if (!api->vkGetInstanceProcAddr) {
        vk_api_close(api);
        return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: the loader has no vkGetInstanceProcAddr");
    }
#define VK_LOAD(f)                                                                      \
    if (!(api->f = (PFN_##f)api->vkGetInstanceProcAddr(NULL, #f))) {                    \
        vk_api_close(api);                                                              \
        return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: the loader lacks %s (Vulkan 1.1 or newer needed)", #f); \
    }
    VK_GLOBAL_FNS(VK_LOAD)
#undef VK_LOAD
    return EM_OK;
}

ember_status vk_api_load_instance(vk_api *api, VkInstance inst, char *err) {
#define VK_LOAD(f)                                                                      \
    if (!(api->f = (PFN_##f)api->vkGetInstanceProcAddr(inst, #f)))                      \
        return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: instance function %s missing", #f);
    VK_INSTANCE_FNS(VK_LOAD)
#undef VK_LOAD
    /* Present only with the debug-utils extension (validation runs). */
    api->vkCreateDebugUtilsMessengerEXT =
        (PFN_vkCreateDebugUtilsMessengerEXT)api->vkGetInstanceProcAddr(inst, "vkCreateDebugUtilsMessengerEXT");
    api->vkDestroyDebugUtilsMessengerEXT =
        (PFN_vkDestroyDebugUtilsMessengerEXT)api->vkGetInstanceProcAddr(inst, "vkDestroyDebugUtilsMessengerEXT");
    return EM_OK;
}

ember_status vk_api_load_device(vk_api *api, VkDevice dev, char *err) {
#define VK_LOAD(f)                                                                      \
    if (!(api->f = (PFN_##f)api->vkGetDeviceProcAddr(dev, #f)))                         \
        return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: device function %s missing", #f);
    VK_DEVICE_FNS(VK_LOAD)
#undef VK_LOAD
    return EM_OK;
}

/* The loader library stays loaded: drivers (and LLVM inside lavapipe) keep
 * process-wide state that does not survive being unloaded and reloaded, and
 * leak checkers can only name a leak's library while it is mapped. */
void vk_api_close(vk_api *api) { memset(api, 0, sizeof *api); }

const char *vk_result_str(VkResult r) {
    switch (r) {
#define R(x) case x: return #x;
    R(VK_SUCCESS) R(VK_NOT_READY) R(VK_TIMEOUT) R(VK_INCOMPLETE)
    R(VK_ERROR_OUT_OF_HOST_MEMORY) R(VK_ERROR_OUT_OF_DEVICE_MEMORY) R(VK_ERROR_INITIALIZATION_FAILED)
    R(VK_ERROR_DEVICE_LOST) R(VK_ERROR_MEMORY_MAP_FAILED) R(VK_ERROR_LAYER_NOT_PRESENT)
    R(VK_ERROR_EXTENSION_NOT_PRESENT) R(VK_ERROR_FEATURE_NOT_PRESENT) R(VK_ERROR_INCOMPATIBLE_DRIVER)
    R(VK_ERROR_TOO_MANY_OBJECTS) R(VK_ERROR_FORMAT_NOT_SUPPORTED) R(VK_ERROR_FRAGMENTED_POOL)
    R(VK_ERROR_OUT_OF_POOL_MEMORY) R(VK_ERROR_INVALID_SHADER_NV) R(VK_ERROR_UNKNOWN)
#undef R
    default: return "VK_ERROR_(unnamed)";
    }
}
