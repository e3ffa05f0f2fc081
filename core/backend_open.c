/* backend_open.c - see backend_open.h. */
#include "backend_open.h"

#include <stdio.h>
#include <string.h>

#include "core/cpu/cpu_backend.h"
#include "core/vulkan/vk_backend.h"

em_backend *em_backend_open(const em_backend_spec *spec, em_backend_report *report, char *err) {
    em_backend_report local;
    em_backend_report *r = report ? report : &local;
    memset(r, 0, sizeof *r);
    const char *kind = spec->kind ? spec->kind : "auto";
    const bool is_auto = !strcmp(kind, "auto");
    if (is_auto || !strcmp(kind, "vulkan")) {
        /* "auto" without a device index wants a GPU: a CPU implementation of
         * Vulkan (lavapipe) is slower than the CPU backend. */
        vk_backend_params vp = {.device = spec->device, .require_gpu = is_auto && spec->device < 0,
                                .progress = spec->progress, .progress_user = spec->progress_user};
        em_backend *be = vk_backend_create(&vp, &r->vulkan_status, r->vulkan_err);
        if (be) {
            r->vulkan_err[0] = 0;
            snprintf(r->desc, sizeof r->desc, "vulkan: %s%s", vk_backend_device_name(be),
                     vk_backend_is_gpu(be) ? "" : " (CPU device)");
            return be;
        }
        if (!is_auto) {
            em_err(err, r->vulkan_status, "%s", r->vulkan_err);
            return NULL;
        }
    } else if (strcmp(kind, "cpu") != 0) {
        em_err(err, EM_ERR_ARG, "em_backend_open: backend '%s' unknown; expected auto, vulkan or cpu", kind);
        return NULL;
    }
    em_backend *be = cpu_backend_create(spec->threads, err);
    if (be) snprintf(r->desc, sizeof r->desc, "cpu: %d threads, %s", spec->threads, cpu_backend_isa(be));
    return be;
}
