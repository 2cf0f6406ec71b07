/* `bcos pipeline`: a pipeline file names stages, each a job (inline, or a job file) with the stages
 * it needs. `run` checks every stage's job, then runs the stages in dependency order, each as `bcos
 * run` in a child process, recording them in the store's stages table: a stage done with the same job
 * is skipped, one that was interrupted runs again (distill resumes its run from its checkpoint), one
 * whose job changed since it ran is refused. `status` prints the stages as the store has them;
 * `stages` prints the order and the needs (what slurm/pipeline.sh submits). */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bcos/check.h"
#include "bcos/paths.h"
#include "bcos/sha256.h"
#include "bcos/store.h"
#include "cli.h"

/* EX_TEMPFAIL, as distill: stopped on request after a checkpoint; run the same command again. */
#define EXIT_PREEMPTED 75

static const char *const USAGE =
    "usage: bcos pipeline run P.json [--stage NAME]   run the stages not done yet, in dependency order\n"
    "       bcos pipeline status P.json               the stages as the store records them\n"
    "       bcos pipeline stages P.json               the stages in order, with what each needs\n"
    "P.json: {\"name\": NAME (default: the file's name), \"db\": STORE (default: $BCOS_DB, else ./bcos.db),\n"
    "         \"stages\": [{\"name\": STAGE, \"job\": {\"kind\": ...} or \"jobs/FILE.json\", \"needs\": [STAGE, ...]}, ...]}\n"
    "The store's and job files' paths may hold ${VAR}, an environment variable.\n"
    "Each stage runs as 'bcos run JOB' with BCOS_DB set to the pipeline's store. A stage recorded done\n"
    "with the same job is skipped; an interrupted one runs again and resumes; a stage whose job changed\n"
    "since it ran is refused (give it a new name). --stage runs one stage, once those it needs are done.\n"
    "SIGINT, SIGTERM, SIGUSR1 and SIGUSR2 are handed to the running stage.\n";

typedef struct {
    char *name;
    char *job_path;    /* its job file; NULL for an inline job */
    char *inline_text; /* an inline job as checked, written to a temporary file when the stage runs */
    const cli_job_kind *kind;
    char sha[BCOS_SHA256_HEX]; /* of the checked job text */
    char *run;                 /* the store run it makes, or NULL */
    char **needs;
    int n_needs;
} stage;

typedef struct {
    char *name, *db;
    stage *stages; /* in run order once sorted */
    int n;
} pipeline;

