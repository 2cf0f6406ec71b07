/* The option tables of the training commands (distill, pretrain): one table per command gives each
 * option's name, type, place in the command's settings struct, role and valid range; the same code
 * sets an option from text (flags and job files alike), checks the ranges, prints --help and writes
 * the job text the store records. */
#ifndef BCOS_TRAIN_OPTIONS_INTERNAL_H
#define BCOS_TRAIN_OPTIONS_INTERNAL_H

#include <math.h>
#include <stddef.h>

#include "bcos/job.h"

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

/* A command's table over its settings struct. */
typedef struct {
    const char *command; /* "distill": named in the messages ('bcos distill --help') */
    const option *items;
    int count;
} option_table;

/* The option a name gives ("batch_size" or "batch-size"), or NULL. */
const option *option_find(const option_table *t, const char *name);
/* Set one option of cfg from text. Returns 0, or -1 with err naming the option. */
int option_set(const option_table *t, void *cfg, const char *name, const char *value, char *err, size_t errlen);
/* Every number of cfg inside its range and every string among its choices: 0, or -1 with err naming
 * the first that is not. */
int option_check_ranges(const option_table *t, const void *cfg, char *err, size_t errlen);
/* {"kind": kind, ...} with every JOB option (and the SHARDS ones when with_shards), in the table's
 * order, numbers formatted to read back exactly, credentials in URLs redacted. Heap. */
char *option_job_text(const option_table *t, const void *cfg, const char *kind, int with_shards);
/* Every option with its current value and help (for --help). */
void option_print(const option_table *t, const void *cfg);
/* The job kind's description for `bcos run` and schemas/job.schema.json (bcos/job.h): each option's
 * type, range, choices, use, help and default (from defaults, a settings struct), into spec and its
 * options[t->count], which the caller keeps (static: built once). */
void option_job_spec(const option_table *t, const void *defaults, const char *kind, const char *description,
                     bcos_job_option *options, bcos_job_spec *spec);

#endif
