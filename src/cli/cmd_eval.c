/* `bcos eval`: zero-shot classification and retrieval of a weights file (a CLIP, or a B-cos student against the
 * teacher's text tower it carries) on CLIP_benchmark datasets; the options only, the evaluation is
 * src/eval. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/eval_run.h"
#include "bcos/job.h"
#include "bcos/student.h"
#include "bcos/world.h"
#include "cli.h"

static const char *const USAGE =
    "usage: bcos eval [JOB.json] (--weights W.safetensors [--model CONFIG] | --run R [--checkpoint C]\n"
    "                 [--teacher true])\n"
    "                 --datasets A[,B...] --dataset-root ROOT [--split test] [--batch-size 32] [--max-skip 0]\n"
    "                 [--predictions FILE.csv] [--name NAME] [--db PATH] [--output-dir DIR] [--skip-existing]\n"
    "                 [--classifier-cache DIR] [--tasks auto[,gridpg...]] [--gridpg-size 3]\n"
    "                 [--gridpg-grids 500] [--gridpg-seed 42] [--gridpg-smooth 0]\n"
    "Zero-shot classification (CLIP_benchmark's zeroshot_classification: acc1, acc5,\n"
    "mean_per_class_recall), or zeroshot_retrieval (image and text retrieval recall@1, 5, 10) where\n"
    "dataset_type.txt says retrieval, on datasets in CLIP_benchmark's webdataset layout. ROOT is a folder,\n"
    "file:// or http(s):// URL in which {dataset} (and {dataset_cleaned}: '/' as '-') stand for each\n"
    "dataset's name. W is a CLIP, or a B-cos student (its image tower against the teacher's text\n"
    "tower; --model is not used). --predictions writes 'dataset,key,label,top1,...,top5' (class\n"
    "indices) per sample (with --run, of one --checkpoint STEP). A dataset that fails (a shard\n"
    "unreachable, more refused samples than --max-skip) is reported and the others go on; the exit\n"
    "status is then 1.\n"
    "Results go to the store ($BCOS_DB, else ./bcos.db) as a run of kind eval named NAME (default: the\n"
    "weights file's name without .safetensors); 'bcos results --run NAME' shows them. --output-dir\n"
    "writes each dataset's CLIP_benchmark result JSON (schemas/results.schema.json) there;\n"
    "--skip-existing leaves alone the datasets whose results the run has already.\n"
    "--run R evaluates the distill run R's checkpoints (--checkpoint latest (default), all or\n"
    "STEP[,STEP...]): each one's student, its rows stored in R at that checkpoint; --teacher true\n"
    "adds R's frozen teacher (the CLIP its job names), evaluated once.\n"
    "--classifier-cache keeps each dataset's classifier in DIR, keyed by the text tower, classes and\n"
    "templates, so that later evaluations (other checkpoints of a run) read it instead of building it.\n"
    "--tasks: auto (the dataset's zero-shot task: classification, or retrieval where dataset_type.txt\n"
    "says so), zeroshot_classification, zeroshot_retrieval, gridpg. gridpg, the grid pointing game of\n"
    "a B-cos student (not a plain CLIP), builds up to --gridpg-grids grids of --gridpg-size^2 (2 to 8\n"
    "a side) images of distinct classes that the student classifies right with the highest confidence\n"
    "(classes drawn with --gridpg-seed), explains each cell's class over the grid through sliding\n"
    "windows of the student's input size (an optional --gridpg-smooth K average pool, K odd) and\n"
    "stores the mean and quartiles of the share of positive contribution inside the right cell.\n"
    "Under mpirun, each dataset's shards are spread over the ranks and their counts gathered (gridpg:\n"
    "rank 0 chooses the grids from the ranks' candidates, the ranks share their explanations).\n"
    "JOB.json, {\"kind\": \"eval\", \"<option>\": value, ...}, gives options as a file; flags win over it.\n";

/* The options, from a job file {"kind": "eval", ...} and then the flags, which win. Strings are owned. */
typedef struct {
    char *weights, *model, *datasets, *root, *split, *predictions, *name, *db, *run, *checkpoint, *classifier_cache, *output_dir;
    char *tasks;
    long batch, max_skip, skip_existing, teacher, gridpg_size, gridpg_grids, gridpg_seed, gridpg_smooth;
} eval_args;