static int valid_stage_name(const char *name) {
    if (!*name) return 0;
    for (const char *p = name; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.')) return 0;
    return 1;
}

/* "jobs/distill-tiny.json" -> "distill-tiny" (heap) */
static char *file_stem(const char *path) {
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char *stem = xstrdup(base), *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = '\0';
    return stem;
}

/* The run a stage's job makes: its "run" or "name" (eval), or for a kind that names its run after
 * the job file (distill: a "run" option and no "name"), the file's name. */
static char *stage_run(const bcos_job *job, const cli_job_kind *k, const stage *st) {
    if (!k->makes_run) return NULL;
    const bcos_job_entry *run = bcos_job_find(job, "run"), *name = bcos_job_find(job, "name");
    if (run && run->value[0]) return xstrdup(run->value);
    if (name && name->value[0]) return xstrdup(name->value);
    if (!bcos_job_option_named(k->spec(), "run") || bcos_job_option_named(k->spec(), "name")) return NULL;
    return st->job_path ? file_stem(st->job_path) : xstrdup(st->name);
}

/* The job kind named (NULL: none given), or fail: "CONTEXT.kind: expected one of ..., found ...". */
static const cli_job_kind *stage_kind(const char *name, const char *context) {
    const cli_job_kind *k = name ? cli_job_kind_named(name) : NULL;
    if (!k) {
        char kinds[256];
        cli_job_kind_list(kinds, sizeof kinds);
        bcos_fail("%s.kind: expected one of %s, found %s%.60s%s", context, kinds, name ? "\"" : "", name ? name : "nothing",
                  name ? "\"" : "");
    }
    return k;
}

/* The stage's job checked (not yet its files: earlier stages make them) and its hash; or fail. */
static void read_stage_job(stage *st, const cJSON *job_value, const char *where, const char *file) {
    char err[BCOS_ERRLEN];
    bcos_job job;
    if (cJSON_IsString(job_value)) {
        st->job_path = bcos_job_expand(job_value->valuestring, err, sizeof err);
        char *kind = st->job_path ? bcos_job_kind_of(st->job_path, err, sizeof err) : NULL;
        if (!kind) bcos_fail("%s: %s: %s", file, where, err);
        char *context = bcos_strfmt("%s: %s: %s: $", file, where, st->job_path);
        st->kind = stage_kind(kind, context);
        free(context);
        free(kind);
        if (bcos_job_read(&job, st->kind->spec(), st->job_path, err, sizeof err) != 0)
            bcos_fail("%s: stage '%s': %s", file, st->name, err);
    } else if (cJSON_IsObject(job_value)) {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(job_value, "kind");
        char *context = bcos_strfmt("%s: %s", file, where);
        st->kind = stage_kind(cJSON_IsString(kind) ? kind->valuestring : NULL, context);
        free(context);
        if (bcos_job_parse_json(&job, st->kind->spec(), job_value, where, err, sizeof err) != 0)
            bcos_fail("%s: %s", file, err);
        st->inline_text = xstrdup(job.canonical);
    } else {
        bcos_fail("%s: %s: expected a job (an object) or a job file's path, found %s", file, where,
                  job_value ? "another type" : "nothing");
    }
    bcos_sha256_hex(job.canonical, strlen(job.canonical), st->sha);
    st->run = stage_run(&job, st->kind, st);
    bcos_job_free(&job);
}

static void read_needs(stage *st, const cJSON *needs, const char *where, const char *file) {
    if (!needs) return;
    if (!cJSON_IsArray(needs)) bcos_fail("%s: %s.needs: expected an array of stage names", file, where);
    st->needs = xcalloc((size_t)cJSON_GetArraySize(needs) + 1, sizeof *st->needs);
    int i = 0;
    for (const cJSON *n = needs->child; n; n = n->next, i++) {
        if (!cJSON_IsString(n)) bcos_fail("%s: %s.needs[%d]: expected a stage name (a string)", file, where, i);
        st->needs[st->n_needs++] = xstrdup(n->valuestring);
    }
}

static void read_stage(pipeline *p, const cJSON *s, int i, const char *file) {
    char where[64];
    snprintf(where, sizeof where, "$.stages[%d]", i);
    if (!cJSON_IsObject(s)) bcos_fail("%s: %s: expected a stage (an object with name, job, needs)", file, where);
    for (const cJSON *k = s->child; k; k = k->next)
        if (strcmp(k->string, "name") != 0 && strcmp(k->string, "job") != 0 && strcmp(k->string, "needs") != 0)
            bcos_fail("%s: %s.%s: expected one of name, job, needs, found the unknown key '%s'", file, where, k->string,
                      k->string);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(s, "name");
    if (!cJSON_IsString(name) || !valid_stage_name(name->valuestring))
        bcos_fail("%s: %s.name: expected a stage name (letters, digits, '_', '-', '.')", file, where);
    for (int j = 0; j < i; j++)
        if (strcmp(p->stages[j].name, name->valuestring) == 0)
            bcos_fail("%s: %s.name: stage '%s' is named twice", file, where, name->valuestring);
    stage *st = &p->stages[i];
    st->name = xstrdup(name->valuestring);
    snprintf(where + strlen(where), sizeof where - strlen(where), ".job");
    read_stage_job(st, cJSON_GetObjectItemCaseSensitive(s, "job"), where, file);
    where[strlen(where) - strlen(".job")] = '\0';
    read_needs(st, cJSON_GetObjectItemCaseSensitive(s, "needs"), where, file);
}

static int stage_index(const pipeline *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->stages[i].name, name) == 0) return i;
    return -1;
}

