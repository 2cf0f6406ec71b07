/* Contrastive pretraining (`bcos pretrain`): a small CLIP trained from image-caption pairs in
 * WebDataset shards (an image and its .txt) with CLIP's symmetric InfoNCE loss over the whole
 * global batch and a learned temperature (exp(logit_scale) clamped at 100 as open_clip does),
 * AdamW with open_clip's parameter groups, warmup + cosine; data-parallel over the world's ranks.
 * It shares distill's machinery: the store (runs of kind 'pretrain'), checkpoints with manifests
 * and exact resume, signals, the shard loader, and the Slurm script. The result is a CLIP weights
 * file in open_clip naming that distill, eval and zeroshot load as a teacher. */
#ifndef BCOS_PRETRAIN_H
#define BCOS_PRETRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "bcos/distill.h"

typedef struct {
    /* The settings shared with distill that pretraining uses: the shards and how they are read,
     * out, steps, batch, the optimiser, seed, the store, checkpoints and fetching (its options
     * table lists them). The teacher, student, loss and in-memory images are not used. */
    bcos_distill_config base;
    char model[128]; /* CLIP config name or JSON path of the model to train */
    char init[512];  /* start from these CLIP weights (empty: fresh weights drawn from seed) */
} bcos_pretrain_config;

/* open_clip's training defaults for a ViT: lr 5e-4, AdamW (0.9, 0.98), eps 1e-6, decay 0.2. */
void bcos_pretrain_defaults(bcos_pretrain_config *cfg);
/* Set one option by its name from text. Returns 0, or -1 with err naming the option. */
int bcos_pretrain_set(bcos_pretrain_config *cfg, const char *name, const char *value, char *err, size_t errlen);
/* Apply a JSON job file {"kind": "pretrain", ...}. Returns 0, or -1 with err naming the file and key. */
int bcos_pretrain_load_job(bcos_pretrain_config *cfg, const char *path, char *err, size_t errlen);
/* The options as `bcos run` and schemas/job.schema.json describe them (bcos/job.h). */
const bcos_job_spec *bcos_pretrain_job_spec(void);
/* Check the settings together. Returns 0, or -1 with err. */
int bcos_pretrain_validate(const bcos_pretrain_config *cfg, char *err, size_t errlen);
void bcos_pretrain_print_options(const bcos_pretrain_config *cfg);
/* The job as the store records it: {"kind": "pretrain", ...}, the options that change what is trained. */
char *bcos_pretrain_job_text(const bcos_pretrain_config *cfg);

typedef struct {
    int64_t resumed_step, steps_done, skipped_steps;
    double first_loss, final_loss; /* of the first and last steps this call trained (NaN: none) */
    int preempted;
} bcos_pretrain_report;

/* Train and save the model to cfg->base.out when it is not empty (rank 0). Returns 0, or -1 with
 * err. A preempted run returns 0 with report->preempted set and nothing saved to out. */
int bcos_pretrain_run(const bcos_pretrain_config *cfg, bcos_pretrain_report *report, char *err, size_t errlen);

#endif
