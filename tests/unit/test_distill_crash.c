/* The real `bcos distill` ($BCOS_BIN, set by ctest) on the tiny teacher, killed and resumed until it
 * completes, against one uninterrupted run of the same job (30 steps, a checkpoint every 3):
 *  - SIGKILL at every named crash point of a checkpoint (BCOS_CRASH_AT), at the first checkpoint
 *    and at later ones, each kill followed by the next in one chain of resumes;
 *  - SIGKILL at 20 random instants or more (a seeded RNG over 0.4 of the uninterrupted run's duration);
 *  - SIGUSR1 (a checkpoint, training goes on) and SIGTERM (a checkpoint, exit status 75, the run
 *    preempted), each recorded as a preemption event;
 *  - a damaged newest checkpoint: --resume reports it, falls back to the one before it, and still
 *    ends bit-identical; --resume of an unknown run and a changed job are refused.
 * After every kill PRAGMA integrity_check is ok. Every completed chain has saved the student and a
 * final optimizer state bit-identical to the uninterrupted run's, its metrics rows (step, loss, cos,
 * lr, grad norm, skipped samples) are equal to the bit, and no file lies in the checkpoint folder
 * that no complete checkpoint records. */
#include "distill_helpers.h"

#include <signal.h>
#include <time.h>

#include "bcos/check.h"
#include "bcos/rng.h"

#define RUN "crash"
#define RANDOM_KILLS 20
#define MAX_ATTEMPTS 200
#define EXIT_PREEMPTED 75

static const char *g_bin;
static char *g_dir, *g_images, *g_log;
/* One sequence of runs on its own store: dir/bcos.db, the student at dir/student.safetensors. */
typedef struct {
    char *dir, *db, *out;
} chain;

/* The uninterrupted run: its chain, final optimizer state, metrics and duration. */
static chain g_ref;
static char *g_ref_optimizer, *g_ref_metrics;
static double g_ref_seconds;

static chain chain_new(const char *name) {
    chain c = {helper_path(g_dir, name), NULL, NULL};
    BCOS_CHECK(mkdir(c.dir, 0755) == 0, "cannot create a chain's folder");
    c.db = helper_path(c.dir, "bcos.db");
    c.out = helper_path(c.dir, "student.safetensors");
    return c;
}

static void chain_free(chain *c) {
    free(c->dir), free(c->db), free(c->out);
}

/* Start the job on the chain's store (crash_at: a crash point to arm, or NULL), with extra flags
 * (NULL-terminated, may be NULL) after the job's; stdout and stderr go to g_log. */
static pid_t start(const chain *c, const char *crash_at, const char *const *extra) {
    const char *argv[40] = {g_bin, "distill", "jobs/distill-tiny.json", "--images", g_images, "--batch-size", "4",
                            "--steps", "30", "--checkpoint-every", "3", "--checkpoint-minutes", "0", "--keep-last",
                            "2", "--log-every", "4", "--run", RUN, "--db", c->db, "--out", c->out};
    int n = 23;
    for (int i = 0; extra && extra[i]; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    return helper_spawn(argv, crash_at, g_log);
}

static int log_has(const char *needle) {
    char *log = helper_read(g_log, NULL);
    int found = log && strstr(log, needle);
    free(log);
    return found;
}

/* Wait until the running child's log holds needle (1 when it does, 0 when the child ended first). */
static int wait_for_log(pid_t pid, const char *needle) {
    for (;;) {
        if (log_has(needle)) return 1;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) return 0;
        helper_sleep_seconds(0.001);
    }
}

static int integrity_ok(const char *db) {
    if (!helper_exists(db)) return 1; /* killed before the store was created */
    char *result = helper_sql_text(db, "PRAGMA integrity_check");
    int ok = strcmp(result, "ok") == 0;
    if (!ok) fprintf(stderr, "integrity_check of %s: %s\n", db, result);
    free(result);
    return ok;
}

static long long sql_int(const chain *c, const char *sql) { return helper_sql_int(c->db, sql); }

static long long newest_checkpoint(const chain *c) {
    return sql_int(c, "SELECT ifnull(max(step), 0) FROM checkpoints WHERE state = 'complete'");
}

