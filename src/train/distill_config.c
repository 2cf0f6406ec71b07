/* The distillation settings: one table of options, read from job files (JSON) and flags alike, and
 * the job text the store records (the options that change what is trained). */
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "bcos/backend.h"
#include "bcos/check.h"
#include "bcos/distill.h"
#include "bcos/fetch.h"
#include "bcos/job.h"
#include "bcos/shard_plan.h"
#include "options_internal.h"

#define F(field) OPTION_AT(bcos_distill_config, field)
static const option OPTIONS[] = {
    {"teacher", OPT_STR, F(teacher), JOB, "CLIP weights of the teacher (safetensors)", READS},
    {"teacher_model", OPT_STR, F(teacher_model), JOB, "teacher config name or JSON (default: from the file)", TEXT},
    {"images", OPT_STR, F(images), JOB, "folder of training images (.jpg/.png; captions in .txt beside)", READS},
    {"shards", OPT_STR, F(shards), SHARDS, "or WebDataset shards: URL list ('a-{000..009}.tar', http(s)://, ::)", URLS},
    {"workers", OPT_INT, F(workers), SHARDS, "shard loader threads (part of the data order)", FROM_TO(1, BCOS_MAX_WORKERS)},
    {"train_crops", OPT_BOOL, F(train_crops), SHARDS, "random resized crop + flip per sample (else the eval crop)", FLAG},
    {"crop_scale", OPT_F64, F(crop_scale), SHARDS, "smallest area fraction a training crop keeps", NUMBER(0, 1, 1, 0)},
    {"decode", OPT_STR, F(decode), SHARDS, "exact (PIL's pixels) or fast (JPEGs shrunk in the DCT)", ONE_OF("exact|fast")},
    {"shuffle", OPT_I64, F(shuffle), SHARDS, "samples in each loader thread's shuffle buffer (0: off)",
     FROM_TO(0, BCOS_SHUFFLE_MAX)},
    {"device", OPT_STR, F(device), RUN, "cpu, or cuda (refused until the step runs on the GPU), or auto (the cpu, "
     "saying why not a GPU)", ONE_OF("cpu|cuda|auto")},
    {"out", OPT_STR, F(out), RUN, "where to save the student (.safetensors; config JSON beside)", WRITES},
    {"steps", OPT_I64, F(steps), JOB, "optimiser steps", FROM_TO(1, EXACT_MAX)},
    {"warmup_steps", OPT_I64, F(warmup_steps), JOB, "linear warmup steps", FROM_TO(0, EXACT_MAX)},
    {"batch_size", OPT_INT, F(batch_size), JOB, "images per step", FROM_TO(1, INT_MAX)},
    {"holdout", OPT_INT, F(holdout), JOB, "images held out to measure the student-teacher cosine", FROM_TO(0, INT_MAX)},
    {"log_every", OPT_INT, F(log_every), RUN, "steps between progress lines", FROM_TO(1, INT_MAX)},
    {"lr", OPT_F64, F(lr), JOB, "peak learning rate", ABOVE(0)},
    {"min_lr", OPT_F64, F(min_lr), JOB, "learning rate at the end of the cosine", AT_LEAST(0)},
    {"weight_decay", OPT_F64, F(weight_decay), JOB, "weight decay", AT_LEAST(0)},
    {"beta1", OPT_F64, F(beta1), JOB, "Adam beta1", FROM_BELOW(0, 1)},
    {"beta2", OPT_F64, F(beta2), JOB, "Adam beta2", FROM_BELOW(0, 1)},
    {"eps", OPT_F64, F(eps), JOB, "Adam epsilon", ABOVE(0)},
    {"grad_clip", OPT_F64, F(grad_clip), JOB, "global gradient norm clip (0: off)", AT_LEAST(0)},
    {"agc_clip", OPT_F64, F(agc_clip), JOB, "adaptive gradient clipping factor (0: off)", AT_LEAST(0)},
    {"optimizer", OPT_STR, F(optimizer), JOB, "adamw or adam", ONE_OF("adamw|adam")},
    {"loss", OPT_STR, F(loss), JOB, "cosine or siglip", ONE_OF("cosine|siglip")},
    {"w_img", OPT_F64, F(w_img), JOB, "weight of the cosine to the teacher's image embedding", AT_LEAST(0)},
    {"w_txt", OPT_F64, F(w_txt), JOB, "weight of the cosine to the caption's text embedding", AT_LEAST(0)},
    {"seed", OPT_I64, F(seed), JOB, "random seed", FROM_TO(-EXACT_MAX, EXACT_MAX)},
    /* B's cos^(B-1) factor underflows float32 long before B = 100 */
    {"b", OPT_F32, F(student.b), JOB, "B-cos exponent B", FROM_TO(1, 100)},
    {"b_ramp_steps", OPT_I64, F(student.b_ramp_steps), JOB, "steps over which B rises from 1 (0: no ramp)",
     FROM_TO(0, EXACT_MAX)},
    {"keep_biases", OPT_BOOL, F(student.keep_biases), JOB, "keep biases (decayed) instead of removing them", FLAG},
    {"bias_decay_steps", OPT_I64, F(student.bias_decay_steps), JOB, "steps over which kept biases decay to 0",
     FROM_TO(0, EXACT_MAX)},
    {"plain_proj", OPT_BOOL, F(student.plain_proj), JOB, "keep the final projection plain", FLAG},
    {"bcos_c_proj", OPT_BOOL, F(student.bcos_c_proj), JOB, "ResNet: make the attention pool's c_proj a B-cos unit",
     FLAG},
    {"keep_pos", OPT_BOOL, F(student.keep_pos), JOB, "ResNet: keep the attention pool's positional embedding", FLAG},
    {"per_rank_bn", OPT_BOOL, F(student.per_rank_bn), JOB,
     "ResNet: BatchNorm statistics of each rank's images, not of the global batch", FLAG},
    {"run", OPT_STR, F(run), RUN, "the run's name in the store (default: the job file's name)", TEXT},
    {"db", OPT_STR, F(db), RUN, "the store (default: $BCOS_DB, else ./bcos.db)", STORE_DB},
    {"checkpoint_every", OPT_I64, F(checkpoint_every), RUN, "steps between checkpoints (0: only the last)",
     FROM_TO(0, EXACT_MAX)},
    {"checkpoint_minutes", OPT_F64, F(checkpoint_minutes), RUN, "minutes between checkpoints (0: off)", AT_LEAST(0)},
    {"keep_last", OPT_INT, F(keep_last), RUN, "newest complete checkpoints kept", FROM_TO(1, INT_MAX)},
    {"keep_every", OPT_I64, F(keep_every), RUN, "also keep every checkpoint at a multiple of this step (0: none)",
     FROM_TO(0, EXACT_MAX)},
    {"resume", OPT_BOOL, F(resume), RUN, "insist on resuming (a run that exists resumes anyway)", FLAG},
    {"ready_batches", OPT_INT, F(ready_batches), RUN, "batches each shard loader thread prepares ahead",
     FROM_TO(1, 1024)},
    {"connect_timeout_ms", OPT_INT, F(connect_timeout_ms), RUN, "shards over http(s): connect timeout",
     FROM_TO(1, MS_MAX)},
    {"stall_timeout_ms", OPT_INT, F(stall_timeout_ms), RUN, "shards over http(s): a stalled transfer is retried after this",
     FROM_TO(1, MS_MAX)},
    {"retries", OPT_INT, F(retries), RUN, "shards over http(s): retries per shard", FROM_TO(0, 1000)},
    {"backoff_ms", OPT_INT, F(backoff_ms), RUN, "shards over http(s): first retry delay (doubles)", FROM_TO(0, MS_MAX)},
    {"max_wait_ms", OPT_I64, F(max_wait_ms), RUN,
     "shards over http(s): a shard is given up after this much waiting in all (0: no bound)", FROM_TO(0, EXACT_MAX)},
    {"max_lost", OPT_I64, F(max_lost), RUN, "samples the run may lose with broken or missing shards and still succeed",
     FROM_TO(0, EXACT_MAX)},
    {"ca_file", OPT_STR, F(ca_file), RUN, "shards over https: PEM bundle of trusted CAs (default: the system's)", READS},
};
#undef F

