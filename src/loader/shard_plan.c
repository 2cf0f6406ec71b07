/* Epoch planning: greedy dealing of shard pieces (whole shards,
 * or what is left of them in the rest of an epoch) to ranks and then to workers by known sample
 * counts, and the epoch length every rank agrees on. A rank's batch b
 * comes from worker b mod W, so worker w can supply n batches' worth of turns only while
 * n <= W * k_w + w, where k_w is its whole batches; the rank's length is the least such n over its
 * workers, and the epoch's the least over the ranks. A rest with fewer pieces than ranks is first
 * split by sample index until every rank has one. */
#include "bcos/shard_plan.h"

#include "loader_impl.h"

#include "bcos/check.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Gives each of the n pieces (in order) to the bin holding the fewest known samples so far, the
 * lowest bin on ties; bin_of[i] receives piece i's bin. */
static void deal(const bcos_shard_piece *pieces, int n, const long *shard_samples, int n_bins, int *bin_of) {
    long *load = xcalloc((size_t)n_bins, sizeof *load);
    for (int i = 0; i < n; i++) {
        int best = 0;
        for (int b = 1; b < n_bins; b++)
            if (load[b] < load[best]) best = b;
        bin_of[i] = best;
        load[best] += bcos_shard_piece_samples(&pieces[i], shard_samples[pieces[i].shard]);
    }
    free(load);
}

static void copy_piece(bcos_shard_piece *dst, const bcos_shard_piece *src) {
    *dst = *src;
    dst->extra = NULL;
    if (src->n_extra == 0) return;
    size_t bytes = (size_t)src->n_extra * sizeof *src->extra;
    dst->extra = memcpy(xmalloc(bytes), src->extra, bytes);
}

/* Deals a rank's pieces (in reading order) to its workers and returns the batches the rank can
 * make, or with `whole_rest` the batches it needs to deliver every known sample (a worker that runs
 * short then pads its last batches by reading its pieces again); fills plan's workers with copies of
 * the pieces when plan is not NULL. */
static long plan_rank(const bcos_shard_piece *pieces, int n, const long *shard_samples, int n_workers,
                      long batch_size, bool whole_rest, bcos_epoch_plan *plan) {
    int workers = n < n_workers ? n : n_workers;
    int *worker_of = xmalloc((size_t)n * sizeof *worker_of);
    deal(pieces, n, shard_samples, workers, worker_of);
    long length = -1;
    for (int w = 0; w < workers; w++) {
        long samples = 0;
        int count = 0;
        for (int i = 0; i < n; i++)
            if (worker_of[i] == w) {
                samples += bcos_shard_piece_samples(&pieces[i], shard_samples[pieces[i].shard]);
                count++;
            }
        long need = (samples + batch_size - 1) / batch_size;
        long turns = whole_rest ? (need > 0 ? workers * (need - 1) + w + 1 : 0) : workers * (samples / batch_size) + w;
        if (length < 0 || (whole_rest ? turns > length : turns < length)) length = turns;
        if (!plan) continue;
        bcos_worker_plan *wp = &plan->workers[w];
        wp->shards = xmalloc((size_t)(count ? count : 1) * sizeof *wp->shards);
        wp->samples = samples;
        for (int i = 0; i < n; i++)
            if (worker_of[i] == w) copy_piece(&wp->shards[wp->n_shards++], &pieces[i]);
    }
    if (plan) plan->n_workers = workers;
    free(worker_of);
    return length;
}

static int check_arguments(const long *shard_samples, int n_shards, int rank, int n_ranks, int n_workers,
                           long batch_size, char *err, size_t errlen) {
    if (n_ranks < 1 || rank < 0 || rank >= n_ranks) return bcos_error(err, errlen, NULL, "rank %d of %d", rank, n_ranks);
    if (n_workers < 1 || n_workers > BCOS_MAX_WORKERS)
        return bcos_error(err, errlen, NULL, "%d loader workers (1 to %d)", n_workers, BCOS_MAX_WORKERS);
    if (batch_size < 1) return bcos_error(err, errlen, NULL, "batch size %ld", batch_size);
    for (int i = 0; i < n_shards; i++)
        if (shard_samples[i] < 1) return bcos_error(err, errlen, NULL, "shard %d has %ld known samples", i, shard_samples[i]);
    return 0;
}

