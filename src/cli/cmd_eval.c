/* `bcos eval`: zero-shot classification and retrieval of a weights file (a CLIP, or a B-cos student against the
 * teacher's text tower it carries) on CLIP_benchmark datasets; the options only, the evaluation is
 * src/eval. */
#include <errno.h>
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

/* The options, from a job file {"kind": "eval", ...} and then the flags, which win; an empty
 * string is one not given. */
typedef struct {
    char weights[OPTION_TEXT_MAX], model[OPTION_TEXT_MAX], datasets[OPTION_TEXT_MAX], dataset_root[OPTION_TEXT_MAX];
    char split[OPTION_TEXT_MAX];
    char predictions[OPTION_TEXT_MAX], name[OPTION_TEXT_MAX], run[OPTION_TEXT_MAX], checkpoint[OPTION_TEXT_MAX];
    char classifier_cache[OPTION_TEXT_MAX];
    char db[OPTION_TEXT_MAX], output_dir[OPTION_TEXT_MAX], tasks[OPTION_TEXT_MAX];
    int batch_size, max_skip, teacher, skip_existing, gridpg_size, gridpg_grids, gridpg_seed, gridpg_smooth;
} eval_args;

#define F(field) OPTION_AT(eval_args, field)
static const option OPTIONS[] = {
    {"weights", OPT_STR, F(weights), JOB, "CLIP or B-cos student weights (safetensors)", READS},
    {"model", OPT_STR, F(model), JOB, "config name or JSON of a CLIP (default: from the file)", TEXT},
    {"datasets", OPT_STR, F(datasets), JOB, "datasets, comma-separated", TEXT},
    {"dataset_root", OPT_STR, F(dataset_root), JOB, "folder or URL of the datasets; {dataset} stands for each name",
     PLACE},
    {"split", OPT_STR, F(split), JOB, "the split evaluated", TEXT},
    {"batch_size", OPT_INT, F(batch_size), JOB, "images per forward pass", FROM_TO(1, INT_MAX)},
    {"max_skip", OPT_INT, F(max_skip), JOB, "refused samples a dataset may have and still count", FROM_TO(0, INT_MAX)},
    {"predictions", OPT_STR, F(predictions), JOB, "CSV of each sample's top-5 classes", WRITES},
    {"name", OPT_STR, F(name), JOB, "the eval run's name (default: the weights file's name)", TEXT},
    {"run", OPT_STR, F(run), JOB, "or evaluate the checkpoints of this distill run", TEXT},
    {"checkpoint", OPT_STR, F(checkpoint), JOB, "with run: latest, all or STEP[,STEP...]", TEXT},
    {"teacher", OPT_BOOL, F(teacher), JOB, "with run: also evaluate the run's frozen teacher", FLAG},
    {"classifier_cache", OPT_STR, F(classifier_cache), JOB, "folder keeping each dataset's classifier", WRITES},
    {"db", OPT_STR, F(db), JOB, "the store (default: $BCOS_DB, else ./bcos.db)", STORE_DB},
    {"output_dir", OPT_STR, F(output_dir), JOB, "folder of CLIP_benchmark result JSON files", WRITES},
    {"skip_existing", OPT_BOOL, F(skip_existing), JOB, "leave alone the datasets whose results the run has", SWITCH},
    {"tasks", OPT_STR, F(tasks), JOB,
     "tasks, comma-separated: auto (the dataset's own), zeroshot_classification, zeroshot_retrieval, gridpg", TEXT},
    {"gridpg_size", OPT_INT, F(gridpg_size), JOB, "grid pointing game: n for n x n grids", FROM_TO(2, 8)},
    {"gridpg_grids", OPT_INT, F(gridpg_grids), JOB, "grid pointing game: number of grids", FROM_TO(1, 100000)},
    {"gridpg_seed", OPT_INT, F(gridpg_seed), JOB, "grid pointing game: seed of the class draw", FROM_TO(0, INT_MAX)},
    {"gridpg_smooth", OPT_INT, F(gridpg_smooth), JOB,
     "grid pointing game: average-pool size before scoring (0: none; odd)", FROM_TO(0, 63)},
};
#undef F
static const option_table TABLE = {"eval", OPTIONS, (int)(sizeof OPTIONS / sizeof OPTIONS[0])};

static void eval_defaults(void *cfg) {
    *(eval_args *)cfg = (eval_args){.split = "test", .tasks = "auto", .batch_size = 32, .gridpg_size = 3,
                                    .gridpg_grids = 500, .gridpg_seed = 42};
}

static option_kind KIND = {.table = &TABLE, .kind = "eval", .size = sizeof(eval_args), .defaults = eval_defaults,
                           .summary = "zero-shot evaluation of weights or of a distill run's checkpoints (bcos eval)"};

const bcos_job_spec *cli_eval_job_spec(void) { return option_kind_spec(&KIND); }

