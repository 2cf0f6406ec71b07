/* The CPU kernels' thread pool (parallel.h): openblas_get_num_threads() - 1 workers, started at the
 * first parallel loop, sleeping on a condition variable between loops. A loop posts its function,
 * bumps the generation number and wakes them; worker i takes the (i+1)-th range, the caller the
 * first, and the caller waits until every worker has reported its range done. A child of fork()
 * runs its loops alone. */
#include <cblas.h>
#include <pthread.h>

#include "bcos/check.h"
#include "parallel.h"

#define MAX_THREADS 256

static struct {
    pthread_once_t once;
    pthread_mutex_t busy; /* held by the thread running a loop on the pool */
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    int threads;               /* the caller and the workers */
    unsigned long generation;  /* bumped for each loop */
    int pending;               /* workers yet to finish the current loop */
    cpu_range_fn fn;
    void *ctx;
    size_t n;
} pool = {.once = PTHREAD_ONCE_INIT,
          .busy = PTHREAD_MUTEX_INITIALIZER,
          .lock = PTHREAD_MUTEX_INITIALIZER,
          .start = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER};

static _Thread_local int inside_range;

/* The part of [0, n) that thread i of T does. */
static void run_range(int i, int T, cpu_range_fn fn, void *ctx, size_t n) {
    size_t begin = n * (size_t)i / (size_t)T, end = n * (size_t)(i + 1) / (size_t)T;
    inside_range = 1;
    if (begin < end) fn(ctx, begin, end);
    inside_range = 0;
}

static void *worker(void *arg) {
    int index = (int)(size_t)arg;
    unsigned long seen = 0;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.generation == seen) pthread_cond_wait(&pool.start, &pool.lock);
        seen = pool.generation;
        cpu_range_fn fn = pool.fn;
        void *ctx = pool.ctx;
        size_t n = pool.n;
        pthread_mutex_unlock(&pool.lock);
        run_range(index, pool.threads, fn, ctx, n);
        pthread_mutex_lock(&pool.lock);
        if (--pool.pending == 0) pthread_cond_signal(&pool.done);
    }
    return NULL;
}

/* A child of fork() has none of the workers: it runs its loops alone. */
static void pool_after_fork_in_child(void) {
    pthread_mutex_init(&pool.busy, NULL);
    pthread_mutex_init(&pool.lock, NULL);
    pool.threads = 1;
}

static void start_pool(void) {
    BCOS_CHECK(pthread_atfork(NULL, NULL, pool_after_fork_in_child) == 0, "out of memory for a fork handler");
    int threads = openblas_get_num_threads();
    pool.threads = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : threads;
    for (int i = 1; i < pool.threads; i++) {
        pthread_t t;
        BCOS_CHECK(pthread_create(&t, NULL, worker, (void *)(size_t)i) == 0, "out of resources for a thread");
        pthread_detach(t);
    }
}

void cpu_parallel_for_gemms(size_t n, cpu_range_fn fn, void *ctx) {
    pthread_once(&pool.once, start_pool); /* before OpenBLAS's count drops: the pool is sized by it */
    if (pool.threads < 2 || n < (size_t)pool.threads || inside_range) {
        if (n) fn(ctx, 0, n);
        return;
    }
    openblas_set_num_threads(1);
    cpu_parallel_for(n, 1, fn, ctx);
    openblas_set_num_threads(pool.threads);
}

void cpu_parallel_for(size_t n, size_t grain, cpu_range_fn fn, void *ctx) {
    pthread_once(&pool.once, start_pool);
    if (pool.threads < 2 || n < 2 * grain || inside_range || pthread_mutex_trylock(&pool.busy) != 0) {
        if (n) fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.pending = pool.threads - 1;
    pool.generation++;
    pthread_cond_broadcast(&pool.start);
    pthread_mutex_unlock(&pool.lock);
    run_range(0, pool.threads, fn, ctx, n);
    pthread_mutex_lock(&pool.lock);
    while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.busy);
}
