/* The pretraining settings: one table of options (bcos/options.h), read from job files and
 * flags alike, and the job text the store records. */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/job.h"
#include "bcos/pretrain.h"
#include "bcos/shard_plan.h"
#include "options_internal.h"

#define F(field) OPTION_AT(bcos_pretrain_config, field)
static const option OPTIONS[] = {
    {"model", OPT_STR, F(model), JOB, "CLIP config to train: a built-in name or a JSON file", TEXT},
    {"init", OPT_STR, F(init), JOB, "start from these CLIP weights (default: fresh weights from the seed)", READS},
    {"images", OPT_STR, F(base.images), JOB, "folder of images with their captions (.txt beside)", READS},
    {"shards", OPT_STR, F(base.shards), JOB, "or WebDataset shards of image-caption pairs: URL list", URLS},
    {"workers", OPT_INT, F(base.workers), JOB, "shard loader threads (part of the data order)", FROM_TO(1, BCOS_MAX_WORKERS)},
    {"train_crops", OPT_BOOL, F(base.train_crops), JOB, "random resized crop + flip per sample (else the eval crop)", FLAG},
    {"crop_scale", OPT_F64, F(base.crop_scale), JOB, "smallest area fraction a training crop keeps", NUMBER(0, 1, 1, 0)},
    {"decode", OPT_STR, F(base.decode), JOB, "exact (PIL's pixels) or fast (JPEGs shrunk in the DCT)", ONE_OF("exact|fast")},
    {"shuffle", OPT_I64, F(base.shuffle), JOB, "samples in each loader thread's shuffle buffer (0: off)",
     FROM_TO(0, BCOS_SHUFFLE_MAX)},
    {"out", OPT_STR, F(base.out), RUN, "where to save the trained CLIP (.safetensors, open_clip naming)", WRITES},
    {"steps", OPT_I64, F(base.steps), JOB, "optimiser steps", FROM_TO(1, EXACT_MAX)},
    {"warmup_steps", OPT_I64, F(base.warmup_steps), JOB, "linear warmup steps", FROM_TO(0, EXACT_MAX)},
    /* the loss needs a negative: two pairs at least */
    {"batch_size", OPT_INT, F(base.batch_size), JOB, "image-caption pairs per step (the world's)", FROM_TO(2, INT_MAX)},
    {"log_every", OPT_INT, F(base.log_every), RUN, "steps between progress lines", FROM_TO(1, INT_MAX)},
    {"lr", OPT_F64, F(base.lr), JOB, "peak learning rate", ABOVE(0)},
    {"min_lr", OPT_F64, F(base.min_lr), JOB, "learning rate at the end of the cosine", AT_LEAST(0)},
    {"weight_decay", OPT_F64, F(base.weight_decay), JOB, "weight decay (not of gains, biases and logit_scale)",
     AT_LEAST(0)},
    {"beta1", OPT_F64, F(base.beta1), JOB, "Adam beta1", FROM_BELOW(0, 1)},
    {"beta2", OPT_F64, F(base.beta2), JOB, "Adam beta2", FROM_BELOW(0, 1)},
    {"eps", OPT_F64, F(base.eps), JOB, "Adam epsilon", ABOVE(0)},
    {"grad_clip", OPT_F64, F(base.grad_clip), JOB, "global gradient norm clip (0: off)", AT_LEAST(0)},
    {"optimizer", OPT_STR, F(base.optimizer), JOB, "adamw or adam", ONE_OF("adamw|adam")},
    {"seed", OPT_I64, F(base.seed), JOB, "random seed (fresh weights, data order, crops)", FROM_TO(-EXACT_MAX, EXACT_MAX)},
    {"run", OPT_STR, F(base.run), RUN, "the run's name in the store (default: the job file's name)", TEXT},
    {"db", OPT_STR, F(base.db), RUN, "the store (default: $BCOS_DB, else ./bcos.db)", STORE_DB},
    {"checkpoint_every", OPT_I64, F(base.checkpoint_every), RUN, "steps between checkpoints (0: only the last)",
     FROM_TO(0, EXACT_MAX)},
    {"checkpoint_minutes", OPT_F64, F(base.checkpoint_minutes), RUN, "minutes between checkpoints (0: off)",
     AT_LEAST(0)},
    {"keep_last", OPT_INT, F(base.keep_last), RUN, "newest complete checkpoints kept", FROM_TO(1, INT_MAX)},
    {"keep_every", OPT_I64, F(base.keep_every), RUN, "also keep every checkpoint at a multiple of this step (0: none)",
     FROM_TO(0, EXACT_MAX)},
    {"resume", OPT_BOOL, F(base.resume), RUN, "insist on resuming (a run that exists resumes anyway)", FLAG},
    {"ready_batches", OPT_INT, F(base.ready_batches), RUN, "batches each shard loader thread prepares ahead",
     FROM_TO(1, 1024)},
    {"connect_timeout_ms", OPT_INT, F(base.connect_timeout_ms), RUN, "shards over http(s): connect timeout",
     FROM_TO(1, MS_MAX)},
    {"stall_timeout_ms", OPT_INT, F(base.stall_timeout_ms), RUN,
     "shards over http(s): a stalled transfer is retried after this", FROM_TO(1, MS_MAX)},
    {"retries", OPT_INT, F(base.retries), RUN, "shards over http(s): retries per shard", FROM_TO(0, 1000)},
    {"backoff_ms", OPT_INT, F(base.backoff_ms), RUN, "shards over http(s): first retry delay (doubles)",
     FROM_TO(0, MS_MAX)},
    {"max_wait_ms", OPT_I64, F(base.max_wait_ms), RUN,
     "shards over http(s): a shard is given up after this much waiting in all (0: no bound)", FROM_TO(0, EXACT_MAX)},
    {"max_lost", OPT_I64, F(base.max_lost), RUN,
     "samples the run may lose with broken or missing shards and still succeed", FROM_TO(0, EXACT_MAX)},
    {"ca_file", OPT_STR, F(base.ca_file), RUN, "shards over https: PEM bundle of trusted CAs (default: the system's)",
     READS},
};
#undef F
static const option_table TABLE = {"pretrain", OPTIONS, (int)(sizeof OPTIONS / sizeof OPTIONS[0])};
static void defaults(void *cfg) { bcos_pretrain_defaults(cfg); }
static option_kind KIND = {.table = &TABLE, .kind = "pretrain", .size = sizeof(bcos_pretrain_config),
                           .defaults = defaults,
                           .summary = "contrastive pretraining of a small CLIP (bcos pretrain)"};

