/* The store: one SQLite database that is the source of truth for runs, checkpoints, training
 * metrics, evaluation results and events, plus the checkpoints' safetensors files in a folder
 * beside it, "<database path>-checkpoints/".
 *
 * Concurrency: one process writes a training run (rank 0, holding the run's lease); evaluations
 * take no lease, so several may add results to one run at once, each in short transactions. Any
 * number of readers (`bcos results`) may read meanwhile. The database runs in WAL mode, so readers
 * never wait for a writer; on a network file system it falls back to a rollback journal (see
 * bcos_store_options). Every connection waits (busy timeout) instead of failing with "database is
 * locked".
 *
 * Errors: opening reports bad databases (not a database, damaged, newer schema, unwritable
 * folder, missing file) as a status and a one-line message naming the database; so do the calls
 * whose failure is the user's input (an unknown run name, a changed job file, a checkpoint file
 * that cannot be written). Once open, a failing SQLite call is a programming or environment
 * error (disk full, I/O error): it stops the process with file:line and a hint. */
#ifndef BCOS_STORE_H
#define BCOS_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bcos/safetensors.h"

#define BCOS_STORE_DB_ENV "BCOS_DB"
/* "delete", "wal" or "auto": the journal of a store opened with BCOS_JOURNAL_AUTO (a database on a
 * remote FUSE mount, which the network file system check cannot tell from a local one, wants delete). */
#define BCOS_STORE_JOURNAL_ENV "BCOS_JOURNAL"
/* How long a run's lease lasts without renewal, in seconds (default 30). */
#define BCOS_LEASE_ENV "BCOS_LEASE_SECONDS"
#define BCOS_STORE_DEFAULT_PATH "bcos.db"

typedef struct bcos_store bcos_store;

typedef enum {
    BCOS_JOURNAL_AUTO,   /* WAL, unless the folder is on a network file system: then DELETE, with a warning */
    BCOS_JOURNAL_WAL,    /* WAL regardless */
    BCOS_JOURNAL_DELETE, /* a rollback journal: readers and the writer briefly wait for each other */
} bcos_journal;

typedef struct {
    int read_only;        /* never writes, never creates, never migrates */
    bcos_journal journal; /* read-write only; a read-only connection uses what the file has */
    int busy_timeout_ms;  /* how long to wait for another connection's lock; 0: 30 s */
} bcos_store_options;

/* $BCOS_DB when set and not empty, else "bcos.db". */
const char *bcos_store_default_path(void);
/* The schema version this binary creates and understands (the number of embedded migrations). */
int bcos_store_schema_version(void);

/* Open (and, read-write, create or migrate) the database at path (NULL or "": the default path,
 * bcos_store_default_path); opt NULL means read-write with the defaults. Returns 0 and *out, or -1 with a one-line message "PATH: ..." in err; a database
 * that is refused is left byte for byte as it was. */
int bcos_store_open(const char *path, const bcos_store_options *opt, bcos_store **out, char *err, size_t errlen);
void bcos_store_close(bcos_store *s);
const char *bcos_store_path(const bcos_store *s);
/* The journal mode in use: "wal" or "delete". */
const char *bcos_store_journal_mode(const bcos_store *s);

/* ---- runs ---- */

typedef enum { BCOS_RUN_RUNNING, BCOS_RUN_DONE, BCOS_RUN_FAILED, BCOS_RUN_PREEMPTED } bcos_run_status;

typedef struct {
    int64_t id;
    int created;             /* 1: this call created the run; 0: it existed (a resume) */
    int previous_world_size; /* the run's world size before this call (resume re-partitions when it differs) */
} bcos_run;

/* What a run does: distill (train a student) or eval (evaluate a bare weights file, `bcos eval`). */
typedef enum { BCOS_RUN_DISTILL, BCOS_RUN_EVAL } bcos_run_kind;

