/* `bcos results`: evaluation results from the store, teacher and student side by side, as a
 * table, CSV or CLIP_benchmark-style JSON. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "cli.h"

static const char *const USAGE =
    "usage: bcos results [--db PATH] [--run R] [--dataset D] [--checkpoint latest|all|STEP]\n"
    "                    [--model teacher|student] [--format table|csv|json]\n"
    "Evaluation results (default: every run, dataset and checkpoint, as a table with teacher and\n"
    "student side by side and their difference, each run's lines followed by the mean over its\n"
    "datasets, dataset 'average'). --checkpoint latest keeps, per run and dataset,\n"
    "the newest checkpoint with results; a teacher evaluated without a checkpoint always shows.\n"
    "The store is $BCOS_DB, else ./bcos.db.\n";

static int64_t parse_checkpoint(const char *text) {
    if (strcmp(text, "latest") == 0) return BCOS_CKPT_LATEST;
    if (strcmp(text, "all") == 0) return BCOS_RESULTS_ALL_CHECKPOINTS;
    char *end;
    errno = 0;
    long long step = strtoll(text, &end, 10);
    if (errno || end == text || *end || step < 0)
        bcos_fail("--checkpoint takes latest, all or a step number, not '%s'", text);
    return step;
}

static int parse_model(const char *text) {
    if (strcmp(text, "teacher") == 0) return BCOS_MODEL_TEACHER;
    if (strcmp(text, "student") == 0) return BCOS_MODEL_STUDENT;
    bcos_fail("--model takes teacher or student, not '%s'", text);
}

static bcos_format parse_format(const char *text) {
    if (strcmp(text, "table") == 0) return BCOS_FORMAT_TABLE;
    if (strcmp(text, "csv") == 0) return BCOS_FORMAT_CSV;
    if (strcmp(text, "json") == 0) return BCOS_FORMAT_JSON;
    bcos_fail("--format takes table, csv or json, not '%s'", text);
}

int cmd_results(int argc, char **argv) {
    static const struct option long_opts[] = {
        {"db", required_argument, 0, 'd'},         {"run", required_argument, 0, 'r'},
        {"dataset", required_argument, 0, 's'},    {"checkpoint", required_argument, 0, 'c'},
        {"model", required_argument, 0, 'm'},      {"format", required_argument, 0, 'f'},
        {"help", no_argument, 0, 'h'},             {0, 0, 0, 0}};
    const char *db = NULL;
    bcos_results_filter filter = {NULL, NULL, BCOS_RESULTS_ALL_CHECKPOINTS, -1, NULL, NULL};
    bcos_format format = BCOS_FORMAT_TABLE;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:r:s:c:m:f:h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'r': filter.run = optarg; break;
        case 's': filter.dataset = optarg; break;
        case 'c': filter.checkpoint = parse_checkpoint(optarg); break;
        case 'm': filter.model = parse_model(optarg); break;
        case 'f': format = parse_format(optarg); break;
        case 'h': fputs(USAGE, stdout); return 0;
        default: fputs(USAGE, stderr); return 2;
        }
    }
    if (optind != argc) bcos_fail("unexpected argument '%s' (see 'bcos results --help')", argv[optind]);
    bcos_store *s = cli_open_store(db);
    char err[BCOS_ERRLEN];
    if (bcos_store_print_results(s, &filter, format, stdout, err, sizeof err) != 0) bcos_fail("%s", err);
    bcos_store_close(s);
    return 0;
}