typedef enum { OPT_STR, OPT_COUNT, OPT_FLAG, OPT_BOOL } opt_type; /* FLAG: no value on the command line */

typedef struct {
    const char *name;
    opt_type type;
    size_t offset;
    long min, max; /* counts only */
    const char *help;
    bcos_job_use use; /* strings */
    const char *fallback; /* the default as JSON text, or NULL */
} eval_option;

#define A(field) offsetof(eval_args, field)
#define ANY LONG_MAX
static const eval_option OPTIONS[] = {
    {"weights", OPT_STR, A(weights), 0, ANY, "CLIP or B-cos student weights (safetensors)", BCOS_JOB_INPUT, NULL},
    {"model", OPT_STR, A(model), 0, ANY, "config name or JSON of a CLIP (default: from the file)", BCOS_JOB_TEXT,
     NULL},
    {"datasets", OPT_STR, A(datasets), 0, ANY, "datasets, comma-separated", BCOS_JOB_TEXT, NULL},
    {"dataset-root", OPT_STR, A(root), 0, ANY, "folder or URL of the datasets; {dataset} stands for each name",
     BCOS_JOB_PLACE, NULL},
    {"split", OPT_STR, A(split), 0, ANY, "the split evaluated", BCOS_JOB_TEXT, "\"test\""},
    {"batch-size", OPT_COUNT, A(batch), 1, ANY, "images per forward pass", BCOS_JOB_TEXT, "32"},
    {"max-skip", OPT_COUNT, A(max_skip), 0, ANY, "refused samples a dataset may have and still count", BCOS_JOB_TEXT,
     "0"},
    {"predictions", OPT_STR, A(predictions), 0, ANY, "CSV of each sample's top-5 classes", BCOS_JOB_OUTPUT, NULL},
    {"name", OPT_STR, A(name), 0, ANY, "the eval run's name (default: the weights file's name)", BCOS_JOB_TEXT, NULL},
    {"run", OPT_STR, A(run), 0, ANY, "or evaluate the checkpoints of this distill run", BCOS_JOB_TEXT, NULL},
    {"checkpoint", OPT_STR, A(checkpoint), 0, ANY, "with run: latest, all or STEP[,STEP...]", BCOS_JOB_TEXT, NULL},
    {"teacher", OPT_BOOL, A(teacher), 0, ANY, "with run: also evaluate the run's frozen teacher", BCOS_JOB_TEXT,
     "false"},
    {"classifier-cache", OPT_STR, A(classifier_cache), 0, ANY, "folder keeping each dataset's classifier",
     BCOS_JOB_OUTPUT, NULL},
    {"db", OPT_STR, A(db), 0, ANY, "the store (default: $BCOS_DB, else ./bcos.db)", BCOS_JOB_STORE, NULL},
    {"output-dir", OPT_STR, A(output_dir), 0, ANY, "folder of CLIP_benchmark result JSON files", BCOS_JOB_OUTPUT,
     NULL},
    {"skip-existing", OPT_FLAG, A(skip_existing), 0, ANY, "leave alone the datasets whose results the run has",
     BCOS_JOB_TEXT, "false"},
    {"tasks", OPT_STR, A(tasks), 0, ANY,
     "tasks, comma-separated: auto (the dataset's own), zeroshot_classification, zeroshot_retrieval, gridpg",
     BCOS_JOB_TEXT, "\"auto\""},
    {"gridpg-size", OPT_COUNT, A(gridpg_size), 2, 8, "grid pointing game: n for n x n grids", BCOS_JOB_TEXT, "3"},
    {"gridpg-grids", OPT_COUNT, A(gridpg_grids), 1, 100000, "grid pointing game: number of grids", BCOS_JOB_TEXT,
     "500"},
    {"gridpg-seed", OPT_COUNT, A(gridpg_seed), 0, ANY, "grid pointing game: seed of the class draw", BCOS_JOB_TEXT,
     "42"},
    {"gridpg-smooth", OPT_COUNT, A(gridpg_smooth), 0, 63,
     "grid pointing game: average-pool size before scoring (0: none; odd)", BCOS_JOB_TEXT, "0"},
};
#undef A
#define N_OPTIONS ((int)(sizeof OPTIONS / sizeof OPTIONS[0]))

