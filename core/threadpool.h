/* threadpool.h - a fixed set of worker threads for data-parallel kernels.
 *
 * Workload: the decoder issues a few hundred short parallel sections per token
 * (every matmul, norm and attention of every layer), each lasting from a few
 * microseconds to a millisecond. So waking the workers must cost far less than
 * a microsecond: workers spin on an atomic generation counter for a while
 * before falling back to a condition-variable sleep, and em_pool_run's end is a
 * spin barrier. With n_threads == 1 no thread is created and em_pool_run calls
 * fn directly.
 *
 * Threads: one thread (the owner) calls em_pool_run at a time; fn runs on every
 * thread of the pool with ith = 0..nth-1, the caller being ith 0. fn may call
 * em_pool_barrier(pool) to separate phases; every thread must reach it.
 * Steady state allocates nothing.
 *
 * em_pool_run_dynamic is for sections whose threads take their work from a
 * shared counter (the decode matmuls): the caller does not wait for workers
 * that have not started by the time its own call of fn returns, so one worker
 * descheduled by another process (more threads than free cores) or asleep
 * costs nothing but its share of the work, instead of stalling the section. */
#ifndef EMBER_THREADPOOL_H
#define EMBER_THREADPOOL_H

typedef struct em_pool em_pool;
typedef void (*em_pool_fn)(void *arg, int ith, int nth);

/* n_threads >= 1. Returns NULL with a message on failure. */
em_pool *em_pool_create(int n_threads, char *err);
void em_pool_free(em_pool *pool); /* NULL is a no-op; joins the workers */
int em_pool_size(const em_pool *pool);
void em_pool_run(em_pool *pool, em_pool_fn fn, void *arg);
/* Like em_pool_run, but fn runs on the caller (ith 0) and on only those
 * workers that start before the caller's fn returns; each has its own ith in
 * 1..nth-1, and some may not run at all. So fn must not call em_pool_barrier
 * and must leave no work to a particular ith. Returns when every fn that
 * started has returned. */
void em_pool_run_dynamic(em_pool *pool, em_pool_fn fn, void *arg);
/* Inside fn: wait until every thread of the pool has reached this point. */
void em_pool_barrier(em_pool *pool);

/* Split n items into nth near-equal contiguous ranges: [*i0, *i1) for thread ith. */
static inline void em_pool_range(long long n, int ith, int nth, long long *i0, long long *i1) {
    long long per = (n + nth - 1) / nth;
    long long a = per * ith, b = a + per;
    *i0 = a < n ? a : n;
    *i1 = b < n ? b : n;
}

#endif