/* Create the run `name` of that kind, or take it up again: then job_text must be the one it was created with
 * (same sha256), else -1 with a message (a different job needs a new run name). Sets the status
 * to running and records world_size and code_version (e.g. BCOS_VERSION). */
int bcos_store_run_begin(bcos_store *s, const char *name, bcos_run_kind kind, const char *job_text, int world_size,
                         const char *code_version, bcos_run *run, char *err, size_t errlen);
/* The id of the run `name`: 0, or -1 with "PATH: no run named 'name'". */
int bcos_store_run_find(bcos_store *s, const char *name, int64_t *run_id, char *err, size_t errlen);
void bcos_store_run_set_status(bcos_store *s, int64_t run_id, bcos_run_status status);
/* The job text the run was created with (heap). */
char *bcos_store_run_job_text(bcos_store *s, int64_t run_id);

/* Become the one writer of the run `name` (which need not exist yet): take its lease, renewed by a
 * thread every third of $BCOS_LEASE_SECONDS (default 30) and released by bcos_store_close. 0, or
 * -1 with a message naming the holder (host, pid) and when its lease expires. A store that lost
 * its lease (it could not renew it in time and another process took it) writes nothing more to
 * the run: metrics, events and status are dropped, a checkpoint commit fails. */
int bcos_store_lease_take(bcos_store *s, const char *name, char *err, size_t errlen);

/* ---- the checkpoint files against the store ---- */

/* Whether the store records every checkpoint whose folder holds a manifest: 0, or -1 with one line
 * naming `bcos store recover` when it lags its files (emptied, deleted, or an older copy). */
int bcos_store_check_files(bcos_store *s, char *err, size_t errlen);
/* Record again, from their manifests, the checkpoints (and their runs) the store lacks; a file
 * that fails its sha256 makes its checkpoint corrupt. Prints one line per run to out. 0, or -1
 * with err naming the first folder left as it is (its run conflicts with one in the store). */
int bcos_store_recover(bcos_store *s, FILE *out, char *err, size_t errlen);

/* ---- training metrics and events ---- */

typedef struct {
    int64_t step;
    double loss, cos, lr, grad_norm, images_per_s; /* NaN is stored as NULL */
    int64_t skipped_samples;
} bcos_metric;

/* n rows in one transaction; a step that exists already (trained again after a resume) is replaced. */
void bcos_store_metrics_add(bcos_store *s, int64_t run_id, const bcos_metric *rows, int n);

typedef enum {
    BCOS_EVENT_RETRY,
    BCOS_EVENT_SKIP,
    BCOS_EVENT_FAULT,
    BCOS_EVENT_PREEMPTION,
    BCOS_EVENT_FAILURE, /* the error that ended the run as failed */
} bcos_event_kind;

/* step < 0: none. count >= 1 (a run of the same event may be recorded once). detail may be NULL. */
void bcos_store_event_add(bcos_store *s, int64_t run_id, int64_t step, bcos_event_kind kind, const char *reason,
                          int64_t count, const char *detail);
/* The counts of the run's events of that kind whose reason starts with reason_prefix, at steps up to
 * max_step, summed (what a resumed run carries over, such as the samples lost before it). */
int64_t bcos_store_event_total(bcos_store *s, int64_t run_id, bcos_event_kind kind, const char *reason_prefix,
                               int64_t max_step);

/* ---- checkpoints ---- */

/* One safetensors file of a checkpoint, written as "<name>.safetensors" (bcos_st_write). */
typedef struct {
    const char *name; /* e.g. "model", "optimizer": letters, digits, '_', '-', '.' */
    const bcos_st_entry *entries;
    int n_entries;
    const bcos_st_meta *meta;
    int n_meta;
} bcos_ckpt_file;

/* Everything besides tensors that a resume needs. */
typedef struct {
    int64_t step, epoch, samples_seen;
    int world_size;
    const char *data_cursors; /* a JSON array with world_size elements: each rank's data position */
    const void *rng_state;    /* opaque bytes, e.g. the ranks' bcos_rng states */
    size_t rng_bytes;
} bcos_ckpt_state;

