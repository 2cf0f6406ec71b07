/* The store's commands: `bcos runs` (the runs, with their status, world size, newest step and
 * checkpoints), `bcos checkpoints RUN` (a run's checkpoints: complete, retired, corrupt, with their
 * files) and `bcos store recover`, which records again, from the manifests of the checkpoint
 * folders, the runs and checkpoints that the store lost (emptied, deleted, or replaced by an older
 * copy). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "bcos/check.h"
#include "cli.h"

static const char *const RUNS_USAGE = "usage: bcos runs [--db PATH]\n"
                                      "Lists the runs in the store (default: $BCOS_DB, else ./bcos.db).\n";

int cmd_runs(int argc, char **argv) {
    const char *db = NULL;
    int status = cli_parse_db_option(argc, argv, RUNS_USAGE, &db);
    if (status >= 0) return status;
    if (optind != argc) bcos_fail("unexpected argument '%s' (see 'bcos runs --help')", argv[optind]);
    bcos_store *s = cli_open_store(db);
    bcos_store_print_runs(s, stdout);
    bcos_store_close(s);
    return 0;
}

static const char *const CHECKPOINTS_USAGE =
    "usage: bcos checkpoints RUN [--db PATH]\n"
    "Lists the checkpoints of RUN: step, epoch, samples seen, world size, state\n"
    "(complete, retired by retention, corrupt), files and their folder.\n";

int cmd_checkpoints(int argc, char **argv) {
    const char *db = NULL;
    int status = cli_parse_db_option(argc, argv, CHECKPOINTS_USAGE, &db);
    if (status >= 0) return status;
    if (optind != argc - 1) bcos_fail("give exactly one run name (see 'bcos checkpoints --help')");
    bcos_store *s = cli_open_store(db);
    char err[BCOS_ERRLEN];
    if (bcos_store_print_checkpoints(s, argv[optind], stdout, err, sizeof err) != 0) bcos_fail("%s", err);
    bcos_store_close(s);
    return 0;
}

static const char *const RECOVER_USAGE =
    "usage: bcos store recover [--db PATH]\n"
    "Records again the runs and checkpoints whose folders under PATH-checkpoints/ hold a manifest the store\n"
    "(default: $BCOS_DB, else ./bcos.db; created when missing) does not record, each file's sha256 verified,\n"
    "so that the same `bcos distill` resumes from the newest checkpoint. No checkpoint file is changed.\n";

static int recover(int argc, char **argv) {
    const char *db = NULL;
    int status = cli_parse_db_option(argc, argv, RECOVER_USAGE, &db);
    if (status >= 0) return status;
    if (optind != argc) bcos_fail("unexpected argument '%s' (see 'bcos store recover --help')", argv[optind]);
    bcos_store *s;
    char err[BCOS_ERRLEN];
    if (bcos_store_open(db, NULL, &s, err, sizeof err) != 0) bcos_fail("%s", err);
    status = bcos_store_recover(s, stdout, err, sizeof err);
    if (status == 0 && bcos_store_check_files(s, err, sizeof err) != 0) status = -1;
    bcos_store_close(s);
    if (status != 0) bcos_fail("%s", err);
    return 0;
}

int cmd_store(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "recover") == 0) return recover(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(RECOVER_USAGE, stdout);
        return 0;
    }
    if (argc < 2) bcos_fail("bcos store needs a subcommand: recover (see 'bcos store --help')");
    bcos_fail("unknown store subcommand '%s' (see 'bcos store --help')", argv[1]);
}
