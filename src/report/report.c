/* The report page: the runs read from the store, then the sections in order (the runs' facts and
 * checkpoints, training curves, results, explanations, events), every text escaped. Several runs
 * share the page: one series per run in each curve, one group of columns per run in the tables. */
#include "bcos/report.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bcos/check.h"
#include "report_internal.h"

typedef struct {
    bcos_run_info info;
    bcos_metric *metrics;
    int n_metrics;
    bcos_event_row *events;
    int n_events;
    bcos_checkpoint_row *checkpoints;
    int n_checkpoints;
    bcos_explanation *explanations;
    int n_explanations;
    bcos_resume_row *resumes;
    int n_resumes;
    int orphaned; /* marked running, but no process holds its lease: its writer was killed */
} run_data;

typedef struct {
    bcos_store *store;
    bcos_run_info *infos; /* the runs' rows, which run_data.info copies */
    run_data *runs;
    int n_runs;
    bcos_result_row *latest; /* per run and dataset the newest checkpoint's results, as `bcos results --checkpoint latest` */
    int n_latest;
    bcos_result_row *all; /* every checkpoint's */
    int n_all;
} report;

/* ---- reading ---- */

/* The results of the report's runs (checkpoint: as bcos_results_filter's): their count and *rows. */
static int read_results(const report *r, int64_t checkpoint, bcos_result_row **rows) {
    *rows = NULL;
    int n = 0;
    for (int i = 0; i < r->n_runs; i++) {
        bcos_results_filter filter = {r->runs[i].info.name, NULL, checkpoint, -1, NULL, NULL};
        bcos_result_row *run_rows;
        char err[BCOS_ERRLEN];
        int k = bcos_store_results_read(r->store, &filter, &run_rows, err, sizeof err);
        BCOS_CHECK(k >= 0, "a run read back from the store has results to read");
        *rows = xrealloc(*rows, (size_t)(n + k + 1) * sizeof **rows);
        if (k) memcpy(*rows + n, run_rows, (size_t)k * sizeof *run_rows);
        n += k;
        free(run_rows); /* its strings now belong to *rows */
    }
    return n;
}

static int load(report *r, bcos_store *s, const char *const *names, int n_names, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    r->store = s;
    bcos_run_info *infos;
    int n = bcos_store_run_infos(s, n_names ? names : NULL, n_names, &infos, err, errlen);
    if (n < 0) return -1;
    r->runs = xcalloc((size_t)(n > 0 ? n : 1), sizeof *r->runs);
    r->n_runs = n;
    for (int i = 0; i < n; i++) {
        run_data *d = &r->runs[i];
        d->info = infos[i];
        d->n_metrics = bcos_store_metrics_read(s, d->info.id, 0, &d->metrics);
        d->n_events = bcos_store_events_read(s, d->info.id, &d->events);
        d->n_checkpoints = bcos_store_checkpoint_rows(s, d->info.id, &d->checkpoints);
        d->n_explanations = bcos_store_explanations_read(s, d->info.id, &d->explanations);
        d->n_resumes = bcos_store_resumes_read(s, d->info.id, &d->resumes);
        d->orphaned = strcmp(d->info.status, "running") == 0 && !bcos_store_run_has_writer(s, d->info.name);
    }
    r->infos = infos;
    r->n_latest = read_results(r, BCOS_CKPT_LATEST, &r->latest);
    r->n_all = read_results(r, BCOS_RESULTS_ALL_CHECKPOINTS, &r->all);
    return 0;
}

static void unload(report *r) {
    for (int i = 0; i < r->n_runs; i++) {
        run_data *d = &r->runs[i];
        free(d->metrics);
        bcos_event_rows_free(d->events, d->n_events);
        bcos_checkpoint_rows_free(d->checkpoints, d->n_checkpoints);
        bcos_explanations_free(d->explanations, d->n_explanations);
        free(d->resumes);
    }
    free(r->runs);
    bcos_run_infos_free(r->infos, r->n_runs);
    bcos_result_rows_free(r->latest, r->n_latest);
    bcos_result_rows_free(r->all, r->n_all);
}

