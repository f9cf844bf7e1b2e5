#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FM_RELAX() _mm_pause()
#else
#define FM_RELAX() ((void)0)
#endif

/* Spins before a worker sleeps: about 0.1-0.5 ms, longer than the gaps
 * between the jobs of one step and far shorter than a caller's pause. */
#define FM_SPIN_BEFORE_SLEEP 20000
/* Spins of the caller waiting for the last task before it yields its core,
 * in case the worker it waits for was preempted on a busy machine. */
#define FM_SPIN_BEFORE_YIELD 4000

struct fm_pool {
    fm_pool_head head;         /* first: see fm_pool_dispatch */
    int n_threads;
    pthread_t *threads;
    fm_thread_init_fn init;
    int init_arg;
    /* the current job, written before `generation` is published */
    fm_task_fn fn;
    void *ctx;
    ptrdiff_t n_tasks;
    atomic_ptrdiff_t next;     /* next task to claim */
    atomic_int pending;        /* workers that have not finished the job */
    atomic_uint generation;    /* jobs published so far */
    atomic_int sleepers;       /* workers asleep (or going to sleep) on wake */
    atomic_int stop;
    long jobs;
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

static void run_tasks(fm_pool *p)
{
    for (;;) {
        ptrdiff_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= p->n_tasks) return;
        p->fn(p->ctx, i);
    }
}

static unsigned wait_for_job(fm_pool *p, unsigned seen)
{
    unsigned g;
    int spin;
    for (spin = 0; spin < FM_SPIN_BEFORE_SLEEP; spin++) {
        g = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (g != seen || atomic_load_explicit(&p->stop, memory_order_acquire)) return g;
        FM_RELAX();
    }
    pthread_mutex_lock(&p->lock);
    /* Counted before generation is read again: a publisher that misses
     * this count has already published, and the read below sees it. */
    atomic_fetch_add(&p->sleepers, 1);
    while ((g = atomic_load(&p->generation)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->wake, &p->lock);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->lock);
    return g;
}

static void *worker(void *arg)
{
    fm_pool *p = (fm_pool *)arg;
    unsigned seen = 0;
    if (p->init != NULL) p->init(p->init_arg);
    for (;;) {
        seen = wait_for_job(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        run_tasks(p);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
}

static void stop_threads(fm_pool *p, int started)
{
    int i;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (i = 0; i < started; i++) pthread_join(p->threads[i], NULL);
}

fm_pool *fm_pool_new(int n_threads, fm_thread_init_fn init, int init_arg)
{
    fm_pool *p;
    int i;
    if (n_threads < 1) return NULL;
    p = (fm_pool *)calloc(1, sizeof(fm_pool));
    if (p == NULL) return NULL;
    p->threads = (pthread_t *)calloc((size_t)n_threads, sizeof(pthread_t));
    if (p->threads == NULL) {
        free(p);
        return NULL;
    }
    p->head.run = fm_pool_run;
    p->n_threads = n_threads;
    p->init = init;
    p->init_arg = init_arg;
    atomic_init(&p->next, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->generation, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stop, 0);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    for (i = 0; i < n_threads - 1; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
            stop_threads(p, i);
            pthread_cond_destroy(&p->wake);
            pthread_mutex_destroy(&p->lock);
            free(p->threads);
            free(p);
            return NULL;
        }
    }
    return p;
}

void fm_pool_free(fm_pool *p)
{
    if (p == NULL) return;
    stop_threads(p, p->n_threads - 1);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p->threads);
    free(p);
}

int fm_pool_threads(const fm_pool *p) { return p == NULL ? 1 : p->n_threads; }

long fm_pool_jobs(const fm_pool *p) { return p == NULL ? 0 : p->jobs; }

void fm_pool_run(fm_pool *p, ptrdiff_t n_tasks, fm_task_fn fn, void *ctx)
{
    ptrdiff_t i;
    int spin = 0;
    if (p == NULL || p->n_threads == 1 || n_tasks <= 1) {
        for (i = 0; i < n_tasks; i++) fn(ctx, i);
        return;
    }
    p->jobs++;
    p->fn = fn;
    p->ctx = ctx;
    p->n_tasks = n_tasks;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->pending, p->n_threads - 1, memory_order_relaxed);
    atomic_fetch_add(&p->generation, 1);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    run_tasks(p);
    /* Every worker checks in, even one that found no task left, so that no
     * worker still reads this job's fields when the next one is written. */
    while (atomic_load_explicit(&p->pending, memory_order_acquire) != 0) {
        if (++spin >= FM_SPIN_BEFORE_YIELD) {
            sched_yield();
            spin = 0;
        }
        FM_RELAX();
    }
}
