/* Inside the distill loop: the state of one run, shared by the loop (distill.c), its bookkeeping in
 * the store (distill_store.c) and what a checkpoint holds (distill_checkpoint.c). */
#ifndef BCOS_DISTILL_INTERNAL_H
#define BCOS_DISTILL_INTERNAL_H

#include <stdint.h>

#include "bcos/distill.h"
#include "bcos/store.h"
#include "bcos/train.h"
#include "distill_source.h"

/* Everything one run holds; buffers sized for one batch. */
typedef struct distill_run {
    const bcos_distill_config *cfg;
    const bcos_image_set *set; /* the in-memory images (NULL with shards) */
    distill_source *source;
    bcos_clip teacher;
    bcos_student student;
    bcos_student_acts *acts;
    bcos_adam opt;
    float *grads, *x6, *normalized, *t_img, *s_emb, *ds;
    float *t_all;              /* the whole world's teacher embeddings (B_global x E), for SigLIP's negatives */
    /* the batch as the source gives it: B crops (S x S x 3), and per slot the caption's text
     * embedding (E floats) where has_txt is set */
    uint8_t *crops;
    float *txt_emb;
    int *has_txt;
    int train_count, B, E, S; /* train_count: of the in-memory images; B: this rank's share of the batch */
    int B_global, rank, world; /* the batch of all ranks (cfg->batch_size); this rank of world */
    /* the data position: the next step to train and the samples drawn since the start of the run */
    int64_t step, samples_seen, skipped_steps;
    /* the store: rank 0's, NULL without a run name and on the other ranks */
    bcos_store *store;
    int64_t run_id;
    int64_t checkpoint_step;  /* the newest committed checkpoint's step (-1: none) */
    double checkpoint_time;   /* when it was committed (or training started) */
    bcos_metric *pending;     /* metrics not yet written, one row per step (at most DISTILL_PENDING_ROWS) */
    int n_pending;
} distill_run;

/* Metrics rows written in one transaction at most: also at every progress line, so that log_every
 * sets how often, never how much memory. */
#define DISTILL_PENDING_ROWS 256

/* ---- memory (distill_memory.c) ---- */

/* Logs the run's estimated memory; refuses (-1 with err naming batch_size, the estimate and the
 * limit) a run that cannot fit. Called once the teacher and student exist, before the buffers. */
int distill_memory_check(const distill_run *run, char *err, size_t errlen);

/* ---- the store (distill_store.c) ---- */

/* Open the store, begin (or take up) the run and, when it has a usable checkpoint, restore it from
 * it. Without a run name there is nothing to do. Returns 0, or -1 with err. */
int distill_store_begin(distill_run *run, char *err, size_t errlen);
/* Record the metrics of a step just trained (written at the next flush); a skipped one also as an event. */
void distill_store_step_done(distill_run *run, const bcos_metric *m, int skipped);
/* Write the pending metrics in one transaction. */
void distill_store_flush(distill_run *run);
/* After a step, or after a wait for a batch given up on a request to stop (no step trained):
 * checkpoint when one is due (every n steps or minutes, the last step, a request) and run->step has
 * none yet. Sets *stop when a request to stop was honoured. Returns 0, or -1 with err. */
int distill_store_after_step(distill_run *run, int *stop, char *err, size_t errlen);
/* Whether a request to stop (a signal) came that no step has acted on yet, in a run with a name
 * (without one requests are ignored): a source waiting for data asks, so as to give up the wait. */
int distill_stop_pending(const distill_run *run);
/* Flush, set the run's status (a failed run gets a failure event with why, its error) and close the store. */
void distill_store_end(distill_run *run, bcos_run_status status, const char *why);

/* ---- checkpoints (distill_checkpoint.c) ---- */

/* Commit a checkpoint of the run at run->step: the student (bcos_student_save's format, with the
 * teacher's text tower), Adam's m and v, and every rank's data position. Called on every rank;
 * rank 0 writes. Returns 0, or -1 with err. */
int distill_checkpoint_commit(distill_run *run, char *err, size_t errlen);
/* Restore the run from a verified checkpoint of its own: called on every rank, with rank 0's record in
 * *c (the other ranks' *c is filled from it, for bcos_checkpoint_free). Returns 0, or -1 with err. */
int distill_checkpoint_restore(distill_run *run, bcos_checkpoint *c, char *err, size_t errlen);

#endif
