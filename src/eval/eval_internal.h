/* What the evaluation's files share: the ranks' agreement on a failure and its message, and the
 * evaluation of the job's datasets for a run or a checkpoint. */
#ifndef BCOS_EVAL_INTERNAL_H
#define BCOS_EVAL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "bcos/eval_run.h"
#include "bcos/loader.h"
#include "bcos/progress.h"
#include "bcos/store.h"

/* Whether any rank failed (a collective: every rank calls it); rank 0's err becomes the first
 * failed rank's message. */
int eval_any_failed(int failed, char *err, size_t errlen);

/* out[K, E]: the dataset's zero-shot classifier for the text tower, from cache_dir (NULL: no
 * cache) when it holds it, else built (and written there when `write`). 0, or -1 with err naming
 * a template without {c}. */
int eval_classifier(float *out, const bcos_clip *text, const bcos_tokenizer *tok, const bcos_eval_dataset *d,
                    const char *cache_dir, int write, char *err, size_t errlen);

/* Rank 0's progress line: n more images, while the shard shards_done + 1 of shards_mine is read. */
void eval_progress_images(bcos_progress *p, int n, int shards_done, int shards_mine);
/* emb[n, E]: the image tower's embeddings of inputs (CLIP tensors, or the student's [u, 1 - u]);
 * acts (NULL for a CLIP) hold a batch of acts_batch, a shorter batch gets its own. */
void eval_encode_images(const bcos_eval_model *m, bcos_student_acts *acts, int acts_batch, float *emb,
                        const float *inputs, int n);
/* The sample function's settings for m: its input, CLIP_benchmark's member order, a label in
 * [0, n_classes) required when n_classes > 0. */
bcos_image_sample_config eval_sample_config(const bcos_eval_model *m, int n_classes);
/* A sample of url that the image sample function refused (verdict v, why in msg): counted in
 * out->skipped; 0 while the count stays within --max-skip, else -1 with err naming it. */
int eval_sample_refused(const bcos_eval_options *opt, bcos_eval_metrics *out, const char *url, const char *key,
                        bcos_sample_verdict v, const char *msg, char *err, size_t errlen);

/* What the results belong to: a run, and a checkpoint of it or none. */
typedef struct {
    bcos_store *store;             /* rank 0; NULL on the others */
    int64_t run_id, checkpoint_id; /* checkpoint_id 0: none */
    int64_t step;                  /* the checkpoint's step; -1: none */
    const char *run;               /* the run's name */
    const bcos_eval_model *model;
} eval_target;

/* Every dataset of the job for the target (a collective): printed and stored by rank 0, a failed
 * one reported and recorded as an event. Returns the number that failed. */
int eval_datasets(const eval_target *t, const bcos_eval_job *job, const bcos_eval_options *opt);

/* Rank 0, at the end: the run's results as `bcos results --run RUN` prints them, on stdout. */
void eval_print_results(bcos_store *s, const char *run);

#endif
