/* Inside a training run of either kind (distill: a B-cos student against a frozen teacher;
 * pretrain: a CLIP from image-caption pairs): the state of one run, shared by its layers, each
 * calling only the ones below it: the loop (train_loop.c) takes a batch from a source
 * (train_source_internal.h: the sources serve both kinds), trains a step on it (the kind's:
 * distill_step.c, pretrain.c) and commits: the bookkeeping in the store (train_store.c) and what a
 * checkpoint holds (train_checkpoint.c). What differs between the kinds is behind train_kind. */
#ifndef BCOS_TRAIN_INTERNAL_H
#define BCOS_TRAIN_INTERNAL_H

#include <stdint.h>

#include "bcos/distill.h"
#include "bcos/safetensors.h"
#include "bcos/store.h"
#include "bcos/train.h"
#include "train_source_internal.h"

typedef struct train_run train_run;

/* A file's tensors and metadata as the kind makes them; impl holds what they point into. */
typedef struct {
    bcos_st_entry *entries;
    int count;
    bcos_st_meta *meta;
    int n_meta;
    void *impl;
} train_file;

/* What a kind of run does its own way. */
typedef struct {
    const char *name;         /* "distill", "pretrain": the log lines' and the run's kind */
    bcos_run_kind run_kind;
    const char *weights_file; /* the checkpoint's weights file: "student", "model" */
    /* The job as the store records it (heap). */
    char *(*job_text)(const train_run *run);
    /* One step on run->batch: its metrics in *m, whether it was skipped (a non-finite loss or
     * gradient) in *skipped; run->step advanced. */
    void (*step)(train_run *run, bcos_metric *m, int *skipped);
    /* Step m's numbers for the progress line, after its count (images_per_s over the steps since the
     * last log line). */
    void (*describe)(const train_run *run, const bcos_metric *m, double images_per_s, char *line, size_t len);
    /* The weights as the checkpoint's weights file holds them, at run->step. */
    void (*weights_make)(const train_run *run, train_file *f);
    void (*weights_free)(train_file *f);
    /* A buffer laid out as the trained parameters (an optimiser's m or v) as entries named after
     * prefix, and its reverse (0, or -1 with err naming the tensor). */
    void (*tensors_make)(const train_run *run, train_file *f, const float *flat, const char *prefix);
    void (*tensors_free)(train_file *f);
    int (*tensors_read)(const train_run *run, const bcos_safetensors *st, const char *prefix, float *flat, char *err,
                        size_t errlen);
    /* What the weights file holds beside the trained parameters, read back into run->kept (a ResNet
     * student's running variances); NULL for a kind that keeps nothing else. */
    int (*kept_read)(train_run *run, const bcos_safetensors *st, char *err, size_t errlen);
} train_kind;

/* Everything one run holds; buffers sized for one batch. */
struct train_run {
    const train_kind *kind;
    /* the settings the shared layers read (the run's name and store, steps, batch, optimiser, data,
     * checkpoints); a pretrain run fills them from its own options */
    const bcos_distill_config *cfg;
    bcos_params *trained;      /* the parameters being trained: the student's, or the pretrained CLIP's */
    bcos_params *kept;         /* state saved with them but not trained (train_kind.kept_read); NULL: none */
    void *trainee;             /* a pretrain run's own state (pretrain.c); NULL for distill */
    train_source *source;
    distill_batch batch;       /* this rank's share of the batch, as the source gives it */
    bcos_adam opt;
    float *grads;              /* laid out as *trained */
    int B;                     /* this rank's share of the batch */
    /* distill's: the frozen teacher, the student, the in-memory images and the step's buffers */
    const bcos_image_set *set; /* the in-memory images (NULL with shards) */
    bcos_clip teacher;
    bcos_student student;
    bcos_student_acts *acts;
    float *x6, *normalized, *t_img, *s_emb, *ds;
    float *t_all;              /* the whole world's teacher embeddings (B_global x E), for SigLIP's negatives */
    int32_t *caption_ids;      /* the step's: the batch's captions packed (B x context_length) */
    float *caption_packed;     /* ... their embeddings (B x E) */
    int *captioned;            /* ... their slots */
    float *set_caption_emb;    /* the in-memory set's captions, embedded once (E floats per image) */
    int *set_has_caption;
    int train_count, E, S;     /* train_count: of the in-memory images */
    int B_global, rank, world; /* the batch of all ranks (cfg->batch_size); this rank of world */
    /* the data position: the next step to train and the samples drawn since the start of the run */
    int64_t step, samples_seen, skipped_steps;
    /* the store: rank 0's, NULL without a run name and on the other ranks */
    bcos_store *store;
    int64_t run_id;
    int64_t checkpoint_step;  /* the newest committed checkpoint's step (-1: none) */
    double checkpoint_time;   /* when it was committed (or training started) */
    bcos_metric *pending;     /* metrics not yet written, one row per step (at most TRAIN_PENDING_ROWS) */
    int n_pending;
    /* the source's counters summed over the world: as last recorded (2 x n_counters: recorded, then
     * room for the next sum), and the samples the data path skipped and lost so far */
    int64_t *counters;
    size_t n_counters;
    int64_t data_skipped, data_lost;
    int64_t data_skipped_before; /* data_skipped when the running epoch began */
};

/* Metrics rows written in one transaction at most: also at every progress line, so that log_every
 * sets how often, never how much memory. */
#define TRAIN_PENDING_ROWS 256

/* ---- the loop (train_loop.c) ---- */

/* How a call of the loop ended. */
typedef struct {
    int64_t resumed_step; /* the checkpoint's step the run went on from (0: from the start) */
    double final_loss;    /* of the last step this call trained (NaN: none) */
    int preempted;        /* stopped on request after a checkpoint */
} train_outcome;

