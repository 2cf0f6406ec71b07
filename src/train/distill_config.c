/* The distillation settings: one table of options, read from job files (JSON) and flags alike, and
 * the job text the store records (the options that change what is trained). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bcos/backend.h"
#include "bcos/check.h"
#include "bcos/distill.h"
#include "bcos/fetch.h"
#include "bcos/job.h"
#include "bcos/shard_plan.h"
#include "bcos/urls.h"

typedef enum { OPT_STR, OPT_INT, OPT_I64, OPT_F64, OPT_F32, OPT_BOOL } opt_type;

/* JOB: part of the job text (changes what is trained); SHARDS: the same, for runs on shards only
 * (so that the job text of a run on images stays what it was); RUN: how the run is kept, resumed
 * and fed. */
typedef enum { JOB, SHARDS, RUN } opt_role;

typedef struct {
    const char *name;
    opt_type type;
    size_t offset, size;
    opt_role role;
    const char *help;
    bcos_job_range valid;   /* numbers only: every one has one (a zero range is a missing one) */
    bcos_job_use use;       /* strings: what `bcos run` checks before any work */
    const char *choices;    /* strings: "a|b", or NULL for any */
} option;

/* Whole numbers a double holds exactly; steps and seeds stay below it. */
#define EXACT_MAX 9007199254740992.0
/* The last three fields of an entry: a number's range, or what a string names (its choices). */
#define NUMBER(lo, hi, lo_open, hi_open) {(lo), (hi), (lo_open), (hi_open)}, BCOS_JOB_TEXT, NULL
#define AT_LEAST(x) NUMBER(x, INFINITY, 0, 0)
#define ABOVE(x) NUMBER(x, INFINITY, 1, 0)
#define FROM_TO(a, b) NUMBER(a, b, 0, 0)
#define FROM_BELOW(a, b) NUMBER(a, b, 0, 1) /* [a, b) */
#define STRING(use) BCOS_JOB_NO_RANGE, (use), NULL
#define TEXT STRING(BCOS_JOB_TEXT)
#define READS STRING(BCOS_JOB_INPUT)
#define URLS STRING(BCOS_JOB_SOURCE)
#define WRITES STRING(BCOS_JOB_OUTPUT)
#define STORE_DB STRING(BCOS_JOB_STORE)
#define ONE_OF(choices) BCOS_JOB_NO_RANGE, BCOS_JOB_TEXT, (choices)
#define FLAG BCOS_JOB_NO_RANGE, BCOS_JOB_TEXT, NULL /* booleans */
#define MS_MAX (24 * 3600 * 1000.0)     /* a day: any longer wait is a typo */
#define F(field) offsetof(bcos_distill_config, field), sizeof(((bcos_distill_config *)0)->field)
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
#define N_OPTIONS (int)(sizeof OPTIONS / sizeof OPTIONS[0])

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

static const option *find_option(const char *name) {
    char canon[64];
    snprintf(canon, sizeof canon, "%s", name);
    for (char *p = canon; *p; p++)
        if (*p == '-') *p = '_';
    for (int i = 0; i < N_OPTIONS; i++)
        if (strcmp(OPTIONS[i].name, canon) == 0) return &OPTIONS[i];
    return NULL;
}

static int parse_number(const char *text, double *out) {
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    return errno == 0 && end != text && *end == '\0';
}

static int out_of_range(const option *o, double x, char *err, size_t errlen) {
    char why[128];
    if (bcos_job_range_check(&o->valid, x, why, sizeof why) == 0) return 0;
    snprintf(err, errlen, "option '%s': %.10g is out of range: %s", o->name, x, why);
    return -1;
}

/* A numeric field's value as a double. */
static double number_at(const option *o, const bcos_distill_config *cfg) {
    const char *field = (const char *)cfg + o->offset;
    switch (o->type) {
    case OPT_INT: return *(const int *)field;
    case OPT_I64: return (double)*(const int64_t *)field;
    case OPT_F32: return *(const float *)field;
    default: return *(const double *)field;
    }
}

int bcos_distill_set(bcos_distill_config *cfg, const char *name, const char *value, char *err, size_t errlen) {
    const option *o = find_option(name);
    if (!o) {
        snprintf(err, errlen, "unknown option '%s' (see 'bcos distill --help')", name);
        return -1;
    }
    char *field = (char *)cfg + o->offset;
    double x = 0;
    if (o->type == OPT_STR) {
        if (strlen(value) >= o->size) {
            snprintf(err, errlen, "option '%s': value of %zu bytes is longer than its limit of %zu bytes", o->name,
                     strlen(value), o->size - 1);
            return -1;
        }
        if (!bcos_job_choice_ok(o->choices, value)) {
            snprintf(err, errlen, "option '%s': '%s' is not one of %s", o->name, value, o->choices);
            return -1;
        }
        strcpy(field, value);
        return 0;
    }
    if (o->type == OPT_BOOL) {
        int on = strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
        if (!on && strcmp(value, "false") != 0 && strcmp(value, "0") != 0) {
            snprintf(err, errlen, "option '%s': '%s' is not true or false", o->name, value);
            return -1;
        }
        *(int *)field = on;
        return 0;
    }
    int real = o->type == OPT_F64 || o->type == OPT_F32;
    if (!parse_number(value, &x) || !isfinite(x) || (!real && x != floor(x))) {
        snprintf(err, errlen, "option '%s': '%s' is not a%s number", o->name, value, real ? " finite" : " whole");
        return -1;
    }
    /* the range also keeps the conversions below defined: every range fits its type */
    if (out_of_range(o, x, err, errlen) != 0) return -1;
    if (o->type == OPT_INT) *(int *)field = (int)x;
    else if (o->type == OPT_I64) *(int64_t *)field = (int64_t)x;
    else if (o->type == OPT_F32) *(float *)field = (float)x;
    else *(double *)field = x;
    return 0;
}

