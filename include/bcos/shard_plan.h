/* Which shards each rank and loader worker reads in an epoch, and where a resumed run picks up.
 * The shard order is a permutation drawn from (seed, epoch), the same on every rank; shards are
 * dealt in that order to the rank, then the worker, holding the fewest known samples so far. Batch
 * b of a rank comes from worker b mod W (its (b div W)-th batch), so every rank can compute from the
 * known sample counts alone how many batches all ranks can make: that count, the same everywhere,
 * is the epoch's length, and no rank waits on another that ran dry.
 *
 * A run can also plan "the rest of an epoch" (bcos_epoch_rest): what a run on another world size
 * left unread, worked out from its ranks' cursors. The rest is a list of shard pieces in the old
 * permutation order, dealt the same way by the samples they have left, so that a run that changes
 * its world size mid-epoch finishes that epoch without repeating or dropping a sample. */
#ifndef BCOS_SHARD_PLAN_H
#define BCOS_SHARD_PLAN_H

#include "bcos/rng.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BCOS_MAX_WORKERS 64

/* `from` of a piece whose shard was read to its end: only the extra samples are left. */
#define BCOS_PIECE_END LONG_MAX

/* Which samples of a shard an epoch reads: those whose index (in the shard) is `from` or more, and
 * the n_extra listed ones below `from` (ascending). A whole shard is from 0 with no extras. */
typedef struct {
    int shard;   /* index into the URL list */
    long from;   /* or BCOS_PIECE_END */
    long n_extra;
    long *extra;
} bcos_shard_piece;

typedef struct {
    int n_shards;
    bcos_shard_piece *shards; /* in reading order; the extra lists are the plan's own */
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

/* The rest of an epoch: pieces of distinct shards in reading order (the epoch's permutation order).
 * A whole epoch is its permutation, every piece from 0 without extras. */
typedef struct {
    uint64_t epoch;
    int n;
    bcos_shard_piece *pieces;
} bcos_epoch_rest;

void bcos_epoch_rest_free(bcos_epoch_rest *rest);
/* Known samples left in the rest, whose shards are in the list (for logs: "P shards, S samples"). */
long bcos_epoch_rest_samples(const bcos_epoch_rest *rest, const long *shard_samples);

/* Plans rest->epoch from the rest alone, as bcos_epoch_plan_make plans a whole one: the pieces
 * are dealt in their order to the rank, then the worker, with the fewest known samples left, and
 * the length comes from those counts, the same on every rank. A rest with fewer pieces than ranks
 * has its largest piece split in two by sample index until every rank has one (a rest of fewer
 * samples than ranks gives the ranks left over a copy of a piece), so no rest is ever dropped. The
 * plan copies what it needs (the caller keeps the rest only to re-plan or re-partition it later). A
 * cursor taken in a rest's epoch resumes it exactly on a plan from the same rest and shape. Returns
 * 0; 1 with a message when the rest holds no known sample (the caller goes on with the next epoch);
 * -1 with a message for a bad rest or arguments (a shard out of the list or twice in it, extras out
 * of order). */
int bcos_epoch_plan_make_rest(bcos_epoch_plan *plan, const bcos_epoch_rest *rest, const long *shard_samples,
                              int n_shards, uint64_t seed, int rank, int n_ranks, int n_workers, long batch_size,
                              char *err, size_t errlen);

/* A sample's place in a worker's stream: the shard of its list, the sample's index in that shard,
 * and the pass over the list. Stream order is (pass, shard_pos, sample_index). */
typedef struct {
    int shard_pos;
    long sample_index;
    long pass;
} bcos_stream_pos;

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

/* The rest of an epoch after a run on n_old_ranks ranks stopped at these cursors (one per old rank,
 * in rank order, all of one epoch and one batch count): the epoch `was` planned (NULL: the whole
 * epoch of cursors[0].epoch from seed) less the samples consumed, i.e. read and not held in a
 * shuffle buffer (handed out in a batch, or skipped by the sample function). A worker in its first
 * pass consumed its pieces before its position's shard and that shard's samples below its position,
 * less those it holds; a worker in a later pass read all of its pieces, and only its held samples
 * of the first pass are left (those held in a later pass were handed out in the first). A piece the
 * old plan split over several ranks leaves the union of what its parts left. Pieces keep
 * their order in `was` and empty ones are dropped, so the rest of a rest composes (2 ranks -> 3 ->
 * 1). old_batch_size and the cursors' worker counts re-plan the old ranks exactly. Returns 0 (with
 * *rest to free), or -1 with a one-line message naming the cursor that does not fit. */
int bcos_epoch_rest_from_cursors(bcos_epoch_rest *rest, const bcos_epoch_rest *was, const bcos_data_cursor *cursors,
                                 int n_old_ranks, const long *shard_samples, int n_shards, uint64_t seed,
                                 long old_batch_size, char *err, size_t errlen);
/* One-line text (versioned): "bcos-rest 1 epoch E pieces N" and per piece " shard,from" (from a
 * number or "end"), followed when it has extras by "/first" and "+gap" per further one. Returns
 * the length, or -1 when buf is too small. */
int bcos_epoch_rest_format(const bcos_epoch_rest *rest, char *buf, size_t size);
/* Parses that text into *rest (to free with bcos_epoch_rest_free). Returns 0, or -1 with a message
 * naming the culprit (and an empty rest). Shard indices are checked against the list by the plan. */
int bcos_epoch_rest_parse(bcos_epoch_rest *rest, const char *text, char *err, size_t errlen);

#endif
