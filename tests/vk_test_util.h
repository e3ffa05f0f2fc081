/* vk_test_util.h - what the Vulkan kernel tests share: the CPU reference and
 * the Vulkan backend side by side, tensors filled on both, comparison.
 *
 * Every test_vk_* program runs twice under ctest: as the device is, and with
 * EMBER_VK_LIMITS=v3d (the Raspberry Pi 5's limits). The Khronos validation
 * layer is on (EMBER_VK_VALIDATE=1, set here before the backend is made):
 * any message it prints fails the sync, and vkt_close checks the count. */
#ifndef EMBER_TESTS_VK_TEST_UTIL_H
#define EMBER_TESTS_VK_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/backend.h"
#include "core/cpu/cpu_backend.h"
#include "core/vulkan/vk_backend.h"

typedef struct vkt {
    em_backend *cpu, *vk;
    uint64_t rng;
} vkt;

/* Both backends; exits the program (status 1) when Vulkan is unavailable:
 * the setup script installs lavapipe, so a missing device is a failure. */
static inline void vkt_open(vkt *T) {
    char err[EM_ERR_LEN];
    setenv("EMBER_VK_VALIDATE", "1", 0);
    T->rng = 0x9e3779b97f4a7c15ull;
    T->cpu = cpu_backend_create(2, err);
    if (!T->cpu) { fprintf(stderr, "FAIL: cpu backend: %s\n", err); exit(1); }
    vk_backend_params p = {.device = -1};
    T->vk = vk_backend_create(&p, NULL, err);
    if (!T->vk) { fprintf(stderr, "FAIL: vulkan backend: %s\n", err); exit(1); }
    const char *lim = getenv("EMBER_VK_LIMITS");
    printf("device: %s%s%s\n", vk_backend_device_name(T->vk), lim ? ", limits " : "", lim ? lim : "");
}

static inline void vkt_close(vkt *T) {
    vk_backend_stats st;
    vk_backend_get_stats(T->vk, &st);
    CHECK(st.validation_messages == 0, "%llu validation messages", st.validation_messages);
    em_backend_free(T->vk);
    em_backend_free(T->cpu);
}

/* Uniform in [-1, 1). */
static inline float vkt_rand(vkt *T) {
    T->rng ^= T->rng << 13; T->rng ^= T->rng >> 7; T->rng ^= T->rng << 17;
    return (float)((T->rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static inline void vkt_fill(vkt *T, float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * vkt_rand(T);
}

/* An activation (alloc + upload) with the same contents on both backends. */
static inline void vkt_act(vkt *T, em_tensor *c, em_tensor *v, const em_tensor *shape, const void *host) {
    char err[EM_ERR_LEN];
    *c = *shape;
    *v = *shape;
    if (em_backend_alloc(T->cpu, c, err) || em_backend_alloc(T->vk, v, err)) {
        fprintf(stderr, "FAIL: alloc: %s\n", err);
        exit(1);
    }
    if (host) {
        size_t n = em_tensor_nbytes(shape);
        if (T->cpu->ops->upload(T->cpu, c, host, 0, n, err) || T->vk->ops->upload(T->vk, v, host, 0, n, err)) {
            fprintf(stderr, "FAIL: upload: %s\n", err);
            exit(1);
        }
    }
}

/* A weight (wrap of host memory that outlives both backends). */
static inline void vkt_weight(vkt *T, em_tensor *c, em_tensor *v, const em_tensor *shape, const void *host) {
    char err[EM_ERR_LEN];
    *c = *shape;
    *v = *shape;
    if (em_backend_wrap(T->cpu, c, host, err) || em_backend_wrap(T->vk, v, host, err)) {
        fprintf(stderr, "FAIL: wrap: %s\n", err);
        exit(1);
    }
}

static inline void vkt_release(vkt *T, em_tensor *c, em_tensor *v) {
    em_backend_release(T->cpu, c);
    em_backend_release(T->vk, v);
}

/* Sync both and download n floats of each; returns malloc'd arrays. */
static inline void vkt_results(vkt *T, const em_tensor *c, const em_tensor *v, float **rc, float **rv) {
    char err[EM_ERR_LEN];
    size_t n = em_tensor_nbytes(c);
    *rc = malloc(n);
    *rv = malloc(n);
    if (!*rc || !*rv) { fprintf(stderr, "FAIL: out of memory\n"); exit(1); }
    if (em_backend_sync(T->cpu, err)) { fprintf(stderr, "FAIL: cpu sync: %s\n", err); exit(1); }
    if (em_backend_sync(T->vk, err)) { fprintf(stderr, "FAIL: vulkan sync: %s\n", err); exit(1); }
    if (T->cpu->ops->download(T->cpu, c, *rc, 0, n, err) || T->vk->ops->download(T->vk, v, *rv, 0, n, err)) {
        fprintf(stderr, "FAIL: download: %s\n", err);
        exit(1);
    }
}

/* Largest |a-b| relative to the largest |a| (a: the reference), over n
 * floats; NaN or Inf anywhere gives INFINITY. */
static inline double vkt_maxrel(const float *a, const float *b, size_t n) {
    double amax = 1e-30, dmax = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) return INFINITY;
        double d = fabs((double)a[i] - b[i]);
        if (fabs(a[i]) > amax) amax = fabs(a[i]);
        if (d > dmax) dmax = d;
    }
    return dmax / amax;
}

#endif
