/* Checkpoints through the store's API: commit and read back (tensors, cursors, RNG state),
 * retention (last K plus every M-th step; retired files deleted), resume falling back past a
 * damaged file (a flipped byte) and a missing one, a step re-committed after a fallback, stray
 * files cleaned at resume, a file that cannot be written leaving nothing recorded, and runs
 * (resume with the same job, refusal of a changed one) and metrics (a step trained again). */
#include "store_helpers.h"

#include <math.h>

static char *g_dir, *g_db;

static const char *state_at(int64_t step) {
    static char sql[160], *state;
    snprintf(sql, sizeof sql, "SELECT group_concat(state) FROM checkpoints WHERE step = %lld", (long long)step);
    free(state);
    state = helper_sql_text(g_db, sql);
    return state;
}

static char *step_folder(int64_t run_id, const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "bcos.db-checkpoints/run-%lld/%s", (long long)run_id, name);
    return helper_path(g_dir, rel);
}

static void test_commit_and_retention(bcos_store *s, int64_t run) {
    /* keep_last 2, keep_every 30: of 10..60, 30 stays forever, 50 and 60 are the last two. */
    for (int64_t step = 10; step <= 60; step += 10) CHECK(helper_commit(s, run, step, 2, 30, NULL) == 0);
    CHECK(strcmp(state_at(10), "retired") == 0);
    CHECK(strcmp(state_at(20), "retired") == 0);
    CHECK(strcmp(state_at(30), "complete") == 0);
    CHECK(strcmp(state_at(40), "retired") == 0);
    CHECK(strcmp(state_at(50), "complete") == 0);
    CHECK(strcmp(state_at(60), "complete") == 0);
    char *root = helper_path(g_dir, "bcos.db-checkpoints");
    CHECK_MSG(helper_count_files(root) == 9, "3 complete checkpoints x 2 files and a manifest, found %d", helper_count_files(root));
    char *retired = step_folder(run, "step-40"), *kept = step_folder(run, "step-30");
    CHECK(!helper_exists(retired));
    CHECK(helper_exists(kept));
    free(retired), free(kept), free(root);
    CHECK(helper_sql_int(g_db, "SELECT count(*) FROM checkpoint_files WHERE length(sha256) = 64") == 12);
}

static void test_read_back(bcos_store *s, int64_t run) {
    bcos_checkpoint c;
    char err[BCOS_ERRLEN];
    CHECK(bcos_store_checkpoint_find(s, run, BCOS_CKPT_LATEST, &c, err, sizeof err) == 0);
    CHECK(c.step == 60 && c.epoch == 0 && c.samples_seen == 480 && c.world_size == 2 && c.n_files == 2);
    CHECK(strstr(c.data_cursors, "\"shard\": 60") != NULL);
    int64_t rng;
    CHECK(c.rng_bytes == sizeof rng);
    if (c.rng_bytes == sizeof rng) {
        memcpy(&rng, c.rng_state, sizeof rng);
        CHECK(rng == 60001);
    }
    CHECK(helper_model_matches(&c, 60));
    CHECK(bcos_checkpoint_verify(&c, err, sizeof err) == 0);
    CHECK(bcos_checkpoint_file(&c, "nothing") == NULL);
    bcos_checkpoint_free(&c);
    CHECK(bcos_store_checkpoint_find(s, run, 30, &c, err, sizeof err) == 0 && c.step == 30 && helper_model_matches(&c, 30));
    bcos_checkpoint_free(&c);
    CHECK(bcos_store_checkpoint_find(s, run, 40, &c, err, sizeof err) == -1);
    CHECK_MSG(helper_one_line_about(err, g_db) && strstr(err, "'ckpt' has no complete checkpoint at step 40"), "%s", err);
}

static void flip_byte(const char *path, long offset) {
    size_t len;
    char *bytes = helper_read(path, &len);
    CHECK(bytes && (size_t)offset < len);
    if (!bytes || (size_t)offset >= len) return;
    bytes[offset] ^= 0x01;
    helper_write(path, bytes, len);
    free(bytes);
}

