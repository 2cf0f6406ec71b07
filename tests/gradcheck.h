/* Gradient checks for forward/backward kernel pairs that exist in double (the oracle) and float (the
 * backend). A case names its differentiable tensors and gives four adapters; gc_run then
 *   1. checks the double backward against central finite differences of the double forward, for the
 *      scalar loss L = sum(out * R) with random R, every element of every tensor (rel error < 1e-6);
 *   2. checks that backward accumulates: a second call doubles every gradient (double and float);
 *   3. checks the float forward and backward against the double ones on the same inputs (< 1e-5).
 * Inputs are random normal floats, so the double and float kernels see exactly the same values. */
#ifndef BCOS_GRADCHECK_H
#define BCOS_GRADCHECK_H

#include <string.h>

#include "bcos/check.h"
#include "bcos/rng.h"
#include "test.h"

#define GC_MAX_TENSORS 4
#define GC_FD_STEP 1e-6
#define GC_FD_TOLERANCE 1e-6
#define GC_F32_TOLERANCE 1e-5
/* A second backward adds the same terms again, but a gradient summed over rows in place rounds each
 * partial sum afresh: "doubled" holds to the type's rounding. Overwriting instead would be off by 0.5. */
#define GC_ACCUMULATE_TOLERANCE_F64 1e-12
#define GC_ACCUMULATE_TOLERANCE_F32 1e-6

typedef struct {
    const char *name;
    size_t n;
    double *x64, *g64; /* value and gradient in double */
    float *x32, *g32;  /* the same value in float, and the float gradient */
} gc_tensor;

typedef struct gc_case gc_case;
struct gc_case {
    const char *name;
    int count;
    gc_tensor t[GC_MAX_TENSORS];
    size_t nout;
    double *out64, *dout64; /* dout = R, the loss weights */
    float *out32, *dout32;
    /* Forwards write out from t[].x; backwards accumulate into t[].g from dout (after a forward). */
    void (*forward64)(gc_case *c);
    void (*backward64)(gc_case *c);
    void (*forward32)(gc_case *c);
    void (*backward32)(gc_case *c);
    void *ctx; /* the kernel's shapes, indices and saved statistics */
};

static inline void gc_init(gc_case *c, const char *name, size_t nout) {
    memset(c, 0, sizeof *c);
    c->name = name;
    c->nout = nout;
    c->out64 = xcalloc(nout, sizeof(double));
    c->dout64 = xcalloc(nout, sizeof(double));
    c->out32 = xcalloc(nout, sizeof(float));
    c->dout32 = xcalloc(nout, sizeof(float));
}

/* Adds a differentiable tensor of n elements; tensors are t[0], t[1], ... in the order added. */
static inline void gc_add(gc_case *c, const char *name, size_t n) {
    BCOS_CHECK(c->count < GC_MAX_TENSORS, "raise GC_MAX_TENSORS");
    gc_tensor *t = &c->t[c->count++];
    t->name = name;
    t->n = n;
    t->x64 = xcalloc(n, sizeof(double));
    t->g64 = xcalloc(n, sizeof(double));
    t->x32 = xcalloc(n, sizeof(float));
    t->g32 = xcalloc(n, sizeof(float));
}

static inline void gc_set_adapters(gc_case *c, void (*forward64)(gc_case *), void (*backward64)(gc_case *),
                            void (*forward32)(gc_case *), void (*backward32)(gc_case *), void *ctx) {
    c->forward64 = forward64;
    c->backward64 = backward64;
    c->forward32 = forward32;
    c->backward32 = backward32;
    c->ctx = ctx;
}

static inline void gc_fill_random(bcos_rng *rng, float *x32, double *x64, size_t n) {
    bcos_rng_fill_normal(rng, x32, n, 0.0f, 1.0f);
    for (size_t i = 0; i < n; i++) x64[i] = x32[i];
}

static inline double gc_loss64(gc_case *c) {
    c->forward64(c);
    double loss = 0;
    for (size_t i = 0; i < c->nout; i++) loss += c->out64[i] * c->dout64[i];
    return loss;
}

/* Central differences of the loss with respect to every element of t, against its analytic gradient. */
static inline void gc_check_fd(gc_case *c, gc_tensor *t, const double *analytic) {
    double *fd = xcalloc(t->n, sizeof(double));
    for (size_t i = 0; i < t->n; i++) {
        double v = t->x64[i];
        t->x64[i] = v + GC_FD_STEP;
        double up = gc_loss64(c);
        t->x64[i] = v - GC_FD_STEP;
        double down = gc_loss64(c);
        t->x64[i] = v;
        fd[i] = (up - down) / (2 * GC_FD_STEP);
    }
    double err = test_rel_error_f64(analytic, fd, t->n);
    CHECK_MSG(err < GC_FD_TOLERANCE, "%s d%s: analytic vs finite differences, rel error %.3g", c->name, t->name, err);
    free(fd);
}

