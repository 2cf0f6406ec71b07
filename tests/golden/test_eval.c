/* `bcos eval` against CLIP_benchmark (tools/ref/make_eval_fixtures.py): the tiny random CLIP on the
 * tiny8 dataset (8 classes, one without samples; 2 shards of 13 and 7 samples of varied sizes and
 * modes) gives CLIP_benchmark's acc1, acc5 and mean per-class recall and, sample by sample, its top-5
 * classes; from a folder, a file:// root and the test HTTP server. A shard that answers 404 makes its
 * dataset fail (no metrics for it) while the other is still evaluated, and the exit status is 1.
 * Retrieval recalls equal CLIP_benchmark's zeroshot_retrieval on a captioned set. Odd images (palette,
 * LA, RGBA and 16-bit PNG, greyscale and CMYK JPEG, WebP with alpha) become CLIP_benchmark's pixels.
 * The metrics land in the store as rows of an eval run, which `bcos results` shows; a failed dataset
 * has no rows and a failure event, and its run ends failed. */
#include "store_helpers.h" /* first: it asks for POSIX (nftw) */

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/eval/eval_internal.h"
#include "bcos/check.h"
#include "bcos/clip.h"
#include "bcos/eval.h"
#include "bcos/eval_run.h"
#include "bcos/image.h"
#include "bcos/loader.h"
#include "bcos/safetensors.h"
#include "bcos/tokenizer.h"
#include "support/http_server.h"
#include "fixture_bin.h"
#include "support/temp_tree.h"
#include "test.h"

#define FIXTURES "tests/fixtures/eval"
#define WEIGHTS "tests/fixtures/clip/tiny_openclip.safetensors"

typedef struct {
    double acc1, acc5, recall;
    long samples;
} metrics;

static char tmp[64];

static const char *g_weights = WEIGHTS, *g_batch = "3", *g_extra = "";
/* The dataset whose CLIP_benchmark results (FIXTURES/<name>_expected.json, _predictions.csv) the
 * checks compare with. */
static const char *g_golden = "tiny8";

/* The text of FIXTURES/<g_golden><suffix> (heap). */
static char *golden_file(const char *suffix) {
    char path[128];
    snprintf(path, sizeof path, FIXTURES "/%s%s", g_golden, suffix);
    char *text = bcos_read_file(path, NULL);
    CHECK_MSG(text != NULL, "no %s", path);
    return text;
}

/* Runs `bcos eval` on datasets under root with --predictions into tmp/pred.csv; its stdout in
 * tmp/out.txt. Returns the exit status. */
static int run_eval(const char *root, const char *datasets) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s' eval --weights %s --model bcos-tiny --datasets %s --dataset-root '%s' --batch-size %s "
             "--predictions %s/pred.csv --db %s/store.db %s > %s/out.txt 2> %s/err.txt",
             getenv("BCOS_BIN"), g_weights, datasets, root, g_batch, tmp, tmp, g_extra, tmp, tmp);
    int status = system(cmd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The metrics line of `dataset` in tmp/out.txt: 1 when found. */
static int read_metrics(const char *dataset, metrics *m) {
    char path[128], line[512], name[64];
    snprintf(path, sizeof path, "%s/out.txt", tmp);
    FILE *f = xfopen(path, "r");
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = sscanf(line, "%63s test acc1 %lf acc5 %lf mean_per_class_recall %lf samples %ld", name, &m->acc1,
                       &m->acc5, &m->recall, &m->samples) == 5 &&
                strcmp(name, dataset) == 0;
    xfclose(f);
    return found;
}

static double json_number(const char *text, const char *key) {
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\":", key);
    const char *at = strstr(text, quoted);
    return at ? atof(at + strlen(quoted)) : -1;
}

/* Our metrics equal CLIP_benchmark's: they are ratios of counts over 20 samples, so any count that
 * differs moves them by far more than the 1e-6 the printed digits allow. */
static void check_metrics(const char *dataset) {
    char *expected = golden_file("_expected.json");
    metrics m;
    CHECK_MSG(read_metrics(dataset, &m), "no metrics line for %s", dataset);
    CHECK(m.samples == (long)json_number(expected, "samples"));
    CHECK_MSG(fabs(m.acc1 - json_number(expected, "acc1")) < 1e-6, "acc1 %g", m.acc1);
    CHECK_MSG(fabs(m.acc5 - json_number(expected, "acc5")) < 1e-6, "acc5 %g", m.acc5);
    CHECK_MSG(fabs(m.recall - json_number(expected, "mean_per_class_recall")) < 1e-6, "recall %g", m.recall);
    free(expected);
}

