/* A training run's bookkeeping in the store (either kind): the run begun or taken up (its newest usable
 * checkpoint found), metrics per step written in batches, skipped steps, preemptions and what the
 * data path counted as events, checkpoints when due or requested (a signal), and the run's status
 * at the end. Only rank 0 opens the store; the decisions every rank must share (resume, checkpoint
 * now, stop) and the data path's counts are agreed and summed here, in the ranks' agreements
 * below, so that no rank waits for one that went another way. */
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/log.h"
#include "bcos/urls.h"
#include "bcos/world.h"
#include "train_internal.h"

/* The reason of the fault events that count lost samples (bcos_store_event_total sums them). */
#define SHARD_LOST "shard lost"

/* Requests from signal handlers, [0] to checkpoint and [1] to checkpoint and stop: how many came
 * and the last one's signal (lock-free atomics are async-signal-safe). mpirun and srun hand a
 * signal to every rank, each at its own step: counting lets the ranks agree on one checkpoint per
 * signal rather than one per rank. */
static atomic_int g_requests[2], g_request_signo[2];
/* Requests acted upon (in this process, over all its runs): main thread only. */
static int g_handled[2];

void bcos_train_request(int signo, int stop) {
    atomic_store(&g_request_signo[stop != 0], signo);
    atomic_fetch_add(&g_requests[stop != 0], 1);
}

int train_stop_pending(const train_run *run) { return run->cfg->run[0] && atomic_load(&g_requests[1]) > g_handled[1]; }

/* Rank 0: opens the store and begins or takes up the run; *found says whether it has a usable
 * checkpoint, then in *c. Returns 0, or -1 with err. */
static int open_run(train_run *run, bcos_checkpoint *c, int *found, char *err, size_t errlen) {
    const bcos_distill_config *cfg = run->cfg;
    if (bcos_store_open(cfg->db, NULL, &run->store, err, errlen) != 0) return -1;
    /* one writer per run; and never a store that lags its checkpoint files, whose folders it would reuse */
    if (bcos_store_lease_take(run->store, cfg->run, err, errlen) != 0 || bcos_store_check_files(run->store, err, errlen) != 0)
        return -1;
    int64_t id;
    char why[BCOS_ERRLEN];
    int exists = bcos_store_run_find(run->store, cfg->run, &id, why, sizeof why) == 0;
    if (cfg->resume && !exists)
        return bcos_error(err, errlen, why, "nothing to resume (without 'resume' the run starts afresh)");
    char *job = run->kind->job_text(run);
    bcos_run record;
    int rc = bcos_store_run_begin(run->store, cfg->run, run->kind->run_kind, job, run->world, BCOS_VERSION, &record, err, errlen);
    free(job);
    if (rc != 0) return -1;
    run->run_id = record.id;
    if (record.created) {
        bcos_info("run '%s' begins in %s", cfg->run, bcos_store_path(run->store));
        return 0;
    }
    *found = bcos_store_checkpoint_resume(run->store, run->run_id, c);
    if (!*found) bcos_info("run '%s' has no usable checkpoint: starting at step 0", cfg->run);
    return 0;
}

int train_store_begin(train_run *run, bcos_checkpoint *c, int *found, char *err, size_t errlen) {
    run->checkpoint_time = bcos_now_seconds();
    *found = 0;
    if (!run->cfg->run[0]) return 0;
    /* rank 0 fails alone, and its abort ends the others waiting here */
    if (run->rank == 0 && open_run(run, c, found, err, errlen) != 0) return -1;
    bcos_world_bcast(found, sizeof *found);
    return 0;
}

