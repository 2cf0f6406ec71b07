/* `bcos eval`: zero-shot classification of a weights file (a CLIP, or a B-cos student against the
 * teacher's text tower it carries) on CLIP_benchmark datasets; the options only, the evaluation is
 * src/eval. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/eval_run.h"
#include "bcos/student.h"
#include "cli.h"

static const char *const USAGE =
    "usage: bcos eval --weights W.safetensors [--model CONFIG] --datasets A[,B...] --dataset-root ROOT\n"
    "                 [--split test] [--batch-size 32] [--max-skip 0] [--predictions FILE.csv]\n"
    "                 [--run NAME] [--db PATH] [--output-dir DIR] [--skip-existing]\n"
    "Zero-shot classification (CLIP_benchmark's zeroshot_classification: acc1, acc5,\n"
    "mean_per_class_recall) on datasets in CLIP_benchmark's webdataset layout. ROOT is a folder,\n"
    "file:// or http(s):// URL in which {dataset} (and {dataset_cleaned}: '/' as '-') stand for each\n"
    "dataset's name. W is a CLIP, or a B-cos student (its image tower against the teacher's text\n"
    "tower; --model is not used). --predictions writes 'dataset,key,label,top1,...,top5' (class\n"
    "indices) per sample. A dataset that fails (a shard unreachable, more refused samples than\n"
    "--max-skip) is reported and the others go on; the exit status is then 1.\n"
    "Results go to the store ($BCOS_DB, else ./bcos.db) as a run of kind eval named NAME (default: the\n"
    "weights file's name without .safetensors); 'bcos results --run NAME' shows them. --output-dir\n"
    "writes each dataset's CLIP_benchmark result JSON (schemas/results.schema.json) there;\n"
    "--skip-existing leaves alone the datasets whose results the run has already.\n";

typedef struct {
    const char *weights, *model, *datasets, *root, *split, *predictions, *run, *db, *output_dir;
    int skip_existing;
    long batch, max_skip;
} eval_args;

static long parse_count(const char *name, const char *text, long lo) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo) bcos_fail("--%s takes a whole number >= %ld, not '%s'", name, lo, text);
    return v;
}

static void parse_args(eval_args *a, int argc, char **argv) {
    static const struct option long_opts[] = {
        {"weights", required_argument, 0, 'w'},     {"model", required_argument, 0, 'm'},
        {"datasets", required_argument, 0, 'd'},    {"dataset-root", required_argument, 0, 'r'},
        {"split", required_argument, 0, 's'},       {"batch-size", required_argument, 0, 'b'},
        {"max-skip", required_argument, 0, 'x'},    {"predictions", required_argument, 0, 'p'},
        {"run", required_argument, 0, 'n'},         {"db", required_argument, 0, 'D'},
        {"output-dir", required_argument, 0, 'o'},  {"skip-existing", no_argument, 0, 'S'},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0}};
    *a = (eval_args){.split = "test", .batch = 32};
    int c;
    optind = 1;
    opterr = 0; /* one line of our own instead */
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'w': a->weights = optarg; break;
        case 'm': a->model = optarg; break;
        case 'd': a->datasets = optarg; break;
        case 'r': a->root = optarg; break;
        case 's': a->split = optarg; break;
        case 'b': a->batch = parse_count("batch-size", optarg, 1); break;
        case 'x': a->max_skip = parse_count("max-skip", optarg, 0); break;
        case 'p': a->predictions = optarg; break;
        case 'n': a->run = optarg; break;
        case 'D': a->db = optarg; break;
        case 'o': a->output_dir = optarg; break;
        case 'S': a->skip_existing = 1; break;
        case 'h': fputs(USAGE, stdout); exit(0);
        default: cli_bad_option("eval", argc, argv);
        }
    }
    if (optind < argc) bcos_fail("bcos eval: unexpected argument '%s' (see 'bcos eval --help')", argv[optind]);
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

int cmd_eval(int argc, char **argv) {
    eval_args a;
    parse_args(&a, argc, argv);
    bcos_clip clip;
    bcos_student student;
    int is_student = cli_is_student(a.weights);
    cli_load_text_tower(&clip, a.weights, a.model);
    char err[BCOS_ERRLEN];
    if (is_student && bcos_student_load_file(&student, a.weights, bcos_backend_get("auto"), err, sizeof err) != 0)
        bcos_fail("%s", err);
    bcos_eval_model m = {.clip = &clip, .student = is_student ? &student : NULL};
    bcos_eval_options opt = {.batch = (int)a.batch, .max_skip = a.max_skip};
    bcos_fetch_options_default(&opt.fetch);
    if (a.predictions) {
        opt.predictions = fopen(a.predictions, "w");
        if (!opt.predictions) bcos_fail("%s: %s", a.predictions, strerror(errno));
        fputs("dataset,key,label,top1,top2,top3,top4,top5\n", opt.predictions);
    }
    char *run = a.run ? xstrdup(a.run) : default_run_name(a.weights);
    bcos_eval_job job = {.weights = a.weights, .model_config = is_student ? NULL : a.model, .run = run, .db = a.db,
                         .root = a.root, .split = a.split, .output_dir = a.output_dir,
                         .skip_existing = a.skip_existing};
    char **datasets = cli_split_list(a.datasets, &job.n_datasets);
    job.datasets = datasets;
    int failed = bcos_eval_run(&job, &m, &opt, err, sizeof err);
    if (failed < 0) bcos_fail("%s", err);
    cli_free_strings(datasets);
    free(run);
    if (opt.predictions && fclose(opt.predictions) != 0) bcos_fail("%s: %s", a.predictions, strerror(errno));
    if (is_student) bcos_student_free(&student);
    bcos_clip_free(&clip);
    return failed ? 1 : 0;
}
