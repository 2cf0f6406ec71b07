/* The store's queries on data written through the API: the runs and checkpoints listings, and
 * results in the three formats: the side-by-side table (teacher, student, difference; a teacher
 * evaluated without a checkpoint standing in at every step), the one-model table, CSV (quoting,
 * exact numbers, empty for NULL) and CLIP_benchmark-shaped JSON; every filter (run, dataset,
 * checkpoint latest/N/all, model) and re-evaluation replacing a result; the tables' line per run
 * averaging its datasets (values missing left out, the difference only where both cover them all). */
#include "store_helpers.h"

#include <cjson/cJSON.h>
#include <math.h>

static bcos_store *g_store;
static int64_t g_alpha_100, g_alpha_200;

/* Output of a print call, captured (heap). */
#define CAPTURE(out_text, call)                                                                  \
    do {                                                                                         \
        char *buf_ = NULL;                                                                       \
        size_t len_ = 0;                                                                         \
        FILE *out = open_memstream(&buf_, &len_);                                                \
        call;                                                                                    \
        fclose(out);                                                                             \
        (out_text) = buf_;                                                                       \
    } while (0)

/* Whether some line of text consists of exactly these space-separated words (or, with prefix
 * set, starts with them). */
static int line_matches(const char *text, const char *words, int prefix) {
    char *copy = xstrdup(text);
    int found = 0;
    for (char *line = strtok(copy, "\n"); line && !found; line = strtok(NULL, "\n")) {
        const char *a = line, *b = words;
        for (;;) {
            while (*a == ' ') a++;
            while (*b == ' ') b++;
            if (!*a || !*b) {
                found = !*b && (prefix || !*a);
                break;
            }
            size_t la = strcspn(a, " "), lb = strcspn(b, " ");
            if (la != lb || strncmp(a, b, la) != 0) break;
            a += la, b += lb;
        }
    }
    free(copy);
    return found;
}

static int has_line(const char *text, const char *words) { return line_matches(text, words, 0); }

static int count_lines(const char *text) {
    int n = 0;
    for (const char *c = text; *c; c++) n += *c == '\n';
    return n;
}

static void add_result(int64_t run, int64_t ckpt, bcos_model_role model, const char *dataset, const char *metric,
                       double value) {
    bcos_eval_result r = {ckpt, model, dataset, "test", NULL, metric, value, 1000};
    bcos_store_results_add(g_store, run, &r, 1);
}

static void build_data(void) {
    int64_t alpha = helper_run(g_store, "alpha"), beta = helper_run(g_store, "beta");
    helper_run(g_store, "gamma");
    CHECK(helper_commit(g_store, alpha, 100, 5, 0, &g_alpha_100) == 0);
    CHECK(helper_commit(g_store, alpha, 200, 5, 0, &g_alpha_200) == 0);
    bcos_metric m = {250, 0.5, 0.5, 1e-4, 1.0, 512.0, 0};
    bcos_store_metrics_add(g_store, alpha, &m, 1);
    /* cifar10: the teacher once for the run; the student at 100 and 200. */
    add_result(alpha, 0, BCOS_MODEL_TEACHER, "cifar10", "acc1", 0.8);
    add_result(alpha, 0, BCOS_MODEL_TEACHER, "cifar10", "acc5", 0.95);
    add_result(alpha, g_alpha_100, BCOS_MODEL_STUDENT, "cifar10", "acc1", 0.7);
    add_result(alpha, g_alpha_100, BCOS_MODEL_STUDENT, "cifar10", "acc5", 0.9);
    add_result(alpha, g_alpha_200, BCOS_MODEL_STUDENT, "cifar10", "acc1", 0.1); /* replaced below */
    add_result(alpha, g_alpha_200, BCOS_MODEL_STUDENT, "cifar10", "acc1", 0.75);
    /* mnist: teacher and student both at 200; and a dataset whose name needs CSV quoting. */
    add_result(alpha, g_alpha_200, BCOS_MODEL_TEACHER, "mnist", "acc1", 0.9);
    add_result(alpha, g_alpha_200, BCOS_MODEL_STUDENT, "mnist", "acc1", 0.85);
    add_result(alpha, g_alpha_200, BCOS_MODEL_STUDENT, "odd,\"name\"", "acc1", NAN);
    add_result(beta, 0, BCOS_MODEL_TEACHER, "cifar10", "acc1", 0.6);
}

