/* Inside the store module: the store's state, checked SQLite calls and the pieces the files of
 * src/store/ share. Not part of the public interface (include/bcos/store.h). */
#ifndef BCOS_STORE_INTERNAL_H
#define BCOS_STORE_INTERNAL_H

#include <sqlite3.h>

#include "bcos/check.h"
#include "bcos/store.h"

/* The current time as the schema stores it: UTC, ISO 8601 with milliseconds. */
#define STORE_NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

struct bcos_store {
    sqlite3 *db;
    char *path;
    char *checkpoint_root;
    int read_only;
    const char *journal; /* "wal" or "delete" */
    int in_checkpoint_commit; /* the commit hook's crash point applies to this commit */
    int64_t writing_run;      /* the run begun on this connection (0: none): marked failed if SQLite fails */
    struct store_lease *lease; /* the run's lease this process holds (lease.c), or NULL */
};

/* ---- the run's lease (lease.c) ---- */

/* Whether the lease was lost to another process (it expired while this one could not renew it). */
int store_lease_lost(const bcos_store *s);
/* Inside a write transaction: renew the lease and say whether this process still holds it (1; also
 * without a lease), else mark it lost (0). */
int store_lease_confirm(bcos_store *s);
/* Stop renewing and delete the lease (closing the store does it). */
void store_lease_release(bcos_store *s);

/* ---- checked SQLite calls: any other outcome stops the process with file:line, the database
 * path, SQLite's message and a hint (store_sql.c) ---- */

BCOS_NORETURN void store_sql_die_at(const bcos_store *s, int rc, const char *what, const char *file, int line);
/* rc must be SQLITE_OK. */
void store_check_at(const bcos_store *s, int rc, const char *what, const char *file, int line);
sqlite3_stmt *store_prepare_at(const bcos_store *s, const char *sql, const char *file, int line);
/* 1 for a row, 0 when done. */
int store_step_at(const bcos_store *s, sqlite3_stmt *st, const char *file, int line);
/* Run SQL without parameters (transaction control, fixed statements). */
void store_exec_at(const bcos_store *s, const char *sql, const char *file, int line);

#define store_check(s, call) store_check_at((s), (call), #call, __FILE__, __LINE__)
#define store_prepare(s, sql) store_prepare_at((s), (sql), __FILE__, __LINE__)
#define store_step(s, st) store_step_at((s), (st), __FILE__, __LINE__)
#define store_exec(s, sql) store_exec_at((s), (sql), __FILE__, __LINE__)
/* Runs sql, whose parameters are ?1 a run's id and ?2 one of its checkpoint folders (relative to the
 * root): its first row's first column as an integer, 0 when it yields none (a change yields none). */
int64_t store_run_folder_sql(bcos_store *s, const char *sql, int64_t run_id, const char *rel);
/* After store_step has checked every step this returns SQLITE_OK; checked all the same. */
#define store_finalize(s, st) store_check_at((s), sqlite3_finalize(st), "finalize", __FILE__, __LINE__)
/* Bound parameters: text may be NULL (binds NULL); a NaN double binds NULL. */
#define store_bind_text(s, st, i, v) store_check_at((s), store_bind_text_or_null((st), (i), (v)), "bind text", __FILE__, __LINE__)
#define store_bind_int64(s, st, i, v) store_check_at((s), sqlite3_bind_int64((st), (i), (v)), "bind int64", __FILE__, __LINE__)
#define store_bind_double(s, st, i, v) store_check_at((s), store_bind_double_or_null((st), (i), (v)), "bind double", __FILE__, __LINE__)
#define store_bind_blob(s, st, i, v, n) store_check_at((s), sqlite3_bind_blob64((st), (i), (v), (n), SQLITE_TRANSIENT), "bind blob", __FILE__, __LINE__)
int store_bind_text_or_null(sqlite3_stmt *st, int i, const char *text);
int store_bind_double_or_null(sqlite3_stmt *st, int i, double value);
/* Column text as a heap copy ("" for NULL). */
char *store_column_strdup(sqlite3_stmt *st, int col);

/* Write transactions take the write lock at once (BEGIN IMMEDIATE), so that the busy timeout
 * applies to them instead of a deadlock error at their first write. */
void store_begin_write(const bcos_store *s);
/* A read transaction: every query inside sees one snapshot. */
void store_begin_read(const bcos_store *s);
void store_commit(const bcos_store *s);
void store_rollback(const bcos_store *s);

/* Inside a write transaction: mark the run as just updated (runs.c). */
void store_touch_run(bcos_store *s, int64_t run_id);

/* The names the schema uses for bcos_model_role (record.c). */
extern const char *const store_model_role_names[];

/* bcos_store_event_add inside the caller's write transaction (record.c). */
void store_insert_event(bcos_store *s, int64_t run_id, int64_t step, bcos_event_kind kind, const char *reason,
                        int64_t count, const char *detail);

