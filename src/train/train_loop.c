/* The training loop that every kind of run shares (train_internal.h), data-parallel over the
 * world's ranks (bcos/world.h), its data flowing one way: each rank fetches its share of every
 * batch from a source (train_source_internal.h), trains the kind's step on it and commits (the
 * store and checkpoints, train_store.c): each layer is called from here, none calls back up. What
 * the source counts (skips, retries, lost samples) is summed over the ranks and recorded at every
 * epoch's end, with each checkpoint and at the end; a run that lost more samples than it may fails. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/log.h"
#include "bcos/progress.h"
#include "bcos/memory.h"
#include "bcos/paths.h"
#include "train_internal.h"

/* How often a wait for a batch looks for a request to stop: a stop within a fraction of a second. */
#define STOP_POLL_MS 100

#define TRACE_SAMPLES_ENV "BCOS_TRACE_SAMPLES"

/* What the source counted, summed over the ranks and recorded; nothing while it has nothing to count
 * (between epochs, on every rank alike: the ranks make the same batches). */
static void record_counters(train_run *run) {
    distill_counters counters;
    if (run->source->counters && run->source->counters(run->source, &counters))
        train_store_counters(run, &counters);
}

/* An epoch ended: its counts recorded, and a warning when it skipped or lost samples. */
static void end_epoch(train_run *run, int64_t epoch) {
    int64_t lost_before = run->data_lost;
    record_counters(run);
    int64_t skipped = run->data_skipped - run->data_skipped_before;
    run->data_skipped_before = run->data_skipped;
    if (skipped || run->data_lost > lost_before)
        bcos_warn("shards: epoch %" PRId64 " skipped %" PRId64 " samples that did not decode and lost %" PRId64
                  " with broken or missing shards (see the run's events)",
                  epoch, skipped, run->data_lost - lost_before);
}

/* With $BCOS_TRACE_SAMPLES naming a folder, each rank appends the origins of the batch it trains
 * step `step` on to FOLDER/rank-R.txt as "epoch E step S: shard:index ...": the samples a chain of
 * runs resumed on other world sizes read, for the tests that check that none is lost. */
static void trace_batch(const train_run *run, int64_t step, const distill_batch *b) {
    const char *folder = getenv(TRACE_SAMPLES_ENV);
    if (!folder || !*folder || !b->has_origins) return;
    char *path = bcos_strfmt("%s/rank-%d.txt", folder, run->rank);
    FILE *f = xfopen(path, "a");
    fprintf(f, "epoch %" PRId64 " step %" PRId64 ":", b->epoch, step);
    for (int i = 0; i < run->B; i++) fprintf(f, " %d:%ld", b->origins[i].shard, b->origins[i].index);
    fputc('\n', f);
    xfclose(f);
    free(path);
}

/* This rank's share of the next batch into run->batch, the epochs that end on the way recorded.
 * Returns 0; 1 when a request to stop (train_stop_pending) came on some rank while a rank waited
 * for data, agreed by every rank, the position unmoved; or -1 with err. */
static int fetch_batch(train_run *run, char *err, size_t errlen) {
    train_source *source = run->source;
    int got;
    for (;;) {
        got = source->next_batch(source, run->samples_seen, &run->batch, STOP_POLL_MS, err, errlen);
        if (got < 0) return -1;
        if (got == DISTILL_EPOCH_END) end_epoch(run, run->batch.epoch);
        else if (got == DISTILL_GOT_BATCH || train_stop_pending(run)) break;
    }
    /* one rank that gave up its wait stops them all, before any batch moves a cursor; a rank that
     * got its batch leaves it taken, since the source is stopped, not asked again */
    if (train_agree_stop(got == DISTILL_WAITING)) return 1;
    trace_batch(run, run->step + 1, &run->batch);
    run->samples_seen += run->B_global;
    return 0;
}

/* After a step, or after a wait for a batch given up on a request to stop (no step trained): a
 * checkpoint when one is due and run->step has none yet, with what the source counted since the
 * last one (so that a resume counts again at most what it reads again); then the requests answered.
 * Sets *stop when a request to stop was honoured. Returns 0, or -1 with err. */
static int commit(train_run *run, int *stop, char *err, size_t errlen) {
    train_requests requests;
    if (!train_store_due(run, &requests)) return 0;
    /* a stop while the first batch after a checkpoint was awaited: that checkpoint is the one */
    if (run->checkpoint_step != run->step) {
        int64_t epoch;
        char *position = run->source->position(run->source, run->samples_seen, &epoch);
        int rc = train_store_checkpoint(run, position, epoch, err, errlen);
        free(position);
        if (rc != 0) return -1;
        record_counters(run);
    }
    *stop = train_store_answer(run, &requests);
    return 0;
}

