/* Leveled logging to stderr, and the monotonic clock. */
#include "bcos/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static bcos_log_level g_level = BCOS_LOG_INFO;
static const char *const g_level_names[] = {"debug", "info", "warn", "error"};

static char g_prefix[32];
static atomic_int g_progress_live; /* a progress line stands unfinished on the terminal (loader threads log too) */

void bcos_log_progress_line(int live) { g_progress_live = live; }

void bcos_log_set_level(bcos_log_level level) { g_level = level; }

int bcos_log_enabled(bcos_log_level level) { return level >= g_level; }

void bcos_log_set_prefix(const char *prefix) { snprintf(g_prefix, sizeof g_prefix, "%s", prefix ? prefix : ""); }

void bcos_log(bcos_log_level level, const char *fmt, ...) {
    if (level < g_level) return;
    if (g_progress_live) fputs("\r\033[K", stderr);
    g_progress_live = 0;
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
