/* The option tables of the training commands (distill, pretrain): one table per command gives each
 * option's name, type, place in the command's settings struct, role and valid range; the same code
 * sets an option from text (flags and job files alike), checks the ranges, prints --help and writes
 * the job text the store records. */
#ifndef BCOS_TRAIN_OPTIONS_INTERNAL_H
#define BCOS_TRAIN_OPTIONS_INTERNAL_H

#include <math.h>
#include <stddef.h>

typedef enum { OPT_STR, OPT_INT, OPT_I64, OPT_F64, OPT_F32, OPT_BOOL } opt_type;

/* JOB: part of the job text (changes what is trained); SHARDS: the same, for runs on shards only
 * (so that the job text of a run on images stays what it was); RUN: how the run is kept, resumed
 * and fed. */
typedef enum { JOB, SHARDS, RUN } opt_role;

/* The values a number may take: lo to hi, an end included unless it is marked open. Every number
 * of the table has one (a zero range is a missing one, caught when the table is used). */
typedef struct {
    double lo, hi;
    unsigned char lo_open, hi_open;
} range;

typedef struct {
    const char *name;
    opt_type type;
    size_t offset, size;
    opt_role role;
    const char *help;
    range valid; /* numbers only */
} option;

/* Whole numbers a double holds exactly; steps and seeds stay below it. */
#define EXACT_MAX 9007199254740992.0
#define NONE {0, 0, 0, 0} /* strings and booleans */
#define AT_LEAST(x) {(x), INFINITY, 0, 0}
#define ABOVE(x) {(x), INFINITY, 1, 0}
#define FROM_TO(a, b) {(a), (b), 0, 0}
#define FROM_BELOW(a, b) {(a), (b), 0, 1} /* [a, b) */
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
/* Every number of cfg inside its range: 0, or -1 with err naming the first that is not. */
int option_check_ranges(const option_table *t, const void *cfg, char *err, size_t errlen);
/* {"kind": kind, ...} with every JOB option (and the SHARDS ones when with_shards), in the table's
 * order, numbers formatted to read back exactly, credentials in URLs redacted. Heap. */
char *option_job_text(const option_table *t, const void *cfg, const char *kind, int with_shards);
/* Every option with its current value and help (for --help). */
void option_print(const option_table *t, const void *cfg);

#endif
