/* Shared by the CPU benchmarks: the command line (MODEL BATCH ITERS) and the median of timings. */
#ifndef BCOS_BENCH_COMMON_H
#define BCOS_BENCH_COMMON_H

#include <stdlib.h>

#include "bcos/check.h"

typedef struct {
    const char *model;
    int batch, iters;
} bench_args;

static inline bench_args bench_parse(int argc, char **argv, const char *default_model, int default_batch) {
    bench_args a = {argc > 1 ? argv[1] : default_model, argc > 2 ? atoi(argv[2]) : default_batch,
                    argc > 3 ? atoi(argv[3]) : 5};
    if (a.batch < 1 || a.iters < 1) bcos_fail("usage: %s [MODEL] [BATCH] [ITERS]", argv[0]);
    return a;
}

static int bench_compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of times[n]; sorts them. */
static inline double bench_median(double *times, int n) {
    qsort(times, (size_t)n, sizeof *times, bench_compare_double);
    return times[n / 2];
}

#endif
