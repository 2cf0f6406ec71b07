/* Inside the distill run: the state of one run, shared by its layers, each calling only the ones
 * below it: the loop (distill.c) takes a batch from a source (distill_source_internal.h), trains a
 * step on it (distill_step.c) and commits: the bookkeeping in the store (distill_store.c) and
 * what a checkpoint holds (distill_checkpoint.c). */
#ifndef BCOS_DISTILL_INTERNAL_H
#define BCOS_DISTILL_INTERNAL_H

#include <stdint.h>

#include "bcos/distill.h"
#include "bcos/store.h"
#include "bcos/train.h"
#include "distill_source_internal.h"

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
    distill_batch batch;       /* this rank's share of the batch, as the source gives it */
    int32_t *caption_ids;      /* the step's: the batch's captions packed (B x context_length) */
    float *caption_packed;     /* ... their embeddings (B x E) */
    int *captioned;            /* ... their slots */
    float *set_caption_emb;    /* the in-memory set's captions, embedded once (E floats per image) */
    int *set_has_caption;
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
    /* the source's counters summed over the world: as last recorded (2 x n_counters: recorded, then
     * room for the next sum), and the samples the data path skipped and lost so far */
    int64_t *counters;
    size_t n_counters;
    int64_t data_skipped, data_lost;
    int64_t data_skipped_before; /* data_skipped when the running epoch began */
} distill_run;

/* Metrics rows written in one transaction at most: also at every progress line, so that log_every
 * sets how often, never how much memory. */
#define DISTILL_PENDING_ROWS 256

/* ---- the step (distill_step.c) ---- */

/* Embed the in-memory set's captions once, into set_caption_emb and set_has_caption. */
void distill_embed_set_captions(distill_run *run);
/* One step on run->batch (its captions embedded first, when the source left them to the step): its
 * metrics in *m, whether it was skipped (a non-finite loss or gradient) in *skipped. */
void distill_step(distill_run *run, bcos_metric *m, int *skipped);
/* Mean student-teacher cosine over the in-memory images [first, first + count), B at a time. */
double distill_mean_cosine(distill_run *run, int first, int count, float b, float bias_scale);

/* ---- the store (distill_store.c) ---- */

/* Open the store and begin (or take up) the run; *found says whether it has a usable checkpoint,
 * then in *c (rank 0's; restore it with distill_checkpoint_restore on every rank). Without a run
 * name there is nothing to do. Returns 0, or -1 with err. */
int distill_store_begin(distill_run *run, bcos_checkpoint *c, int *found, char *err, size_t errlen);
/* The run went on from checkpoint c: note (when not empty, the data source's) as an event. */
void distill_store_resumed(distill_run *run, const bcos_checkpoint *c, const char *note);
/* Record the metrics of a step just trained (written at the next flush); a skipped one also as an event. */
void distill_store_step_done(distill_run *run, const bcos_metric *m, int skipped);
/* Write the pending metrics in one transaction. */
void distill_store_flush(distill_run *run);

/* The requests by signal that came since the last step, as agreed by the ranks (their signals; 0: none). */
typedef struct {
    int checkpoint_signal, stop_signal;
} distill_requests;
/* After a step, or after a wait for a batch given up on a request to stop (no step trained), on
 * every rank: whether a checkpoint is due (every n steps or minutes, the last step, a request);
 * always 0 without a run name (the requests in *req are taken all the same). */
int distill_store_due(distill_run *run, distill_requests *req);
/* Commit a checkpoint at run->step with this rank's data position (the source's, its epoch):
 * the pending metrics first, so that none is lost behind it. Returns 0, or -1 with err. */
int distill_store_checkpoint(distill_run *run, const char *position, int64_t epoch, char *err, size_t errlen);
/* After the checkpoint a request asked for: its event. Returns 1 when the run is to stop. */
int distill_store_answer(distill_run *run, const distill_requests *req);
/* Whether a request to stop (a signal) came that no step has acted on yet, in a run with a name
 * (without one requests are ignored): the loop asks while a source waits for data. */
int distill_stop_pending(const distill_run *run);
/* On every rank: 1 when some rank gave up its wait for data (gave_up) on a request to stop. */
int distill_agree_stop(int gave_up);
/* On every rank: the source's counters summed over the world; rank 0 records what grew since the
 * last call as events (with a store); data_skipped and data_lost follow. */
void distill_store_counters(distill_run *run, const distill_counters *c);
/* Flush, set the run's status (a failed run gets a failure event with why, its error) and close the store. */
void distill_store_end(distill_run *run, bcos_run_status status, const char *why);

/* ---- checkpoints (distill_checkpoint.c) ---- */

/* Commit a checkpoint of the run at run->step: the student (bcos_student_save's format, with the
 * teacher's text tower), Adam's m and v, and every rank's data position (position: this rank's;
 * epoch: rank 0's is recorded). Called on every rank; rank 0 writes. Returns 0, or -1 with err. */
int distill_checkpoint_commit(distill_run *run, const char *position, int64_t epoch, char *err, size_t errlen);
/* Restore the run's student, Adam state, step and samples seen from a verified checkpoint of its
 * own (the data source takes up its position itself): called on every rank, with rank 0's record
 * in *c (the other ranks' *c is filled from it, for bcos_checkpoint_free). Returns 0, or -1 with err. */
int distill_checkpoint_restore(distill_run *run, bcos_checkpoint *c, char *err, size_t errlen);

#endif
