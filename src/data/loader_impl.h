/* The epoch loader's shared state: the consumer side (loader.c) and the worker threads
 * (loader_worker.c) meet at each worker's queue of ready batches and its list of free ones. */
#ifndef BCOS_LOADER_IMPL_H
#define BCOS_LOADER_IMPL_H

#include "bcos/loader.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* A batch buffer and where its worker stood after filling it. */
typedef struct {
    bcos_batch batch; /* first: a bcos_batch * is its slot's address */
    int worker;
    bcos_worker_cursor end;
} loader_slot;

typedef struct {
    struct bcos_loader *loader;
    int id;
    const bcos_worker_plan *plan;
    pthread_t thread;

    pthread_mutex_t lock; /* guards the queues, the published counters and the end state */
    pthread_cond_t changed;
    loader_slot *slots;
    int n_slots;
    int *ready; /* FIFO of slot indices */
    int ready_head, ready_count;
    int *free_slots;
    int free_count;
    bool finished; /* the thread has returned (failed or not) */
    bool failed;
    char error[1024];
    bcos_loader_counters published;

    /* Owned by the worker thread alone. */
    bcos_worker_cursor pos;
    long turns_done;
    bcos_sample_reader *reader;
    bool pass_from_start; /* the current pass began at the first sample of the first shard */
    long pass_used;
    int skips_logged;
    bcos_loader_counters counters;
} loader_worker;

struct bcos_loader {
    bcos_loader_config cfg;
    atomic_bool stopping;
    int n_workers;
    loader_worker workers[BCOS_MAX_WORKERS];
    long next_batch;
    bcos_data_cursor cursor;
    char error[1024];
};

/* The worker thread's body. */
void *loader_worker_main(void *arg);
/* Batches of the epoch's first n that come from worker w of n_workers (b mod W == w). */
long loader_turns(long n, int w, int n_workers);

#endif
