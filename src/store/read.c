/* Reading a run back for the report and the live view: the runs' rows, metrics, events,
 * checkpoints, resumes and explanation pictures, each read in one read transaction (in WAL mode a reader
 * never waits for the writer, nor the writer for it); and recording explanation pictures. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A REAL column that may be NULL, as a double (NaN for NULL). */
static double column_double_or_nan(sqlite3_stmt *st, int col) {
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

/* Room for one more element of size `size` in *items (count n): the new element, zeroed. */
static void *append(void **items, int n, size_t size) {
    *items = xrealloc(*items, (size_t)(n + 1) * size);
    void *item = (char *)*items + (size_t)n * size;
    memset(item, 0, size);
    return item;
}

#define RUN_COLUMNS "id, name, kind, status, job_text, code_version, created_at, updated_at, world_size"

static void read_run_row(sqlite3_stmt *st, bcos_run_info *r) {
    r->id = sqlite3_column_int64(st, 0);
    r->name = store_column_strdup(st, 1);
    r->kind = store_column_strdup(st, 2);
    r->status = store_column_strdup(st, 3);
    r->job_text = store_column_strdup(st, 4);
    r->code_version = store_column_strdup(st, 5);
    r->created_at = store_column_strdup(st, 6);
    r->updated_at = store_column_strdup(st, 7);
    r->world_size = sqlite3_column_int(st, 8);
}

int bcos_store_run_infos(bcos_store *s, const char *const *names, int n_names, bcos_run_info **out, char *err,
                         size_t errlen) {
    *out = NULL;
    int n = 0;
    store_begin_read(s);
    if (!names) {
        sqlite3_stmt *st = store_prepare(s, "SELECT " RUN_COLUMNS " FROM runs ORDER BY id");
        while (store_step(s, st)) read_run_row(st, append((void **)out, n++, sizeof **out));
        store_finalize(s, st);
    }
    for (int i = 0; names && i < n_names; i++) {
        sqlite3_stmt *st = store_prepare(s, "SELECT " RUN_COLUMNS " FROM runs WHERE name = ?1");
        store_bind_text(s, st, 1, names[i]);
        int found = store_step(s, st);
        if (found) read_run_row(st, append((void **)out, n++, sizeof **out));
        store_finalize(s, st);
        if (!found) {
            store_commit(s);
            bcos_run_infos_free(*out, n);
            *out = NULL;
            return bcos_error(err, errlen, s->path, "no run named '%s'", names[i]);
        }
    }
    store_commit(s);
    return n;
}

void bcos_run_infos_free(bcos_run_info *runs, int n) {
    for (int i = 0; i < n; i++) {
        bcos_run_info *r = &runs[i];
        free(r->name), free(r->kind), free(r->status), free(r->job_text), free(r->code_version);
        free(r->created_at), free(r->updated_at);
    }
    free(runs);
}

int bcos_store_run_has_writer(bcos_store *s, const char *name) {
    sqlite3_stmt *st = store_prepare(
        s, "SELECT count(*) FROM run_leases WHERE run = ?1 AND julianday(expires_at) > julianday('now')");
    store_bind_text(s, st, 1, name);
    store_step(s, st);
    int held = sqlite3_column_int(st, 0) > 0;
    store_finalize(s, st);
    return held;
}

int bcos_store_metrics_read(bcos_store *s, int64_t run_id, int last, bcos_metric **rows) {
    *rows = NULL;
    int n = 0;
    store_begin_read(s);
    /* the newest `last` rows (all when last <= 0, as LIMIT -1 means), returned by ascending step */
    sqlite3_stmt *st = store_prepare(
        s, "SELECT * FROM (SELECT step, loss, cos, lr, grad_norm, images_per_s, skipped_samples FROM metrics"
           " WHERE run_id = ?1 ORDER BY step DESC LIMIT ?2) ORDER BY step");
    store_bind_int64(s, st, 1, run_id);
    store_bind_int64(s, st, 2, last > 0 ? last : -1);
    while (store_step(s, st)) {
        bcos_metric *m = append((void **)rows, n++, sizeof **rows);
        m->step = sqlite3_column_int64(st, 0);
        m->loss = column_double_or_nan(st, 1);
        m->cos = column_double_or_nan(st, 2);
        m->lr = column_double_or_nan(st, 3);
        m->grad_norm = column_double_or_nan(st, 4);
        m->images_per_s = column_double_or_nan(st, 5);
        m->skipped_samples = sqlite3_column_int64(st, 6);
    }
    store_finalize(s, st);
    store_commit(s);
    return n;
}

int bcos_store_events_read(bcos_store *s, int64_t run_id, bcos_event_row **rows) {
    *rows = NULL;
    int n = 0;
    store_begin_read(s);
    sqlite3_stmt *st = store_prepare(
        s, "SELECT ifnull(step, -1), kind, reason, detail, created_at, count FROM events WHERE run_id = ?1 ORDER BY id");
    store_bind_int64(s, st, 1, run_id);
    while (store_step(s, st)) {
        bcos_event_row *e = append((void **)rows, n++, sizeof **rows);
        e->step = sqlite3_column_int64(st, 0);
        e->kind = store_column_strdup(st, 1);
        e->reason = store_column_strdup(st, 2);
        e->detail = store_column_strdup(st, 3);
        e->created_at = store_column_strdup(st, 4);
        e->count = sqlite3_column_int64(st, 5);
    }
    store_finalize(s, st);
    store_commit(s);
    return n;
}

void bcos_event_rows_free(bcos_event_row *rows, int n) {
    for (int i = 0; i < n; i++) free(rows[i].kind), free(rows[i].reason), free(rows[i].detail), free(rows[i].created_at);
    free(rows);
}

int bcos_store_checkpoint_rows(bcos_store *s, int64_t run_id, bcos_checkpoint_row **rows) {
    *rows = NULL;
    int n = 0;
    store_begin_read(s);
    sqlite3_stmt *st = store_prepare(
        s, "SELECT c.step, c.epoch, c.samples_seen,"
           " (SELECT total(bytes) FROM checkpoint_files f WHERE f.checkpoint_id = c.id),"
           " c.world_size, c.state, c.created_at FROM checkpoints c WHERE c.run_id = ?1 ORDER BY c.step, c.id");
    store_bind_int64(s, st, 1, run_id);
    while (store_step(s, st)) {
        bcos_checkpoint_row *c = append((void **)rows, n++, sizeof **rows);
        c->step = sqlite3_column_int64(st, 0);
        c->epoch = sqlite3_column_int64(st, 1);
        c->samples_seen = sqlite3_column_int64(st, 2);
        c->bytes = sqlite3_column_int64(st, 3);
        c->world_size = sqlite3_column_int(st, 4);
        c->state = store_column_strdup(st, 5);
        c->created_at = store_column_strdup(st, 6);
    }
    store_finalize(s, st);
    store_commit(s);
    return n;
}

void bcos_checkpoint_rows_free(bcos_checkpoint_row *rows, int n) {
    for (int i = 0; i < n; i++) free(rows[i].state), free(rows[i].created_at);
    free(rows);
}

int bcos_store_resumes_read(bcos_store *s, int64_t run_id, bcos_resume_row **rows) {
    *rows = NULL;
    int n = 0;
    store_begin_read(s);
    sqlite3_stmt *st = store_prepare(s, "SELECT step, world_size FROM resumes WHERE run_id = ?1 ORDER BY id");
    store_bind_int64(s, st, 1, run_id);
    while (store_step(s, st)) {
        bcos_resume_row *r = append((void **)rows, n++, sizeof **rows);
        r->step = sqlite3_column_int64(st, 0);
        r->world_size = sqlite3_column_int(st, 1);
    }
    store_finalize(s, st);
    store_commit(s);
    return n;
}

void bcos_store_explanation_add(bcos_store *s, int64_t run_id, const bcos_explanation *e) {
    BCOS_CHECK(e && e->image && e->prompt && e->png && e->png_bytes > 0, "bcos_store_explanation_add: invalid arguments");
    store_begin_write(s);
    store_touch_run(s, run_id);
    sqlite3_stmt *st = store_prepare(
        s, "INSERT INTO explanations (run_id, step, image, prompt, score, cosine, completeness_error, png)"
           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    store_bind_int64(s, st, 1, run_id);
    if (e->step >= 0) store_bind_int64(s, st, 2, e->step);
    else store_check(s, sqlite3_bind_null(st, 2));
    store_bind_text(s, st, 3, e->image);
    store_bind_text(s, st, 4, e->prompt);
    store_bind_double(s, st, 5, e->score);
    store_bind_double(s, st, 6, e->cosine);
    store_bind_double(s, st, 7, e->completeness_error);
    store_bind_blob(s, st, 8, e->png, e->png_bytes);
    store_step(s, st);
    store_finalize(s, st);
    store_commit(s);
}

int bcos_store_explanations_read(bcos_store *s, int64_t run_id, bcos_explanation **rows) {
    *rows = NULL;
    int n = 0;
    store_begin_read(s);
    sqlite3_stmt *st = store_prepare(
        s, "SELECT ifnull(step, -1), image, prompt, score, cosine, completeness_error, png, created_at"
           " FROM explanations WHERE run_id = ?1 ORDER BY id");
    store_bind_int64(s, st, 1, run_id);
    while (store_step(s, st)) {
        bcos_explanation *e = append((void **)rows, n++, sizeof **rows);
        e->step = sqlite3_column_int64(st, 0);
        e->image = store_column_strdup(st, 1);
        e->prompt = store_column_strdup(st, 2);
        e->score = column_double_or_nan(st, 3);
        e->cosine = column_double_or_nan(st, 4);
        e->completeness_error = column_double_or_nan(st, 5);
        e->png_bytes = (size_t)sqlite3_column_bytes(st, 6);
        e->png = xmalloc(e->png_bytes ? e->png_bytes : 1);
        if (e->png_bytes) memcpy(e->png, sqlite3_column_blob(st, 6), e->png_bytes);
        e->created_at = store_column_strdup(st, 7);
    }
    store_finalize(s, st);
    store_commit(s);
    return n;
}

void bcos_explanations_free(bcos_explanation *rows, int n) {
    for (int i = 0; i < n; i++) free(rows[i].image), free(rows[i].prompt), free(rows[i].png), free(rows[i].created_at);
    free(rows);
}