void train_store_resumed(train_run *run, const bcos_checkpoint *c, const char *note) {
    const bcos_distill_config *cfg = run->cfg;
    if (run->store && note[0])
        bcos_store_event_add(run->store, run->run_id, c->step, BCOS_EVENT_PREEMPTION, note, 1, NULL);
    /* max_lost holds for the whole run: what its earlier processes lost up to the checkpoint counts */
    int64_t lost = run->store ? bcos_store_event_total(run->store, run->run_id, BCOS_EVENT_FAULT, SHARD_LOST, c->step) : 0;
    bcos_world_bcast(&lost, sizeof lost);
    run->data_lost += lost;
    run->checkpoint_step = c->step;
    bcos_info("run '%s' resumes from its checkpoint at step %lld of %lld (epoch %lld, %lld samples seen)", cfg->run,
              (long long)c->step, (long long)cfg->steps, (long long)c->epoch, (long long)c->samples_seen);
}

void train_store_flush(train_run *run) {
    if (run->store && run->n_pending) bcos_store_metrics_add(run->store, run->run_id, run->pending, run->n_pending);
    run->n_pending = 0;
}

void train_store_step_done(train_run *run, const bcos_metric *m, int skipped) {
    if (!run->store) return;
    if (run->n_pending == TRAIN_PENDING_ROWS) train_store_flush(run);
    run->pending[run->n_pending++] = *m;
    if (skipped)
        bcos_store_event_add(run->store, run->run_id, m->step, BCOS_EVENT_SKIP, "non-finite loss or gradient", 1,
                             "the step's update was not applied");
}

static const char *signal_name(int signo) {
    switch (signo) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    default: return "a signal";
    }
}

int train_store_checkpoint(train_run *run, const char *position, int64_t epoch, char *err, size_t errlen) {
    train_store_flush(run);
    if (train_checkpoint_commit(run, position, epoch, err, errlen) != 0) return -1;
    run->checkpoint_step = run->step;
    run->checkpoint_time = bcos_now_seconds();
    bcos_info("checkpoint at step %lld committed", (long long)run->step);
    return 0;
}

static void event(train_run *run, bcos_event_kind kind, const char *reason, int64_t now, int64_t before) {
    if (now > before) bcos_store_event_add(run->store, run->run_id, run->step, kind, reason, now - before, NULL);
}

/* Rank 0's event for shard k's new losses: the samples, named with the shard's URL. */
static void shard_lost_event(train_run *run, const distill_counters *c, long k, int64_t samples, int64_t unknown) {
    char detail[BCOS_ERRLEN + 128];
    char *url = bcos_url_redact(c->urls[k]);
    if (samples > 0) {
        snprintf(detail, sizeof detail, "%s: %" PRId64 " of its %ld known samples not read (it failed or ended short)",
                 url, samples, c->counts[k]);
        bcos_store_event_add(run->store, run->run_id, run->step, BCOS_EVENT_FAULT, SHARD_LOST ": samples", samples,
                             detail);
    }
    if (unknown > 0) {
        snprintf(detail, sizeof detail, "%s: failed; how many samples it lost is not known", url);
        bcos_store_event_add(run->store, run->run_id, run->step, BCOS_EVENT_FAULT, SHARD_LOST ": sample count unknown",
                             unknown, detail);
    }
    free(url);
}

/* What grew from was to now (the world's counters) as events. */
static void counter_events(train_run *run, const distill_counters *c, const int64_t *now, const int64_t *was) {
    long n = c->shards;
    for (int v = BCOS_SAMPLE_OK + 1; v < BCOS_SKIP_REASONS; v++) {
        char reason[64];
        snprintf(reason, sizeof reason, "sample skipped: %s", bcos_sample_verdict_name((bcos_sample_verdict)v));
        event(run, BCOS_EVENT_SKIP, reason, now[v], was[v]);
    }
    event(run, BCOS_EVENT_RETRY, "shard transfer retried", now[DISTILL_RETRIES], was[DISTILL_RETRIES]);
    event(run, BCOS_EVENT_RETRY, "loader worker started over on its shards", now[DISTILL_RESTARTS],
          was[DISTILL_RESTARTS]);
    event(run, BCOS_EVENT_RETRY, "sizes.json or shard count transfer retried", now[DISTILL_SIZES_RETRIES],
          was[DISTILL_SIZES_RETRIES]);
    for (long k = 0; k < n; k++)
        shard_lost_event(run, c, k, now[DISTILL_FIXED_COUNTERS + k] - was[DISTILL_FIXED_COUNTERS + k],
                         now[DISTILL_FIXED_COUNTERS + n + k] - was[DISTILL_FIXED_COUNTERS + n + k]);
}

