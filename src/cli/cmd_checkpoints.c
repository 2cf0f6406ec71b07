/* `bcos checkpoints RUN`: a run's checkpoints (complete, retired, corrupt) with their files. */
#include <getopt.h>
#include <stdio.h>

#include "bcos/check.h"
#include "cli.h"

static const char *const USAGE = "usage: bcos checkpoints RUN [--db PATH]\n"
                                 "Lists the checkpoints of RUN: step, epoch, samples seen, world size, state\n"
                                 "(complete, retired by retention, corrupt), files and their folder.\n";

int cmd_checkpoints(int argc, char **argv) {
    const char *db = NULL;
    int status = cli_parse_db_option(argc, argv, USAGE, &db);
    if (status >= 0) return status;
    if (optind != argc - 1) bcos_fail("give exactly one run name (see 'bcos checkpoints --help')");
    bcos_store *s = cli_open_store(db);
    char err[BCOS_ERRLEN];
    if (bcos_store_print_checkpoints(s, argv[optind], stdout, err, sizeof err) != 0) bcos_fail("%s", err);
    bcos_store_close(s);
    return 0;
}