/* A completed chain ended as the uninterrupted run did. */
static void check_like_reference(const chain *c, const char *what) {
    char *student = helper_final_file(c->db, RUN, "student"), *optimizer = helper_final_file(c->db, RUN, "optimizer");
    CHECK_MSG(helper_same_file(c->out, g_ref.out), "%s: the student differs from the uninterrupted run's", what);
    CHECK_MSG(helper_same_file(student, c->out), "%s: the final checkpoint's student is not the one saved", what);
    CHECK_MSG(helper_same_file(optimizer, g_ref_optimizer), "%s: the final optimizer state differs", what);
    char *metrics = helper_metrics_dump(c->db);
    CHECK_MSG(strcmp(metrics, g_ref_metrics) == 0, "%s: the metrics differ:\n%s\nthe uninterrupted run's:\n%s", what,
              metrics, g_ref_metrics);
    char *status = helper_sql_text(c->db, "SELECT status FROM runs");
    CHECK_MSG(strcmp(status, "done") == 0, "%s: the run is %s", what, status);
    char *root = helper_path(c->dir, "bcos.db-checkpoints");
    long long complete = sql_int(c, "SELECT count(*) FROM checkpoints WHERE state = 'complete'");
    CHECK_MSG(helper_count_files(root) == 3 * complete, "%s: %d files for %lld complete checkpoints (2 and a manifest each)", what,
              helper_count_files(root), complete);
    free(root), free(status), free(metrics), free(optimizer), free(student);
}

/* Start without a crash point and expect the run to complete. */
static void complete(const chain *c, const char *const *extra, const char *what) {
    int status = helper_wait(start(c, NULL, extra));
    CHECK_MSG(helper_exited_with(status, 0), "%s: the resumed run did not complete (status %d)", what, status);
    if (!helper_exited_with(status, 0)) helper_print_log(g_log);
}

static void run_reference(void) {
    g_ref = chain_new("reference");
    double t0 = bcos_now_seconds();
    int status = helper_wait(start(&g_ref, NULL, NULL));
    g_ref_seconds = bcos_now_seconds() - t0;
    CHECK_MSG(helper_exited_with(status, 0), "the uninterrupted run failed (status %d)", status);
    if (!helper_exited_with(status, 0)) helper_print_log(g_log);
    g_ref_optimizer = helper_final_file(g_ref.db, RUN, "optimizer");
    g_ref_metrics = helper_metrics_dump(g_ref.db);
    CHECK(g_ref_optimizer != NULL && newest_checkpoint(&g_ref) == 30);
    CHECK(sql_int(&g_ref, "SELECT count(*) FROM metrics") == 30 && sql_int(&g_ref, "SELECT min(step) FROM metrics") == 1);
}

/* One chain through every crash point: each kill, then the next run resumes (and is killed at the
 * next point); newest: the newest complete checkpoint right after the kill. */
static void test_named_points(void) {
    static const struct {
        const char *point;
        long long newest;
    } KILLS[] = {
        {"st_temp_written", 0},          /* the first checkpoint (step 3) never lands */
        {"checkpoint_committed", 3},     /* committed */
        {"st_before_rename", 3},         /* the checkpoint at step 6 is lost at each point ... */
        {"checkpoint_files_written", 3},
        {"checkpoint_commit", 3},
        {"checkpoint_committed", 6},     /* ... until it commits */
        {"checkpoint_committed", 9},     /* step 3 retired, its files left behind for the resume */
        {"st_temp_written", 9},          /* the checkpoint at step 12, at each point again */
        {"st_before_rename", 9},
        {"checkpoint_files_written", 9},
        {"checkpoint_commit", 9},
    };
    chain c = chain_new("named");
    for (size_t i = 0; i < sizeof KILLS / sizeof KILLS[0]; i++) {
        int status = helper_wait(start(&c, KILLS[i].point, NULL));
        CHECK_MSG(helper_killed(status), "%s (kill %zu): not killed there (status %d)", KILLS[i].point, i + 1, status);
        if (!helper_killed(status)) helper_print_log(g_log);
        CHECK_MSG(integrity_ok(c.db), "%s (kill %zu): the database is damaged", KILLS[i].point, i + 1);
        CHECK_MSG(newest_checkpoint(&c) == KILLS[i].newest, "%s (kill %zu): newest checkpoint %lld, wanted %lld",
                  KILLS[i].point, i + 1, newest_checkpoint(&c), KILLS[i].newest);
    }
    complete(&c, NULL, "named crash points");
    check_like_reference(&c, "named crash points");
    chain_free(&c);
}