int train_store_answer(train_run *run, const train_requests *req) {
    int signo = req->stop_signal ? req->stop_signal : req->checkpoint_signal;
    if (!signo) return 0;
    char reason[96];
    snprintf(reason, sizeof reason, "%s: %s", signal_name(signo),
             req->stop_signal ? "checkpointed and stopped" : "checkpointed on request, training goes on");
    if (run->store) bcos_store_event_add(run->store, run->run_id, run->step, BCOS_EVENT_PREEMPTION, reason, 1, NULL);
    if (req->stop_signal)
        bcos_warn("%s at step %lld: stopping; the same command resumes the run", reason, (long long)run->step);
    return req->stop_signal != 0;
}

void train_store_end(train_run *run, bcos_run_status status, const char *why) {
    if (!run->store) return;
    if (run->run_id) {
        train_store_flush(run);
        if (status == BCOS_RUN_FAILED)
            bcos_store_event_add(run->store, run->run_id, run->step, BCOS_EVENT_FAILURE, "run failed", 1, why);
        bcos_store_run_set_status(run->store, run->run_id, status);
    }
    bcos_store_close(run->store);
    run->store = NULL;
}

/* ---- the ranks' agreements: on a stop, on a checkpoint, and the data path's counts summed ---- */

int train_agree_stop(int gave_up) {
    bcos_world_max_int(&gave_up, 1);
    return gave_up;
}

void train_store_counters(train_run *run, const distill_counters *c) {
    if (!run->counters) {
        run->n_counters = c->n;
        run->counters = xcalloc(2 * c->n, sizeof *run->counters);
    }
    BCOS_CHECK(c->n == run->n_counters, "a source counts the same counters all along");
    int64_t *was = run->counters, *now = run->counters + c->n;
    memcpy(now, c->values, c->n * sizeof *now);
    bcos_world_sum_i64(now, c->n);
    long n = c->shards;
    for (long k = DISTILL_FIXED_COUNTERS; k < DISTILL_FIXED_COUNTERS + 2 * n; k++) run->data_lost += now[k] - was[k];
    for (int v = BCOS_SAMPLE_OK + 1; v < BCOS_SKIP_REASONS; v++) run->data_skipped += now[v] - was[v];
    if (run->store) counter_events(run, c, now, was);
    memcpy(was, now, c->n * sizeof *now);
}

/* Whether a checkpoint is due after this step, and whether to stop: new requests by signal on any
 * rank (the last one's signal), the time since the last checkpoint on rank 0's clock. */
int train_store_due(train_run *run, train_requests *req) {
    const bcos_distill_config *cfg = run->cfg;
    int agreed[5] = {atomic_load(&g_requests[0]), atomic_load(&g_requests[1]), atomic_load(&g_request_signo[0]),
                     atomic_load(&g_request_signo[1]),
                     run->rank == 0 && cfg->checkpoint_minutes > 0 &&
                         bcos_now_seconds() - run->checkpoint_time >= cfg->checkpoint_minutes * 60};
    bcos_world_max_int(agreed, 5);
    /* taken even without a store, so that they do not linger for a later run */
    req->checkpoint_signal = agreed[0] > g_handled[0] ? agreed[2] : 0;
    /* on the last step a request to stop is moot: the run finishes */
    req->stop_signal = agreed[1] > g_handled[1] && run->step < cfg->steps ? agreed[3] : 0;
    g_handled[0] = agreed[0];
    g_handled[1] = agreed[1];
    int due = run->step == cfg->steps || req->checkpoint_signal || req->stop_signal || agreed[4] ||
              (cfg->checkpoint_every > 0 && run->step % cfg->checkpoint_every == 0);
    return cfg->run[0] && due;
}
