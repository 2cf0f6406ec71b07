/* The real `bcos runs`, `bcos checkpoints` and `bcos results` ($BCOS_BIN, set by ctest) on a store
 * written through the API: output of each, --db and $BCOS_DB, the formats, and bad input (an
 * unknown run, bad option values, a missing, a garbage and a newer database): one line on stderr,
 * a non-zero exit, the database file unchanged. */
#include "store_helpers.h"

#include <sys/wait.h>

static const char *g_bin;
static char *g_dir, *g_db, *g_out, *g_err;

/* Run "$BCOS_BIN args" (with env prefixed when given); exit status, stdout in g_out, stderr in g_err. */
static int run_bcos(const char *env, const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s '%s' %s >'%s/out' 2>'%s/err'", env ? env : "", g_bin, args, g_dir, g_dir);
    int status = system(cmd);
    free(g_out), free(g_err);
    char *out = helper_path(g_dir, "out"), *err = helper_path(g_dir, "err");
    g_out = helper_read(out, NULL);
    g_err = helper_read(err, NULL);
    free(out), free(err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Fails with exactly one line on stderr that contains needle. */
static void expect_failure(const char *args, const char *needle) {
    int rc = run_bcos(NULL, args);
    CHECK_MSG(rc != 0, "bcos %s succeeded", args);
    int lines = 0;
    for (const char *c = g_err; c && *c; c++) lines += *c == '\n';
    CHECK_MSG(g_err && lines == 1 && strstr(g_err, needle), "bcos %s: stderr '%s' lacks '%s'", args,
              g_err ? g_err : "", needle);
}

static void build_store(void) {
    bcos_store *s = helper_open(g_db);
    int64_t run = helper_run(s, "tiny");
    int64_t ckpt;
    CHECK(helper_commit(s, run, 40, 2, 0, &ckpt) == 0);
    bcos_eval_result r[2] = {{0, BCOS_MODEL_TEACHER, "fashion-mnist", "test", NULL, "acc1", 0.75, 500},
                             {ckpt, BCOS_MODEL_STUDENT, "fashion-mnist", "test", NULL, "acc1", 0.625, 500}};
    bcos_store_results_add(s, run, r, 2);
    bcos_store_close(s);
}

static void test_listings(void) {
    char args[1024];
    snprintf(args, sizeof args, "runs --db '%s'", g_db);
    CHECK(run_bcos(NULL, args) == 0 && g_out && strstr(g_out, "\ntiny ") && strstr(g_out, "running"));
    snprintf(args, sizeof args, "checkpoints tiny --db '%s'", g_db);
    CHECK(run_bcos(NULL, args) == 0 && g_out && strstr(g_out, "complete") && strstr(g_out, "run-1/step-40"));
    /* $BCOS_DB chooses the store when --db is absent. */
    char env[1024];
    snprintf(env, sizeof env, "BCOS_DB='%s'", g_db);
    CHECK(run_bcos(env, "results --checkpoint latest") == 0);
    CHECK_MSG(g_out && strstr(g_out, "fashion-mnist") && strstr(g_out, "0.7500") && strstr(g_out, "0.6250") &&
                  strstr(g_out, "-0.1250"),
              "%s", g_out ? g_out : "");
    CHECK(run_bcos(env, "results --format csv --model student") == 0);
    CHECK(g_out && strstr(g_out, "tiny,40,student,fashion-mnist,test,zeroshot_classification,acc1,0.625,500,"));
    CHECK(run_bcos(env, "results --format json --run tiny --dataset fashion-mnist --checkpoint 40") == 0);
    CHECK(g_out && strstr(g_out, "\"pretrained\":\t\"tiny@step-40\"") && strstr(g_out, "\"acc1\":\t0.625"));
    CHECK(run_bcos(env, "results --help") == 0 && g_out && strstr(g_out, "usage: bcos results"));
}

static void test_bad_input(void) {
    char args[1024];
    snprintf(args, sizeof args, "checkpoints nope --db '%s'", g_db);
    expect_failure(args, "no run named 'nope'");
    snprintf(args, sizeof args, "results --run nope --db '%s'", g_db);
    expect_failure(args, "no run named 'nope'");
    snprintf(args, sizeof args, "results --checkpoint newest --db '%s'", g_db);
    expect_failure(args, "--checkpoint takes latest, all or a step number, not 'newest'");
    snprintf(args, sizeof args, "results --format xml --db '%s'", g_db);
    expect_failure(args, "--format takes table, csv or json, not 'xml'");
    snprintf(args, sizeof args, "results --model teacherr --db '%s'", g_db);
    expect_failure(args, "--model takes teacher or student");
    snprintf(args, sizeof args, "checkpoints --db '%s'", g_db);
    expect_failure(args, "give exactly one run name");

    char *missing = helper_path(g_dir, "missing.db");
    snprintf(args, sizeof args, "runs --db '%s'", missing);
    expect_failure(args, "no such database");
    CHECK(!helper_exists(missing));
    free(missing);

    char *garbage = helper_path(g_dir, "garbage.db");
    helper_write(garbage, "this is not a database, just text that is long enough to look like a file", 72);
    snprintf(args, sizeof args, "results --db '%s'", garbage);
    expect_failure(args, "not an SQLite database");
    size_t len;
    char *after = helper_read(garbage, &len);
    CHECK(after && len == 72 && strncmp(after, "this is not a database", 22) == 0);
    free(after), free(garbage);

    char *newer = helper_path(g_dir, "newer.db");
    helper_copy(g_db, newer);
    sqlite3 *db;
    CHECK(sqlite3_open(newer, &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    size_t before_len;
    char *before = helper_read(newer, &before_len);
    snprintf(args, sizeof args, "runs --db '%s'", newer);
    expect_failure(args, "schema version 999 is newer than this bcos");
    after = helper_read(newer, &len);
    CHECK(before && after && len == before_len && memcmp(before, after, len) == 0);
    free(before), free(after), free(newer);
}

int main(void) {
    g_bin = getenv("BCOS_BIN");
    CHECK_MSG(g_bin != NULL, "BCOS_BIN is not set: run this test through ctest");
    if (!g_bin) return test_summary("store_cli");
    g_dir = helper_temp_dir();
    g_db = helper_path(g_dir, "bcos.db");
    build_store();
    test_listings();
    test_bad_input();
    helper_remove_tree(g_dir);
    free(g_out), free(g_err), free(g_db), free(g_dir);
    return test_summary("store_cli");
}
