/* Zero-shot evaluation (classification, retrieval) over CLIP_benchmark datasets in its webdataset layout:
 *   <root>/<split>/nshards.txt, <root>/<split>/{0..N-1}.tar, <root>/classnames.txt,
 *   <root>/zeroshot_classification_templates.txt, <root>/dataset_type.txt (absent: classification)
 * where root is a folder, a file:// or an http(s):// URL. Each sample's image goes through the
 * loader's image sample function (converted to RGB, then open_clip's evaluation transform, as
 * CLIP_benchmark's webdataset "pil" decoding does), its label from .cls, or for retrieval its
 * captions from .txt. */
#ifndef BCOS_EVAL_RUN_H
#define BCOS_EVAL_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "bcos/clip.h"
#include "bcos/fetch.h"
#include "bcos/student.h"
#include "bcos/tokenizer.h"

typedef struct {
    char *name, *split;
    char *root;              /* the metadata's root: the given one with {dataset} and {dataset_cleaned}
                              * filled in (a Hugging Face tree URL: its "raw" form) */
    char *tar_root;          /* the shards' root: root, or a Hugging Face tree URL's "resolve" form */
    char *type;              /* dataset_type.txt, lower-cased: "classification" when absent */
    int n_classes, n_templates, n_shards;
    char **classes, **templates, **shards; /* shards: <root>/<split>/<i>.tar */
} bcos_eval_dataset;

/* CLIP_benchmark's roots for a Hugging Face dataset URL
 * "https://huggingface.co/datasets/USER/REPO/tree/BRANCH[/PATH]": the metadata from
 * ".../USER/REPO/raw/BRANCH[/PATH]", the tars from ".../resolve/..." (Git LFS files). Any other root
 * serves both. Heap strings. */
void bcos_eval_split_root(const char *root, char **metadata, char **tars);

/* Read the dataset `name`'s metadata under root_pattern ("{dataset}" and "{dataset_cleaned}", the
 * name with "/" as "-", replaced). 0, or -1 with err naming the file that is missing or bad. */
int bcos_eval_dataset_open(bcos_eval_dataset *d, const char *root_pattern, const char *name, const char *split,
                           const bcos_fetch_options *fetch, char *err, size_t errlen);
void bcos_eval_dataset_free(bcos_eval_dataset *d);

/* What is evaluated: a CLIP (student NULL), or a B-cos student's image tower (at its saved B and
 * bias scale) against `clip`'s text tower. */
typedef struct {
    const bcos_clip *clip;
    const bcos_student *student;
} bcos_eval_model;

#define BCOS_EVAL_MAX_METRICS 6

typedef struct {
    const char *task;            /* "zeroshot_classification", "zeroshot_retrieval" or "gridpg" */
    /* The task's metrics, CLIP_benchmark's names in its order: classification's acc1, acc5 (NaN with
     * fewer than 5 classes, as CLIP_benchmark) and mean_per_class_recall (over the classes present
     * among the labels); retrieval's image_ and text_retrieval_recall@1, @5, @10; gridpg's
     * gridpg_mean, gridpg_q1, gridpg_median and gridpg_q3 of the cells' scores. */
    int n_metrics;
    const char *names[BCOS_EVAL_MAX_METRICS];
    double values[BCOS_EVAL_MAX_METRICS];
    long samples;                /* samples classified (retrieval: images; gridpg: cells scored) */
    long skipped;                /* samples refused (undecodable, no label) */
} bcos_eval_metrics;

typedef struct {
    int batch;          /* images per forward pass */
    long max_skip;      /* refused samples allowed before the dataset fails */
    bcos_fetch_options fetch;
    FILE *predictions;  /* NULL, or CSV lines "dataset,key,label,top1,...,top5" (class indices) */
    const char *classifier_cache; /* NULL, or the folder that keeps classifiers by text tower, classes
                                   * and templates (built once, read by later evaluations) */
    int gridpg_size;    /* gridpg: cells per side of a grid */
    int gridpg_grids;   /* gridpg: grids at most */
    int gridpg_smooth;  /* gridpg: average pool window over the attributions (odd), 0: none */
    uint64_t gridpg_seed; /* gridpg: the seed of the classes drawn for each grid */
} bcos_eval_options;

/* Zero-shot classification of every sample of d's shards. 0, or -1 with err naming the shard that
 * failed or the sample limit that was passed (no metrics then). */
int bcos_eval_classification(const bcos_eval_model *m, const bcos_tokenizer *tok, const bcos_eval_dataset *d,
                             const bcos_eval_options *opt, bcos_eval_metrics *out, char *err, size_t errlen);

