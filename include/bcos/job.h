/* Job files: a JSON object {"kind": "<kind>", "<option>": value, ...} whose keys are a command's
 * options. Each kind describes its options once (bcos_job_spec: type, range, choices, default, what a
 * path is for, help); the reader checks a whole file against that description before any value is
 * used, naming the JSON path, what was expected and what was found, and the JSON schema of job files
 * is written from the same descriptions. Strings of paths and URLs may hold ${VAR}, replaced by the
 * environment variable's value. */
#ifndef BCOS_JOB_H
#define BCOS_JOB_H

#include <stddef.h>

typedef enum { BCOS_JOB_STRING, BCOS_JOB_INTEGER, BCOS_JOB_NUMBER, BCOS_JOB_BOOLEAN } bcos_job_type;

/* What a string option names, and so what `bcos run` checks before any work. */
typedef enum {
    BCOS_JOB_TEXT,   /* anything else: no check, no ${VAR} */
    BCOS_JOB_INPUT,  /* a file or folder that is read: it must exist */
    BCOS_JOB_SOURCE, /* a URL list (brace ranges, '::'): local ones must exist, http(s) ones answer */
    BCOS_JOB_OUTPUT, /* a file or folder that is written: its nearest existing folder must be writable */
    BCOS_JOB_STORE,  /* the store's database (empty: $BCOS_DB, else ./bcos.db): it must be writable */
    BCOS_JOB_PLACE,  /* a path or URL with placeholders ({dataset}): ${VAR} replaced, no check */
} bcos_job_use;

/* The values a number may take: lo to hi, an end included unless it is marked open. */
typedef struct {
    double lo, hi;
    unsigned char lo_open, hi_open;
} bcos_job_range;

#define BCOS_JOB_NO_RANGE {0, 0, 0, 0} /* strings and booleans */

typedef struct {
    const char *name; /* the key, with '_' (a '-' spelling is the same key) */
    bcos_job_type type;
    const char *help;
    bcos_job_range range;  /* numbers */
    const char *choices;   /* strings: "adamw|adam", or NULL for any */
    bcos_job_use use;      /* strings */
    const char *fallback;  /* the default as JSON text ("0.0001", "\"exact\"", "true"), or NULL for none */
} bcos_job_option;

typedef struct {
    const char *kind;
    const char *summary;
    const bcos_job_option *options;
    int n_options;
} bcos_job_spec;

/* One checked key of a job file: its option, and its value as text (a number formatted so that it
 * reads back exactly, a boolean as true or false, a string with ${VAR} replaced where use allows). */
typedef struct {
    const bcos_job_option *option;
    char *value;
} bcos_job_entry;

typedef struct {
    int count;
    bcos_job_entry *entries; /* in file order */
    char *canonical;         /* the object as compact JSON, as written (no ${VAR} replaced) */
} bcos_job;

/* Checks the JSON text of a job against spec and fills job: 0, or -1 with "$.KEY: expected ...,
 * found ..." in err (not an object, a wrong kind, an unknown key, a key given twice, a value of
 * another type, out of range or not one of the choices, an unset ${VAR}). */
int bcos_job_parse(bcos_job *job, const bcos_job_spec *spec, const char *text, size_t len, char *err, size_t errlen);
/* bcos_job_parse of a parsed cJSON object, its errors naming paths under where ("$.stages[1].job"). */
struct cJSON;
int bcos_job_parse_json(bcos_job *job, const bcos_job_spec *spec, const struct cJSON *root, const char *where,
                        char *err, size_t errlen);
/* bcos_job_parse of the file at path, its errors prefixed with "PATH: ". */
int bcos_job_read(bcos_job *job, const bcos_job_spec *spec, const char *path, char *err, size_t errlen);
void bcos_job_free(bcos_job *job);
/* The entry of option name, or NULL when the job does not give it. */
const bcos_job_entry *bcos_job_find(const bcos_job *job, const char *name);

/* The "kind" of the job file at path (heap), or NULL with "PATH: why" in err. */
char *bcos_job_kind_of(const char *path, char *err, size_t errlen);

/* text with each ${NAME} replaced by the environment variable's value (heap), or NULL with why (an
 * unset variable, named; a '${' that starts no name). */
char *bcos_job_expand(const char *text, char *why, size_t len);
/* The option spec gives name ('_' and '-' alike), or NULL. */
const bcos_job_option *bcos_job_option_named(const bcos_job_spec *spec, const char *name);
/* 0 when x lies in range, else -1 with "it must be in [a, b)" (or "at least a", "greater than a")
 * in why. */
int bcos_job_range_check(const bcos_job_range *range, double x, char *why, size_t len);
/* Whether value is one of choices ("a|b|c"); NULL choices take anything. */
int bcos_job_choice_ok(const char *choices, const char *value);

/* A job file read into a command's settings: every checked entry handed to set as text, as if given
 * as --option value. */
typedef struct {
    const bcos_job_spec *spec;
    /* Sets option `name` from its text: 0, or -1 with a message in err. */
    int (*set)(void *ctx, const char *name, const char *value, char *err, size_t errlen);
    void *ctx;
} bcos_job_reader;

/* Reads, checks and applies the job file at path through r: 0, or -1 with "PATH: why" in err. */
int bcos_job_load(const bcos_job_reader *r, const char *path, char *err, size_t errlen);

/* The JSON schema (draft 2020-12) of the job files of the kinds given, as text (heap). */
char *bcos_job_schema(const bcos_job_spec *const *specs, int n);

#endif
