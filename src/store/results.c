/* The `bcos results` query: evaluation results filtered by run, dataset, checkpoint and model,
 * printed as a table (teacher and student side by side with the difference; each run's lines
 * followed by the mean over its datasets), as CSV (one row per result) or as JSON in
 * CLIP_benchmark's results format.
 *
 * CLIP_benchmark (clip_benchmark/cli.py, version 1.6) writes one JSON object per evaluation:
 * {"dataset", "model", "pretrained", "task", "metrics": {"acc1", "acc5", "mean_per_class_recall"},
 * "language"}, and its `build` command merges such objects into a table keyed by
 * model + " " + pretrained. Here "model" is "teacher" or "student", "pretrained" names the weights:
 * "RUN@step-N" for a checkpoint, "RUN" for a teacher evaluated without one, and "language" is
 * "en" (the prompts are English). bcos adds "run", "step", "split" and "samples". */
#include "internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef bcos_result_row result_row;

static void load_rows(bcos_store *s, const bcos_results_filter *f, result_row **rows, int *n) {
    sqlite3_stmt *st = store_prepare(
        s, "SELECT r.name, c.step, e.model, e.dataset, e.split, e.task, e.metric, e.value, e.samples, e.created_at"
           " FROM eval_results e JOIN runs r ON r.id = e.run_id LEFT JOIN checkpoints c ON c.id = e.checkpoint_id"
           " WHERE (?1 IS NULL OR r.name = ?1) AND (?2 IS NULL OR e.dataset = ?2) AND (?3 IS NULL OR e.model = ?3)"
           " AND (?5 IS NULL OR e.split = ?5) AND (?6 IS NULL OR e.task = ?6)"
           " AND (?4 = -2 OR e.checkpoint_id IS NULL OR (?4 >= 0 AND c.step = ?4)"
           "  OR (?4 = -1 AND c.step = (SELECT max(c2.step) FROM eval_results e2"
           "   JOIN checkpoints c2 ON c2.id = e2.checkpoint_id WHERE e2.run_id = e.run_id AND e2.dataset = e.dataset)))"
           " ORDER BY r.name, e.dataset, e.split, e.task, e.metric, c.step, e.model");
    store_bind_text(s, st, 1, f->run);
    store_bind_text(s, st, 2, f->dataset);
    store_bind_text(s, st, 3, f->model >= 0 ? store_model_role_names[f->model] : NULL);
    store_bind_int64(s, st, 4, f->checkpoint);
    store_bind_text(s, st, 5, f->split);
    store_bind_text(s, st, 6, f->task);
    *rows = NULL;
    *n = 0;
    while (store_step(s, st)) {
        *rows = xrealloc(*rows, (size_t)(*n + 1) * sizeof **rows);
        result_row *r = &(*rows)[(*n)++];
        r->run = store_column_strdup(st, 0);
        r->has_step = sqlite3_column_type(st, 1) != SQLITE_NULL;
        r->step = sqlite3_column_int64(st, 1);
        r->model = store_column_strdup(st, 2);
        r->dataset = store_column_strdup(st, 3);
        r->split = store_column_strdup(st, 4);
        r->task = store_column_strdup(st, 5);
        r->metric = store_column_strdup(st, 6);
        r->has_value = sqlite3_column_type(st, 7) != SQLITE_NULL;
        r->value = sqlite3_column_double(st, 7);
        r->samples = sqlite3_column_int64(st, 8);
        r->created = store_column_strdup(st, 9);
    }
    store_finalize(s, st);
}

void bcos_result_rows_free(bcos_result_row *rows, int n) {
    for (int i = 0; i < n; i++) {
        result_row *r = &rows[i];
        free(r->run), free(r->model), free(r->dataset), free(r->split), free(r->task), free(r->metric), free(r->created);
    }
    free(rows);
}

static int is_teacher(const result_row *r) { return strcmp(r->model, "teacher") == 0; }

/* Same run, dataset, split, task and metric: one line of the side-by-side table per step. */
static int same_measure(const result_row *a, const result_row *b) {
    return strcmp(a->run, b->run) == 0 && strcmp(a->dataset, b->dataset) == 0 && strcmp(a->split, b->split) == 0 &&
           strcmp(a->task, b->task) == 0 && strcmp(a->metric, b->metric) == 0;
}

