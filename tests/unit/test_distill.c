/* The single-process distill loop on the tiny fixture teacher and synthetic images:
 *  - a short run measurably raises the held-out student-teacher cosine;
 *  - two runs with the same seed save bit-identical students, another seed does not;
 *  - with a store: a stop requested before the first step ends it there, preempted, and the next
 *    call resumes it to the student the uninterrupted run saved, bit for bit;
 *  - the job text holds what changes the training and only that;
 *  - the text term and the SigLIP loss train too, non-finite steps are skipped and counted (and
 *    recorded in the store), and bad settings and job files are refused naming the culprit.
 * (tests/unit/test_distill_crash.c kills and resumes the real binary.) */
#include "store_helpers.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/distill.h"
#include "bcos/rng.h"
#include "test.h"

static char g_dir[] = "/tmp/bcos_test_distill_XXXXXX";

/* Smooth colour patterns (sums of random sinusoids), so that neighbouring pixels correlate as in photos. */
static void synthetic_images(bcos_image_set *set, int count, int size, uint64_t seed) {
    bcos_image_set_alloc(set, count, size);
    bcos_rng rng;
    bcos_rng_seed(&rng, seed);
    for (int i = 0; i < count; i++) {
        float fx[3], fy[3], phase[3], amp[3];
        for (int c = 0; c < 3; c++) {
            fx[c] = 6.0f * bcos_rng_uniform(&rng);
            fy[c] = 6.0f * bcos_rng_uniform(&rng);
            phase[c] = 6.28f * bcos_rng_uniform(&rng);
            amp[c] = 0.5f * bcos_rng_uniform(&rng);
        }
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
                for (int c = 0; c < 3; c++) {
                    float v = 0.5f + amp[c] * sinf(fx[c] * x / size * 6.28f + fy[c] * y / size * 6.28f + phase[c]);
                    set->crops[(((size_t)i * size + y) * size + x) * 3 + c] = (uint8_t)(255.0f * v);
                }
        char caption[64];
        snprintf(caption, sizeof caption, "a pattern number %d", i % 5);
        set->captions[i] = xstrdup(caption);
    }
}

static void base_config(bcos_distill_config *cfg, const char *out) {
    bcos_distill_defaults(cfg);
    snprintf(cfg->teacher, sizeof cfg->teacher, "tests/fixtures/clip/tiny_openclip.safetensors");
    snprintf(cfg->teacher_model, sizeof cfg->teacher_model, "bcos-tiny");
    snprintf(cfg->images, sizeof cfg->images, "(in memory)");
    snprintf(cfg->out, sizeof cfg->out, "%s", out);
    cfg->steps = 60;
    cfg->warmup_steps = 5;
    cfg->batch_size = 8;
    cfg->holdout = 16;
    cfg->lr = 2e-3;
    cfg->log_every = 20;
    cfg->seed = 3;
}