/* Zero-shot retrieval of d (type "retrieval": each image with a .txt of captions, one per line), as
 * CLIP_benchmark's zeroshot_retrieval: image_retrieval_recall@k (per caption, its image among the k
 * images of highest cosine) and text_retrieval_recall@k (per image, one of its captions among the k
 * captions of highest cosine), k = 1, 5, 10. 0, or -1 with err. */
int bcos_eval_retrieval(const bcos_eval_model *m, const bcos_tokenizer *tok, const bcos_eval_dataset *d,
                        const bcos_eval_options *opt, bcos_eval_metrics *out, char *err, size_t errlen);

/* The grid pointing game (docs/METHOD.md, GridPG) of a B-cos student (m->student; a plain CLIP is
 * refused) on the classification dataset d: grids of opt->gridpg_size x gridpg_size images of
 * distinct classes that the student classifies right with the highest confidence, each cell's class
 * explained over the grid through sliding windows of the student's input size, each cell scored by
 * the share of the positive contribution inside it. Its metrics: the mean and quartiles of the
 * scores over every cell of every grid. 0, or -1 with err (no grid can be formed, a shard failed,
 * too many refused samples). */
int bcos_eval_gridpg(const bcos_eval_model *m, const bcos_tokenizer *tok, const bcos_eval_dataset *d,
                     const bcos_eval_options *opt, bcos_eval_metrics *out, char *err, size_t errlen);

/* maps[n*n, G, G] (G = n * the student's input size): for each cell k, the contribution map over
 * the grid grid6[6, G, G] of the score e . rows[k] (its class's classifier row), summed over the
 * sliding windows of bcos/gridpg.h, explained in batches of up to `batch` windows. */
void bcos_eval_gridpg_maps(const bcos_student *s, const float *grid6, int n, const float *const *rows, int batch,
                           float *maps);

/* The evaluation of a bare weights file, recorded in the store as a run of kind eval. */
typedef struct {
    const char *weights, *model_config; /* what the run's job text records (model_config may be NULL) */
    const char *run;                    /* the run's name: the eval run's, or the distill run whose
                                         * checkpoints bcos_eval_checkpoints evaluates */
    const char *checkpoints;            /* bcos_eval_checkpoints: "latest", "all" or "STEP[,STEP...]" */
    int teacher;                        /* bcos_eval_checkpoints: the run's frozen teacher too, once */
    const char *db;                     /* NULL: the default store */
    char *const *datasets;
    int n_datasets;
    const char *root, *split;
    char *const *tasks;     /* "auto" (the dataset's zero-shot task: classification or retrieval, as
                             * dataset_type.txt says), "zeroshot_classification", "zeroshot_retrieval",
                             * "gridpg"; NULL: auto alone */
    int n_tasks;
    const char *output_dir; /* NULL, or where each dataset's CLIP_benchmark result JSON is written, one
                             * per task: <dataset_cleaned>_<run>_<teacher|student>_en_<task>.json */
    int skip_existing;      /* leave a task of a dataset alone when the run has its results already */
} bcos_eval_job;

/* Evaluates m on each of the job's datasets in turn, each of the job's tasks: prints a line of
 * metrics per dataset and task, stores its rows in eval_results (the task's metrics with the sample
 * count; a CLIP as teacher, a student as student, no checkpoint). A task of a dataset that fails
 * gets no rows, a 'failure' event naming it and why, and a one-line error; the others go on, and
 * the run ends failed. With skip_existing, a task of a dataset the run has results of is skipped
 * (said on stderr). Returns the number of dataset tasks that failed, or -1 with err when the store
 * or run cannot be opened. */
int bcos_eval_run(const bcos_eval_job *job, const bcos_eval_model *m, const bcos_eval_options *opt, char *err,
                  size_t errlen);

/* Evaluates checkpoints of the distill run job->run: each one's student file (verified against its
 * sha256) on every dataset, as bcos_eval_run does, its rows stored as the student's at that
 * checkpoint in the run; with job->teacher, first the run's frozen teacher (the CLIP its job text
 * names, a path as the run was given it), its rows the teacher's without a checkpoint. A checkpoint
 * or teacher that is missing or damaged counts as one failure (reported, no rows). Returns the number of failures (datasets and checkpoints), or -1 with err when the
 * store, the run or the checkpoint list is not there. */
int bcos_eval_checkpoints(const bcos_eval_job *job, const bcos_eval_options *opt, char *err, size_t errlen);

#endif
