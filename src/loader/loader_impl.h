/* Internal to src/loader: the plan's and cursor's helpers that only the loader calls (tests include this
 * header by path), and the epoch loader's shared state: the consumer side (loader.c) and the worker
 * threads (loader_worker.c) meet at each worker's queue of ready batches and its list of free ones. */
#ifndef BCOS_LOADER_IMPL_H
#define BCOS_LOADER_IMPL_H

#include "bcos/loader.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Whether the piece reads the sample of that index. */
bool bcos_shard_piece_has(const bcos_shard_piece *piece, long index);
/* Known samples the piece reads, from its shard's known count. */
long bcos_shard_piece_samples(const bcos_shard_piece *piece, long shard_samples);

/* The whole epoch (seed, epoch) of n_shards shards as a rest (to free with bcos_epoch_rest_free). */
void bcos_epoch_rest_whole(bcos_epoch_rest *rest, int n_shards, uint64_t seed, uint64_t epoch);

/* -1, 0 or 1 as a comes before, with or after b in stream order. */
int bcos_stream_pos_compare(bcos_stream_pos a, bcos_stream_pos b);

/* The cursor at the start of the plan's epoch for a loader with this shuffle buffer size and window:
 * with a buffer, each worker's generator is seeded from (seed, epoch, rank, worker). Owns nothing. */
void bcos_data_cursor_start(bcos_data_cursor *cursor, const bcos_epoch_plan *plan, long shuffle, long window);

/* Whether the cursor fits the plan and the loader's shuffle buffer (same epoch, rank, ranks,
 * workers, buffer size and window, positions within the lists); a cursor from a run of another
 * shape cannot resume this one exactly, and is refused: the caller re-partitions what is left of its
 * epoch instead (bcos_epoch_rest_from_cursors with all the old ranks' cursors). 0, or -1 with a
 * message. */
int bcos_data_cursor_check(const bcos_data_cursor *cursor, const bcos_epoch_plan *plan, long shuffle, long window,
                           char *err, size_t errlen);

/* A sample in a shuffle buffer: where it was read, the worker's read count then, and its outputs
 * (the payload in the buffer's slot). */
typedef struct {
    bcos_stream_pos pos;
    long read;
    int label;
    bcos_sample_origin origin;
    long slot;
} shuffle_entry;

/* A worker's shuffle buffer: up to capacity samples in the order they were read (so that a resume,
 * re-reading them in stream order, rebuilds the same order), payloads in slots that do not move. */
typedef struct {
    long capacity, window;
    size_t sample_bytes;
    uint8_t *payloads; /* capacity x sample_bytes */
    shuffle_entry *entries;
    long n;
    long *free_slots; /* a stack */
    long n_free;
    bcos_rng rng;
} shuffle_buffer;

void shuffle_init(shuffle_buffer *b, long capacity, long window, size_t sample_bytes, const bcos_rng *rng);
void shuffle_free(shuffle_buffer *b);
/* Where the next sample's payload goes; b must have room. */
void *shuffle_payload(const shuffle_buffer *b);
/* Holds the sample just written at shuffle_payload. */
void shuffle_add(shuffle_buffer *b, bcos_stream_pos pos, long read, int label, bcos_sample_origin origin);
/* Hands out one held sample (b must hold one) and forgets it: the oldest when it was read window or
 * more reads before `reads`, else one drawn uniformly. */
void shuffle_emit(shuffle_buffer *b, long reads, void *out, int *label, bcos_sample_origin *origin);
/* The generator and held positions into c, whose held array has room for the capacity. */
void shuffle_save(const shuffle_buffer *b, bcos_worker_cursor *c);

/* A shard a worker lost: its piece's known samples not read (-1: not known). */
typedef struct {
    int shard;
    long samples;
} shard_loss;

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
    shard_loss *losses; /* as they happen */
    long n_losses;

    /* Owned by the worker thread alone. */
    bcos_stream_pos pos;  /* of the next sample to read */
    long reads;           /* samples read (a count for the shuffle window: relative after a resume) */
    long taken;           /* accepted samples read in the epoch: emitted or held */
    shuffle_buffer shuffle;
    long turns_done;
    bcos_sample_reader *reader;
    bool pass_from_start; /* the current pass began at the first sample of the first shard */
    bool restoring;       /* re-reading held samples: what ends then was counted by the run that read it */
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
    bcos_data_cursor start;  /* where the workers began (read-only while they run) */
    bcos_data_cursor cursor; /* after the released batches; held arrays sized for the buffer */
    char error[1024];
};

/* The worker thread's body. */
void *loader_worker_main(void *arg);
/* Batches of the epoch's first n that come from worker w of n_workers (b mod W == w). */
long loader_turns(long n, int w, int n_workers);

#endif