/* Kill -9 at random instants, resuming after each, until RANDOM_KILLS kills hit a live process;
 * a chain that completes is checked and the next starts afresh. */
static void test_random_kills(void) {
    bcos_rng rng;
    bcos_rng_seed(&rng, 20261126);
    int kills = 0;
    for (int n = 0; kills < RANDOM_KILLS; n++) {
        char name[32];
        snprintf(name, sizeof name, "random-%d", n);
        chain c = chain_new(name);
        int attempts = 0, done = 0;
        while (!done && attempts++ < MAX_ATTEMPTS) {
            pid_t pid = start(&c, NULL, NULL);
            /* 0.4 of the uninterrupted run at most: a resumed run has less left to do */
            helper_sleep_seconds(0.4 * g_ref_seconds * bcos_rng_uniform(&rng));
            kill(pid, SIGKILL);
            int status = helper_wait(pid);
            if (helper_killed(status)) {
                kills++;
                CHECK_MSG(integrity_ok(c.db), "%s: the database is damaged after kill %d", name, kills);
            } else {
                CHECK_MSG(helper_exited_with(status, 0), "%s: a run failed (status %d)", name, status);
                if (!helper_exited_with(status, 0)) helper_print_log(g_log);
                done = 1;
            }
        }
        CHECK_MSG(done, "%s: no completion in %d attempts", name, MAX_ATTEMPTS);
        if (!done) break;
        check_like_reference(&c, name);
        chain_free(&c);
    }
    printf("random kills: %d\n", kills);
}

/* Flip a byte of the newest checkpoint's optimizer file of a completed chain: --resume warns, marks
 * it corrupt, goes on from the one before it and ends as the uninterrupted run did. */
static void test_damaged_checkpoint(const chain *c) {
    char *optimizer = helper_final_file(c->db, RUN, "optimizer");
    size_t len;
    char *bytes = optimizer ? helper_read(optimizer, &len) : NULL;
    BCOS_CHECK(bytes && len > 0, "cannot read the final optimizer file");
    bytes[len - 1] ^= 0x01;
    helper_write(optimizer, bytes, len);
    free(bytes);
    static const char *const RESUME[] = {"--resume", "true", NULL};
    complete(c, RESUME, "a damaged checkpoint");
    CHECK_MSG(log_has("damaged") && log_has(optimizer) && log_has("trying the one before it"),
              "the damaged file is reported");
    CHECK(log_has("resumes from its checkpoint at step 27 "));
    CHECK(sql_int(c, "SELECT count(*) FROM checkpoints WHERE step = 30 AND state = 'corrupt'") == 1);
    CHECK(sql_int(c, "SELECT count(*) FROM events WHERE kind = 'fault' AND step = 30") == 1);
    check_like_reference(c, "a damaged checkpoint");
    free(optimizer);
}

/* The step of the run's one preemption event for the signal (0: none or more than one). */
static long long signal_step(const chain *c, const char *signal) {
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT CASE count(*) WHEN 1 THEN max(step) ELSE 0 END FROM events"
                              " WHERE kind = 'preemption' AND reason LIKE '%s:%%'", signal);
    return sql_int(c, sql);
}

/* SIGUSR1 checkpoints after the current step and training goes on; SIGTERM checkpoints and stops
 * with 75, the run preempted; the same command then completes it. The signal is sent once the job
 * is loaded (the handlers are in place), so it lands in one of the first steps. */
