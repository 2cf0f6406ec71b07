/* Logging to stderr with a level (the progress line of long work is bcos/progress.h). */
#ifndef BCOS_LOG_H
#define BCOS_LOG_H

#include "bcos/check.h"

typedef enum { BCOS_LOG_DEBUG, BCOS_LOG_INFO, BCOS_LOG_WARN, BCOS_LOG_ERROR } bcos_log_level;

void bcos_log_set_level(bcos_log_level level);
/* Whether lines of that level are printed (ranks other than 0 print warnings and errors only). */
int bcos_log_enabled(bcos_log_level level);
/* Text put before every log line ("rank 1: "); copied. NULL or "": none. */
void bcos_log_set_prefix(const char *prefix);
void bcos_log(bcos_log_level level, const char *fmt, ...) BCOS_PRINTF(2, 3);
#define bcos_info(...) bcos_log(BCOS_LOG_INFO, __VA_ARGS__)
#define bcos_warn(...) bcos_log(BCOS_LOG_WARN, __VA_ARGS__)
#define bcos_debug(...) bcos_log(BCOS_LOG_DEBUG, __VA_ARGS__)

/* Seconds on a monotonic clock. */
double bcos_now_seconds(void);
/* The progress module (progress.c) says whether its line stands unfinished on the terminal, so that a
 * log line first clears it. */
void bcos_log_progress_line(int live);

#endif
