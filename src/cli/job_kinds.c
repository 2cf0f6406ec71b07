/* The job kinds: `bcos run JOB.json` (the whole file checked, then the kind's command run on it),
 * `bcos jobs schema` (schemas/job.schema.json, written from the kinds' option tables) and `bcos jobs
 * check`. A new kind is one line of KINDS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/distill.h"
#include "bcos/pretrain.h"
#include "cli.h"

static const cli_job_kind KINDS[] = {
    {"distill", cmd_distill, bcos_distill_job_spec, 1},
    {"eval", cmd_eval, cli_eval_job_spec, 1},
    {"pretrain", cmd_pretrain, bcos_pretrain_job_spec, 1},
    {"explain", cmd_explain, cli_explain_job_spec, 0},
    {"shards", cmd_shards_write, cli_shards_job_spec, 0},
};
#define N_KINDS (int)(sizeof KINDS / sizeof KINDS[0])

static void run_usage(FILE *out) {
    char kinds[256];
    cli_job_kind_list(kinds, sizeof kinds);
    fprintf(out,
            "usage: bcos run JOB.json\n"
            "Runs a job file {\"kind\": KIND, \"<option>\": value, ...}, KIND one of %s (their\n"
            "options: schemas/job.schema.json, 'bcos jobs schema'). The whole file is checked first: keys,\n"
            "types, ranges and choices; input files exist, http(s) shards answer, outputs and the store can be\n"
            "written. Paths and URLs may hold ${VAR}, an environment variable.\n",
            kinds);
}

static const char *const JOBS_USAGE = "usage: bcos jobs schema          the JSON schema of job files\n"
                                      "       bcos jobs check JOB.json  check a job file as 'bcos run' does\n";

void cli_job_kind_list(char *out, size_t len) {
    out[0] = '\0';
    for (int i = 0; i < N_KINDS; i++) snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? ", " : "", KINDS[i].kind);
}

const cli_job_kind *cli_job_kind_named(const char *kind) {
    for (int i = 0; i < N_KINDS; i++)
        if (strcmp(KINDS[i].kind, kind) == 0) return &KINDS[i];
    return NULL;
}

/* The job file at path checked whole, resources included: its kind, or NULL with "PATH: why". */
static const cli_job_kind *check_job_file(const char *path, char *err, size_t errlen) {
    char *kind = bcos_job_kind_of(path, err, errlen);
    if (!kind) return NULL;
    const cli_job_kind *k = cli_job_kind_named(kind);
    if (!k) {
        char known[256];
        cli_job_kind_list(known, sizeof known);
        bcos_error(err, errlen, path, "$.kind: expected one of %s, found \"%.60s\"", known, kind);
    }
    free(kind);
    bcos_job job;
    char why[BCOS_ERRLEN];
    if (!k || bcos_job_read(&job, k->spec(), path, err, errlen) != 0) return NULL;
    int rc = cli_job_check_resources(&job, k->spec(), why, sizeof why);
    bcos_job_free(&job);
    if (rc != 0) return bcos_error(err, errlen, path, "%s", why), NULL;
    return k;
}

int cmd_run(int argc, char **argv) {
    if (argc == 2 && cli_is_help(argv[1])) return run_usage(stdout), 0;
    if (argc != 2) bcos_fail("usage: bcos run JOB.json (see 'bcos run --help')");
    char err[BCOS_ERRLEN];
    const cli_job_kind *k = check_job_file(argv[1], err, sizeof err);
    if (!k) bcos_fail("%s", err);
    char *args[] = {(char *)k->kind, argv[1], NULL};
    return k->run(2, args);
}

int cmd_jobs(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "schema") == 0) {
        const bcos_job_spec *specs[N_KINDS];
        for (int i = 0; i < N_KINDS; i++) specs[i] = KINDS[i].spec();
        char *schema = bcos_job_schema(specs, N_KINDS);
        fputs(schema, stdout);
        free(schema);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "check") == 0) {
        char err[BCOS_ERRLEN];
        const cli_job_kind *k = check_job_file(argv[2], err, sizeof err);
        if (!k) bcos_fail("%s", err);
        printf("%s: a valid %s job\n", argv[2], k->kind);
        return 0;
    }
    if (argc == 2 && cli_is_help(argv[1])) return fputs(JOBS_USAGE, stdout), 0;
    return fputs(JOBS_USAGE, stderr), 2;
}
