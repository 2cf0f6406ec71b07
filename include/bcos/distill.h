/* Single-process distillation: a frozen CLIP teacher, its B-cosified copy as the student, images
 * from an in-memory set, the cosine (or SigLIP) loss, AdamW with warmup + cosine, clipping, skipped
 * non-finite steps, a progress line, and the student saved at the end. Deterministic for a seed.
 * Its settings come from a job file (JSON) and/or command-line flags, through one option table. */
#ifndef BCOS_DISTILL_H
#define BCOS_DISTILL_H

#include <stddef.h>
#include <stdint.h>

#include "bcos/bcos.h"
#include "bcos/image_set.h"

typedef struct {
    char teacher[512];       /* CLIP weights (open_clip or transformers naming) */
    char teacher_model[128]; /* config name or JSON path; empty: from the file */
    char images[512];        /* folder of training images */
    char out[512];           /* student weights; the config JSON goes beside it (.json) */
    int64_t steps, warmup_steps;
    int batch_size, holdout, log_every;
    double lr, min_lr, weight_decay, beta1, beta2, eps, grad_clip, agc_clip;
    char optimizer[16]; /* "adamw" or "adam" */
    char loss[16];      /* "cosine" or "siglip" */
    double w_img, w_txt;
    int64_t seed;
    bcos_student_options student;
} bcos_distill_config;

/* The defaults: 1000 steps, batch 32, lr 1e-4 (the paper's), AdamW without decay, cosine loss. */
void bcos_distill_defaults(bcos_distill_config *cfg);
/* Set one option by its name ("batch_size" or "batch-size") from text. Returns 0, or -1 with err
 * naming the option (unknown name, bad value). */
int bcos_distill_set(bcos_distill_config *cfg, const char *name, const char *value, char *err, size_t errlen);
/* Apply a JSON job file {"kind": "distill", "<option>": value, ...}. Returns 0, or -1 with err
 * naming the file and the key. */
int bcos_distill_load_job(bcos_distill_config *cfg, const char *path, char *err, size_t errlen);
/* Check the settings together (paths given, sizes positive, names known). Returns 0 or -1. */
int bcos_distill_validate(const bcos_distill_config *cfg, char *err, size_t errlen);
/* Print every option with its current value and help (for --help). */
void bcos_distill_print_options(const bcos_distill_config *cfg);

typedef struct {
    int64_t steps_done, skipped_steps;
    double final_loss;
    double holdout_cos_before, holdout_cos_after; /* mean student-teacher cosine on held-out images */
} bcos_distill_report;

/* Train on set (its last cfg->holdout images held out; NULL: the images of cfg->images, decoded at
 * the teacher's size) and save the student to cfg->out when it is not empty. Returns 0, or -1 with
 * err (bad teacher weights, no images, ...). */
int bcos_distill_run(const bcos_distill_config *cfg, const bcos_image_set *set, bcos_distill_report *report,
                     char *err, size_t errlen);

#endif
