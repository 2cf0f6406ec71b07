/* `bcos report`: one self-contained HTML page of runs from the store (their facts, curves,
 * results, explanation pictures and events), written atomically to --out. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "bcos/check.h"
#include "bcos/paths.h"
#include "bcos/report.h"
#include "cli.h"

static const char *const USAGE =
    "usage: bcos report [--run NAME ...] [--db PATH] --out REPORT.html\n"
    "Writes one HTML page (self-contained: it opens offline) of the runs named (default: every run in\n"
    "the store): each run's status, job and checkpoints; its training curves (loss, cosine to the\n"
    "teacher, learning rate, gradient norm, img/s against step, preemptions marked); its results,\n"
    "teacher and student side by side; its explanation pictures; its events counted. Several runs\n"
    "are compared: curves overlaid, results as columns. The store is $BCOS_DB, else ./bcos.db.\n";

int cmd_report(int argc, char **argv) {
    static const struct option long_opts[] = {{"run", required_argument, 0, 'r'}, {"db", required_argument, 0, 'd'},
                                              {"out", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'},
                                              {0, 0, 0, 0}};
    const char *db = NULL, *out_path = NULL;
    const char **runs = xcalloc((size_t)argc + 1, sizeof *runs);
    int n_runs = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'r': runs[n_runs++] = optarg; break;
        case 'd': db = optarg; break;
        case 'o': out_path = optarg; break;
        case 'h': fputs(USAGE, stdout); free(runs); return 0;
        default: cli_bad_option("report", argc, argv);
        }
    }
    if (optind != argc) bcos_fail("unexpected argument '%s' (see 'bcos report --help')", argv[optind]);
    if (!out_path || !*out_path) bcos_fail("bcos report needs --out FILE.html (see 'bcos report --help')");
    char err[BCOS_ERRLEN];
    if (bcos_check_replaceable(out_path, err, sizeof err) != 0) bcos_fail("%s", err);
    bcos_store *s = cli_open_store(db);
    char *page = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&page, &len);
    BCOS_CHECK(out != NULL, "the machine is out of memory");
    int status = bcos_report_write(s, runs, n_runs, out, err, sizeof err);
    BCOS_CHECK(fclose(out) == 0, "the machine is out of memory");
    bcos_store_close(s);
    if (status != 0) bcos_fail("%s", err);
    if (bcos_write_file_atomic(out_path, page, len, err, sizeof err) != 0) bcos_fail("%s", err);
    printf("wrote %s (%zu bytes)\n", out_path, len);
    free(page);
    free(runs);
    return 0;
}