/* ---- page frame ---- */

static const char STYLE[] =
    "body{font-family:sans-serif;margin:2em;color:#222;max-width:1400px}"
    "h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}"
    "table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
    "td.num,td.value,td.diff{text-align:right;font-variant-numeric:tabular-nums}"
    "td.diff.neg{color:#b00}td.diff.pos{color:#070}"
    "pre.job{background:#f4f4f4;padding:.6em;white-space:pre-wrap;word-break:break-all}"
    "div.job{line-height:1.8;max-width:1100px}span.option{background:#f0f0f0;border-radius:3px;padding:.1em .4em;"
    "margin-right:.3em;white-space:nowrap}"
    ".plots{display:flex;flex-wrap:wrap;gap:1em}svg.plot{background:#fff;border:1px solid #eee}"
    ".gallery{display:flex;flex-wrap:wrap;gap:1em}figure.explanation{margin:0;width:240px}"
    "figure.explanation img{width:224px;height:224px;image-rendering:pixelated;border:1px solid #ccc}"
    "figcaption{font-size:.85em;overflow-wrap:anywhere}.wide{overflow-x:auto}.note{color:#666}.status-failed{color:#b00}.status-done{color:#070}";

static void page_start(FILE *out, const report *r) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>bcos report", out);
    for (int i = 0; i < r->n_runs; i++) {
        fputs(i ? ", " : ": ", out);
        html_text(out, r->runs[i].info.name);
    }
    fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>bcos report</h1>\n<p class=\"note\">Store ", STYLE);
    html_text(out, bcos_store_path(r->store));
    char when[32];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    fprintf(out, ", written %s by bcos ", when);
    html_text(out, BCOS_VERSION);
    fputs(".</p>\n", out);
}

/* ---- the runs ---- */

