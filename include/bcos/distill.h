/* Distillation, the entry point of src/train: a frozen CLIP teacher, its B-cosified copy as the
 * student, the cosine (or SigLIP) loss, AdamW with warmup + cosine, clipping and skipped
 * non-finite steps; data-parallel over the ranks of the world (bcos/world.h: one process alone, or
 * the ranks of mpirun or srun), deterministic for a seed. Its settings come from a job file (JSON)
 * and/or command-line flags, through one option table.
 *
 * The images come from an in-memory set (a folder, decoded once) or stream from WebDataset shards
 * through the epoch loader (bcos/loader.h): a new shard order per epoch from (seed, epoch), the
 * loader's cursor in every checkpoint. A sample's caption (its .txt's first line) feeds the text
 * term, embedded by the frozen text tower.
 *
 * With a run name, progress goes to the store (bcos/store.h): metrics per step, events,
 * checkpoints (student, Adam state, every rank's data position) every so many steps or minutes, on
 * request (a signal) and at the end; a run that exists with a complete checkpoint resumes from it
 * and goes on exactly as if it had never stopped (shards resumed on another number of ranks share
 * the rest of their epoch anew). */
#ifndef BCOS_DISTILL_H
#define BCOS_DISTILL_H

#include <stddef.h>
#include <stdint.h>

#include "bcos/job.h"
#include "bcos/student.h"
#include "bcos/image.h"
#include "bcos/train.h" /* bcos_train_request: signals to a running distill */

typedef struct {
    char teacher[512];       /* CLIP weights (open_clip or transformers naming) */
    char teacher_model[128]; /* config name or JSON path; empty: from the file */
    char images[512];        /* folder of training images; or: */
    char shards[1024];       /* WebDataset shards, a URL list pattern (bcos/urls.h) */
    int workers;             /* loader worker threads (shards; part of the data order) */
    int train_crops;         /* shards: random resized crop + flip per sample (else CLIP's evaluation crop) */
    double crop_scale;       /* the smallest area fraction a training crop keeps (torchvision: 0.08) */
    char decode[8];          /* "exact" (PIL's pixels) or "fast" (JPEGs shrunk in the DCT) */
    int64_t shuffle;         /* samples in each loader worker's shuffle buffer (0: off; part of the data order) */
    char out[512];           /* student weights; the config JSON goes beside it (.json) */
    int64_t steps, warmup_steps;
    int batch_size, holdout, log_every;
    double lr, min_lr, weight_decay, beta1, beta2, eps, grad_clip, agc_clip;
    char optimizer[16]; /* "adamw" or "adam" */
    char loss[16];      /* "cosine" or "siglip" */
    double w_img, w_txt;
    int64_t seed;
    bcos_student_options student;
    /* the store; these do not change what is trained, so they are not part of the job text */
    char run[128];              /* the run's name in the store; empty: no store, no checkpoints */
    char db[512];               /* the store's database; empty: $BCOS_DB, else ./bcos.db */
    int64_t checkpoint_every;   /* steps between checkpoints (0: none but the last) */
    double checkpoint_minutes;  /* minutes between checkpoints (0: off) */
    int keep_last;              /* complete checkpoints kept (>= 1) */
    char device[8];             /* "cpu", "cuda" (refused: the model is not on the GPU yet) or "auto" */
    int64_t keep_every;         /* ... plus every one at a multiple of this step (0: none) */
    int resume;                 /* 1: the run must exist already (a run that exists resumes anyway) */
    /* how shards are fetched (bcos/fetch.h); they do not change what is trained either */
    int ready_batches;          /* batches each loader worker prepares ahead */
    int connect_timeout_ms, stall_timeout_ms, retries, backoff_ms;
    int64_t max_wait_ms;        /* a shard's total wait for the network before it is given up (0: none) */
    int64_t max_lost;           /* samples lost with broken or missing shards that still let the run succeed */
    char ca_file[512];          /* PEM bundle of trusted CAs; empty: the system store */
} bcos_distill_config;

/* The defaults: 1000 steps, batch 32, lr 1e-4 (the paper's), AdamW without decay, cosine loss. */
void bcos_distill_defaults(bcos_distill_config *cfg);
/* Set one option by its name ("batch_size" or "batch-size") from text. Returns 0, or -1 with err
 * naming the option (unknown name, bad value). */
int bcos_distill_set(bcos_distill_config *cfg, const char *name, const char *value, char *err, size_t errlen);
/* The options of a distill job file, described for the job reader and the job schema. */
const bcos_job_spec *bcos_distill_job_spec(void);
/* Apply a JSON job file {"kind": "distill", "<option>": value, ...}. Returns 0, or -1 with err
 * naming the file and the key. */
int bcos_distill_load_job(bcos_distill_config *cfg, const char *path, char *err, size_t errlen);
/* Check the settings together (paths given, sizes positive, names known). Returns 0 or -1. */
int bcos_distill_validate(const bcos_distill_config *cfg, char *err, size_t errlen);
/* Print every option with its current value and help (for --help). */
void bcos_distill_print_options(const bcos_distill_config *cfg);
/* The job as the store records it: {"kind": "distill", ...} with every option that changes what is
 * trained (not out, log_every, run, db, the checkpoint options, resume or the fetch options; the
 * shards' options only with shards), in a fixed order and format, so that a resume with the same
 * settings hashes the same. Heap; free it. */
char *bcos_distill_job_text(const bcos_distill_config *cfg);

typedef struct {
    int64_t resumed_step;             /* the checkpoint's step the run went on from (0: from the start) */
    int64_t steps_done, skipped_steps; /* counted over the whole run, resumed or not */
    double final_loss;                /* of the last step this call trained (NaN: none) */
    double holdout_cos_before, holdout_cos_after; /* mean student-teacher cosine on held-out images */
    int preempted;                    /* stopped on request (bcos_train_request) after a checkpoint */
} bcos_distill_report;

/* Train on set (its last cfg->holdout images held out; NULL: the images of cfg->images, decoded at
 * the teacher's size, or the shards of cfg->shards) and save the student to cfg->out when it is not
 * empty. Returns 0, or -1 with
 * err (bad teacher weights, no images, a store that refuses the run, ...). A preempted run returns
 * 0 with report->preempted set and the student not saved to cfg->out. */
int bcos_distill_run(const bcos_distill_config *cfg, const bcos_image_set *set, bcos_distill_report *report,
                     char *err, size_t errlen);

#endif
