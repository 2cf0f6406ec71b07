/* A loader worker: reads its shards in plan order from its cursor position (of each shard, the
 * samples its piece names: all of them in a whole epoch), runs the sample
 * function on each sample and hands the accepted ones, through its shuffle buffer when it has one,
 * into the next free batch buffer, queueing full batches. Reaching the end of its shards before its
 * last batch starts a new pass over them; a pass from the start that yields no usable sample ends
 * the worker with an error, since another would not either. A worker resumed with held samples
 * first re-reads its stream from the oldest of them up to its position and takes them back. */
#include "loader_impl.h"

#include "bcos/check.h"
#include "bcos/log.h"
#include "bcos/urls.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Skip reasons logged per worker; the rest are only counted. */
#define SKIPS_LOGGED 10

static const char *const g_verdict_names[BCOS_SKIP_REASONS] = {
    "ok", "no_image", "corrupt", "unsupported", "no_label", "bad_label",
};

const char *bcos_sample_verdict_name(bcos_sample_verdict v) {
    return v >= 0 && v < BCOS_SKIP_REASONS ? g_verdict_names[v] : "unknown";
}

long loader_turns(long n, int w, int n_workers) { return n > w ? (n - w + n_workers - 1) / n_workers : 0; }

BCOS_PRINTF(2, 3) static int worker_fail(loader_worker *w, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&w->lock);
    bcos_verror(w->error, sizeof w->error, NULL, fmt, ap);
    bcos_url_redact_buffer(w->error, sizeof w->error); /* without the URLs' credentials */
    w->failed = true;
    pthread_mutex_unlock(&w->lock);
    va_end(ap);
    return -1;
}

static bool stopping(const loader_worker *w) { return atomic_load(&w->loader->stopping); }

/* Closes the shard being read and publishes the counters with its last transfers: a shard that
 * failed is counted before the batch it stalled is done. */
static void close_reader(loader_worker *w) {
    bcos_samples_close(w->reader);
    w->reader = NULL;
    pthread_mutex_lock(&w->lock);
    w->published = w->counters;
    pthread_mutex_unlock(&w->lock);
}

/* Moves to the next shard, starting a new pass after the last one. Returns 0, or -1 when a whole
 * pass from the start gave nothing usable. */
static int next_shard(loader_worker *w) {
    w->pos.shard_pos++;
    w->pos.sample_index = 0;
    if (w->pos.shard_pos < w->plan->n_shards) return 0;
    if (w->pass_from_start && w->pass_used == 0)
        return worker_fail(w, "loader worker %d: a whole pass over its %d shards (the first %s) gave no usable sample",
                           w->id, w->plan->n_shards, w->loader->cfg.urls[w->plan->shards[0].shard]);
    w->pos.shard_pos = 0;
    w->pos.pass++;
    w->counters.restarts++;
    w->pass_from_start = true;
    w->pass_used = 0;
    return 0;
}

/* Whether the piece has nothing at or after this index: a shard read to its end in an earlier run
 * whose held samples are behind, so the rest of it need not be read. */
static bool piece_done(const bcos_shard_piece *piece, long index) {
    return piece->from == BCOS_PIECE_END && (piece->n_extra == 0 || piece->extra[piece->n_extra - 1] < index);
}

/* Known samples of the piece at or after index, or -1 without counts. */
static long piece_left(const loader_worker *w, const bcos_shard_piece *piece, long index) {
    const long *counts = w->loader->cfg.counts;
    if (!counts) return -1;
    long left = 0;
    for (long i = index; i < counts[piece->shard]; i++) left += bcos_shard_piece_has(piece, i);
    return left;
}

/* The shard of the worker's piece ended (failed when rc < 0) at its position: in the first pass,
 * samples of the piece it did not reach are lost with it; a later pass reads what the first did. */
static void note_shard_end(loader_worker *w, const bcos_shard_piece *piece, int rc) {
    if (w->pos.pass > 0 || w->restoring) return;
    long left = piece_left(w, piece, w->pos.sample_index);
    if (left == 0 || (left < 0 && rc == 0)) return;
    pthread_mutex_lock(&w->lock);
    w->losses = xrealloc(w->losses, (size_t)(w->n_losses + 1) * sizeof *w->losses);
    w->losses[w->n_losses++] = (shard_loss){piece->shard, left};
    pthread_mutex_unlock(&w->lock);
    if (left > 0) {
        char *shown = bcos_url_redact(w->loader->cfg.urls[piece->shard]);
        bcos_warn("loader worker %d: %s ended %s with %ld of its known samples unread: lost", w->id, shown,
                  rc < 0 ? "early" : "short", left);
        free(shown);
    }
}