void bcos_pretrain_defaults(bcos_pretrain_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    bcos_distill_defaults(&cfg->base);
    bcos_distill_config *b = &cfg->base;
    b->batch_size = 64;
    b->lr = 5e-4;
    b->beta2 = 0.98;
    b->eps = 1e-6;
    b->weight_decay = 0.2;
    b->w_txt = 1.0; /* the shard source reads the captions */
    b->w_img = 0.0;
    strcpy(cfg->model, "bcos-tiny");
}

int bcos_pretrain_set(bcos_pretrain_config *cfg, const char *name, const char *value, char *err, size_t errlen) {
    return option_set(&TABLE, cfg, name, value, err, errlen);
}

int bcos_pretrain_load_job(bcos_pretrain_config *cfg, const char *path, char *err, size_t errlen) {
    return option_load_job(&KIND, cfg, path, err, errlen);
}

const bcos_job_spec *bcos_pretrain_job_spec(void) { return option_kind_spec(&KIND); }

int bcos_pretrain_validate(const bcos_pretrain_config *c, char *err, size_t errlen) {
    if (option_check_ranges(&TABLE, c, err, errlen) != 0) return -1;
    const bcos_distill_config *b = &c->base;
    const char *problem = NULL;
    if (!c->model[0] && !c->init[0]) problem = "no model: a config ('model') or weights to start from ('init')";
    else if (!b->images[0] == !b->shards[0])
        problem = "give exactly one of 'images' (a folder) and 'shards' (a URL list) of image-caption pairs";
    else if (b->resume && !b->run[0]) problem = "'resume' needs a run name ('run')";
    if (!problem) return 0;
    snprintf(err, errlen, "%s", problem);
    return -1;
}

char *bcos_pretrain_job_text(const bcos_pretrain_config *cfg) { return option_job_text(&TABLE, cfg, "pretrain", 1); }

void bcos_pretrain_print_options(const bcos_pretrain_config *cfg) { option_print(&TABLE, cfg); }
