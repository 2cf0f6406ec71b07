/* `bcos distill` on WebDataset shards written at test time from the image fixtures (4 shards of 3
 * samples, one more sample in the last with a payload that does not decode):
 *  - the text term reads the captions from the shards: with w_img 0 a run trains on them alone;
 *    captions that differ only after their first line give the same student bit for bit, other
 *    first lines another, and shards without .txt a loss of exactly 0;
 *  - training crops (on in these runs) are seeded by the shard's position in the URL list, not its
 *    URL: the same shards under other file names, and over HTTP from the test server instead of
 *    file://, train the same student bit for bit; the evaluation crop trains another;
 *  - corrupt samples are skipped, and recorded in the store as skip events by their reason;
 *  - the real binary on the shards over HTTP (the test server), killed at a checkpoint and at random
 *    instants and resumed each time from the loader cursor in its checkpoint, ends with the student,
 *    the optimizer state and the metrics rows of the uninterrupted run, bit for bit. */
#include "distill_helpers.h"

#include <math.h>
#include <signal.h>

#include "bcos/distill.h"
#include "bcos/check.h"
#include "bcos/rng.h"
#include "support/http_server.h"
#include "support/tar_build.h"

#define N_SHARDS 4
#define PER_SHARD 3
#define RUN "shards"
#define RANDOM_KILLS 4
#define MAX_ATTEMPTS 60

static char *g_dir, *g_log;
static const char *g_bin;

static const char *const IMAGES[] = {"landscape_1200x800.jpg", "portrait_320x370.jpg", "grey_320x240.jpg",
                                     "odd_301x257.png", "palette_256x256.png", "rgba_250x250.png",
                                     "progressive_400x267.jpg", "w233_233x224.jpg"};

/* Caption texts: none, two with the same first lines, and other first lines. */
typedef enum { NO_CAPTIONS, FIRST_LINES, SAME_FIRST_LINES, OTHER_CAPTIONS } captions;

static void caption_text(char *out, size_t len, captions kind, int i) {
    if (kind == FIRST_LINES) snprintf(out, len, "a photo of thing %d\nsome more words", i % 5);
    else if (kind == SAME_FIRST_LINES) snprintf(out, len, "a photo of thing %d\r\nother words after it", i % 5);
    else snprintf(out, len, "a blurry drawing of a %s", i % 2 ? "cat" : "boat");
}

/* prefix-{0..3}.tar in g_dir; each shard begins with a sample whose .jpg is a JPEG cut short, which
 * does not decode (so that every worker meets one, whatever its shards). */
static void write_shards(const char *prefix, captions kind) {
    for (int k = 0; k < N_SHARDS; k++) {
        tb_member m[2 * (PER_SHARD + 1)];
        char names[2 * (PER_SHARD + 1)][32], text[PER_SHARD + 1][96];
        char *payload[PER_SHARD + 1] = {NULL};
        int n = 0;
        for (int j = 0; j <= PER_SHARD; j++) {
            int i = k * (PER_SHARD + 1) + j;
            const char *image = IMAGES[i % 8], *ext = strrchr(image, '.');
            snprintf(names[n], 32, "s%02d%s", i, j == 0 ? ".jpg" : ext);
            size_t size;
            char *path = helper_path("tests/fixtures/image", j > 0 ? image : "landscape_1200x800.jpg");
            payload[j] = helper_read(path, &size);
            free(path);
            m[n] = (tb_member){names[n], payload[j], j > 0 ? size : 600, 0, NULL};
            n++;
            if (kind == NO_CAPTIONS) continue;
            caption_text(text[j], sizeof text[j], kind, i);
            snprintf(names[n], 32, "s%02d.txt", i);
            m[n] = (tb_member){names[n], text[j], strlen(text[j]), 0, NULL};
            n++;
        }
        size_t size;
        uint8_t *tar = tb_build(m, n, &size);
        char name[64];
        snprintf(name, sizeof name, "%s-%d.tar", prefix, k);
        char *path = helper_path(g_dir, name);
        BCOS_CHECK(tb_write_file(path, tar, size) == 0, "cannot write a shard");
        free(path), free(tar);
        for (int j = 0; j <= PER_SHARD; j++) free(payload[j]);
    }
}

