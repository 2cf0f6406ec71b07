/* Which shards each rank and loader worker reads in an epoch, and where a resumed run picks up.
 * The shard order is a permutation drawn from (seed, epoch), the same on every rank; shards are
 * dealt in that order to the rank, then the worker, holding the fewest known samples so far. Batch
 * b of a rank comes from worker b mod W (its (b div W)-th batch), so every rank can compute from the
 * known sample counts alone how many batches all ranks can make: that count, the same everywhere,
 * is the epoch's length, and no rank waits on another that ran dry. */
#ifndef BCOS_SHARD_PLAN_H
#define BCOS_SHARD_PLAN_H

#include "bcos/rng.h"

#include <stddef.h>
#include <stdint.h>

#define BCOS_MAX_WORKERS 64

typedef struct {
    int n_shards;
    int *shards;   /* indices into the URL list, in reading order */
    long samples;  /* known samples in them */
    long batches;  /* batches this worker supplies in the epoch */
} bcos_worker_plan;

typedef struct {
    uint64_t seed, epoch;
    int rank, n_ranks;
    int n_workers;   /* of this rank: the workers asked for, fewer when the rank has fewer shards */
    long batch_size;
    long n_batches;  /* batches of every rank in this epoch */
    bcos_worker_plan workers[BCOS_MAX_WORKERS];
} bcos_epoch_plan;

/* The permutation of 0..n-1 for (seed, epoch) (Fisher-Yates on the RNG stream (seed, epoch)). */
void bcos_shard_permutation(int *perm, int n, uint64_t seed, uint64_t epoch);

/* Plans the epoch for rank of n_ranks with n_workers loader workers, from the known sample count
 * of each shard. Returns 0, or -1 with a one-line message when the shards cannot feed every rank
 * at least one batch (fewer shards than ranks, too few samples, counts that are not positive). */
int bcos_epoch_plan_make(bcos_epoch_plan *plan, const long *shard_samples, int n_shards, uint64_t seed,
                         uint64_t epoch, int rank, int n_ranks, int n_workers, long batch_size, char *err,
                         size_t errlen);
void bcos_epoch_plan_free(bcos_epoch_plan *plan);

/* A sample's place in a worker's stream: the shard of its list, the sample's index in that shard,
 * and the pass over the list. Stream order is (pass, shard_pos, sample_index). */
typedef struct {
    int shard_pos;
    long sample_index;
    long pass;
} bcos_stream_pos;

/* -1, 0 or 1 as a comes before, with or after b in stream order. */
int bcos_stream_pos_compare(bcos_stream_pos a, bcos_stream_pos b);

/* Samples a worker's shuffle buffer may hold (bcos/loader.h). */
#define BCOS_SHUFFLE_MAX (1L << 20)

/* Where one worker stands: the next sample it reads (the pass counts how many times it has started
 * over because its shards gave fewer samples than known). With a shuffle buffer, also its generator
 * and where the samples it holds were read (oldest first, all before `next`), so that a resume
 * re-reads them: a worker's cursor text grows by one number per held sample (its distance from the
 * previous one in the same shard). */
typedef struct {
    bcos_stream_pos next;
    bcos_rng rng;
    long n_held;
    bcos_stream_pos *held;
} bcos_worker_cursor;

/* The data position of a rank, enough to resume exactly: committed with each checkpoint. */
typedef struct {
    uint64_t epoch;
    long batches_done; /* of this epoch */
    int rank, n_ranks, n_workers;
    long shuffle, window; /* the loader's shuffle buffer size and window (bcos/loader.h) */
    bcos_worker_cursor workers[BCOS_MAX_WORKERS];
} bcos_data_cursor;

/* The cursor at the start of the plan's epoch for a loader with this shuffle buffer size and window:
 * with a buffer, each worker's generator is seeded from (seed, epoch, rank, worker). Owns nothing. */
void bcos_data_cursor_start(bcos_data_cursor *cursor, const bcos_epoch_plan *plan, long shuffle, long window);
/* A deep copy of src into *dst (whatever *dst held is overwritten, not freed). */
void bcos_data_cursor_copy(bcos_data_cursor *dst, const bcos_data_cursor *src);
/* Frees the held positions a cursor owns (from copy, parse or bcos_loader_cursor) and empties them. */
void bcos_data_cursor_free(bcos_data_cursor *cursor);
/* One-line text (versioned): "bcos-cursor 2 epoch E batches B rank R of N workers W shuffle S window X"
 * and per worker "pos,index,pass", followed with a buffer by ":" and its generator's state (64 hex
 * digits), then each run of held samples of one shard as "/pos,first_index,pass" and "+gap" per
 * further sample. Returns the length, or -1 when buf is too small. */
int bcos_data_cursor_format(const bcos_data_cursor *cursor, char *buf, size_t size);
/* Parses that text into *cursor (to free with bcos_data_cursor_free). Returns 0, or -1 with a message
 * naming the culprit (and an empty cursor); cursors of version 1, from before shuffle buffers, are
 * refused with that reason. */
int bcos_data_cursor_parse(bcos_data_cursor *cursor, const char *text, char *err, size_t errlen);
/* Whether the cursor fits the plan and the loader's shuffle buffer (same epoch, rank, ranks,
 * workers, buffer size and window, positions within the lists); a cursor from a run of another
 * shape cannot resume this one exactly, and is refused rather than re-partitioned: the caller
 * starts the epoch over on the new shape. 0, or -1 with a message. */
int bcos_data_cursor_check(const bcos_data_cursor *cursor, const bcos_epoch_plan *plan, long shuffle, long window,
                           char *err, size_t errlen);

#endif
