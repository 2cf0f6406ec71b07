/* The command line of the commands whose options are one table (bcos/options.h): `bcos COMMAND
 * [JOB.json] [--option value ...]`, getopt's flags built from the table, the job file read through
 * the same table, then the flags (which win). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "bcos/check.h"
#include "cli.h"

/* One flag of the table as getopt_long takes it: --batch-size for batch_size; a flag with a bare
 * value may go without one (--force, --fashion-mnist[=DIR]). */
static struct option long_option(const option *o, int index) {
    char *name = xstrdup(o->name);
    for (char *p = name; *p; p++)
        if (*p == '_') *p = '-';
    int has_arg = !o->bare ? required_argument : o->type == OPT_BOOL ? no_argument : optional_argument;
    return (struct option){name, has_arg, NULL, 256 + index};
}

/* The flags as given, applied once the job file (if any) is read. */
typedef struct {
    const char *name, *value;
} given_flag;

void cli_table_args(option_kind *k, const char *usage, void *cfg, int argc, char **argv) {
    const option_table *t = k->table;
    k->defaults(cfg);
    struct option *long_opts = xcalloc((size_t)t->count + 2, sizeof *long_opts);
    for (int i = 0; i < t->count; i++) long_opts[i] = long_option(&t->items[i], i);
    long_opts[t->count] = (struct option){"help", no_argument, NULL, 'h'};
    given_flag *flags = xmalloc((size_t)argc * sizeof *flags);
    int n_flags = 0;
    optind = 1;
    opterr = 0; /* one line of our own instead */
    for (int c; (c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1;) {
        if (c == 'h') fputs(usage, stdout), exit(0);
        if (c < 256) cli_bad_option(t->command, argc, argv);
        const option *o = &t->items[c - 256];
        flags[n_flags++] = (given_flag){o->name, optarg ? optarg : o->bare};
    }
    if (optind + 1 < argc)
        bcos_fail("bcos %s: unexpected argument '%s' (see 'bcos %s --help')", t->command, argv[optind + 1], t->command);
    char err[BCOS_ERRLEN];
    if (optind < argc && option_load_job(k, cfg, argv[optind], err, sizeof err) != 0) bcos_fail("%s", err);
    for (int i = 0; i < n_flags; i++)
        if (option_set(t, cfg, flags[i].name, flags[i].value, err, sizeof err) != 0) bcos_fail("%s", err);
    free(flags);
    for (int i = 0; i < t->count; i++) free((char *)long_opts[i].name);
    free(long_opts);
}

const char *cli_given(const char *text) { return text[0] ? text : NULL; }
