/* The evaluation of a bare weights file over several datasets (bcos/eval_run.h): an eval run in the
 * store, each dataset classified in turn, its metrics printed and stored, or its failure recorded
 * as an event while the others go on. Every rank classifies; rank 0 alone prints and writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bcos/check.h"
#include "bcos/eval.h"
#include "bcos/eval_run.h"
#include "bcos/log.h"
#include "bcos/paths.h"
#include "bcos/store.h"
#include "bcos/world.h"
#include "eval_internal.h"

/* The run's job text: what is evaluated (the datasets are not part of it: one run gathers them). */
static char *job_text(const bcos_eval_job *job) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", "eval");
    cJSON_AddStringToObject(o, "weights", job->weights);
    if (job->model_config) cJSON_AddStringToObject(o, "model", job->model_config);
    char *text = cJSON_Print(o);
    BCOS_CHECK(text != NULL, "cJSON_Print: out of memory");
    cJSON_Delete(o);
    return text;
}

static bcos_model_role role_of(const bcos_eval_model *m) {
    return m->student ? BCOS_MODEL_STUDENT : BCOS_MODEL_TEACHER;
}

static void store_metrics(const eval_target *t, const char *dataset, const char *split, const bcos_eval_metrics *r) {
    bcos_eval_result rows[BCOS_EVAL_MAX_METRICS];
    for (int i = 0; i < r->n_metrics; i++)
        rows[i] = (bcos_eval_result){.checkpoint_id = t->checkpoint_id,
                                     .model = role_of(t->model),
                                     .dataset = dataset,
                                     .split = split,
                                     .task = r->task,
                                     .metric = r->names[i],
                                     .value = r->values[i],
                                     .samples = r->samples};
    bcos_store_results_add(t->store, t->run_id, rows, r->n_metrics);
}

static void print_metrics(const char *name, const char *split, const bcos_eval_metrics *r) {
    printf("%s\t%s", name, split);
    for (int i = 0; i < r->n_metrics; i++) printf("\t%s %.6f", r->names[i], r->values[i]);
    printf("\tsamples %ld\tskipped %ld\n", r->samples, r->skipped);
    fflush(stdout);
}

/* The dataset's result object, as the store gives it, into its file under the output folder:
 * <dataset_cleaned>_<run>[@step-N]_<teacher|student>_en_<task>.json. */
static int write_result_file(const eval_target *t, const bcos_eval_job *job, const char *name, const char *task,
                             char *err, size_t errlen) {
    bcos_results_filter filter = {t->run, name, t->step >= 0 ? t->step : BCOS_RESULTS_ALL_CHECKPOINTS,
                                  (int)role_of(t->model), job->split, task};
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    BCOS_CHECK(mem != NULL, "open_memstream: out of memory");
    int status = bcos_store_print_results(t->store, &filter, BCOS_FORMAT_JSON_OBJECT, mem, err, errlen);
    BCOS_CHECK(fclose(mem) == 0, "open_memstream: out of memory");
    char *cleaned = bcos_replace_all(name, "/", "-"), step[32] = "";
    if (t->step >= 0) snprintf(step, sizeof step, "@step-%lld", (long long)t->step);
    size_t path_len = strlen(job->output_dir) + strlen(cleaned) + strlen(t->run) + strlen(task) + 96;
    char *path = xmalloc(path_len);
    snprintf(path, path_len, "%s/%s_%s%s_%s_en_%s.json", job->output_dir, cleaned, t->run, step,
             t->model->student ? "student" : "teacher", task);
    if (status == 0) status = bcos_make_parent_dirs(path, err, errlen);
    if (status == 0) status = bcos_write_file_atomic(path, text, len, err, errlen);
    free(path);
    free(cleaned);
    free(text);
    return status;
}

/* The task `task` names for a dataset of type `type`: auto is its zero-shot task. */
static const char *resolved_task(const char *task, const char *type) {
    if (strcmp(task, "auto") != 0) return task;
    return strcmp(type, "retrieval") == 0 ? "zeroshot_retrieval" : "zeroshot_classification";
}

static int run_task(const eval_target *t, const char *task, const bcos_eval_dataset *d, const bcos_tokenizer *tok,
                    const bcos_eval_options *opt, bcos_eval_metrics *r, char *err, size_t errlen) {
    if (strcmp(task, "gridpg") == 0) return bcos_eval_gridpg(t->model, tok, d, opt, r, err, errlen);
    int retrieval = strcmp(d->type, "retrieval") == 0;
    if (retrieval != (strcmp(task, "zeroshot_retrieval") == 0)) {
        snprintf(err, errlen, "dataset %s is a %s dataset (dataset_type.txt): no %s", d->name, d->type, task);
        return -1;
    }
    return retrieval ? bcos_eval_retrieval(t->model, tok, d, opt, r, err, errlen)
                     : bcos_eval_classification(t->model, tok, d, opt, r, err, errlen);
}

/* Rank 0: a task of a dataset that failed, reported and recorded. */
static void report_failure(const eval_target *t, const char *name, const char *task, const char *err) {
    char reason[256];
    const char *which = strcmp(task, "gridpg") == 0 ? " gridpg" : ""; /* the zero-shot task: the dataset's own */
    bcos_log(BCOS_LOG_ERROR, "dataset %s%s failed: %s", name, which, err);
    snprintf(reason, sizeof reason, "dataset %s%s failed", name, which);
    bcos_store_event_add(t->store, t->run_id, -1, BCOS_EVENT_FAILURE, reason, 1, err);
}

/* One task of the open dataset d: 0 when it was evaluated and stored, -1 when it failed (reported
 * and recorded). */
