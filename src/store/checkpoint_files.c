/* The checkpoint files on disk: "<root>/run-<id>/step-<step>[.<attempt>]/<name>.safetensors",
 * root being "<database path>-checkpoints". The store owns everything under a run's folder, so
 * whatever no complete checkpoint records there is a stray (a temporary file or the files of a
 * checkpoint that was never committed, or was retired) and is deleted. */
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

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *path = xmalloc(n);
    snprintf(path, n, "%s/%s", a, b);
    return path;
}

/* Relative paths (to the root) that a complete checkpoint of the run records: its folders when
 * folders is set, else its files. NULL-terminated. */
static char **recorded_paths(bcos_store *s, int64_t run_id, int folders) {
    sqlite3_stmt *st = store_prepare(
        s, folders ? "SELECT directory FROM checkpoints WHERE run_id = ?1 AND state = 'complete'"
                   : "SELECT f.path FROM checkpoint_files f JOIN checkpoints c ON c.id = f.checkpoint_id"
                     " WHERE c.run_id = ?1 AND c.state = 'complete'");
    store_bind_int64(s, st, 1, run_id);
    int n = 0;
    char **paths = xmalloc(sizeof *paths);
    while (store_step(s, st)) {
        paths = xrealloc(paths, (size_t)(n + 2) * sizeof *paths);
        paths[n++] = store_column_strdup(st, 0);
    }
    paths[n] = NULL;
    store_finalize(s, st);
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

/* what: "stray" or "retired", for the log. */
static void remove_file(const char *path, const char *what) {
    if (unlink(path) == 0) bcos_log(strcmp(what, "stray") == 0 ? BCOS_LOG_INFO : BCOS_LOG_DEBUG, "removed %s checkpoint file %s", what, path);
    else bcos_warn("cannot remove %s checkpoint file %s: %s", what, path, strerror(errno));
}

/* Delete the files of folder (root-relative rel) that keep does not list; then the folder itself
 * when drop_folder is set. Sub-folders are none of ours: left, with a warning. */
static void prune_folder(const bcos_store *s, const char *rel, char *const *keep, int drop_folder, const char *what) {
    char *folder = join(s->checkpoint_root, rel);
    DIR *dir = opendir(folder);
    if (!dir) {
        if (errno != ENOENT) bcos_warn("cannot list %s: %s", folder, strerror(errno));
        free(folder);
        return;
    }
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *entry_rel = join(rel, e->d_name);
        char *entry = join(s->checkpoint_root, entry_rel);
        struct stat sb;
        if (lstat(entry, &sb) == 0 && S_ISDIR(sb.st_mode)) bcos_warn("leaving %s: not a checkpoint file", entry);
        else if (!keep || !listed(keep, entry_rel)) remove_file(entry, what);
        free(entry);
        free(entry_rel);
    }
    closedir(dir);
    if (drop_folder && rmdir(folder) != 0 && errno != ENOENT) bcos_warn("cannot remove %s: %s", folder, strerror(errno));
    free(folder);
}

void store_remove_strays(bcos_store *s, int64_t run_id) {
    char *run_folder = store_run_folder(s, run_id);
    DIR *dir = opendir(run_folder);
    if (!dir) {
        if (errno != ENOENT) bcos_warn("cannot list %s: %s", run_folder, strerror(errno));
        free(run_folder);
        return;
    }
    char **folders = recorded_paths(s, run_id, 1), **files = recorded_paths(s, run_id, 0);
    const char *run_rel = run_folder + strlen(s->checkpoint_root) + 1;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *rel = join(run_rel, e->d_name);
        char *path = join(s->checkpoint_root, rel);
        struct stat sb;
        if (lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) remove_file(path, "stray");
        else prune_folder(s, rel, listed(folders, rel) ? files : NULL, !listed(folders, rel), "stray");
        free(path);
        free(rel);
    }
    closedir(dir);
    free_paths(folders);
    free_paths(files);
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

char *store_make_checkpoint_folder(const bcos_store *s, const char *rel, char *err, size_t errlen) {
    char *folder = join(s->checkpoint_root, rel);
    char *run_folder = xstrdup(folder);
    *strrchr(run_folder, '/') = '\0';
    char *db_folder = xstrdup(s->checkpoint_root);
    char *slash = strrchr(db_folder, '/');
    if (slash) *slash = '\0';
    else strcpy(db_folder, ".");
    int status = make_folder(s->checkpoint_root, db_folder) == 0 && make_folder(run_folder, s->checkpoint_root) == 0 &&
                 make_folder(folder, run_folder) == 0 ? 0 : -1;
    if (status != 0) bcos_error(err, errlen, folder, "cannot create the checkpoint folder: %s", strerror(errno));
    /* Leftovers of an attempt that crashed before its commit. */
    else prune_folder(s, rel, NULL, 0, "stray");
    free(db_folder);
    free(run_folder);
    if (status == 0) return folder;
    free(folder);
    return NULL;
}
