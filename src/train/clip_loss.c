/* CLIP's contrastive loss, symmetric InfoNCE over the whole global batch: the image and text
 * features normalised, logits = exp(logit_scale) · î t̂ᵀ, the mean of the cross-entropies of the
 * rows (image to text) and the columns (text to image) with the matching pairs on the diagonal, as
 * open_clip's ClipLoss computes it. Computed in double from fp32 features. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bcos/check.h"
#include "bcos/train.h"

/* F.normalize's guard: a norm below this counts as this. */
#define NORMALIZE_EPS 1e-12

/* unit[N,E] = x / max(||x||, eps), norms[N] = that divisor. */
static void normalize_rows(double *unit, double *norms, const float *x, int N, int E) {
    for (int i = 0; i < N; i++) {
        double ss = 0;
        for (int e = 0; e < E; e++) ss += (double)x[(size_t)i * E + e] * x[(size_t)i * E + e];
        double n = sqrt(ss);
        norms[i] = n < NORMALIZE_EPS ? NORMALIZE_EPS : n;
        for (int e = 0; e < E; e++) unit[(size_t)i * E + e] = x[(size_t)i * E + e] / norms[i];
    }
}

/* The softmax of n values at stride `stride` into p (same stride); returns its log-sum-exp. */
static double softmax(double *p, const double *z, int n, size_t stride) {
    double mx = -INFINITY, sum = 0;
    for (int k = 0; k < n; k++) mx = fmax(mx, z[k * stride]);
    for (int k = 0; k < n; k++) sum += p[k * stride] = exp(z[k * stride] - mx);
    for (int k = 0; k < n; k++) p[k * stride] /= sum;
    return mx + log(sum);
}

/* d/dx of x/||x|| applied to du, for the unit row u of norm n: (du − u (u·du)) / n, into dx. */
static void add_normalize_grad(float *dx, const double *du, const double *u, double n, int E) {
    double ud = 0;
    for (int e = 0; e < E; e++) ud += u[e] * du[e];
    for (int e = 0; e < E; e++) dx[e] += (float)((du[e] - u[e] * ud) / n);
}

double bcos_clip_loss(float *dimg, float *dtxt, double *dlogit_scale, const float *img, const float *txt, int N, int E,
                      double logit_scale, int row0, int B) {
    BCOS_CHECK(N > 0 && E > 0 && row0 >= 0 && B >= 0 && row0 + B <= N, "the local rows lie inside the batch");
    size_t NN = (size_t)N * N, NE = (size_t)N * E;
    double *u = xmalloc((2 * NE + 2 * (size_t)N + 3 * NN) * sizeof(double));
    double *v = u + NE, *nu = v + NE, *nv = nu + N, *logits = nv + N, *prow = logits + NN, *pcol = prow + NN;
    normalize_rows(u, nu, img, N, E);
    normalize_rows(v, nv, txt, N, E);
    double scale = exp(logit_scale), loss = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double d = 0;
            for (int e = 0; e < E; e++) d += u[(size_t)i * E + e] * v[(size_t)j * E + e];
            logits[(size_t)i * N + j] = scale * d;
        }
    for (int i = 0; i < N; i++) {
        loss += softmax(prow + (size_t)i * N, logits + (size_t)i * N, N, 1) - logits[(size_t)i * N + i];
        loss += softmax(pcol + i, logits + i, N, (size_t)N) - logits[(size_t)i * N + i];
    }
    loss /= 2.0 * N;
    /* dL/dlogits[i][j] = (prow + pcol − 2·[i = j]) / 2N; held in prow */
    double ds = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            size_t k = (size_t)i * N + j;
            prow[k] = (prow[k] + pcol[k] - 2.0 * (i == j)) / (2.0 * N);
            ds += prow[k] * logits[k];
        }
    if (dlogit_scale) *dlogit_scale += ds; /* d logits / d logit_scale = logits */
    double *du = pcol; /* the column softmax is spent: room for one row's gradient */
    for (int b = 0; b < B; b++) {
        int i = row0 + b;
        if (dimg) { /* dL/du_i = scale Σ_j G[i][j] v_j */
            memset(du, 0, (size_t)E * sizeof(double));
            for (int j = 0; j < N; j++)
                for (int e = 0; e < E; e++) du[e] += scale * prow[(size_t)i * N + j] * v[(size_t)j * E + e];
            add_normalize_grad(dimg + (size_t)b * E, du, u + (size_t)i * E, nu[i], E);
        }
        if (dtxt) { /* dL/dv_i = scale Σ_j G[j][i] u_j */
            memset(du, 0, (size_t)E * sizeof(double));
            for (int j = 0; j < N; j++)
                for (int e = 0; e < E; e++) du[e] += scale * prow[(size_t)j * N + i] * u[(size_t)j * E + e];
            add_normalize_grad(dtxt + (size_t)b * E, du, v + (size_t)i * E, nv[i], E);
        }
    }
    free(u);
    return loss;
}