/* Each piece names a shard of the list, none twice, with ascending extras below its start. */
static int check_rest(const bcos_epoch_rest *rest, int n_shards, char *err, size_t errlen) {
    bool *seen = xcalloc((size_t)(n_shards > 0 ? n_shards : 1), sizeof *seen);
    int rc = 0;
    for (int i = 0; i < rest->n && rc == 0; i++) {
        const bcos_shard_piece *p = &rest->pieces[i];
        if (p->shard < 0 || p->shard >= n_shards || seen[p->shard]) {
            rc = bcos_error(err, errlen, "epoch rest", "piece %d names shard %d, %s", i, p->shard,
                            p->shard < 0 || p->shard >= n_shards ? "not in the list" : "named before");
            continue;
        }
        seen[p->shard] = true;
        for (long k = 0; k < p->n_extra && rc == 0; k++)
            if (p->extra[k] < 0 || p->extra[k] >= p->from || (k > 0 && p->extra[k] <= p->extra[k - 1]))
                rc = bcos_error(err, errlen, "epoch rest", "piece %d (shard %d): extra sample %ld is out of order", i,
                                p->shard, p->extra[k]);
        if (rc == 0 && p->from < 0)
            rc = bcos_error(err, errlen, "epoch rest", "piece %d (shard %d) starts at %ld", i, p->shard, p->from);
    }
    free(seen);
    return rc;
}

/* Piece p of known samples n >= 2 as two disjoint pieces of its shard: its first n / 2 samples in
 * reading order (its extras, then from `from` on) and the others. */
static void split_piece(bcos_shard_piece *first, bcos_shard_piece *second, const bcos_shard_piece *p, long n) {
    long half = n / 2, taken = half < p->n_extra ? half : p->n_extra, ahead = half - taken;
    *first = (bcos_shard_piece){p->shard, BCOS_PIECE_END, half, xmalloc((size_t)half * sizeof *first->extra)};
    for (long k = 0; k < taken; k++) first->extra[k] = p->extra[k];
    for (long k = 0; k < ahead; k++) first->extra[taken + k] = p->from + k;
    *second = (bcos_shard_piece){p->shard, p->from + ahead, p->n_extra - taken, NULL};
    if (second->n_extra == 0) return;
    size_t bytes = (size_t)second->n_extra * sizeof *p->extra;
    second->extra = memcpy(xmalloc(bytes), p->extra + taken, bytes);
}

/* Pieces of the rest holding known samples. */
static int pieces_with_samples(const bcos_epoch_rest *rest, const long *shard_samples) {
    int n = 0;
    for (int i = 0; i < rest->n; i++)
        n += bcos_shard_piece_samples(&rest->pieces[i], shard_samples[rest->pieces[i].shard]) > 0;
    return n;
}

/* A copy of the rest that feeds n_ranks ranks: while fewer of its pieces hold known samples than
 * there are ranks, the one holding the most is split in two in its place (the same on every rank),
 * so no rank is left without samples and none of the rest is dropped. When the rest holds fewer
 * known samples than ranks, the ranks still without one read a copy of a piece (those samples are
 * delivered twice rather than a rank having nothing). */
static void feed_every_rank(bcos_epoch_rest *fed, const bcos_epoch_rest *rest, const long *shard_samples, int n_ranks) {
    int has = pieces_with_samples(rest, shard_samples), cap = rest->n + (n_ranks > has ? n_ranks - has : 0);
    fed->epoch = rest->epoch;
    fed->n = rest->n;
    fed->pieces = xmalloc((size_t)(cap > 0 ? cap : 1) * sizeof *fed->pieces);
    for (int i = 0; i < rest->n; i++) copy_piece(&fed->pieces[i], &rest->pieces[i]);
    for (; has < n_ranks; has++) {
        int big = 0;
        long most = 0;
        for (int i = 0; i < fed->n; i++) {
            long n = bcos_shard_piece_samples(&fed->pieces[i], shard_samples[fed->pieces[i].shard]);
            if (n > most) {
                big = i;
                most = n;
            }
        }
        if (most < 2) break;
        bcos_shard_piece whole = fed->pieces[big];
        memmove(&fed->pieces[big + 2], &fed->pieces[big + 1], (size_t)(fed->n - big - 1) * sizeof *fed->pieces);
        split_piece(&fed->pieces[big], &fed->pieces[big + 1], &whole, most);
        free(whole.extra);
        fed->n++;
    }
    for (int i = 0, n = fed->n; has < n_ranks && has > 0; i = (i + 1) % n)
        if (bcos_shard_piece_samples(&fed->pieces[i], shard_samples[fed->pieces[i].shard]) > 0) {
            copy_piece(&fed->pieces[fed->n++], &fed->pieces[i]);
            has++;
        }
}

/* Deals the rest to n_ranks ranks and plans each; fills plan for its rank. Returns the epoch's
 * length (the least rank's; with whole_rest the greatest, so that no sample is left), and in
 * *short_rank the least rank. */