/* The top-k columns of a prediction line "key,label,top1..top5" with classes 0 and 1 swapped, in place. */
static void swap_top_classes_0_1(char *line) {
    char *at = strchr(strchr(line, ',') + 1, ',');
    for (; at; at = strchr(at + 1, ','))
        if ((at[1] == '0' || at[1] == '1') && (at[2] == ',' || at[2] == '\n')) at[1] = at[1] == '0' ? '1' : '0';
}

static int g_swapped; /* the classifier's rows 0 and 1 are swapped: so are those predictions */

/* Every prediction line of `dataset` ("dataset,key,label,top1..top5") equals CLIP_benchmark's
 * ("key,label,top1..top5"), in the same order. */
static void check_predictions(const char *dataset) {
    char path[128], ours[256], theirs[256];
    snprintf(path, sizeof path, "%s/pred.csv", tmp);
    FILE *a = xfopen(path, "r");
    snprintf(path, sizeof path, FIXTURES "/%s_predictions.csv", g_golden);
    FILE *b = xfopen(path, "r");
    CHECK(fgets(ours, sizeof ours, a) && fgets(theirs, sizeof theirs, b)); /* headers */
    int lines = 0;
    size_t prefix = strlen(dataset) + 1;
    while (fgets(theirs, sizeof theirs, b)) {
        if (g_swapped) swap_top_classes_0_1(theirs);
        do CHECK_MSG(fgets(ours, sizeof ours, a), "predictions end before %s", theirs);
        while (strncmp(ours, dataset, prefix - 1) != 0 || ours[prefix - 1] != ',');
        CHECK_MSG(strcmp(ours + prefix, theirs) == 0, "ours %s, CLIP_benchmark's %s", ours + prefix, theirs);
        lines++;
    }
    char *expected = golden_file("_expected.json");
    CHECK(lines == (int)json_number(expected, "samples"));
    free(expected);
    xfclose(a);
    xfclose(b);
}

/* The store's rows of dataset in the eval run named after the weights file: its three metrics with
 * CLIP_benchmark's values and the sample count, as the teacher (a CLIP) without a checkpoint. */
static void check_stored(const char *dataset) {
    char db[128], sql[512];
    snprintf(db, sizeof db, "%s/store.db", tmp);
    char *expected = bcos_read_file(FIXTURES "/tiny8_expected.json", NULL);
    const char *metric_names[] = {"acc1", "acc5", "mean_per_class_recall"};
    for (int i = 0; i < 3; i++) {
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM eval_results e JOIN runs r ON r.id = e.run_id WHERE r.name = 'tiny_openclip'"
                 " AND r.kind = 'eval' AND e.dataset = '%s' AND e.split = 'test' AND e.model = 'teacher'"
                 " AND e.checkpoint_id IS NULL AND e.metric = '%s' AND abs(e.value - %.17g) < 1e-12"
                 " AND e.samples = 20",
                 dataset, metric_names[i], json_number(expected, metric_names[i]));
        CHECK_MSG(helper_sql_int(db, sql) == 1, "%s %s not stored as CLIP_benchmark's", dataset, metric_names[i]);
    }
    free(expected);
}

/* `bcos results` on the store prints the dataset's rows. */
static void check_results_command(const char *dataset) {
    char cmd[512], path[128];
    snprintf(cmd, sizeof cmd, "'%s' results --db %s/store.db --run tiny_openclip --format csv > %s/results.txt",
             getenv("BCOS_BIN"), tmp, tmp);
    CHECK(system(cmd) == 0);
    snprintf(path, sizeof path, "%s/results.txt", tmp);
    char *text = bcos_read_file(path, NULL);
    CHECK_MSG(text && strstr(text, dataset) && strstr(text, "mean_per_class_recall"), "bcos results: %s", text);
    free(text);
}

