/* `bcos top`: a live view of a run while it writes the store: its step out of the job's steps,
 * loss, cosine, img/s, ETA and newest checkpoint, refreshed every --interval seconds. It reads
 * through a read-only connection in short read transactions, so in WAL mode the writer never
 * waits for it. On a terminal it redraws one panel and quits on q or Ctrl-C; otherwise (or with
 * --plain) it prints one line whenever the run moves. It exits when the run is no longer running,
 * or when no process holds its lease any more (its writer was killed). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "bcos/check.h"
#include "bcos/log.h"
#include "bcos/progress.h"
#include "cli.h"

static const char *const USAGE =
    "usage: bcos top [RUN] [--db PATH] [--interval SECONDS] [--plain]\n"
    "Shows a run while it trains: step, loss, cosine to the teacher, img/s, ETA and the newest\n"
    "checkpoint, refreshed every --interval seconds (default 1). RUN defaults to the most recently\n"
    "updated run that is running; a RUN the store does not hold yet is waited for. On a terminal q or\n"
    "Ctrl-C quits; --plain (the default when stdout is not a terminal) prints one line each time\n"
    "the run moves. Exits when the run stops running (done, preempted or failed), or when no\n"
    "process holds its lease any more (its writer was killed).\n";

/* The run as one refresh saw it. */
typedef struct {
    bcos_run_info info;
    int64_t step, total_steps, batch_size, checkpoint_step;
    double loss, cos, images_per_s; /* the newest row's loss and cosine; img/s averaged over the newest rows */
    char *checkpoint_at;
} run_view;

/* Rows averaged for img/s. */
#define RATE_ROWS 20

static volatile sig_atomic_t g_quit;
static struct termios g_saved_termios;
static int g_raw_terminal;

static void on_interrupt(int signo) {
    (void)signo;
    g_quit = 1;
}

static void restore_terminal(void) {
    if (g_raw_terminal) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
    g_raw_terminal = 0;
}

/* Keys without Enter and without echo, so that q quits at once. */
static void raw_terminal(void) {
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &g_saved_termios) != 0) return;
    struct termios raw = g_saved_termios;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) {
        g_raw_terminal = 1;
        atexit(restore_terminal);
    }
}

static int64_t job_number(const char *job_text, const char *key) {
    cJSON *job = cJSON_Parse(job_text);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(job, key);
    int64_t value = cJSON_IsNumber(item) ? (int64_t)item->valuedouble : 0;
    cJSON_Delete(job);
    return value;
}

/* The run named (NULL: the most recently updated run that runs, its writer alive): 1 and *info, or 0
 * when there is none. */
static int find_run(bcos_store *s, const char *name, bcos_run_info *info) {
    bcos_run_info *runs;
    char err[BCOS_ERRLEN];
    int n = bcos_store_run_infos(s, NULL, 0, &runs, err, sizeof err), found = -1;
    for (int i = 0; i < n; i++) {
        if (name ? strcmp(runs[i].name, name) != 0
                 : strcmp(runs[i].status, "running") != 0 || !bcos_store_run_has_writer(s, runs[i].name))
            continue;
        if (found < 0 || strcmp(runs[i].updated_at, runs[found].updated_at) > 0) found = i;
    }
    if (found >= 0) {
        *info = runs[found];
        runs[found] = runs[n - 1]; /* its strings now belong to *info */
        n--;
    }
    bcos_run_infos_free(runs, n);
    return found >= 0;
}

static void view_free(run_view *v) {
    free(v->info.name), free(v->info.kind), free(v->info.status), free(v->info.job_text);
    free(v->info.code_version), free(v->info.created_at), free(v->info.updated_at);
    free(v->checkpoint_at);
    memset(v, 0, sizeof *v);
}

