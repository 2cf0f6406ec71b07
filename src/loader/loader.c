/* The epoch loader's consumer side: starts one thread per planned worker with its own bounded set
 * of reusable batch buffers and its shuffle buffer, takes batch b from worker b mod W, and keeps the
 * cursor of the batches released so far. */
#include "loader_impl.h"

#include "bcos/check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A held sample outlives 8 x shuffle draws with probability about e^-8, so with this default window
 * forced emissions are rare and the order stays close to webdataset's. */
#define DEFAULT_WINDOW_PER_SAMPLE 8

/* Where a worker stands, into a cursor whose held array has room for the shuffle buffer. */
static void assign_worker_cursor(bcos_worker_cursor *dst, const bcos_worker_cursor *src) {
    bcos_stream_pos *held = dst->held;
    *dst = *src;
    dst->held = held;
    if (src->n_held) memcpy(held, src->held, (size_t)src->n_held * sizeof *held);
}

/* Room for the positions a shuffle buffer of this size can hold. */
static bcos_stream_pos *held_array(long shuffle) {
    return shuffle ? xmalloc((size_t)shuffle * sizeof(bcos_stream_pos)) : NULL;
}

static void init_worker(bcos_loader *l, int id) {
    const bcos_loader_config *cfg = &l->cfg;
    const bcos_worker_cursor *start = &l->start.workers[id];
    loader_worker *w = &l->workers[id];
    w->loader = l;
    w->id = id;
    w->plan = &cfg->plan->workers[id];
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->changed, NULL);
    w->n_slots = (cfg->ready_batches > 0 ? cfg->ready_batches : 1) + 1;
    w->slots = xcalloc((size_t)w->n_slots, sizeof *w->slots);
    w->ready = xcalloc((size_t)w->n_slots, sizeof *w->ready);
    w->free_slots = xcalloc((size_t)w->n_slots, sizeof *w->free_slots);
    long size = cfg->plan->batch_size;
    for (int i = 0; i < w->n_slots; i++) {
        loader_slot *s = &w->slots[i];
        s->worker = id;
        s->batch.size = size;
        s->batch.data = xmalloc((size_t)size * cfg->sample_bytes);
        s->batch.labels = xmalloc((size_t)size * sizeof *s->batch.labels);
        s->batch.origins = xmalloc((size_t)size * sizeof *s->batch.origins);
        s->end.held = held_array(cfg->shuffle);
        w->free_slots[w->free_count++] = i;
    }
    w->pos = start->next;
    w->turns_done = loader_turns(l->start.batches_done, id, l->n_workers);
    w->taken = w->turns_done * size;
    w->pass_from_start = w->pos.shard_pos == 0 && w->pos.sample_index == 0;
    shuffle_init(&w->shuffle, cfg->shuffle, cfg->shuffle_window, cfg->sample_bytes, &start->rng);
    l->cursor.workers[id].held = held_array(cfg->shuffle);
    assign_worker_cursor(&l->cursor.workers[id], start);
}

/* The window in effect: the configured one, 8 x shuffle by default, none without a buffer. */
static long shuffle_window(const bcos_loader_config *cfg) {
    if (cfg->shuffle == 0) return 0;
    return cfg->shuffle_window > 0 ? cfg->shuffle_window : DEFAULT_WINDOW_PER_SAMPLE * cfg->shuffle;
}

static int check_config(const bcos_loader_config *cfg, long window, char *err, size_t errlen) {
    if (cfg->shuffle < 0 || cfg->shuffle > BCOS_SHUFFLE_MAX || cfg->shuffle_window < 0)
        return bcos_error(err, errlen, "loader",
                          "a shuffle buffer of %ld samples with window %ld is out of range (0 to %ld samples, "
                          "window 0 or more)",
                          cfg->shuffle, cfg->shuffle_window, BCOS_SHUFFLE_MAX);
    if (cfg->resume) return bcos_data_cursor_check(cfg->resume, cfg->plan, cfg->shuffle, window, err, errlen);
    return 0;
}

bcos_loader *bcos_loader_start(const bcos_loader_config *cfg, char *err, size_t errlen) {
    long window = shuffle_window(cfg);
    if (check_config(cfg, window, err, errlen)) return NULL;
    bcos_loader *l = xcalloc(1, sizeof *l);
    l->cfg = *cfg;
    l->cfg.resume = NULL;
    l->cfg.shuffle_window = window;
    l->cfg.fetch.stop = &l->stopping; /* a stop cuts the workers' network waits short */
    atomic_init(&l->stopping, false);
    l->n_workers = cfg->plan->n_workers;
    if (cfg->resume)
        bcos_data_cursor_copy(&l->start, cfg->resume);
    else
        bcos_data_cursor_start(&l->start, cfg->plan, cfg->shuffle, window);
    l->cursor = l->start; /* the workers' positions and held arrays of their own follow in init_worker */
    memset(l->cursor.workers, 0, sizeof l->cursor.workers);
    l->next_batch = l->start.batches_done;
    for (int i = 0; i < l->n_workers; i++) init_worker(l, i);
    for (int i = 0; i < l->n_workers; i++)
        BCOS_CHECK(pthread_create(&l->workers[i].thread, NULL, loader_worker_main, &l->workers[i]) == 0,
                   "cannot start a loader thread");
    return l;
}

