/* The `bcos` command: dispatches to one subcommand per file in src/cli/. */
#include <stdio.h>
#include <string.h>

#include "bcos/check.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: bcos COMMAND [ARGS]\n"
            "commands:\n"
            "  --version    print the version\n");
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
    bcos_fail("unknown command '%s' (try 'bcos --help')", argv[1]);
}