static void test_folder_and_file_url(void) {
    CHECK(run_eval(FIXTURES "/{dataset}", "tiny8") == 0);
    check_metrics("tiny8");
    check_predictions("tiny8");
    check_stored("tiny8");
    check_results_command("tiny8");
    char path[128];
    snprintf(path, sizeof path, "%s/out.txt", tmp);
    char *out = bcos_read_file(path, NULL);
    CHECK_MSG(out && strstr(out, "student-teacher") && strstr(out, "tiny_openclip     -  tiny8    test   acc5"),
              "the results table at the end: %s", out);
    free(out);
    char root[4096];
    CHECK(getcwd(root, sizeof root - 64));
    char url[4200];
    snprintf(url, sizeof url, "file://%s/" FIXTURES "/{dataset}", root);
    CHECK(run_eval(url, "tiny8") == 0);
    check_metrics("tiny8");
}

static void test_http(void) {
    hs_server *s = hs_start(FIXTURES, 0, 1);
    char root[128];
    snprintf(root, sizeof root, "http://127.0.0.1:%d/{dataset}", hs_port(s));
    CHECK(run_eval(root, "tiny8") == 0);
    check_metrics("tiny8");
    check_predictions("tiny8");
    hs_stop(s);
}

/* Two names for the dataset (links in a served folder); the second's shard 1 answers 404. */
static void test_shard_404_fails_its_dataset_only(void) {
    char served[128], target[4096], link[160];
    snprintf(served, sizeof served, "%s/served", tmp);
    CHECK(mkdir(served, 0700) == 0);
    CHECK(getcwd(target, sizeof target - 64));
    strcat(target, "/" FIXTURES "/tiny8");
    snprintf(link, sizeof link, "%s/good", served);
    CHECK(symlink(target, link) == 0);
    snprintf(link, sizeof link, "%s/gone", served);
    CHECK(symlink(target, link) == 0);
    hs_server *s = hs_start(served, 0, 1);
    hs_add_fault(s, &(hs_fault){.kind = HS_STATUS, .path = "/gone/test/1.tar", .status = 404});
    char root[128];
    snprintf(root, sizeof root, "http://127.0.0.1:%d/{dataset}", hs_port(s));
    CHECK(run_eval(root, "gone,good") == 1);
    metrics m;
    CHECK(!read_metrics("gone", &m));
    check_metrics("good");
    check_stored("good");
    char db[128];
    snprintf(db, sizeof db, "%s/store.db", tmp);
    CHECK(helper_sql_int(db, "SELECT count(*) FROM eval_results WHERE dataset = 'gone'") == 0);
    CHECK(helper_sql_int(db, "SELECT count(*) FROM events e JOIN runs r ON r.id = e.run_id WHERE r.name ="
                             " 'tiny_openclip' AND e.kind = 'failure' AND e.reason = 'dataset gone failed'"
                             " AND e.detail LIKE '%/gone/test/1.tar%'") == 1);
    CHECK(helper_sql_int(db, "SELECT count(*) FROM runs WHERE name = 'tiny_openclip' AND status = 'failed'") == 1);
    char path[128];
    snprintf(path, sizeof path, "%s/err.txt", tmp);
    char *err = bcos_read_file(path, NULL);
    CHECK_MSG(err && strstr(err, "dataset gone failed") && strstr(err, "/gone/test/1.tar"), "stderr: %s", err);
    free(err);
    hs_stop(s);
}

/* A B-cos student (bcosify's, of the tiny CLIP): its rows are stored as the student's, without a
 * checkpoint, in its eval run; its predictions do not depend on the batch size (20 samples in
 * batches of 3 or 7 end with a short batch, which gets activations of its own size). */
