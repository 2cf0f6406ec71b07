/* `bcos runs`: the runs in the store, with their status, world size, newest step and checkpoints. */
#include <getopt.h>
#include <stdio.h>

#include "bcos/check.h"
#include "cli.h"

static const char *const USAGE = "usage: bcos runs [--db PATH]\n"
                                 "Lists the runs in the store (default: $BCOS_DB, else ./bcos.db).\n";

int cmd_runs(int argc, char **argv) {
    const char *db = NULL;
    int status = cli_parse_db_option(argc, argv, USAGE, &db);
    if (status >= 0) return status;
    if (optind != argc) bcos_fail("unexpected argument '%s' (see 'bcos runs --help')", argv[optind]);
    bcos_store *s = cli_open_store(db);
    bcos_store_print_runs(s, stdout);
    bcos_store_close(s);
    return 0;
}
