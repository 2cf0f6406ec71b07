/* The checkpoint files on disk: "<root>/run-<id>/step-<step>[.<attempt>]/<name>.safetensors" and
 * the folder's manifest.json, root being "<database path>-checkpoints". Only provable debris is
 * ever deleted: temporary files, the folder of an attempt the store saw begin and never commit,
 * a folder without a valid manifest (the manifest is written before the commit, so such a folder
 * never committed), and the files of retired or corrupt checkpoints. A folder whose manifest the
 * store does not record holds a committed checkpoint of a store that was lost or replaced: it is
 * kept for `bcos store recover`. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bcos/log.h"

char *store_run_folder(const bcos_store *s, int64_t run_id) {
    size_t n = strlen(s->checkpoint_root) + 32;
    char *path = xmalloc(n);
    snprintf(path, n, "%s/run-%lld", s->checkpoint_root, (long long)run_id);
    return path;
}

char *store_join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *path = xmalloc(n);
    snprintf(path, n, "%s/%s", a, b);
    return path;
}

/* The root-relative paths of the files recorded for the checkpoint row at rel (NULL-terminated),
 * and its state in *state ("" when the store has no checkpoint there). */
static char **recorded_files(bcos_store *s, int64_t run_id, const char *rel, char **state) {
    sqlite3_stmt *st = store_prepare(
        s, "SELECT c.state, f.path FROM checkpoints c LEFT JOIN checkpoint_files f ON f.checkpoint_id = c.id"
           " WHERE c.run_id = ?1 AND c.directory = ?2 ORDER BY c.state = 'complete' DESC");
    store_bind_int64(s, st, 1, run_id);
    store_bind_text(s, st, 2, rel);
    int n = 0;
    char **paths = xmalloc(sizeof *paths);
    *state = NULL;
    while (store_step(s, st)) {
        if (!*state) *state = store_column_strdup(st, 0);
        if (sqlite3_column_type(st, 1) == SQLITE_NULL) continue;
        paths = xrealloc(paths, (size_t)(n + 2) * sizeof *paths);
        paths[n++] = store_column_strdup(st, 1);
    }
    paths[n] = NULL;
    store_finalize(s, st);
    if (!*state) *state = xstrdup("");
    return paths;
}

static int listed(char *const *paths, const char *path) {
    for (int i = 0; paths[i]; i++)
        if (strcmp(paths[i], path) == 0) return 1;
    return 0;
}

static void free_paths(char **paths) {
    for (int i = 0; paths[i]; i++) free(paths[i]);
    free(paths);
}

int store_is_temp_name(const char *name) {
    const char *tmp = strstr(name, ".tmp.");
    return tmp && tmp != name && strlen(tmp) == sizeof ".tmp.XXXXXX" - 1;
}

/* what: "stray" or "retired", for the log. */
static void remove_file(const char *path, const char *what) {
    if (unlink(path) == 0) bcos_log(strcmp(what, "stray") == 0 ? BCOS_LOG_INFO : BCOS_LOG_DEBUG, "removed %s checkpoint file %s", what, path);
    else bcos_warn("cannot remove %s checkpoint file %s: %s", what, path, strerror(errno));
}

/* Delete the files of folder (root-relative rel) that keep does not list (the manifest is kept
 * with them); then the folder itself when drop_folder is set. Sub-folders are none of ours: left,
 * with a warning. */
static void prune_folder(const bcos_store *s, const char *rel, char *const *keep, int drop_folder, const char *what) {
    char *folder = store_join(s->checkpoint_root, rel);
    DIR *dir = opendir(folder);
    if (!dir) {
        if (errno != ENOENT) bcos_warn("cannot list %s: %s", folder, strerror(errno));
        free(folder);
        return;
    }
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *entry_rel = store_join(rel, e->d_name);
        char *entry = store_join(s->checkpoint_root, entry_rel);
        struct stat sb;
        if (lstat(entry, &sb) == 0 && S_ISDIR(sb.st_mode)) bcos_warn("leaving %s: not a checkpoint file", entry);
        else if (!keep || !(listed(keep, entry_rel) || strcmp(e->d_name, STORE_MANIFEST_NAME) == 0)) remove_file(entry, what);
        free(entry);
        free(entry_rel);
    }
    closedir(dir);
    if (drop_folder && rmdir(folder) != 0 && errno != ENOENT) bcos_warn("cannot remove %s: %s", folder, strerror(errno));
    free(folder);
}

static int attempted(bcos_store *s, int64_t run_id, const char *rel) {
    return store_run_folder_sql(s, "SELECT count(*) FROM checkpoint_attempts WHERE run_id = ?1 AND directory = ?2",
                                run_id, rel) > 0;
}

void store_forget_attempt(bcos_store *s, int64_t run_id, const char *rel) {
    store_begin_write(s);
    store_run_folder_sql(s, "DELETE FROM checkpoint_attempts WHERE run_id = ?1 AND directory = ?2", run_id, rel);
    store_commit(s);
}

