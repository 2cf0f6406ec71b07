/* The events of a run tell what happened, once:
 *  - a resume drops the skip, retry and fault events of the steps it trains again (as their
 *    metrics rows are replaced), so that a chain of kills and resumes of `bcos distill` ends with
 *    the uninterrupted run's events; a corrupt checkpoint's fault and preemptions stay;
 *  - a run that fails gets a failure event with its error;
 *  - when an SQLite write fails (here a file size limit, as a full disk would), the process marks
 *    the run failed before it stops, instead of leaving it running. */
#include "distill_helpers.h"

#include <sys/resource.h>

#define RUN "events"

static const char *g_bin;
static char *g_dir, *g_log;

static void add_skips(bcos_store *s, int64_t run, int64_t from, int64_t to) {
    for (int64_t step = from; step <= to; step++) bcos_store_event_add(s, run, step, BCOS_EVENT_SKIP, "skipped", 1, NULL);
}

static void test_resume_drops_retrained_events(void) {
    char *db = helper_path(g_dir, "api.db");
    bcos_store *s = helper_open(db);
    int64_t run = helper_run(s, "api");
    add_skips(s, run, 1, 3);
    CHECK(helper_commit(s, run, 3, 3, 0, NULL) == 0);
    add_skips(s, run, 4, 6);
    bcos_store_event_add(s, run, 5, BCOS_EVENT_PREEMPTION, "SIGUSR1: checkpointed on request, training goes on", 1, NULL);
    bcos_store_event_add(s, run, 6, BCOS_EVENT_FAULT, "shard ended early", 1, NULL);
    bcos_store_close(s); /* killed before its next checkpoint */

    s = helper_open(db);
    bcos_checkpoint c;
    CHECK(bcos_store_checkpoint_resume(s, run, &c) == 1 && c.step == 3);
    bcos_checkpoint_free(&c);
    CHECK(helper_sql_int(db, "SELECT count(*) FROM events WHERE kind = 'skip'") == 3);
    CHECK(helper_sql_int(db, "SELECT max(step) FROM events WHERE kind IN ('skip', 'fault')") == 3);
    CHECK(helper_sql_int(db, "SELECT count(*) FROM events WHERE kind = 'preemption'") == 1);
    add_skips(s, run, 4, 6); /* trained again */
    CHECK(helper_sql_int(db, "SELECT count(*) FROM events WHERE kind = 'skip'") == 6);
    CHECK(helper_sql_int(db, "SELECT count(DISTINCT step) FROM events WHERE kind = 'skip'") == 6);
    bcos_store_close(s);
    free(db);
}

/* `bcos distill` with a learning rate that overflows the weights (some steps skipped) on store db,
 * crash point crash_at armed or NULL; its exit status. */
static int distill(const char *db, const char *crash_at) {
    const char *argv[] = {g_bin, "distill", "jobs/distill-tiny.json", "--batch-size", "4", "--steps", "12",
                          "--warmup-steps", "0", "--lr", "1e38", "--checkpoint-every", "4", "--checkpoint-minutes",
                          "0", "--run", RUN, "--db", db, NULL};
    return helper_wait(helper_spawn(argv, crash_at, g_log));
}

static char *skip_steps(const char *db) {
    return helper_sql_text(db, "SELECT ifnull(group_concat(step), '') FROM (SELECT step FROM events WHERE kind = 'skip'"
                               " ORDER BY step)");
}

static void test_chain_counts_once(void) {
    char *ref = helper_path(g_dir, "ref.db"), *db = helper_path(g_dir, "chain.db");
    CHECK(helper_exited_with(distill(ref, NULL), 0));
    char *want = skip_steps(ref);
    CHECK_MSG(strlen(want) > 0, "the overflowing run skips steps: '%s'", want);
    /* killed at its first checkpoint (4) after the commit, then inside the next commit (8): steps
     * 5 to 8 are trained three times */
    CHECK(helper_killed(distill(db, "checkpoint_committed")));
    CHECK(helper_killed(distill(db, "checkpoint_commit")));
    CHECK(helper_exited_with(distill(db, NULL), 0));
    char *got = skip_steps(db);
    CHECK_MSG(strcmp(got, want) == 0, "skip events at steps %s, the uninterrupted run has %s", got, want);
    free(got), free(want), free(db), free(ref);
}

static void test_failure_event(void) {
    char *db = helper_path(g_dir, "failing.db"), *root = helper_path(g_dir, "failing.db-checkpoints");
    helper_write(root, "in the way", 10); /* no checkpoint folder can be made */
    CHECK(helper_exited_with(distill(db, NULL), 1));
    CHECK(helper_sql_int(db, "SELECT count(*) FROM runs WHERE status = 'failed'") == 1);
    char *detail = helper_sql_text(db, "SELECT group_concat(reason || ': ' || detail) FROM events WHERE kind = 'failure'");
    CHECK_MSG(strstr(detail, "run failed: ") == detail && strstr(detail, "cannot create the checkpoint folder"),
              "the failure event says '%s'", detail);
    free(detail), free(root), free(db);
}

/* The child: metrics rows written until the -wal file passes a size limit. */
static void fill_until_failure(const char *db) {
    bcos_store *s = helper_open(db);
    int64_t run = helper_run(s, "full");
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit = {256 * 1024, 256 * 1024};
    BCOS_CHECK(setrlimit(RLIMIT_FSIZE, &limit) == 0, "setrlimit failed");
    bcos_metric rows[64];
    for (int i = 0; i < 64; i++) rows[i] = (bcos_metric){.step = i + 1, .loss = 1.0 / (i + 1)};
    for (int round = 0; round < 100000; round++) {
        for (int i = 0; i < 64; i++) rows[i].cos = round;
        bcos_store_metrics_add(s, run, rows, 64);
    }
    _exit(0);
}

static void test_sqlite_failure_marks_failed(void) {
    char *db = helper_path(g_dir, "full.db");
    fflush(NULL);
    pid_t pid = fork();
    BCOS_CHECK(pid >= 0, "fork failed");
    if (pid == 0) {
        int fd = open(g_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 2) < 0) _exit(126);
        fill_until_failure(db);
    }
    int status = helper_wait(pid);
    CHECK_MSG(helper_exited_with(status, 1), "the write did not fail (status %d)", status);
    char *log = helper_read(g_log, NULL);
    CHECK_MSG(log && strstr(log, "SQLite error") && strstr(log, "is marked failed"), "the child said: %s", log);
    free(log);
    CHECK(helper_sql_int(db, "SELECT count(*) FROM runs WHERE name = 'full' AND status = 'failed'") == 1);
    CHECK(helper_sql_int(db, "SELECT count(*) FROM events WHERE kind = 'failure' AND reason = 'SQLite error'") == 1);
    free(db);
}

int main(void) {
    g_bin = getenv("BCOS_BIN");
    BCOS_CHECK(g_bin && *g_bin, "set BCOS_BIN to the bcos binary (ctest does)");
    g_dir = helper_temp_dir();
    g_log = helper_path(g_dir, "log");
    test_resume_drops_retrained_events();
    test_chain_counts_once();
    test_failure_event();
    test_sqlite_failure_marks_failed();
    if (test_failures) helper_print_log(g_log);
    helper_remove_tree(g_dir);
    free(g_log), free(g_dir);
    return test_summary("store_events");
}
