/* threadpool.c - see threadpool.h for the workload this is shaped by.
 *
 * Dispatch: the owner stores (fn, arg), bumps `gen`, and wakes sleepers.
 * Workers spin on `gen` (with a pause) for SPIN_ROUNDS before sleeping on the
 * condition variable, so back-to-back sections cost no syscall. The barrier is
 * a counter plus a phase that flips when the last thread arrives. */
#include "threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
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

struct em_pool {
    int n;
    pthread_t *threads;
    struct worker_arg *wargs;

    em_pool_fn fn;
    void *arg;
    _Atomic unsigned gen;      /* bumped once per em_pool_run */
    _Atomic int n_done;        /* workers finished with the current gen */
    _Atomic int stop;

    _Atomic int bar_count;     /* em_pool_barrier */
    _Atomic unsigned bar_phase;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic int n_sleeping;
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
    em_pool *p = calloc(1, sizeof *p);
    if (!p) { em_err(err, EM_ERR_NOMEM, "em_pool_create: out of memory"); return NULL; }
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

void em_pool_run(em_pool *p, em_pool_fn fn, void *arg) {
    if (p->n == 1) { fn(arg, 0, 1); return; }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->n_done, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->n_done, memory_order_acquire) != p->n - 1) spin_wait(&spins);
}