/* The next sample of its piece at or after the worker's position and where it was read; moves the
 * position past it. 0, or -1 on failure or stop. */
static int next_sample(loader_worker *w, bcos_sample *s, bcos_stream_pos *at) {
    const bcos_loader_config *cfg = &w->loader->cfg;
    while (!stopping(w)) {
        const bcos_shard_piece *piece = &w->plan->shards[w->pos.shard_pos];
        if (piece_done(piece, w->pos.sample_index)) {
            close_reader(w);
            if (next_shard(w)) return -1;
            continue;
        }
        if (!w->reader) w->reader = bcos_samples_open(cfg->urls[piece->shard], &cfg->fetch, &w->counters.data);
        int rc = bcos_samples_next(w->reader, s);
        if (rc == 1 && (s->index < w->pos.sample_index || !bcos_shard_piece_has(piece, s->index))) {
            bcos_sample_clear(s);
            continue;
        }
        if (rc == 1) {
            s->shard_index = piece->shard; /* what seeds its training crop, whatever the URL */
            *at = (bcos_stream_pos){w->pos.shard_pos, s->index, w->pos.pass};
            w->pos.sample_index = s->index + 1;
            w->reads++;
            return 0;
        }
        if (rc < 0 && !stopping(w)) bcos_warn("%s", bcos_samples_error(w->reader));
        if (!stopping(w)) note_shard_end(w, piece, rc);
        close_reader(w);
        if (next_shard(w)) return -1;
    }
    return -1;
}

static void log_skip(loader_worker *w, const bcos_sample *s, bcos_sample_verdict v, const char *msg) {
    if (w->skips_logged++ >= SKIPS_LOGGED) return;
    bcos_warn("skipping sample '%s' of %s (%s): %s%s", s->key, s->shard, bcos_sample_verdict_name(v), msg,
              w->skips_logged == SKIPS_LOGGED ? " (further skips are only counted)" : "");
}

/* Runs the sample function on s into out and *label; counts the verdict and logs a refusal. Returns
 * whether the sample was accepted. */
static bool accept(loader_worker *w, const bcos_sample *s, void *out, int *label) {
    const bcos_loader_config *cfg = &w->loader->cfg;
    char msg[512] = "";
    *label = -1;
    bcos_sample_verdict v = cfg->fn(cfg->ctx, s, out, label, msg, sizeof msg);
    if (v < BCOS_SAMPLE_OK || v >= BCOS_SKIP_REASONS) v = BCOS_SKIP_CORRUPT;
    w->counters.skipped[v]++;
    if (v != BCOS_SAMPLE_OK) {
        log_skip(w, s, v, msg);
        return false;
    }
    w->pass_used++;
    w->taken++;
    return true;
}

static bcos_sample_origin origin_of(const loader_worker *w, bcos_stream_pos at) {
    return (bcos_sample_origin){w->plan->shards[at.shard_pos].shard, at.sample_index};
}

/* Reads on to the next sample the function accepts, its outputs into out and *label. 0, or -1 on
 * failure or stop. */
static int read_accepted(loader_worker *w, void *out, int *label, bcos_stream_pos *at) {
    for (;;) {
        bcos_sample s;
        if (next_sample(w, &s, at)) return -1;
        bool ok = accept(w, &s, out, label);
        bcos_sample_clear(&s);
        if (ok) return 0;
    }
}

/* Fills the shuffle buffer to its capacity, or until the accepted samples of the worker's batches
 * are all read (then the buffer drains). */
static int fill_shuffle(loader_worker *w) {
    shuffle_buffer *b = &w->shuffle;
    long need = w->plan->batches * w->loader->cfg.plan->batch_size;
    while (b->n < b->capacity && w->taken < need) {
        int label;
        bcos_stream_pos at;
        if (read_accepted(w, shuffle_payload(b), &label, &at)) return -1;
        shuffle_add(b, at, w->reads, label, origin_of(w, at));
    }
    return 0;
}

