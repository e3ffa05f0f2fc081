/* bench_read.h - the plain read the benchmarks set memory-bound work beside:
 * each thread of a pool sums its share of a buffer, a cache line an
 * iteration in 16-byte vectors (one core's loads outrun its memory stream,
 * so this is the stream's speed). Shared by bench_matmul and bench_peak. */
#ifndef EMBER_BENCH_READ_H
#define EMBER_BENCH_READ_H

#include <stddef.h>
#include <stdint.h>

#include "core/threadpool.h"

/* p: 64-byte aligned; n: uint64_t values, whole 64-byte lines. sum: a line
 * per thread, stored so the loop is not optimised away. */
struct bench_read { const uint64_t *p; size_t n; uint64_t sum[64 * 8]; };

/* em_pool_run body: thread ith sums its share of whole lines. */
static inline void bench_read_body(void *varg, int ith, int nth) {
    struct bench_read *a = varg;
    long long l0, l1; /* whole 64-byte lines, so each vector load is aligned */
    em_pool_range((long long)(a->n / 8), ith, nth, &l0, &l1);
    typedef uint64_t v2 __attribute__((vector_size(16))); /* SSE2 / NEON registers, whatever the build's flags */
    const v2 *p = (const v2 *)(a->p + l0 * 8);
    v2 s[8] = {{0}};
    for (long long l = l0; l < l1; l++, p += 4) { /* a cache line an iteration */
        s[2 * (l & 3)] += p[0] + p[1];
        s[2 * (l & 3) + 1] += p[2] + p[3];
    }
    for (int j = 1; j < 8; j++) s[0] += s[j];
    a->sum[ith * 8] = s[0][0] + s[0][1];
}

#endif
