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
#include "bcos/log.h"
#include "bcos/student.h"
#include "cli.h"

static const char *const USAGE =
    "usage: bcos eval --weights W.safetensors [--model CONFIG] --datasets A[,B...] --dataset-root ROOT\n"
    "                 [--split test] [--batch-size 32] [--max-skip 0] [--predictions FILE.csv]\n"
    "Zero-shot classification (CLIP_benchmark's zeroshot_classification: acc1, acc5,\n"
    "mean_per_class_recall) on datasets in CLIP_benchmark's webdataset layout. ROOT is a folder,\n"
    "file:// or http(s):// URL in which {dataset} (and {dataset_cleaned}: '/' as '-') stand for each\n"
    "dataset's name. W is a CLIP, or a B-cos student (its image tower against the teacher's text\n"
    "tower; --model is not used). --predictions writes 'dataset,key,label,top1,...,top5' (class\n"
    "indices) per sample. A dataset that fails (a shard unreachable, more refused samples than\n"
    "--max-skip) is reported and the others go on; the exit status is then 1.\n";

typedef struct {
    const char *weights, *model, *datasets, *root, *split, *predictions;
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
        case 'h': fputs(USAGE, stdout); exit(0);
        default: cli_bad_option("eval", argc, argv);
        }
    }
    if (optind < argc) bcos_fail("bcos eval: unexpected argument '%s' (see 'bcos eval --help')", argv[optind]);
    if (!a->datasets) bcos_fail("missing --datasets A[,B...]");
    if (!a->root) bcos_fail("missing --dataset-root ROOT");
}

/* 0 when the dataset was evaluated (its metrics printed), -1 when it failed (reported). */
static int eval_dataset(const bcos_eval_model *m, const bcos_tokenizer *tok, const char *name, const eval_args *a,
                        const bcos_eval_options *opt) {
    bcos_eval_dataset d;
    bcos_eval_metrics r;
    char err[BCOS_ERRLEN];
    if (bcos_eval_dataset_open(&d, a->root, name, a->split, &opt->fetch, err, sizeof err) != 0) {
        bcos_log(BCOS_LOG_ERROR, "dataset %s failed: %s", name, err);
        return -1;
    }
    int status = bcos_eval_classification(m, tok, &d, opt, &r, err, sizeof err);
    if (status != 0)
        bcos_log(BCOS_LOG_ERROR, "dataset %s failed: %s", name, err);
    else
        printf("%s\t%s\tacc1 %.6f\tacc5 %.6f\tmean_per_class_recall %.6f\tsamples %ld\tskipped %ld\n", name,
               a->split, r.acc1, r.acc5, r.mean_per_class_recall, r.samples, r.skipped);
    bcos_eval_dataset_free(&d);
    return status;
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
    bcos_tokenizer *tok = bcos_tokenizer_load_default();
    int n, failed = 0;
    char **names = cli_split_list(a.datasets, &n);
    for (int i = 0; i < n; i++) failed += eval_dataset(&m, tok, names[i], &a, &opt) != 0;
    cli_free_strings(names);
    bcos_tokenizer_free(tok);
    if (opt.predictions && fclose(opt.predictions) != 0) bcos_fail("%s: %s", a.predictions, strerror(errno));
    if (is_student) bcos_student_free(&student);
    bcos_clip_free(&clip);
    return failed ? 1 : 0;
}
