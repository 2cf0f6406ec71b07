/* A store that lags its checkpoint files (emptied, deleted, or replaced by an older copy): finding
 * the manifests it does not record, refusing to write runs until they are recorded again, and
 * `bcos store recover`, which records them again (runs, checkpoints and their files, each file's
 * sha256 verified) so that the same command resumes the run from its newest checkpoint. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/log.h"

static int compare_text(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The root-relative folders "run-<id>/<name>" under the checkpoint root, sorted (heap). */
static char **checkpoint_folders(const bcos_store *s, int *count) {
    char **folders = NULL;
    int n = 0;
    DIR *root = opendir(s->checkpoint_root);
    struct dirent *e;
    while (root && (e = readdir(root)) != NULL) {
        if (strncmp(e->d_name, "run-", 4) != 0) continue;
        char *run_folder = store_join(s->checkpoint_root, e->d_name);
        DIR *dir = opendir(run_folder);
        struct dirent *f;
        while (dir && (f = readdir(dir)) != NULL) {
            if (strcmp(f->d_name, ".") == 0 || strcmp(f->d_name, "..") == 0) continue;
            folders = xrealloc(folders, (size_t)(n + 1) * sizeof *folders);
            folders[n++] = store_join(e->d_name, f->d_name);
        }
        if (dir) closedir(dir);
        free(run_folder);
    }
    if (root) closedir(root);
    if (n > 1) qsort(folders, (size_t)n, sizeof *folders, compare_text);
    *count = n;
    return folders;
}

static void free_folders(char **folders, int n) {
    for (int i = 0; i < n; i++) free(folders[i]);
    free(folders);
}

int bcos_store_check_files(bcos_store *s, char *err, size_t errlen) {
    int n, unknown = 0;
    char **folders = checkpoint_folders(s, &n);
    char first[BCOS_ERRLEN] = "";
    for (int i = 0; i < n; i++) {
        store_manifest m;
        if (store_manifest_read(s, folders[i], &m) != 0) continue;
        if (!store_manifest_recorded(s, &m) && unknown++ == 0)
            snprintf(first, sizeof first, "%s (run '%s', step %lld)", folders[i], m.run, (long long)m.c.step);
        store_manifest_free(&m);
    }
    free_folders(folders, n);
    if (!unknown) return 0;
    return bcos_error(err, errlen, s->path,
                      "the store does not record %d checkpoint%s in %s, such as %s: it lags its files (emptied, "
                      "replaced by an older copy, or lost); run `bcos store recover --db %s` to record them again "
                      "(no file was changed)", unknown, unknown == 1 ? "" : "s", s->checkpoint_root, first, s->path);
}

/* ---- recovery ---- */

/* The run of a manifest in the store: taken as it is when it has the manifest's id, name and job,
 * created (status preempted: it can go on) when neither its id nor its name is taken. 0, or -1
 * with err naming the conflict. */
static int recover_run(bcos_store *s, const store_manifest *m, char *err, size_t errlen) {
    sqlite3_stmt *st = store_prepare(s, "SELECT name, job_sha256 FROM runs WHERE id = ?1 OR name = ?2 ORDER BY id = ?1 DESC");
    store_bind_int64(s, st, 1, m->c.run_id);
    store_bind_text(s, st, 2, m->run);
    int status = 0;
    if (store_step(s, st)) {
        const char *name = (const char *)sqlite3_column_text(st, 0), *sha = (const char *)sqlite3_column_text(st, 1);
        if (strcmp(name, m->run) != 0 || strcmp(sha, m->job_sha256) != 0)
            status = bcos_error(err, errlen, m->directory,
                                "a checkpoint of run '%s' (id %lld), but the store has run '%s' %s: left as it is",
                                m->run, (long long)m->c.run_id, name,
                                strcmp(name, m->run) != 0 ? "under that id or the name under another id"
                                                          : "with another job");
        else {
            sqlite3_stmt *id = store_prepare(s, "SELECT count(*) FROM runs WHERE id = ?1 AND name = ?2");
            store_bind_int64(s, id, 1, m->c.run_id);
            store_bind_text(s, id, 2, m->run);
            store_step(s, id);
            if (!sqlite3_column_int(id, 0))
                status = bcos_error(err, errlen, m->directory, "a checkpoint of run '%s' (id %lld), but the store has "
                                    "that run under another id: left as it is", m->run, (long long)m->c.run_id);
            store_finalize(s, id);
        }
        store_finalize(s, st);
        return status;
    }
    store_finalize(s, st);
    st = store_prepare(s, "INSERT INTO runs (id, name, job_text, job_sha256, status, world_size, code_version)"
                          " VALUES (?1, ?2, ?3, ?4, 'preempted', ?5, ?6)");
    store_bind_int64(s, st, 1, m->c.run_id);
    store_bind_text(s, st, 2, m->run);
    store_bind_text(s, st, 3, m->job_text);
    store_bind_text(s, st, 4, m->job_sha256);
    store_bind_int64(s, st, 5, m->c.world_size);
    store_bind_text(s, st, 6, m->code_version);
    store_step(s, st);
    store_finalize(s, st);
    return 0;
}

/* The checkpoint's rows: complete when every file matches its sha256 (and no complete checkpoint
 * holds its step), else corrupt with a fault event, as a resume would mark it. */
