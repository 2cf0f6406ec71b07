/* Schema migrations: a fresh store is at the version schemas/migrations/ numbers (one file per
 * version), marked as a bcos store and shaped exactly as schemas/store.sql says; the migration
 * runner takes an older database up one or more versions keeping its rows, refuses a newer one,
 * and rolls a failing migration back whole; version 6 keeps the runs' kinds. */
#include "store_helpers.h"

#include <dirent.h>

#include "../../src/store/internal.h"

static char *g_dir;

static int count_migration_files(void) {
    DIR *d = opendir("schemas/migrations");
    CHECK(d != NULL);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".sql") == 0) n++;
    }
    closedir(d);
    return n;
}

/* Every schema object as "type name table sql" lines, sorted by name. */
static char *schema_of(sqlite3 *db) {
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, "SELECT type || ' ' || name || ' ' || tbl_name || ' ' || ifnull(sql, '') FROM"
                                 " sqlite_master ORDER BY name", -1, &st, NULL) == SQLITE_OK);
    size_t len = 0;
    char *text = xcalloc(1, 1);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        text = xrealloc(text, len + strlen(line) + 2);
        len += (size_t)sprintf(text + len, "%s\n", line);
    }
    sqlite3_finalize(st);
    return text;
}

static void test_fresh_store(void) {
    char *path = helper_path(g_dir, "fresh.db");
    bcos_store *s = helper_open(path);
    bcos_store_close(s);
    int files = count_migration_files();
    CHECK(files >= 1 && bcos_store_schema_version() == files);
    CHECK(helper_sql_int(path, "PRAGMA user_version") == files);
    CHECK(helper_sql_int(path, "PRAGMA application_id") == 0x62636F73);
    char *mode = helper_sql_text(path, "PRAGMA journal_mode");
    CHECK(strcmp(mode, "wal") == 0);
    free(mode);

    /* schemas/store.sql (tools/dump_schema.sh) describes exactly what the migrations make. */
    char *store_sql = bcos_read_file("schemas/store.sql", NULL);
    CHECK(store_sql != NULL);
    sqlite3 *from_file, *migrated;
    CHECK(sqlite3_open(":memory:", &from_file) == SQLITE_OK);
    CHECK(store_sql && sqlite3_exec(from_file, store_sql, NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_open_v2(path, &migrated, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    char *expected = schema_of(from_file), *actual = schema_of(migrated);
    CHECK_MSG(strlen(actual) > 1000 && strcmp(expected, actual) == 0,
              "schemas/store.sql is out of date: run tools/dump_schema.sh");
    free(expected), free(actual), free(store_sql);
    sqlite3_close(from_file);
    sqlite3_close(migrated);

    /* Opening again changes nothing. */
    s = helper_open(path);
    bcos_store_close(s);
    CHECK(helper_sql_int(path, "PRAGMA user_version") == files);
    free(path);
}

static int user_version(sqlite3 *db) {
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK);
    int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    return v;
}

/* The runner on migrations of its own: 1 makes a table, 2 adds a column to it. */
static void test_runner(void) {
    static const char *const migrations[] = {
        "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
        ("ALTER TABLE things ADD COLUMN colour TEXT NOT NULL DEFAULT 'grey';"
         " CREATE INDEX things_by_colour ON things (colour);"),
        "CREATE TABLE half_done (x INTEGER); THIS IS NOT SQL;",
    };
    char *path = helper_path(g_dir, "runner.db");
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    char err[BCOS_ERRLEN] = "";
    CHECK(store_migrate(db, path, migrations, 1, err, sizeof err) == 0 && user_version(db) == 1);
    CHECK(sqlite3_exec(db, "INSERT INTO things (name) VALUES ('kept')", NULL, NULL, NULL) == SQLITE_OK);

    /* Older database, newer binary: migrated, rows kept. */
    CHECK(store_migrate(db, path, migrations, 2, err, sizeof err) == 0 && user_version(db) == 2);
    sqlite3_close(db);
    char *row = helper_sql_text(path, "SELECT name || '/' || colour FROM things");
    CHECK(strcmp(row, "kept/grey") == 0);
    free(row);
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);

    /* Newer database, older binary: refused. */
    CHECK(store_migrate(db, path, migrations, 1, err, sizeof err) == -1);
    CHECK_MSG(helper_one_line_about(err, path) && strstr(err, "schema version 2 is newer"), "%s", err);
    CHECK(user_version(db) == 2);

    /* A migration that fails half-way leaves nothing of itself behind. */
    CHECK(store_migrate(db, path, migrations, 3, err, sizeof err) == -1);
    CHECK_MSG(helper_one_line_about(err, path) && strstr(err, "migration to schema version 3 failed"), "%s", err);
    CHECK(user_version(db) == 2);
    sqlite3_close(db);
    CHECK(helper_sql_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'half_done'") == 0);
    free(path);
}

/* Several versions at once, in one transaction: from 0 straight to 2; then one that would leave
 * a dangling reference is refused. */
static void test_several_steps(void) {
    static const char *const migrations[] = {
        "CREATE TABLE a (x INTEGER PRIMARY KEY);",
        "CREATE TABLE b (y INTEGER REFERENCES a (x));",
        "INSERT INTO b (y) VALUES (42);",
    };
    char *path = helper_path(g_dir, "steps.db");
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    char err[BCOS_ERRLEN];
    CHECK(store_migrate(db, path, migrations, 2, err, sizeof err) == 0 && user_version(db) == 2);
    CHECK(store_migrate(db, path, migrations, 3, err, sizeof err) == -1 && user_version(db) == 2);
    CHECK_MSG(strstr(err, "leaves 1 row with broken foreign keys") != NULL, "%s", err);
    sqlite3_close(db);
    CHECK(helper_sql_int(path, "SELECT count(*) FROM sqlite_master WHERE type = 'table'") == 2);
    CHECK(helper_sql_int(path, "SELECT count(*) FROM b") == 0);
    free(path);
}

/* Version 6 (runs of kind 'pretrain') on a version 3 store holding a distill run, an eval run and an
 * eval result: the kinds and the result stay, the trigger on student results still holds, and the
 * new kind is taken while an unknown one is still refused. */
static void test_pretrain_kind(void) {
    int count;
    const char *const *migrations = store_embedded_migrations(&count);
    CHECK(count >= 6);
    char *path = helper_path(g_dir, "v3.db");
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    char err[BCOS_ERRLEN];
    CHECK_MSG(store_migrate(db, path, migrations, 3, err, sizeof err) == 0, "%s", err);
    const char *rows =
        "INSERT INTO runs (id, name, job_text, job_sha256, world_size, code_version, kind) VALUES"
        " (1, 'd', '{}', printf('%064d', 0), 1, 'x', 'distill'), (2, 'e', '{}', printf('%064d', 0), 1, 'x', 'eval');"
        "INSERT INTO eval_results (run_id, model, dataset, split, metric, value, samples)"
        " VALUES (2, 'student', 'cifar10', 'test', 'acc1', 0.5, 10);";
    CHECK(sqlite3_exec(db, rows, NULL, NULL, NULL) == SQLITE_OK);
    CHECK_MSG(store_migrate(db, path, migrations, 6, err, sizeof err) == 0 && user_version(db) == 6, "%s", err);
    CHECK(sqlite3_exec(db, "INSERT INTO runs (name, job_text, job_sha256, world_size, code_version, kind) VALUES"
                           " ('p', '{}', printf('%064d', 0), 1, 'x', 'pretrain')", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "INSERT INTO runs (name, job_text, job_sha256, world_size, code_version, kind) VALUES"
                           " ('q', '{}', printf('%064d', 0), 1, 'x', 'other')", NULL, NULL, NULL) != SQLITE_OK);
    /* a student result without a checkpoint outside an eval run: still refused by the trigger */
    CHECK(sqlite3_exec(db, "INSERT INTO eval_results (run_id, model, dataset, split, metric, value, samples)"
                           " VALUES (1, 'student', 'cifar10', 'test', 'acc1', 0.5, 10)", NULL, NULL, NULL) != SQLITE_OK);
    sqlite3_close(db);
    char *kinds = helper_sql_text(path, "SELECT group_concat(name || ':' || kind, ',') FROM (SELECT * FROM runs ORDER BY id)");
    CHECK_MSG(strcmp(kinds, "d:distill,e:eval,p:pretrain") == 0, "%s", kinds);
    free(kinds);
    CHECK(helper_sql_int(path, "SELECT count(*) FROM eval_results") == 1);
    free(path);
}

int main(void) {
    g_dir = helper_temp_dir();
    test_fresh_store();
    test_pretrain_kind();
    test_runner();
    test_several_steps();
    helper_remove_tree(g_dir);
    free(g_dir);
    return test_summary("store_migrate");
}