/* Keep the newest keep_last complete checkpoints, plus forever every one whose step is a
 * multiple of keep_every (0: none); older ones are retired and their files deleted. */
typedef struct {
    int keep_last; /* >= 1 */
    int64_t keep_every;
} bcos_ckpt_retention;

/* Write the files atomically, hash them, then record the checkpoint in one SQLite transaction
 * (its commit is the checkpoint; the same transaction retires what retention drops, whose files
 * are deleted after it). A crash at any point leaves the previous checkpoint intact. A step with
 * a complete checkpoint already is a programming error. Returns 0 and the new id in *ckpt_id
 * (may be NULL), or -1 with err set when a file cannot be written; nothing is recorded then and
 * the partial files are removed. Read-write stores only. */
int bcos_store_checkpoint_commit(bcos_store *s, int64_t run_id, const bcos_ckpt_state *state,
                                 const bcos_ckpt_file *files, int n_files, const bcos_ckpt_retention *retention,
                                 int64_t *ckpt_id, char *err, size_t errlen);

/* A recorded checkpoint, as read back. */
typedef struct {
    int64_t id, run_id, step, epoch, samples_seen;
    int world_size;
    char *data_cursors;
    void *rng_state;
    size_t rng_bytes;
    int n_files;
    char **file_names;   /* as given at commit */
    char **file_paths;   /* openable paths (checkpoint root joined with the recorded path) */
    char **file_sha256s; /* lowercase hex */
} bcos_checkpoint;

/* For a resume (read-write): delete the provable debris of the run's folder (temporaries, the
 * folders of checkpoints that never committed, retired ones), then return the newest complete
 * checkpoint whose files all match their sha256. A checkpoint whose file is missing or damaged is
 * reported (warning), marked corrupt, recorded as a fault event, and the one before it is tried.
 * The skip, retry and fault events of the steps after the one resumed are dropped: they are
 * trained, and recorded, again. The resume is recorded (the step, 0 when afresh, and the run's world
 * size) for `bcos report`. Returns 1 and fills *out (free with bcos_checkpoint_free), or 0
 * when the run has no usable checkpoint (start afresh). */
int bcos_store_checkpoint_resume(bcos_store *s, int64_t run_id, bcos_checkpoint *out);

#define BCOS_CKPT_LATEST (-1)
/* The complete checkpoint of the run at `step` (BCOS_CKPT_LATEST: the newest), without verifying
 * its files (for evaluation; see bcos_checkpoint_verify). 0, or -1 with err set when there is none. */
int bcos_store_checkpoint_find(bcos_store *s, int64_t run_id, int64_t step, bcos_checkpoint *out, char *err,
                               size_t errlen);
/* The steps of the run's complete checkpoints, ascending, into *steps (heap; NULL when none):
 * their count. */
int bcos_store_checkpoint_steps(bcos_store *s, int64_t run_id, int64_t **steps);
/* Whether every file exists and matches its sha256: 0, or -1 with "FILE: ..." in err. */
int bcos_checkpoint_verify(const bcos_checkpoint *c, char *err, size_t errlen);
/* The path of the file `name`, or NULL. */
const char *bcos_checkpoint_file(const bcos_checkpoint *c, const char *name);
void bcos_checkpoint_free(bcos_checkpoint *c);

/* ---- evaluation results ---- */

typedef enum { BCOS_MODEL_TEACHER, BCOS_MODEL_STUDENT } bcos_model_role;

typedef struct {
    int64_t checkpoint_id; /* 0: none (a teacher evaluated once for the run, or any model in an eval run) */
    bcos_model_role model;
    const char *dataset, *split;
    const char *task;   /* NULL: "zeroshot_classification" */
    const char *metric; /* CLIP_benchmark's names: "acc1", "acc5", "mean_per_class_recall" */
    double value;       /* accuracies as fractions in [0, 1], as CLIP_benchmark reports them */
    int64_t samples;
} bcos_eval_result;

