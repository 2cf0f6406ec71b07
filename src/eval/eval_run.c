/* The evaluation of a bare weights file over several datasets (bcos/eval_run.h): an eval run in the
 * store, each dataset classified in turn, its metrics printed and stored, or its failure recorded
 * as an event while the others go on. */
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "bcos/check.h"
#include "bcos/eval_run.h"
#include "bcos/log.h"
#include "bcos/store.h"

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

static void store_metrics(bcos_store *s, int64_t run_id, const bcos_eval_model *m, const bcos_eval_dataset *d,
                          const bcos_eval_metrics *r) {
    const char *names[] = {"acc1", "acc5", "mean_per_class_recall"};
    double values[] = {r->acc1, r->acc5, r->mean_per_class_recall};
    bcos_eval_result rows[3];
    for (int i = 0; i < 3; i++)
        rows[i] = (bcos_eval_result){.model = m->student ? BCOS_MODEL_STUDENT : BCOS_MODEL_TEACHER,
                                     .dataset = d->name,
                                     .split = d->split,
                                     .task = "zeroshot_classification",
                                     .metric = names[i],
                                     .value = values[i],
                                     .samples = r->samples};
    bcos_store_results_add(s, run_id, rows, 3);
}

/* 0 when the dataset was evaluated and stored, -1 when it failed (reported and recorded). */
static int eval_dataset(bcos_store *s, int64_t run_id, const bcos_eval_job *job, const char *name,
                        const bcos_eval_model *m, const bcos_tokenizer *tok, const bcos_eval_options *opt) {
    bcos_eval_dataset d;
    bcos_eval_metrics r;
    char err[BCOS_ERRLEN], reason[256];
    int status = bcos_eval_dataset_open(&d, job->root, name, job->split, &opt->fetch, err, sizeof err);
    if (status == 0) {
        status = bcos_eval_classification(m, tok, &d, opt, &r, err, sizeof err);
        if (status == 0) {
            printf("%s\t%s\tacc1 %.6f\tacc5 %.6f\tmean_per_class_recall %.6f\tsamples %ld\tskipped %ld\n", name,
                   job->split, r.acc1, r.acc5, r.mean_per_class_recall, r.samples, r.skipped);
            fflush(stdout);
            store_metrics(s, run_id, m, &d, &r);
        }
        bcos_eval_dataset_free(&d);
    }
    if (status != 0) {
        bcos_log(BCOS_LOG_ERROR, "dataset %s failed: %s", name, err);
        snprintf(reason, sizeof reason, "dataset %s failed", name);
        bcos_store_event_add(s, run_id, -1, BCOS_EVENT_FAILURE, reason, 1, err);
    }
    return status;
}

int bcos_eval_run(const bcos_eval_job *job, const bcos_eval_model *m, const bcos_eval_options *opt, char *err,
                  size_t errlen) {
    bcos_store *s;
    if (bcos_store_open(job->db, NULL, &s, err, errlen) != 0) return -1;
    char *text = job_text(job);
    bcos_run run;
    int ok = bcos_store_lease_take(s, job->run, err, errlen) == 0 &&
             bcos_store_run_begin(s, job->run, BCOS_RUN_EVAL, text, 1, BCOS_VERSION, &run, err, errlen) == 0;
    free(text);
    if (!ok) {
        bcos_store_close(s);
        return -1;
    }
    bcos_tokenizer *tok = bcos_tokenizer_load_default();
    int failed = 0;
    for (int i = 0; i < job->n_datasets; i++) failed += eval_dataset(s, run.id, job, job->datasets[i], m, tok, opt) != 0;
    bcos_tokenizer_free(tok);
    bcos_store_run_set_status(s, run.id, failed ? BCOS_RUN_FAILED : BCOS_RUN_DONE);
    bcos_store_close(s);
    return failed;
}
