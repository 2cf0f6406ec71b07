/* `bcos pretrain [JOB.json] [--option value ...]`: train a small CLIP contrastively on image-caption
 * shards. Options come from the defaults, then the job file, then the flags. The run is kept in the
 * store under its name and the same command resumes it; signals and ranks as for `bcos distill`. */
#include <stdio.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/pretrain.h"
#include "bcos/world.h"
#include "cli.h"

static void usage(const bcos_pretrain_config *cfg) {
    printf("usage: bcos pretrain [[--] JOB.json] [--option value ...]\n"
           "Trains a CLIP contrastively (CLIP's symmetric InfoNCE over the whole batch, a learned\n"
           "temperature) on WebDataset shards of image-caption pairs (an image and its .txt), and saves\n"
           "it in open_clip naming: a teacher for 'bcos distill', 'bcos eval' and 'bcos zeroshot'.\n"
           "A job file is a JSON object {\"kind\": \"pretrain\", \"<option>\": value, ...}; flags override it.\n"
           "The run is kept in the store under its name ('run', default: the job file's name): the same\n"
           "command resumes it from its newest checkpoint. SIGUSR1 checkpoints; SIGTERM, SIGINT or\n"
           "SIGUSR2 checkpoints and stops with exit status %d (under mpirun, signal it with SIGUSR1 or\n"
           "SIGUSR2, as for 'bcos distill').\n"
           "options (boolean flags take true/false):\n",
           BCOS_EXIT_PREEMPTED);
    bcos_pretrain_print_options(cfg);
}

static int load_job(void *cfg, const char *path, char *err, size_t errlen) {
    return bcos_pretrain_load_job(cfg, path, err, errlen);
}

static int set_option(void *cfg, const char *name, const char *value, char *err, size_t errlen) {
    return bcos_pretrain_set(cfg, name, value, err, errlen);
}

static void print_summary(const bcos_pretrain_config *cfg, const bcos_pretrain_report *report) {
    const bcos_distill_config *b = &cfg->base;
    if (report->preempted) {
        printf("run '%s' stopped at step %lld of %lld after a checkpoint: the same command resumes it\n", b->run,
               (long long)report->steps_done, (long long)b->steps);
    } else {
        printf("run '%s': steps %lld", b->run, (long long)report->steps_done);
        if (report->resumed_step > 0) printf(" (resumed at %lld)", (long long)report->resumed_step);
        printf(", skipped %lld", (long long)report->skipped_steps);
        if (report->resumed_step < report->steps_done)
            printf(", loss %.6f -> %.6f", report->first_loss, report->final_loss);
        putchar('\n');
    }
    fflush(stdout);
}

int cmd_pretrain(int argc, char **argv) {
    bcos_pretrain_config cfg;
    bcos_pretrain_defaults(&cfg);
    char err[BCOS_ERRLEN];
    if (cli_train_asks_for_help(argc, argv)) {
        usage(&cfg);
        return 0;
    }
    cli_train_command command = {"pretrain", &cfg, load_job, set_option};
    cli_train_options(&command, argc, argv, cfg.base.run, sizeof cfg.base.run);
    if (bcos_pretrain_validate(&cfg, err, sizeof err) != 0) bcos_fail("pretrain: %s", err);
    cli_train_install_handlers();
    bcos_world_init(&argc, &argv);
    bcos_pretrain_report report;
    if (bcos_pretrain_run(&cfg, &report, err, sizeof err) != 0) bcos_fail("%s", err);
    if (bcos_world_rank() == 0) print_summary(&cfg, &report);
    /* after rank 0 has printed: mpirun ends the job as soon as one rank exits with 75 */
    bcos_world_finalize();
    return report.preempted ? BCOS_EXIT_PREEMPTED : 0;
}
