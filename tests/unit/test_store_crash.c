/* A kill -9 at each named crash point of a checkpoint write (BCOS_CRASH_AT, the crash points of include/bcos/check.h):
 * a child process commits checkpoint 2 and kills itself at the point; the parent then reopens the
 * store and finds the database intact (integrity_check ok), resume on the last committed
 * checkpoint with its files verified, and, after resume, no file that no checkpoint records. */
#include "store_helpers.h"

#include <signal.h>
#include <sys/wait.h>

#include "bcos/check.h"

typedef struct {
    const char *point;
    int files_left;       /* files under the checkpoint root right after the kill: shows where it hit */
    int64_t resumed_step; /* the checkpoint that must be found afterwards */
} crash_case;

static const crash_case CASES[] = {
    {"st_temp_written", 4, 1},          /* checkpoint 1's two files and manifest, and a temporary */
    {"st_before_rename", 4, 1},         /* the same, the temporary complete */
    {"checkpoint_files_written", 5, 1}, /* both files of checkpoint 2 in place, no manifest, unrecorded */
    {"checkpoint_commit", 6, 1},        /* its manifest too, the transaction not committed: an attempt */
    {"checkpoint_committed", 6, 2},     /* committed; checkpoint 1 retired, its files not yet deleted */
};

/* The child: commit checkpoint 2 with the crash point armed. Returns only if it did not fire. */
static void crash_child(const char *db, const char *point) {
    setenv(BCOS_CRASH_ENV, point, 1);
    bcos_store *s = helper_open(db);
    int64_t run = helper_run(s, "crash");
    helper_commit(s, run, 2, 1, 0, NULL);
    bcos_store_close(s);
    _exit(0);
}

static void test_crash_at(const crash_case *c) {
    char *dir = helper_temp_dir(), *db = helper_path(dir, "bcos.db");
    bcos_store *s = helper_open(db);
    int64_t run = helper_run(s, "crash");
    CHECK(helper_commit(s, run, 1, 1, 0, NULL) == 0);
    bcos_store_close(s);

    fflush(NULL);
    pid_t pid = fork();
    BCOS_CHECK(pid >= 0, "fork failed");
    if (pid == 0) crash_child(db, c->point);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "%s: the child was not killed there", c->point);

    char *root = helper_path(dir, "bcos.db-checkpoints");
    CHECK_MSG(helper_count_files(root) == c->files_left, "%s: %d files after the kill", c->point,
              helper_count_files(root));
    s = helper_open(db);
    char *integrity = helper_sql_text(db, "PRAGMA integrity_check");
    CHECK_MSG(strcmp(integrity, "ok") == 0, "%s: integrity_check says %s", c->point, integrity);
    free(integrity);
    bcos_checkpoint ckpt;
    CHECK_MSG(bcos_store_checkpoint_resume(s, run, &ckpt) == 1 && ckpt.step == c->resumed_step,
              "%s: resumed at step %lld", c->point, (long long)ckpt.step);
    CHECK(helper_model_matches(&ckpt, c->resumed_step));
    bcos_checkpoint_free(&ckpt);
    CHECK_MSG(helper_count_files(root) == 3, "%s: %d files remain, the resumed checkpoint has 2 and its manifest", c->point,
              helper_count_files(root));
    /* Only checkpoint 2 was in flight: the first is complete unless retention retired it. */
    CHECK(helper_sql_int(db, "SELECT count(*) FROM checkpoints WHERE state = 'complete'") == 1);
    /* The store goes on: the next checkpoint commits. */
    CHECK(helper_commit(s, run, 3, 1, 0, NULL) == 0);
    bcos_store_close(s);
    helper_remove_tree(dir);
    free(root), free(db), free(dir);
}

int main(void) {
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) test_crash_at(&CASES[i]);
    return test_summary("store_crash");
}
