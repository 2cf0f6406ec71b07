/* The distillation losses: cosine to a frozen target, and the SigLIP-style loss with negatives
 * from the whole batch. Both are computed in double from fp32 embeddings, with a zero-norm guard. */
#include <math.h>
#include <stdlib.h>

#include "bcos/check.h"
#include "bcos/train.h"

/* Rows whose norm is below this are treated as having this norm (the zero-norm guard). */
#define NORM_EPS 1e-8

static double row_norm(const float *x, int E) {
    double ss = 0;
    for (int e = 0; e < E; e++) ss += (double)x[e] * x[e];
    double n = sqrt(ss);
    return n < NORM_EPS ? NORM_EPS : n;
}

static double dot(const float *a, const float *b, int E) {
    double d = 0;
    for (int e = 0; e < E; e++) d += (double)a[e] * b[e];
    return d;
}

/* d cos(s, t̂)/ds scaled by coeff, accumulated into ds: (t̂ − cos·ŝ) / ||s||. */
static void add_cos_grad(float *ds, const float *s, const float *t, int E, double ns, double nt, double cos,
                         double coeff) {
    for (int e = 0; e < E; e++) {
        double g = ((double)t[e] / nt - cos * (double)s[e] / ns) / ns;
        ds[e] += (float)(coeff * g);
    }
}

double bcos_cosine_loss(float *ds, double *mean_cos, const float *s, const float *t, int B, int E, double weight) {
    double sum_cos = 0;
    for (int b = 0; b < B; b++) {
        const float *sb = s + (size_t)b * E, *tb = t + (size_t)b * E;
        double ns = row_norm(sb, E), nt = row_norm(tb, E);
        double cos = dot(sb, tb, E) / (ns * nt);
        sum_cos += cos;
        if (ds) add_cos_grad(ds + (size_t)b * E, sb, tb, E, ns, nt, cos, -weight / B);
    }
    if (mean_cos) *mean_cos = sum_cos / B;
    return weight * (1.0 - sum_cos / B);
}

/* log σ(x) without overflow */
static double log_sigmoid(double x) { return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)); }

double bcos_siglip_loss(float *ds, const float *s, const float *t, int B, int N, int E, int row_offset,
                        double scale, double bias_shift) {
    double *t_norm = xmalloc((size_t)N * sizeof(double));
    for (int n = 0; n < N; n++) t_norm[n] = row_norm(t + (size_t)n * E, E);
    double loss = 0;
    for (int b = 0; b < B; b++) {
        const float *sb = s + (size_t)b * E;
        double ns = row_norm(sb, E);
        for (int n = 0; n < N; n++) {
            const float *tn = t + (size_t)n * E;
            double cos = dot(sb, tn, E) / (ns * t_norm[n]);
            double label = (row_offset + b == n) ? 1.0 : -1.0;
            double x = label * (scale * cos - bias_shift);
            loss -= log_sigmoid(x) / N;
            /* dL/dcos = -(1/N) σ(-x) · label · scale */
            if (ds) add_cos_grad(ds + (size_t)b * E, sb, tn, E, ns, t_norm[n], cos, -label * scale / (1.0 + exp(x)) / N);
        }
    }
    free(t_norm);
    return loss;
}
