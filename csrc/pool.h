/* A fixed set of threads that run the tasks of one job at a time: the
 * threads of one fit (or one inference call), made when it starts and
 * joined when it ends.
 *
 * fm_pool_run(pool, n, fn, ctx) calls fn(ctx, i) once for each i in
 * [0, n), on the pool's threads and on the calling thread, and returns when
 * every call has returned. Which thread runs which task is not fixed, so a
 * task must compute the same thing whichever thread runs it: tasks write
 * disjoint outputs, and whatever is summed over tasks is summed by the
 * caller afterwards, in task order. That is what makes results independent
 * of the thread count. A NULL pool (or a pool of one thread) runs the tasks
 * in order on the calling thread.
 *
 * Between jobs the threads spin for a short while (a training step's jobs
 * follow each other within microseconds), then sleep on a condition
 * variable, so an idle pool costs nothing. One job at a time per pool:
 * fm_pool_run is not reentrant, and a task never calls it. */
#ifndef FASTMLP_POOL_H
#define FASTMLP_POOL_H

#include <stddef.h>

typedef struct fm_pool fm_pool;
typedef void (*fm_task_fn)(void *ctx, ptrdiff_t task);
/* Called once on each new thread before it takes any task (for example a
 * threading runtime's "one thread per call" setting, which is per thread). */
typedef void (*fm_thread_init_fn)(int arg);

/* A pool of n_threads threads in all, the caller's included (n_threads - 1
 * are started); NULL when a thread could not be started (none are left). */
fm_pool *fm_pool_new(int n_threads, fm_thread_init_fn init, int init_arg);
/* Stops and joins the threads; NULL is ignored. */
void fm_pool_free(fm_pool *pool);
int fm_pool_threads(const fm_pool *pool);
void fm_pool_run(fm_pool *pool, ptrdiff_t n_tasks, fm_task_fn fn, void *ctx);
/* Jobs run since the pool was made (tests: a pass did or did not use it). */
long fm_pool_jobs(const fm_pool *pool);

/* Every pool starts with its run function, so that code compiled into a
 * module that does not link pool.c (the kernels' headers are compiled into
 * each module that includes them) runs tasks on a pool it is handed
 * through fm_pool_dispatch, by the pointer, with no symbol of pool.c. */
typedef void (*fm_run_fn)(fm_pool *pool, ptrdiff_t n_tasks, fm_task_fn fn, void *ctx);
typedef struct {
    fm_run_fn run;
} fm_pool_head;

static inline void fm_pool_dispatch(void *pool, ptrdiff_t n_tasks, fm_task_fn fn, void *ctx)
{
    ptrdiff_t i;
    if (pool == NULL) {
        for (i = 0; i < n_tasks; i++) fn(ctx, i);
        return;
    }
    ((const fm_pool_head *)pool)->run((fm_pool *)pool, n_tasks, fn, ctx);
}

#endif
