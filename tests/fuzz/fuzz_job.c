/* libFuzzer target for the job reader: any input is read as a job of each kind or refused with a
 * one-line message; a job read gives a canonical text that reads back to itself. */
#include <stdlib.h>
#include <string.h>

#include "bcos/distill.h"
#include "bcos/job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The distill kind, and one with every type, range and choice the reader knows. */
static const bcos_job_option OPTIONS[] = {
    {"count", BCOS_JOB_INTEGER, "", {0, 10, 0, 1}, NULL, BCOS_JOB_TEXT, NULL},
    {"rate", BCOS_JOB_NUMBER, "", {0, 1e9, 1, 0}, NULL, BCOS_JOB_TEXT, NULL},
    {"flag", BCOS_JOB_BOOLEAN, "", BCOS_JOB_NO_RANGE, NULL, BCOS_JOB_TEXT, NULL},
    {"mode", BCOS_JOB_STRING, "", BCOS_JOB_NO_RANGE, "a|bb|", BCOS_JOB_TEXT, NULL},
    {"path", BCOS_JOB_STRING, "", BCOS_JOB_NO_RANGE, NULL, BCOS_JOB_INPUT, NULL},
};
static const bcos_job_spec ALL_TYPES = {"distill", "", OPTIONS, 5};

static void read_as(const bcos_job_spec *spec, const uint8_t *data, size_t size) {
    bcos_job job;
    char err[BCOS_ERRLEN] = "";
    if (bcos_job_parse(&job, spec, (const char *)data, size, err, sizeof err) != 0) {
        if (err[0] == '\0' || strchr(err, '\n') || job.count != 0 || job.canonical) abort();
        return;
    }
    for (int i = 0; i < job.count; i++)
        if (!job.entries[i].value || bcos_job_find(&job, job.entries[i].option->name) == NULL) abort();
    bcos_job again;
    if (bcos_job_parse(&again, spec, job.canonical, strlen(job.canonical), err, sizeof err) != 0 ||
        strcmp(again.canonical, job.canonical) != 0 || again.count != job.count)
        abort();
    bcos_job_free(&again);
    bcos_job_free(&job);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setenv("HOME", "/home/fuzz", 1);
    read_as(bcos_distill_job_spec(), data, size);
    read_as(&ALL_TYPES, data, size);
    return 0;
}
