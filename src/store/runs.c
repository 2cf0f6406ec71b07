/* Runs: created by name with the job file they run, taken up again on resume (same job only),
 * and their status. */
#include "internal.h"

#include <string.h>

#include "bcos/sha256.h"

static const char *const RUN_STATUS_NAMES[] = {"running", "done", "failed", "preempted"};

/* Inside the write transaction: take up the existing run row, or return 0 when there is none. */
static int resume_existing(bcos_store *s, const char *name, const char *job_sha, int world_size,
                           const char *code_version, bcos_run *run, char *err, size_t errlen) {
    sqlite3_stmt *st = store_prepare(s, "SELECT id, job_sha256, world_size FROM runs WHERE name = ?1");
    store_bind_text(s, st, 1, name);
    if (!store_step(s, st)) {
        store_finalize(s, st);
        return 0;
    }
    run->id = sqlite3_column_int64(st, 0);
    run->created = 0;
    run->previous_world_size = sqlite3_column_int(st, 2);
    int same_job = strcmp((const char *)sqlite3_column_text(st, 1), job_sha) == 0;
    store_finalize(s, st);
    if (!same_job)
        return bcos_error(err, errlen, s->path,
                          "run '%s' exists with a different job file: a changed job needs a new run name", name);
    st = store_prepare(s, "UPDATE runs SET status = 'running', world_size = ?2, code_version = ?3, updated_at = " STORE_NOW
                          " WHERE id = ?1");
    store_bind_int64(s, st, 1, run->id);
    store_bind_int64(s, st, 2, world_size);
    store_bind_text(s, st, 3, code_version);
    store_step(s, st);
    store_finalize(s, st);
    return 1;
}

int bcos_store_run_begin(bcos_store *s, const char *name, bcos_run_kind kind, const char *job_text, int world_size,
                         const char *code_version, bcos_run *run, char *err, size_t errlen) {
    BCOS_CHECK(name && job_text && code_version && run && world_size > 0 && kind >= BCOS_RUN_DISTILL &&
                   kind <= BCOS_RUN_PRETRAIN,
               "bcos_store_run_begin: invalid arguments");
    if (!*name) return bcos_error(err, errlen, s->path, "a run needs a name");
    char job_sha[BCOS_SHA256_HEX];
    bcos_sha256_hex(job_text, strlen(job_text), job_sha);
    store_begin_write(s);
    int found = resume_existing(s, name, job_sha, world_size, code_version, run, err, errlen);
    if (found < 0) {
        store_rollback(s);
        return -1;
    }
    if (!found) {
        sqlite3_stmt *st = store_prepare(
            s, "INSERT INTO runs (name, job_text, job_sha256, world_size, code_version, kind) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
        store_bind_text(s, st, 1, name);
        store_bind_text(s, st, 2, job_text);
        store_bind_text(s, st, 3, job_sha);
        store_bind_int64(s, st, 4, world_size);
        store_bind_text(s, st, 5, code_version);
        static const char *const KIND_NAMES[] = {"distill", "eval", "pretrain"};
        store_bind_text(s, st, 6, KIND_NAMES[kind]);
        store_step(s, st);
        store_finalize(s, st);
        *run = (bcos_run){sqlite3_last_insert_rowid(s->db), 1, world_size};
    }
    store_commit(s);
    s->writing_run = run->id;
    return 0;
}

int bcos_store_run_find(bcos_store *s, const char *name, int64_t *run_id, char *err, size_t errlen) {
    sqlite3_stmt *st = store_prepare(s, "SELECT id FROM runs WHERE name = ?1");
    store_bind_text(s, st, 1, name);
    int found = store_step(s, st);
    if (found) *run_id = sqlite3_column_int64(st, 0);
    store_finalize(s, st);
    return found ? 0 : bcos_error(err, errlen, s->path, "no run named '%s'", name);
}

void bcos_store_run_set_status(bcos_store *s, int64_t run_id, bcos_run_status status) {
    BCOS_CHECK(status >= BCOS_RUN_RUNNING && status <= BCOS_RUN_PREEMPTED, "unknown run status");
    if (store_lease_lost(s)) return; /* another process writes the run now */
    store_begin_write(s);
    /* The tasks of an evaluation array share their eval run and may overlap: one that ends well
     * does not hide another's failure (the run's next begin sets it running again). */
    sqlite3_stmt *st = store_prepare(s, "UPDATE runs SET status = CASE WHEN kind = 'eval' AND status = 'failed'"
                                        " AND ?2 = 'done' THEN status ELSE ?2 END, updated_at = " STORE_NOW
                                        " WHERE id = ?1");
    store_bind_int64(s, st, 1, run_id);
    store_bind_text(s, st, 2, RUN_STATUS_NAMES[status]);
    store_step(s, st);
    store_finalize(s, st);
    BCOS_CHECK(sqlite3_changes(s->db) == 1, "bcos_store_run_set_status: no run with this id");
    store_commit(s);
}

void store_touch_run(bcos_store *s, int64_t run_id) {
    sqlite3_stmt *st = store_prepare(s, "UPDATE runs SET updated_at = " STORE_NOW " WHERE id = ?1");
    store_bind_int64(s, st, 1, run_id);
    store_step(s, st);
    store_finalize(s, st);
    BCOS_CHECK(sqlite3_changes(s->db) == 1, "no run with this id (take it from bcos_store_run_begin)");
}

char *bcos_store_run_job_text(bcos_store *s, int64_t run_id) {
    sqlite3_stmt *st = store_prepare(s, "SELECT job_text FROM runs WHERE id = ?1");
    store_bind_int64(s, st, 1, run_id);
    BCOS_CHECK(store_step(s, st), "no run with this id (take it from bcos_store_run_find)");
    char *text = xstrdup((const char *)sqlite3_column_text(st, 0));
    store_finalize(s, st);
    return text;
}
