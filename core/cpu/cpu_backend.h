/* cpu_backend.h - the CPU backend: the reference implementation of
 * backend.h's ops, on host memory and the thread pool. Every other backend is
 * tested against it.
 *
 * The caller owns the returned backend and frees it with em_backend_free.
 * Threads: as backend.h (one thread at a time); the backend's own workers
 * run inside each op and are idle between ops. */
#ifndef EMBER_CPU_BACKEND_H
#define EMBER_CPU_BACKEND_H

#include "core/backend.h"

/* The CPU backend, with n_threads workers (>= 1). NULL, with a message in
 * err (EM_ERR_LEN bytes), when out of memory or threads. */
em_backend *cpu_backend_create(int n_threads, char *err);
/* The instruction set the CPU backend's kernels use ("avx512", "scalar", ...). */
const char *cpu_backend_isa(const em_backend *be);

#endif
