/* The report of runs: one self-contained HTML page (no network, no scripts, fonts or stylesheets
 * from elsewhere) with each run's facts and checkpoints, its training curves drawn as inline SVG,
 * its results (teacher and student side by side), its explanation pictures (embedded) and its
 * events counted. Several runs share one page: curves overlaid, results as columns. It reads the
 * store only. */
#ifndef BCOS_REPORT_H
#define BCOS_REPORT_H

#include <stdio.h>

#include "bcos/store.h"

/* Curves with more points than this are decimated for drawing (each bucket's extremes kept). */
#define BCOS_REPORT_MAX_POINTS 2000

/* Write the page of the runs named (n_runs of them; 0: every run in the store) to out: 0, or -1
 * with err naming an unknown run (nothing written then). */
int bcos_report_write(bcos_store *s, const char *const *runs, int n_runs, FILE *out, char *err, size_t errlen);

#endif
