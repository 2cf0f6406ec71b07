/* What the training commands (distill, pretrain) share on the command line: the job file and the
 * flags over it, the run's name from the job file, and the signals that ask a run to checkpoint
 * (SIGUSR1) or to checkpoint and stop (SIGTERM, SIGINT, SIGUSR2; a second one kills at once). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/train.h"
#include "cli.h"

/* "jobs/distill-tiny.json" -> "distill-tiny" */
static void name_from_job(char *out, size_t len, const char *job) {
    const char *base = strrchr(job, '/');
    snprintf(out, len, "%s", base ? base + 1 : job);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = '\0';
}

int cli_train_asks_for_help(int argc, char **argv) {
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (cli_is_help(argv[i])) return 1;
        if (strncmp(argv[i], "--", 2) == 0) i++;
    }
    return 0;
}

void cli_train_options(const cli_train_command *c, int argc, char **argv, char *run, size_t runlen) {
    char err[BCOS_ERRLEN];
    int i = 1, job_follows = i < argc && strcmp(argv[i], "--") == 0; /* "--": the job's name starts with '-' */
    i += job_follows;
    const char *job = NULL;
    if (i < argc && (job_follows || argv[i][0] != '-')) {
        job = argv[i++];
        if (c->load_job(c->cfg, job, err, sizeof err) != 0) bcos_fail("%s", err);
    }
    for (; i < argc; i += 2) {
        if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc)
            bcos_fail("expected '--option value', got '%s' (see 'bcos %s --help')", argv[i], c->name);
        if (c->set(c->cfg, argv[i] + 2, argv[i + 1], err, sizeof err) != 0) bcos_fail("%s", err);
    }
    if (!run[0] && job) name_from_job(run, runlen, job);
    if (!run[0]) bcos_fail("%s: the run needs a name: --run NAME (a job file gives its own name)", c->name);
}

static void on_checkpoint_signal(int signo) { bcos_train_request(signo, 0); }
static void on_stop_signal(int signo) { bcos_train_request(signo, 1); }

void cli_train_install_handlers(void) {
    struct sigaction checkpoint = {.sa_handler = on_checkpoint_signal, .sa_flags = SA_RESTART};
    /* SA_RESETHAND: a second stop signal of the same kind is not caught, it kills */
    struct sigaction stop = {.sa_handler = on_stop_signal, .sa_flags = SA_RESTART | SA_RESETHAND};
    sigemptyset(&checkpoint.sa_mask);
    sigemptyset(&stop.sa_mask);
    BCOS_CHECK(sigaction(SIGUSR1, &checkpoint, NULL) == 0 && sigaction(SIGTERM, &stop, NULL) == 0 &&
                   sigaction(SIGINT, &stop, NULL) == 0 && sigaction(SIGUSR2, &stop, NULL) == 0,
               "cannot install the signal handlers");
}