static int wants_gridpg(const eval_args *a) {
    int n, found = 0;
    char **tasks = cli_split_list(a->tasks, &n);
    for (int i = 0; i < n; i++) found |= strcmp(tasks[i], "gridpg") == 0;
    cli_free_strings(tasks);
    return found;
}

/* --tasks names known tasks; the gridpg options make sense; a plain CLIP teacher gets no gridpg. */
static void check_tasks(const eval_args *a) {
    static const char *const KNOWN[] = {"auto", "zeroshot_classification", "zeroshot_retrieval", "gridpg"};
    int n;
    char **tasks = cli_split_list(a->tasks, &n);
    for (int i = 0; i < n; i++) {
        int known = 0;
        for (size_t k = 0; k < sizeof KNOWN / sizeof KNOWN[0]; k++) known |= strcmp(tasks[i], KNOWN[k]) == 0;
        if (!known)
            bcos_fail("--tasks: unknown task '%s' (auto, zeroshot_classification, zeroshot_retrieval, gridpg)", tasks[i]);
    }
    cli_free_strings(tasks);
    if (a->gridpg_smooth % 2 == 0 && a->gridpg_smooth != 0)
        bcos_fail("--gridpg-smooth takes an odd window (the pool is centred) or 0 for none, not %d", a->gridpg_smooth);
    if (a->teacher && wants_gridpg(a))
        bcos_fail("--tasks gridpg explains B-cos students, and --teacher true adds the run's plain CLIP teacher: "
                  "evaluate the teacher in a call without gridpg");
}

static void parse_args(eval_args *a, int argc, char **argv) {
    cli_table_args(&KIND, USAGE, a, argc, argv);
    if (!a->weights[0] == !a->run[0]) bcos_fail("give exactly one of --weights FILE and --run NAME");
    if ((a->checkpoint[0] || a->teacher) && !a->run[0]) bcos_fail("--checkpoint and --teacher go with --run NAME (a distill run)");
    if (a->name[0] && a->run[0]) bcos_fail("--name names the eval run of a weights file; --run evaluates a distill run");
    if (a->predictions[0] && a->run[0] && (a->teacher || !a->checkpoint[0] || strchr(a->checkpoint, ',') ||
                                     strcmp(a->checkpoint, "all") == 0 || strcmp(a->checkpoint, "latest") == 0))
        bcos_fail("--predictions with --run takes one --checkpoint STEP and no --teacher (its lines name no model)");
    check_tasks(a);
    if (!a->datasets[0]) bcos_fail("missing --datasets A[,B...]");
    if (!a->dataset_root[0]) bcos_fail("missing --dataset-root ROOT");
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
    cli_load_text_tower(&clip, a->weights, cli_given(a->model));
    if (is_student && bcos_student_load_file(&student, a->weights, bcos_backend_get("auto"), err, errlen) != 0)
        bcos_fail("%s", err);
    bcos_eval_model m = {.clip = &clip, .student = is_student ? &student : NULL};
    char *run = a->name[0] ? xstrdup(a->name) : default_run_name(a->weights);
    job->weights = a->weights;
    job->model_config = is_student ? NULL : cli_given(a->model);
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
    bcos_eval_options opt = {.batch = a.batch_size, .max_skip = a.max_skip,
                             .classifier_cache = cli_given(a.classifier_cache), .gridpg_size = a.gridpg_size,
                             .gridpg_grids = a.gridpg_grids, .gridpg_smooth = a.gridpg_smooth,
                             .gridpg_seed = (uint64_t)a.gridpg_seed};
    bcos_fetch_options_default(&opt.fetch);
    if (a.predictions[0] && bcos_world_rank() == 0) {
        opt.predictions = fopen(a.predictions, "w");
        if (!opt.predictions) bcos_fail("%s: %s", a.predictions, strerror(errno));
        fputs("dataset,key,label,top1,top2,top3,top4,top5\n", opt.predictions);
    }
    bcos_eval_job job = {.db = cli_given(a.db), .root = a.dataset_root, .split = a.split,
                         .output_dir = cli_given(a.output_dir), .skip_existing = a.skip_existing,
                         .run = cli_given(a.run), .checkpoints = a.checkpoint[0] ? a.checkpoint : "latest",
                         .teacher = a.teacher};
    char **datasets = cli_split_list(a.datasets, &job.n_datasets);
    char **tasks = cli_split_list(a.tasks, &job.n_tasks);
    job.datasets = datasets;
    job.tasks = tasks;
    char err[BCOS_ERRLEN];
    int failed = a.run[0] ? bcos_eval_checkpoints(&job, &opt, err, sizeof err) : eval_weights(&a, &job, &opt, err, sizeof err);
    if (failed < 0) bcos_fail("%s", err);
    cli_free_strings(datasets);
    cli_free_strings(tasks);
    if (opt.predictions && fclose(opt.predictions) != 0) bcos_fail("%s: %s", a.predictions, strerror(errno));
    bcos_world_finalize();
    return failed ? 1 : 0;
}