static void test_runs_listing(void) {
    char *text;
    CAPTURE(text, bcos_store_print_runs(g_store, out));
    CHECK(strncmp(text, "run ", 4) == 0);
    CHECK(count_lines(text) == 4);
    /* name, status, world size, last step, checkpoints, latest checkpoint, version; then the time */
    CHECK_MSG(line_matches(text, "alpha running 2 250 2 200 test", 1), "%s", text);
    CHECK(line_matches(text, "beta running 2 - 0 - test", 1));
    CHECK(line_matches(text, "gamma running 2 - 0 - test", 1));
    free(text);
}

static void test_checkpoints_listing(void) {
    char *text, err[BCOS_ERRLEN];
    int rc;
    CAPTURE(text, rc = bcos_store_print_checkpoints(g_store, "alpha", out, err, sizeof err));
    CHECK(rc == 0 && count_lines(text) == 3);
    CHECK_MSG(strstr(text, "complete") && strstr(text, "run-1/step-100") && strstr(text, "run-1/step-200"), "%s", text);
    free(text);
    CAPTURE(text, rc = bcos_store_print_checkpoints(g_store, "beta", out, err, sizeof err));
    CHECK(rc == 0 && strcmp(text, "run 'beta' has no checkpoints\n") == 0);
    free(text);
    CAPTURE(text, rc = bcos_store_print_checkpoints(g_store, "nope", out, err, sizeof err));
    CHECK(rc == -1 && strlen(text) == 0);
    CHECK_MSG(helper_one_line_about(err, bcos_store_path(g_store)) && strstr(err, "no run named 'nope'"), "%s", err);
    free(text);
}

static char *results(const char *run, const char *dataset, int64_t checkpoint, int model, bcos_format format) {
    bcos_results_filter f = {run, dataset, checkpoint, model, NULL, NULL};
    char *text, err[BCOS_ERRLEN];
    int rc;
    CAPTURE(text, rc = bcos_store_print_results(g_store, &f, format, out, err, sizeof err));
    CHECK_MSG(rc == 0, "%s", err);
    return text;
}

static void test_side_by_side(void) {
    char *all = results(NULL, NULL, BCOS_RESULTS_ALL_CHECKPOINTS, -1, BCOS_FORMAT_TABLE);
    CHECK(has_line(all, "run step dataset split metric teacher student student-teacher"));
    CHECK_MSG(has_line(all, "alpha 100 cifar10 test acc1 0.8000 0.7000 -0.1000"), "%s", all);
    CHECK(has_line(all, "alpha 200 cifar10 test acc1 0.8000 0.7500 -0.0500"));
    CHECK(has_line(all, "alpha 100 cifar10 test acc5 0.9500 0.9000 -0.0500"));
    CHECK(has_line(all, "alpha 200 mnist test acc1 0.9000 0.8500 -0.0500"));
    CHECK(has_line(all, "alpha 200 odd,\"name\" test acc1 - - -"));
    CHECK(has_line(all, "beta - cifar10 test acc1 0.6000 - -"));
    /* step 200's acc1 over cifar10 (the run's teacher standing in), mnist and the NaN of odd */
    CHECK_MSG(has_line(all, "alpha 200 average test acc1 0.8500 0.8000 -"), "%s", all);
    CHECK(count_lines(all) == 8); /* one dataset per kind elsewhere: no other average */
    free(all);

    /* latest: per run and dataset, the newest checkpoint with results (200), plus the teacher. */
    char *latest = results("alpha", NULL, BCOS_CKPT_LATEST, -1, BCOS_FORMAT_TABLE);
    CHECK(has_line(latest, "alpha 200 cifar10 test acc1 0.8000 0.7500 -0.0500"));
    CHECK(has_line(latest, "alpha - cifar10 test acc5 0.9500 - -"));
    CHECK(has_line(latest, "alpha 200 mnist test acc1 0.9000 0.8500 -0.0500"));
    CHECK(!strstr(latest, " 100 "));
    CHECK(has_line(latest, "alpha 200 average test acc1 0.8500 0.8000 -"));
    CHECK(count_lines(latest) == 6);
    free(latest);

    char *at_100 = results("alpha", "cifar10", 100, -1, BCOS_FORMAT_TABLE);
    CHECK(has_line(at_100, "alpha 100 cifar10 test acc1 0.8000 0.7000 -0.1000"));
    CHECK(has_line(at_100, "alpha 100 cifar10 test acc5 0.9500 0.9000 -0.0500"));
    CHECK(count_lines(at_100) == 3);
    free(at_100);

    char *none = results("alpha", "imagenet", BCOS_RESULTS_ALL_CHECKPOINTS, -1, BCOS_FORMAT_TABLE);
    CHECK(strcmp(none, "no results\n") == 0);
    free(none);

    bcos_results_filter f = {"nope", NULL, BCOS_RESULTS_ALL_CHECKPOINTS, -1, NULL, NULL};
    char err[BCOS_ERRLEN];
    CHECK(bcos_store_print_results(g_store, &f, BCOS_FORMAT_JSON, stdout, err, sizeof err) == -1);
    CHECK(strstr(err, "no run named 'nope'") != NULL);
}