/* Read the run's state: 1, or 0 when the run is not (yet) in the store. */
static int refresh(bcos_store *s, const char *name, run_view *v) {
    view_free(v);
    if (!find_run(s, name, &v->info)) return 0;
    v->total_steps = job_number(v->info.job_text, "steps");
    v->batch_size = job_number(v->info.job_text, "batch_size");
    bcos_metric *rows;
    int n = bcos_store_metrics_read(s, v->info.id, RATE_ROWS, &rows), counted = 0;
    v->loss = v->cos = v->images_per_s = NAN;
    v->step = n ? rows[n - 1].step : 0;
    if (n) v->loss = rows[n - 1].loss, v->cos = rows[n - 1].cos;
    double sum = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(rows[i].images_per_s)) sum += rows[i].images_per_s, counted++;
    if (counted) v->images_per_s = sum / counted;
    free(rows);
    bcos_checkpoint_row *ckpts;
    int k = bcos_store_checkpoint_rows(s, v->info.id, &ckpts);
    v->checkpoint_step = -1;
    for (int i = 0; i < k; i++)
        if (strcmp(ckpts[i].state, "complete") == 0) {
            v->checkpoint_step = ckpts[i].step;
            free(v->checkpoint_at);
            v->checkpoint_at = xstrdup(ckpts[i].created_at);
        }
    bcos_checkpoint_rows_free(ckpts, k);
    return 1;
}

/* Steps per second: as this view saw the step move, else from img/s and the batch size; 0 unknown. */
typedef struct {
    double since;
    int64_t step_then;
} rate_probe;

static double steps_per_second(const run_view *v, const rate_probe *probe) {
    double elapsed = bcos_now_seconds() - probe->since;
    if (v->step > probe->step_then && elapsed > 0) return (double)(v->step - probe->step_then) / elapsed;
    if (isfinite(v->images_per_s) && v->batch_size > 0) return v->images_per_s / (double)v->batch_size;
    return 0;
}

static void format_eta(char *buf, size_t len, const run_view *v, double rate) {
    double left = (double)(v->total_steps - v->step);
    if (v->total_steps > 0 && left <= 0) bcos_format_duration(buf, len, 0);
    else bcos_format_duration(buf, len, v->total_steps > 0 && rate > 0 ? left / rate : NAN);
}

static void format_checkpoint(char *buf, size_t len, const run_view *v) {
    if (v->checkpoint_step < 0) snprintf(buf, len, "none");
    else snprintf(buf, len, "step %lld at %s", (long long)v->checkpoint_step, v->checkpoint_at);
}

/* A value, or "-" before the run has one. */
static const char *number(char *buf, size_t len, const char *fmt, double value) {
    if (isfinite(value)) snprintf(buf, len, fmt, value);
    else snprintf(buf, len, "-");
    return buf;
}

static void print_line(const run_view *v, double rate) {
    char eta[32], ckpt[96], loss[32], cos[32], ips[32];
    format_eta(eta, sizeof eta, v, rate);
    format_checkpoint(ckpt, sizeof ckpt, v);
    printf("%s %s step %lld/%lld loss %s cos %s img/s %s ETA %s checkpoint %s\n", v->info.name, v->info.status,
           (long long)v->step, (long long)v->total_steps, number(loss, sizeof loss, "%.5g", v->loss),
           number(cos, sizeof cos, "%.4g", v->cos), number(ips, sizeof ips, "%.1f", v->images_per_s), eta, ckpt);
    fflush(stdout);
}