static int same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = bcos_read_file(a, &na), *y = bcos_read_file(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static void check_training(const bcos_image_set *set) {
    char a[128], b[128], c[128], err[BCOS_ERRLEN];
    snprintf(a, sizeof a, "%s/a.safetensors", g_dir);
    snprintf(b, sizeof b, "%s/b.safetensors", g_dir);
    snprintf(c, sizeof c, "%s/c.safetensors", g_dir);
    bcos_distill_config cfg;
    bcos_distill_report r1, r2, r3;
    base_config(&cfg, a);
    int rc = bcos_distill_run(&cfg, set, &r1, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    CHECK_MSG(r1.holdout_cos_after > r1.holdout_cos_before + 0.02,
              "held-out cosine rises: %.4f -> %.4f", r1.holdout_cos_before, r1.holdout_cos_after);
    CHECK(r1.steps_done == 60 && r1.skipped_steps == 0 && isfinite(r1.final_loss));
    base_config(&cfg, b);
    CHECK(bcos_distill_run(&cfg, set, &r2, err, sizeof err) == 0);
    CHECK_MSG(same_file(a, b), "same seed, bit-identical students");
    CHECK(r1.final_loss == r2.final_loss);
    base_config(&cfg, c);
    cfg.seed = 4;
    CHECK(bcos_distill_run(&cfg, set, &r3, err, sizeof err) == 0);
    CHECK_MSG(!same_file(a, c), "another seed, another student");
    /* the saved student reloads with its options */
    bcos_student s;
    rc = bcos_student_load_file(&s, a, bcos_backend_cpu(), err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) bcos_student_free(&s);
}

static void expect_error(int rc, const char *err, const char *needle) {
    CHECK_MSG(rc == -1, "refused (wanted an error naming '%s')", needle);
    CHECK_MSG(strstr(err, needle) != NULL, "error '%s' names '%s'", err, needle);
}

/* A stop requested before the run starts lands after its first step; the same call again resumes
 * from that checkpoint and ends where the uninterrupted run (check_training's a.safetensors) did. */
static void check_preempt_and_resume(const bcos_image_set *set) {
    char a[128], out[128], err[BCOS_ERRLEN];
    snprintf(a, sizeof a, "%s/a.safetensors", g_dir);
    snprintf(out, sizeof out, "%s/resumed.safetensors", g_dir);
    bcos_distill_config cfg;
    bcos_distill_report r;
    base_config(&cfg, out);
    snprintf(cfg.run, sizeof cfg.run, "preempted");
    snprintf(cfg.db, sizeof cfg.db, "%s/bcos.db", g_dir);
    cfg.checkpoint_every = 25;
    cfg.keep_last = 1;
    bcos_train_request(SIGTERM, 1);
    int rc = bcos_distill_run(&cfg, set, &r, err, sizeof err);
    CHECK_MSG(rc == 0 && r.preempted && r.steps_done == 1 && r.resumed_step == 0, "%s", err);
    FILE *f = fopen(out, "rb");
    CHECK_MSG(f == NULL, "a preempted run saves no student");
    if (f) fclose(f);
    rc = bcos_distill_run(&cfg, set, &r, err, sizeof err);
    CHECK_MSG(rc == 0 && !r.preempted && r.resumed_step == 1 && r.steps_done == 60, "%s", err);
    CHECK_MSG(same_file(a, out), "the resumed run saves the uninterrupted run's student");
    /* a run that is done resumes at its end: nothing to train, the same student again */
    remove(out);
    rc = bcos_distill_run(&cfg, set, &r, err, sizeof err);
    CHECK(rc == 0 && r.resumed_step == 60 && r.steps_done == 60 && isnan(r.final_loss) && same_file(a, out));
    /* the same name with other settings is another job: refused */
    cfg.lr *= 2;
    expect_error(bcos_distill_run(&cfg, set, &r, err, sizeof err), err, "different job");
    base_config(&cfg, "");
    snprintf(cfg.run, sizeof cfg.run, "never-begun");
    snprintf(cfg.db, sizeof cfg.db, "%s/bcos.db", g_dir);
    cfg.resume = 1;
    expect_error(bcos_distill_run(&cfg, set, &r, err, sizeof err), err, "nothing to resume");
}

/* Settings that only say how the run is kept (out, log_every, the store's) leave the job text as
 * it is; a training setting changes it. */
static void check_job_text(void) {
    bcos_distill_config a, b;
    base_config(&a, "a.safetensors");
    base_config(&b, "b.safetensors");
    b.log_every = 7;
    b.checkpoint_every = 3;
    b.checkpoint_minutes = 1;
    b.keep_last = 9;
    b.keep_every = 100;
    b.resume = 1;
    snprintf(b.run, sizeof b.run, "other");
    snprintf(b.db, sizeof b.db, "other.db");
    char *ta = bcos_distill_job_text(&a), *tb = bcos_distill_job_text(&b);
    CHECK_MSG(strcmp(ta, tb) == 0, "%s\nvs\n%s", ta, tb);
    CHECK_MSG(strstr(ta, "{\"kind\":\"distill\",") && strstr(ta, "\"seed\":3,") && strstr(ta, "\"lr\":0.002,") &&
                  strstr(ta, "\"beta1\":0.9,"), "%s", ta);
    CHECK(!strstr(ta, "\"out\"") && !strstr(ta, "\"run\""));
    free(tb);
    b = a;
    b.student.b = 2.5f;
    tb = bcos_distill_job_text(&b);
    CHECK(strcmp(ta, tb) != 0);
    free(tb), free(ta);
}

static void check_text_term_and_siglip(const bcos_image_set *set) {
    bcos_distill_config cfg;
    bcos_distill_report r;
    char err[BCOS_ERRLEN];
    base_config(&cfg, "");
    cfg.steps = 20;
    cfg.w_txt = 0.5;
    CHECK_MSG(bcos_distill_run(&cfg, set, &r, err, sizeof err) == 0, "%s", err);
    CHECK(isfinite(r.final_loss) && r.final_loss > 0);
    base_config(&cfg, "");
    cfg.steps = 20;
    snprintf(cfg.loss, sizeof cfg.loss, "siglip");
    CHECK_MSG(bcos_distill_run(&cfg, set, &r, err, sizeof err) == 0, "%s", err);
    CHECK(isfinite(r.final_loss) && r.holdout_cos_after > r.holdout_cos_before);
}

/* A learning rate that overflows the weights: the non-finite steps are skipped and counted, the run
 * ends; the store has a skip event and a metrics row with the batch skipped for each, and a resume
 * counts them again from the checkpoint. */
static void check_skipped_steps(const bcos_image_set *set) {
    bcos_distill_config cfg;
    bcos_distill_report r;
    char err[BCOS_ERRLEN], db[128];
    base_config(&cfg, "");
    cfg.steps = 6;
    cfg.warmup_steps = 0;
    cfg.holdout = 0;
    cfg.lr = 1e38;
    snprintf(cfg.run, sizeof cfg.run, "overflow");
    snprintf(db, sizeof db, "%s/skips.db", g_dir);
    snprintf(cfg.db, sizeof cfg.db, "%s", db);
    CHECK_MSG(bcos_distill_run(&cfg, set, &r, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(r.steps_done == 6 && r.skipped_steps >= 1 && r.skipped_steps < 6, "%lld of 6 steps skipped",
              (long long)r.skipped_steps);
    CHECK(helper_sql_int(db, "SELECT count(*) FROM events WHERE kind = 'skip'") == r.skipped_steps);
    CHECK(helper_sql_int(db, "SELECT count(*) FROM metrics WHERE skipped_samples = 8 AND grad_norm IS NULL") ==
          r.skipped_steps);
    CHECK(helper_sql_int(db, "SELECT count(*) FROM metrics") == 6);
    int64_t skipped = r.skipped_steps;
    CHECK(bcos_distill_run(&cfg, set, &r, err, sizeof err) == 0 && r.resumed_step == 6 && r.skipped_steps == skipped);
}

static void check_bad_settings(const bcos_image_set *set) {
    bcos_distill_config cfg;
    bcos_distill_report r;
    char err[BCOS_ERRLEN] = "", path[128];
    bcos_distill_defaults(&cfg);
    expect_error(bcos_distill_set(&cfg, "batch-size", "many", err, sizeof err), err, "batch_size");
    expect_error(bcos_distill_set(&cfg, "learning_rate", "1", err, sizeof err), err, "learning_rate");
    expect_error(bcos_distill_set(&cfg, "keep_biases", "maybe", err, sizeof err), err, "keep_biases");
    expect_error(bcos_distill_set(&cfg, "lr", "inf", err, sizeof err), err, "lr");
    CHECK(bcos_distill_set(&cfg, "batch-size", "4", err, sizeof err) == 0 && cfg.batch_size == 4);
    expect_error(bcos_distill_validate(&cfg, err, sizeof err), err, "teacher");
    base_config(&cfg, "");
    snprintf(cfg.loss, sizeof cfg.loss, "l2");
    expect_error(bcos_distill_run(&cfg, set, &r, err, sizeof err), err, "loss");
    base_config(&cfg, "");
    snprintf(cfg.teacher, sizeof cfg.teacher, "%s/missing.safetensors", g_dir);
    expect_error(bcos_distill_run(&cfg, set, &r, err, sizeof err), err, "missing.safetensors");
    base_config(&cfg, "");
    cfg.holdout = set->count;
    expect_error(bcos_distill_run(&cfg, set, &r, err, sizeof err), err, "holdout");
    base_config(&cfg, "");
    cfg.keep_last = 0;
    expect_error(bcos_distill_validate(&cfg, err, sizeof err), err, "keep_last");
    base_config(&cfg, "");
    cfg.resume = 1;
    expect_error(bcos_distill_validate(&cfg, err, sizeof err), err, "run");
    /* job files */
    snprintf(path, sizeof path, "%s/job.json", g_dir);
    FILE *f = fopen(path, "w");
    fputs("{\"kind\": \"distill\", \"steps\": 5, \"b\": 2.5, \"keep_biases\": true, \"teacher\": \"t.st\"}", f);
    fclose(f);
    bcos_distill_defaults(&cfg);
    CHECK_MSG(bcos_distill_load_job(&cfg, path, err, sizeof err) == 0, "%s", err);
    CHECK(cfg.steps == 5 && cfg.student.b == 2.5f && cfg.student.keep_biases == 1 && strcmp(cfg.teacher, "t.st") == 0);
    f = fopen(path, "w");
    fputs("{\"kind\": \"distill\", \"stepz\": 5}", f);
    fclose(f);
    expect_error(bcos_distill_load_job(&cfg, path, err, sizeof err), err, "stepz");
    CHECK(strstr(err, "job.json") != NULL);
    f = fopen(path, "w");
    fputs("{\"kind\": \"eval\"}", f);
    fclose(f);
    expect_error(bcos_distill_load_job(&cfg, path, err, sizeof err), err, "kind");
    f = fopen(path, "w");
    fputs("{\"kind\": \"distill\", \"steps\": [1]}", f);
    fclose(f);
    expect_error(bcos_distill_load_job(&cfg, path, err, sizeof err), err, "steps");
    remove(path);
}

int main(void) {
    BCOS_CHECK(mkdtemp(g_dir) != NULL, "/tmp is writable");
    bcos_image_set set;
    synthetic_images(&set, 64, 32, 5);
    check_training(&set);
    check_preempt_and_resume(&set);
    check_job_text();
    check_text_term_and_siglip(&set);
    check_skipped_steps(&set);
    check_bad_settings(&set);
    bcos_image_set_free(&set);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    CHECK(system(cmd) == 0);
    return test_summary("test_distill");
}