/* n results in one transaction; a result evaluated again replaces the earlier one. */
void bcos_store_results_add(bcos_store *s, int64_t run_id, const bcos_eval_result *rows, int n);

/* Whether the run has rows of that evaluation (checkpoint_id 0: none; task NULL: zero-shot
 * classification): what `bcos eval --skip-existing` leaves alone. */
int bcos_store_results_exist(bcos_store *s, int64_t run_id, int64_t checkpoint_id, bcos_model_role model,
                             const char *dataset, const char *split, const char *task);

/* ---- explanation pictures (`bcos explain --run`) ---- */

typedef struct {
    int64_t step;            /* the step the explained student was saved at; -1: unknown */
    char *image, *prompt;    /* the image's path, the prompt (or the class) explained */
    double score, cosine, completeness_error; /* NaN is stored as NULL */
    unsigned char *png;      /* the picture's PNG bytes */
    size_t png_bytes;
    char *created_at;        /* read back only */
} bcos_explanation;

/* Record one explanation picture in the run (one transaction). */
void bcos_store_explanation_add(bcos_store *s, int64_t run_id, const bcos_explanation *e);

/* ---- reading runs back (`bcos report`, `bcos top`): each call one read transaction ---- */

typedef struct {
    int64_t id;
    char *name, *kind, *status, *job_text, *code_version, *created_at, *updated_at;
    int world_size;
} bcos_run_info;

/* The runs named (n_names of them, in that order), or every run, oldest first (names NULL): their
 * count and *out (heap, NULL when none; bcos_run_infos_free), or -1 with err naming an unknown run. */
int bcos_store_run_infos(bcos_store *s, const char *const *names, int n_names, bcos_run_info **out, char *err,
                         size_t errlen);
void bcos_run_infos_free(bcos_run_info *runs, int n);
/* Whether a process holds the lease of the run `name` (one that is killed holds it until it expires):
 * a run marked running without one was killed. */
int bcos_store_run_has_writer(bcos_store *s, const char *name);
/* The run's metrics rows by ascending step (NULL values as NaN), only the newest `last` of them
 * when last > 0: their count and *rows (heap, NULL when none). */
int bcos_store_metrics_read(bcos_store *s, int64_t run_id, int last, bcos_metric **rows);

typedef struct {
    int64_t step; /* -1: none */
    char *kind, *reason, *detail, *created_at; /* detail "" when none */
    int64_t count;
} bcos_event_row;

/* The run's events in the order they were recorded: their count and *rows (bcos_event_rows_free). */
int bcos_store_events_read(bcos_store *s, int64_t run_id, bcos_event_row **rows);
void bcos_event_rows_free(bcos_event_row *rows, int n);

typedef struct {
    int64_t step, epoch, samples_seen, bytes; /* bytes: its files together */
    int world_size;
    char *state, *created_at;
} bcos_checkpoint_row;

/* The run's checkpoints (every state) by step: their count and *rows (bcos_checkpoint_rows_free). */
int bcos_store_checkpoint_rows(bcos_store *s, int64_t run_id, bcos_checkpoint_row **rows);
void bcos_checkpoint_rows_free(bcos_checkpoint_row *rows, int n);
typedef struct {
    int64_t step; /* of the checkpoint the run went on from; 0: afresh */
    int world_size;
} bcos_resume_row;

/* The times the run was taken up again (bcos_store_checkpoint_resume), in order: their count and
 * *rows (heap, free()). */
int bcos_store_resumes_read(bcos_store *s, int64_t run_id, bcos_resume_row **rows);
/* The run's explanation pictures, oldest first: their count and *rows (bcos_explanations_free). */
int bcos_store_explanations_read(bcos_store *s, int64_t run_id, bcos_explanation **rows);
void bcos_explanations_free(bcos_explanation *rows, int n);

