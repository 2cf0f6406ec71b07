/* Leveled logging and the progress line. */
#include "bcos/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static bcos_log_level g_level = BCOS_LOG_INFO;
static const char *const g_level_names[] = {"debug", "info", "warn", "error"};

static char g_prefix[32];

void bcos_log_set_level(bcos_log_level level) { g_level = level; }

void bcos_log_set_prefix(const char *prefix) { snprintf(g_prefix, sizeof g_prefix, "%s", prefix ? prefix : ""); }

void bcos_log(bcos_log_level level, const char *fmt, ...) {
    if (level < g_level) return;
    fprintf(stderr, "[%s] %s", g_level_names[level], g_prefix);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

double bcos_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void bcos_progress_start(bcos_progress *p, const char *what, long total) {
    p->what = what;
    p->total = total;
    p->done = 0;
    p->started = p->last_print = bcos_now_seconds();
}

static void progress_print(const bcos_progress *p, const char *extra, int final) {
    int tty = isatty(fileno(stderr));
    double elapsed = bcos_now_seconds() - p->started;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0.0;
    fprintf(stderr, tty ? "\r\033[K" : "");
    if (p->total > 0)
        fprintf(stderr, "%s: %ld/%ld (%.0f%%) %.1f/s %.0fs", p->what, p->done, p->total,
                100.0 * (double)p->done / (double)p->total, rate, elapsed);
    else
        fprintf(stderr, "%s: %ld %.1f/s %.0fs", p->what, p->done, rate, elapsed);
    if (extra) fprintf(stderr, " %s", extra);
    if (!tty || final) fputc('\n', stderr);
}

void bcos_progress_step(bcos_progress *p, long n, const char *extra) {
    p->done += n;
    double now = bcos_now_seconds();
    double every = isatty(fileno(stderr)) ? 0.2 : 5.0;
    if (now - p->last_print >= every) {
        p->last_print = now;
        progress_print(p, extra, 0);
    }
}

void bcos_progress_finish(bcos_progress *p) { progress_print(p, NULL, 1); }