static long plan_ranks(const bcos_epoch_rest *rest, const long *shard_samples, int n_ranks, int n_workers,
                       long batch_size, bool whole_rest, bcos_epoch_plan *plan, int *short_rank) {
    int n = rest->n;
    int *rank_of = xmalloc((size_t)(n ? n : 1) * sizeof *rank_of);
    bcos_shard_piece *mine = xmalloc((size_t)(n ? n : 1) * sizeof *mine);
    deal(rest->pieces, n, shard_samples, n_ranks, rank_of);
    long length = -1, shortest = 0;
    for (int r = 0; r < n_ranks; r++) {
        int count = 0;
        for (int i = 0; i < n; i++)
            if (rank_of[i] == r) mine[count++] = rest->pieces[i];
        long rank_length =
            plan_rank(mine, count, shard_samples, n_workers, batch_size, whole_rest, r == plan->rank ? plan : NULL);
        if (length < 0 || (whole_rest ? rank_length > length : rank_length < length)) length = rank_length;
        if (r == 0 || rank_length < shortest) {
            shortest = rank_length;
            *short_rank = r;
        }
    }
    free(rank_of);
    free(mine);
    return length;
}

/* A whole epoch needs a shard for every worker and ends with its shortest worker (what the others
 * have left is dropped, as a DataLoader drops its last partial batch). A rest (whole_rest) is split
 * until it has a piece for every rank, a rank using as many workers as it has pieces, and lasts
 * until every known sample of it is delivered: the ranks and workers that run short pad their last
 * batches with their own samples read again, so nothing the old run left is dropped. */
static int plan_make(bcos_epoch_plan *plan, const bcos_epoch_rest *rest, const long *shard_samples, int n_shards,
                     uint64_t seed, int rank, int n_ranks, int n_workers, long batch_size, bool whole_rest, char *err,
                     size_t errlen) {
    memset(plan, 0, sizeof *plan);
    if (check_arguments(shard_samples, n_shards, rank, n_ranks, n_workers, batch_size, err, errlen) ||
        check_rest(rest, n_shards, err, errlen))
        return -1;
    if (whole_rest && pieces_with_samples(rest, shard_samples) == 0) {
        bcos_error(err, errlen, NULL, "the rest of epoch %" PRIu64 " holds no known sample", rest->epoch);
        return 1;
    }
    if (!whole_rest && rest->n < n_ranks * n_workers) {
        bcos_error(err, errlen, NULL,
                   "%d shards cannot feed %d ranks x %d loader workers: every worker needs a shard (use fewer "
                   "workers, or more, smaller shards: bcos shards write --max-samples)",
                   rest->n, n_ranks, n_workers);
        return 1;
    }
    plan->seed = seed;
    plan->epoch = rest->epoch;
    plan->rank = rank;
    plan->n_ranks = n_ranks;
    plan->batch_size = batch_size;
    int short_rank = 0;
    bcos_epoch_rest fed;
    if (whole_rest) feed_every_rank(&fed, rest, shard_samples, n_ranks);
    const bcos_epoch_rest *dealt = whole_rest ? &fed : rest;
    long length = plan_ranks(dealt, shard_samples, n_ranks, n_workers, batch_size, whole_rest, plan, &short_rank);
    if (whole_rest) bcos_epoch_rest_free(&fed);
    plan->n_batches = length;
    for (int w = 0; w < plan->n_workers; w++)
        plan->workers[w].batches = length > w ? (length - w + plan->n_workers - 1) / plan->n_workers : 0;
    if (length > 0) return 0;
    bcos_epoch_plan_free(plan);
    bcos_error(err, errlen, NULL, "rank %d of %d gets too few samples for one batch of %ld (use smaller batches or fewer "
               "ranks or workers)", short_rank, n_ranks, batch_size);
    return 1;
}

int bcos_epoch_plan_make_rest(bcos_epoch_plan *plan, const bcos_epoch_rest *rest, const long *shard_samples,
                              int n_shards, uint64_t seed, int rank, int n_ranks, int n_workers, long batch_size,
                              char *err, size_t errlen) {
    return plan_make(plan, rest, shard_samples, n_shards, seed, rank, n_ranks, n_workers, batch_size, true, err,
                     errlen);
}

int bcos_epoch_plan_make(bcos_epoch_plan *plan, const long *shard_samples, int n_shards, uint64_t seed,
                         uint64_t epoch, int rank, int n_ranks, int n_workers, long batch_size, char *err,
                         size_t errlen) {
    bcos_epoch_rest whole;
    bcos_epoch_rest_whole(&whole, n_shards, seed, epoch);
    int rc = plan_make(plan, &whole, shard_samples, n_shards, seed, rank, n_ranks, n_workers, batch_size, false, err,
                       errlen);
    bcos_epoch_rest_free(&whole);
    return rc == 0 ? 0 : -1;
}

void bcos_epoch_plan_free(bcos_epoch_plan *plan) {
    for (int w = 0; w < plan->n_workers; w++) {
        for (int i = 0; i < plan->workers[w].n_shards; i++) free(plan->workers[w].shards[i].extra);
        free(plan->workers[w].shards);
    }
    memset(plan, 0, sizeof *plan);
}