static void value_cell(store_table *t, const result_row *r) {
    if (r && r->has_value) store_table_cell(t, "%.4f", r->value);
    else store_table_cell(t, "-");
}

static void step_cell(store_table *t, const result_row *r) {
    if (r->has_step) store_table_cell(t, "%lld", (long long)r->step);
    else store_table_cell(t, "-");
}

/* The mean over a run's datasets of what one kind of table line shows (same step, split, task,
 * metric; in the one-model table, the same model too): per value column, the sum and count of the
 * values shown (a missing or NaN value is left out, as pandas' mean does). */
typedef struct {
    const result_row *kind;
    int datasets;
    double sum[2];
    int count[2];
} average_line;

typedef struct {
    average_line *lines;
    int n;
    int by_model; /* the one-model table: the model is part of the kind */
} averages;

static int same_kind(const averages *a, const result_row *x, const result_row *y) {
    return x->has_step == y->has_step && x->step == y->step && strcmp(x->split, y->split) == 0 &&
           strcmp(x->task, y->task) == 0 && strcmp(x->metric, y->metric) == 0 &&
           (!a->by_model || strcmp(x->model, y->model) == 0);
}

/* A table line of kind `kind` showing values[0..columns-1] (NULL: none). */
static void average_add(averages *a, const result_row *kind, const result_row *const *values, int columns) {
    average_line *line = NULL;
    for (int i = 0; i < a->n && !line; i++)
        if (same_kind(a, a->lines[i].kind, kind)) line = &a->lines[i];
    if (!line) {
        a->lines = xrealloc(a->lines, (size_t)(a->n + 1) * sizeof *a->lines);
        line = &a->lines[a->n++];
        *line = (average_line){.kind = kind};
    }
    line->datasets++;
    for (int c = 0; c < columns; c++)
        if (values[c] && values[c]->has_value && !isnan(values[c]->value)) {
            line->sum[c] += values[c]->value;
            line->count[c]++;
        }
}

static void mean_cell(store_table *t, const average_line *line, int c) {
    if (line->count[c] > 0) store_table_cell(t, "%.4f", line->sum[c] / line->count[c]);
    else store_table_cell(t, "-");
}

/* The run's average lines (of kinds over two datasets or more), then a fresh start. Side by side:
 * teacher, student, and their difference where both cover every dataset; one model: the value. */
static void average_flush(averages *a, store_table *t) {
    for (int i = 0; i < a->n; i++) {
        const average_line *line = &a->lines[i];
        if (line->datasets < 2) continue;
        store_table_cell(t, "%s", line->kind->run);
        step_cell(t, line->kind);
        if (a->by_model) store_table_cell(t, "%s", line->kind->model);
        store_table_cell(t, "average");
        store_table_cell(t, "%s", line->kind->split);
        store_table_cell(t, "%s", line->kind->metric);
        mean_cell(t, line, 0);
        if (a->by_model) {
            store_table_cell(t, "-");
            continue;
        }
        mean_cell(t, line, 1);
        if (line->count[0] == line->datasets && line->count[1] == line->datasets)
            store_table_cell(t, "%+.4f", line->sum[1] / line->count[1] - line->sum[0] / line->count[0]);
        else store_table_cell(t, "-");
    }
    free(a->lines);
    a->lines = NULL;
    a->n = 0;
}

static void side_by_side_line(store_table *t, const result_row *any, const result_row *teacher,
                              const result_row *student) {
    store_table_cell(t, "%s", any->run);
    step_cell(t, any);
    store_table_cell(t, "%s", any->dataset);
    store_table_cell(t, "%s", any->split);
    store_table_cell(t, "%s", any->metric);
    value_cell(t, teacher);
    value_cell(t, student);
    if (teacher && student && teacher->has_value && student->has_value)
        store_table_cell(t, "%+.4f", student->value - teacher->value);
    else store_table_cell(t, "-");
}

/* One line of the side-by-side table, counted towards its run's average. */
static void side_by_side_add(store_table *t, averages *avg, const result_row *any, const result_row *teacher,
                             const result_row *student) {
    side_by_side_line(t, any, teacher, student);
    const result_row *values[2] = {teacher, student};
    average_add(avg, any, values, 2);
}