static void shards_config(bcos_distill_config *cfg, const char *prefix) {
    bcos_distill_defaults(cfg);
    snprintf(cfg->teacher, sizeof cfg->teacher, "tests/fixtures/clip/tiny_openclip.safetensors");
    snprintf(cfg->teacher_model, sizeof cfg->teacher_model, "bcos-tiny");
    snprintf(cfg->shards, sizeof cfg->shards, "file://%s/%s-{0..%d}.tar", g_dir, prefix, N_SHARDS - 1);
    snprintf(cfg->out, sizeof cfg->out, "%s/%s.safetensors", g_dir, prefix);
    cfg->steps = 8;
    cfg->warmup_steps = 1;
    cfg->batch_size = 4;
    cfg->lr = 2e-3;
    cfg->log_every = 8;
    cfg->seed = 3;
    cfg->w_img = 0;
    cfg->w_txt = 1;
}

/* The "first" run over HTTP from the test server with training crops on gives file://'s student
 * (file_run, file_out) bit for bit; the same run on the evaluation crop gives another. */
static void test_crops_over_http(const bcos_distill_report *file_run, const char *file_out) {
    hs_server *server = hs_start(g_dir, 0, 5);
    bcos_distill_config cfg;
    bcos_distill_report http, eval;
    char err[BCOS_ERRLEN];
    shards_config(&cfg, "first");
    CHECK(cfg.train_crops);
    snprintf(cfg.shards, sizeof cfg.shards, "http://127.0.0.1:%d/first-{0..%d}.tar", hs_port(server), N_SHARDS - 1);
    snprintf(cfg.out, sizeof cfg.out, "%s/first-http.safetensors", g_dir);
    CHECK_MSG(bcos_distill_run(&cfg, NULL, &http, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(hs_requests(server) > 0, "the run read its shards over HTTP");
    CHECK_MSG(http.final_loss == file_run->final_loss && helper_same_file(file_out, cfg.out),
              "with training crops, the shards over HTTP train another student than over file:// (loss %.9g, %.9g)",
              http.final_loss, file_run->final_loss);
    hs_stop(server);
    shards_config(&cfg, "first");
    cfg.train_crops = 0;
    snprintf(cfg.out, sizeof cfg.out, "%s/first-eval.safetensors", g_dir);
    CHECK_MSG(bcos_distill_run(&cfg, NULL, &eval, err, sizeof err) == 0, "%s", err);
    CHECK_MSG(eval.final_loss != file_run->final_loss && !helper_same_file(file_out, cfg.out),
              "training crops change what the student sees");
}

static void test_text_term(void) {
    static const struct {
        const char *prefix;
        captions kind;
    } SETS[] = {{"first", FIRST_LINES}, {"same", SAME_FIRST_LINES}, {"other", OTHER_CAPTIONS}, {"none", NO_CAPTIONS}};
    bcos_distill_report r[4];
    char err[BCOS_ERRLEN], outs[4][sizeof ((bcos_distill_config *)0)->out];
    for (int i = 0; i < 4; i++) {
        write_shards(SETS[i].prefix, SETS[i].kind);
        bcos_distill_config cfg;
        shards_config(&cfg, SETS[i].prefix);
        snprintf(outs[i], sizeof outs[i], "%s", cfg.out);
        if (i == 0) {
            snprintf(cfg.run, sizeof cfg.run, "text");
            snprintf(cfg.db, sizeof cfg.db, "%s/text.db", g_dir);
        }
        int rc = bcos_distill_run(&cfg, NULL, &r[i], err, sizeof err);
        CHECK_MSG(rc == 0 && r[i].steps_done == 8, "%s: %s", SETS[i].prefix, err);
    }
    CHECK_MSG(isfinite(r[0].final_loss) && r[0].final_loss > 0, "the text term trains on the shards' captions (%g)",
              r[0].final_loss);
    /* "same-*.tar" holds "first-*.tar"'s images under other file names: its crops must be theirs */
    CHECK_MSG(r[1].final_loss == r[0].final_loss && helper_same_file(outs[0], outs[1]),
              "only the caption's first line counts, and the crops do not depend on the shards' names");
    CHECK_MSG(r[2].final_loss != r[0].final_loss && !helper_same_file(outs[0], outs[2]),
              "other captions, another student");
    CHECK_MSG(r[3].final_loss == 0, "without captions nothing is left of the loss (%g)", r[3].final_loss);
    char *db = helper_path(g_dir, "text.db");
    CHECK_MSG(helper_sql_int(db, "SELECT ifnull(sum(count), 0) FROM events WHERE kind = 'skip' AND "
                                 "reason = 'sample skipped: corrupt'") >= 1,
              "the corrupt sample is a skip event");
    free(db);
    test_crops_over_http(&r[0], outs[0]);
}

/* A run on "first" over HTTP whose shard 2 the server breaks with fault f, max_lost as given, its
 * store lost.db under run `run`; sizes.json is served (4 samples per shard) after a 503 answer.
 * Returns bcos_distill_run's status, the error in err. */
/* The port of run_losing's server: the same for every run, so that a run's job (its URLs) stays the same. */
static int g_losing_port;

static int run_losing(const hs_fault *f, int64_t max_lost, const char *run, char *err, size_t errlen) {
    hs_server *server = hs_start(g_dir, g_losing_port, 9);
    g_losing_port = hs_port(server);
    hs_add_fault(server, f);
    hs_add_fault(server, &(hs_fault){.kind = HS_STATUS, .path = "/sizes.json", .times = 1, .status = 503});
    bcos_distill_config cfg;
    shards_config(&cfg, "first");
    snprintf(cfg.shards, sizeof cfg.shards, "http://127.0.0.1:%d/first-{0..%d}.tar", hs_port(server), N_SHARDS - 1);
    snprintf(cfg.out, sizeof cfg.out, "%s/lost.safetensors", g_dir);
    snprintf(cfg.run, sizeof cfg.run, "%s", run);
    snprintf(cfg.db, sizeof cfg.db, "%s/lost.db", g_dir);
    cfg.steps = 4; /* one epoch: every shard is read once in its first pass */
    cfg.retries = 1;
    cfg.backoff_ms = 5;
    cfg.max_lost = max_lost;
    bcos_distill_report report;
    int rc = bcos_distill_run(&cfg, NULL, &report, err, errlen);
    hs_stop(server);
    return rc;
}

/* Lost shards are counted by their known samples and named; more than max_lost fails the run. */
static void test_lost_shards(void) {
    char *sizes = helper_path(g_dir, "sizes.json"), *db = helper_path(g_dir, "lost.db");
    const char *json = "{\"first-0.tar\": 4, \"first-1.tar\": 4, \"first-2.tar\": 4, \"first-3.tar\": 4}";
    CHECK(tb_write_file(sizes, json, strlen(json)) == 0);
    char err[BCOS_ERRLEN] = "";
    /* gone for good: 503 on every answer, all 4 samples lost */
    hs_fault gone = {.kind = HS_STATUS, .path = "/first-2.tar", .status = 503};
    int rc = run_losing(&gone, 0, "gone", err, sizeof err);
    CHECK_MSG(rc != 0 && strstr(err, "4 samples were lost") && strstr(err, "max_lost 0"), "rc %d: %s", rc, err);
    CHECK(helper_sql_int(db, "SELECT count(*) FROM runs WHERE name = 'gone' AND status = 'failed'") == 1);
    CHECK_MSG(helper_sql_int(db, "SELECT sum(count) FROM events JOIN runs ON runs.id = events.run_id WHERE name = "
                                 "'gone' AND reason = 'shard lost: samples' AND detail LIKE '%/first-2.tar: 4 of its 4 "
                                 "known samples%'") == 4,
              "the lost shard is a fault event with its 4 samples, naming it");
    CHECK_MSG(helper_sql_int(db, "SELECT sum(count) FROM events JOIN runs ON runs.id = events.run_id WHERE name = "
                                 "'gone' AND reason = 'sizes.json or shard count transfer retried'") == 1,
              "sizes.json's retry is an event");
    CHECK_MSG(helper_sql_int(db, "SELECT sum(count) FROM events JOIN runs ON runs.id = events.run_id WHERE name = "
                                 "'gone' AND reason = 'shard transfer retried'") >= 1,
              "the lost shard's retry is an event");
    /* the same loss within max_lost: the run succeeds, the loss is still recorded */
    rc = run_losing(&gone, 4, "tolerated", err, sizeof err);
    CHECK_MSG(rc == 0, "4 samples lost with max_lost 4: %s", err);
    CHECK(helper_sql_int(db, "SELECT count(*) FROM runs WHERE name = 'tolerated' AND status = 'done'") == 1);
    CHECK(helper_sql_int(db, "SELECT sum(count) FROM events JOIN runs ON runs.id = events.run_id WHERE name = "
                             "'tolerated' AND reason = 'shard lost: samples'") == 4);
    /* max_lost holds for the whole run: run again (it resumes at its last checkpoint, after the loss)
     * with a smaller allowance, the 4 samples its first process lost still count */
    rc = run_losing(&gone, 3, "tolerated", err, sizeof err);
    CHECK_MSG(rc != 0 && strstr(err, "4 samples were lost") && strstr(err, "max_lost 3"),
              "the resumed run counts the samples lost before it: rc %d: %s", rc, err);
    /* cut before its third sample: the 2 samples after the cut are lost, not 1 */
    char *path = helper_path(g_dir, "first-2.tar");
    size_t size;
    uint8_t *tar = (uint8_t *)helper_read(path, &size);
    hs_fault cut = {.kind = HS_TRUNCATE, .path = "/first-2.tar", .offset = tb_header_offset(tar, size, "s10.jpg")};
    free(tar), free(path);
    rc = run_losing(&cut, 0, "cut", err, sizeof err);
    CHECK_MSG(rc != 0 && strstr(err, "2 samples were lost"), "rc %d: %s", rc, err);
    CHECK(helper_sql_int(db, "SELECT sum(count) FROM events JOIN runs ON runs.id = events.run_id WHERE name = 'cut' AND "
                             "reason = 'shard lost: samples' AND detail LIKE '%first-2.tar: 2 of its 4%'") == 2);
    unlink(sizes);
    free(sizes), free(db);
}

/* ---- the binary over HTTP, killed and resumed ---- */

typedef struct {
    char *dir, *db, *out;
} chain;

static chain chain_new(const char *name) {
    chain c = {helper_path(g_dir, name), NULL, NULL};
    BCOS_CHECK(mkdir(c.dir, 0755) == 0, "cannot create a chain's folder");
    c.db = helper_path(c.dir, "bcos.db");
    c.out = helper_path(c.dir, "student.safetensors");
    return c;
}

static void chain_free(chain *c) { free(c->dir), free(c->db), free(c->out); }

/* The job on the shards at url, on the chain's store; crash_at: a crash point to arm, or NULL. The
 * environment is set before fork: the test server's threads run in this process. */
static pid_t start(const chain *c, const char *url, const char *crash_at) {
    const char *argv[] = {g_bin, "distill", "jobs/distill-tiny.json", "--images", "", "--shards", url,
                          "--batch-size", "4", "--steps", "20", "--warmup-steps", "2", "--w-txt", "0.5",
                          "--workers", "2", "--checkpoint-every", "2", "--checkpoint-minutes", "0", "--keep-last", "2",
                          "--log-every", "4", "--backoff-ms", "10", "--run", RUN, "--db", c->db, "--out", c->out, NULL};
    return helper_spawn(argv, crash_at, g_log);
}


static void test_http_resume(void) {
    hs_server *server = hs_start(g_dir, 0, 11);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/first-{0..%d}.tar", hs_port(server), N_SHARDS - 1);
    chain ref = chain_new("reference");
    double t0 = bcos_now_seconds();
    int status = helper_wait(start(&ref, url, NULL));
    double seconds = bcos_now_seconds() - t0;
    CHECK_MSG(helper_exited_with(status, 0), "the uninterrupted run failed (status %d)", status);
    if (!helper_exited_with(status, 0)) helper_print_log(g_log);
    char *ref_optimizer = helper_final_file(ref.db, RUN, "optimizer"), *ref_metrics = helper_metrics_dump(ref.db);
    CHECK(ref_optimizer != NULL && helper_sql_int(ref.db, "SELECT count(*) FROM metrics") == 20);
    CHECK_MSG(helper_sql_int(ref.db, "SELECT count(*) FROM events WHERE reason = 'sample skipped: corrupt'") >= 1,
              "the corrupt sample is a skip event");
    char *cursor = helper_sql_text(ref.db, "SELECT data_cursors FROM checkpoints WHERE step = 20");
    CHECK_MSG(strstr(cursor, "\"cursor\":\"bcos-cursor ") != NULL, "the checkpoint holds the loader's cursor: %s",
              cursor);
    free(cursor);

    chain c = chain_new("killed");
    status = helper_wait(start(&c, url, "checkpoint_committed"));
    CHECK_MSG(helper_killed(status) && helper_sql_int(c.db, "SELECT max(step) FROM checkpoints WHERE state = 'complete'") == 2,
              "killed right after the first checkpoint (status %d): the next run resumes from its cursor", status);
    bcos_rng rng;
    bcos_rng_seed(&rng, 20261127);
    int kills = 0, attempts = 0, done = 0;
    while (!done && attempts++ < MAX_ATTEMPTS) {
        pid_t pid = start(&c, url, NULL);
        if (kills < RANDOM_KILLS) {
            helper_sleep_seconds(0.6 * seconds * bcos_rng_uniform(&rng));
            kill(pid, SIGKILL);
        }
        status = helper_wait(pid);
        if (helper_killed(status)) {
            kills++;
        } else {
            CHECK_MSG(helper_exited_with(status, 0), "a resumed run failed (status %d)", status);
            if (!helper_exited_with(status, 0)) helper_print_log(g_log);
            done = 1;
        }
    }
    CHECK_MSG(done, "no completion in %d attempts", MAX_ATTEMPTS);
    char *optimizer = helper_final_file(c.db, RUN, "optimizer"), *metrics = helper_metrics_dump(c.db);
    CHECK_MSG(helper_same_file(c.out, ref.out), "the resumed student differs from the uninterrupted run's");
    CHECK_MSG(helper_same_file(optimizer, ref_optimizer), "the final optimizer state differs");
    CHECK_MSG(strcmp(metrics, ref_metrics) == 0, "the metrics differ:\n%s\nthe uninterrupted run's:\n%s", metrics,
              ref_metrics);
    CHECK(hs_requests(server) > 0);
    printf("uninterrupted run %.2f s, %d random kills, %ld requests\n", seconds, kills, hs_requests(server));
    free(optimizer), free(metrics), free(ref_optimizer), free(ref_metrics);
    chain_free(&c), chain_free(&ref);
    hs_stop(server);
}

int main(void) {
    g_bin = getenv("BCOS_BIN");
    CHECK_MSG(g_bin != NULL, "BCOS_BIN is not set: run this test through ctest");
    if (!g_bin) return test_summary("distill_shards");
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    g_dir = helper_temp_dir();
    g_log = helper_path(g_dir, "log");
    test_text_term();
    test_lost_shards();
    test_http_resume();
    helper_remove_tree(g_dir);
    free(g_log), free(g_dir);
    return test_summary("distill_shards");
}
