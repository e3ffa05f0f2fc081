/* bench_pool.c - what one parallel section costs: em_pool_run and
 * em_pool_run_dynamic with an empty body, and with a body that takes 16 work
 * items from a shared counter (the shape of a decode matmul), ns per section.
 *
 * usage: bench_pool [threads...]   (default 1 2 4) */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli/opt.h"
#include "core/threadpool.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct items { _Atomic int next; };

static void empty_body(void *arg, int ith, int nth) { (void)arg; (void)ith; (void)nth; }

static void items_body(void *arg, int ith, int nth) {
    struct items *a = arg;
    (void)ith; (void)nth;
    while (atomic_fetch_add_explicit(&a->next, 1, memory_order_relaxed) < 16) {}
}

static double per_run(em_pool *p, int dynamic, em_pool_fn fn, int reps) {
    struct items a;
    double best = 1e9;
    for (int t = 0; t < 5; t++) {
        double t0 = now();
        for (int r = 0; r < reps; r++) {
            atomic_store_explicit(&a.next, 0, memory_order_relaxed);
            if (dynamic) em_pool_run_dynamic(p, fn, &a);
            else em_pool_run(p, fn, &a);
        }
        double dt = (now() - t0) / reps;
        if (dt < best) best = dt;
    }
    return best * 1e9;
}

int main(int argc, char **argv) {
    /* usage: bench_pool [THREADS...] (default 1 2 4) */
    const char *counts[8];
    int defaults[] = {1, 2, 4}, nt = 0;
    const opt_spec specs[] = {OPT_END};
    char err[OPT_ERR_LEN];
    int rc = opt_parse("bench_pool", specs, argc, argv, counts, 8, &nt, err);
    if (rc == OPT_HELP) { printf("usage: bench_pool [THREADS...]   (at most 8 counts; default 1 2 4)\n"); return 0; }
    if (rc != OPT_OK) { fprintf(stderr, "%s\n", err); return 2; }
    int n_runs = nt ? nt : 3;
    for (int i = 0; i < n_runs; i++) {
        int64_t n = defaults[i < 3 ? i : 0];
        if (nt && opt_i64("bench_pool", "THREADS", counts[i], 1, 1024, &n, err)) { fprintf(stderr, "%s\n", err); return 2; }
        char perr[256];
        em_pool *p = em_pool_create((int)n, perr);
        if (!p) { fprintf(stderr, "bench_pool: %s\n", perr); return 1; }
        printf("threads=%d  run empty %7.0f ns  run 16 items %7.0f ns  dynamic empty %7.0f ns  dynamic 16 items %7.0f ns\n",
               (int)n, per_run(p, 0, empty_body, 20000), per_run(p, 0, items_body, 20000),
               per_run(p, 1, empty_body, 20000), per_run(p, 1, items_body, 20000));
        em_pool_free(p);
    }
    return 0;
}