/* Rows come sorted by run and measure, then step (no step first), then model. A teacher result
 * without a checkpoint stands in for the teacher at every step that has no teacher result of its
 * own. */
static void print_side_by_side(const result_row *rows, int n, FILE *out) {
    static const char *const headers[] = {"run", "step", "dataset", "split", "metric", "teacher", "student",
                                          "student-teacher"};
    store_table t;
    store_table_init(&t, 8, headers, "lrlllrrr");
    averages avg = {0};
    for (int g = 0; g < n;) {
        int end = g;
        while (end < n && same_measure(&rows[g], &rows[end])) end++;
        const result_row *run_teacher = !rows[g].has_step && is_teacher(&rows[g]) ? &rows[g] : NULL;
        int i = run_teacher ? g + 1 : g;
        if (i == end) side_by_side_add(&t, &avg, run_teacher, run_teacher, NULL);
        while (i < end) {
            const result_row *teacher = run_teacher, *student = NULL;
            int j = i;
            for (; j < end && rows[j].step == rows[i].step; j++) {
                if (is_teacher(&rows[j])) teacher = &rows[j];
                else student = &rows[j];
            }
            side_by_side_add(&t, &avg, &rows[i], teacher, student);
            i = j;
        }
        if (end == n || strcmp(rows[end].run, rows[g].run) != 0) average_flush(&avg, &t);
        g = end;
    }
    store_table_print(&t, out);
    store_table_free(&t);
}

static void print_one_model(const result_row *rows, int n, FILE *out) {
    static const char *const headers[] = {"run", "step", "model", "dataset", "split", "metric", "value", "samples"};
    store_table t;
    store_table_init(&t, 8, headers, "lrllllrr");
    averages avg = {.by_model = 1};
    for (int i = 0; i < n; i++) {
        const result_row *r = &rows[i];
        store_table_cell(&t, "%s", r->run);
        step_cell(&t, r);
        store_table_cell(&t, "%s", r->model);
        store_table_cell(&t, "%s", r->dataset);
        store_table_cell(&t, "%s", r->split);
        store_table_cell(&t, "%s", r->metric);
        value_cell(&t, r);
        store_table_cell(&t, "%lld", (long long)r->samples);
        average_add(&avg, r, &r, 1);
        if (i + 1 == n || strcmp(rows[i + 1].run, r->run) != 0) average_flush(&avg, &t);
    }
    store_table_print(&t, out);
    store_table_free(&t);
}

static void print_csv(const result_row *rows, int n, FILE *out) {
    static const char *const headers[] = {"run", "step", "model", "dataset", "split", "task", "metric", "value",
                                          "samples", "created_at"};
    for (int c = 0; c < 10; c++) store_csv_field(out, headers[c], c == 9);
    for (int i = 0; i < n; i++) {
        const result_row *r = &rows[i];
        char step[24] = "", value[32] = "", samples[24];
        if (r->has_step) snprintf(step, sizeof step, "%lld", (long long)r->step);
        if (r->has_value) store_format_double(value, sizeof value, r->value);
        snprintf(samples, sizeof samples, "%lld", (long long)r->samples);
        const char *fields[] = {r->run, step, r->model, r->dataset, r->split, r->task, r->metric, value, samples,
                                r->created};
        for (int c = 0; c < 10; c++) store_csv_field(out, fields[c], c == 9);
    }
}

static cJSON *checked(cJSON *item) {
    BCOS_CHECK(item != NULL, "the machine is out of memory");
    return item;
}

/* One evaluation: the rows of one run, step, model, dataset, split and task. */
static int same_evaluation(const result_row *a, const result_row *b) {
    return strcmp(a->run, b->run) == 0 && a->has_step == b->has_step && a->step == b->step &&
           strcmp(a->model, b->model) == 0 && strcmp(a->dataset, b->dataset) == 0 &&
           strcmp(a->split, b->split) == 0 && strcmp(a->task, b->task) == 0;
}