static void test_corrupt_fallback(bcos_store *s, int64_t run) {
    bcos_checkpoint c;
    char err[BCOS_ERRLEN];
    CHECK(bcos_store_checkpoint_find(s, run, 60, &c, err, sizeof err) == 0);
    char *damaged = xstrdup(bcos_checkpoint_file(&c, "model"));
    bcos_checkpoint_free(&c);
    flip_byte(damaged, 100); /* inside the tensor data */
    CHECK(bcos_store_checkpoint_find(s, run, 50, &c, err, sizeof err) == 0);
    char *missing = xstrdup(bcos_checkpoint_file(&c, "optimizer"));
    bcos_checkpoint_free(&c);
    CHECK(unlink(missing) == 0);

    CHECK(bcos_store_checkpoint_resume(s, run, &c) == 1);
    CHECK(c.step == 30 && helper_model_matches(&c, 30));
    bcos_checkpoint_free(&c);
    CHECK(strcmp(state_at(60), "corrupt") == 0 && strcmp(state_at(50), "corrupt") == 0);
    CHECK(!helper_exists(damaged));
    CHECK(helper_sql_int(g_db, "SELECT count(*) FROM events WHERE kind = 'fault' AND reason = 'corrupt checkpoint'") == 2);
    char sql[600];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM events WHERE step = 60 AND instr(detail, '%s: damaged: its sha256 is') = 1", damaged);
    CHECK(helper_sql_int(g_db, sql) == 1);

    /* Training goes on from 30; step 60 is committed again, in a folder of its own. */
    CHECK(helper_commit(s, run, 60, 2, 30, NULL) == 0);
    CHECK(strcmp(state_at(60), "corrupt,complete") == 0);
    char *again = step_folder(run, "step-60.2");
    CHECK(helper_exists(again));
    free(again);
    CHECK(bcos_store_checkpoint_resume(s, run, &c) == 1 && c.step == 60 && helper_model_matches(&c, 60));
    bcos_checkpoint_free(&c);
    free(damaged), free(missing);
}

static void test_stray_cleanup(bcos_store *s, int64_t run) {
    char *uncommitted = step_folder(run, "step-70");
    CHECK(mkdir(uncommitted, 0755) == 0);
    char *stray_model = helper_path(uncommitted, "model.safetensors");
    helper_write(stray_model, "x", 1);
    char *kept = step_folder(run, "step-60.2");
    char *stray_tmp = helper_path(kept, "optimizer.safetensors.tmp.AbC123");
    helper_write(stray_tmp, "y", 1);
    char *run_folder = step_folder(run, "");
    char *stray_file = helper_path(run_folder, "leftover");
    helper_write(stray_file, "z", 1);
    char *foreign = helper_path(kept, "not-ours");
    CHECK(mkdir(foreign, 0755) == 0);

    bcos_checkpoint c;
    CHECK(bcos_store_checkpoint_resume(s, run, &c) == 1 && c.step == 60);
    CHECK(bcos_checkpoint_verify(&c, NULL, 0) == 0);
    bcos_checkpoint_free(&c);
    CHECK(!helper_exists(stray_model) && !helper_exists(uncommitted));
    CHECK(!helper_exists(stray_tmp));
    /* a folder or a file the store did not make is left alone: only provable debris is deleted */
    CHECK(helper_exists(foreign) && helper_exists(stray_file));
    CHECK(rmdir(foreign) == 0 && unlink(stray_file) == 0);
    char *root = helper_path(g_dir, "bcos.db-checkpoints");
    CHECK_MSG(helper_count_files(root) == 6, "30 and 60 remain, 2 files and a manifest each: found %d", helper_count_files(root));
    free(root), free(foreign), free(stray_file), free(run_folder), free(stray_tmp), free(kept), free(stray_model);
    free(uncommitted);
}

