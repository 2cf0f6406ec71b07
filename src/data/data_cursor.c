/* The data cursor: a rank's exact position in an epoch as one versioned line of text, written
 * with each checkpoint and parsed (strictly: every field, nothing after them) on resume. */
#include "bcos/shard_plan.h"

#include "data_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define CURSOR_VERSION 1

void bcos_data_cursor_start(bcos_data_cursor *cursor, const bcos_epoch_plan *plan) {
    memset(cursor, 0, sizeof *cursor);
    cursor->epoch = plan->epoch;
    cursor->rank = plan->rank;
    cursor->n_ranks = plan->n_ranks;
    cursor->n_workers = plan->n_workers;
}

int bcos_data_cursor_format(const bcos_data_cursor *c, char *buf, size_t size) {
    int n = snprintf(buf, size, "bcos-cursor %d epoch %" PRIu64 " batches %ld rank %d of %d workers %d", CURSOR_VERSION,
                     c->epoch, c->batches_done, c->rank, c->n_ranks, c->n_workers);
    if (n < 0 || (size_t)n >= size) return -1;
    size_t used = (size_t)n;
    for (int w = 0; w < c->n_workers; w++) {
        const bcos_worker_cursor *wc = &c->workers[w];
        n = snprintf(buf + used, size - used, " %d,%ld,%ld", wc->shard_pos, wc->sample_index, wc->pass);
        if (n < 0 || (size_t)n >= size - used) return -1;
        used += (size_t)n;
    }
    return (int)used;
}

int bcos_data_cursor_parse(bcos_data_cursor *c, const char *text, char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    int version = 0, at = 0;
    if (sscanf(text, "bcos-cursor %d %n", &version, &at) != 1) return data_error(err, errlen, "data cursor", "'%s' is not a cursor", text);
    if (version != CURSOR_VERSION) return data_error(err, errlen, "data cursor", "version %d, this build reads %d", version, CURSOR_VERSION);
    int used = 0;
    if (sscanf(text + at, "epoch %" SCNu64 " batches %ld rank %d of %d workers %d%n", &c->epoch, &c->batches_done,
               &c->rank, &c->n_ranks, &c->n_workers, &used) != 5)
        return data_error(err, errlen, "data cursor", "'%s' lacks epoch, batches, rank or workers", text);
    at += used;
    if (c->batches_done < 0 || c->n_ranks < 1 || c->rank < 0 || c->rank >= c->n_ranks || c->n_workers < 1 ||
        c->n_workers > BCOS_MAX_WORKERS)
        return data_error(err, errlen, "data cursor", "'%s' has a field out of range", text);
    for (int w = 0; w < c->n_workers; w++) {
        bcos_worker_cursor *wc = &c->workers[w];
        used = 0;
        if (sscanf(text + at, " %d,%ld,%ld%n", &wc->shard_pos, &wc->sample_index, &wc->pass, &used) != 3 ||
            wc->shard_pos < 0 || wc->sample_index < 0 || wc->pass < 0)
            return data_error(err, errlen, "data cursor", "worker %d's position in '%s' is missing or negative", w, text);
        at += used;
    }
    if (text[at] != '\0' && text[at] != '\n') return data_error(err, errlen, "data cursor", "unexpected '%s' at the end", text + at);
    return 0;
}

int bcos_data_cursor_check(const bcos_data_cursor *c, const bcos_epoch_plan *plan, char *err, size_t errlen) {
    if (c->epoch != plan->epoch || c->rank != plan->rank || c->n_ranks != plan->n_ranks ||
        c->n_workers != plan->n_workers)
        return data_error(err, errlen, "data cursor",
                    "saved for epoch %" PRIu64 ", rank %d of %d, %d workers; this run plans epoch %" PRIu64
                    ", rank %d of %d, %d workers",
                    c->epoch, c->rank, c->n_ranks, c->n_workers, plan->epoch, plan->rank, plan->n_ranks,
                    plan->n_workers);
    if (c->batches_done > plan->n_batches)
        return data_error(err, errlen, "data cursor", "%ld batches done of an epoch of %ld", c->batches_done, plan->n_batches);
    for (int w = 0; w < c->n_workers; w++)
        if (c->workers[w].shard_pos >= plan->workers[w].n_shards)
            return data_error(err, errlen, "data cursor", "worker %d at shard %d of %d", w, c->workers[w].shard_pos,
                        plan->workers[w].n_shards);
    return 0;
}
