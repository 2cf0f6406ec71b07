/* A loader worker: reads its shards in plan order from its cursor position, runs the sample
 * function on each sample into the next free batch buffer, and queues full batches. Reaching the
 * end of its shards before its last batch starts a new pass over them; a pass from the start that
 * yields no usable sample ends the worker with an error, since another would not either. */
#include "loader_impl.h"

#include "bcos/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Skip reasons logged per worker; the rest are only counted. */
#define SKIPS_LOGGED 10

long loader_turns(long n, int w, int n_workers) { return n > w ? (n - w + n_workers - 1) / n_workers : 0; }

BCOS_PRINTF(2, 3) static int worker_fail(loader_worker *w, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&w->lock);
    vsnprintf(w->error, sizeof w->error, fmt, ap);
    w->failed = true;
    pthread_mutex_unlock(&w->lock);
    va_end(ap);
    return -1;
}

static bool stopping(const loader_worker *w) { return atomic_load(&w->loader->stopping); }

static void close_reader(loader_worker *w) {
    bcos_samples_close(w->reader);
    w->reader = NULL;
}

/* Moves to the next shard, starting a new pass after the last one. Returns 0, or -1 when a whole
 * pass from the start gave nothing usable. */
static int next_shard(loader_worker *w) {
    w->pos.shard_pos++;
    w->pos.sample_index = 0;
    if (w->pos.shard_pos < w->plan->n_shards) return 0;
    if (w->pass_from_start && w->pass_used == 0)
        return worker_fail(w, "loader worker %d: a whole pass over its %d shards (the first %s) gave no usable sample",
                           w->id, w->plan->n_shards, w->loader->cfg.urls[w->plan->shards[0]]);
    w->pos.shard_pos = 0;
    w->pos.pass++;
    w->counters.restarts++;
    w->pass_from_start = true;
    w->pass_used = 0;
    return 0;
}

/* The next sample at or after the worker's position. 0, or -1 on failure or stop. */
static int next_sample(loader_worker *w, bcos_sample *s) {
    const bcos_loader_config *cfg = &w->loader->cfg;
    while (!stopping(w)) {
        if (!w->reader) {
            const char *url = cfg->urls[w->plan->shards[w->pos.shard_pos]];
            w->reader = bcos_samples_open(url, &cfg->fetch, &w->counters.data);
        }
        int rc = bcos_samples_next(w->reader, s);
        if (rc == 1 && s->index < w->pos.sample_index) {
            bcos_sample_clear(s);
            continue;
        }
        if (rc == 1) return 0;
        if (rc < 0) bcos_warn("%s", bcos_samples_error(w->reader));
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

static int fill_batch(loader_worker *w, loader_slot *slot) {
    const bcos_loader_config *cfg = &w->loader->cfg;
    bcos_batch *b = &slot->batch;
    for (long i = 0; i < b->size;) {
        bcos_sample s;
        if (next_sample(w, &s)) return -1;
        char msg[512] = "";
        int label = -1;
        bcos_sample_verdict v = cfg->fn(cfg->ctx, &s, (char *)b->data + i * cfg->sample_bytes, &label, msg, sizeof msg);
        if (v < BCOS_SAMPLE_OK || v >= BCOS_SKIP_REASONS) v = BCOS_SKIP_CORRUPT;
        w->counters.skipped[v]++;
        w->pos.sample_index = s.index + 1;
        if (v == BCOS_SAMPLE_OK) {
            b->labels[i] = label;
            b->origins[i] = (bcos_sample_origin){w->plan->shards[w->pos.shard_pos], s.index};
            w->pass_used++;
            i++;
        } else {
            log_skip(w, &s, v, msg);
        }
        bcos_sample_clear(&s);
    }
    slot->end = w->pos;
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
    while (w->turns_done < w->plan->batches) {
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
