#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FM_RELAX() _mm_pause()
#else
#define FM_RELAX() ((void)0)
#endif

/* Spins of an idle worker before it sleeps: tens of microseconds, about
 * the gaps between the jobs of one step. A sleeping worker costs a job
 * nothing but its share: the caller never waits for a worker that has
 * not taken a task. */
#define FM_SPIN_BEFORE_SLEEP 4000
/* Spins of the caller waiting for a task another thread is running before
 * it yields its core (that thread may have been preempted on a busy
 * machine). */
#define FM_SPIN_BEFORE_YIELD 2000

/* A job's ticket: its number, its task count and the next task to take, in
 * one word that a task is taken from by compare-and-swap. A thread that
 * takes task i of job g knows job g is still running (task i is not done),
 * so the job's fn and ctx are still the ones it reads; a thread holding a
 * stale ticket fails its swap and reads nothing. */
#define TICKET(job, n, next) (((uint64_t)(job) << 32) | ((uint64_t)(n) << 16) | (uint64_t)(next))
#define TICKET_JOB(t) ((uint32_t)((t) >> 32))
#define TICKET_TASKS(t) ((unsigned)(((t) >> 16) & 0xffff))
#define TICKET_NEXT(t) ((unsigned)((t) & 0xffff))
#define MAX_TASKS 0xffff

struct fm_pool {
    fm_pool_head head;         /* first: see fm_pool_dispatch */
    int n_threads;
    pthread_t *threads;
    fm_thread_init_fn init;
    int init_arg;
    fm_task_fn fn;             /* the current job's, written before its ticket */
    void *ctx;
    _Atomic uint64_t ticket;
    atomic_long done;          /* tasks of the current job finished */
    atomic_int sleepers;       /* workers asleep (or going to sleep) on wake */
    atomic_int stop;
    uint32_t job;              /* the caller's count of jobs published */
    pthread_mutex_t lock;
    pthread_cond_t wake;
};

/* Take and run tasks of job `job` until none is left; returns how many. */
static long run_tasks(fm_pool *p, uint32_t job)
{
    long ran = 0;
    uint64_t t = atomic_load_explicit(&p->ticket, memory_order_acquire);
    for (;;) {
        if (TICKET_JOB(t) != job || TICKET_NEXT(t) >= TICKET_TASKS(t)) return ran;
        if (atomic_compare_exchange_weak_explicit(&p->ticket, &t, t + 1,
                                                  memory_order_acq_rel,
                                                  memory_order_acquire)) {
            p->fn(p->ctx, (ptrdiff_t)TICKET_NEXT(t));
            atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
            ran++;
            t = atomic_load_explicit(&p->ticket, memory_order_acquire);
        }
    }
}

/* The number of the next job with a task left, after `seen`. */
static uint32_t wait_for_job(fm_pool *p, uint32_t seen)
{
    uint64_t t;
    int spin;
    for (spin = 0; spin < FM_SPIN_BEFORE_SLEEP; spin++) {
        t = atomic_load_explicit(&p->ticket, memory_order_acquire);
        if (TICKET_JOB(t) != seen || atomic_load_explicit(&p->stop, memory_order_relaxed))
            return TICKET_JOB(t);
        FM_RELAX();
    }
    pthread_mutex_lock(&p->lock);
    /* Counted before the ticket is read again: a caller that misses this
     * count has already published, and the read below sees it. */
    atomic_fetch_add(&p->sleepers, 1);
    while (TICKET_JOB(t = atomic_load(&p->ticket)) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->wake, &p->lock);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->lock);
    return TICKET_JOB(t);
}

static void *worker(void *arg)
{
    fm_pool *p = (fm_pool *)arg;
    uint32_t seen = 0;
    if (p->init != NULL) p->init(p->init_arg);
    for (;;) {
        seen = wait_for_job(p, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        run_tasks(p, seen);
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
    atomic_init(&p->ticket, TICKET(0, 0, 0));
    atomic_init(&p->done, 0);
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

long fm_pool_jobs(const fm_pool *p) { return p == NULL ? 0 : (long)p->job; }

void fm_pool_run(fm_pool *p, ptrdiff_t n_tasks, fm_task_fn fn, void *ctx)
{
    ptrdiff_t i;
    int spin = 0;
    if (p == NULL || p->n_threads == 1 || n_tasks <= 1 || n_tasks > MAX_TASKS) {
        for (i = 0; i < n_tasks; i++) fn(ctx, i);
        return;
    }
    p->job++;
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store(&p->ticket, TICKET(p->job, n_tasks, 0));
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    run_tasks(p, p->job);
    /* Only tasks taken by others are waited for, never an idle worker. */
    while (atomic_load_explicit(&p->done, memory_order_acquire) < (long)n_tasks) {
        if (++spin >= FM_SPIN_BEFORE_YIELD) {
            sched_yield();
            spin = 0;
        }
        FM_RELAX();
    }
}
