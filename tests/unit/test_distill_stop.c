/* A stop while the data stalls: the real binary trains on a shard served by the test server, which
 * stalls for good a few samples in. SIGTERM during that wait must not wait for the stall timeout or
 * the retries: the run commits the checkpoint of the last step it trained, stops as `preempted`
 * with exit status 75 within a few seconds, and the same command, once the shard flows again,
 * resumes from that checkpoint's loader cursor and ends with the uninterrupted run's student,
 * optimizer state and metrics, bit for bit. */
#include "distill_helpers.h"

#include "support/http_server.h"

#define RUN "stop"
#define STEPS "6"
/* The bound on the stop: the stall timeout (30 s) alone is far above it. */
#define STOP_SECONDS 10.0

static char *g_dir, *g_log;
static const char *g_bin;

/* Fashion-MNIST shards (small grey PNGs with captions) under g_dir/fm/test/. */
static void write_shards(void) {
    char *out = helper_path(g_dir, "fm");
    const char *argv[] = {g_bin, "shards", "write", "--out", out, "--fashion-mnist", "--split", "test",
                          "--max-samples", "2000", "--captions", NULL};
    int status = helper_wait(helper_spawn(argv, NULL, g_log));
    CHECK_MSG(helper_exited_with(status, 0), "bcos shards write failed (is dataset-fashion-mnist installed?)");
    if (!helper_exited_with(status, 0)) helper_print_log(g_log);
    free(out);
}

/* The job on shard 0 over HTTP, into the store and student of `name` under g_dir. */
static pid_t start(const hs_server *server, const char *name) {
    char url[128], db[512], out[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/fm/test/0.tar", hs_port(server));
    snprintf(db, sizeof db, "%s/%s.db", g_dir, name);
    snprintf(out, sizeof out, "%s/%s.safetensors", g_dir, name);
    const char *argv[] = {g_bin, "distill", "jobs/distill-tiny.json", "--images", "", "--shards", url,
                          "--batch-size", "4", "--steps", STEPS, "--warmup-steps", "2", "--w-txt", "0.5",
                          "--workers", "1", "--ready-batches", "1", "--shuffle", "0", "--checkpoint-every", "0",
                          "--checkpoint-minutes", "0", "--log-every", "1", "--run", RUN, "--db", db, "--out", out,
                          NULL};
    return helper_spawn(argv, NULL, g_log);
}

/* Waits until the log shows the first step trained; 0 when it never does. */
static int first_step_trained(void) {
    for (int tries = 0; tries < 600; tries++) {
        char *log = helper_read(g_log, NULL);
        int seen = log && strstr(log, "step 1/" STEPS) != NULL;
        free(log);
        if (seen) return 1;
        helper_sleep_seconds(0.1);
    }
    return 0;
}

/* The process's status once it exits, waiting at most `seconds`; then it is killed (SIGKILL). */
static int wait_at_most(pid_t pid, double seconds) {
    int status;
    for (double t0 = bcos_now_seconds(); bcos_now_seconds() - t0 < seconds; helper_sleep_seconds(0.05))
        if (waitpid(pid, &status, WNOHANG) == pid) return status;
    kill(pid, SIGKILL);
    return helper_wait(pid);
}

static void test_stop_while_stalled(void) {
    hs_server *server = hs_start(g_dir, 0, 7);
    int status = helper_wait(start(server, "whole"));
    CHECK_MSG(helper_exited_with(status, 0), "the uninterrupted run failed (status %d)", status);
    if (!helper_exited_with(status, 0)) helper_print_log(g_log);

    /* about 6 samples in (3.4 KB each), the shard stops flowing for good */
    hs_fault stall = {.kind = HS_STALL, .path = "/fm/test/0.tar", .offset = 20000, .stall_ms = 3600 * 1000};
    hs_add_fault(server, &stall);
    pid_t pid = start(server, "stopped");
    CHECK_MSG(first_step_trained(), "the run never trained its first step");
    helper_sleep_seconds(1.0); /* the worker is inside the stall by now, the main thread waits for it */
    double t0 = bcos_now_seconds();
    kill(pid, SIGTERM);
    status = wait_at_most(pid, STOP_SECONDS);
    double seconds = bcos_now_seconds() - t0;
    char *db = helper_path(g_dir, "stopped.db");
    CHECK_MSG(helper_exited_with(status, 75), "SIGTERM during a stall: status %d, not exit 75 (killed: %d)", status,
              helper_killed(status));
    CHECK_MSG(seconds < STOP_SECONDS, "SIGTERM during a stall took %.1f s to stop (bound %.0f s)", seconds,
              STOP_SECONDS);
    if (!helper_exited_with(status, 75) || seconds >= STOP_SECONDS) helper_print_log(g_log);
    long long trained = helper_sql_int(db, "SELECT max(step) FROM metrics");
    CHECK_MSG(trained >= 1 && trained < atoi(STEPS), "stopped inside the run, after step 1 (at %lld)", trained);
    CHECK_MSG(helper_sql_int(db, "SELECT max(step) FROM checkpoints WHERE state = 'complete'") == trained,
              "the checkpoint is of the last step trained (%lld)", trained);
    CHECK_MSG(helper_sql_int(db, "SELECT count(*) FROM runs WHERE status = 'preempted'") == 1, "the run is preempted");
    CHECK_MSG(helper_sql_int(db, "SELECT count(*) FROM events WHERE kind = 'preemption' AND "
                                 "reason = 'SIGTERM: checkpointed and stopped'") == 1,
              "the stop is an event");
    printf("stopped %.2f s after SIGTERM, at step %lld\n", seconds, trained);

    hs_clear_faults(server);
    status = helper_wait(start(server, "stopped"));
    CHECK_MSG(helper_exited_with(status, 0), "the resume failed (status %d)", status);
    if (!helper_exited_with(status, 0)) helper_print_log(g_log);
    char *whole_db = helper_path(g_dir, "whole.db"), *whole = helper_path(g_dir, "whole.safetensors"),
         *resumed = helper_path(g_dir, "stopped.safetensors");
    char *ref_optimizer = helper_final_file(whole_db, RUN, "optimizer"), *optimizer = helper_final_file(db, RUN, "optimizer");
    char *ref_metrics = helper_metrics_dump(whole_db), *metrics = helper_metrics_dump(db);
    CHECK_MSG(helper_same_file(whole, resumed), "the resumed student differs from the uninterrupted run's");
    CHECK_MSG(helper_same_file(optimizer, ref_optimizer), "the final optimizer state differs");
    CHECK_MSG(strcmp(metrics, ref_metrics) == 0, "the metrics differ:\n%s\nthe uninterrupted run's:\n%s", metrics,
              ref_metrics);
    free(ref_optimizer), free(optimizer), free(ref_metrics), free(metrics);
    free(whole_db), free(whole), free(resumed), free(db);
    hs_stop(server);
}

int main(void) {
    g_bin = getenv("BCOS_BIN");
    CHECK_MSG(g_bin != NULL, "BCOS_BIN is not set: run this test through ctest");
    if (!g_bin) return test_summary("distill_stop");
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    g_dir = helper_temp_dir();
    g_log = helper_path(g_dir, "log");
    write_shards();
    test_stop_while_stalled();
    helper_remove_tree(g_dir);
    free(g_log), free(g_dir);
    return test_summary("distill_stop");
}
