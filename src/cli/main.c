/* The `bcos` command: dispatches to one subcommand per file in src/cli/. */
#include <stdio.h>
#include <string.h>

#include "bcos/check.h"
#include "cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command COMMANDS[] = {
    {"run", cmd_run, "run a job file (JSON; its \"kind\" names the command), checked whole first"},
    {"jobs", cmd_jobs, "the JSON schema of job files ('jobs schema'); check one ('jobs check JOB.json')"},
    {"pipeline", cmd_pipeline, "run a pipeline's stages in order, skipping those done ('pipeline run|status P.json')"},
    {"encode-image", cmd_encode_image, "CLIP image embeddings of image files"},
    {"encode-text", cmd_encode_text, "CLIP text embeddings of prompts"},
    {"zeroshot", cmd_zeroshot, "top classes of images from class names and templates"},
    {"eval", cmd_eval, "zero-shot classification on CLIP_benchmark datasets (webdataset layout)"},
    {"distill", cmd_distill, "B-cosify a CLIP image tower and distill it against the teacher"},
    {"bcosify", cmd_bcosify, "the untrained B-cos student of a CLIP teacher (what distill starts from)"},
    {"explain", cmd_explain, "explanation pictures of a B-cos student for an image and a prompt"},
    {"weights", cmd_weights, "inspect a weights file ('weights info FILE'), download one ('weights fetch URL')"},
    {"runs", cmd_runs, "the runs in the store"},
    {"checkpoints", cmd_checkpoints, "the checkpoints of a run"},
    {"store", cmd_store, "record again from the checkpoint files what the store lost ('store recover')"},
    {"results", cmd_results, "evaluation results: teacher vs student, as table, CSV or JSON"},
    {"report", cmd_report, "one self-contained HTML page of runs: curves, results, explanations, events"},
    {"top", cmd_top, "a live view of a run while it writes the store: step, loss, img/s, ETA"},
    {"shards", cmd_shards, "write WebDataset shards from images, IDX or COCO captions; shard sample counts"},
};
#define N_COMMANDS (int)(sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *out) {
    fprintf(out, "usage: bcos COMMAND [ARGS]   ('bcos COMMAND --help' for each)\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(out, "  %-14s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out, "  %-14s %s\n", "--version", "print the version");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("bcos %s\n", BCOS_VERSION);
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], COMMANDS[i].name) == 0) return COMMANDS[i].run(argc - 1, argv + 1);
    bcos_fail("unknown command '%s' (try 'bcos --help')", argv[1]);
}