static void test_one_model(void) {
    char *students = results("alpha", "cifar10", BCOS_RESULTS_ALL_CHECKPOINTS, BCOS_MODEL_STUDENT, BCOS_FORMAT_TABLE);
    CHECK(has_line(students, "run step model dataset split metric value samples"));
    CHECK(has_line(students, "alpha 100 student cifar10 test acc1 0.7000 1000"));
    CHECK(has_line(students, "alpha 200 student cifar10 test acc1 0.7500 1000"));
    CHECK(!strstr(students, "teacher"));
    CHECK(count_lines(students) == 4);
    free(students);
    students = results("alpha", NULL, BCOS_RESULTS_ALL_CHECKPOINTS, BCOS_MODEL_STUDENT, BCOS_FORMAT_TABLE);
    CHECK_MSG(has_line(students, "alpha 200 student average test acc1 0.8000 -"), "%s", students);
    CHECK(count_lines(students) == 7);
    free(students);
}

static void test_csv(void) {
    char *csv = results("alpha", NULL, BCOS_CKPT_LATEST, -1, BCOS_FORMAT_CSV);
    CHECK(strncmp(csv, "run,step,model,dataset,split,task,metric,value,samples,created_at\n", 66) == 0);
    CHECK(count_lines(csv) == 1 + 6);
    CHECK(strstr(csv, "\nalpha,200,student,cifar10,test,zeroshot_classification,acc1,0.75,1000,") != NULL);
    CHECK(strstr(csv, "\nalpha,,teacher,cifar10,test,zeroshot_classification,acc5,0.95,1000,") != NULL);
    CHECK_MSG(strstr(csv, "\nalpha,200,student,\"odd,\"\"name\"\"\",test,zeroshot_classification,acc1,,1000,"), "%s", csv);
    free(csv);
}

static cJSON *find_evaluation(cJSON *list, const char *pretrained, const char *model, const char *dataset) {
    cJSON *o;
    cJSON_ArrayForEach(o, list) {
        cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pretrained"), *m = cJSON_GetObjectItemCaseSensitive(o, "model"),
              *d = cJSON_GetObjectItemCaseSensitive(o, "dataset");
        if (cJSON_IsString(p) && cJSON_IsString(m) && cJSON_IsString(d) && strcmp(p->valuestring, pretrained) == 0 &&
            strcmp(m->valuestring, model) == 0 && strcmp(d->valuestring, dataset) == 0)
            return o;
    }
    return NULL;
}

static double metric(cJSON *evaluation, const char *name) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(evaluation, "metrics"), name);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* A run with two datasets, teacher and student on both: the average line has the difference; CSV
 * and JSON hold results only. */
