/* `bcos distill [JOB.json] [--option value ...]`: B-cosify a CLIP teacher and distill the student.
 * Options come from the defaults, then the job file, then the flags, in that order. The run is
 * kept in the store under its name (default: the job file's name without folder and extension);
 * the same command resumes it. SIGUSR1 asks for a checkpoint; SIGTERM, SIGINT and SIGUSR2 for a
 * checkpoint and a stop (exit status BCOS_EXIT_PREEMPTED); a second one kills at once. Started by
 * mpirun or srun, it runs data-parallel on the launcher's ranks (bcos/world.h); rank 0 prints the
 * summary. SIGUSR2 is for mpirun, which hands SIGUSR1 and SIGUSR2 to its ranks and goes on, but
 * on SIGTERM and SIGINT kills the ranks a second after handing them on and exits 1 (Open MPI 4.1). */
#include <stdio.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/distill.h"
#include "bcos/world.h"
#include "cli.h"

static void usage(const bcos_distill_config *cfg) {
    printf("usage: bcos distill [[--] JOB.json] [--option value ...]\n"
           "B-cosifies the teacher's image tower and distills it against the frozen teacher.\n"
           "A job file is a JSON object {\"kind\": \"distill\", \"<option>\": value, ...}; flags override it.\n"
           "The run is kept in the store under its name ('run', default: the job file's name): the same\n"
           "command resumes it from its newest checkpoint. SIGUSR1 checkpoints; SIGTERM, SIGINT or\n"
           "SIGUSR2 checkpoints and stops with exit status %d. Under mpirun (data-parallel ranks),\n"
           "signal mpirun with SIGUSR1 or SIGUSR2: it hands them to every rank (on SIGTERM or SIGINT\n"
           "mpirun kills the ranks a second later and exits 1). BCOS_RANK_TIMEOUT: seconds a rank waits\n"
           "for the others before it names the silent ones and aborts (default 600).\n"
           "options (boolean flags take true/false):\n",
           BCOS_EXIT_PREEMPTED);
    bcos_distill_print_options(cfg);
}

static int load_job(void *cfg, const char *path, char *err, size_t errlen) {
    return bcos_distill_load_job(cfg, path, err, errlen);
}

static int set_option(void *cfg, const char *name, const char *value, char *err, size_t errlen) {
    return bcos_distill_set(cfg, name, value, err, errlen);
}

/* The run's outcome on stdout (flushed): how far it got, or how to resume it. */
static void print_summary(const bcos_distill_config *cfg, const bcos_distill_report *report) {
    if (report->preempted) {
        printf("run '%s' stopped at step %lld of %lld after a checkpoint: the same command resumes it\n", cfg->run,
               (long long)report->steps_done, (long long)cfg->steps);
    } else {
        printf("run '%s': steps %lld", cfg->run, (long long)report->steps_done);
        if (report->resumed_step > 0) printf(" (resumed at %lld)", (long long)report->resumed_step);
        printf(", skipped %lld", (long long)report->skipped_steps);
        if (report->resumed_step < report->steps_done) printf(", final loss %.6f", report->final_loss);
        if (cfg->holdout > 0)
            printf(", held-out cosine %.4f -> %.4f", report->holdout_cos_before, report->holdout_cos_after);
        putchar('\n');
    }
    fflush(stdout);
}

int cmd_distill(int argc, char **argv) {
    bcos_distill_config cfg;
    bcos_distill_defaults(&cfg);
    char err[BCOS_ERRLEN];
    if (cli_train_asks_for_help(argc, argv)) {
        usage(&cfg);
        return 0;
    }
    cli_train_command command = {"distill", &cfg, load_job, set_option};
    cli_train_options(&command, argc, argv, cfg.run, sizeof cfg.run);
    if (bcos_distill_validate(&cfg, err, sizeof err) != 0) bcos_fail("distill: %s", err);
    cli_train_install_handlers();
    bcos_world_init(&argc, &argv);
    bcos_distill_report report;
    if (bcos_distill_run(&cfg, NULL, &report, err, sizeof err) != 0) bcos_fail("%s", err);
    if (bcos_world_rank() == 0) print_summary(&cfg, &report);
    /* after rank 0 has printed: mpirun ends the job as soon as one rank exits with 75 */
    bcos_world_finalize();
    return report.preempted ? BCOS_EXIT_PREEMPTED : 0;
}
