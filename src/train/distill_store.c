/* The distill run's bookkeeping in the store: the run begun or taken up (resumed from its newest
 * usable checkpoint), metrics per step written in batches, skipped steps and preemptions as
 * events, checkpoints when due or requested (a signal), and the run's status at the end. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/log.h"
#include "distill_internal.h"

/* Requests from signal handlers: the signal's number, 0 for none. Lock-free atomics are
 * async-signal-safe. */
static atomic_int g_checkpoint_signal, g_stop_signal;

void bcos_distill_request(int signo, int stop) { atomic_store(stop ? &g_stop_signal : &g_checkpoint_signal, signo); }

/* Take up the run's newest usable checkpoint, if any. Returns 0, or -1 with err. */
static int resume_from_checkpoint(distill_run *r, char *err, size_t errlen) {
    bcos_checkpoint c;
    if (!bcos_store_checkpoint_resume(r->store, r->run_id, &c)) {
        bcos_info("run '%s' has no usable checkpoint: starting at step 0", r->cfg->run);
        return 0;
    }
    int rc = distill_checkpoint_restore(r, &c, err, errlen);
    if (rc == 0) {
        r->checkpoint_step = c.step;
        bcos_info("run '%s' resumes from its checkpoint at step %lld of %lld (epoch %lld, %lld samples seen)",
                  r->cfg->run, (long long)c.step, (long long)r->cfg->steps, (long long)c.epoch,
                  (long long)c.samples_seen);
    }
    bcos_checkpoint_free(&c);
    return rc;
}

int distill_store_begin(distill_run *r, char *err, size_t errlen) {
    const bcos_distill_config *cfg = r->cfg;
    r->checkpoint_time = bcos_now_seconds();
    if (!cfg->run[0]) return 0;
    const char *db = cfg->db[0] ? cfg->db : bcos_store_default_path();
    if (bcos_store_open(db, NULL, &r->store, err, errlen) != 0) return -1;
    int64_t id;
    char why[BCOS_ERRLEN];
    int exists = bcos_store_run_find(r->store, cfg->run, &id, why, sizeof why) == 0;
    if (cfg->resume && !exists) {
        snprintf(err, errlen, "%s: nothing to resume (without 'resume' the run starts afresh)", why);
        return -1;
    }
    char *job = bcos_distill_job_text(cfg);
    bcos_run run;
    int rc = bcos_store_run_begin(r->store, cfg->run, job, 1, BCOS_VERSION, &run, err, errlen);
    free(job);
    if (rc != 0) return -1;
    r->run_id = run.id;
    if (run.created) {
        bcos_info("run '%s' begins in %s", cfg->run, db);
        return 0;
    }
    return resume_from_checkpoint(r, err, errlen);
}

void distill_store_flush(distill_run *r) {
    if (r->store && r->n_pending) bcos_store_metrics_add(r->store, r->run_id, r->pending, r->n_pending);
    r->n_pending = 0;
}

void distill_store_step_done(distill_run *r, const bcos_metric *m, int skipped) {
    if (!r->store) return;
    if (r->n_pending == r->cfg->log_every) distill_store_flush(r);
    r->pending[r->n_pending++] = *m;
    if (skipped)
        bcos_store_event_add(r->store, r->run_id, m->step, BCOS_EVENT_SKIP, "non-finite loss or gradient", 1,
                             "the step's update was not applied");
}

static const char *signal_name(int signo) {
    switch (signo) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    default: return "a signal";
    }
}

/* What the data path skipped or retried, as events; with each checkpoint, so that a resume counts
 * again at most what it reads again. */
static void record_data_events(distill_run *r) {
    if (r->source && r->source->record_events) r->source->record_events(r->source, r);
}

/* Commit a checkpoint at r->step (the metrics up to it first, so that none is lost behind it). */
static int checkpoint(distill_run *r, char *err, size_t errlen) {
    distill_store_flush(r);
    if (distill_checkpoint_commit(r, err, errlen) != 0) return -1;
    record_data_events(r);
    r->checkpoint_step = r->step;
    r->checkpoint_time = bcos_now_seconds();
    bcos_info("checkpoint at step %lld committed", (long long)r->step);
    return 0;
}

int distill_store_after_step(distill_run *r, int *stop, char *err, size_t errlen) {
    const bcos_distill_config *cfg = r->cfg;
    int last = r->step == cfg->steps;
    /* taken even without a store, so that they do not linger for a later run */
    int checkpoint_signal = atomic_exchange(&g_checkpoint_signal, 0);
    /* on the last step a request to stop is moot: the run finishes */
    int stop_signal = last ? 0 : atomic_exchange(&g_stop_signal, 0);
    if (!r->store) return 0;
    int due = last || checkpoint_signal || stop_signal ||
              (cfg->checkpoint_every > 0 && r->step % cfg->checkpoint_every == 0) ||
              (cfg->checkpoint_minutes > 0 && bcos_now_seconds() - r->checkpoint_time >= cfg->checkpoint_minutes * 60);
    if (!due) return 0;
    if (checkpoint(r, err, errlen) != 0) return -1;
    int signo = stop_signal ? stop_signal : checkpoint_signal;
    if (!signo) return 0;
    char reason[96];
    snprintf(reason, sizeof reason, "%s: %s", signal_name(signo),
             stop_signal ? "checkpointed and stopped" : "checkpointed on request, training goes on");
    bcos_store_event_add(r->store, r->run_id, r->step, BCOS_EVENT_PREEMPTION, reason, 1, NULL);
    if (stop_signal) bcos_warn("%s at step %lld: stopping; the same command resumes the run", reason, (long long)r->step);
    *stop = stop_signal != 0;
    return 0;
}

void distill_store_end(distill_run *r, bcos_run_status status) {
    if (!r->store) return;
    if (r->run_id) {
        distill_store_flush(r);
        record_data_events(r);
        bcos_store_run_set_status(r->store, r->run_id, status);
    }
    bcos_store_close(r->store);
    r->store = NULL;
}
