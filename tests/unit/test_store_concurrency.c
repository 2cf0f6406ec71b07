/* Readers while a run writes: a child process commits metrics as fast as it can (a checkpoint
 * and results now and then, retention deleting files) while this process opens the database
 * read-only and runs every query in a loop, for a few seconds in WAL mode and again with the
 * rollback journal of the network file system fallback. No open may fail and no query may die
 * (a "database is locked" would stop the process through the checked wrappers); the readers must
 * see the writer's progress. Processes that create a new store at once all open it. */
#include "store_helpers.h"

#include <signal.h>
#include <sys/wait.h>

#include "bcos/log.h"

#define PHASE_SECONDS 2.0
/* However busy the machine, the reader stops once it has seen the writer's progress, or after this. */
#define GIVE_UP_SECONDS 30.0

static volatile sig_atomic_t g_stop;
static void on_term(int sig) {
    (void)sig;
    g_stop = 1;
}

static bcos_store *open_store(const char *path, int read_only, bcos_journal journal, char *err, size_t errlen) {
    bcos_store_options o = {read_only, journal, 0};
    bcos_store *s = NULL;
    return bcos_store_open(path, &o, &s, err, errlen) == 0 ? s : NULL;
}

/* The writer: as many small transactions as it can until the reader sends SIGTERM, then exit 0. */
static void writer(const char *db, bcos_journal journal) {
    signal(SIGTERM, on_term);
    char err[BCOS_ERRLEN];
    bcos_store *s = open_store(db, 0, journal, err, sizeof err);
    if (!s) {
        fprintf(stderr, "writer: %s\n", err);
        _exit(1);
    }
    int64_t run = helper_run(s, "busy");
    for (int64_t step = 1; !g_stop; step++) {
        bcos_metric m = {step, 1.0 / (double)step, 0.5, 1e-4, 1.0, 100.0, 0};
        bcos_store_metrics_add(s, run, &m, 1);
        if (step % 25 == 0) {
            int64_t ckpt;
            if (helper_commit(s, run, step, 2, 0, &ckpt) != 0) _exit(1);
            bcos_eval_result r = {ckpt, BCOS_MODEL_STUDENT, "cifar10", "test", NULL, "acc1", 0.5, 100};
            bcos_store_results_add(s, run, &r, 1);
        }
    }
    bcos_store_close(s);
    _exit(0);
}

/* Every query once; returns the newest metric step the reader saw. */
static long long read_everything(bcos_store *s, FILE *sink) {
    char err[BCOS_ERRLEN];
    bcos_store_print_runs(s, sink);
    CHECK_MSG(bcos_store_print_checkpoints(s, "busy", sink, err, sizeof err) == 0, "%s", err);
    bcos_results_filter f = {"busy", NULL, BCOS_CKPT_LATEST, -1, NULL, NULL};
    CHECK(bcos_store_print_results(s, &f, BCOS_FORMAT_TABLE, sink, err, sizeof err) == 0);
    CHECK(bcos_store_print_results(s, &f, BCOS_FORMAT_JSON, sink, err, sizeof err) == 0);
    int64_t run;
    CHECK(bcos_store_run_find(s, "busy", &run, err, sizeof err) == 0);
    bcos_checkpoint c;
    if (bcos_store_checkpoint_find(s, run, BCOS_CKPT_LATEST, &c, err, sizeof err) == 0) bcos_checkpoint_free(&c);
    return helper_sql_int(bcos_store_path(s), "SELECT ifnull(max(step), 0) FROM metrics");
}

/* Wait (bounded) until the writer has created the database and its run. */
static int wait_for_run(const char *db) {
    double give_up = bcos_now_seconds() + 10;
    char err[BCOS_ERRLEN];
    while (bcos_now_seconds() < give_up) {
        bcos_store *s = open_store(db, 1, BCOS_JOURNAL_AUTO, err, sizeof err);
        int64_t run;
        int ready = s && bcos_store_run_find(s, "busy", &run, err, sizeof err) == 0;
        if (s) bcos_store_close(s);
        if (ready) return 1;
        usleep(2000);
    }
    return 0;
}

