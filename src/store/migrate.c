/* Schema migrations: the SQL files of schemas/migrations/ (embedded at build time) numbered
 * 0001, 0002, ...; migration k leads to schema version k (PRAGMA user_version). A database is
 * brought up to date in one transaction, so a failure or a crash leaves it at its old version. */
#include "internal.h"

#include <stdlib.h>

extern const char *const bcos_embedded_migration_names[];
extern const char *const bcos_embedded_migration_texts[];

const char *const *store_embedded_migrations(int *count) {
    int n = 0;
    for (; bcos_embedded_migration_texts[n]; n++)
        BCOS_CHECK(atoi(bcos_embedded_migration_names[n]) == n + 1,
                   "schemas/migrations/ must hold 0001_*.sql, 0002_*.sql, ... without gaps");
    *count = n;
    return bcos_embedded_migration_texts;
}

int bcos_store_schema_version(void) {
    int n;
    store_embedded_migrations(&n);
    return n;
}

/* One integer from a query without parameters (a pragma); an SQLite result code. */
static int query_int(sqlite3 *db, const char *sql, int *value) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) *value = sqlite3_column_int(st, 0), rc = SQLITE_OK;
    sqlite3_finalize(st); /* it would repeat the step's error, which rc holds already */
    return rc;
}

static int set_user_version(sqlite3 *db, int version) {
    /* A pragma takes no bound parameters; the value is our own integer. */
    char sql[48];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version);
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Inside the open transaction: run migrations[from..n-1] and record the version. */
static int apply(sqlite3 *db, const char *path, const char *const *migrations, int from, int n, char *err,
                 size_t errlen) {
    for (int v = from; v < n; v++)
        if (sqlite3_exec(db, migrations[v], NULL, NULL, NULL) != SQLITE_OK)
            return bcos_error(err, errlen, path, "migration to schema version %d failed: %s", v + 1,
                              sqlite3_errmsg(db));
    /* Rows that break a foreign key: a migration that rebuilds a table must leave none. */
    int violations = 0;
    if (query_int(db, "SELECT count(*) FROM pragma_foreign_key_check", &violations) != SQLITE_OK ||
        set_user_version(db, n) != SQLITE_OK)
        return bcos_error(err, errlen, path, "migration to schema version %d failed: %s", n, sqlite3_errmsg(db));
    if (violations > 0)
        return bcos_error(err, errlen, path, "migration to schema version %d leaves %d row%s with broken foreign keys",
                          n, violations, violations == 1 ? "" : "s");
    return 0;
}

int store_migrate(sqlite3 *db, const char *path, const char *const *migrations, int n_migrations, char *err,
                  size_t errlen) {
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return bcos_error(err, errlen, path, "cannot start the schema migration: %s", sqlite3_errmsg(db));
    /* Read again inside the transaction: another process may have migrated meanwhile. */
    int version = 0, status = 0;
    if (query_int(db, "PRAGMA user_version", &version) != SQLITE_OK)
        status = bcos_error(err, errlen, path, "cannot read the schema version: %s", sqlite3_errmsg(db));
    else if (version > n_migrations)
        status = bcos_error(err, errlen, path, "schema version %d is newer than this bcos knows (%d): use a newer bcos",
                            version, n_migrations);
    else if (version < n_migrations)
        status = apply(db, path, migrations, version, n_migrations, err, errlen);
    if (status == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        status = bcos_error(err, errlen, path, "cannot commit the schema migration: %s", sqlite3_errmsg(db));
    /* The error being reported is what matters; if ROLLBACK fails too, closing the connection
     * (which the caller does on error) rolls the transaction back. */
    if (status != 0 && !sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return status;
}