static void test_average(void) {
    bcos_run run;
    char err[BCOS_ERRLEN];
    CHECK(bcos_store_run_begin(g_store, "delta", BCOS_RUN_EVAL, "{}", 1, "test", &run, err, sizeof err) == 0);
    int64_t delta = run.id; /* an eval run: results without a checkpoint */
    add_result(delta, 0, BCOS_MODEL_TEACHER, "cifar10", "acc1", 0.6);
    add_result(delta, 0, BCOS_MODEL_STUDENT, "cifar10", "acc1", 0.5);
    add_result(delta, 0, BCOS_MODEL_TEACHER, "imagenet", "acc1", 0.4);
    add_result(delta, 0, BCOS_MODEL_STUDENT, "imagenet", "acc1", 0.2);
    char *table = results("delta", NULL, BCOS_RESULTS_ALL_CHECKPOINTS, -1, BCOS_FORMAT_TABLE);
    CHECK_MSG(has_line(table, "delta - cifar10 test acc1 0.6000 0.5000 -0.1000"), "%s", table);
    CHECK(has_line(table, "delta - imagenet test acc1 0.4000 0.2000 -0.2000"));
    CHECK(has_line(table, "delta - average test acc1 0.5000 0.3500 -0.1500"));
    CHECK(count_lines(table) == 4);
    free(table);
    /* one dataset: no average line */
    table = results("delta", "cifar10", BCOS_RESULTS_ALL_CHECKPOINTS, -1, BCOS_FORMAT_TABLE);
    CHECK(!strstr(table, "average") && count_lines(table) == 2);
    free(table);
    char *csv = results("delta", NULL, BCOS_RESULTS_ALL_CHECKPOINTS, -1, BCOS_FORMAT_CSV);
    CHECK(!strstr(csv, "average") && count_lines(csv) == 5);
    free(csv);
}

static void test_json(void) {
    char *text = results(NULL, NULL, BCOS_RESULTS_ALL_CHECKPOINTS, -1, BCOS_FORMAT_JSON);
    cJSON *list = cJSON_Parse(text);
    CHECK(cJSON_IsArray(list));
    CHECK_MSG(cJSON_GetArraySize(list) == 7, "%d evaluations", cJSON_GetArraySize(list));
    cJSON *s100 = find_evaluation(list, "alpha@step-100", "student", "cifar10");
    CHECK(s100 != NULL);
    CHECK(metric(s100, "acc1") == 0.7 && metric(s100, "acc5") == 0.9);
    /* CLIP_benchmark's keys, and ours. */
    static const char *const keys[] = {"dataset", "model", "pretrained", "task", "metrics", "language",
                                       "run", "step", "split", "samples"};
    for (int k = 0; k < 10; k++) CHECK_MSG(cJSON_HasObjectItem(s100, keys[k]), "no '%s'", keys[k]);
    cJSON *task = cJSON_GetObjectItemCaseSensitive(s100, "task"), *lang = cJSON_GetObjectItemCaseSensitive(s100, "language");
    CHECK(cJSON_IsString(task) && strcmp(task->valuestring, "zeroshot_classification") == 0);
    CHECK(cJSON_IsString(lang) && strcmp(lang->valuestring, "en") == 0);
    CHECK(cJSON_GetObjectItemCaseSensitive(s100, "step")->valuedouble == 100);
    cJSON *teacher = find_evaluation(list, "alpha", "teacher", "cifar10");
    CHECK(teacher && metric(teacher, "acc1") == 0.8 && metric(teacher, "acc5") == 0.95);
    CHECK(teacher && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(teacher, "step")));
    cJSON *odd = find_evaluation(list, "alpha@step-200", "student", "odd,\"name\"");
    CHECK(odd && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(odd, "metrics"), "acc1")));
    CHECK(find_evaluation(list, "beta", "teacher", "cifar10") != NULL);
    cJSON_Delete(list);
    free(text);

    char *empty = results("gamma", NULL, BCOS_RESULTS_ALL_CHECKPOINTS, -1, BCOS_FORMAT_JSON);
    CHECK(strcmp(empty, "[]\n") == 0);
    free(empty);
}

int main(void) {
    char *dir = helper_temp_dir(), *db = helper_path(dir, "bcos.db");
    g_store = helper_open(db);
    build_data();
    test_runs_listing();
    test_checkpoints_listing();
    test_side_by_side();
    test_one_model();
    test_csv();
    test_json();
    test_average();
    bcos_store_close(g_store);
    /* A reader sees the same. */
    bcos_store_options ro = {1, BCOS_JOURNAL_AUTO, 0};
    char err[BCOS_ERRLEN];
    CHECK(bcos_store_open(db, &ro, &g_store, err, sizeof err) == 0);
    char *text = results("alpha", "mnist", BCOS_CKPT_LATEST, -1, BCOS_FORMAT_TABLE);
    CHECK(has_line(text, "alpha 200 mnist test acc1 0.9000 0.8500 -0.0500"));
    free(text);
    bcos_store_close(g_store);
    helper_remove_tree(dir);
    free(db), free(dir);
    return test_summary("store_queries");
}
