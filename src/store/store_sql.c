/* Checked SQLite calls for the store: once a database is open, a failing call is a programming or
 * environment error, so it stops the process with file:line, the database path, SQLite's own
 * message and a hint chosen by the result code, after trying to mark the run it writes failed. */
#include "internal.h"

#include <math.h>
#include <string.h>

#include "bcos/log.h"

static const char *hint_for(int rc) {
    switch (rc & 0xff) {
    case SQLITE_FULL: return "the disk holding the database is full";
    case SQLITE_IOERR: return "an I/O error on the disk holding the database";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return "another process held the database's write lock past the busy timeout: is a second writer running?";
    case SQLITE_READONLY: return "the database or its folder is read-only";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return "the database is damaged: move it away and run `bcos store recover`, which records the runs and "
               "checkpoints again from the checkpoint files (they are kept), or restore a backup and recover after it";
    case SQLITE_CANTOPEN: return "a file beside the database (its -wal, -shm or -journal) cannot be opened";
    case SQLITE_NOMEM: return "the machine is out of memory";
    default: return "a bug in bcos's use of SQLite";
    }
}

/* One statement with the run id as ?1 and text as ?2 on connection db: an SQLite result code. */
static int run_statement(sqlite3 *db, const char *sql, int64_t run_id, const char *text) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_int64(st, 1, run_id);
    if (sqlite3_bind_parameter_count(st) > 1) sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Before the process stops on a failed call while it writes a run: best effort to mark the run
 * failed, with the error as a failure event, so that it does not stay 'running'. The connection's
 * transaction is rolled back (it holds the write lock), then a fresh connection tries, after a WAL
 * checkpoint that gives back the space of a full disk's -wal file. Says whether it worked. */
static void mark_run_failed(const bcos_store *s, const char *error) {
    static int tried; /* a failure in here must not try again */
    if (!s->writing_run || s->read_only || tried++) return;
    if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_busy_timeout(db, 5000);
    if (rc == SQLITE_OK) sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = run_statement(db, "UPDATE runs SET status = 'failed', updated_at = " STORE_NOW " WHERE id = ?1", s->writing_run, NULL);
    if (rc == SQLITE_OK)
        rc = run_statement(db, "INSERT INTO events (run_id, kind, reason, detail) VALUES (?1, 'failure', 'SQLite error', ?2)",
                           s->writing_run, error);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        bcos_warn("%s: the run (id %lld) is marked failed, with the error as its failure event", s->path,
                  (long long)s->writing_run);
    else
        bcos_warn("%s: cannot mark the run (id %lld) failed either (%s): the store still says it is running",
                  s->path, (long long)s->writing_run, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
}

void store_sql_die_at(const bcos_store *s, int rc, const char *what, const char *file, int line) {
    const char *message = s->db && sqlite3_errcode(s->db) == rc ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    char *error = bcos_strfmt("%s (%s)", message, what);
    mark_run_failed(s, error); /* it may change what sqlite3_errmsg says: error keeps the message */
    bcos_die_at(file, line, hint_for(rc), "SQLite error on %s: %s", s->path, error);
}

void store_check_at(const bcos_store *s, int rc, const char *what, const char *file, int line) {
    if (rc != SQLITE_OK) store_sql_die_at(s, rc, what, file, line);
}

sqlite3_stmt *store_prepare_at(const bcos_store *s, const char *sql, const char *file, int line) {
    sqlite3_stmt *st = NULL;
    store_check_at(s, sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), sql, file, line);
    return st;
}

int store_step_at(const bcos_store *s, sqlite3_stmt *st, const char *file, int line) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    store_sql_die_at(s, rc, sqlite3_sql(st), file, line);
}

void store_exec_at(const bcos_store *s, const char *sql, const char *file, int line) {
    store_check_at(s, sqlite3_exec(s->db, sql, NULL, NULL, NULL), sql, file, line);
}

int store_bind_text_or_null(sqlite3_stmt *st, int i, const char *text) {
    return text ? sqlite3_bind_text(st, i, text, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

int store_bind_double_or_null(sqlite3_stmt *st, int i, double value) {
    return isnan(value) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, value);
}

char *store_column_strdup(sqlite3_stmt *st, int col) {
    const unsigned char *text = sqlite3_column_text(st, col);
    return xstrdup(text ? (const char *)text : "");
}

void store_begin_write(const bcos_store *s) {
    BCOS_CHECK(!s->read_only, "a read-only store was asked to write");
    store_exec(s, "BEGIN IMMEDIATE");
}

void store_begin_read(const bcos_store *s) { store_exec(s, "BEGIN"); }

void store_commit(const bcos_store *s) { store_exec(s, "COMMIT"); }

void store_rollback(const bcos_store *s) { store_exec(s, "ROLLBACK"); }

int64_t store_run_folder_sql(bcos_store *s, const char *sql, int64_t run_id, const char *rel) {
    sqlite3_stmt *st = store_prepare(s, sql);
    store_bind_int64(s, st, 1, run_id);
    store_bind_text(s, st, 2, rel);
    int64_t value = store_step(s, st) ? sqlite3_column_int64(st, 0) : 0;
    store_finalize(s, st);
    return value;
}