static int set_option(void *cfg, const char *name, const char *value, char *err, size_t errlen) {
    return bcos_distill_set(cfg, name, value, err, errlen);
}

int bcos_distill_load_job(bcos_distill_config *cfg, const char *path, char *err, size_t errlen) {
    bcos_job_reader r = {.spec = bcos_distill_job_spec(), .set = set_option, .ctx = cfg};
    return bcos_job_load(&r, path, err, errlen);
}

int bcos_distill_validate(const bcos_distill_config *c, char *err, size_t errlen) {
    for (int i = 0; i < N_OPTIONS; i++) {
        const option *o = &OPTIONS[i];
        const char *text = (const char *)c + o->offset;
        if (o->type == OPT_STR && !bcos_job_choice_ok(o->choices, text))
            return snprintf(err, errlen, "'%s' must be one of %s, not '%s'", o->name, o->choices, text), -1;
        if (o->type != OPT_STR && o->type != OPT_BOOL && out_of_range(o, number_at(o, c), err, errlen) != 0) return -1;
    }
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

/* The shortest text that reads back as x exactly (as a float when single is set). */
static void format_exact(char *value, size_t len, double x, int single) {
    for (int digits = single ? 6 : 15; digits <= 17; digits++) {
        snprintf(value, len, "%.*g", digits, x);
        double back = strtod(value, NULL);
        if (single ? (float)back == (float)x : back == x) return;
    }
}

/* An option's value as text; exact (reads back the same) when exact is set, else short for --help. */
static void format_value(char *value, size_t len, const option *o, const bcos_distill_config *cfg, int exact) {
    const char *field = (const char *)cfg + o->offset;
    switch (o->type) {
    case OPT_STR: {
        /* credentials in shard URLs are for the transfers only: never shown, never stored */
        char *shown = bcos_url_redact(field);
        snprintf(value, len, "%s", shown);
        free(shown);
        break;
    }
    case OPT_INT: snprintf(value, len, "%d", *(const int *)field); break;
    case OPT_I64: snprintf(value, len, "%lld", (long long)*(const int64_t *)field); break;
    case OPT_BOOL: snprintf(value, len, "%s", *(const int *)field ? "true" : "false"); break;
    case OPT_F64:
    case OPT_F32: {
        double x = o->type == OPT_F64 ? *(const double *)field : (double)*(const float *)field;
        if (exact) format_exact(value, len, x, o->type == OPT_F32);
        else snprintf(value, len, "%g", x);
        break;
    }
    }
}

char *bcos_distill_job_text(const bcos_distill_config *cfg) {
    cJSON *root = cJSON_CreateObject();
    BCOS_CHECK(root != NULL, "cJSON could allocate");
    cJSON_AddStringToObject(root, "kind", "distill");
    for (int i = 0; i < N_OPTIONS; i++) {
        const option *o = &OPTIONS[i];
        if (o->role == RUN || (o->role == SHARDS && !cfg->shards[0])) continue;
        char value[1100];
        format_value(value, sizeof value, o, cfg, 1);
        /* numbers as formatted here, not through cJSON's double: int64 seeds stay exact */
        if (o->type == OPT_STR) cJSON_AddStringToObject(root, o->name, value);
        else cJSON_AddRawToObject(root, o->name, value);
    }
    char *text = cJSON_PrintUnformatted(root);
    BCOS_CHECK(text != NULL, "cJSON could print");
    cJSON_Delete(root);
    return text;
}

void bcos_distill_print_options(const bcos_distill_config *cfg) {
    for (int i = 0; i < N_OPTIONS; i++) {
        const option *o = &OPTIONS[i];
        char value[1100];
        format_value(value, sizeof value, o, cfg, 0);
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", o->name);
        for (char *p = flag + 2; *p; p++)
            if (*p == '_') *p = '-';
        printf("  %-20s %s (now: %s)\n", flag, o->help, value);
    }
}

static const bcos_job_type JOB_TYPES[] = {
    [OPT_STR] = BCOS_JOB_STRING, [OPT_INT] = BCOS_JOB_INTEGER, [OPT_I64] = BCOS_JOB_INTEGER,
    [OPT_F64] = BCOS_JOB_NUMBER, [OPT_F32] = BCOS_JOB_NUMBER,  [OPT_BOOL] = BCOS_JOB_BOOLEAN,
};

/* The default of an option as JSON text (heap), or NULL where there is none (an empty string). */
static char *fallback_json(const option *o, const bcos_distill_config *defaults) {
    char value[1100];
    format_value(value, sizeof value, o, defaults, 1);
    if (o->type != OPT_STR) return xstrdup(value);
    if (!value[0]) return NULL;
    cJSON *s = cJSON_CreateString(value);
    char *text = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    return text;
}

const bcos_job_spec *bcos_distill_job_spec(void) {
    static bcos_job_option options[N_OPTIONS];
    static bcos_job_spec spec;
    if (spec.kind) return &spec;
    bcos_distill_config defaults;
    bcos_distill_defaults(&defaults);
    for (int i = 0; i < N_OPTIONS; i++) {
        const option *o = &OPTIONS[i];
        options[i] = (bcos_job_option){o->name, JOB_TYPES[o->type], o->help, o->valid, o->choices, o->use,
                                       fallback_json(o, &defaults)};
    }
    spec = (bcos_job_spec){"distill", "B-cosify a CLIP teacher's image tower and distill it (bcos distill)", options,
                           N_OPTIONS};
    return &spec;
}