const bcos_job_spec *cli_eval_job_spec(void) {
    static bcos_job_option options[N_OPTIONS];
    static bcos_job_spec spec;
    if (spec.kind) return &spec;
    for (int i = 0; i < N_OPTIONS; i++) {
        const eval_option *o = &OPTIONS[i];
        char *name = xstrdup(o->name);
        for (char *p = name; *p; p++)
            if (*p == '-') *p = '_';
        int count = o->type == OPT_COUNT;
        options[i] = (bcos_job_option){name, count ? BCOS_JOB_INTEGER : o->type == OPT_STR ? BCOS_JOB_STRING : BCOS_JOB_BOOLEAN,
                                       o->help, count ? (bcos_job_range){(double)o->min, o->max == ANY ? INT_MAX : (double)o->max, 0, 0}
                                                      : (bcos_job_range)BCOS_JOB_NO_RANGE,
                                       NULL, o->use, o->fallback};
    }
    spec = (bcos_job_spec){"eval", "zero-shot evaluation of weights or of a distill run's checkpoints (bcos eval)",
                           options, N_OPTIONS};
    return &spec;
}

/* The option a flag or job key names ('_' and '-' alike), or NULL. */
static const eval_option *find_option(const char *name) {
    for (int i = 0; i < N_OPTIONS; i++) {
        const char *a = OPTIONS[i].name, *b = name;
        while (*a && (*a == *b || (*a == '-' && *b == '_'))) a++, b++;
        if (!*a && !*b) return &OPTIONS[i];
    }
    return NULL;
}

static int set_option(void *ctx, const char *name, const char *value, char *err, size_t errlen) {
    const eval_option *o = find_option(name);
    if (!o) return snprintf(err, errlen, "unknown option '%s' (see 'bcos eval --help')", name), -1;
    char *field = (char *)ctx + o->offset;
    if (o->type == OPT_STR) {
        free(*(char **)field);
        *(char **)field = xstrdup(value);
        return 0;
    }
    char *end;
    errno = 0;
    int boolean = o->type == OPT_FLAG || o->type == OPT_BOOL;
    long v = boolean ? (strcmp(value, "true") == 0 ? 1 : strcmp(value, "false") == 0 ? 0 : -1) : strtol(value, &end, 10);
    if (boolean ? v < 0 : (errno || end == value || *end || v < o->min || v > o->max)) {
        if (boolean) snprintf(err, errlen, "%s takes true or false, not '%s'", o->name, value);
        else if (o->max == ANY) snprintf(err, errlen, "%s takes a whole number >= %ld, not '%s'", o->name, o->min, value);
        else snprintf(err, errlen, "%s takes a whole number from %ld to %ld, not '%s'", o->name, o->min, o->max, value);
        return -1;
    }
    *(long *)field = v;
    return 0;
}

static void free_args(eval_args *a) {
    for (int i = 0; i < N_OPTIONS; i++)
        if (OPTIONS[i].type == OPT_STR) free(*(char **)((char *)a + OPTIONS[i].offset));
}

/* The flags as given, applied once the job file (if any) is read. */
typedef struct {
    const char *name, *value;
} given_flag;