/* A complete checkpoint written before manifests existed gets its manifest now. */
static void add_missing_manifest(bcos_store *s, int64_t run_id, const char *rel) {
    char *path = store_manifest_path(s, rel);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        int64_t id = store_run_folder_sql(
            s, "SELECT id FROM checkpoints WHERE run_id = ?1 AND directory = ?2 AND state = 'complete'", run_id, rel);
        char err[BCOS_ERRLEN];
        if (store_manifest_write(s, id, rel, err, sizeof err) != 0) bcos_warn("%s", err);
    }
    free(path);
}

/* One folder of the run: kept, pruned or removed (see store_tidy_run_folder). */
static void tidy_checkpoint_folder(bcos_store *s, int64_t run_id, const char *rel) {
    char *state;
    char **files = recorded_files(s, run_id, rel, &state);
    store_manifest m;
    if (strcmp(state, "complete") == 0) {
        prune_folder(s, rel, files, 0, "stray");
        add_missing_manifest(s, run_id, rel);
    } else if (*state) {
        store_remove_folder(s, rel, "retired");
    } else if (attempted(s, run_id, rel)) {
        store_remove_folder(s, rel, "stray");
        store_forget_attempt(s, run_id, rel);
    } else if (store_manifest_read(s, rel, &m) == 0) {
        bcos_warn("kept %s/%s: a checkpoint of run '%s' at step %lld that the store does not record (`bcos store "
                  "recover` records it again)", s->checkpoint_root, rel, m.run, (long long)m.c.step);
        store_manifest_free(&m);
    } else {
        store_remove_folder(s, rel, "stray");
    }
    free(state);
    free_paths(files);
}

void store_tidy_run_folder(bcos_store *s, int64_t run_id) {
    char *run_folder = store_run_folder(s, run_id);
    DIR *dir = opendir(run_folder);
    if (!dir) {
        if (errno != ENOENT) bcos_warn("cannot list %s: %s", run_folder, strerror(errno));
        free(run_folder);
        return;
    }
    const char *run_rel = run_folder + strlen(s->checkpoint_root) + 1;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *rel = store_join(run_rel, e->d_name);
        char *path = store_join(s->checkpoint_root, rel);
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) tidy_checkpoint_folder(s, run_id, rel);
        else if (store_is_temp_name(e->d_name)) remove_file(path, "stray");
        else bcos_warn("leaving %s: not a checkpoint folder", path);
        free(path);
        free(rel);
    }
    closedir(dir);
    free(run_folder);
}

void store_remove_folder(const bcos_store *s, const char *rel, const char *what) { prune_folder(s, rel, NULL, 1, what); }

void store_remove_checkpoint_files(bcos_store *s, int64_t ckpt_id) {
    sqlite3_stmt *st = store_prepare(s, "SELECT directory FROM checkpoints WHERE id = ?1");
    store_bind_int64(s, st, 1, ckpt_id);
    BCOS_CHECK(store_step(s, st), "no checkpoint with this id");
    char *rel = store_column_strdup(st, 0);
    store_finalize(s, st);
    store_remove_folder(s, rel, "retired");
    free(rel);
}

/* fsync a folder, so that the entries just made in it survive a power cut. */
static int sync_folder(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int status = fd >= 0 && fsync(fd) == 0 ? 0 : -1;
    if (fd >= 0) close(fd);
    return status;
}

/* mkdir, then fsync its parent; an existing folder is fine, an existing file is ENOTDIR. */
static int make_folder(const char *path, const char *parent) {
    if (mkdir(path, 0755) == 0) return sync_folder(parent);
    struct stat sb;
    if (errno != EEXIST || stat(path, &sb) != 0) return -1;
    if (S_ISDIR(sb.st_mode)) return 0;
    errno = ENOTDIR;
    return -1;
}

char *store_make_checkpoint_folder(bcos_store *s, const char *rel, char *err, size_t errlen) {
    char *folder = store_join(s->checkpoint_root, rel);
    char *run_folder = xstrdup(folder);
    *strrchr(run_folder, '/') = '\0';
    char *db_folder = xstrdup(s->checkpoint_root);
    char *slash = strrchr(db_folder, '/');
    if (slash) *slash = '\0';
    else strcpy(db_folder, ".");
    int status = make_folder(s->checkpoint_root, db_folder) == 0 && make_folder(run_folder, s->checkpoint_root) == 0 &&
                 make_folder(folder, run_folder) == 0 ? 0 : -1;
    char *manifest = store_manifest_path(s, rel);
    struct stat sb;
    if (status != 0) bcos_error(err, errlen, folder, "cannot create the checkpoint folder: %s", strerror(errno));
    else if (stat(manifest, &sb) == 0)
        status = bcos_error(err, errlen, folder, "holds a checkpoint that the store does not record: run `bcos store "
                            "recover --db %s` (the files are kept)", s->path);
    /* Leftovers of an attempt that crashed before its commit. */
    else prune_folder(s, rel, NULL, 0, "stray");
    free(manifest);
    free(db_folder);
    free(run_folder);
    if (status == 0) return folder;
    free(folder);
    return NULL;
}