static void draw_panel(const run_view *v, double rate, const char *db) {
    char eta[32], ckpt[96], loss[32], cos[32], ips[32];
    format_eta(eta, sizeof eta, v, rate);
    format_checkpoint(ckpt, sizeof ckpt, v);
    double pct = v->total_steps > 0 ? 100.0 * (double)v->step / (double)v->total_steps : 0;
    printf("\033[H\033[2J"
           "bcos top: run %s (%s, %s, world size %d)\n"
           "store       %s\n\n"
           "step        %lld / %lld (%.1f%%)\n"
           "loss        %s\n"
           "cosine      %s\n"
           "img/s       %s\n"
           "ETA         %s\n"
           "checkpoint  %s\n"
           "updated     %s\n\n"
           "q or Ctrl-C quits\n",
           v->info.name, v->info.kind, v->info.status, v->info.world_size, db, (long long)v->step,
           (long long)v->total_steps, pct, number(loss, sizeof loss, "%.5g", v->loss),
           number(cos, sizeof cos, "%.4g", v->cos), number(ips, sizeof ips, "%.1f", v->images_per_s), eta, ckpt, v->info.updated_at);
    fflush(stdout);
}

/* Wait up to `seconds`; 1 when the user asked to quit (q, Ctrl-C). */
static int wait_or_quit(double seconds, int keys) {
    struct pollfd in = {.fd = STDIN_FILENO, .events = POLLIN};
    int ready = poll(&in, keys ? 1 : 0, (int)(seconds * 1000));
    if (ready > 0 && keys) {
        char c;
        if (read(STDIN_FILENO, &c, 1) == 1 && (c == 'q' || c == 'Q')) return 1;
    }
    return g_quit;
}

static double parse_interval(const char *text) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= 0.05 && v <= 3600))
        bcos_fail("--interval takes seconds in [0.05, 3600], not '%s'", text);
    return v;
}

int cmd_top(int argc, char **argv) {
    static const struct option long_opts[] = {{"db", required_argument, 0, 'd'}, {"interval", required_argument, 0, 'i'},
                                              {"plain", no_argument, 0, 'p'},   {"help", no_argument, 0, 'h'},
                                              {0, 0, 0, 0}};
    const char *db = NULL;
    double interval = 1.0;
    int plain = !isatty(STDOUT_FILENO), c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'i': interval = parse_interval(optarg); break;
        case 'p': plain = 1; break;
        case 'h': fputs(USAGE, stdout); return 0;
        default: cli_bad_option("top", argc, argv);
        }
    }
    if (argc - optind > 1) bcos_fail("bcos top takes one run name, not '%s' too", argv[optind + 1]);
    const char *name = optind < argc ? argv[optind] : NULL;
    bcos_store *s = cli_open_store(db);
    struct sigaction quit = {.sa_handler = on_interrupt};
    sigemptyset(&quit.sa_mask);
    sigaction(SIGINT, &quit, NULL);
    sigaction(SIGTERM, &quit, NULL);
    if (!plain) raw_terminal();
    run_view v = {0};
    rate_probe probe = {bcos_now_seconds(), -1};
    int64_t printed_step = -1, waited = 0;
    char printed_status[16] = "";
    for (;;) {
        if (!refresh(s, name, &v)) {
            if (!name) bcos_fail("%s: no running run (name one: bcos top RUN)", bcos_store_path(s));
            if (!waited++) fprintf(stderr, "[info] waiting for run '%s' in %s\n", name, bcos_store_path(s));
        } else {
            if (probe.step_then < 0) probe = (rate_probe){bcos_now_seconds(), v.step};
            double rate = steps_per_second(&v, &probe);
            if (!plain) draw_panel(&v, rate, bcos_store_path(s));
            else if (v.step != printed_step || strcmp(v.info.status, printed_status) != 0) print_line(&v, rate);
            printed_step = v.step;
            snprintf(printed_status, sizeof printed_status, "%s", v.info.status);
            if (strcmp(v.info.status, "running") != 0) break;
            if (!bcos_store_run_has_writer(s, v.info.name)) {
                bcos_warn("run '%s' is marked running, but no process holds its lease: its writer was killed "
                          "(the same command resumes it)", v.info.name);
                break;
            }
        }
        if (wait_or_quit(interval, !plain && g_raw_terminal)) break;
    }
    restore_terminal();
    view_free(&v);
    bcos_store_close(s);
    return 0;
}
