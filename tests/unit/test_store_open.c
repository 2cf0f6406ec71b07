/* Opening the store: bad databases (truncated, garbage, newer schema, another program's SQLite
 * file, a folder, a missing or empty file for reading) are each refused with one line naming the
 * database, and left byte for byte as they were; a read-only folder refuses writing with a clear
 * line but still serves readers; journal modes (WAL, the rollback journal of the network file
 * system fallback) and the statfs magic numbers that trigger it; the default database path. */
#include "store_helpers.h"

#include <sys/wait.h>

#include "../../src/store/internal.h"

static char *g_dir, *g_good;

static bcos_store *open_with(const char *path, int read_only, bcos_journal journal, char *err, size_t errlen) {
    bcos_store_options o = {read_only, journal, 0};
    bcos_store *s = NULL;
    if (bcos_store_open(path, &o, &s, err, errlen) != 0) return NULL;
    return s;
}

/* A database with a run, a checkpoint and results, written through the API. */
static void make_good_database(const char *path) {
    bcos_store *s = helper_open(path);
    int64_t run = helper_run(s, "good");
    int64_t ckpt;
    CHECK(helper_commit(s, run, 10, 2, 0, &ckpt) == 0);
    bcos_eval_result r = {ckpt, BCOS_MODEL_STUDENT, "cifar10", "test", NULL, "acc1", 0.5, 100};
    bcos_store_results_add(s, run, &r, 1);
    bcos_store_close(s);
}

/* Opening `path` (read-write, then read-only) fails with one line naming it that contains
 * `needle`, and the file is unchanged. */
static void expect_refused(const char *path, const char *needle) {
    size_t before_len, after_len;
    char *before = helper_read(path, &before_len);
    for (int read_only = 0; read_only <= 1; read_only++) {
        char err[BCOS_ERRLEN] = "";
        bcos_store *s = open_with(path, read_only, BCOS_JOURNAL_AUTO, err, sizeof err);
        CHECK_MSG(s == NULL, "%s was opened (read_only %d)", path, read_only);
        if (s) bcos_store_close(s);
        CHECK_MSG(helper_one_line_about(err, path) && strstr(err, needle), "read_only %d: '%s' lacks '%s'", read_only,
                  err, needle);
    }
    char *after = helper_read(path, &after_len);
    CHECK_MSG(before && after && before_len == after_len && memcmp(before, after, before_len) == 0,
              "%s changed", path);
    free(before), free(after);
}

static void test_truncated(void) {
    char *path = helper_path(g_dir, "truncated.db");
    size_t len;
    char *bytes = helper_read(g_good, &len);
    helper_write(path, bytes, len / 2);
    expect_refused(path, "the database is damaged");
    free(bytes), free(path);
}

static void test_garbage(void) {
    char *path = helper_path(g_dir, "garbage.db");
    char bytes[8192];
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (char)(i * 7919 % 251);
    helper_write(path, bytes, sizeof bytes);
    expect_refused(path, "not an SQLite database");
    free(path);
}

static void set_user_version(const char *path, int version) {
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_close(db) == SQLITE_OK);
}

static void test_newer_schema(void) {
    char *path = helper_path(g_dir, "newer.db");
    helper_copy(g_good, path);
    set_user_version(path, bcos_store_schema_version() + 1);
    expect_refused(path, "is newer than this bcos");
    free(path);
}

static void test_foreign_database(void) {
    char *path = helper_path(g_dir, "foreign.db");
    sqlite3 *db;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "CREATE TABLE photos (name TEXT)", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_close(db) == SQLITE_OK);
    expect_refused(path, "not a bcos store");
    free(path);
}

static void test_not_a_file(void) {
    char *path = helper_path(g_dir, "folder.db");
    CHECK(mkdir(path, 0755) == 0);
    char err[BCOS_ERRLEN];
    CHECK(open_with(path, 0, BCOS_JOURNAL_AUTO, err, sizeof err) == NULL);
    CHECK_MSG(helper_one_line_about(err, path) && strstr(err, "not a regular file"), "%s", err);
    free(path);
}

