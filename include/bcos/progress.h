/* The progress of long work (distill, eval, shards write, image decoding, shard counting) on stderr:
 * on a terminal one line rewritten in place (at most 5 times a second) with the count, the share
 * done, the rate and the ETA; when stderr is a file or a pipe, plain log lines ("[info] ...") at
 * the moments the caller chooses, or every 5 s. Only one progress line is live at a time; a log
 * line printed meanwhile clears it first. */
#ifndef BCOS_PROGRESS_H
#define BCOS_PROGRESS_H

#include <stddef.h>

typedef struct {
    const char *what;  /* the first word(s) of the line: "step", "writing samples" */
    long total;        /* 0 when unknown */
    long done;
    long first;        /* done when this process started: the rate counts its own work */
    double fraction;   /* the share done as the caller knows it when total is unknown (eval: its shards); < 0: none */
    double started, last_print;
    long printed;      /* done at the last line printed (-1: none) */
    int tty;
} bcos_progress;

void bcos_progress_start(bcos_progress *p, const char *what, long total);
/* Started at `done` of `total` (a resumed run): rate and ETA from this process's work only. */
void bcos_progress_start_at(bcos_progress *p, const char *what, long done, long total);
/* Advance by n; a line when enough time has passed (a terminal: 0.2 s, else 5 s). extra is put
 * after the count (may be NULL). */
void bcos_progress_step(bcos_progress *p, long n, const char *extra);
/* Now at `done`. A terminal's line is refreshed when 0.2 s have passed; elsewhere a log line is
 * printed when log_line is set (the caller's cadence, such as distill's log_every). */
void bcos_progress_update(bcos_progress *p, long done, const char *extra, int log_line);
/* The share of the work done, for the ETA when the total count is unknown. */
void bcos_progress_set_fraction(bcos_progress *p, double fraction);
/* The final line (unless a log line already said the same), ended. */
void bcos_progress_finish(bcos_progress *p, const char *extra);
/* A duration for people: "1h02m", "3m05s", "42s" ("-" when not finite or negative). */
void bcos_format_duration(char *buf, size_t len, double seconds);

#endif
