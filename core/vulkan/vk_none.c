/* vk_none.c - the Vulkan backend's entry points when Ember is built without
 * it (no Vulkan headers or glslc at build time): every call says so. */
#include "vk_backend.h"

bool vk_backend_built(void) { return false; }

em_backend *vk_backend_create(const vk_backend_params *p, ember_status *status, char *err) {
    (void)p;
    ember_status st = em_err(err, EM_ERR_UNSUPPORTED, "vulkan: this ember was built without the Vulkan backend (install libvulkan-dev, glslc and spirv-tools, then rebuild)");
    if (status) *status = st;
    return NULL;
}

const char *vk_backend_device_name(const em_backend *be) { (void)be; return "none"; }
bool vk_backend_is_gpu(const em_backend *be) { (void)be; return false; }
void vk_backend_get_stats(const em_backend *be, vk_backend_stats *st) { (void)be; *st = (vk_backend_stats){0}; }

ember_status vk_devices_print(FILE *out, char *err) {
    (void)out;
    return em_err(err, EM_ERR_UNSUPPORTED, "vulkan: this ember was built without the Vulkan backend");
}