static cJSON *evaluation_object(const result_row *r) {
    cJSON *o = checked(cJSON_CreateObject());
    char pretrained[512];
    if (r->has_step) snprintf(pretrained, sizeof pretrained, "%s@step-%lld", r->run, (long long)r->step);
    else snprintf(pretrained, sizeof pretrained, "%s", r->run);
    cJSON_AddItemToObject(o, "dataset", checked(cJSON_CreateString(r->dataset)));
    cJSON_AddItemToObject(o, "model", checked(cJSON_CreateString(r->model)));
    cJSON_AddItemToObject(o, "pretrained", checked(cJSON_CreateString(pretrained)));
    cJSON_AddItemToObject(o, "task", checked(cJSON_CreateString(r->task)));
    cJSON_AddItemToObject(o, "metrics", checked(cJSON_CreateObject()));
    cJSON_AddItemToObject(o, "language", checked(cJSON_CreateString("en")));
    cJSON_AddItemToObject(o, "run", checked(cJSON_CreateString(r->run)));
    cJSON_AddItemToObject(o, "step", checked(r->has_step ? cJSON_CreateNumber((double)r->step) : cJSON_CreateNull()));
    cJSON_AddItemToObject(o, "split", checked(cJSON_CreateString(r->split)));
    cJSON_AddItemToObject(o, "samples", checked(cJSON_CreateNumber((double)r->samples)));
    return o;
}

/* The evaluations as a list of CLIP_benchmark result objects, or (single) the one object of the
 * one evaluation there is: CLIP_benchmark's per-file form. */
static void print_json(const result_row *rows, int n, int single, FILE *out) {
    cJSON *list = checked(cJSON_CreateArray());
    /* Rows are sorted by measure; gather each evaluation's metrics into its object, keeping the
     * order in which evaluations first appear. */
    int *taken = xcalloc((size_t)n + 1, sizeof *taken);
    for (int i = 0; i < n; i++) {
        if (taken[i]) continue;
        cJSON *o = evaluation_object(&rows[i]);
        cJSON *metrics = cJSON_GetObjectItemCaseSensitive(o, "metrics");
        for (int j = i; j < n; j++) {
            if (taken[j] || !same_evaluation(&rows[i], &rows[j])) continue;
            taken[j] = 1;
            cJSON_AddItemToObject(metrics, rows[j].metric,
                                  checked(rows[j].has_value ? cJSON_CreateNumber(rows[j].value) : cJSON_CreateNull()));
        }
        cJSON_AddItemToArray(list, o);
    }
    free(taken);
    BCOS_CHECK(!single || cJSON_GetArraySize(list) == 1, "a filter that selects one evaluation");
    char *text = cJSON_Print(single ? cJSON_GetArrayItem(list, 0) : list);
    BCOS_CHECK(text != NULL, "the machine is out of memory");
    fprintf(out, "%s\n", text);
    cJSON_free(text);
    cJSON_Delete(list);
}

int bcos_store_results_read(bcos_store *s, const bcos_results_filter *filter, bcos_result_row **rows, char *err,
                            size_t errlen) {
    store_begin_read(s);
    int64_t run_id;
    if (filter->run && bcos_store_run_find(s, filter->run, &run_id, err, errlen) != 0) {
        store_commit(s);
        return -1;
    }
    int n;
    load_rows(s, filter, rows, &n);
    store_commit(s);
    return n;
}

int bcos_store_print_results(bcos_store *s, const bcos_results_filter *filter, bcos_format format, FILE *out,
                             char *err, size_t errlen) {
    BCOS_CHECK(filter && filter->model >= -1 && filter->model <= BCOS_MODEL_STUDENT &&
                   filter->checkpoint >= BCOS_RESULTS_ALL_CHECKPOINTS,
               "bcos_store_print_results: invalid filter");
    result_row *rows;
    int n = bcos_store_results_read(s, filter, &rows, err, errlen);
    if (n < 0) return -1;
    if (format == BCOS_FORMAT_CSV) print_csv(rows, n, out);
    else if (format == BCOS_FORMAT_JSON || format == BCOS_FORMAT_JSON_OBJECT)
        print_json(rows, n, format == BCOS_FORMAT_JSON_OBJECT, out);
    else if (n == 0) fprintf(out, "no results\n");
    else if (filter->model >= 0) print_one_model(rows, n, out);
    else print_side_by_side(rows, n, out);
    bcos_result_rows_free(rows, n);
    return 0;
}