static void test_student(void) {
    char cmd[1024], student[128], first[128], second[128];
    snprintf(student, sizeof student, "%s/student.safetensors", tmp);
    snprintf(cmd, sizeof cmd, "'%s' bcosify --teacher %s --teacher-model bcos-tiny --out %s > /dev/null",
             getenv("BCOS_BIN"), WEIGHTS, student);
    CHECK(system(cmd) == 0);
    g_weights = student;
    CHECK(run_eval(FIXTURES "/{dataset}", "tiny8") == 0);
    snprintf(first, sizeof first, "%s/pred.csv", tmp);
    snprintf(second, sizeof second, "%s/pred_batch3.csv", tmp);
    CHECK(rename(first, second) == 0);
    g_batch = "7";
    CHECK(run_eval(FIXTURES "/{dataset}", "tiny8") == 0);
    char *a = bcos_read_file(first, NULL), *b = bcos_read_file(second, NULL);
    CHECK(a && b && strcmp(a, b) == 0 && strlen(a) > 100);
    free(a);
    free(b);
    char db[128];
    snprintf(db, sizeof db, "%s/store.db", tmp);
    CHECK(helper_sql_int(db, "SELECT count(*) FROM eval_results e JOIN runs r ON r.id = e.run_id WHERE r.name ="
                             " 'student' AND r.kind = 'eval' AND e.model = 'student' AND e.checkpoint_id IS NULL"
                             " AND e.samples = 20") == 3);
    g_weights = WEIGHTS;
    g_batch = "3";
}

/* --output-dir writes the dataset's CLIP_benchmark result object with CLIP_benchmark's metrics;
 * --skip-existing then leaves the dataset alone: no metrics line, the file and rows unchanged. */
static void test_output_dir_and_skip_existing(void) {
    char extra[256], path[256];
    snprintf(extra, sizeof extra, "--name again --output-dir %s/results --skip-existing", tmp);
    g_extra = extra;
    CHECK(run_eval(FIXTURES "/{dataset}", "tiny8") == 0);
    metrics m;
    CHECK(read_metrics("tiny8", &m));
    snprintf(path, sizeof path, "%s/results/tiny8_again_teacher_en_zeroshot_classification.json", tmp);
    char *written = bcos_read_file(path, NULL), *expected = bcos_read_file(FIXTURES "/tiny8_expected.json", NULL);
    CHECK_MSG(written != NULL, "no %s", path);
    const char *names[] = {"acc1", "acc5", "mean_per_class_recall"};
    for (int i = 0; written && i < 3; i++)
        CHECK_MSG(fabs(json_number(written, names[i]) - json_number(expected, names[i])) < 1e-12, "%s in %s",
                  names[i], written);
    CHECK(written && strstr(written, "\"pretrained\":\t\"again\"") && strstr(written, "\"task\":\t\"zeroshot_classification\""));
    CHECK(run_eval(FIXTURES "/{dataset}", "tiny8") == 0);
    CHECK(!read_metrics("tiny8", &m));
    char *again = bcos_read_file(path, NULL);
    CHECK(again && written && strcmp(again, written) == 0);
    char db[128];
    snprintf(db, sizeof db, "%s/store.db", tmp);
    CHECK(helper_sql_int(db, "SELECT count(*) FROM eval_results e JOIN runs r ON r.id = e.run_id WHERE r.name ="
                             " 'again'") == 3);
    free(again);
    free(written);
    free(expected);
    g_extra = "";
}

/* A job file {"kind": "eval", ...} gives the options (either spelling of a key), a flag wins over
 * it; a key that is no option fails in one line naming it. */
static void test_job_file(void) {
    char job[128], cmd[1024], path[128];
    snprintf(job, sizeof job, "%s/job.json", tmp);
    FILE *f = xfopen(job, "w");
    fprintf(f, "{\"kind\": \"eval\", \"weights\": \"%s\", \"model\": \"bcos-tiny\", \"datasets\": \"tiny8\","
               " \"dataset_root\": \"" FIXTURES "/{dataset}\", \"batch-size\": 4, \"name\": \"from-job\","
               " \"split\": \"train\"}\n", WEIGHTS);
    xfclose(f);
    snprintf(cmd, sizeof cmd, "'%s' eval %s --split test --db %s/store.db > %s/out.txt 2> %s/err.txt",
             getenv("BCOS_BIN"), job, tmp, tmp, tmp);
    CHECK(system(cmd) == 0);
    check_metrics("tiny8");
    snprintf(path, sizeof path, "%s/store.db", tmp);
    CHECK(helper_sql_int(path, "SELECT count(*) FROM eval_results e JOIN runs r ON r.id = e.run_id WHERE r.name ="
                               " 'from-job' AND e.split = 'test'") == 3);
    f = xfopen(job, "w");
    fputs("{\"kind\": \"eval\", \"datasets\": \"tiny8\", \"bogus\": 1}\n", f);
    xfclose(f);
    CHECK(system(cmd) != 0);
    snprintf(path, sizeof path, "%s/err.txt", tmp);
    char *err = bcos_read_file(path, NULL);
    CHECK_MSG(err && strstr(err, "$.bogus: expected an option of eval jobs (bcos jobs schema), found the unknown key 'bogus'") && strstr(err, "job.json") && !strchr(strchr(err, '\n') + 1, '\n'),
              "stderr: %s", err);
    free(err);
}

