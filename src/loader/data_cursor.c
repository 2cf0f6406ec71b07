/* The data cursor as a value: the cursor at an epoch's start (with each worker's shuffle generator
 * seeded), deep copies and freeing of the held positions, stream order, and the check that a cursor
 * fits the plan and the loader it is to resume. */
#include "bcos/shard_plan.h"

#include "loader_impl.h"

#include "bcos/check.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Sets the shuffle generators apart from the shard permutation, which draws from (seed, epoch). */
#define SHUFFLE_SEED_TAG 0x53485546464c45ULL /* "SHUFFLE" */

int bcos_stream_pos_compare(bcos_stream_pos a, bcos_stream_pos b) {
    if (a.pass != b.pass) return a.pass < b.pass ? -1 : 1;
    if (a.shard_pos != b.shard_pos) return a.shard_pos < b.shard_pos ? -1 : 1;
    if (a.sample_index != b.sample_index) return a.sample_index < b.sample_index ? -1 : 1;
    return 0;
}

/* A generator of its own per (seed, epoch, rank, worker). */
static void seed_shuffle(bcos_rng *rng, const bcos_epoch_plan *plan, int worker) {
    bcos_rng_seed_stream(rng, plan->seed ^ SHUFFLE_SEED_TAG, plan->epoch);
    uint64_t epoch_seed = bcos_rng_u64(rng);
    bcos_rng_seed_stream(rng, epoch_seed, (uint64_t)plan->rank * BCOS_MAX_WORKERS + (uint64_t)worker);
}

void bcos_data_cursor_start(bcos_data_cursor *cursor, const bcos_epoch_plan *plan, long shuffle, long window) {
    memset(cursor, 0, sizeof *cursor);
    cursor->epoch = plan->epoch;
    cursor->rank = plan->rank;
    cursor->n_ranks = plan->n_ranks;
    cursor->n_workers = plan->n_workers;
    cursor->shuffle = shuffle;
    cursor->window = window;
    if (shuffle > 0)
        for (int w = 0; w < plan->n_workers; w++) seed_shuffle(&cursor->workers[w].rng, plan, w);
}

void bcos_data_cursor_copy(bcos_data_cursor *dst, const bcos_data_cursor *src) {
    *dst = *src;
    for (int w = 0; w < BCOS_MAX_WORKERS; w++) {
        bcos_worker_cursor *wc = &dst->workers[w];
        wc->held = NULL;
        if (wc->n_held == 0) continue;
        size_t bytes = (size_t)wc->n_held * sizeof *wc->held;
        wc->held = memcpy(xmalloc(bytes), src->workers[w].held, bytes);
    }
}

void bcos_data_cursor_free(bcos_data_cursor *cursor) {
    for (int w = 0; w < BCOS_MAX_WORKERS; w++) {
        free(cursor->workers[w].held);
        cursor->workers[w].held = NULL;
        cursor->workers[w].n_held = 0;
    }
}

/* Held positions within the worker's list, in stream order, all before its position. */
static int check_held(const bcos_worker_cursor *wc, int worker, const bcos_worker_plan *plan, long shuffle, char *err,
                      size_t errlen) {
    if (wc->n_held > shuffle)
        return bcos_error(err, errlen, "data cursor", "worker %d holds %ld samples in a shuffle buffer of %ld", worker,
                          wc->n_held, shuffle);
    for (long i = 0; i < wc->n_held; i++) {
        const bcos_stream_pos *h = &wc->held[i];
        bool ordered = bcos_stream_pos_compare(*h, wc->next) < 0 &&
                       (i == 0 || bcos_stream_pos_compare(wc->held[i - 1], *h) < 0);
        if (h->shard_pos < 0 || h->shard_pos >= plan->n_shards || h->sample_index < 0 || h->pass < 0 || !ordered)
            return bcos_error(err, errlen, "data cursor",
                              "worker %d's held sample %ld (shard %d, index %ld, pass %ld) is out of its list or order",
                              worker, i, h->shard_pos, h->sample_index, h->pass);
    }
    return 0;
}

int bcos_data_cursor_check(const bcos_data_cursor *c, const bcos_epoch_plan *plan, long shuffle, long window,
                           char *err, size_t errlen) {
    if (c->epoch != plan->epoch || c->rank != plan->rank || c->n_ranks != plan->n_ranks ||
        c->n_workers != plan->n_workers)
        return bcos_error(err, errlen, "data cursor",
                          "saved for epoch %" PRIu64 ", rank %d of %d, %d workers; this run plans epoch %" PRIu64
                          ", rank %d of %d, %d workers (a cursor resumes only the shape it was saved on)",
                          c->epoch, c->rank, c->n_ranks, c->n_workers, plan->epoch, plan->rank, plan->n_ranks,
                          plan->n_workers);
    if (c->shuffle != shuffle || c->window != window)
        return bcos_error(err, errlen, "data cursor",
                          "saved with a shuffle buffer of %ld samples (window %ld); this loader has %ld (window %ld), "
                          "so the stream would differ",
                          c->shuffle, c->window, shuffle, window);
    if (c->batches_done > plan->n_batches)
        return bcos_error(err, errlen, "data cursor", "%ld batches done of an epoch of %ld", c->batches_done,
                          plan->n_batches);
    for (int w = 0; w < c->n_workers; w++) {
        int shard_pos = c->workers[w].next.shard_pos;
        if (shard_pos >= plan->workers[w].n_shards)
            return bcos_error(err, errlen, "data cursor", "worker %d at shard %d of %d", w, shard_pos,
                              plan->workers[w].n_shards);
        if (check_held(&c->workers[w], w, &plan->workers[w], shuffle, err, errlen)) return -1;
    }
    return 0;
}
