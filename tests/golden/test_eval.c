/* `bcos eval` against CLIP_benchmark (tools/ref/make_eval_fixtures.py): the tiny random CLIP on the
 * tiny8 dataset (8 classes, one without samples; 2 shards of 13 and 7 samples of varied sizes and
 * modes) gives CLIP_benchmark's acc1, acc5 and mean per-class recall and, sample by sample, its top-5
 * classes; from a folder, a file:// root and the test HTTP server. A shard that answers 404 makes its
 * dataset fail (no metrics for it) while the other is still evaluated, and the exit status is 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bcos/check.h"
#include "support/http_server.h"
#include "support/temp_tree.h"
#include "test.h"

#define FIXTURES "tests/fixtures/eval"
#define WEIGHTS "tests/fixtures/clip/tiny_openclip.safetensors"

typedef struct {
    double acc1, acc5, recall;
    long samples;
} metrics;

static char tmp[64];

/* Runs `bcos eval` on datasets under root with --predictions into tmp/pred.csv; its stdout in
 * tmp/out.txt. Returns the exit status. */
static int run_eval(const char *root, const char *datasets) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "'%s' eval --weights %s --model bcos-tiny --datasets %s --dataset-root '%s' --batch-size 3 "
             "--predictions %s/pred.csv > %s/out.txt 2> %s/err.txt",
             getenv("BCOS_BIN"), WEIGHTS, datasets, root, tmp, tmp, tmp);
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
    char *expected = bcos_read_file(FIXTURES "/tiny8_expected.json", NULL);
    CHECK(expected != NULL);
    metrics m;
    CHECK_MSG(read_metrics(dataset, &m), "no metrics line for %s", dataset);
    CHECK(m.samples == (long)json_number(expected, "samples"));
    CHECK_MSG(fabs(m.acc1 - json_number(expected, "acc1")) < 1e-6, "acc1 %g", m.acc1);
    CHECK_MSG(fabs(m.acc5 - json_number(expected, "acc5")) < 1e-6, "acc5 %g", m.acc5);
    CHECK_MSG(fabs(m.recall - json_number(expected, "mean_per_class_recall")) < 1e-6, "recall %g", m.recall);
    free(expected);
}

/* Every prediction line of `dataset` ("dataset,key,label,top1..top5") equals CLIP_benchmark's
 * ("key,label,top1..top5"), in the same order. */
static void check_predictions(const char *dataset) {
    char path[128], ours[256], theirs[256];
    snprintf(path, sizeof path, "%s/pred.csv", tmp);
    FILE *a = xfopen(path, "r"), *b = xfopen(FIXTURES "/tiny8_predictions.csv", "r");
    CHECK(fgets(ours, sizeof ours, a) && fgets(theirs, sizeof theirs, b)); /* headers */
    int lines = 0;
    size_t prefix = strlen(dataset) + 1;
    while (fgets(theirs, sizeof theirs, b)) {
        do CHECK_MSG(fgets(ours, sizeof ours, a), "predictions end before %s", theirs);
        while (strncmp(ours, dataset, prefix - 1) != 0 || ours[prefix - 1] != ',');
        CHECK_MSG(strcmp(ours + prefix, theirs) == 0, "ours %s, CLIP_benchmark's %s", ours + prefix, theirs);
        lines++;
    }
    CHECK(lines == 20);
    xfclose(a);
    xfclose(b);
}

static void test_folder_and_file_url(void) {
    CHECK(run_eval(FIXTURES "/{dataset}", "tiny8") == 0);
    check_metrics("tiny8");
    check_predictions("tiny8");
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
    char path[128];
    snprintf(path, sizeof path, "%s/err.txt", tmp);
    char *err = bcos_read_file(path, NULL);
    CHECK_MSG(err && strstr(err, "dataset gone failed") && strstr(err, "/gone/test/1.tar"), "stderr: %s", err);
    free(err);
    hs_stop(s);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/bcos_eval_XXXXXX");
    CHECK(mkdtemp(tmp) != NULL);
    test_folder_and_file_url();
    test_http();
    test_shard_404_fails_its_dataset_only();
    tt_remove_tree(tmp);
    return test_summary("test_eval");
}
