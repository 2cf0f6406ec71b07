/* The rest of an epoch from the cursors of a run on another world size: re-plans each old rank
 * from the epoch it ran (the whole one, or an earlier rest), checks each cursor against its plan,
 * and keeps of every piece the samples its worker had not consumed, in the old piece order. */
#include "bcos/shard_plan.h"

#include "loader_impl.h"

#include "bcos/check.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The cursors come from one stop of one run: rank r at place r, all of the same world size, epoch
 * (the rest's, when there is one) and batch count. */
static int check_cursors(const bcos_data_cursor *cursors, int n_old_ranks, const bcos_epoch_rest *was, char *err,
                         size_t errlen) {
    if (n_old_ranks < 1) return bcos_error(err, errlen, "epoch rest", "%d old ranks", n_old_ranks);
    const bcos_data_cursor *first = &cursors[0];
    if (was && was->epoch != first->epoch)
        return bcos_error(err, errlen, "epoch rest", "the cursors are of epoch %" PRIu64 ", the rest they ran of epoch %" PRIu64,
                          first->epoch, was->epoch);
    for (int r = 0; r < n_old_ranks; r++) {
        const bcos_data_cursor *c = &cursors[r];
        if (c->rank != r || c->n_ranks != n_old_ranks)
            return bcos_error(err, errlen, "epoch rest", "cursor %d is of rank %d of %d, expected rank %d of %d", r, c->rank,
                              c->n_ranks, r, n_old_ranks);
        if (c->epoch != first->epoch || c->batches_done != first->batches_done)
            return bcos_error(err, errlen, "epoch rest",
                              "rank %d's cursor is at epoch %" PRIu64 " batch %ld, rank 0's at epoch %" PRIu64
                              " batch %ld (cursors of one stop agree)",
                              r, c->epoch, c->batches_done, first->epoch, first->batches_done);
    }
    return 0;
}

/* The pieces' places in the old rest by shard (-1: not in it). */
static int *places_by_shard(const bcos_epoch_rest *old, int n_shards) {
    int *place = xmalloc((size_t)(n_shards > 0 ? n_shards : 1) * sizeof *place);
    for (int s = 0; s < n_shards; s++) place[s] = -1;
    for (int i = 0; i < old->n; i++) /* a shard out of the list fails the old plan before any use */
        if (old->pieces[i].shard >= 0 && old->pieces[i].shard < n_shards) place[old->pieces[i].shard] = i;
    return place;
}

/* What is left of piece p at place pos of a worker's list that stopped at wc: the samples at or
 * after the worker's position (nothing of a piece it passed, everything of one it has not reached)
 * and those it holds from its first pass. 0, or -1 when a held sample is not one the piece reads. */
static int piece_left(bcos_shard_piece *left, const bcos_shard_piece *p, int pos, const bcos_worker_cursor *wc,
                      char *err, size_t errlen) {
    long reached = wc->next.pass > 0 || pos < wc->next.shard_pos ? BCOS_PIECE_END
                   : pos == wc->next.shard_pos                    ? wc->next.sample_index
                                                                  : 0;
    *left = (bcos_shard_piece){p->shard, p->from > reached ? p->from : reached, 0, NULL};
    left->extra = xmalloc((size_t)(wc->n_held + p->n_extra + 1) * sizeof *left->extra);
    for (long i = 0; i < wc->n_held; i++) {
        bcos_stream_pos h = wc->held[i];
        if (h.pass != 0 || h.shard_pos != pos) continue;
        if (h.sample_index >= reached || !bcos_shard_piece_has(p, h.sample_index))
            return bcos_error(err, errlen, "epoch rest", "a worker holds sample %ld of shard %d, which its piece does not read",
                              h.sample_index, p->shard);
        left->extra[left->n_extra++] = h.sample_index;
    }
    for (long i = 0; i < p->n_extra; i++)
        if (p->extra[i] >= reached) left->extra[left->n_extra++] = p->extra[i];
    return 0;
}

/* Adds what `more` has left of a shard to what *into has left of it (both read ascending extras
 * below their start and everything from it): the union starts at the lower start, with the extras
 * of both below it. Frees more's extras. */
static void merge_left(bcos_shard_piece *into, bcos_shard_piece *more) {
    long from = into->from < more->from ? into->from : more->from, a = 0, b = 0, n = 0;
    long *extra = xmalloc((size_t)(into->n_extra + more->n_extra + 1) * sizeof *extra);
    while (a < into->n_extra || b < more->n_extra) {
        long next = b == more->n_extra || (a < into->n_extra && into->extra[a] <= more->extra[b]) ? into->extra[a]
                                                                                                  : more->extra[b];
        a += a < into->n_extra && into->extra[a] == next;
        b += b < more->n_extra && more->extra[b] == next;
        if (next < from) extra[n++] = next;
    }
    free(into->extra);
    free(more->extra);
    *into = (bcos_shard_piece){into->shard, from, n, extra};
}

/* Adds to left[place of each piece's shard] what the workers of one old rank left of it: a piece
 * the old plan split over several ranks (or copied) leaves what any of its readers left. */
static int rank_left(bcos_shard_piece *left, const int *place, const bcos_epoch_plan *plan, const bcos_data_cursor *c,
                     char *err, size_t errlen) {
    for (int w = 0; w < plan->n_workers; w++) {
        const bcos_worker_plan *wp = &plan->workers[w];
        for (int i = 0; i < wp->n_shards; i++) {
            bcos_shard_piece piece;
            if (piece_left(&piece, &wp->shards[i], i, &c->workers[w], err, errlen)) {
                free(piece.extra);
                return -1;
            }
            merge_left(&left[place[wp->shards[i].shard]], &piece);
        }
    }
    return 0;
}

/* Moves the pieces with something left into rest, in their order; frees the others. */
static void keep_nonempty(bcos_epoch_rest *rest, bcos_shard_piece *left, int n, const long *shard_samples) {
    rest->pieces = xcalloc((size_t)(n > 0 ? n : 1), sizeof *rest->pieces);
    for (int i = 0; i < n; i++) {
        if (left[i].n_extra == 0 && left[i].from >= shard_samples[left[i].shard]) {
            free(left[i].extra);
            continue;
        }
        if (left[i].n_extra == 0) {
            free(left[i].extra);
            left[i].extra = NULL;
        }
        rest->pieces[rest->n++] = left[i];
    }
}

/* Re-plans each old rank and collects what its workers left. */
static int collect(bcos_epoch_rest *rest, const bcos_epoch_rest *old, const bcos_data_cursor *cursors, int n_old_ranks,
                   const long *shard_samples, int n_shards, uint64_t seed, long old_batch_size, char *err,
                   size_t errlen) {
    int asked = 1; /* the old ranks' worker counts re-plan each of them exactly */
    for (int r = 0; r < n_old_ranks; r++)
        if (cursors[r].n_workers > asked) asked = cursors[r].n_workers;
    bcos_shard_piece *left = xcalloc((size_t)(old->n > 0 ? old->n : 1), sizeof *left);
    for (int i = 0; i < old->n; i++) left[i] = (bcos_shard_piece){old->pieces[i].shard, BCOS_PIECE_END, 0, NULL};
    int *place = places_by_shard(old, n_shards);
    int rc = 0;
    for (int r = 0; r < n_old_ranks && rc == 0; r++) {
        bcos_epoch_plan plan;
        char why[512];
        if (bcos_epoch_plan_make_rest(&plan, old, shard_samples, n_shards, seed, r, n_old_ranks, asked, old_batch_size,
                                      why, sizeof why) != 0) {
            rc = bcos_error(err, errlen, "epoch rest", "the old run's plan for rank %d: %s", r, why);
            continue;
        }
        if (bcos_data_cursor_check(&cursors[r], &plan, cursors[r].shuffle, cursors[r].window, why, sizeof why) ||
            rank_left(left, place, &plan, &cursors[r], why, sizeof why))
            rc = bcos_error(err, errlen, "epoch rest", "rank %d's cursor: %s", r, why);
        bcos_epoch_plan_free(&plan);
    }
    if (rc == 0)
        keep_nonempty(rest, left, old->n, shard_samples);
    else
        for (int i = 0; i < old->n; i++) free(left[i].extra);
    free(left);
    free(place);
    return rc;
}

int bcos_epoch_rest_from_cursors(bcos_epoch_rest *rest, const bcos_epoch_rest *was, const bcos_data_cursor *cursors,
                                 int n_old_ranks, const long *shard_samples, int n_shards, uint64_t seed,
                                 long old_batch_size, char *err, size_t errlen) {
    memset(rest, 0, sizeof *rest);
    if (check_cursors(cursors, n_old_ranks, was, err, errlen)) return -1;
    bcos_epoch_rest whole = {0};
    if (!was) bcos_epoch_rest_whole(&whole, n_shards, seed, cursors[0].epoch);
    rest->epoch = cursors[0].epoch;
    int rc = collect(rest, was ? was : &whole, cursors, n_old_ranks, shard_samples, n_shards, seed, old_batch_size, err,
                     errlen);
    bcos_epoch_rest_free(&whole);
    if (rc) bcos_epoch_rest_free(rest);
    return rc;
}