/* A second backward on top of the first must have doubled each gradient (both given in double). */
static inline void gc_check_doubled(gc_case *c, const gc_tensor *t, const char *type, const double *now,
                                    const double *once, double tolerance) {
    double *twice = xcalloc(t->n, sizeof(double));
    for (size_t i = 0; i < t->n; i++) twice[i] = 2 * once[i];
    double err = test_rel_error_f64(now, twice, t->n);
    CHECK_MSG(err < tolerance, "%s d%s: %s backward does not accumulate, rel error %.3g", c->name, t->name, type, err);
    free(twice);
}

/* A new double copy of a float array. */
static inline double *gc_widen(const float *x, size_t n) {
    double *wide = xcalloc(n, sizeof(double));
    for (size_t i = 0; i < n; i++) wide[i] = x[i];
    return wide;
}

/* Relative error of a float result against the double one. */
static inline double gc_rel_error_f32_f64(const float *a, const double *b, size_t n) {
    double *wide = gc_widen(a, n);
    double err = test_rel_error_f64(wide, b, n);
    free(wide);
    return err;
}

static inline void gc_check_double(gc_case *c, double **analytic) {
    for (int k = 0; k < c->count; k++) memset(c->t[k].g64, 0, c->t[k].n * sizeof(double));
    c->forward64(c);
    c->backward64(c);
    for (int k = 0; k < c->count; k++) {
        analytic[k] = xcalloc(c->t[k].n, sizeof(double));
        memcpy(analytic[k], c->t[k].g64, c->t[k].n * sizeof(double));
    }
    for (int k = 0; k < c->count; k++) gc_check_fd(c, &c->t[k], analytic[k]);
    /* The finite differences left other statistics behind: run the forward again before the backward. */
    c->forward64(c);
    c->backward64(c);
    for (int k = 0; k < c->count; k++)
        gc_check_doubled(c, &c->t[k], "double", c->t[k].g64, analytic[k], GC_ACCUMULATE_TOLERANCE_F64);
}

static inline void gc_check_float(gc_case *c, double *const *analytic) {
    for (int k = 0; k < c->count; k++) memset(c->t[k].g32, 0, c->t[k].n * sizeof(float));
    c->forward32(c);
    c->backward32(c);
    double err = gc_rel_error_f32_f64(c->out32, c->out64, c->nout);
    CHECK_MSG(err < GC_F32_TOLERANCE, "%s: float vs double forward, rel error %.3g", c->name, err);
    double *once[GC_MAX_TENSORS];
    for (int k = 0; k < c->count; k++) {
        err = gc_rel_error_f32_f64(c->t[k].g32, analytic[k], c->t[k].n);
        CHECK_MSG(err < GC_F32_TOLERANCE, "%s d%s: float vs double backward, rel error %.3g", c->name, c->t[k].name,
                  err);
        once[k] = gc_widen(c->t[k].g32, c->t[k].n);
    }
    c->backward32(c);
    for (int k = 0; k < c->count; k++) {
        double *now = gc_widen(c->t[k].g32, c->t[k].n);
        gc_check_doubled(c, &c->t[k], "float", now, once[k], GC_ACCUMULATE_TOLERANCE_F32);
        free(now);
        free(once[k]);
    }
}

/* Fills every tensor and R with random values and runs all checks; the case keeps its values, so that
 * a test can check more on the same point before gc_free. */
static inline void gc_check(gc_case *c, bcos_rng *rng) {
    for (int k = 0; k < c->count; k++) gc_fill_random(rng, c->t[k].x32, c->t[k].x64, c->t[k].n);
    gc_fill_random(rng, c->dout32, c->dout64, c->nout);
    double *analytic[GC_MAX_TENSORS];
    gc_check_double(c, analytic);
    gc_check_float(c, analytic);
    for (int k = 0; k < c->count; k++) free(analytic[k]);
}

/* Frees the case's arrays (not its ctx). */
static inline void gc_free(gc_case *c) {
    for (int k = 0; k < c->count; k++) {
        free(c->t[k].x64);
        free(c->t[k].g64);
        free(c->t[k].x32);
        free(c->t[k].g32);
    }
    free(c->out64);
    free(c->dout64);
    free(c->out32);
    free(c->dout32);
}

/* Fills, checks and frees the case (not its ctx). */
static inline void gc_run(gc_case *c, bcos_rng *rng) {
    gc_check(c, rng);
    gc_free(c);
}

#endif
