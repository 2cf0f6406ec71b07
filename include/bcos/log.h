/* Logging to stderr with a level, and a progress line for long work (rewritten in place on a
 * terminal, one line every few seconds when stderr is a file or pipe). */
#ifndef BCOS_LOG_H
#define BCOS_LOG_H

#include "bcos/check.h"

typedef enum { BCOS_LOG_DEBUG, BCOS_LOG_INFO, BCOS_LOG_WARN, BCOS_LOG_ERROR } bcos_log_level;

void bcos_log_set_level(bcos_log_level level);
/* Text put before every log line ("rank 1: "); copied. NULL or "": none. */
void bcos_log_set_prefix(const char *prefix);
void bcos_log(bcos_log_level level, const char *fmt, ...) BCOS_PRINTF(2, 3);
#define bcos_info(...) bcos_log(BCOS_LOG_INFO, __VA_ARGS__)
#define bcos_warn(...) bcos_log(BCOS_LOG_WARN, __VA_ARGS__)
#define bcos_debug(...) bcos_log(BCOS_LOG_DEBUG, __VA_ARGS__)

typedef struct {
    const char *what;
    long total; /* 0 when unknown */
    long done;
    double started;
    double last_print;
} bcos_progress;

double bcos_now_seconds(void);
void bcos_progress_start(bcos_progress *p, const char *what, long total);
/* Advance by n; prints when enough time has passed. extra is appended to the line (may be NULL). */
void bcos_progress_step(bcos_progress *p, long n, const char *extra);
void bcos_progress_finish(bcos_progress *p);

#endif