static void test_signals(void) {
    chain c = chain_new("usr1");
    pid_t pid = start(&c, NULL, NULL);
    CHECK(wait_for_log(pid, "distill: teacher"));
    kill(pid, SIGUSR1);
    CHECK_MSG(helper_exited_with(helper_wait(pid), 0), "SIGUSR1: the run did not go on to complete");
    long long step = signal_step(&c, "SIGUSR1");
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM checkpoints WHERE step = %lld", step);
    CHECK_MSG(step >= 1 && step < 30 && sql_int(&c, sql) == 1, "SIGUSR1: a checkpoint at step %lld", step);
    check_like_reference(&c, "SIGUSR1");
    chain_free(&c);

    c = chain_new("term");
    pid = start(&c, NULL, NULL);
    CHECK(wait_for_log(pid, "distill: teacher"));
    kill(pid, SIGTERM);
    int status = helper_wait(pid);
    CHECK_MSG(helper_exited_with(status, EXIT_PREEMPTED), "SIGTERM: status %d, wanted exit %d", status, EXIT_PREEMPTED);
    step = signal_step(&c, "SIGTERM");
    CHECK_MSG(step >= 1 && step < 30 && newest_checkpoint(&c) == step && !helper_exists(c.out),
              "SIGTERM: stopped at step %lld after a checkpoint, no student saved", step);
    char *run_status = helper_sql_text(c.db, "SELECT status FROM runs");
    CHECK_MSG(strcmp(run_status, "preempted") == 0, "SIGTERM: the run is %s", run_status);
    free(run_status);
    complete(&c, NULL, "after SIGTERM");
    char resumed[96];
    snprintf(resumed, sizeof resumed, "resumes from its checkpoint at step %lld ", step);
    CHECK_MSG(log_has(resumed), "SIGTERM: the run %s", resumed);
    check_like_reference(&c, "SIGTERM");
    test_damaged_checkpoint(&c);
    chain_free(&c);
}

/* --resume of a run the store does not have, and a changed job under the name of a run that exists
 * (the uninterrupted one): refused, exit status 1. */
static void test_refusals(void) {
    chain c = chain_new("refused");
    static const char *const RESUME[] = {"--resume", "true", NULL};
    int status = helper_wait(start(&c, NULL, RESUME));
    CHECK_MSG(helper_exited_with(status, 1) && log_has("no run named 'crash'") && log_has("nothing to resume"),
              "--resume of an unknown run is refused");
    chain_free(&c);
    static const char *const CHANGED[] = {"--lr", "0.002", NULL};
    status = helper_wait(start(&g_ref, NULL, CHANGED));
    CHECK_MSG(helper_exited_with(status, 1) && log_has("exists with a different job"), "a changed job is refused");
}

int main(void) {
    g_bin = getenv("BCOS_BIN");
    CHECK_MSG(g_bin != NULL, "BCOS_BIN is not set: run this test through ctest");
    if (!g_bin) return test_summary("distill_crash");
    /* one BLAS thread per child: on two cores, killing and resuming is what is measured */
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    g_dir = helper_temp_dir();
    g_log = helper_path(g_dir, "log");
    g_images = helper_path(g_dir, "images");
    BCOS_CHECK(mkdir(g_images, 0755) == 0, "cannot create the image folder");
    static const char *const IMAGES[] = {"landscape_1200x800.jpg", "portrait_320x370.jpg", "grey_320x240.jpg",
                                         "odd_301x257.png", "palette_256x256.png", "rgba_250x250.png",
                                         "progressive_400x267.jpg", "w233_233x224.jpg"};
    for (size_t i = 0; i < sizeof IMAGES / sizeof IMAGES[0]; i++) {
        char *from = helper_path("tests/fixtures/image", IMAGES[i]), *to = helper_path(g_images, IMAGES[i]);
        helper_copy(from, to);
        free(from), free(to);
    }
    run_reference();
    double t0 = bcos_now_seconds();
    test_named_points();
    double t1 = bcos_now_seconds();
    test_random_kills();
    double t2 = bcos_now_seconds();
    test_signals();
    test_refusals();
    printf("uninterrupted run %.2f s; named points %.2f s, random kills %.2f s, signals and refusals %.2f s\n",
           g_ref_seconds, t1 - t0, t2 - t1, bcos_now_seconds() - t2);
    helper_remove_tree(g_dir);
    chain_free(&g_ref);
    free(g_ref_optimizer), free(g_ref_metrics), free(g_images), free(g_log), free(g_dir);
    return test_summary("distill_crash");
}
