/* Job files: a JSON object {"kind": "<kind>", "<option>": value, ...} whose keys are a command's
 * options, each value (a string, number or boolean) handed as text to the command's setter, as if
 * given as --option value. Shared by the job kinds (distill, eval), each with its own option table. */
#ifndef BCOS_JOB_H
#define BCOS_JOB_H

#include <stddef.h>

typedef struct {
    const char *kind; /* what "kind" must be */
    /* Sets option `name` from its text: 0, or -1 with a message in err. */
    int (*set)(void *ctx, const char *name, const char *value, char *err, size_t errlen);
    /* The option a key names (keys that are spellings of one option, "log_every" and "log-every",
     * give the same), or NULL for an unknown key: two keys for one option are refused. */
    const void *(*identify)(const char *name);
    void *ctx;
} bcos_job_reader;

/* Applies the job file at path through r. 0, or -1 with "PATH: why" in err (unreadable, not an
 * object, a wrong kind, a key given twice, a value of another type, a value the setter refuses). */
int bcos_job_load(const bcos_job_reader *r, const char *path, char *err, size_t errlen);

#endif