/* The stages in an order where each comes after those it needs (file order among the ready ones). */
static void sort_stages(pipeline *p, const char *file) {
    for (int i = 0; i < p->n; i++)
        for (int j = 0; j < p->stages[i].n_needs; j++)
            if (stage_index(p, p->stages[i].needs[j]) < 0)
                bcos_fail("%s: stage '%s' needs '%s', which is no stage of the pipeline", file, p->stages[i].name,
                          p->stages[i].needs[j]);
    stage *sorted = xcalloc((size_t)p->n, sizeof *sorted);
    int *placed = xcalloc((size_t)p->n, sizeof *placed), n = 0;
    while (n < p->n) {
        int next = -1;
        for (int i = 0; i < p->n && next < 0; i++) {
            int ready = !placed[i];
            for (int j = 0; j < p->stages[i].n_needs && ready; j++) ready = placed[stage_index(p, p->stages[i].needs[j])];
            if (ready) next = i;
        }
        if (next < 0) {
            for (int i = 0; i < p->n; i++)
                if (!placed[i]) bcos_fail("%s: stage '%s' needs itself through a cycle of needs", file, p->stages[i].name);
        }
        placed[next] = 1;
        sorted[n++] = p->stages[next];
    }
    free(placed);
    free(p->stages);
    p->stages = sorted;
}

static void read_pipeline(pipeline *p, const char *file) {
    char *text = bcos_read_file(file, NULL);
    if (!text) bcos_fail("%s: cannot read the pipeline file", file);
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) bcos_fail("%s: $: expected a JSON object (a pipeline)", file);
    for (const cJSON *k = root->child; k; k = k->next)
        if (strcmp(k->string, "name") != 0 && strcmp(k->string, "db") != 0 && strcmp(k->string, "stages") != 0)
            bcos_fail("%s: $.%s: expected one of name, db, stages, found the unknown key '%s'", file, k->string, k->string);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    const cJSON *db = cJSON_GetObjectItemCaseSensitive(root, "db");
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(root, "stages");
    if (name && !cJSON_IsString(name)) bcos_fail("%s: $.name: expected the pipeline's name, a string", file);
    if (db && !cJSON_IsString(db)) bcos_fail("%s: $.db: expected the store's path, a string", file);
    if (!cJSON_IsArray(stages) || cJSON_GetArraySize(stages) == 0)
        bcos_fail("%s: $.stages: expected a list of stages, found %s", file, stages ? "no list or an empty one" : "nothing");
    *p = (pipeline){.name = name ? xstrdup(name->valuestring) : file_stem(file)};
    char why[BCOS_ERRLEN];
    if (db && !(p->db = bcos_job_expand(db->valuestring, why, sizeof why))) bcos_fail("%s: $.db: %s", file, why);
    p->n = cJSON_GetArraySize(stages);
    p->stages = xcalloc((size_t)p->n, sizeof *p->stages);
    int i = 0;
    for (const cJSON *s = stages->child; s; s = s->next, i++) read_stage(p, s, i, file);
    cJSON_Delete(root);
    sort_stages(p, file);
}

static void free_pipeline(pipeline *p) {
    for (int i = 0; i < p->n; i++) {
        stage *st = &p->stages[i];
        free(st->name), free(st->job_path), free(st->inline_text), free(st->run);
        for (int j = 0; j < st->n_needs; j++) free(st->needs[j]);
        free(st->needs);
    }
    free(p->stages), free(p->name), free(p->db);
}

/* ---- run ---- */

static volatile sig_atomic_t g_child;

