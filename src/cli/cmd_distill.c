/* `bcos distill [JOB.json] [--option value ...]`: B-cosify a CLIP teacher and distill the student.
 * Options come from the defaults, then the job file, then the flags, in that order. */
#include <stdio.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/distill.h"
#include "cli.h"

static void usage(const bcos_distill_config *cfg) {
    printf("usage: bcos distill [JOB.json] [--option value ...]\n"
                 "B-cosifies the teacher's image tower and distills it against the frozen teacher.\n"
                 "A job file is a JSON object {\"kind\": \"distill\", \"<option>\": value, ...}; flags override it.\n"
                 "options (boolean flags take true/false):\n");
    bcos_distill_print_options(cfg);
}

int cmd_distill(int argc, char **argv) {
    bcos_distill_config cfg;
    bcos_distill_defaults(&cfg);
    char err[BCOS_ERRLEN];
    int i = 1;
    if (i < argc && strcmp(argv[i], "--help") == 0) {
        usage(&cfg);
        return 0;
    }
    if (i < argc && strncmp(argv[i], "--", 2) != 0) {
        if (bcos_distill_load_job(&cfg, argv[i], err, sizeof err) != 0) bcos_fail("%s", err);
        i++;
    }
    for (; i < argc; i += 2) {
        if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc)
            bcos_fail("expected '--option value', got '%s' (see 'bcos distill --help')", argv[i]);
        if (bcos_distill_set(&cfg, argv[i] + 2, argv[i + 1], err, sizeof err) != 0) bcos_fail("%s", err);
    }
    if (bcos_distill_validate(&cfg, err, sizeof err) != 0) bcos_fail("distill: %s", err);
    bcos_distill_report report;
    if (bcos_distill_run(&cfg, NULL, &report, err, sizeof err) != 0) bcos_fail("%s", err);
    printf("steps %lld, skipped %lld, final loss %.6f", (long long)report.steps_done, (long long)report.skipped_steps,
           report.final_loss);
    if (cfg.holdout > 0)
        printf(", held-out cosine %.4f -> %.4f", report.holdout_cos_before, report.holdout_cos_after);
    putchar('\n');
    return 0;
}