static const char *recover_checkpoint(bcos_store *s, const store_manifest *m) {
    char why[BCOS_ERRLEN];
    int damaged = bcos_checkpoint_verify(&m->c, why, sizeof why) != 0;
    sqlite3_stmt *st = store_prepare(
        s, "INSERT INTO checkpoints (run_id, step, epoch, samples_seen, world_size, data_cursors, rng_state, directory,"
           " state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, CASE WHEN ?9 OR EXISTS (SELECT 1 FROM checkpoints"
           " WHERE run_id = ?1 AND step = ?2 AND state = 'complete') THEN 'corrupt' ELSE 'complete' END) RETURNING state");
    store_bind_int64(s, st, 1, m->c.run_id);
    store_bind_int64(s, st, 2, m->c.step);
    store_bind_int64(s, st, 3, m->c.epoch);
    store_bind_int64(s, st, 4, m->c.samples_seen);
    store_bind_int64(s, st, 5, m->c.world_size);
    store_bind_text(s, st, 6, m->c.data_cursors);
    store_bind_blob(s, st, 7, m->c.rng_bytes ? m->c.rng_state : "", m->c.rng_bytes);
    store_bind_text(s, st, 8, m->directory);
    store_bind_int64(s, st, 9, damaged);
    store_step(s, st);
    const char *state = strcmp((const char *)sqlite3_column_text(st, 0), "complete") == 0 ? "complete" : "corrupt";
    store_finalize(s, st);
    int64_t id = sqlite3_last_insert_rowid(s->db);
    st = store_prepare(s, "INSERT INTO checkpoint_files (checkpoint_id, name, path, bytes, sha256) VALUES (?1, ?2, ?3, ?4, ?5)");
    for (int i = 0; i < m->c.n_files; i++) {
        store_bind_int64(s, st, 1, id);
        store_bind_text(s, st, 2, m->c.file_names[i]);
        store_bind_text(s, st, 3, m->file_rel_paths[i]);
        store_bind_int64(s, st, 4, m->file_bytes[i]);
        store_bind_text(s, st, 5, m->c.file_sha256s[i]);
        store_step(s, st);
        store_check(s, sqlite3_reset(st));
    }
    store_finalize(s, st);
    store_run_folder_sql(s, "DELETE FROM checkpoint_attempts WHERE run_id = ?1 AND directory = ?2", m->c.run_id,
                         m->directory);
    if (damaged) {
        bcos_warn("%s; recorded as corrupt", why);
        store_insert_event(s, m->c.run_id, m->c.step, BCOS_EVENT_FAULT, "corrupt checkpoint", 1, why);
    }
    return state;
}

/* Whether a recorded checkpoint (by run id and folder) is already there. */
static int folder_recorded(bcos_store *s, const store_manifest *m) {
    return store_run_folder_sql(s, "SELECT count(*) FROM checkpoints WHERE run_id = ?1 AND directory = ?2",
                                m->c.run_id, m->directory) > 0;
}

/* What recovery gave one run back, reported when its folder is done. */
typedef struct {
    int64_t run_id, checkpoints, newest;
    char *name;
} run_summary;

static void summary_end(bcos_store *s, run_summary *r, FILE *out) {
    if (r->checkpoints > 0) {
        char detail[96];
        snprintf(detail, sizeof detail, "%lld checkpoint%s, the newest at step %lld", (long long)r->checkpoints,
                 r->checkpoints == 1 ? "" : "s", (long long)r->newest);
        store_insert_event(s, r->run_id, -1, BCOS_EVENT_FAULT, "recovered from checkpoint manifests", 1, detail);
        fprintf(out, "run '%s': recorded %lld checkpoint%s again, the newest at step %lld\n", r->name,
                (long long)r->checkpoints, r->checkpoints == 1 ? "" : "s", (long long)r->newest);
    }
    free(r->name);
    *r = (run_summary){0, 0, -1, NULL};
}

/* One folder: its checkpoint recorded again unless the store has it. 0, or -1 with err on a conflict. */
static int recover_folder(bcos_store *s, const store_manifest *m, run_summary *r, char *err, size_t errlen) {
    if (folder_recorded(s, m)) return 0;
    if (recover_run(s, m, err, errlen) != 0) return -1;
    if (strcmp(recover_checkpoint(s, m), "complete") == 0) {
        r->checkpoints++;
        if (m->c.step > r->newest) r->newest = m->c.step;
    }
    return 0;
}

int bcos_store_recover(bcos_store *s, FILE *out, char *err, size_t errlen) {
    BCOS_CHECK(!s->read_only, "recovering needs a read-write store");
    int n, conflicts = 0;
    char **folders = checkpoint_folders(s, &n);
    run_summary r = {0, 0, -1, NULL};
    store_begin_write(s);
    for (int i = 0; i < n; i++) {
        store_manifest m;
        if (store_manifest_read(s, folders[i], &m) != 0) continue;
        if (m.c.run_id != r.run_id) {
            summary_end(s, &r, out);
            r.run_id = m.c.run_id;
            r.name = xstrdup(m.run);
        }
        char why[BCOS_ERRLEN];
        if (recover_folder(s, &m, &r, why, sizeof why) != 0) {
            bcos_warn("%s", why);
            if (conflicts++ == 0) snprintf(err, errlen, "%s", why);
        }
        store_manifest_free(&m);
    }
    summary_end(s, &r, out);
    store_commit(s);
    free_folders(folders, n);
    if (conflicts > 1) bcos_warn("%d checkpoint folders were left as they are", conflicts);
    return conflicts ? -1 : 0;
}
