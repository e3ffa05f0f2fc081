/* test_threadpool.c - every thread runs each section once, barriers order
 * phases, and many short sections back to back neither lose nor repeat work. */
#include <stdatomic.h>
#include <string.h>

#include "core/status.h"
#include "core/threadpool.h"
#include "check.h"

struct job { _Atomic int items[1000]; _Atomic int next; _Atomic int bad_ith;
             _Atomic int hits[16]; int phase_ok; int data[16]; _Atomic int sum; em_pool *pool; };

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

/* em_pool_run_dynamic's contract: work from a shared counter, no barrier */
static void items_body(void *arg, int ith, int nth) {
    struct job *j = arg;
    if (ith < 0 || ith >= nth) atomic_store(&j->bad_ith, 1);
    for (int it; (it = atomic_fetch_add(&j->next, 1)) < 1000;) atomic_fetch_add(&j->items[it], 1);
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
        /* dynamic sections: every item done exactly once, even if some
         * workers skip; section after section reuses the same (stack) job */
        int once = 1;
        for (int r = 0; r < 3000; r++) {
            atomic_store(&j.next, 0);
            for (int i = 0; i < 1000; i++) atomic_store(&j.items[i], 0);
            em_pool_run_dynamic(p, items_body, &j);
            for (int i = 0; i < 1000; i++) once &= atomic_load(&j.items[i]) == 1;
        }
        CHECK(once && !atomic_load(&j.bad_ith), "%d threads: dynamic sections do each item once", n);
        /* a plain section right after dynamic ones still runs on every thread */
        memset(j.hits, 0, sizeof j.hits);
        em_pool_run_dynamic(p, items_body, &j);
        em_pool_run(p, count_body, &j);
        all = 1;
        for (int i = 0; i < n; i++) all &= atomic_load(&j.hits[i]) == 1;
        CHECK(all, "%d threads: em_pool_run after em_pool_run_dynamic reaches every thread", n);
        em_pool_run(p, range_body, &j);
        CHECK(atomic_load(&j.sum) == 1001, "%d threads: ranges cover 1001 items once (%d)", n, atomic_load(&j.sum));
        em_pool_free(p);
    }
    CHECK(em_pool_create(0, err) == NULL, "0 threads refused");
    em_pool_free(NULL);
    return CHECK_DONE();
}