static void hand_on(int signo) {
    if (g_child > 0) kill((pid_t)g_child, signo);
}

static void install_hand_on(void) {
    struct sigaction sa = {.sa_handler = hand_on, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    int signals[] = {SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
    for (int i = 0; i < 4; i++) BCOS_CHECK(sigaction(signals[i], &sa, NULL) == 0, "cannot install the signal handlers");
}

/* Runs `bcos run JOB` for the stage and waits: its wait status. An inline job is written to
 * TMP/STAGE.json first (a distill run is then named after the stage). */
static int run_child(const pipeline *p, const stage *st) {
    char *tmpdir = NULL, *job = st->job_path, err[BCOS_ERRLEN];
    if (!job) {
        tmpdir = bcos_strfmt("%s/bcos-pipeline-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(tmpdir)) bcos_fail("%s: cannot create a temporary folder: %s", tmpdir, strerror(errno));
        job = bcos_strfmt("%s/%s.json", tmpdir, st->name);
        if (bcos_write_file_atomic(job, st->inline_text, strlen(st->inline_text), err, sizeof err) != 0)
            bcos_fail("%s", err);
    }
    fflush(NULL);
    pid_t pid = fork();
    BCOS_CHECK(pid >= 0, "fork failed: too many processes?");
    if (pid == 0) {
        /* a process group of its own: a terminal's Ctrl-C reaches the pipeline alone, which hands it
         * on once (distill takes a second one as "stop at once") */
        setpgid(0, 0);
        if (p->db) setenv(BCOS_STORE_DB_ENV, p->db, 1);
        execl("/proc/self/exe", "bcos", "run", job, (char *)NULL);
        fprintf(stderr, "bcos: cannot run /proc/self/exe: %s\n", strerror(errno));
        _exit(127);
    }
    g_child = pid;
    int status;
    while (waitpid(pid, &status, 0) < 0) BCOS_CHECK(errno == EINTR, "waitpid failed");
    g_child = 0;
    if (tmpdir) {
        remove(job);
        rmdir(tmpdir);
        free(job);
        free(tmpdir);
    }
    return status;
}

/* Whether the stage may be skipped (done with this job); fails when its job changed since it ran. */
static int already_done(bcos_store *s, const pipeline *p, const stage *st, const char *file) {
    bcos_stage_record rec;
    if (!bcos_store_stage_get(s, p->name, st->name, &rec)) return 0;
    if (strcmp(rec.job_sha256, st->sha) != 0)
        bcos_fail("%s: stage '%s': its job changed since it ran (%s, job sha256 %.12s..., now %.12s...): give the "
                  "changed stage a new name (and its run a new name)",
                  file, st->name, bcos_stage_status_name(rec.status), rec.job_sha256, st->sha);
    return rec.status == BCOS_STAGE_DONE;
}

/* Runs one stage and records it: 0, or the exit status the pipeline stops with. */
static int run_stage(bcos_store *s, const pipeline *p, const stage *st) {
    printf("== stage '%s' (%s): running %s\n", st->name, st->kind->kind, st->job_path ? st->job_path : "its inline job");
    bcos_store_stage_begin(s, p->name, st->name, st->kind->kind, st->sha, st->run);
    int status = run_child(p, st);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    bcos_stage_status end = code == 0                                     ? BCOS_STAGE_DONE
                            : code == EXIT_PREEMPTED || WIFSIGNALED(status) ? BCOS_STAGE_INTERRUPTED
                                                                          : BCOS_STAGE_FAILED;
    bcos_store_stage_end(s, p->name, st->name, end, code);
    printf("== stage '%s': %s", st->name, bcos_stage_status_name(end));
    if (end != BCOS_STAGE_DONE) printf(" (exit status %d): run the pipeline again to %s", code,
                                       end == BCOS_STAGE_INTERRUPTED ? "resume it" : "retry it");
    printf("\n");
    return code;
}

static int pipeline_run(const pipeline *p, const char *only, const char *file) {
    char err[BCOS_ERRLEN];
    bcos_store *s;
    if ((p->db && bcos_make_parent_dirs(p->db, err, sizeof err) != 0) || bcos_store_open(p->db, NULL, &s, err, sizeof err) != 0)
        bcos_fail("%s", err);
    int from = 0, to = p->n;
    if (only) {
        from = stage_index(p, only);
        if (from < 0) bcos_fail("%s: no stage named '%s'", file, only);
        to = from + 1;
        bcos_stage_record rec;
        for (int j = 0; j < p->stages[from].n_needs; j++)
            if (!bcos_store_stage_get(s, p->name, p->stages[from].needs[j], &rec) || rec.status != BCOS_STAGE_DONE)
                bcos_fail("%s: stage '%s' needs '%s', which is not done", file, only, p->stages[from].needs[j]);
    }
    /* every changed job is refused before any stage runs */
    int *done = xcalloc((size_t)p->n, sizeof *done);
    for (int i = from; i < to; i++) done[i] = already_done(s, p, &p->stages[i], file);
    install_hand_on();
    int code = 0;
    for (int i = from; i < to && code == 0; i++) {
        if (done[i]) printf("== stage '%s' (%s): done with this job, skipped\n", p->stages[i].name, p->stages[i].kind->kind);
        else code = run_stage(s, p, &p->stages[i]);
        fflush(stdout);
    }
    free(done);
    bcos_store_close(s);
    return code;
}

/* ---- status, stages ---- */

static int pipeline_status(const pipeline *p) {
    const char *path = p->db ? p->db : bcos_store_default_path();
    bcos_store *s = access(path, F_OK) == 0 ? cli_open_store(path) : NULL;
    printf("%-16s %-8s %-12s %-20s %-24s %s\n", "stage", "kind", "status", "run", "started", "finished");
    for (int i = 0; i < p->n; i++) {
        const stage *st = &p->stages[i];
        bcos_stage_record rec;
        int known = s && bcos_store_stage_get(s, p->name, st->name, &rec);
        char status[40];
        snprintf(status, sizeof status, "%s%s", known ? bcos_stage_status_name(rec.status) : "pending",
                 known && strcmp(rec.job_sha256, st->sha) != 0 ? " (job changed)" : "");
        printf("%-16s %-8s %-12s %-20s %-24s %s\n", st->name, st->kind->kind, status,
               known && rec.run[0] ? rec.run : "-", known ? rec.started : "-", known && rec.finished[0] ? rec.finished : "-");
    }
    if (s) bcos_store_close(s);
    return 0;
}

static int pipeline_stages(const pipeline *p) {
    for (int i = 0; i < p->n; i++) {
        printf("%s\t", p->stages[i].name);
        for (int j = 0; j < p->stages[i].n_needs; j++) printf("%s%s", j ? "," : "", p->stages[i].needs[j]);
        printf("\n");
    }
    return 0;
}

int cmd_pipeline(int argc, char **argv) {
    if (argc == 2 && cli_is_help(argv[1])) return fputs(USAGE, stdout), 0;
    int with_stage = argc == 5 && strcmp(argv[3], "--stage") == 0;
    if ((argc != 3 && !with_stage) || (with_stage && strcmp(argv[1], "run") != 0)) return fputs(USAGE, stderr), 2;
    int (*action)(const pipeline *) = strcmp(argv[1], "status") == 0   ? pipeline_status
                                      : strcmp(argv[1], "stages") == 0 ? pipeline_stages
                                                                        : NULL;
    if (!action && strcmp(argv[1], "run") != 0) return fputs(USAGE, stderr), 2;
    pipeline p;
    read_pipeline(&p, argv[2]);
    int code = action ? action(&p) : pipeline_run(&p, with_stage ? argv[4] : NULL, argv[2]);
    free_pipeline(&p);
    return code;
}