static void fact(FILE *out, const char *name, const char *value, const char *cls) {
    fprintf(out, "<tr><th>%s</th><td%s%s%s>", name, cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
    html_text(out, value);
    fputs("</td></tr>\n", out);
}

/* The job text: its options one by one when it is a JSON object, and as given. */
static void job_block(FILE *out, const char *job_text) {
    cJSON *job = cJSON_Parse(job_text);
    if (cJSON_IsObject(job)) {
        fputs("<div class=\"job\">", out);
        for (const cJSON *item = job->child; item; item = item->next) {
            char *value = cJSON_IsString(item) ? NULL : cJSON_PrintUnformatted(item);
            fputs("<span class=\"option\"><b>", out);
            html_text(out, item->string);
            fputs("</b> ", out);
            html_text(out, value ? value : item->valuestring);
            fputs("</span> ", out);
            cJSON_free(value);
        }
        fputs("</div>\n", out);
    }
    cJSON_Delete(job);
    fputs("<details><summary>The job as given</summary><pre class=\"job\">", out);
    html_text(out, job_text);
    fputs("</pre></details>\n", out);
}

static void checkpoints_table(FILE *out, const run_data *d) {
    if (d->n_checkpoints == 0) {
        fputs("<p class=\"note\">No checkpoints.</p>\n", out);
        return;
    }
    fputs("<table class=\"checkpoints\"><tr><th>step</th><th>epoch</th><th>samples seen</th><th>world</th>"
          "<th>state</th><th>size (MiB)</th><th>written</th></tr>\n", out);
    for (int i = 0; i < d->n_checkpoints; i++) {
        const bcos_checkpoint_row *c = &d->checkpoints[i];
        fprintf(out, "<tr><td class=\"num\">%lld</td><td class=\"num\">%lld</td><td class=\"num\">%lld</td>"
                     "<td class=\"num\">%d</td><td>", (long long)c->step, (long long)c->epoch,
                (long long)c->samples_seen, c->world_size);
        html_text(out, c->state);
        fprintf(out, "</td><td class=\"num\">%.2f</td><td>", (double)c->bytes / (1024.0 * 1024.0));
        html_text(out, c->created_at);
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n", out);
}

static void run_section(FILE *out, const run_data *d, int index) {
    fprintf(out, "<section class=\"run\" id=\"run-%d\">\n<h2>Run <span class=\"run-name\">", index);
    html_text(out, d->info.name);
    fputs("</span></h2>\n<table class=\"facts\">\n", out);
    char *status_class = bcos_strfmt("status-%s", d->info.status), *world = bcos_strfmt("%d", d->info.world_size);
    char *steps = d->n_metrics ? bcos_strfmt("%lld", (long long)d->metrics[d->n_metrics - 1].step) : xstrdup("-");
    fact(out, "name", d->info.name, "run-name");
    fact(out, "kind", d->info.kind, NULL);
    fact(out, "status", d->orphaned ? "running, but no process holds its lease (its writer was killed?)" : d->info.status,
         status_class);
    fact(out, "world size", world, NULL);
    fact(out, "code version", d->info.code_version, NULL);
    fact(out, "started", d->info.created_at, NULL);
    fact(out, "last update", d->info.updated_at, NULL);
    fact(out, "newest step", steps, NULL);
    fputs("</table>\n", out);
    free(steps), free(world), free(status_class);
    job_block(out, d->info.job_text);
    fputs("<h3>Checkpoints</h3>\n", out);
    checkpoints_table(out, d);
    fputs("</section>\n", out);
}

/* ---- curves ---- */

typedef struct {
    const char *id, *title;
    size_t offset; /* of the double in bcos_metric */
} curve;

static const curve CURVES[] = {
    {"loss", "loss", offsetof(bcos_metric, loss)},
    {"cos", "cosine to the teacher", offsetof(bcos_metric, cos)},
    {"lr", "learning rate", offsetof(bcos_metric, lr)},
    {"grad_norm", "gradient norm", offsetof(bcos_metric, grad_norm)},
    {"images_per_s", "images per second", offsetof(bcos_metric, images_per_s)},
};

/* The marks of a run on the step axis: its resumes, its preemptions (signals, resumes on another
 * number of ranks) and its failure, where they have a step. */
static int run_marks(const run_data *d, int colour, plot_mark *marks) {
    int n = 0;
    for (int i = 0; i < d->n_resumes; i++)
        marks[n++] = (plot_mark){(double)d->resumes[i].step,
                                 bcos_strfmt("resumed from step %lld on %d rank%s", (long long)d->resumes[i].step,
                                             d->resumes[i].world_size, d->resumes[i].world_size == 1 ? "" : "s"),
                                 colour};
    for (int i = 0; i < d->n_events; i++) {
        const bcos_event_row *e = &d->events[i];
        if (e->step < 0 || (strcmp(e->kind, "preemption") != 0 && strcmp(e->kind, "failure") != 0)) continue;
        marks[n++] = (plot_mark){(double)e->step, bcos_strfmt("%s, step %lld: %s", e->kind, (long long)e->step, e->reason),
                                 colour};
    }
    return n;
}

static void curves_section(FILE *out, const report *r) {
    fputs("<section id=\"curves\">\n<h2>Training curves</h2>\n", out);
    int n_with = 0, n_marks = 0, max_marks = 0;
    for (int i = 0; i < r->n_runs; i++)
        n_with += r->runs[i].n_metrics > 0, max_marks += r->runs[i].n_events + r->runs[i].n_resumes;
    if (n_with == 0) {
        fputs("<p class=\"note\">No training metrics recorded.</p>\n</section>\n", out);
        return;
    }
    plot_mark *marks = xcalloc((size_t)max_marks + 1, sizeof *marks);
    for (int i = 0; i < r->n_runs; i++) n_marks += run_marks(&r->runs[i], i, marks + n_marks);
    if (n_marks)
        fputs("<p class=\"note\">Dashed lines mark resumes, preemptions (a checkpoint on a signal, a resume on "
              "another number of ranks) and failures; hover for the reason.</p>\n", out);
    fputs("<div class=\"plots\">\n", out);
    plot_series *series = xcalloc((size_t)r->n_runs, sizeof *series);
    double **xs = xcalloc((size_t)r->n_runs, sizeof *xs), **ys = xcalloc((size_t)r->n_runs, sizeof *ys);
    for (size_t c = 0; c < sizeof CURVES / sizeof CURVES[0]; c++) {
        int n_series = 0;
        for (int i = 0; i < r->n_runs; i++) {
            const run_data *d = &r->runs[i];
            if (d->n_metrics == 0) continue;
            xs[i] = xrealloc(xs[i], (size_t)d->n_metrics * sizeof(double));
            ys[i] = xrealloc(ys[i], (size_t)d->n_metrics * sizeof(double));
            for (int k = 0; k < d->n_metrics; k++) {
                xs[i][k] = (double)d->metrics[k].step;
                ys[i][k] = *(const double *)((const char *)&d->metrics[k] + CURVES[c].offset);
            }
            series[n_series++] = (plot_series){d->info.name, xs[i], ys[i], d->n_metrics, i, 0};
        }
        plot_spec spec = {CURVES[c].id, CURVES[c].title, "step", CURVES[c].title, series, n_series, marks, n_marks,
                          BCOS_REPORT_MAX_POINTS};
        svg_plot(out, &spec);
    }
    for (int i = 0; i < r->n_runs; i++) free(xs[i]), free(ys[i]);
    free(xs), free(ys), free(series);
    for (int m = 0; m < n_marks; m++) free((char *)marks[m].label);
    free(marks);
    fputs("</div>\n</section>\n", out);
}

/* ---- results ---- */

/* What a results line is about: dataset, split, task and metric. */
static int same_measure(const bcos_result_row *a, const bcos_result_row *b) {
    return strcmp(a->dataset, b->dataset) == 0 && strcmp(a->split, b->split) == 0 && strcmp(a->task, b->task) == 0 &&
           strcmp(a->metric, b->metric) == 0;
}

static int is_teacher(const bcos_result_row *row) { return strcmp(row->model, "teacher") == 0; }

/* The cell of one stored result, with the exact value and its key as attributes (what a program
 * reading the page compares with `bcos results --format json`). */
static void value_cell(FILE *out, const bcos_result_row *row) {
    if (!row) {
        fputs("<td class=\"value missing\">-</td>", out);
        return;
    }
    fputs("<td class=\"value\" data-run=\"", out);
    html_text(out, row->run);
    fputs("\" data-model=\"", out);
    html_text(out, row->model);
    fputs("\" data-step=\"", out);
    if (row->has_step) fprintf(out, "%lld", (long long)row->step);
    const char *keys[] = {"dataset", row->dataset, "split", row->split, "task", row->task, "metric", row->metric};
    for (int k = 0; k < 8; k += 2) {
        fprintf(out, "\" data-%s=\"", keys[k]);
        html_text(out, keys[k + 1]);
    }
    if (row->has_value) fprintf(out, "\" data-value=\"%.17g\">%.4f</td>", row->value, row->value);
    else fputs("\" data-value=\"null\">-</td>", out);
}

/* The run's student result for the measure (its newest step) and the teacher beside it: the
 * teacher at the same step, else the teacher evaluated without a checkpoint. */
static void pick_pair(const report *r, const char *run, const bcos_result_row *measure, const bcos_result_row **teacher,
                      const bcos_result_row **student) {
    *teacher = *student = NULL;
    for (int i = 0; i < r->n_latest; i++) {
        const bcos_result_row *row = &r->latest[i];
        if (strcmp(row->run, run) != 0 || !same_measure(row, measure) || is_teacher(row)) continue;
        if (!*student || row->step > (*student)->step) *student = row;
    }
    for (int i = 0; i < r->n_latest; i++) {
        const bcos_result_row *row = &r->latest[i];
        if (strcmp(row->run, run) != 0 || !same_measure(row, measure) || !is_teacher(row)) continue;
        int same_step = *student && row->has_step && (*student)->has_step && row->step == (*student)->step;
        if (same_step || (!row->has_step && !*teacher)) *teacher = row;
    }
}

static void results_table(FILE *out, const report *r) {
    fputs("<div class=\"wide\"><table class=\"results\">\n<tr><th rowspan=\"2\">dataset</th><th rowspan=\"2\">split</th>"
          "<th rowspan=\"2\">task</th><th rowspan=\"2\">metric</th>", out);
    for (int i = 0; i < r->n_runs; i++) {
        fputs("<th colspan=\"4\">", out);
        html_text(out, r->runs[i].info.name);
        fputs("</th>", out);
    }
    fputs("</tr>\n<tr>", out);
    for (int i = 0; i < r->n_runs; i++) fputs("<th>step</th><th>teacher</th><th>student</th><th>student−teacher</th>", out);
    fputs("</tr>\n", out);
    for (int m = 0; m < r->n_latest; m++) {
        int first = 1; /* a measure's first row among the sorted results makes its line */
        for (int k = 0; k < m && first; k++) first = !same_measure(&r->latest[k], &r->latest[m]);
        if (!first) continue;
        const bcos_result_row *measure = &r->latest[m];
        fputs("<tr>", out);
        const char *keys[] = {measure->dataset, measure->split, measure->task, measure->metric};
        for (int k = 0; k < 4; k++) {
            fputs("<td>", out);
            html_text(out, keys[k]);
            fputs("</td>", out);
        }
        for (int i = 0; i < r->n_runs; i++) {
            const bcos_result_row *teacher, *student;
            pick_pair(r, r->runs[i].info.name, measure, &teacher, &student);
            if (student && student->has_step) fprintf(out, "<td class=\"num\">%lld</td>", (long long)student->step);
            else fputs("<td class=\"num\">-</td>", out);
            value_cell(out, teacher);
            value_cell(out, student);
            if (teacher && student && teacher->has_value && student->has_value) {
                double diff = student->value - teacher->value;
                fprintf(out, "<td class=\"diff %s\">%+.4f</td>", diff < 0 ? "neg" : "pos", diff);
            } else {
                fputs("<td class=\"diff\">-</td>", out);
            }
        }
        fputs("</tr>\n", out);
    }
    fputs("</table></div>\n", out);
}

/* For a measure whose student was evaluated at several checkpoints: its value against the step,
 * one series per run, and the teacher's. */
static void results_by_step(FILE *out, const report *r, const bcos_result_row *measure) {
    int n = r->n_all, n_series = 0;
    plot_series *series = xcalloc((size_t)2 * r->n_runs, sizeof *series);
    double *x = xmalloc((size_t)(2 * n + 2) * 2 * r->n_runs * sizeof(double)), *y = x + (size_t)(2 * n + 2) * r->n_runs;
    size_t used = 0;
    int several = 0;
    char **labels = xcalloc((size_t)2 * r->n_runs, sizeof *labels);
    for (int i = 0; i < r->n_runs; i++) {
        const char *run = r->runs[i].info.name;
        for (int role = 0; role < 2; role++) { /* 0: student, 1: teacher */
            size_t start = used;
            const bcos_result_row *fixed_teacher = NULL;
            for (int k = 0; k < n; k++) {
                const bcos_result_row *row = &r->all[k];
                if (strcmp(row->run, run) != 0 || !same_measure(row, measure) || is_teacher(row) != role) continue;
                if (!row->has_step) {
                    fixed_teacher = row;
                    continue;
                }
                x[used] = (double)row->step, y[used] = row->has_value ? row->value : NAN, used++;
            }
            if (role == 0) several |= used - start >= 2;
            if (role == 1 && used == start && fixed_teacher && n_series > 0) {
                /* a teacher evaluated once: a level line across the student's steps */
                const plot_series *st = &series[n_series - 1];
                double level = fixed_teacher->has_value ? fixed_teacher->value : NAN;
                x[used] = st->x[0], y[used++] = level;
                x[used] = st->x[st->n - 1], y[used++] = level;
            }
            if (used == start) continue;
            labels[n_series] = bcos_strfmt("%s %s", run, role ? "teacher" : "student");
            series[n_series] = (plot_series){labels[n_series], x + start, y + start, (int)(used - start), i, role};
            n_series++;
        }
    }
    if (several) {
        char *id = bcos_strfmt("%s/%s/%s/%s", measure->dataset, measure->split, measure->task, measure->metric);
        plot_spec spec = {id, id, "checkpoint step", measure->metric, series, n_series, NULL, 0, BCOS_REPORT_MAX_POINTS};
        svg_plot(out, &spec);
        free(id);
    }
    for (int s = 0; s < n_series; s++) free(labels[s]);
    free(labels), free(x), free(series);
}

static void results_section(FILE *out, const report *r) {
    fputs("<section id=\"results\">\n<h2>Results</h2>\n", out);
    if (r->n_latest == 0) {
        fputs("<p class=\"note\">No evaluation results.</p>\n</section>\n", out);
        return;
    }
    fputs("<p class=\"note\">Zero-shot results of each run's newest evaluated checkpoint (as "
          "<code>bcos results --checkpoint latest</code>); accuracies as fractions.</p>\n", out);
    results_table(out, r);
    fputs("<div class=\"plots\">\n", out);
    for (int m = 0; m < r->n_all; m++) {
        int first = 1;
        for (int k = 0; k < m && first; k++) first = !same_measure(&r->all[k], &r->all[m]);
        if (first) results_by_step(out, r, &r->all[m]);
    }
    fputs("</div>\n</section>\n", out);
}

/* ---- explanations ---- */

static void explanations_section(FILE *out, const report *r) {
    fputs("<section id=\"explanations\">\n<h2>Explanations</h2>\n", out);
    int any = 0;
    for (int i = 0; i < r->n_runs; i++) {
        const run_data *d = &r->runs[i];
        if (d->n_explanations == 0) continue;
        any = 1;
        if (r->n_runs > 1) {
            fputs("<h3>", out);
            html_text(out, d->info.name);
            fputs("</h3>\n", out);
        }
        fputs("<div class=\"gallery\">\n", out);
        for (int k = 0; k < d->n_explanations; k++) {
            const bcos_explanation *e = &d->explanations[k];
            fputs("<figure class=\"explanation\"><img alt=\"explanation of ", out);
            html_text(out, e->image);
            fputs("\" src=\"data:image/png;base64,", out);
            html_base64(out, e->png, e->png_bytes);
            fputs("\"><figcaption><b>", out);
            html_text(out, e->prompt);
            fputs("</b><br>", out);
            html_text(out, e->image);
            if (e->step >= 0) fprintf(out, " (step %lld)", (long long)e->step);
            fputs("<br>score ", out);
            html_number(out, e->score);
            fputs(", cosine ", out);
            html_number(out, e->cosine);
            fputs("<br>completeness error ", out);
            html_number(out, e->completeness_error);
            fputs("</figcaption></figure>\n", out);
        }
        fputs("</div>\n", out);
    }
    if (!any)
        fputs("<p class=\"note\">No explanation pictures recorded (<code>bcos explain --run RUN</code> records "
              "them).</p>\n", out);
    fputs("</section>\n", out);
}

/* ---- events ---- */

static int64_t event_total(const run_data *d, const char *kind, const char *reason) {
    int64_t total = 0;
    for (int i = 0; i < d->n_events; i++)
        if (strcmp(d->events[i].kind, kind) == 0 && strcmp(d->events[i].reason, reason) == 0) total += d->events[i].count;
    return total;
}

static void events_section(FILE *out, const report *r) {
    fputs("<section id=\"events\">\n<h2>Events</h2>\n", out);
    int any = 0;
    for (int i = 0; i < r->n_runs; i++) any |= r->runs[i].n_events > 0;
    if (!any) {
        fputs("<p class=\"note\">No events: no retries, skipped samples, faults, preemptions or failures.</p>\n"
              "</section>\n", out);
        return;
    }
    fputs("<table class=\"events\"><tr><th>kind</th><th>reason</th>", out);
    for (int i = 0; i < r->n_runs; i++) {
        fputs("<th>", out);
        html_text(out, r->runs[i].info.name);
        fputs("</th>", out);
    }
    fputs("</tr>\n", out);
    /* one line per kind and reason, kinds in a fixed order, reasons as they first appear */
    static const char *const kinds[] = {"retry", "skip", "fault", "preemption", "failure"};
    const bcos_event_row **lines = NULL;
    int n_lines = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (int i = 0; i < r->n_runs; i++)
            for (int e = 0; e < r->runs[i].n_events; e++) {
                const bcos_event_row *ev = &r->runs[i].events[e];
                int seen = strcmp(ev->kind, kinds[k]) != 0;
                for (int l = 0; l < n_lines && !seen; l++)
                    seen = strcmp(lines[l]->kind, ev->kind) == 0 && strcmp(lines[l]->reason, ev->reason) == 0;
                if (seen) continue;
                lines = xrealloc(lines, (size_t)(n_lines + 1) * sizeof *lines);
                lines[n_lines++] = ev;
            }
    for (int l = 0; l < n_lines; l++) {
        fputs("<tr class=\"event\"><td>", out);
        html_text(out, lines[l]->kind);
        fputs("</td><td>", out);
        html_text(out, lines[l]->reason);
        fputs("</td>", out);
        for (int j = 0; j < r->n_runs; j++)
            fprintf(out, "<td class=\"num\">%lld</td>", (long long)event_total(&r->runs[j], lines[l]->kind, lines[l]->reason));
        fputs("</tr>\n", out);
    }
    free(lines);
    fputs("</table>\n", out);
    for (int i = 0; i < r->n_runs; i++)
        for (int e = 0; e < r->runs[i].n_events; e++) {
            const bcos_event_row *ev = &r->runs[i].events[e];
            if (strcmp(ev->kind, "failure") != 0 || !ev->detail[0]) continue;
            fputs("<p class=\"failure\">", out);
            html_text(out, r->runs[i].info.name);
            fputs(" failed: ", out);
            html_text(out, ev->detail);
            fputs("</p>\n", out);
        }
    fputs("</section>\n", out);
}

int bcos_report_write(bcos_store *s, const char *const *runs, int n_runs, FILE *out, char *err, size_t errlen) {
    for (int i = 0; i < n_runs; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(runs[i], runs[j]) == 0) return bcos_error(err, errlen, runs[i], "run named twice");
    report r;
    if (load(&r, s, runs, n_runs, err, errlen) != 0) return -1;
    page_start(out, &r);
    if (r.n_runs == 0) fputs("<p class=\"note\">This store holds no runs.</p>\n", out);
    for (int i = 0; i < r.n_runs; i++) run_section(out, &r.runs[i], i);
    if (r.n_runs > 0) {
        curves_section(out, &r);
        results_section(out, &r);
        explanations_section(out, &r);
        events_section(out, &r);
    }
    fputs("</body>\n</html>\n", out);
    unload(&r);
    return 0;
}