/* The absolute CLOCK_REALTIME instant timeout_ms from now, for pthread_cond_timedwait. */
static struct timespec deadline_in(long timeout_ms) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += timeout_ms / 1000;
    t.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) t.tv_sec++, t.tv_nsec -= 1000000000L;
    return t;
}

int bcos_loader_next(bcos_loader *l, bcos_batch **batch) { return bcos_loader_next_within(l, batch, -1); }

int bcos_loader_next_within(bcos_loader *l, bcos_batch **batch, long timeout_ms) {
    if (l->next_batch >= l->cfg.plan->n_batches) return 0;
    loader_worker *w = &l->workers[l->next_batch % l->n_workers];
    struct timespec deadline = deadline_in(timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&w->lock);
    int timed_out = 0;
    while (w->ready_count == 0 && !w->finished && !timed_out) {
        if (timeout_ms < 0)
            pthread_cond_wait(&w->changed, &w->lock);
        else
            timed_out = pthread_cond_timedwait(&w->changed, &w->lock, &deadline) == ETIMEDOUT;
    }
    if (w->ready_count == 0 && !w->finished) {
        pthread_mutex_unlock(&w->lock);
        return BCOS_LOADER_WAITING;
    }
    int slot = -1;
    if (w->ready_count > 0) {
        slot = w->ready[w->ready_head];
        w->ready_head = (w->ready_head + 1) % w->n_slots;
        w->ready_count--;
    } else {
        snprintf(l->error, sizeof l->error, "%s", w->failed ? w->error : "loader worker stopped early");
    }
    pthread_mutex_unlock(&w->lock);
    if (slot < 0) return -1;
    *batch = &w->slots[slot].batch;
    (*batch)->index = l->next_batch++;
    return 1;
}

void bcos_loader_release(bcos_loader *l, bcos_batch *batch) {
    loader_slot *slot = (loader_slot *)batch;
    loader_worker *w = &l->workers[slot->worker];
    l->cursor.batches_done = batch->index + 1;
    assign_worker_cursor(&l->cursor.workers[slot->worker], &slot->end);
    pthread_mutex_lock(&w->lock);
    w->free_slots[w->free_count++] = (int)(slot - w->slots);
    pthread_cond_broadcast(&w->changed);
    pthread_mutex_unlock(&w->lock);
}

void bcos_loader_cursor(bcos_loader *l, bcos_data_cursor *cursor) { bcos_data_cursor_copy(cursor, &l->cursor); }

void bcos_loader_counters_get(bcos_loader *l, bcos_loader_counters *out) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < l->n_workers; i++) {
        loader_worker *w = &l->workers[i];
        pthread_mutex_lock(&w->lock);
        bcos_data_counters_add(&out->data, &w->published.data);
        for (int r = 0; r < BCOS_SKIP_REASONS; r++) out->skipped[r] += w->published.skipped[r];
        out->restarts += w->published.restarts;
        pthread_mutex_unlock(&w->lock);
    }
}

void bcos_loader_losses(bcos_loader *l, int64_t *samples, int64_t *unknown) {
    for (int i = 0; i < l->n_workers; i++) {
        loader_worker *w = &l->workers[i];
        pthread_mutex_lock(&w->lock);
        for (long k = 0; k < w->n_losses; k++) {
            const shard_loss *loss = &w->losses[k];
            if (loss->samples >= 0)
                samples[loss->shard] += loss->samples;
            else
                unknown[loss->shard]++;
        }
        pthread_mutex_unlock(&w->lock);
    }
}

const char *bcos_loader_error(bcos_loader *l) { return l->error; }

void bcos_loader_stop(bcos_loader *l) {
    if (!l) return;
    atomic_store(&l->stopping, true);
    for (int i = 0; i < l->n_workers; i++) {
        loader_worker *w = &l->workers[i];
        pthread_mutex_lock(&w->lock);
        pthread_cond_broadcast(&w->changed);
        pthread_mutex_unlock(&w->lock);
    }
    for (int i = 0; i < l->n_workers; i++) {
        loader_worker *w = &l->workers[i];
        pthread_join(w->thread, NULL);
        for (int s = 0; s < w->n_slots; s++) {
            free(w->slots[s].batch.data);
            free(w->slots[s].batch.labels);
            free(w->slots[s].batch.origins);
            free(w->slots[s].end.held);
        }
        shuffle_free(&w->shuffle);
        free(w->slots);
        free(w->ready);
        free(w->free_slots);
        free(w->losses);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->changed);
    }
    bcos_data_cursor_free(&l->start);
    bcos_data_cursor_free(&l->cursor);
    free(l);
}
