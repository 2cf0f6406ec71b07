/* `bcos runs`: the runs in the store, with their status, world size, newest step and checkpoints. */
#include <getopt.h>
#include <stdio.h>

#include "bcos/check.h"
#include "cli.h"

static const char *const USAGE = "usage: bcos runs [--db PATH]\n"
                                 "Lists the runs in the store (default: $BCOS_DB, else ./bcos.db).\n";

int cmd_runs(int argc, char **argv) {
    static const struct option long_opts[] = {{"db", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'},
                                              {0, 0, 0, 0}};
    const char *db = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'h': fputs(USAGE, stdout); return 0;
        default: fputs(USAGE, stderr); return 2;
        }
    }
    if (optind != argc) bcos_fail("unexpected argument '%s' (see 'bcos runs --help')", argv[optind]);
    bcos_store *s = cli_open_store(db);
    bcos_store_print_runs(s, stdout);
    bcos_store_close(s);
    return 0;
}