/* ---- migrations (migrate.c) ---- */

/* Bring the database from its user_version to n_migrations by running migrations[v..n-1] in one
 * transaction. 0, or -1 with "PATH: ..." in err (nothing changed). */
int store_migrate(sqlite3 *db, const char *path, const char *const *migrations, int n_migrations, char *err,
                  size_t errlen);
/* The migrations embedded from schemas/migrations/ and their count. */
const char *const *store_embedded_migrations(int *count);

/* ---- network file systems (store.c) ---- */

/* The name of the network file system holding folder dir ("NFS", "Lustre", ...), or NULL for a
 * local one (or when statfs fails). */
const char *store_network_fs(const char *dir);
/* The same from a statfs f_type magic number. */
const char *store_network_fs_name(unsigned long magic);

/* ---- checkpoint files (checkpoint_files.c) ---- */

/* Remove the provable debris of the run's checkpoint folder: temporary files, the folders of
 * attempts that never committed (checkpoint_attempts) or of no valid manifest, retired and
 * corrupt checkpoints, and in a complete checkpoint's folder what its rows do not list. A folder
 * with a valid manifest that the store does not record is kept, with a warning. Writes the
 * manifest of a complete checkpoint that lacks one (a store from before manifests). */
void store_tidy_run_folder(bcos_store *s, int64_t run_id);
/* Delete the files of "<root>/<rel>" and the folder; what ("stray", "retired") is for the log. */
void store_remove_folder(const bcos_store *s, const char *rel, const char *what);
/* Delete the attempt row of folder rel (its own transaction). */
void store_forget_attempt(bcos_store *s, int64_t run_id, const char *rel);
/* Whether name is a temporary file of an atomic write ("<file>.tmp.XXXXXX"). */
int store_is_temp_name(const char *name);
/* Delete the files and folder of one recorded checkpoint. */
void store_remove_checkpoint_files(bcos_store *s, int64_t ckpt_id);
/* Create "<root>/<rel>" (and the folders above it up to the root), emptied of leftovers; its
 * path (heap), or NULL with "FOLDER: ..." in err. */
char *store_make_checkpoint_folder(bcos_store *s, const char *rel, char *err, size_t errlen);
/* "<root>/run-<id>" (heap). */
char *store_run_folder(const bcos_store *s, int64_t run_id);
/* "a/b" (heap). */
char *store_join(const char *a, const char *b);

/* ---- checkpoint manifests (manifest.c) ---- */

#define STORE_MANIFEST_NAME "manifest.json"

/* A manifest as read back: the checkpoint (c.id is 0; c.file_paths openable) and its run. */
typedef struct {
    bcos_checkpoint c;
    char *run, *job_sha256, *job_text, *code_version;
    char *directory;       /* relative to the checkpoint root */
    char **file_rel_paths; /* relative to the checkpoint root, one per c.file_names */
    int64_t *file_bytes;
} store_manifest;

/* The manifest of a recorded checkpoint as JSON text (heap). */
char *store_manifest_json(bcos_store *s, int64_t ckpt_id);
/* "<root>/<rel_folder>/manifest.json" (heap). */
char *store_manifest_path(const bcos_store *s, const char *rel_folder);
/* Write the manifest of checkpoint ckpt_id into its folder atomically: 0, or -1 with err. */
int store_manifest_write(bcos_store *s, int64_t ckpt_id, const char *rel_folder, char *err, size_t errlen);
/* Read and check "<root>/<rel_folder>/manifest.json": 0 and *m (store_manifest_free), or -1 when
 * it is missing, not a manifest of this version, or names another folder. */
int store_manifest_read(bcos_store *s, const char *rel_folder, store_manifest *m);
/* Whether the store knows the manifest's folder: a checkpoint or an attempt of the same run
 * (same id and name). */
int store_manifest_recorded(bcos_store *s, const store_manifest *m);
void store_manifest_free(store_manifest *m);

/* ---- text output (table.c) ---- */

/* A table of text cells, filled row by row, printed with aligned columns. */
typedef struct {
    int n_cols;
    const char *const *headers;
    const char *align; /* one letter per column: 'l' or 'r' */
    int n_cells;
    char **cells;
} store_table;

void store_table_init(store_table *t, int n_cols, const char *const *headers, const char *align);
/* Append the next cell (printf-style); rows fill left to right. */
void store_table_cell(store_table *t, const char *fmt, ...) BCOS_PRINTF(2, 3);
void store_table_print(const store_table *t, FILE *out);
void store_table_free(store_table *t);
/* One CSV field, quoted when it holds a comma, quote or line break; then ',' or the line end. */
void store_csv_field(FILE *out, const char *field, int last);
/* A double in the fewest digits that read back exactly. */
void store_format_double(char *buf, size_t len, double value);

#endif
