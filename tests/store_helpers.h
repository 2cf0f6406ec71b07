/* Shared pieces of the store tests: temporary folders, a run with tiny checkpoints, reading files
 * back whole and counting what lies under a folder. */
#ifndef BCOS_TEST_STORE_HELPERS_H
#define BCOS_TEST_STORE_HELPERS_H

/* nftw; this header comes first in the tests that use it. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bcos/check.h"
#include "bcos/store.h"
#include "test.h"

/* A new empty folder under /tmp (heap). */
static inline char *helper_temp_dir(void) {
    char *dir = xstrdup("/tmp/bcos_test_store_XXXXXX");
    BCOS_CHECK(mkdtemp(dir) != NULL, "cannot create a temporary folder");
    return dir;
}

/* "dir/name" (heap). */
static inline char *helper_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static inline int helper_remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static inline void helper_remove_tree(const char *dir) { nftw(dir, helper_remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static int helper_count_entry_files;
static inline int helper_count_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)path, (void)sb, (void)ftw;
    if (flag == FTW_F) helper_count_entry_files++;
    return 0;
}

/* Regular files anywhere under dir (0 when it does not exist). */
static inline int helper_count_files(const char *dir) {
    helper_count_entry_files = 0;
    nftw(dir, helper_count_entry, 16, FTW_PHYS);
    return helper_count_entry_files;
}

static inline int helper_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* The whole file (heap, NUL-terminated), or NULL. */
static inline char *helper_read(const char *path, size_t *len) { return bcos_read_file(path, len); }

static inline void helper_write(const char *path, const void *bytes, size_t len) {
    FILE *f = xfopen(path, "wb");
    xfwrite(bytes, 1, len, f);
    xfclose(f);
}

static inline void helper_copy(const char *from, const char *to) {
    size_t len;
    char *bytes = helper_read(from, &len);
    BCOS_CHECK(bytes != NULL, "cannot read a file to copy");
    helper_write(to, bytes, len);
    free(bytes);
}

static inline bcos_store *helper_open(const char *path) {
    bcos_store *s = NULL;
    char err[BCOS_ERRLEN];
    if (bcos_store_open(path, NULL, &s, err, sizeof err) != 0) BCOS_DIE(NULL, "%s", err);
    return s;
}

static inline int64_t helper_run(bcos_store *s, const char *name) {
    bcos_run run;
    char err[BCOS_ERRLEN];
    if (bcos_store_run_begin(s, name, BCOS_RUN_DISTILL, "{\"job\": \"test\"}", 2, "test", &run, err, sizeof err) != 0)
        BCOS_DIE(NULL, "%s", err);
    return run.id;
}

/* The tensor values a checkpoint at `step` holds: recognisable per step and per position. */
static inline float helper_value(int64_t step, int file, int i) { return (float)step + 0.25f * (float)file + 0.001f * (float)i; }

#define HELPER_MODEL_N 12
#define HELPER_OPTIM_N 10

/* Commit a checkpoint of two files ("model" [4,3] and "optimizer" [2,5]) at step, with
 * world size 2 and an RNG blob of the step's bytes. Returns the status. */
static inline int helper_commit(bcos_store *s, int64_t run_id, int64_t step, int keep_last, int64_t keep_every,
                         int64_t *ckpt_id) {
    float model[HELPER_MODEL_N], optim[HELPER_OPTIM_N];
    for (int i = 0; i < HELPER_MODEL_N; i++) model[i] = helper_value(step, 0, i);
    for (int i = 0; i < HELPER_OPTIM_N; i++) optim[i] = helper_value(step, 1, i);
    int64_t model_shape[2] = {4, 3}, optim_shape[2] = {2, 5};
    bcos_st_entry model_entry = {"w", BCOS_F32, 2, model_shape, model};
    bcos_st_entry optim_entry = {"m", BCOS_F32, 2, optim_shape, optim};
    bcos_ckpt_file files[2] = {{"model", &model_entry, 1, NULL, 0}, {"optimizer", &optim_entry, 1, NULL, 0}};
    char cursors[128];
    snprintf(cursors, sizeof cursors, "[{\"shard\": %lld, \"offset\": 7}, {\"shard\": 1, \"offset\": 9}]", (long long)step);
    int64_t rng = step * 1000 + 1;
    bcos_ckpt_state state = {step, step / 100, step * 8, 2, cursors, &rng, sizeof rng};
    bcos_ckpt_retention retention = {keep_last, keep_every};
    char err[BCOS_ERRLEN];
    int status = bcos_store_checkpoint_commit(s, run_id, &state, files, 2, &retention, ckpt_id, err, sizeof err);
    if (status != 0) fprintf(stderr, "checkpoint commit: %s\n", err);
    return status;
}

/* Whether the model file of a checkpoint holds the values of `step`. */
static inline int helper_model_matches(const bcos_checkpoint *c, int64_t step) {
    const char *path = bcos_checkpoint_file(c, "model");
    bcos_safetensors st;
    char err[BCOS_ERRLEN];
    if (!path || bcos_st_open(&st, path, err, sizeof err) != 0) return 0;
    const bcos_st_tensor *t = bcos_st_find(&st, "w");
    float values[HELPER_MODEL_N];
    int ok = t && t->numel == HELPER_MODEL_N && bcos_st_to_f32(t, values, err, sizeof err) == 0;
    for (int i = 0; ok && i < HELPER_MODEL_N; i++) ok = values[i] == helper_value(step, 0, i);
    bcos_st_close(&st);
    return ok;
}

/* A single value from SQL run on a separate raw connection (NULL: an empty string). */
static inline char *helper_sql_text(const char *db_path, const char *sql) {
    sqlite3 *db;
    BCOS_CHECK(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK, "cannot open the database");
    sqlite3_busy_timeout(db, 30000);
    sqlite3_stmt *st;
    BCOS_CHECK(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, sql);
    char *out = xstrdup(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)
                            ? (const char *)sqlite3_column_text(st, 0) : "");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static inline long long helper_sql_int(const char *db_path, const char *sql) {
    char *text = helper_sql_text(db_path, sql);
    long long v = atoll(text);
    free(text);
    return v;
}

/* err is one line that starts with "path:". */
static inline int helper_one_line_about(const char *err, const char *path) {
    size_t n = strlen(path);
    return strncmp(err, path, n) == 0 && err[n] == ':' && !strchr(err, '\n');
}

#endif