/* ---- queries (the `bcos runs`, `checkpoints` and `results` commands) ---- */

/* JSON_OBJECT: the one evaluation the filter selects (one run, step, model, dataset, split and
 * task), as one CLIP_benchmark result object, the form of its per-evaluation files. */
typedef enum { BCOS_FORMAT_TABLE, BCOS_FORMAT_CSV, BCOS_FORMAT_JSON, BCOS_FORMAT_JSON_OBJECT } bcos_format;

#define BCOS_RESULTS_ALL_CHECKPOINTS (-2)
typedef struct {
    const char *run;     /* NULL: every run */
    const char *dataset; /* NULL: every dataset */
    /* BCOS_RESULTS_ALL_CHECKPOINTS, BCOS_CKPT_LATEST (per run and dataset, the newest checkpoint
     * with results) or a step. Teacher results without a checkpoint always pass. */
    int64_t checkpoint;
    int model; /* -1: both, else a bcos_model_role */
    const char *split; /* NULL: every split */
    const char *task;  /* NULL: every task */
} bcos_results_filter;

/* One stored result, as `bcos results` reads it. */
typedef struct {
    char *run, *model, *dataset, *split, *task, *metric, *created;
    int has_step, has_value; /* step: the checkpoint's (none for a teacher without one, or an eval run) */
    int64_t step, samples;
    double value;
} bcos_result_row;

/* The results the filter selects, sorted by run, dataset, split, task, metric, step (none first)
 * and model: the rows `bcos results` prints. Their count and *rows (bcos_result_rows_free), or -1
 * with err set for an unknown run. */
int bcos_store_results_read(bcos_store *s, const bcos_results_filter *filter, bcos_result_row **rows, char *err,
                            size_t errlen);
void bcos_result_rows_free(bcos_result_row *rows, int n);
/* Runs with their status, world size, newest step and checkpoints. */
void bcos_store_print_runs(bcos_store *s, FILE *out);
/* The run's checkpoints (all states) with their files. -1 with err set for an unknown run. */
int bcos_store_print_checkpoints(bcos_store *s, const char *run, FILE *out, char *err, size_t errlen);
/* Evaluation results. table: teacher and student side by side with student - teacher (one
 * value column with a model filter); csv: one row per result; json: a list of CLIP_benchmark
 * result objects ({"dataset", "model", "pretrained", "task", "metrics": {...}, "language"} plus
 * bcos's "run", "step", "split", "samples"). -1 with err set for an unknown run. */
int bcos_store_print_results(bcos_store *s, const bcos_results_filter *filter, bcos_format format, FILE *out,
                             char *err, size_t errlen);

/* ---- pipeline stages (stages.c) ---- */

typedef enum { BCOS_STAGE_RUNNING, BCOS_STAGE_DONE, BCOS_STAGE_FAILED, BCOS_STAGE_INTERRUPTED } bcos_stage_status;

/* A stage's row: the job that ran (its sha256), the run it made (or ""), how and when it ended. */
typedef struct {
    char kind[32];
    char job_sha256[65];
    char run[128];
    bcos_stage_status status;
    int exit_status; /* -1: none (still running, or killed with the pipeline) */
    char started[32], finished[32]; /* finished: "" while running */
} bcos_stage_record;

/* The stage's row: 1 when there is one, 0 when the stage never started. */
int bcos_store_stage_get(bcos_store *s, const char *pipeline, const char *stage, bcos_stage_record *out);
/* Records the stage as running with this job (replacing its row); run may be NULL. */
void bcos_store_stage_begin(bcos_store *s, const char *pipeline, const char *stage, const char *kind,
                            const char *job_sha256, const char *run);
/* Records how the stage ended. */
void bcos_store_stage_end(bcos_store *s, const char *pipeline, const char *stage, bcos_stage_status status,
                          int exit_status);
/* "running", "done", "failed", "interrupted". */
const char *bcos_stage_status_name(bcos_stage_status status);

#endif
