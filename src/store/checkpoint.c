/* Committing a checkpoint: the attempt is recorded first, then its tensors go to safetensors files
 * (each written atomically, then hashed as it lies on disk), then one SQLite transaction records
 * the checkpoint, its files and their sha256, writes the folder's manifest (its last file), and
 * retires what the retention policy drops; that commit is the checkpoint. Retired checkpoints'
 * files are deleted only after it. */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bcos/check.h"
#include "bcos/sha256.h"

typedef struct {
    char *rel_path; /* relative to the checkpoint root */
    char *path;
    int64_t bytes;
    char sha256[BCOS_SHA256_HEX];
} written_file;

static int valid_file_name(const char *name) {
    if (!name || !*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return 0;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("_-.", *c)) return 0;
    return 1;
}

static void check_arguments(const bcos_store *s, const bcos_ckpt_state *state, const bcos_ckpt_file *files,
                            int n_files, const bcos_ckpt_retention *retention) {
    BCOS_CHECK(!s->read_only, "a read-only store cannot take checkpoints");
    BCOS_CHECK(state && state->step >= 0 && state->epoch >= 0 && state->samples_seen >= 0 && state->world_size > 0 &&
                   state->data_cursors && (state->rng_bytes == 0 || state->rng_state),
               "bcos_store_checkpoint_commit: invalid state");
    BCOS_CHECK(retention && retention->keep_last >= 1 && retention->keep_every >= 0,
               "bcos_store_checkpoint_commit: retention must keep at least the last checkpoint");
    BCOS_CHECK(n_files >= 1 && files, "a checkpoint needs at least one file");
    for (int i = 0; i < n_files; i++) {
        BCOS_CHECK(valid_file_name(files[i].name), "checkpoint file names are letters, digits, '_', '-' and '.'");
        for (int j = 0; j < i; j++) BCOS_CHECK(strcmp(files[i].name, files[j].name) != 0, "checkpoint file names repeat");
    }
}

/* The loop's own mistakes, caught before any file is written. */
static void check_against_database(bcos_store *s, int64_t run_id, const bcos_ckpt_state *state) {
    sqlite3_stmt *st = store_prepare(
        s, "SELECT json_valid(?1) AND json_type(?1) = 'array' AND json_array_length(?1) = ?2,"
           " (SELECT count(*) FROM checkpoints WHERE run_id = ?3 AND step = ?4 AND state = 'complete'),"
           " (SELECT count(*) FROM runs WHERE id = ?3)");
    store_bind_text(s, st, 1, state->data_cursors);
    store_bind_int64(s, st, 2, state->world_size);
    store_bind_int64(s, st, 3, run_id);
    store_bind_int64(s, st, 4, state->step);
    store_step(s, st);
    int cursors_ok = sqlite3_column_int(st, 0), taken = sqlite3_column_int(st, 1), run_exists = sqlite3_column_int(st, 2);
    store_finalize(s, st);
    BCOS_CHECK(run_exists, "no run with this id (take it from bcos_store_run_begin)");
    BCOS_CHECK(cursors_ok, "data_cursors must be a JSON array with one element per rank");
    BCOS_CHECK(!taken, "this step already has a complete checkpoint");
}

/* "run-<id>/step-<step>", with ".<n>" when earlier (corrupt or retired) checkpoints of the same
 * step have a row, so that no recorded folder is ever reused. */
static char *choose_folder(bcos_store *s, int64_t run_id, int64_t step) {
    sqlite3_stmt *st = store_prepare(s, "SELECT count(*) FROM checkpoints WHERE run_id = ?1 AND step = ?2");
    store_bind_int64(s, st, 1, run_id);
    store_bind_int64(s, st, 2, step);
    store_step(s, st);
    int64_t earlier = sqlite3_column_int64(st, 0);
    store_finalize(s, st);
    char *rel = xmalloc(80);
    if (earlier == 0) snprintf(rel, 80, "run-%lld/step-%lld", (long long)run_id, (long long)step);
    else snprintf(rel, 80, "run-%lld/step-%lld.%lld", (long long)run_id, (long long)step, (long long)earlier + 1);
    return rel;
}