/* A file in the way of the checkpoint's folder: the write fails and nothing is recorded. */
static void test_unwritable_checkpoint(bcos_store *s, int64_t run) {
    char *blocker = step_folder(run, "step-80");
    helper_write(blocker, "in the way", 10);
    long long before = helper_sql_int(g_db, "SELECT count(*) FROM checkpoints");
    CHECK(helper_commit(s, run, 80, 2, 30, NULL) == -1);
    CHECK(helper_sql_int(g_db, "SELECT count(*) FROM checkpoints") == before);
    unlink(blocker);
    free(blocker);
    int64_t id = 0;
    CHECK(helper_commit(s, run, 80, 2, 30, &id) == 0 && id > 0);
}

static void test_runs_and_metrics(bcos_store *s) {
    bcos_run run;
    char err[BCOS_ERRLEN];
    CHECK(bcos_store_run_begin(s, "again", BCOS_RUN_DISTILL, "job A", 4, "v1", &run, err, sizeof err) == 0 && run.created == 1);
    int64_t id = run.id;
    CHECK(bcos_store_run_begin(s, "again", BCOS_RUN_DISTILL, "job A", 8, "v2", &run, err, sizeof err) == 0);
    CHECK(run.id == id && run.created == 0 && run.previous_world_size == 4);
    CHECK(helper_sql_int(g_db, "SELECT world_size FROM runs WHERE name = 'again'") == 8);
    CHECK(bcos_store_run_begin(s, "again", BCOS_RUN_DISTILL, "job B", 8, "v2", &run, err, sizeof err) == -1);
    CHECK_MSG(helper_one_line_about(err, g_db) && strstr(err, "run 'again' exists with a different job file"), "%s", err);
    CHECK(bcos_store_run_begin(s, "", BCOS_RUN_DISTILL, "job", 1, "v", &run, err, sizeof err) == -1);
    int64_t found;
    CHECK(bcos_store_run_find(s, "again", &found, err, sizeof err) == 0 && found == id);
    CHECK(bcos_store_run_find(s, "nope", &found, err, sizeof err) == -1 && strstr(err, "no run named 'nope'"));
    bcos_store_run_set_status(s, id, BCOS_RUN_PREEMPTED);
    char *status = helper_sql_text(g_db, "SELECT status FROM runs WHERE name = 'again'");
    CHECK(strcmp(status, "preempted") == 0);
    free(status);

    bcos_metric m[2] = {{5, 1.5, 0.2, 1e-3, 2.0, 100.0, 0}, {6, NAN, 0.3, 1e-3, 2.0, 100.0, 3}};
    bcos_store_metrics_add(s, id, m, 2);
    m[0].loss = 1.25; /* step 5 trained again after a resume */
    bcos_store_metrics_add(s, id, m, 1);
    CHECK(helper_sql_int(g_db, "SELECT count(*) FROM metrics") == 2);
    char *loss = helper_sql_text(g_db, "SELECT loss FROM metrics WHERE step = 5");
    CHECK(strcmp(loss, "1.25") == 0);
    free(loss);
    CHECK(helper_sql_int(g_db, "SELECT loss IS NULL AND skipped_samples = 3 FROM metrics WHERE step = 6") == 1);
    bcos_store_event_add(s, id, -1, BCOS_EVENT_RETRY, "HTTP 503", 4, NULL);
    CHECK(helper_sql_int(g_db, "SELECT count FROM events WHERE kind = 'retry' AND step IS NULL") == 4);
}

int main(void) {
    g_dir = helper_temp_dir();
    g_db = helper_path(g_dir, "bcos.db");
    bcos_store *s = helper_open(g_db);
    int64_t run = helper_run(s, "ckpt");
    test_commit_and_retention(s, run);
    test_read_back(s, run);
    test_corrupt_fallback(s, run);
    test_stray_cleanup(s, run);
    test_unwritable_checkpoint(s, run);
    test_runs_and_metrics(s);
    CHECK(helper_sql_int(g_db, "SELECT count(*) FROM pragma_foreign_key_check") == 0);
    bcos_store_close(s);
    helper_remove_tree(g_dir);
    free(g_db), free(g_dir);
    return test_summary("store_checkpoint");
}
