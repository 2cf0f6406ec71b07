/* What the training and evaluation loops record besides checkpoints: metrics per step, events
 * (retries, skips, faults, preemptions) and evaluation results. Each call is one transaction. */
#include "internal.h"

static const char *const EVENT_KIND_NAMES[] = {"retry", "skip", "fault", "preemption", "failure"};
const char *const store_model_role_names[] = {"teacher", "student"};

void bcos_store_metrics_add(bcos_store *s, int64_t run_id, const bcos_metric *rows, int n) {
    BCOS_CHECK(n >= 0 && (n == 0 || rows), "bcos_store_metrics_add: invalid arguments");
    if (store_lease_lost(s)) return; /* another process writes the run now */
    store_begin_write(s);
    store_touch_run(s, run_id);
    sqlite3_stmt *st = store_prepare(
        s, "INSERT INTO metrics (run_id, step, loss, cos, lr, grad_norm, images_per_s, skipped_samples)"
           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
           " ON CONFLICT (run_id, step) DO UPDATE SET loss = excluded.loss, cos = excluded.cos, lr = excluded.lr,"
           " grad_norm = excluded.grad_norm, images_per_s = excluded.images_per_s,"
           " skipped_samples = excluded.skipped_samples, created_at = excluded.created_at");
    for (int i = 0; i < n; i++) {
        const bcos_metric *m = &rows[i];
        store_bind_int64(s, st, 1, run_id);
        store_bind_int64(s, st, 2, m->step);
        store_bind_double(s, st, 3, m->loss);
        store_bind_double(s, st, 4, m->cos);
        store_bind_double(s, st, 5, m->lr);
        store_bind_double(s, st, 6, m->grad_norm);
        store_bind_double(s, st, 7, m->images_per_s);
        store_bind_int64(s, st, 8, m->skipped_samples);
        store_step(s, st);
        store_check(s, sqlite3_reset(st));
    }
    store_finalize(s, st);
    store_commit(s);
}

