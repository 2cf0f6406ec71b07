/* Pipeline stages: which job each stage of a pipeline ran, under which run, and how it ended; what
 * `bcos pipeline run` reads to skip the stages done and refuse a changed one. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static const char *const STAGE_STATUS_NAMES[] = {"running", "done", "failed", "interrupted"};

const char *bcos_stage_status_name(bcos_stage_status status) { return STAGE_STATUS_NAMES[status]; }

static void copy_column(char *out, size_t len, sqlite3_stmt *st, int column) {
    const unsigned char *text = sqlite3_column_text(st, column);
    snprintf(out, len, "%s", text ? (const char *)text : "");
}

int bcos_store_stage_get(bcos_store *s, const char *pipeline, const char *stage, bcos_stage_record *out) {
    sqlite3_stmt *st = store_prepare(s, "SELECT kind, job_sha256, run, status, exit_status, started_at, finished_at"
                                        " FROM stages WHERE pipeline = ?1 AND stage = ?2");
    store_bind_text(s, st, 1, pipeline);
    store_bind_text(s, st, 2, stage);
    int found = store_step(s, st);
    if (found) {
        *out = (bcos_stage_record){.exit_status = -1};
        copy_column(out->kind, sizeof out->kind, st, 0);
        copy_column(out->job_sha256, sizeof out->job_sha256, st, 1);
        copy_column(out->run, sizeof out->run, st, 2);
        const char *status = (const char *)sqlite3_column_text(st, 3);
        for (int i = 0; i < 4; i++)
            if (strcmp(status, STAGE_STATUS_NAMES[i]) == 0) out->status = (bcos_stage_status)i;
        if (sqlite3_column_type(st, 4) != SQLITE_NULL) out->exit_status = sqlite3_column_int(st, 4);
        copy_column(out->started, sizeof out->started, st, 5);
        copy_column(out->finished, sizeof out->finished, st, 6);
    }
    store_finalize(s, st);
    return found;
}

void bcos_store_stage_begin(bcos_store *s, const char *pipeline, const char *stage, const char *kind,
                            const char *job_sha256, const char *run) {
    store_begin_write(s);
    sqlite3_stmt *st = store_prepare(s, "INSERT OR REPLACE INTO stages (pipeline, stage, kind, job_sha256, run, status)"
                                        " VALUES (?1, ?2, ?3, ?4, ?5, 'running')");
    store_bind_text(s, st, 1, pipeline);
    store_bind_text(s, st, 2, stage);
    store_bind_text(s, st, 3, kind);
    store_bind_text(s, st, 4, job_sha256);
    store_bind_text(s, st, 5, run);
    store_step(s, st);
    store_finalize(s, st);
    store_commit(s);
}

void bcos_store_stage_end(bcos_store *s, const char *pipeline, const char *stage, bcos_stage_status status,
                          int exit_status) {
    store_begin_write(s);
    sqlite3_stmt *st = store_prepare(s, "UPDATE stages SET status = ?3, exit_status = ?4, finished_at = " STORE_NOW
                                        " WHERE pipeline = ?1 AND stage = ?2");
    store_bind_text(s, st, 1, pipeline);
    store_bind_text(s, st, 2, stage);
    store_bind_text(s, st, 3, STAGE_STATUS_NAMES[status]);
    store_bind_int64(s, st, 4, exit_status);
    store_step(s, st);
    store_finalize(s, st);
    store_commit(s);
}
