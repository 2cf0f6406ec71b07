/* Which shards each rank and loader worker reads in an epoch, and where a resumed run picks up.
 * The shard order is a permutation drawn from (seed, epoch), the same on every rank; shards are
 * dealt in that order to the rank, then the worker, holding the fewest known samples so far. Batch
 * b of a rank comes from worker b mod W (its (b div W)-th batch), so every rank can compute from the
 * known sample counts alone how many batches all ranks can make: that count, the same everywhere,
 * is the epoch's length, and no rank waits on another that ran dry. */
#ifndef BCOS_SHARD_PLAN_H
#define BCOS_SHARD_PLAN_H

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

/* Where one worker stands: the shard of its list it reads, the index of the next sample of that
 * shard to read, and how many times it has started over because its shards gave fewer samples than
 * known. */
typedef struct {
    int shard_pos;
    long sample_index;
    long pass;
} bcos_worker_cursor;

/* The data position of a rank, enough to resume exactly: committed with each checkpoint. */
typedef struct {
    uint64_t epoch;
    long batches_done; /* of this epoch */
    int rank, n_ranks, n_workers;
    bcos_worker_cursor workers[BCOS_MAX_WORKERS];
} bcos_data_cursor;

/* The cursor at the start of the plan's epoch. */
void bcos_data_cursor_start(bcos_data_cursor *cursor, const bcos_epoch_plan *plan);
/* One-line text "bcos-cursor 1 epoch E batches B rank R of N workers W pos,index,pass ..."
 * (versioned); returns the length, or -1 when buf is too small. */
int bcos_data_cursor_format(const bcos_data_cursor *cursor, char *buf, size_t size);
/* Parses that text. Returns 0, or -1 with a message naming the culprit. */
int bcos_data_cursor_parse(bcos_data_cursor *cursor, const char *text, char *err, size_t errlen);
/* Whether the cursor fits the plan (same epoch, rank, ranks, workers, positions within the lists);
 * a cursor from a run of another shape cannot resume this one exactly. 0, or -1 with a message. */
int bcos_data_cursor_check(const bcos_data_cursor *cursor, const bcos_epoch_plan *plan, char *err, size_t errlen);

#endif