/* A sample with two images takes CLIP_benchmark's member (webp, png, jpg, jpeg) in evaluation, the
 * loader's (jpg, jpeg, png, webp) otherwise: the crop equals that of a sample holding that image alone. */
static void test_image_member_order(void) {
    size_t jpg_len, png_len;
    uint8_t *jpg = (uint8_t *)bcos_read_file("tests/fixtures/image/cmyk_240x160.jpg", &jpg_len);
    uint8_t *png = (uint8_t *)bcos_read_file("tests/fixtures/image/grey16_64x48.png", &png_len);
    CHECK(jpg && png);
    bcos_sample both = {.key = "k", .shard = "mem", .n_members = 2}, jpg_only = both, png_only = both;
    both.members[0] = (bcos_sample_member){"jpg", jpg, jpg_len};
    both.members[1] = (bcos_sample_member){"png", png, png_len};
    jpg_only.n_members = png_only.n_members = 1;
    jpg_only.members[0] = both.members[0];
    png_only.members[0] = both.members[1];
    uint8_t out[4][32 * 32 * 3];
    char msg[256];
    int label;
    for (int order = 0; order < 2; order++) {
        bcos_image_sample_config cfg = {.size = 32, .kind = BCOS_INPUT_CROP_U8, .benchmark_order = order};
        CHECK(bcos_image_sample(&cfg, &both, out[2 * order], &label, msg, sizeof msg) == BCOS_SAMPLE_OK);
        CHECK(bcos_image_sample(&cfg, order ? &png_only : &jpg_only, out[2 * order + 1], &label, msg, sizeof msg) ==
              BCOS_SAMPLE_OK);
        CHECK(memcmp(out[2 * order], out[2 * order + 1], sizeof out[0]) == 0);
    }
    CHECK(memcmp(out[0], out[2], sizeof out[0]) != 0);
    free(jpg);
    free(png);
}

/* A Hugging Face tree URL becomes CLIP_benchmark's raw (metadata) and resolve (tars) URLs; other
 * roots serve both. */