static void test_reading_missing_or_empty(void) {
    char *missing = helper_path(g_dir, "missing.db"), *empty = helper_path(g_dir, "empty.db");
    char err[BCOS_ERRLEN];
    CHECK(open_with(missing, 1, BCOS_JOURNAL_AUTO, err, sizeof err) == NULL);
    CHECK_MSG(helper_one_line_about(err, missing) && strstr(err, "no such database"), "%s", err);
    CHECK(!helper_exists(missing));
    helper_write(empty, "", 0);
    CHECK(open_with(empty, 1, BCOS_JOURNAL_AUTO, err, sizeof err) == NULL);
    CHECK_MSG(helper_one_line_about(err, empty) && strstr(err, "an empty database"), "%s", err);
    /* Read-write, an empty file becomes a store. */
    bcos_store *s = open_with(empty, 0, BCOS_JOURNAL_AUTO, err, sizeof err);
    CHECK(s != NULL);
    if (s) bcos_store_close(s);
    free(missing), free(empty);
}

/* In a child that cannot write to the folder (root drops to nobody, since root writes anyway). */
static void read_only_folder_checks(const char *folder, const char *db) {
    char err[BCOS_ERRLEN];
    CHECK(open_with(db, 0, BCOS_JOURNAL_AUTO, err, sizeof err) == NULL);
    CHECK_MSG(helper_one_line_about(err, db) && strstr(err, "its folder is not writable"), "%s", err);
    char *fresh = helper_path(folder, "new.db");
    CHECK(open_with(fresh, 0, BCOS_JOURNAL_AUTO, err, sizeof err) == NULL);
    CHECK_MSG(helper_one_line_about(err, fresh) && strstr(err, "cannot open or create the database") &&
                  strstr(err, "its folder") && strstr(err, "Permission denied"),
              "%s", err);
    CHECK(!helper_exists(fresh));
    free(fresh);
    /* Readers still work. */
    bcos_store *s = open_with(db, 1, BCOS_JOURNAL_AUTO, err, sizeof err);
    CHECK_MSG(s != NULL, "read-only open in a read-only folder: %s", err);
    if (!s) return;
    int64_t run;
    CHECK(bcos_store_run_find(s, "good", &run, err, sizeof err) == 0);
    bcos_checkpoint c;
    CHECK(bcos_store_checkpoint_find(s, run, BCOS_CKPT_LATEST, &c, err, sizeof err) == 0 && c.step == 10);
    bcos_checkpoint_free(&c);
    bcos_store_close(s);
}

static void test_read_only_folder(void) {
    char *folder = helper_path(g_dir, "read-only"), *db = helper_path(folder, "bcos.db");
    CHECK(mkdir(folder, 0755) == 0);
    helper_copy(g_good, db);
    size_t before_len, after_len;
    char *before = helper_read(db, &before_len);
    CHECK(chmod(folder, 0555) == 0);
    if (geteuid() != 0) {
        read_only_folder_checks(folder, db);
    } else {
        CHECK(chown(folder, 65534, 65534) == 0);
        CHECK(chmod(g_dir, 0711) == 0); /* mkdtemp made it private */
        fflush(NULL);
        pid_t pid = fork();
        BCOS_CHECK(pid >= 0, "fork failed");
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
            read_only_folder_checks(folder, db);
            _exit(test_failures ? 1 : 0);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the checks as an unprivileged user failed");
    }
    char *after = helper_read(db, &after_len);
    CHECK(before && after && before_len == after_len && memcmp(before, after, before_len) == 0);
    CHECK(chmod(folder, 0755) == 0);
    free(before), free(after), free(db), free(folder);
}

static void test_journal_modes(void) {
    char *path = helper_path(g_dir, "journal.db");
    char err[BCOS_ERRLEN];
    bcos_store *s = open_with(path, 0, BCOS_JOURNAL_AUTO, err, sizeof err);
    CHECK(s && strcmp(bcos_store_journal_mode(s), "wal") == 0);
    if (s) bcos_store_close(s);
    /* What a network file system gets: a rollback journal, and everything still works. */
    s = open_with(path, 0, BCOS_JOURNAL_DELETE, err, sizeof err);
    CHECK(s && strcmp(bcos_store_journal_mode(s), "delete") == 0);
    if (!s) return;
    int64_t run = helper_run(s, "journal");
    CHECK(helper_commit(s, run, 1, 1, 0, NULL) == 0);
    bcos_store_close(s);
    CHECK(helper_sql_int(path, "SELECT count(*) FROM checkpoints") == 1);
    char *mode = helper_sql_text(path, "PRAGMA journal_mode");
    CHECK(strcmp(mode, "delete") == 0);
    free(mode);
    s = open_with(path, 1, BCOS_JOURNAL_AUTO, err, sizeof err);
    CHECK(s && strcmp(bcos_store_journal_mode(s), "delete") == 0);
    if (s) bcos_store_close(s);
    s = open_with(path, 0, BCOS_JOURNAL_AUTO, err, sizeof err);
    CHECK(s && strcmp(bcos_store_journal_mode(s), "wal") == 0);
    if (s) bcos_store_close(s);
    free(path);
}