static void test_readers_during_writes(bcos_journal journal, const char *mode) {
    char *dir = helper_temp_dir(), *db = helper_path(dir, "bcos.db");
    fflush(NULL);
    pid_t pid = fork();
    BCOS_CHECK(pid >= 0, "fork failed");
    if (pid == 0) writer(db, journal);
    CHECK_MSG(wait_for_run(db), "%s: the writer never created its run", mode);
    FILE *sink = xfopen("/dev/null", "w");
    char err[BCOS_ERRLEN];
    bcos_store *kept = open_store(db, 1, BCOS_JOURNAL_AUTO, err, sizeof err);
    CHECK_MSG(kept != NULL, "%s: %s", mode, err);
    int rounds = 0, failed_opens = 0;
    long long first_seen = -1, last_seen = -1;
    double start = bcos_now_seconds();
    /* at least the phase, and on until reads have overlapped writes (bounded) */
    while (kept && (bcos_now_seconds() < start + PHASE_SECONDS || rounds < 2 || last_seen <= first_seen) &&
           bcos_now_seconds() < start + GIVE_UP_SECONDS) {
        /* Alternate a long-lived connection and a fresh one, as `bcos results` opens it. */
        bcos_store *s = rounds % 2 ? open_store(db, 1, BCOS_JOURNAL_AUTO, err, sizeof err) : kept;
        if (!s) {
            failed_opens++;
            fprintf(stderr, "%s: %s\n", mode, err);
            continue;
        }
        last_seen = read_everything(s, sink);
        if (first_seen < 0) first_seen = last_seen;
        if (s != kept) bcos_store_close(s);
        rounds++;
    }
    if (kept) bcos_store_close(kept);
    fclose(sink);
    kill(pid, SIGTERM);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: the writer failed", mode);
    CHECK_MSG(failed_opens == 0, "%s: %d opens failed", mode, failed_opens);
    /* reads overlapped writes (the reader saw the table grow); how many is the machine's business */
    CHECK_MSG(rounds >= 2 && last_seen > first_seen, "%s: %d rounds, steps seen %lld..%lld", mode, rounds,
              first_seen, last_seen);
    long long written = helper_sql_int(db, "SELECT count(*) FROM metrics");
    printf("%s: %lld steps written, %d read rounds\n", mode, written, rounds);
    CHECK(written >= 2);
    helper_remove_tree(dir);
    free(db), free(dir);
}

/* Processes that open a store that does not exist yet at the same moment (the tasks of an
 * evaluation array) all create, switch to WAL and migrate it, then begin the same run: none may fail
 * (SQLite answers the journal switch busy at once, without the busy timeout), and the run is one. */
static void test_new_store_opened_at_once(void) {
    enum { TRIES = 20, PROCESSES = 4 };
    char *dir = helper_temp_dir();
    int failures = 0;
    for (int t = 0; t < TRIES; t++) {
        char name[32];
        snprintf(name, sizeof name, "new%d.db", t);
        char *db = helper_path(dir, name);
        pid_t pids[PROCESSES];
        for (int p = 0; p < PROCESSES; p++) {
            BCOS_CHECK((pids[p] = fork()) >= 0, "fork failed");
            if (pids[p] > 0) continue;
            char err[BCOS_ERRLEN];
            bcos_store *s = open_store(db, 0, BCOS_JOURNAL_AUTO, err, sizeof err);
            bcos_run run;
            int ok = s && bcos_store_run_begin(s, "shared", BCOS_RUN_EVAL, "{\"kind\":\"eval\"}", 1, "test", &run, err,
                                               sizeof err) == 0;
            if (!ok) fprintf(stderr, "process %d: %s\n", p, err);
            bcos_store_close(s);
            _exit(ok ? 0 : 1);
        }
        for (int p = 0; p < PROCESSES; p++) {
            int status;
            waitpid(pids[p], &status, 0);
            failures += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        }
        CHECK(helper_sql_int(db, "SELECT count(*) FROM runs") == 1);
        free(db);
    }
    CHECK_MSG(failures == 0, "%d of %d processes could not open a new store", failures, TRIES * PROCESSES);
    helper_remove_tree(dir);
    free(dir);
}

int main(void) {
    bcos_log_set_level(BCOS_LOG_WARN); /* retention logs every deleted file at debug level only */
    test_new_store_opened_at_once();
    test_readers_during_writes(BCOS_JOURNAL_WAL, "wal");
    test_readers_during_writes(BCOS_JOURNAL_DELETE, "delete");
    return test_summary("store_concurrency");
}
