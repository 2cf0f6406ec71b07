/* Option tables: one table per command gives each option's name, type, place in the command's
 * settings struct, role, help and valid range or choices; from it the same code sets an option from
 * text (flags and job files alike, with one-line errors naming the option and the value), checks
 * the ranges, and describes the command's job kind (bcos/job.h) for `bcos run` and the job schema.
 * For the files that declare a command's table: the names are short on purpose. */
#ifndef BCOS_OPTIONS_H
#define BCOS_OPTIONS_H

#include <math.h>
#include <stddef.h>

#include "bcos/job.h"

/* SIZE: a whole number (int64) that the command line may also write with a K, M or G suffix. */
typedef enum { OPT_STR, OPT_INT, OPT_I64, OPT_F64, OPT_F32, OPT_BOOL, OPT_SIZE } opt_type;

/* JOB: part of the job text (changes what is trained); SHARDS: the same, for runs on shards only
 * (so that the job text of a run on images stays what it was); RUN: how the run is kept, resumed
 * and fed. Commands that record no job text use JOB. */
typedef enum { JOB, SHARDS, RUN } opt_role;

typedef struct {
    const char *name; /* with '_'; "--batch-size" and "batch_size" both name it */
    opt_type type;
    size_t offset, size;
    opt_role role;
    const char *help;
    bcos_job_range valid;   /* numbers only: every one has one (a zero range is a missing one) */
    bcos_job_use use;       /* strings: what `bcos run` checks before any work */
    const char *choices;    /* strings: "a|b", or NULL for any */
    const char *bare;       /* the value of the flag given without one (--force), or NULL: it needs one */
} option;

/* An entry's offset and size: OPTION_AT(bcos_distill_config, steps). */
#define OPTION_AT(type, field) offsetof(type, field), sizeof(((type *)0)->field)
/* Whole numbers a double holds exactly; steps and seeds stay below it. */
#define EXACT_MAX 9007199254740992.0
/* The last fields of an entry: a number's range, or what a string names (its choices). */
#define NUMBER(lo, hi, lo_open, hi_open) {(lo), (hi), (lo_open), (hi_open)}, BCOS_JOB_TEXT, NULL, NULL
#define AT_LEAST(x) NUMBER(x, INFINITY, 0, 0)
#define ABOVE(x) NUMBER(x, INFINITY, 1, 0)
#define FROM_TO(a, b) NUMBER(a, b, 0, 0)
#define FROM_BELOW(a, b) NUMBER(a, b, 0, 1) /* [a, b) */
#define STRING(use) BCOS_JOB_NO_RANGE, (use), NULL, NULL
#define TEXT STRING(BCOS_JOB_TEXT)
#define READS STRING(BCOS_JOB_INPUT)
#define URLS STRING(BCOS_JOB_SOURCE)
#define WRITES STRING(BCOS_JOB_OUTPUT)
#define STORE_DB STRING(BCOS_JOB_STORE)
#define PLACE STRING(BCOS_JOB_PLACE)
#define ONE_OF(choices) BCOS_JOB_NO_RANGE, BCOS_JOB_TEXT, (choices), NULL
#define FLAG BCOS_JOB_NO_RANGE, BCOS_JOB_TEXT, NULL, NULL     /* booleans: --resume true */
#define SWITCH BCOS_JOB_NO_RANGE, BCOS_JOB_TEXT, NULL, "true" /* booleans: --force alone */
#define READS_OR(bare) BCOS_JOB_NO_RANGE, BCOS_JOB_INPUT, NULL, (bare) /* --flag[=PATH] */
#define MS_MAX (24 * 3600 * 1000.0)     /* a day: any longer wait is a typo */

/* The size of a string setting of the commands whose settings are only their table's (eval, explain,
 * shards write): a path or a list, with its terminating zero. */
#define OPTION_TEXT_MAX 4096

/* A command's table over its settings struct. */
typedef struct {
    const char *command; /* "distill": named in the messages ('bcos distill --help') */
    const option *items;
    int count;
} option_table;

/* The option a name gives ("batch_size" or "batch-size"), or NULL. */
const option *option_find(const option_table *t, const char *name);
/* Set one option of cfg from text. Returns 0, or -1 with err naming the option and the value. */
int option_set(const option_table *t, void *cfg, const char *name, const char *value, char *err, size_t errlen);
/* Every number of cfg inside its range and every string among its choices: 0, or -1 with err naming
 * the first that is not. */
int option_check_ranges(const option_table *t, const void *cfg, char *err, size_t errlen);
/* An option's value in cfg as text: exact (reads back the same) when exact is set, else short. */
void option_format(char *value, size_t len, const option *o, const void *cfg, int exact);
/* A command's job kind: its table, its settings' defaults, and the description `bcos run` and
 * schemas/job.schema.json read (bcos/job.h), built from them on first use. */
typedef struct {
    const option_table *table;
    const char *kind, *summary;
    size_t size;                 /* of the settings struct */
    void (*defaults)(void *cfg); /* the settings before any job file or flag */
    bcos_job_spec spec;          /* built by option_kind_spec */
} option_kind;

/* The kind's description: each option's type, range, choices, use, help and default (none for an
 * empty string or a number outside its range). */
const bcos_job_spec *option_kind_spec(option_kind *k);
/* Reads, checks (against the kind's description) and applies the job file at path to cfg through
 * the table: 0, or -1 with "PATH: why" in err. */
int option_load_job(option_kind *k, void *cfg, const char *path, char *err, size_t errlen);

#endif