void bcos_distill_defaults(bcos_distill_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->steps = 1000;
    cfg->warmup_steps = 100;
    cfg->batch_size = 32;
    cfg->holdout = 0;
    cfg->log_every = 10;
    cfg->lr = 1e-4;
    cfg->beta1 = 0.9;
    cfg->beta2 = 0.999;
    cfg->eps = 1e-8;
    strcpy(cfg->optimizer, "adamw");
    strcpy(cfg->loss, "cosine");
    cfg->w_img = 1.0;
    cfg->seed = 0;
    cfg->student = bcos_student_default_options();
    cfg->checkpoint_minutes = 30;
    cfg->keep_last = 3;
    cfg->workers = 2;
    cfg->shuffle = 256;
    cfg->train_crops = 1;
    cfg->crop_scale = 0.08;
    strcpy(cfg->decode, "exact");
    strcpy(cfg->device, "cpu");
    cfg->ready_batches = 2;
    bcos_fetch_options fetch;
    bcos_fetch_options_default(&fetch);
    cfg->connect_timeout_ms = (int)fetch.connect_timeout_ms;
    cfg->stall_timeout_ms = (int)fetch.low_speed_ms;
    cfg->retries = fetch.max_retries;
    cfg->backoff_ms = (int)fetch.backoff_ms;
    cfg->max_wait_ms = fetch.max_wait_ms;
}

