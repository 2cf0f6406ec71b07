/* The progress line of long work: count, share done, rate and ETA, rewritten in place on a
 * terminal and printed as log lines elsewhere (bcos/progress.h). */
#include "bcos/progress.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "bcos/log.h"

void bcos_format_duration(char *buf, size_t len, double seconds) {
    if (!isfinite(seconds) || seconds < 0) snprintf(buf, len, "-");
    else if (seconds >= 3600) snprintf(buf, len, "%dh%02dm", (int)(seconds / 3600), (int)fmod(seconds / 60, 60));
    else if (seconds >= 60) snprintf(buf, len, "%dm%02ds", (int)(seconds / 60), (int)fmod(seconds, 60));
    else snprintf(buf, len, "%.0fs", seconds);
}

void bcos_progress_start_at(bcos_progress *p, const char *what, long done, long total) {
    *p = (bcos_progress){.what = what, .total = total, .done = done, .first = done, .fraction = -1, .printed = -1};
    p->started = p->last_print = bcos_now_seconds();
    p->tty = isatty(fileno(stderr));
}

void bcos_progress_start(bcos_progress *p, const char *what, long total) { bcos_progress_start_at(p, what, 0, total); }

void bcos_progress_set_fraction(bcos_progress *p, double fraction) { p->fraction = fraction; }

/* "(40%, 12.5/s, ETA 3m05s)", or at the end "(100%, 12.5/s, took 8s)". */
static void status_text(const bcos_progress *p, char *buf, size_t len, int final) {
    double elapsed = bcos_now_seconds() - p->started;
    double rate = elapsed > 0 ? (double)(p->done - p->first) / elapsed : 0;
    double eta = NAN;
    if (p->total > 0 && rate > 0) eta = (double)(p->total - p->done) / rate;
    else if (p->fraction > 0) eta = elapsed * (1 - p->fraction) / p->fraction;
    char when[32], share[16] = "", per_second[32];
    bcos_format_duration(when, sizeof when, final ? elapsed : eta);
    if (p->total > 0) snprintf(share, sizeof share, "%.0f%%, ", 100.0 * (double)p->done / (double)p->total);
    snprintf(per_second, sizeof per_second, rate >= 100 ? "%.0f" : "%.3g", rate);
    snprintf(buf, len, "(%s%s/s, %s %s)", share, per_second, final ? "took" : "ETA", when);
}

static void print_line(bcos_progress *p, const char *extra, int final) {
    if (!bcos_log_enabled(BCOS_LOG_INFO)) return;
    char count[48], status[96];
    if (p->total > 0) snprintf(count, sizeof count, "%ld/%ld", p->done, p->total);
    else snprintf(count, sizeof count, "%ld", p->done);
    status_text(p, status, sizeof status, final);
    const char *gap = extra && *extra ? " " : "";
    if (p->tty) {
        fprintf(stderr, "\r\033[K%s %s%s%s %s", p->what, count, gap, extra ? extra : "", status);
        if (final) fputc('\n', stderr);
        fflush(stderr);
        bcos_log_progress_line(!final);
    } else {
        bcos_info("%s %s%s%s %s", p->what, count, gap, extra ? extra : "", status);
    }
    p->printed = p->done;
    p->last_print = bcos_now_seconds();
}

void bcos_progress_update(bcos_progress *p, long done, const char *extra, int log_line) {
    p->done = done;
    if (p->tty ? bcos_now_seconds() - p->last_print >= 0.2 : log_line) print_line(p, extra, 0);
}

void bcos_progress_step(bcos_progress *p, long n, const char *extra) {
    p->done += n;
    if (bcos_now_seconds() - p->last_print >= (p->tty ? 0.2 : 5.0)) print_line(p, extra, 0);
}

void bcos_progress_finish(bcos_progress *p, const char *extra) {
    if (p->tty || p->printed != p->done) print_line(p, extra, 1);
}
