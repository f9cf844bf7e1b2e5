# The threads of a call (csrc/pool.h) and the fixed blocks its passes are
# cut into. A pass over a matrix or a buffer is cut into blocks from its
# shape alone (split_for), never from the thread count, and each block is
# one task: the same blocks compute the same values whichever thread runs
# them, and what is summed over blocks is summed afterwards in block order.
# So one thread and any number of threads give the same bits. A pass too
# small to pay for a task is one block: run as it always was.

cdef extern from "pool.h" nogil:
    ctypedef struct fm_pool:
        pass
    ctypedef void (*fm_task_fn)(void* ctx, Py_ssize_t task) noexcept nogil
    ctypedef void (*fm_thread_init_fn)(int arg) noexcept nogil
    fm_pool* fm_pool_new(int n_threads, fm_thread_init_fn init, int init_arg)
    void fm_pool_free(fm_pool* pool)
    int fm_pool_threads(const fm_pool* pool)
    void fm_pool_run(fm_pool* pool, Py_ssize_t n_tasks, fm_task_fn fn, void* ctx)
    long fm_pool_jobs(const fm_pool* pool)
    void fm_pool_dispatch(void* pool, Py_ssize_t n_tasks, fm_task_fn fn, void* ctx)


cdef enum:
    # At most this many blocks per pass: enough to balance 2-16 threads
    # within a block each, few enough that one thread pays little for the
    # extra calls (benchmarks/threads.py measures both).
    MAX_BLOCKS = 16


cdef struct Split:
    # [0, n) cut into `count` blocks of `size` (the last one shorter).
    Py_ssize_t n
    Py_ssize_t size
    Py_ssize_t count


cdef inline Split split_for(Py_ssize_t n, Py_ssize_t min_size, Py_ssize_t max_count,
                            Py_ssize_t align) noexcept nogil:
    """n cut into at most max_count blocks of at least min_size (one block
    when n is smaller), each a multiple of align but the last."""
    cdef Split s
    cdef Py_ssize_t count = n // min_size if min_size > 0 else 1
    count = max(1, min(count, max_count, MAX_BLOCKS))
    s.n = n
    s.size = (n + count - 1) // count
    s.size = (s.size + align - 1) // align * align
    if s.size < 1:
        s.size = 1
    s.count = (n + s.size - 1) // s.size if n > 0 else 1
    return s


cdef inline Py_ssize_t block_start(const Split* s, Py_ssize_t i) noexcept nogil:
    return i * s.size


cdef inline Py_ssize_t block_length(const Split* s, Py_ssize_t i) noexcept nogil:
    return max(0, min(s.size, s.n - i * s.size))


cdef inline void run_blocks(void* pool, Py_ssize_t count, fm_task_fn fn,
                            void* ctx) noexcept nogil:
    """fn(ctx, i) for every block i, on the pool's threads (NULL: in order
    on this one)."""
    fm_pool_dispatch(pool, count, fn, ctx)
