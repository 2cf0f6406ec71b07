/* Checked SQLite calls for the store: once a database is open, a failing call is a programming or
 * environment error, so it stops the process with file:line, the database path, SQLite's own
 * message and a hint chosen by the result code. */
#include "internal.h"

#include <math.h>
#include <string.h>

static const char *hint_for(int rc) {
    switch (rc & 0xff) {
    case SQLITE_FULL: return "the disk holding the database is full";
    case SQLITE_IOERR: return "an I/O error on the disk holding the database";
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return "another process held the database's write lock past the busy timeout: is a second writer running?";
    case SQLITE_READONLY: return "the database or its folder is read-only";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return "the database is damaged: restore it from a backup or start a new one";
    case SQLITE_CANTOPEN: return "a file beside the database (its -wal, -shm or -journal) cannot be opened";
    case SQLITE_NOMEM: return "the machine is out of memory";
    default: return "a bug in bcos's use of SQLite";
    }
}

void store_sql_die_at(const bcos_store *s, int rc, const char *what, const char *file, int line) {
    const char *message = s->db && sqlite3_errcode(s->db) == rc ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    bcos_die_at(file, line, hint_for(rc), "SQLite error on %s: %s (%s)", s->path, message, what);
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