/* $BCOS_JOURNAL chooses the mode when the caller leaves it to the store (a remote FUSE mount). */
static void test_journal_variable(void) {
    char *path = helper_path(g_dir, "journal-env.db");
    char err[BCOS_ERRLEN] = "";
    setenv(BCOS_STORE_JOURNAL_ENV, "delete", 1);
    bcos_store *s = open_with(path, 0, BCOS_JOURNAL_AUTO, err, sizeof err);
    CHECK_MSG(s && strcmp(bcos_store_journal_mode(s), "delete") == 0, "%s", err);
    if (s) bcos_store_close(s);
    s = open_with(path, 0, BCOS_JOURNAL_WAL, err, sizeof err); /* the caller's explicit choice wins */
    CHECK_MSG(s && strcmp(bcos_store_journal_mode(s), "wal") == 0, "%s", err);
    if (s) bcos_store_close(s);
    setenv(BCOS_STORE_JOURNAL_ENV, "rollback", 1);
    CHECK(open_with(path, 0, BCOS_JOURNAL_AUTO, err, sizeof err) == NULL);
    CHECK_MSG(strstr(err, BCOS_STORE_JOURNAL_ENV) && strstr(err, "'rollback'") && !strchr(err, '\n'), "%s", err);
    unsetenv(BCOS_STORE_JOURNAL_ENV);
    free(path);
}

static void test_network_file_systems(void) {
    CHECK(strcmp(store_network_fs_name(0x6969), "NFS") == 0);
    CHECK(strcmp(store_network_fs_name(0xFF534D42), "CIFS") == 0);
    CHECK(strcmp(store_network_fs_name(0xFFFFFFFFFF534D42ul), "CIFS") == 0); /* sign-extended f_type */
    CHECK(strcmp(store_network_fs_name(0xFE534D42), "SMB2") == 0);
    CHECK(strcmp(store_network_fs_name(0x0BD00BD0), "Lustre") == 0);
    CHECK(strcmp(store_network_fs_name(0x47504653), "GPFS") == 0);
    CHECK(strcmp(store_network_fs_name(0x19830326), "BeeGFS") == 0);
    CHECK(store_network_fs_name(0xEF53) == NULL);     /* ext4 */
    CHECK(store_network_fs_name(0x01021994) == NULL); /* tmpfs */
    CHECK(store_network_fs_name(0x58465342) == NULL); /* XFS */
    CHECK(store_network_fs_name(0x65735546) == NULL); /* FUSE: see store.c */
    CHECK(store_network_fs(g_dir) == NULL);
}

static void test_default_path(void) {
    setenv(BCOS_STORE_DB_ENV, "/somewhere/runs.db", 1);
    CHECK(strcmp(bcos_store_default_path(), "/somewhere/runs.db") == 0);
    setenv(BCOS_STORE_DB_ENV, "", 1);
    CHECK(strcmp(bcos_store_default_path(), "bcos.db") == 0);
    unsetenv(BCOS_STORE_DB_ENV);
    CHECK(strcmp(bcos_store_default_path(), "bcos.db") == 0);
}

int main(void) {
    g_dir = helper_temp_dir();
    g_good = helper_path(g_dir, "good.db");
    make_good_database(g_good);
    test_truncated();
    test_garbage();
    test_newer_schema();
    test_foreign_database();
    test_not_a_file();
    test_reading_missing_or_empty();
    test_read_only_folder();
    test_journal_modes();
    test_journal_variable();
    test_network_file_systems();
    test_default_path();
    helper_remove_tree(g_dir);
    free(g_good), free(g_dir);
    return test_summary("store_open");
}