static void free_written(written_file *w, int n) {
    for (int i = 0; i < n; i++) {
        free(w[i].rel_path);
        free(w[i].path);
    }
    free(w);
}

/* Write one file atomically and hash it as it lies on disk. 0, or -1 with err set. */
static int write_file(const char *folder, const char *rel_folder, const bcos_ckpt_file *f, written_file *w,
                      char *err, size_t errlen) {
    size_t n = strlen(rel_folder) + strlen(f->name) + sizeof "/.safetensors";
    w->rel_path = xmalloc(n);
    snprintf(w->rel_path, n, "%s/%s.safetensors", rel_folder, f->name);
    n = strlen(folder) + strlen(f->name) + sizeof "/.safetensors";
    w->path = xmalloc(n);
    snprintf(w->path, n, "%s/%s.safetensors", folder, f->name);
    if (bcos_st_write(w->path, f->entries, f->n_entries, f->meta, f->n_meta, err, errlen) != 0) return -1;
    struct stat sb;
    if (stat(w->path, &sb) != 0 || bcos_sha256_file(w->path, w->sha256) != 0)
        return bcos_error(err, errlen, w->path, "cannot read back the checkpoint file: %s", strerror(errno));
    w->bytes = (int64_t)sb.st_size;
    return 0;
}