static int wants_gridpg(const eval_args *a) {
    int n, found = 0;
    char **tasks = a->tasks ? cli_split_list(a->tasks, &n) : NULL;
    for (int i = 0; tasks && i < n; i++) found |= strcmp(tasks[i], "gridpg") == 0;
    if (tasks) cli_free_strings(tasks);
    return found;
}

/* --tasks names known tasks; the gridpg options make sense; a plain CLIP teacher gets no gridpg. */
static void check_tasks(const eval_args *a) {
    static const char *const KNOWN[] = {"auto", "zeroshot_classification", "zeroshot_retrieval", "gridpg"};
    int n;
    char **tasks = a->tasks ? cli_split_list(a->tasks, &n) : NULL;
    for (int i = 0; tasks && i < n; i++) {
        int known = 0;
        for (size_t k = 0; k < sizeof KNOWN / sizeof KNOWN[0]; k++) known |= strcmp(tasks[i], KNOWN[k]) == 0;
        if (!known)
            bcos_fail("--tasks: unknown task '%s' (auto, zeroshot_classification, zeroshot_retrieval, gridpg)", tasks[i]);
    }
    if (tasks) cli_free_strings(tasks);
    if (a->gridpg_smooth % 2 == 0 && a->gridpg_smooth != 0)
        bcos_fail("--gridpg-smooth takes an odd window (the pool is centred) or 0 for none, not %ld", a->gridpg_smooth);
    if (a->teacher && wants_gridpg(a))
        bcos_fail("--tasks gridpg explains B-cos students, and --teacher true adds the run's plain CLIP teacher: "
                  "evaluate the teacher in a call without gridpg");
}

static void parse_args(eval_args *a, int argc, char **argv) {
    struct option long_opts[N_OPTIONS + 2];
    for (int i = 0; i < N_OPTIONS; i++)
        long_opts[i] = (struct option){OPTIONS[i].name, OPTIONS[i].type == OPT_FLAG ? no_argument : required_argument,
                                       0, 256 + i};
    long_opts[N_OPTIONS] = (struct option){"help", no_argument, 0, 'h'};
    long_opts[N_OPTIONS + 1] = (struct option){0, 0, 0, 0};
    given_flag *flags = xmalloc((size_t)argc * sizeof *flags);
    int n_flags = 0, c;
    optind = 1;
    opterr = 0; /* one line of our own instead */
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        if (c == 'h') fputs(USAGE, stdout), exit(0);
        if (c < 256) cli_bad_option("eval", argc, argv);
        const eval_option *o = &OPTIONS[c - 256];
        flags[n_flags++] = (given_flag){o->name, o->type == OPT_FLAG ? "true" : optarg};
    }
    if (optind + 1 < argc) bcos_fail("bcos eval: unexpected argument '%s' (see 'bcos eval --help')", argv[optind + 1]);
    *a = (eval_args){.batch = 32, .gridpg_size = 3, .gridpg_grids = 500, .gridpg_seed = 42};
    a->split = xstrdup("test");
    char err[BCOS_ERRLEN], why[BCOS_ERRLEN];
    bcos_job_reader job = {.spec = cli_eval_job_spec(), .set = set_option, .ctx = a};
    if (optind < argc && bcos_job_load(&job, argv[optind], err, sizeof err) != 0) bcos_fail("%s", err);
    for (int i = 0; i < n_flags; i++)
        if (set_option(a, flags[i].name, flags[i].value, why, sizeof why) != 0) bcos_fail("--%s", why);
    free(flags);
    if (!a->weights == !a->run) bcos_fail("give exactly one of --weights FILE and --run NAME");
    if ((a->checkpoint || a->teacher) && !a->run) bcos_fail("--checkpoint and --teacher go with --run NAME (a distill run)");
    if (a->name && a->run) bcos_fail("--name names the eval run of a weights file; --run evaluates a distill run");
    if (a->predictions && a->run && (a->teacher || !a->checkpoint || strchr(a->checkpoint, ',') ||
                                     strcmp(a->checkpoint, "all") == 0 || strcmp(a->checkpoint, "latest") == 0))
        bcos_fail("--predictions with --run takes one --checkpoint STEP and no --teacher (its lines name no model)");
    check_tasks(a);
    if (!a->datasets) bcos_fail("missing --datasets A[,B...]");
    if (!a->root) bcos_fail("missing --dataset-root ROOT");
}

