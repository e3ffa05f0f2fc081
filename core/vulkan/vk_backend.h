/* vk_backend.h - the Vulkan compute backend: the same em_backend_ops table
 * as the CPU (backend.h), run on any Vulkan 1.2 device, from a desktop GPU
 * down to a Raspberry Pi 5's V3D and, for tests, Mesa's lavapipe.
 *
 * What it promises:
 *   - the loader is opened at run time: without libvulkan, without a device,
 *     or without a feature Ember needs, vk_backend_create fails with
 *     EM_ERR_UNSUPPORTED and a message naming what is missing (callers that
 *     asked for "auto" fall back to the CPU);
 *   - every pipeline is sized from the device's limits (shared memory,
 *     workgroup size, subgroup size, storage-buffer range); nothing assumes a
 *     desktop GPU;
 *   - weights are copied to device memory once (em_backend_wrap), with
 *     progress for large files, and the host pages of the mapped file they
 *     came from are dropped after the copy, so on unified-memory devices the
 *     device copy is the only one;
 *   - KV cache and activations are allocated once, in device memory blocks;
 *   - the ops of a forward pass are recorded into one command buffer and
 *     submitted once at em_backend_sync; a forward pass of the same shape as
 *     an earlier one (a decode step) replays the recorded command buffer.
 *
 * Switches (environment), for tests and for working around a driver:
 *   EMBER_VK_DEVICE=N          device index as `ember devices` lists them
 *   EMBER_VK_LIMITS=v3d        cap limits and features at the Raspberry Pi 5's
 *                              V3D: 16 KiB shared memory, 256 invocations per
 *                              workgroup, no fp16/int8 arithmetic, no 8/16-bit
 *                              storage, no subgroup arithmetic
 *   EMBER_VK_DISABLE_FP16, EMBER_VK_DISABLE_INT8, EMBER_VK_DISABLE_SUBGROUP
 *   EMBER_VK_MAX_SHARED=bytes, EMBER_VK_MAX_WG=n, EMBER_VK_MAX_RANGE=bytes
 *   EMBER_VK_TUNE=gpu|cpu      size work for a GPU or for a CPU implementation
 *                              (default: by device type; limit modes: gpu)
 *   EMBER_VK_SUBGROUP_SIZE=n   require this subgroup size where the driver
 *                              allows (VK_EXT_subgroup_size_control)
 *   EMBER_VK_VALIDATE=1        enable the Khronos validation layer (with
 *                              synchronization validation); any message it
 *                              prints makes the next sync fail
 *   EMBER_VK_MAX_MEMORY=bytes  fail allocations past this many bytes, as a
 *                              smaller device would (tests the messages)
 *   EMBER_VK_TIMEOUT_S=n       a submit not done after n seconds (default
 *                              120) is reported as a hung device */
#ifndef EMBER_VK_BACKEND_H
#define EMBER_VK_BACKEND_H

#include <stdbool.h>
#include <stdio.h>

#include "core/backend.h"

typedef struct vk_backend_params {
    int device;        /* index as vk_devices_print lists them; -1: choose
                        * (EMBER_VK_DEVICE, else discrete, integrated,
                        * virtual, then CPU devices) */
    bool require_gpu;  /* fail when the chosen device is a CPU (lavapipe):
                        * what em_backend_open's "auto" asks for */
    /* Weight upload progress: called as weights are copied to the device,
     * with the bytes copied so far (all tensors); may be NULL. */
    void (*progress)(void *user, size_t done);
    void *progress_user;
} vk_backend_params;

/* Is the Vulkan backend compiled in? */
bool vk_backend_built(void);

/* The backend on the device p asks for (p may be NULL: choose). The caller
 * owns it (em_backend_free). NULL on failure, with the message in err
 * (EM_ERR_LEN bytes) and, where status is not NULL, the failure's kind in
 * *status: EM_ERR_UNSUPPORTED when there is no loader, driver, device, GPU
 * (require_gpu) or needed feature; EM_ERR_ARG for a device index past the
 * list; EM_ERR_NOMEM. */
em_backend *vk_backend_create(const vk_backend_params *p, ember_status *status, char *err);

/* The chosen device's name, and whether it is a real GPU (not a CPU device). */
const char *vk_backend_device_name(const em_backend *be);
bool vk_backend_is_gpu(const em_backend *be);

/* Counters since creation: submits, dispatches and barriers executed,
 * command buffers recorded and replayed, validation messages. */
typedef struct vk_backend_stats {
    unsigned long long submits, dispatches, barriers, recordings, replays, validation_messages;
} vk_backend_stats;
void vk_backend_get_stats(const em_backend *be, vk_backend_stats *st);

/* Print every Vulkan device with the features and limits Ember uses (what
 * `ember devices` shows). EM_ERR_UNSUPPORTED when there is no loader. */
ember_status vk_devices_print(FILE *out, char *err);

#endif