/* The buffers every kind needs, once run->trained is set: the gradients, the batch as the source
 * fills it (S x S crops, caption ids of context_length, E-wide caption embeddings), the metrics
 * rows not yet written, and the optimiser (cfg's) over the trained parameters. */
void train_alloc(train_run *run, int S, int E, int context_length);
/* Frees what train_alloc allocated, the source and the counters. */
void train_free(train_run *run);
#define TRAIN_GIB (1024.0 * 1024.0 * 1024.0)
/* The bytes the shard loader holds ahead: each worker's ready batches, the one it fills and its
 * shuffle buffer, of S x S crops and context_length caption ids. */
double train_loader_bytes(const train_run *run, int S, int context_length);
/* A run's memory estimate, total bytes made of parts (a text for the messages), against the memory
 * the process may use: logged and 0, or -1 with err naming batch_size (what_per_step: "images"). */
int train_fits_memory(const train_run *run, const char *what_per_step, double total, const char *parts, char *err,
                      size_t errlen);
/* Begin the run in the store and, when it has a usable checkpoint, go on from it: the weights,
 * Adam's state and the step (train_checkpoint.c), then the source's data position. Returns 0, or
 * -1 with err. */
int train_begin(train_run *run, char *err, size_t errlen);
/* Train from run->step to the last step, or until a request to stop. Returns 0, or -1 with err. */
int train_loop(train_run *run, train_outcome *out, char *err, size_t errlen);
/* train_begin, then train_loop; after the last step (not after a stop), 0 while the data path lost
 * no more samples than max_lost (summed over the world) and some step was trained, else -1 with err
 * (suspect: what a run whose every step was skipped blames, "the teacher T or the settings"). */
int train_through(train_run *run, train_outcome *out, const char *suspect, char *err, size_t errlen);
/* The run's end in the store (what the source counted recorded last, unless it failed). */
void train_end(train_run *run, bcos_run_status status, const char *why);

/* ---- distill's kind (distill.c) and its step (distill_step.c) ---- */

extern const train_kind distill_kind;

/* Embed the in-memory set's captions once, into set_caption_emb and set_has_caption. */
void distill_embed_set_captions(train_run *run);
/* One step on run->batch (its captions embedded first, when the source left them to the step): its
 * metrics in *m, whether it was skipped (a non-finite loss or gradient) in *skipped. */
void distill_step(train_run *run, bcos_metric *m, int *skipped);
/* Mean student-teacher cosine over the in-memory images [first, first + count), B at a time. */
double distill_mean_cosine(train_run *run, int first, int count, float b, float bias_scale);

/* ---- the store (train_store.c) ---- */

/* Open the store and begin (or take up) the run; *found says whether it has a usable checkpoint,
 * then in *c (rank 0's; restore it with train_checkpoint_restore on every rank). Without a run
 * name there is nothing to do. Returns 0, or -1 with err. */
int train_store_begin(train_run *run, bcos_checkpoint *c, int *found, char *err, size_t errlen);
/* The run went on from checkpoint c: note (when not empty, the data source's) as an event. */
void train_store_resumed(train_run *run, const bcos_checkpoint *c, const char *note);
/* Record the metrics of a step just trained (written at the next flush); a skipped one also as an event. */
void train_store_step_done(train_run *run, const bcos_metric *m, int skipped);
/* Write the pending metrics in one transaction. */
void train_store_flush(train_run *run);

/* The requests by signal that came since the last step, as agreed by the ranks (their signals; 0: none). */
typedef struct {
    int checkpoint_signal, stop_signal;
} train_requests;
/* After a step, or after a wait for a batch given up on a request to stop (no step trained), on
 * every rank: whether a checkpoint is due (every n steps or minutes, the last step, a request);
 * always 0 without a run name (the requests in *req are taken all the same). */
int train_store_due(train_run *run, train_requests *req);
/* Commit a checkpoint at run->step with this rank's data position (the source's, its epoch):
 * the pending metrics first, so that none is lost behind it. Returns 0, or -1 with err. */
int train_store_checkpoint(train_run *run, const char *position, int64_t epoch, char *err, size_t errlen);
/* After the checkpoint a request asked for: its event. Returns 1 when the run is to stop. */
int train_store_answer(train_run *run, const train_requests *req);
/* Whether a request to stop (a signal) came that no step has acted on yet, in a run with a name
 * (without one requests are ignored): the loop asks while a source waits for data. */
int train_stop_pending(const train_run *run);
/* On every rank: 1 when some rank gave up its wait for data (gave_up) on a request to stop. */
int train_agree_stop(int gave_up);
/* On every rank: the source's counters summed over the world; rank 0 records what grew since the
 * last call as events (with a store); data_skipped and data_lost follow. */
void train_store_counters(train_run *run, const distill_counters *c);
/* Flush, set the run's status (a failed run gets a failure event with why, its error) and close the store. */
void train_store_end(train_run *run, bcos_run_status status, const char *why);

/* ---- checkpoints (train_checkpoint.c) ---- */

/* Commit a checkpoint of the run at run->step: the weights (the kind's weights file), Adam's m and v, and every rank's data position (position: this rank's;
 * epoch: rank 0's is recorded). Called on every rank; rank 0 writes. Returns 0, or -1 with err. */
int train_checkpoint_commit(train_run *run, const char *position, int64_t epoch, char *err, size_t errlen);
/* Restore the run's weights, Adam state, step and samples seen from a verified checkpoint of its
 * own (the data source takes up its position itself): called on every rank, with rank 0's record
 * in *c (the other ranks' *c is filled from it, for bcos_checkpoint_free). Returns 0, or -1 with err. */
int train_checkpoint_restore(train_run *run, bcos_checkpoint *c, char *err, size_t errlen);

#endif