int train_loop(train_run *run, train_outcome *out, char *err, size_t errlen) {
    const bcos_distill_config *c = run->cfg;
    double window_start = bcos_now_seconds();
    int64_t window_steps = 0;
    int stop = 0;
    out->final_loss = NAN;
    bcos_progress progress;
    bcos_progress_start_at(&progress, "step", (long)run->step, (long)c->steps);
    char line[160] = ""; /* the newest step's numbers, after its count on the progress line */
    while (run->step < c->steps && !stop) {
        double started = bcos_now_seconds();
        int got = fetch_batch(run, err, errlen);
        if (got < 0) return -1;
        if (got == 1) {
            /* the stop at once: the checkpoint of the last step trained, the stalled data abandoned */
            if (commit(run, &stop, err, errlen) != 0) return -1;
            BCOS_CHECK(stop, "a wait for data given up on a request to stop ends the run");
            break;
        }
        bcos_metric m;
        int skipped = 0;
        run->kind->step(run, &m, &skipped);
        double now = bcos_now_seconds();
        m.images_per_s = run->B_global / (now - started);
        out->final_loss = m.loss;
        train_store_step_done(run, &m, skipped);
        window_steps++;
        int log_line = run->step % c->log_every == 0 || run->step == c->steps;
        run->kind->describe(run, &m, (double)window_steps * run->B_global / (now - window_start), line, sizeof line);
        bcos_progress_update(&progress, (long)run->step, line, log_line);
        if (log_line) {
            train_store_flush(run);
            window_start = now;
            window_steps = 0;
        }
        if (commit(run, &stop, err, errlen) != 0) return -1;
    }
    bcos_progress_finish(&progress, line);
    out->preempted = stop;
    return 0;
}

int train_begin(train_run *run, char *err, size_t errlen) {
    bcos_checkpoint c = {0};
    int found;
    if (train_store_begin(run, &c, &found, err, errlen) != 0) return -1;
    if (!found) return 0;
    char note[256] = "";
    int rc = train_checkpoint_restore(run, &c, err, errlen);
    if (rc == 0 && run->source->restore) rc = run->source->restore(run->source, &c, note, sizeof note, err, errlen);
    if (rc == 0) train_store_resumed(run, &c, note);
    bcos_checkpoint_free(&c);
    return rc;
}

/* A run that lost more is failed, whatever it trained. */
static int check_lost(train_run *run, char *err, size_t errlen) {
    record_counters(run);
    if (run->data_lost <= run->cfg->max_lost) return 0;
    return bcos_error(err, errlen, "shards", "%" PRId64 " samples were lost with broken or missing shards, more than "
                      "max_lost %" PRId64 " (the run's fault events name the shards)", run->data_lost, run->cfg->max_lost);
}

int train_through(train_run *run, train_outcome *out, const char *suspect, char *err, size_t errlen) {
    *out = (train_outcome){0, NAN, 0};
    int rc = train_begin(run, err, errlen);
    out->resumed_step = run->step;
    if (rc == 0) rc = train_loop(run, out, err, errlen);
    if (rc == 0 && !out->preempted) rc = check_lost(run, err, errlen);
    if (rc == 0 && run->step > 0 && run->skipped_steps == run->step)
        rc = bcos_error(err, errlen, run->kind->name, "all %lld steps were skipped (non-finite loss or gradient; %s): "
                        "nothing was trained", (long long)run->step, suspect);
    return rc;
}

void train_end(train_run *run, bcos_run_status status, const char *why) {
    /* a failed rank may have left the others mid-collective: no more collectives then */
    if (run->cfg->run[0] && status != BCOS_RUN_FAILED) record_counters(run);
    train_store_end(run, status, why);
}


void train_alloc(train_run *run, int S, int E, int context_length) {
    size_t B = (size_t)run->B, L = (size_t)context_length;
    run->grads = xcalloc(run->trained->total, sizeof(float));
    run->batch = (distill_batch){.crops = xmalloc(B * S * S * 3), .has_caption = xcalloc(B, sizeof(int)),
                                 .ids = xcalloc(B * L, sizeof(int32_t)), .caption_emb = xcalloc(B * E, sizeof(float)),
                                 .origins = xmalloc(B * sizeof(bcos_sample_origin))};
    run->pending = xmalloc(TRAIN_PENDING_ROWS * sizeof *run->pending);
    const bcos_distill_config *c = run->cfg;
    bcos_adam_config ac = {.lr = c->lr, .beta1 = c->beta1, .beta2 = c->beta2, .eps = c->eps,
                           .weight_decay = c->weight_decay, .decoupled = strcmp(c->optimizer, "adamw") == 0};
    bcos_adam_init(&run->opt, &ac, run->trained->total);
}

void train_free(train_run *run) {
    bcos_adam_free(&run->opt);
    if (run->source) run->source->free(run->source);
    free(run->pending);
    free(run->counters);
    free(run->batch.origins);
    free(run->batch.caption_emb);
    free(run->batch.ids);
    free(run->batch.has_caption);
    free(run->batch.crops);
    free(run->grads);
}

double train_loader_bytes(const train_run *run, int S, int context_length) {
    const bcos_distill_config *c = run->cfg;
    distill_sample_config sample = {.image = {.size = S}, .context_length = context_length};
    double per_worker = ((double)c->ready_batches + 1) * run->B + (double)c->shuffle;
    return (double)c->workers * per_worker * (double)distill_sample_bytes(&sample);
}

int train_fits_memory(const train_run *run, const char *what_per_step, double total, const char *parts, char *err,
                      size_t errlen) {
    const bcos_distill_config *c = run->cfg;
    const char *what;
    double limit = bcos_memory_limit(&what);
    if (limit > 0 && total > limit)
        return bcos_error(err, errlen, "batch_size",
                          "%d %s per step need about %.1f GiB (%s), more than the %.1f GiB of %s: use a smaller "
                          "batch_size%s",
                          c->batch_size, what_per_step, total / TRAIN_GIB, parts, limit / TRAIN_GIB, what,
                          c->shards[0] ? ", shuffle, ready_batches or workers" : "");
    bcos_info("%s: memory estimate %.2f GiB of %.1f GiB (%s; GiB: %s)", run->kind->name, total / TRAIN_GIB,
              limit / TRAIN_GIB, what, parts);
    return 0;
}