static int eval_task(const eval_target *t, const bcos_eval_job *job, const bcos_eval_dataset *d, const char *task,
                     const bcos_tokenizer *tok, const bcos_eval_options *opt) {
    bcos_eval_metrics r;
    char err[BCOS_ERRLEN] = "", reason[256];
    int status = run_task(t, task, d, tok, opt, &r, err, sizeof err);
    if (!t->store) return status;
    if (status == 0) {
        print_metrics(d->name, job->split, &r);
        store_metrics(t, d->name, job->split, &r);
        if (r.skipped > 0) {
            snprintf(reason, sizeof reason, "dataset %s: samples refused", d->name);
            bcos_store_event_add(t->store, t->run_id, -1, BCOS_EVENT_SKIP, reason, r.skipped, NULL);
        }
        if (job->output_dir) status = write_result_file(t, job, d->name, r.task, err, sizeof err);
    }
    if (status != 0) report_failure(t, d->name, task, err);
    return status;
}

/* Rank 0 decides whether a task of the dataset is skipped (its results are there), for every rank. */
static int task_done(const eval_target *t, const bcos_eval_job *job, const char *name, const char *task) {
    int done = 0;
    for (int zeroshot = 0; t->store && job->skip_existing && !done && zeroshot < 2; zeroshot++) {
        const char *kind = zeroshot ? "zeroshot_retrieval" : "zeroshot_classification";
        const char *asked = strcmp(task, "auto") == 0 ? kind : task;
        done = bcos_store_results_exist(t->store, t->run_id, t->checkpoint_id, role_of(t->model), name, job->split,
                                        asked);
    }
    bcos_world_bcast(&done, sizeof done);
    int named = strcmp(task, "auto") != 0; /* "auto" is the dataset's own task: no need to name it */
    if (done)
        bcos_info("dataset %s: %s%sresults in run %s already, skipped (--skip-existing)", name, named ? task : "",
                  named ? " " : "", t->run);
    return done;
}

static const char *const AUTO_ONLY[] = {"auto"};

/* Every task of the dataset: the number that failed (the dataset unreadable: 1). */
static int eval_dataset(const eval_target *t, const bcos_eval_job *job, const char *name, const bcos_tokenizer *tok,
                        const bcos_eval_options *opt) {
    const char *const *tasks = job->tasks ? (const char *const *)job->tasks : AUTO_ONLY;
    int n_tasks = job->tasks ? job->n_tasks : 1, n_missing = 0;
    int *missing = xmalloc((size_t)n_tasks * sizeof *missing); /* tasks without results in the store yet */
    for (int i = 0; i < n_tasks; i++) n_missing += missing[i] = !task_done(t, job, name, tasks[i]);
    bcos_eval_dataset d;
    char err[BCOS_ERRLEN] = "";
    int failed = 0;
    if (n_missing > 0) {
        int opened = bcos_eval_dataset_open(&d, job->root, name, job->split, &opt->fetch, err, sizeof err) == 0;
        if (eval_any_failed(!opened, err, sizeof err)) {
            if (t->store) report_failure(t, name, "auto", err);
            failed = 1;
        } else {
            for (int i = 0; i < n_tasks; i++)
                if (missing[i]) failed += eval_task(t, job, &d, resolved_task(tasks[i], d.type), tok, opt) != 0;
        }
        if (opened) bcos_eval_dataset_free(&d);
    }
    free(missing);
    return failed;
}

int eval_datasets(const eval_target *t, const bcos_eval_job *job, const bcos_eval_options *opt) {
    bcos_tokenizer *tok = bcos_tokenizer_load_default();
    int failed = 0;
    for (int i = 0; i < job->n_datasets; i++) failed += eval_dataset(t, job, job->datasets[i], tok, opt);
    bcos_tokenizer_free(tok);
    return failed;
}

/* Rank 0: the store with the eval run begun, or NULL with err. No writer's lease: the tasks of an
 * evaluation array share the run, each adding its datasets' rows in short transactions (the run is
 * found or created inside one). */
static bcos_store *begin_run(const bcos_eval_job *job, int64_t *run_id, char *err, size_t errlen) {
    bcos_store *s;
    if (bcos_store_open(job->db, NULL, &s, err, errlen) != 0) return NULL;
    char *text = job_text(job);
    bcos_run run;
    int ok = bcos_store_run_begin(s, job->run, BCOS_RUN_EVAL, text, bcos_world_size(), BCOS_VERSION, &run, err,
                                  errlen) == 0;
    free(text);
    if (!ok) {
        bcos_store_close(s);
        return NULL;
    }
    *run_id = run.id;
    return s;
}

void eval_print_results(bcos_store *s, const char *run) {
    bcos_results_filter filter = {run, NULL, BCOS_RESULTS_ALL_CHECKPOINTS, -1, NULL, NULL};
    char err[BCOS_ERRLEN];
    printf("\n");
    if (bcos_store_print_results(s, &filter, BCOS_FORMAT_TABLE, stdout, err, sizeof err) != 0)
        bcos_log(BCOS_LOG_ERROR, "%s", err);
    fflush(stdout);
}

int bcos_eval_run(const bcos_eval_job *job, const bcos_eval_model *m, const bcos_eval_options *opt, char *err,
                  size_t errlen) {
    eval_target t = {.step = -1, .run = job->run, .model = m};
    if (bcos_world_rank() == 0 && !(t.store = begin_run(job, &t.run_id, err, errlen))) return -1;
    int failed = eval_datasets(&t, job, opt);
    if (t.store) {
        eval_print_results(t.store, t.run);
        bcos_store_run_set_status(t.store, t.run_id, failed ? BCOS_RUN_FAILED : BCOS_RUN_DONE);
        bcos_store_close(t.store);
    }
    return failed;
}
