/* threadpool.c - see threadpool.h for the workload this is shaped by.
 *
 * Dispatch: the owner stores (fn, arg), bumps `gen`, and wakes sleepers.
 * Workers spin on `gen` (with a pause) for SPIN_ROUNDS before sleeping on the
 * condition variable, so back-to-back sections cost no syscall. The barrier is
 * a counter plus a phase that flips when the last thread arrives.
 *
 * Joining: before running fn a worker increments the joined count in `join`,
 * which also holds the generation it belongs to and a closed flag. em_pool_run
 * never closes it (every worker joins); em_pool_run_dynamic closes it once the
 * caller's own fn returns, and then waits only for the workers that joined.
 * A worker that finds the run closed (or already replaced by the next one)
 * skips it without touching fn or arg, which may be gone by then.
 *
 * Layout: the words each side polls sit on their own cache lines, so that
 * workers polling `gen` are not disturbed by finish counts and barrier
 * arrivals, and vice versa. */
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "status.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_ROUNDS (1 << 16)
/* Pauses before a waiting thread starts yielding its core: when there are
 * more threads than free cores (or another process is busy), pure spinning
 * starves exactly the thread being waited for. */
#define SPIN_BEFORE_YIELD 2048

static inline void spin_wait(int *spins) {
    if (++*spins < SPIN_BEFORE_YIELD) cpu_relax();
    else sched_yield();
}

#define JOIN_CLOSED ((uint64_t)1 << 31)
#define JOIN_COUNT (JOIN_CLOSED - 1)

struct em_pool {
    int n;
    pthread_t *threads;
    struct worker_arg *wargs;

    em_pool_fn fn;
    void *arg;
    _Atomic int stop;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic int n_sleeping;

    /* written by the owner once per run, polled by the workers; join shares
     * gen's line because a worker reads it right after seeing gen change */
    alignas(64) _Atomic unsigned gen;
    /* (generation << 32) | JOIN_CLOSED if closed | workers joined */
    _Atomic uint64_t join;
    /* workers finished with the current gen, polled by the owner */
    alignas(64) _Atomic int n_done;
    /* em_pool_barrier: arrivals, and the phase the waiters poll */
    alignas(64) _Atomic int bar_count;
    alignas(64) _Atomic unsigned bar_phase;
};

struct worker_arg {
    em_pool *pool;
    int ith;
};

void em_pool_barrier(em_pool *p) {
    if (p->n == 1) return;
    unsigned phase = atomic_load_explicit(&p->bar_phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->bar_count, 1, memory_order_acq_rel) == p->n - 1) {
        atomic_store_explicit(&p->bar_count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->bar_phase, 1, memory_order_release);
        return;
    }
    int spins = 0;
    while (atomic_load_explicit(&p->bar_phase, memory_order_acquire) == phase) spin_wait(&spins);
}

/* Count this worker into run g; 0 if g is closed or already over. */
static int join_run(em_pool *p, unsigned g) {
    uint64_t w = atomic_load_explicit(&p->join, memory_order_acquire);
    for (;;) {
        if ((unsigned)(w >> 32) != g || (w & JOIN_CLOSED)) return 0;
        if (atomic_compare_exchange_weak_explicit(&p->join, &w, w + 1, memory_order_acq_rel,
                                                  memory_order_acquire))
            return 1;
    }
}

static void *worker_main(void *varg) {
    struct worker_arg *wa = varg;
    em_pool *p = wa->pool;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->stop, memory_order_acquire)) {
            if (spins < SPIN_ROUNDS) { spin_wait(&spins); continue; }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->n_sleeping, 1);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->n_sleeping, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        seen = g;
        if (!join_run(p, g)) continue;
        p->fn(p->arg, wa->ith, p->n);
        atomic_fetch_add_explicit(&p->n_done, 1, memory_order_acq_rel);
    }
    return NULL;
}

em_pool *em_pool_create(int n_threads, char *err) {
    if (n_threads < 1 || n_threads > 1024) {
        em_err(err, EM_ERR_ARG, "em_pool_create: %d threads asked for; expected 1..1024", n_threads);
        return NULL;
    }
    /* aligned: the struct's atomics are on cache lines of their own */
    em_pool *p = aligned_alloc(alignof(em_pool), sizeof *p);
    if (!p) { em_err(err, EM_ERR_NOMEM, "em_pool_create: out of memory"); return NULL; }
    memset(p, 0, sizeof *p);
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (n_threads == 1) return p;
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    p->wargs = calloc((size_t)n_threads, sizeof *p->wargs);
    if (!p->threads || !p->wargs) {
        em_err(err, EM_ERR_NOMEM, "em_pool_create: out of memory");
        goto fail;
    }
    for (int i = 1; i < n_threads; i++) {
        p->wargs[i] = (struct worker_arg){p, i};
        int rc = pthread_create(&p->threads[i], NULL, worker_main, &p->wargs[i]);
        if (rc) {
            em_err(err, EM_ERR_INTERNAL, "em_pool_create: pthread_create: %s", strerror(rc));
            p->n = i; /* join the ones started */
            goto fail;
        }
    }
    return p;
fail:
    em_pool_free(p);
    return NULL;
}

void em_pool_free(em_pool *p) {
    if (!p) return;
    if (p->threads) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->stop, 1);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p->wargs);
    free(p);
}

int em_pool_size(const em_pool *p) { return p->n; }

/* Publish (fn, arg) as a new generation and wake sleepers. */
static void start_run(em_pool *p, em_pool_fn fn, void *arg) {
    p->fn = fn;
    p->arg = arg;
    unsigned g = atomic_load_explicit(&p->gen, memory_order_relaxed) + 1;
    atomic_store_explicit(&p->n_done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->join, (uint64_t)g << 32, memory_order_relaxed);
    /* seq_cst, as are the sleeper's n_sleeping increment and its re-check of
     * gen: either it sees the new gen or we see it asleep and wake it */
    atomic_store_explicit(&p->gen, g, memory_order_seq_cst);
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static void wait_done(em_pool *p, int n_workers) {
    int spins = 0;
    while (atomic_load_explicit(&p->n_done, memory_order_acquire) != n_workers) spin_wait(&spins);
}

void em_pool_run(em_pool *p, em_pool_fn fn, void *arg) {
    if (p->n == 1) { fn(arg, 0, 1); return; }
    start_run(p, fn, arg);
    fn(arg, 0, p->n);
    wait_done(p, p->n - 1);
}

void em_pool_run_dynamic(em_pool *p, em_pool_fn fn, void *arg) {
    if (p->n == 1) { fn(arg, 0, 1); return; }
    start_run(p, fn, arg);
    fn(arg, 0, p->n);
    uint64_t w = atomic_fetch_or_explicit(&p->join, JOIN_CLOSED, memory_order_acq_rel);
    wait_done(p, (int)(w & JOIN_COUNT));
}
