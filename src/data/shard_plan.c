/* Epoch planning: the (seed, epoch) shard permutation, greedy dealing of shards to ranks and then
 * to workers by known sample counts, and the epoch length every rank agrees on. A rank's batch b
 * comes from worker b mod W, so worker w can supply n batches' worth of turns only while
 * n <= W * k_w + w, where k_w is its whole batches; the rank's length is the least such n over its
 * workers, and the epoch's the least over the ranks. */
#include "bcos/shard_plan.h"

#include "bcos/check.h"
#include "bcos/rng.h"
#include "data_error.h"

#include <stdlib.h>
#include <string.h>

void bcos_shard_permutation(int *perm, int n, uint64_t seed, uint64_t epoch) {
    bcos_rng rng;
    bcos_rng_seed_stream(&rng, seed, epoch);
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)bcos_rng_below(&rng, (uint64_t)i + 1);
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* Gives each of the n items (shard indices, in order) to the bin holding the fewest samples so far,
 * the lowest bin on ties; bin_of[i] receives item i's bin. */
static void deal(const int *items, int n, const long *shard_samples, int n_bins, int *bin_of) {
    long *load = xcalloc((size_t)n_bins, sizeof *load);
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int b = 1; b < n_bins; b++)
            if (load[b] < load[best]) best = b;
        bin_of[i] = best;
        load[best] += shard_samples[items[i]];
    }
    free(load);
}

/* Deals a rank's shards (in reading order) to its workers and returns the batches the rank can
 * make; fills plan's workers when plan is not NULL. */
static long plan_rank(const int *shards, int n, const long *shard_samples, int n_workers, long batch_size,
                      bcos_epoch_plan *plan) {
    int workers = n < n_workers ? n : n_workers;
    int *worker_of = xmalloc((size_t)n * sizeof *worker_of);
    deal(shards, n, shard_samples, workers, worker_of);
    long length = -1;
    for (int w = 0; w < workers; w++) {
        long samples = 0;
        int count = 0;
        for (int i = 0; i < n; i++)
            if (worker_of[i] == w) {
                samples += shard_samples[shards[i]];
                count++;
            }
        long turns = workers * (samples / batch_size) + w;
        if (length < 0 || turns < length) length = turns;
        if (!plan) continue;
        bcos_worker_plan *wp = &plan->workers[w];
        wp->shards = xmalloc((size_t)(count ? count : 1) * sizeof *wp->shards);
        wp->samples = samples;
        for (int i = 0; i < n; i++)
            if (worker_of[i] == w) wp->shards[wp->n_shards++] = shards[i];
    }
    if (plan) plan->n_workers = workers;
    free(worker_of);
    return length;
}

static int check_arguments(const long *shard_samples, int n_shards, int rank, int n_ranks, int n_workers,
                           long batch_size, char *err, size_t errlen) {
    if (n_ranks < 1 || rank < 0 || rank >= n_ranks) return data_error(err, errlen, NULL, "rank %d of %d", rank, n_ranks);
    if (n_workers < 1 || n_workers > BCOS_MAX_WORKERS)
        return data_error(err, errlen, NULL, "%d loader workers (1 to %d)", n_workers, BCOS_MAX_WORKERS);
    if (batch_size < 1) return data_error(err, errlen, NULL, "batch size %ld", batch_size);
    if (n_shards < n_ranks * n_workers)
        return data_error(err, errlen, NULL,
                          "%d shards cannot feed %d ranks x %d loader workers: every worker needs a shard (use fewer "
                          "workers, or more, smaller shards: bcos shards write --max-samples)",
                          n_shards, n_ranks, n_workers);
    for (int i = 0; i < n_shards; i++)
        if (shard_samples[i] < 1) return data_error(err, errlen, NULL, "shard %d has %ld known samples", i, shard_samples[i]);
    return 0;
}

int bcos_epoch_plan_make(bcos_epoch_plan *plan, const long *shard_samples, int n_shards, uint64_t seed,
                         uint64_t epoch, int rank, int n_ranks, int n_workers, long batch_size, char *err,
                         size_t errlen) {
    memset(plan, 0, sizeof *plan);
    if (check_arguments(shard_samples, n_shards, rank, n_ranks, n_workers, batch_size, err, errlen)) return -1;
    int *perm = xmalloc((size_t)n_shards * sizeof *perm);
    int *rank_of = xmalloc((size_t)n_shards * sizeof *rank_of);
    int *mine = xmalloc((size_t)n_shards * sizeof *mine);
    bcos_shard_permutation(perm, n_shards, seed, epoch);
    deal(perm, n_shards, shard_samples, n_ranks, rank_of);
    long length = -1;
    int short_rank = 0;
    for (int r = 0; r < n_ranks; r++) {
        int n = 0;
        for (int i = 0; i < n_shards; i++)
            if (rank_of[i] == r) mine[n++] = perm[i];
        long rank_length = plan_rank(mine, n, shard_samples, n_workers, batch_size, r == rank ? plan : NULL);
        if (length < 0 || rank_length < length) {
            length = rank_length;
            short_rank = r;
        }
    }
    free(perm);
    free(rank_of);
    free(mine);
    plan->seed = seed;
    plan->epoch = epoch;
    plan->rank = rank;
    plan->n_ranks = n_ranks;
    plan->batch_size = batch_size;
    plan->n_batches = length;
    for (int w = 0; w < plan->n_workers; w++)
        plan->workers[w].batches = length > w ? (length - w + plan->n_workers - 1) / plan->n_workers : 0;
    if (length > 0) return 0;
    bcos_epoch_plan_free(plan);
    return data_error(err, errlen, NULL, "rank %d of %d gets too few samples for one batch of %ld (use smaller batches or fewer "
                "ranks or workers)", short_rank, n_ranks, batch_size);
}

void bcos_epoch_plan_free(bcos_epoch_plan *plan) {
    for (int w = 0; w < plan->n_workers; w++) free(plan->workers[w].shards);
    memset(plan, 0, sizeof *plan);
}