static int64_t insert_checkpoint(bcos_store *s, int64_t run_id, const bcos_ckpt_state *state, const char *rel_folder) {
    sqlite3_stmt *st = store_prepare(
        s, "INSERT INTO checkpoints (run_id, step, epoch, samples_seen, world_size, data_cursors, rng_state, directory)"
           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    store_bind_int64(s, st, 1, run_id);
    store_bind_int64(s, st, 2, state->step);
    store_bind_int64(s, st, 3, state->epoch);
    store_bind_int64(s, st, 4, state->samples_seen);
    store_bind_int64(s, st, 5, state->world_size);
    store_bind_text(s, st, 6, state->data_cursors);
    /* A zero-length blob, not NULL, when there is no RNG state. */
    store_bind_blob(s, st, 7, state->rng_bytes ? state->rng_state : "", state->rng_bytes);
    store_bind_text(s, st, 8, rel_folder);
    store_step(s, st);
    store_finalize(s, st);
    return sqlite3_last_insert_rowid(s->db);
}

static void insert_files(bcos_store *s, int64_t ckpt_id, const bcos_ckpt_file *files, const written_file *w, int n) {
    sqlite3_stmt *st = store_prepare(
        s, "INSERT INTO checkpoint_files (checkpoint_id, name, path, bytes, sha256) VALUES (?1, ?2, ?3, ?4, ?5)");
    for (int i = 0; i < n; i++) {
        store_bind_int64(s, st, 1, ckpt_id);
        store_bind_text(s, st, 2, files[i].name);
        store_bind_text(s, st, 3, w[i].rel_path);
        store_bind_int64(s, st, 4, w[i].bytes);
        store_bind_text(s, st, 5, w[i].sha256);
        store_step(s, st);
        store_check(s, sqlite3_reset(st));
    }
    store_finalize(s, st);
}

/* Retire the complete checkpoints that are neither among the newest keep_last nor at a multiple
 * of keep_every; their ids in *ids (heap), their count returned. */
static int retire(bcos_store *s, int64_t run_id, const bcos_ckpt_retention *retention, int64_t **ids) {
    sqlite3_stmt *st = store_prepare(
        s, "UPDATE checkpoints SET state = 'retired' WHERE run_id = ?1 AND state = 'complete'"
           " AND NOT (?3 > 0 AND step % ?3 = 0)"
           " AND id NOT IN (SELECT id FROM checkpoints WHERE run_id = ?1 AND state = 'complete'"
           " ORDER BY step DESC LIMIT ?2) RETURNING id");
    store_bind_int64(s, st, 1, run_id);
    store_bind_int64(s, st, 2, retention->keep_last);
    store_bind_int64(s, st, 3, retention->keep_every);
    int n = 0;
    *ids = xmalloc(sizeof **ids);
    while (store_step(s, st)) {
        *ids = xrealloc(*ids, (size_t)(n + 1) * sizeof **ids);
        (*ids)[n++] = sqlite3_column_int64(st, 0);
    }
    store_finalize(s, st);
    return n;
}

/* In one transaction: make sure that this process still holds the run's lease (another process
 * may have taken it and committed this very step), check the state, choose the folder and record
 * (commit) that it is being written, so that a crash before the checkpoint's commit leaves files
 * the store knows to be debris. The folder (heap), or NULL with err when the lease was lost. */
static char *begin_attempt(bcos_store *s, int64_t run_id, const bcos_ckpt_state *state, char *err, size_t errlen) {
    store_begin_write(s);
    if (!store_lease_confirm(s)) {
        store_rollback(s);
        bcos_error(err, errlen, s->path, "this process lost the run's lease to another one, which writes it now: no "
                   "checkpoint is taken");
        return NULL;
    }
    check_against_database(s, run_id, state);
    char *rel = choose_folder(s, run_id, state->step);
    store_run_folder_sql(s, "INSERT OR REPLACE INTO checkpoint_attempts (run_id, directory) VALUES (?1, ?2)", run_id,
                         rel);
    store_commit(s);
    return rel;
}

/* The one transaction that makes the checkpoint: its rows, then its manifest written as the
 * folder's last file, then the commit. Returns its id, or -1 with err set (nothing recorded) when
 * the manifest cannot be written. */
static int64_t record(bcos_store *s, int64_t run_id, const bcos_ckpt_state *state, const char *rel_folder,
                      const bcos_ckpt_file *files, const written_file *w, int n_files,
                      const bcos_ckpt_retention *retention, int64_t **retired, int *n_retired, char *err,
                      size_t errlen) {
    store_begin_write(s);
    int64_t id = insert_checkpoint(s, run_id, state, rel_folder);
    insert_files(s, id, files, w, n_files);
    if (store_manifest_write(s, id, rel_folder, err, errlen) != 0) {
        store_rollback(s);
        return -1;
    }
    store_run_folder_sql(s, "DELETE FROM checkpoint_attempts WHERE run_id = ?1 AND directory = ?2", run_id, rel_folder);
    *n_retired = retire(s, run_id, retention, retired);
    store_touch_run(s, run_id);
    s->in_checkpoint_commit = 1;
    store_commit(s);
    s->in_checkpoint_commit = 0;
    return id;
}

int bcos_store_checkpoint_commit(bcos_store *s, int64_t run_id, const bcos_ckpt_state *state,
                                 const bcos_ckpt_file *files, int n_files, const bcos_ckpt_retention *retention,
                                 int64_t *ckpt_id, char *err, size_t errlen) {
    check_arguments(s, state, files, n_files, retention);
    char *rel_folder = begin_attempt(s, run_id, state, err, errlen);
    if (!rel_folder) return -1;
    char *folder = store_make_checkpoint_folder(s, rel_folder, err, errlen);
    if (!folder) {
        store_forget_attempt(s, run_id, rel_folder);
        free(rel_folder);
        return -1;
    }
    written_file *w = xcalloc((size_t)n_files, sizeof *w);
    int status = 0;
    for (int i = 0; i < n_files && status == 0; i++) status = write_file(folder, rel_folder, &files[i], &w[i], err, errlen);
    int64_t *retired = NULL;
    int n_retired = 0;
    if (status == 0) {
        bcos_fault_point("checkpoint_files_written");
        int64_t id = record(s, run_id, state, rel_folder, files, w, n_files, retention, &retired, &n_retired, err, errlen);
        if (id < 0) status = -1;
        else if (ckpt_id) *ckpt_id = id;
    }
    if (status == 0) {
        bcos_fault_point("checkpoint_committed");
        for (int i = 0; i < n_retired; i++) store_remove_checkpoint_files(s, retired[i]);
    } else {
        /* Nothing was recorded: what was written is debris already. */
        store_remove_folder(s, rel_folder, "stray");
        store_forget_attempt(s, run_id, rel_folder);
    }
    free(retired);
    free_written(w, n_files);
    free(folder);
    free(rel_folder);
    return status;
}