static const option_table TABLE = {"distill", OPTIONS, (int)(sizeof OPTIONS / sizeof OPTIONS[0])};
static void defaults(void *cfg) { bcos_distill_defaults(cfg); }
static option_kind KIND = {.table = &TABLE, .kind = "distill", .size = sizeof(bcos_distill_config),
                           .defaults = defaults,
                           .summary = "B-cosify a CLIP teacher's image tower and distill it (bcos distill)"};

int bcos_distill_set(bcos_distill_config *cfg, const char *name, const char *value, char *err, size_t errlen) {
    return option_set(&TABLE, cfg, name, value, err, errlen);
}

int bcos_distill_load_job(bcos_distill_config *cfg, const char *path, char *err, size_t errlen) {
    return option_load_job(&KIND, cfg, path, err, errlen);
}

const bcos_job_spec *bcos_distill_job_spec(void) { return option_kind_spec(&KIND); }

int bcos_distill_validate(const bcos_distill_config *c, char *err, size_t errlen) {
    if (option_check_ranges(&TABLE, c, err, errlen) != 0) return -1;
    const char *problem = NULL;
    if (!c->teacher[0]) problem = "no teacher weights ('teacher')";
    else if (!c->images[0] == !c->shards[0]) problem = "give exactly one of 'images' (a folder) and 'shards' (a URL list)";
    else if (c->w_img + c->w_txt <= 0) problem = "'w_img' + 'w_txt' must be positive";
    else if (c->resume && !c->run[0]) problem = "'resume' needs a run name ('run')";
    else if (c->shards[0] && c->holdout > 0) problem = "'holdout' needs 'images' (shards hold nothing out yet)";
    char note[256];
    if (!problem) return bcos_backend_for_host_model(c->device, note, sizeof note, err, errlen) ? 0 : -1;
    snprintf(err, errlen, "%s", problem);
    return -1;
}

char *bcos_distill_job_text(const bcos_distill_config *cfg) {
    return option_job_text(&TABLE, cfg, "distill", cfg->shards[0] != 0);
}

void bcos_distill_print_options(const bcos_distill_config *cfg) { option_print(&TABLE, cfg); }
