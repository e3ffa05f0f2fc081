/* test_threadpool.c - every thread runs each section once, barriers order
 * phases, and many short sections back to back neither lose nor repeat work. */
#include <stdatomic.h>
#include <string.h>

#include "core/status.h"
#include "core/threadpool.h"
#include "check.h"

struct job { _Atomic int hits[16]; int phase_ok; int data[16]; _Atomic int sum; em_pool *pool; };

static void count_body(void *arg, int ith, int nth) {
    struct job *j = arg;
    atomic_fetch_add(&j->hits[ith], 1);
}

static void phase_body(void *arg, int ith, int nth) {
    struct job *j = arg;
    j->data[ith] = ith + 1;
    em_pool_barrier(j->pool);
    int s = 0; /* after the barrier every thread sees every write */
    for (int i = 0; i < nth; i++) s += j->data[i];
    if (s != nth * (nth + 1) / 2) j->phase_ok = 0;
    em_pool_barrier(j->pool);
    j->data[ith] = 0;
}

static void range_body(void *arg, int ith, int nth) {
    struct job *j = arg;
    long long a, b;
    em_pool_range(1001, ith, nth, &a, &b);
    atomic_fetch_add(&j->sum, (int)(b - a));
}

int main(void) {
    char err[EM_ERR_LEN];
    for (int n = 1; n <= 4; n++) {
        em_pool *p = em_pool_create(n, err);
        CHECK(p != NULL, "create %d: %s", n, err);
        if (!p) continue;
        struct job j;
        memset(&j, 0, sizeof j);
        j.pool = p;
        j.phase_ok = 1;
        for (int r = 0; r < 3000; r++) em_pool_run(p, count_body, &j);
        int all = 1;
        for (int i = 0; i < n; i++) all &= atomic_load(&j.hits[i]) == 3000;
        CHECK(all, "%d threads: each ran every one of 3000 sections", n);
        for (int r = 0; r < 500; r++) em_pool_run(p, phase_body, &j);
        CHECK(j.phase_ok, "%d threads: barriers separate phases", n);
        em_pool_run(p, range_body, &j);
        CHECK(atomic_load(&j.sum) == 1001, "%d threads: ranges cover 1001 items once (%d)", n, atomic_load(&j.sum));
        em_pool_free(p);
    }
    CHECK(em_pool_create(0, err) == NULL, "0 threads refused");
    em_pool_free(NULL);
    return CHECK_DONE();
}
