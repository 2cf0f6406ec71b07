/* Shared pieces of the `bcos` subcommands: their entry points and the common option handling. */
#ifndef BCOS_CLI_H
#define BCOS_CLI_H

#include "bcos/check.h"
#include "bcos/clip.h"
#include "bcos/image.h"
#include "bcos/job.h"
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
/* For a command parsed by getopt_long: when argv[1] is a job file (not a flag), the arguments with
 * its options first as --name=value flags (a boolean as --name when true), the flags given after,
 * which win; else a copy of argv. Fails with one line on a bad job file. *argc is updated; free the
 * result with cli_free_strings. */
char **cli_job_argv(const bcos_job_spec *spec, int *argc, char **argv);
/* What a job's paths and URLs name is there before any work (bcos/job.h's uses): inputs exist,
 * http(s) sources answer, outputs and the store can be written. 0, or -1 with "$.KEY: expected ...,
 * found ..." in err. */
int cli_job_check_resources(const bcos_job *job, const bcos_job_spec *spec, char *err, size_t errlen);

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
