/* Helpers of the tests that run `bcos distill` and compare a resumed run with an uninterrupted one
 * (test_distill_crash.c, test_distill_shards.c): starting and reaping the binary, time, files, the
 * final checkpoint's files and the metrics rows to the bit. */
#ifndef BCOS_TEST_DISTILL_HELPERS_H
#define BCOS_TEST_DISTILL_HELPERS_H

#include "store_helpers.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bcos/check.h"
#include "bcos/log.h"

/* Runs argv (NULL-terminated) with stdout and stderr to log, crash point crash_at armed (or none).
 * The environment is set before fork: a test server's threads may run in this process. */
static inline pid_t helper_spawn(const char *const *argv, const char *crash_at, const char *log) {
    if (crash_at)
        setenv(BCOS_CRASH_ENV, crash_at, 1);
    else
        unsetenv(BCOS_CRASH_ENV);
    remove(log); /* nobody reads the last run's log as this one's */
    fflush(NULL);
    pid_t pid = fork();
    BCOS_CHECK(pid >= 0, "fork failed");
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(126);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static inline int helper_wait(pid_t pid) {
    int status;
    BCOS_CHECK(waitpid(pid, &status, 0) == pid, "waitpid failed");
    return status;
}

static inline int helper_killed(int status) { return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }
static inline int helper_exited_with(int status, int code) { return WIFEXITED(status) && WEXITSTATUS(status) == code; }

static inline void helper_print_log(const char *log) {
    char *text = helper_read(log, NULL);
    fprintf(stderr, "---- bcos distill said:\n%s----\n", text ? text : "(nothing)");
    free(text);
}

static inline void helper_sleep_seconds(double s) {
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&t, &t) != 0) {
    }
}

/* Whether both files exist and hold the same bytes. */
static inline int helper_same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = a ? helper_read(a, &na) : NULL, *y = b ? helper_read(b, &nb) : NULL;
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x), free(y);
    return same;
}

/* The path of file `name` of run's newest complete checkpoint (heap), or NULL. */
static inline char *helper_final_file(const char *db, const char *run, const char *name) {
    bcos_store_options read_only = {1, BCOS_JOURNAL_AUTO, 0};
    bcos_store *s;
    char err[BCOS_ERRLEN];
    if (bcos_store_open(db, &read_only, &s, err, sizeof err) != 0) BCOS_DIE(NULL, "%s", err);
    int64_t id;
    bcos_checkpoint c;
    char *path = NULL;
    if (bcos_store_run_find(s, run, &id, err, sizeof err) == 0 &&
        bcos_store_checkpoint_find(s, id, BCOS_CKPT_LATEST, &c, err, sizeof err) == 0) {
        const char *p = bcos_checkpoint_file(&c, name);
        path = p ? xstrdup(p) : NULL;
        bcos_checkpoint_free(&c);
    }
    bcos_store_close(s);
    return path;
}

/* Every metrics row, its values in hexadecimal (exact), one line per step (heap). */
static inline char *helper_metrics_dump(const char *db) {
    sqlite3 *h;
    BCOS_CHECK(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK, "cannot open the database");
    sqlite3_stmt *st;
    BCOS_CHECK(sqlite3_prepare_v2(h, "SELECT step, loss, cos, lr, grad_norm, skipped_samples FROM metrics ORDER BY step",
                                  -1, &st, NULL) == SQLITE_OK, "cannot query the metrics");
    size_t cap = 4096, used = 0;
    char *dump = xmalloc(cap);
    dump[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        char line[256];
        int n = snprintf(line, sizeof line, "%lld", (long long)sqlite3_column_int64(st, 0));
        for (int col = 1; col <= 4; col++)
            n += sqlite3_column_type(st, col) == SQLITE_NULL
                     ? snprintf(line + n, sizeof line - (size_t)n, " null")
                     : snprintf(line + n, sizeof line - (size_t)n, " %a", sqlite3_column_double(st, col));
        n += snprintf(line + n, sizeof line - (size_t)n, " %lld\n", (long long)sqlite3_column_int64(st, 5));
        if (used + (size_t)n + 1 > cap) dump = xrealloc(dump, cap *= 2);
        memcpy(dump + used, line, (size_t)n + 1);
        used += (size_t)n;
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return dump;
}

#endif