/* The next sample of the worker's batches: straight from its stream, or through its shuffle buffer. */
static int next_output(loader_worker *w, void *out, int *label, bcos_sample_origin *origin) {
    if (w->shuffle.capacity == 0) {
        bcos_stream_pos at;
        if (read_accepted(w, out, label, &at)) return -1;
        *origin = origin_of(w, at);
        return 0;
    }
    if (fill_shuffle(w)) return -1;
    shuffle_emit(&w->shuffle, w->reads, out, label, origin);
    return 0;
}

static int fill_batch(loader_worker *w, loader_slot *slot) {
    const bcos_loader_config *cfg = &w->loader->cfg;
    bcos_batch *b = &slot->batch;
    for (long i = 0; i < b->size; i++)
        if (next_output(w, (char *)b->data + i * cfg->sample_bytes, &b->labels[i], &b->origins[i])) return -1;
    slot->end.next = w->pos;
    shuffle_save(&w->shuffle, &slot->end);
    return 0;
}

/* Takes the sample read at `at` back into the shuffle buffer; returns whether the function still
 * accepts it. */
static bool take_back(loader_worker *w, const bcos_sample *s, bcos_stream_pos at) {
    int label;
    if (!accept(w, s, shuffle_payload(&w->shuffle), &label)) return false;
    shuffle_add(&w->shuffle, at, w->reads, label, origin_of(w, at));
    return true;
}

/* Rebuilds a resumed worker's shuffle buffer: re-reads its stream from the oldest held sample up to
 * its saved position, running the sample function on the held samples alone. Read counts restart
 * there, which keeps the window's ages. Shards that changed since the cursor was taken cost
 * exactness (with a warning), not the epoch. 0, or -1 on failure or stop. */
static int restore_shuffle(loader_worker *w) {
    const bcos_worker_cursor *saved = &w->loader->start.workers[w->id];
    if (saved->n_held == 0) return 0;
    bcos_stream_pos end = w->pos;
    w->pos = saved->held[0];
    w->restoring = true;
    w->pass_from_start = w->pos.shard_pos == 0 && w->pos.sample_index == 0;
    long next = 0, lost = 0;
    while (bcos_stream_pos_compare(w->pos, end) < 0) {
        bcos_sample s;
        bcos_stream_pos at;
        if (next_sample(w, &s, &at)) return -1;
        for (; next < saved->n_held && bcos_stream_pos_compare(saved->held[next], at) < 0; next++) lost++;
        bool past_end = bcos_stream_pos_compare(at, end) >= 0;
        if (!past_end && next < saved->n_held && bcos_stream_pos_compare(saved->held[next], at) == 0)
            lost += !take_back(w, &s, saved->held[next++]);
        bcos_sample_clear(&s);
        if (past_end) {
            lost++;
            break;
        }
    }
    lost += saved->n_held - next;
    w->restoring = false;
    if (lost)
        bcos_warn("loader worker %d: %ld samples were not where the cursor says (its shards changed since it was "
                  "taken); the resumed stream differs",
                  w->id, lost);
    return 0;
}

/* A free slot, waiting for one; -1 when the loader stops. */
static int take_free(loader_worker *w) {
    pthread_mutex_lock(&w->lock);
    while (w->free_count == 0 && !stopping(w)) pthread_cond_wait(&w->changed, &w->lock);
    int slot = w->free_count > 0 && !stopping(w) ? w->free_slots[--w->free_count] : -1;
    pthread_mutex_unlock(&w->lock);
    return slot;
}

static void publish(loader_worker *w, int slot) {
    pthread_mutex_lock(&w->lock);
    w->ready[(w->ready_head + w->ready_count++) % w->n_slots] = slot;
    w->published = w->counters;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
}

void *loader_worker_main(void *arg) {
    loader_worker *w = arg;
    bool restored = restore_shuffle(w) == 0;
    while (restored && w->turns_done < w->plan->batches) {
        int slot = take_free(w);
        if (slot < 0 || fill_batch(w, &w->slots[slot])) break;
        w->turns_done++;
        publish(w, slot);
    }
    close_reader(w);
    pthread_mutex_lock(&w->lock);
    w->published = w->counters;
    w->finished = true;
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}