static void test_hugging_face_roots(void) {
    const char *cases[][3] = {
        {"https://huggingface.co/datasets/djghosh/wds_cars_test/tree/main",
         "https://huggingface.co/datasets/djghosh/wds_cars_test/raw/main",
         "https://huggingface.co/datasets/djghosh/wds_cars_test/resolve/main"},
        {"https://huggingface.co/datasets/u/r/tree/main/sub/dir", "https://huggingface.co/datasets/u/r/raw/main/sub/dir",
         "https://huggingface.co/datasets/u/r/resolve/main/sub/dir"},
        {"https://huggingface.co/datasets/u/r", "https://huggingface.co/datasets/u/r",
         "https://huggingface.co/datasets/u/r"},
        {"http://127.0.0.1:8000/a/b/c/d/e/f", "http://127.0.0.1:8000/a/b/c/d/e/f", "http://127.0.0.1:8000/a/b/c/d/e/f"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *meta, *tars;
        bcos_eval_split_root(cases[i][0], &meta, &tars);
        CHECK_MSG(strcmp(meta, cases[i][1]) == 0 && strcmp(tars, cases[i][2]) == 0, "%s: %s, %s", cases[i][0], meta,
                  tars);
        free(meta);
        free(tars);
    }
}

/* --classifier-cache keeps the classifier in one file that the next evaluation reads: with its rows
 * 0 and 1 swapped there, the predictions of classes 0 and 1 swap; a damaged file is built again. */
static void test_classifier_cache(void) {
    char extra[256], cache[128], path[512], err[BCOS_ERRLEN];
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    snprintf(extra, sizeof extra, "--name cached --classifier-cache %s", cache);
    g_extra = extra;
    CHECK(run_eval(FIXTURES "/{dataset}", "tiny8") == 0);
    check_predictions("tiny8");
    DIR *dir = opendir(cache);
    CHECK(dir != NULL);
    int files = 0;
    for (struct dirent *e; dir && (e = readdir(dir));)
        if (strstr(e->d_name, ".safetensors")) snprintf(path, sizeof path, "%s/%s", cache, e->d_name), files++;
    if (dir) closedir(dir);
    CHECK(files == 1);
    bcos_safetensors st;
    CHECK(bcos_st_open(&st, path, err, sizeof err) == 0);
    const bcos_st_tensor *t = bcos_st_find(&st, "classifier");
    CHECK(t && t->ndim == 2 && t->shape[0] == 8 && t->shape[1] == 32);
    float c[8 * 32], row[32];
    CHECK(bcos_st_to_f32(t, c, err, sizeof err) == 0);
    bcos_st_close(&st);
    memcpy(row, c, sizeof row);
    memcpy(c, c + 32, sizeof row);
    memcpy(c + 32, row, sizeof row);
    int64_t shape[2] = {8, 32};
    bcos_st_entry e = {"classifier", BCOS_F32, 2, shape, c};
    CHECK(bcos_st_write(path, &e, 1, NULL, 0, err, sizeof err) == 0);
    CHECK(run_eval(FIXTURES "/{dataset}", "tiny8") == 0);
    g_swapped = 1;
    check_predictions("tiny8");
    g_swapped = 0;
    CHECK(truncate(path, 100) == 0);
    CHECK(run_eval(FIXTURES "/{dataset}", "tiny8") == 0);
    check_predictions("tiny8");
    check_metrics("tiny8");
    g_extra = "";
}

/* Retrieval: the tiny CLIP on tinycap (12 images with 1 to 3 captions each, 2 shards) gives
 * CLIP_benchmark's zeroshot_retrieval recalls @1, @5 and @10 (float32 means there: a count that
 * differs moves a recall by 1/26 at least), printed and stored under the task zeroshot_retrieval. */
static void test_retrieval(void) {
    g_extra = "--name retrieval";
    CHECK(run_eval(FIXTURES "/{dataset}", "tinycap") == 0);
    char path[128], db[128], sql[512];
    snprintf(path, sizeof path, "%s/out.txt", tmp);
    snprintf(db, sizeof db, "%s/store.db", tmp);
    char *out = bcos_read_file(path, NULL), *expected = bcos_read_file(FIXTURES "/tinycap_expected.json", NULL);
    CHECK(out && expected && strncmp(out, "tinycap\ttest\t", 13) == 0);
    const char *names[] = {"image_retrieval_recall@1", "text_retrieval_recall@1", "image_retrieval_recall@5",
                           "text_retrieval_recall@5", "image_retrieval_recall@10", "text_retrieval_recall@10"};
    for (int i = 0; out && expected && i < 6; i++) {
        char key[64];
        snprintf(key, sizeof key, "\t%s ", names[i]);
        const char *at = strstr(out, key);
        double want = json_number(expected, names[i]);
        CHECK_MSG(at && fabs(atof(at + strlen(key)) - want) < 1e-6, "%s: %s", names[i], out);
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM eval_results e JOIN runs r ON r.id = e.run_id WHERE r.name = 'retrieval' AND"
                 " e.task = 'zeroshot_retrieval' AND e.metric = '%s' AND abs(e.value - %.17g) < 1e-6 AND e.samples = 12",
                 names[i], want);
        CHECK_MSG(helper_sql_int(db, sql) == 1, "%s not stored", names[i]);
    }
    free(out);
    free(expected);
    g_extra = "";
}

/* Odd images (palette, 1-bit, LA and RGBA PNG, greyscale, CMYK and YCCK JPEG, 16-bit PNG, WebP with
 * alpha): each sample of the tinyodd shard, through the evaluation's sample function, is the tensor
 * CLIP_benchmark's loader hands the model (webdataset's PIL decoder converts to RGB, then open_clip's
 * transform): exactly (to float rounding) for PNG and WebP, within one level of 255 for JPEG, whose
 * decoders may differ. `bcos eval` on it gives CLIP_benchmark's metrics and every sample's top-5. */
