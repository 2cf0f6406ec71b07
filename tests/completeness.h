/* Completeness of explanations (docs/METHOD.md, Explanation mode and completeness): with its dynamic factors frozen, a score s = sum(R * out)
 * is linear in the input x, so sum_i x_i * ds/dx_i = s exactly, up to rounding. The error is relative,
 * |sum of terms - s| / sum |terms|, summed in double. gc_check_completeness applies it to a gradient-check
 * case (tests/gradcheck.h) whose adapters are an explanation-mode forward and backward. */
#ifndef BCOS_COMPLETENESS_H
#define BCOS_COMPLETENESS_H

#include <math.h>
#include <string.h>

#include "gradcheck.h"
#include "test.h"

/* The sums of x * dx and of |x * dx| over n elements, added onto terms[0] and terms[1]. */
static inline void completeness_add_f64(double terms[2], const double *x, const double *dx, size_t n) {
    for (size_t i = 0; i < n; i++) {
        terms[0] += x[i] * dx[i];
        terms[1] += fabs(x[i] * dx[i]);
    }
}

static inline void completeness_add_f32(double terms[2], const float *x, const float *dx, size_t n) {
    for (size_t i = 0; i < n; i++) {
        terms[0] += (double)x[i] * dx[i];
        terms[1] += fabs((double)x[i] * dx[i]);
    }
}

static inline double completeness_error(const double terms[2], double score) {
    return fabs(terms[0] - score) / terms[1];
}

static inline double dot_f64(const double *a, const double *b, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += a[i] * b[i];
    return sum;
}

static inline double dot_f32(const float *a, const float *b, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double)a[i] * b[i];
    return sum;
}

/* One fresh forward and backward in each type at the case's current point (all of its tensors are the
 * input x); checks sum over tensors of x * dx against sum(R * out). */
static inline void gc_check_completeness(gc_case *c, double tolerance64, double tolerance32) {
    double terms64[2] = {0, 0}, terms32[2] = {0, 0};
    for (int k = 0; k < c->count; k++) {
        memset(c->t[k].g64, 0, c->t[k].n * sizeof(double));
        memset(c->t[k].g32, 0, c->t[k].n * sizeof(float));
    }
    c->forward64(c);
    c->backward64(c);
    c->forward32(c);
    c->backward32(c);
    for (int k = 0; k < c->count; k++) {
        completeness_add_f64(terms64, c->t[k].x64, c->t[k].g64, c->t[k].n);
        completeness_add_f32(terms32, c->t[k].x32, c->t[k].g32, c->t[k].n);
    }
    double err64 = completeness_error(terms64, dot_f64(c->dout64, c->out64, c->nout));
    double err32 = completeness_error(terms32, dot_f32(c->dout32, c->out32, c->nout));
    CHECK_MSG(err64 < tolerance64, "%s: double explanation not complete, rel error %.3g", c->name, err64);
    CHECK_MSG(err32 < tolerance32, "%s: float explanation not complete, rel error %.3g", c->name, err32);
}

#endif