void store_insert_event(bcos_store *s, int64_t run_id, int64_t step, bcos_event_kind kind, const char *reason,
                        int64_t count, const char *detail) {
    BCOS_CHECK(kind >= BCOS_EVENT_RETRY && kind <= BCOS_EVENT_FAILURE && reason && count >= 1,
               "bcos_store_event_add: invalid arguments");
    store_touch_run(s, run_id);
    sqlite3_stmt *st = store_prepare(
        s, "INSERT INTO events (run_id, step, kind, reason, count, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    store_bind_int64(s, st, 1, run_id);
    if (step >= 0) store_bind_int64(s, st, 2, step);
    else store_check(s, sqlite3_bind_null(st, 2));
    store_bind_text(s, st, 3, EVENT_KIND_NAMES[kind]);
    store_bind_text(s, st, 4, reason);
    store_bind_int64(s, st, 5, count);
    store_bind_text(s, st, 6, detail);
    store_step(s, st);
    store_finalize(s, st);
}

void bcos_store_event_add(bcos_store *s, int64_t run_id, int64_t step, bcos_event_kind kind, const char *reason,
                          int64_t count, const char *detail) {
    if (store_lease_lost(s)) return;
    store_begin_write(s);
    store_insert_event(s, run_id, step, kind, reason, count, detail);
    store_commit(s);
}

int64_t bcos_store_event_total(bcos_store *s, int64_t run_id, bcos_event_kind kind, const char *reason_prefix,
                               int64_t max_step) {
    BCOS_CHECK(kind >= BCOS_EVENT_RETRY && kind <= BCOS_EVENT_FAILURE && reason_prefix,
               "bcos_store_event_total: invalid arguments");
    sqlite3_stmt *st = store_prepare(s, "SELECT coalesce(sum(count), 0) FROM events WHERE run_id = ?1 AND kind = ?2"
                                        " AND substr(reason, 1, length(?3)) = ?3 AND step <= ?4");
    store_bind_int64(s, st, 1, run_id);
    store_bind_text(s, st, 2, EVENT_KIND_NAMES[kind]);
    store_bind_text(s, st, 3, reason_prefix);
    store_bind_int64(s, st, 4, max_step);
    BCOS_CHECK(store_step(s, st), "a sum has one row");
    int64_t total = sqlite3_column_int64(st, 0);
    store_finalize(s, st);
    return total;
}

/* A result's checkpoint must be one of the run's own. */
static void check_checkpoint_of_run(bcos_store *s, int64_t run_id, int64_t ckpt_id) {
    sqlite3_stmt *st = store_prepare(s, "SELECT run_id FROM checkpoints WHERE id = ?1");
    store_bind_int64(s, st, 1, ckpt_id);
    int ok = store_step(s, st) && sqlite3_column_int64(st, 0) == run_id;
    store_finalize(s, st);
    BCOS_CHECK(ok, "an evaluation result names a checkpoint that is not one of its run's");
}

void bcos_store_results_add(bcos_store *s, int64_t run_id, const bcos_eval_result *rows, int n) {
    BCOS_CHECK(n >= 0 && (n == 0 || rows), "bcos_store_results_add: invalid arguments");
    store_begin_write(s);
    store_touch_run(s, run_id);
    /* REPLACE: evaluating the same thing again replaces the earlier row (eval_results_key). */
    sqlite3_stmt *st = store_prepare(
        s, "INSERT OR REPLACE INTO eval_results (run_id, checkpoint_id, model, dataset, split, task, metric, value,"
           " samples) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    for (int i = 0; i < n; i++) {
        const bcos_eval_result *r = &rows[i];
        BCOS_CHECK((r->model == BCOS_MODEL_TEACHER || r->model == BCOS_MODEL_STUDENT) && r->dataset && r->split &&
                       r->metric && r->samples >= 0,
                   "bcos_store_results_add: invalid result");
        /* a student result without a checkpoint (outside an eval run) is refused by the schema's trigger */
        if (r->checkpoint_id > 0) check_checkpoint_of_run(s, run_id, r->checkpoint_id);
        store_bind_int64(s, st, 1, run_id);
        if (r->checkpoint_id > 0) store_bind_int64(s, st, 2, r->checkpoint_id);
        else store_check(s, sqlite3_bind_null(st, 2));
        store_bind_text(s, st, 3, store_model_role_names[r->model]);
        store_bind_text(s, st, 4, r->dataset);
        store_bind_text(s, st, 5, r->split);
        store_bind_text(s, st, 6, r->task ? r->task : "zeroshot_classification");
        store_bind_text(s, st, 7, r->metric);
        store_bind_double(s, st, 8, r->value);
        store_bind_int64(s, st, 9, r->samples);
        store_step(s, st);
        store_check(s, sqlite3_reset(st));
    }
    store_finalize(s, st);
    store_commit(s);
}

int bcos_store_results_exist(bcos_store *s, int64_t run_id, int64_t checkpoint_id, bcos_model_role model,
                             const char *dataset, const char *split, const char *task) {
    sqlite3_stmt *st = store_prepare(s, "SELECT count(*) FROM eval_results WHERE run_id = ?1 AND"
                                        " ifnull(checkpoint_id, 0) = ?2 AND model = ?3 AND dataset = ?4 AND split = ?5"
                                        " AND task = ?6");
    store_bind_int64(s, st, 1, run_id);
    store_bind_int64(s, st, 2, checkpoint_id);
    store_bind_text(s, st, 3, store_model_role_names[model]);
    store_bind_text(s, st, 4, dataset);
    store_bind_text(s, st, 5, split);
    store_bind_text(s, st, 6, task ? task : "zeroshot_classification");
    store_step(s, st);
    int exist = sqlite3_column_int64(st, 0) > 0;
    store_finalize(s, st);
    return exist;
}