static void test_odd_images(void) {
    fixture fx = fixture_open(FIXTURES "/tinyodd_pixels", "pixels.bin", "run tools/ref/make_eval_fixtures.py");
    bcos_clip clip;
    char err[BCOS_ERRLEN], msg[256];
    CHECK(bcos_clip_load_file(&clip, WEIGHTS, "bcos-tiny", bcos_backend_get("auto"), err, sizeof err) == 0);
    bcos_image_sample_config cfg = eval_sample_config(&(bcos_eval_model){.clip = &clip}, 8);
    bcos_data_counters counters = {0};
    bcos_sample_reader *r = bcos_samples_open(FIXTURES "/tinyodd/test/0.tar", &(bcos_fetch_options){0}, &counters);
    bcos_sample s;
    float ours[3 * 32 * 32];
    int label, n = 0;
    for (; bcos_samples_next(r, &s) == 1; bcos_sample_clear(&s)) {
        CHECK_MSG(bcos_image_sample(&cfg, &s, ours, &label, msg, sizeof msg) == BCOS_SAMPLE_OK, "%s: %s", s.key, msg);
        CHECK(label == fixture_int(&fx, s.key, "label"));
        const float *theirs = fixture_tensor(&fx, s.key, "pixels", 3 * 32 * 32);
        double levels = 0; /* the largest difference, in levels of 255 */
        for (int i = 0; i < 3 * 32 * 32; i++)
            levels = fmax(levels, fabs((double)ours[i] - theirs[i]) * bcos_clip_std[i / (32 * 32)] * 255);
        int jpeg = bcos_sample_member_find(&s, "jpg") != NULL;
        CHECK_MSG(levels <= (jpeg ? 1.001 : 1e-3), "%s: %.4f levels from CLIP_benchmark's pixels", s.key, levels);
        n++;
    }
    CHECK(n == 12);
    bcos_samples_close(r);
    bcos_clip_free(&clip);
    fixture_close(&fx);

    g_golden = "tinyodd";
    CHECK(run_eval(FIXTURES "/{dataset}", "tinyodd") == 0);
    check_metrics("tinyodd");
    check_predictions("tinyodd");
    g_golden = "tiny8";
}

/* The classifier batches several classes' prompts into one text-tower call: with 100 templates a call
 * takes 2 of 5 classes (the last call 1), and each row agrees with the class built alone. */
static void test_classifier_batches_classes(void) {
    enum { K = 5, NT = 100 };
    const char *classes[K] = {"cat", "dog", "a very long class name with many words in it", "car", "tree"};
    const char *templates[NT];
    const char *forms[4] = {"a photo of a {c}.", "{c}", "a blurry picture of the {c}, taken at night.", "art: {c}"};
    for (int t = 0; t < NT; t++) templates[t] = forms[t % 4];
    bcos_clip m;
    char err[BCOS_ERRLEN];
    BCOS_CHECK(bcos_clip_load_file(&m, WEIGHTS, "bcos-tiny", bcos_backend_cpu(), err, sizeof err) == 0, err);
    bcos_tokenizer *tok = bcos_tokenizer_load_default();
    int E = m.cfg.embed_dim;
    float *all = xmalloc((size_t)K * E * sizeof(float)), *one = xmalloc((size_t)E * sizeof(float));
    CHECK(bcos_zeroshot_classifier(all, &m, tok, classes, K, templates, NT, err, sizeof err) == 0);
    for (int k = 0; k < K; k++) {
        CHECK(bcos_zeroshot_classifier(one, &m, tok, classes + k, 1, templates, NT, err, sizeof err) == 0);
        double e = test_rel_error_f32(all + (size_t)k * E, one, (size_t)E);
        CHECK_MSG(e < 1e-6, "class %d: rel error %.3g against the class alone", k, e);
    }
    free(one);
    free(all);
    bcos_tokenizer_free(tok);
    bcos_clip_free(&m);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/bcos_eval_XXXXXX");
    CHECK(mkdtemp(tmp) != NULL);
    test_folder_and_file_url();
    test_http();
    test_shard_404_fails_its_dataset_only();
    test_student();
    test_output_dir_and_skip_existing();
    test_job_file();
    test_image_member_order();
    test_hugging_face_roots();
    test_classifier_cache();
    test_classifier_batches_classes();
    test_retrieval();
    test_odd_images();
    tt_remove_tree(tmp);
    return test_summary("test_eval");
}
