/* Shared pieces of the `bcos` subcommands: their entry points and the common option handling. */
#ifndef BCOS_CLI_H
#define BCOS_CLI_H

#include "bcos/check.h"
#include "bcos/clip.h"
#include "bcos/image.h"
#include "bcos/job.h"
#include "bcos/options.h"
#include "bcos/store.h"

int cmd_encode_image(int argc, char **argv);
int cmd_encode_text(int argc, char **argv);
int cmd_zeroshot(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_weights(int argc, char **argv);
int cmd_distill(int argc, char **argv);
int cmd_bcosify(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_checkpoints(int argc, char **argv);
int cmd_store(int argc, char **argv);
int cmd_results(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_shards(int argc, char **argv);
int cmd_shards_write(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_jobs(int argc, char **argv);
int cmd_pipeline(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);

/* The options of the job kinds whose tables live in src/cli. */
const bcos_job_spec *cli_eval_job_spec(void);
const bcos_job_spec *cli_explain_job_spec(void);
const bcos_job_spec *cli_shards_job_spec(void);
/* The job kinds `bcos run` knows: their command (called as cmd(2, {kind, JOB.json})) and options. */
typedef struct {
    const char *kind;
    int (*run)(int argc, char **argv);
    const bcos_job_spec *(*spec)(void);
    int makes_run; /* a job of this kind makes a run of the store (explain's "run" only names where it records) */
} cli_job_kind;
/* "distill, eval, ...": the kinds, for messages. */
void cli_job_kind_list(char *out, size_t len);
/* The kind named, or NULL. */
const cli_job_kind *cli_job_kind_named(const char *kind);
/* `[JOB.json] [--option value ...]` of a command whose options are one table (job kind k) into cfg:
 * the defaults, the job file's keys, then the flags, which win; usage for --help (exit 0). Fails
 * with one line naming the option and the value, the unknown flag, or the extra argument. */
void cli_table_args(option_kind *k, const char *usage, void *cfg, int argc, char **argv);
/* An option's text, or NULL where it is empty (not given). */
const char *cli_given(const char *text);
/* What a job's paths and URLs name is there before any work (bcos/job.h's uses): inputs exist,
 * http(s) sources answer, outputs and the store can be written. 0, or -1 with "$.KEY: expected ...,
 * found ..." in err. */
int cli_job_check_resources(const bcos_job *job, const bcos_job_spec *spec, char *err, size_t errlen);

/* ---- the training commands (train_cli.c) ---- */

/* EX_TEMPFAIL of sysexits.h: stopped on request, checkpointed; run the same command again. */
#define BCOS_EXIT_PREEMPTED 75
/* A training command's settings and how it reads them. */
typedef struct {
    const char *name; /* "distill" */
    void *cfg;
    int (*load_job)(void *cfg, const char *path, char *err, size_t errlen);
    int (*set)(void *cfg, const char *name, const char *value, char *err, size_t errlen);
} cli_train_command;
/* --help or -h where the job file or an option's name is expected (not as an option's value). */
int cli_train_asks_for_help(int argc, char **argv);
/* `[[--] JOB.json] [--option value ...]` into c->cfg (defaults, then the job, then the flags), and
 * the run's name into run (left as it is when set, else the job file's name without folder and
 * extension); fails with one line on a bad job, option or value, or without a name. */
void cli_train_options(const cli_train_command *c, int argc, char **argv, char *run, size_t runlen);
/* SIGUSR1 asks the run for a checkpoint; SIGTERM, SIGINT and SIGUSR2 for a checkpoint and a stop. */
void cli_train_install_handlers(void);

/* Load CLIP weights for a command, or fail with one line naming the file. model may be NULL. */
void cli_load_clip(bcos_clip *m, const char *weights, const char *model);
/* Whether the weights file is a B-cos student (written by `bcos distill` or `bcos bcosify`); fails
 * naming a file that cannot be opened. */
int cli_is_student(const char *weights);
/* The text tower of weights into m: a CLIP's, or the teacher's saved in a student file. */
void cli_load_text_tower(bcos_clip *m, const char *weights, const char *model);
/* emb[N,E] (heap): the image embeddings of the student file's image tower, at the B and bias scale
 * of the step it was saved at; *E is the embedding width. Fails naming the file or image. */
float *cli_student_embeddings(const char *weights, char *const *paths, int N, bcos_pixel_order order, int *E);
/* After getopt_long (with opterr 0) refused an argument: one line naming it, and exit 1. */
BCOS_NORETURN void cli_bad_option(const char *command, int argc, char **argv);
/* Whether arg asks for help ("--help" or "-h"). */
int cli_is_help(const char *arg);
/* The usage line of --pixel-order, and its value (NULL: the default, open_clip's order), or fail. */
#define CLI_PIXEL_ORDER_USAGE \
    "--pixel-order open-clip|convert-first: a file becomes RGB after the resize, as open_clip's\n" \
    "preprocess(Image.open(f)) does (default), or before it, as on shards (docs/DATA.md)\n"
bcos_pixel_order cli_pixel_order(const char *text);
/* images[N,3,S,S]: every path decoded and preprocessed to S in that order, or fail naming the image. */
float *cli_load_images(char *const *paths, int N, int S, bcos_pixel_order order);
/* x6[6,S,S] = [u, 1-u], the B-cos student's input, of the image's centre crop at S; or fail naming it. */
void cli_load_x6(float *x6, const char *path, int S, bcos_pixel_order order);
/* Print rows of x[N,D] as "label<TAB>v0 v1 ..." lines, or save them as tensor `name` to out_path. */
void cli_emit_embeddings(const char *name, const float *x, int N, int D, char *const *labels, const char *out_path);
/* Read a file of one entry per line (blank lines skipped) into a NULL-terminated array; count in *n. */
char **cli_read_lines(const char *path, int *n);
/* Split "a,b,c" into a NULL-terminated array of trimmed entries; count in *n. */
char **cli_split_list(const char *list, int *n);
void cli_free_strings(char **items);
/* The options of a command that takes only --db PATH (and --help): sets *db, leaves optind at
 * the first other argument and returns -1 to go on, or the exit status for --help or a bad option. */
int cli_parse_db_option(int argc, char **argv, const char *usage, const char **db);
/* The store at path (NULL: $BCOS_DB, else ./bcos.db) opened read-only, or fail with one line. */
bcos_store *cli_open_store(const char *path);

#endif