/* The run's default name: the weights file's name without folder and ".safetensors". */
static char *default_run_name(const char *weights) {
    const char *base = strrchr(weights, '/') ? strrchr(weights, '/') + 1 : weights;
    char *name = xstrdup(base);
    size_t n = strlen(name), ext = strlen(".safetensors");
    if (n > ext && strcmp(name + n - ext, ".safetensors") == 0) name[n - ext] = '\0';
    return name;
}

/* The weights file (a CLIP or a student) on every dataset, as an eval run: the failures, or -1. */
static int eval_weights(const eval_args *a, bcos_eval_job *job, const bcos_eval_options *opt, char *err,
                        size_t errlen) {
    bcos_clip clip;
    bcos_student student;
    int is_student = cli_is_student(a->weights);
    if (!is_student && wants_gridpg(a))
        bcos_fail("--tasks gridpg explains a B-cos student, and %s is a plain CLIP (students come from 'bcos distill')",
                  a->weights);
    cli_load_text_tower(&clip, a->weights, a->model);
    if (is_student && bcos_student_load_file(&student, a->weights, bcos_backend_get("auto"), err, errlen) != 0)
        bcos_fail("%s", err);
    bcos_eval_model m = {.clip = &clip, .student = is_student ? &student : NULL};
    char *run = a->name ? xstrdup(a->name) : default_run_name(a->weights);
    job->weights = a->weights;
    job->model_config = is_student ? NULL : a->model;
    job->run = run;
    int failed = bcos_eval_run(job, &m, opt, err, errlen);
    free(run);
    if (is_student) bcos_student_free(&student);
    bcos_clip_free(&clip);
    return failed;
}

int cmd_eval(int argc, char **argv) {
    bcos_world_init(&argc, &argv);
    eval_args a;
    parse_args(&a, argc, argv);
    bcos_eval_options opt = {.batch = (int)a.batch, .max_skip = a.max_skip, .classifier_cache = a.classifier_cache,
                             .gridpg_size = (int)a.gridpg_size, .gridpg_grids = (int)a.gridpg_grids,
                             .gridpg_smooth = (int)a.gridpg_smooth, .gridpg_seed = (uint64_t)a.gridpg_seed};
    bcos_fetch_options_default(&opt.fetch);
    if (a.predictions && bcos_world_rank() == 0) {
        opt.predictions = fopen(a.predictions, "w");
        if (!opt.predictions) bcos_fail("%s: %s", a.predictions, strerror(errno));
        fputs("dataset,key,label,top1,top2,top3,top4,top5\n", opt.predictions);
    }
    bcos_eval_job job = {.db = a.db, .root = a.root, .split = a.split, .output_dir = a.output_dir,
                         .skip_existing = a.skip_existing, .run = a.run,
                         .checkpoints = a.checkpoint ? a.checkpoint : "latest", .teacher = (int)a.teacher};
    char **datasets = cli_split_list(a.datasets, &job.n_datasets);
    char **tasks = a.tasks ? cli_split_list(a.tasks, &job.n_tasks) : NULL;
    job.datasets = datasets;
    job.tasks = tasks;
    char err[BCOS_ERRLEN];
    int failed = a.run ? bcos_eval_checkpoints(&job, &opt, err, sizeof err) : eval_weights(&a, &job, &opt, err, sizeof err);
    if (failed < 0) bcos_fail("%s", err);
    cli_free_strings(datasets);
    if (tasks) cli_free_strings(tasks);
    if (opt.predictions && fclose(opt.predictions) != 0) bcos_fail("%s: %s", a.predictions, strerror(errno));
    free_args(&a);
    bcos_world_finalize();
    return failed ? 1 : 0;
}
