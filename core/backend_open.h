/* backend_open.h - choosing and opening a compute backend by name: "cpu",
 * "vulkan", or "auto" (Vulkan when a real GPU is present, else the CPU).
 *
 * This is the one place that knows both backends, so the command line, the
 * agent and tests choose a backend the same way and say the same thing when
 * Vulkan is not used. Nothing is printed: why Vulkan was not used comes back
 * in the report, for the caller to show or log (and to add advice in its own
 * terms, such as a command-line flag).
 *
 * The caller owns the returned backend and frees it with em_backend_free.
 * Any thread may call it; the backend it returns is then used by one thread
 * at a time (backend.h). */
#ifndef EMBER_BACKEND_OPEN_H
#define EMBER_BACKEND_OPEN_H

#include <stddef.h>

#include "backend.h"

typedef struct em_backend_spec {
    const char *kind;  /* "auto", "vulkan" or "cpu"; NULL is "auto" */
    int device;        /* Vulkan device index as vk_devices_print lists them,
                        * or -1: choose (EMBER_VK_DEVICE, else the best GPU).
                        * With "auto", an index also accepts a CPU device. */
    int threads;       /* CPU backend workers (>= 1) */
    /* Weight-upload progress, for backends that copy weights to a device:
     * bytes copied so far, all tensors together; may be NULL. Called on the
     * thread that wraps the weights. */
    void (*progress)(void *user, size_t done);
    void *progress_user;
} em_backend_spec;

#define EM_BACKEND_DESC_LEN 320

/* What em_backend_open chose, and why not Vulkan. */
typedef struct em_backend_report {
    /* One line for a summary: "vulkan: NVIDIA H100", "vulkan: llvmpipe
     * (CPU device)", "cpu: 2 threads, avx512". */
    char desc[EM_BACKEND_DESC_LEN];
    /* Vulkan was tried and not used ("auto" fell back to the CPU, or
     * "vulkan" failed): the status and message of the attempt
     * (EM_ERR_UNSUPPORTED: no loader, driver, device, GPU or feature;
     * EM_ERR_ARG: no such device index; EM_ERR_NOMEM). EM_OK and "" when
     * Vulkan was used or not asked for. */
    ember_status vulkan_status;
    char vulkan_err[EM_ERR_LEN];
} em_backend_report;

/* Open the backend spec asks for; report (may be NULL) says what was chosen.
 * NULL on failure, with the message in err (EM_ERR_LEN bytes): an unknown
 * kind (EM_ERR_ARG), "vulkan" unavailable (report->vulkan_status says why;
 * err holds the same message), or the CPU backend out of memory. "auto"
 * fails only where the CPU backend does. */
em_backend *em_backend_open(const em_backend_spec *spec, em_backend_report *report, char *err);

#endif
