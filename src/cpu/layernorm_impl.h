/* LayerNorm over the last dimension (written with REAL, see kernels_impl.h), as PyTorch computes it:
 * biased variance, rstd = 1/sqrt(var + eps), affine weight and optional bias. Explanation mode
 * (docs/METHOD.md, "Explanation mode and completeness") holds rstd = 1/sigma constant; the mean stays a
 * function of the input. */

typedef struct {
    REAL *out, *mean, *rstd;
    const REAL *inp, *weight, *bias;
    int C;
    REAL eps;
} layernorm_rows;

static void layernorm_forward_rows(void *ctx, size_t begin, size_t end) {
    const layernorm_rows *a = ctx;
    REAL *out = a->out, *mean = a->mean, *rstd = a->rstd;
    const REAL *inp = a->inp, *weight = a->weight, *bias = a->bias;
    int C = a->C;
    REAL eps = a->eps;
    for (size_t n = begin; n < end; n++) {
        const REAL *x = inp + (size_t)n * C;
        REAL *y = out + (size_t)n * C;
        REAL m = 0;
        for (int c = 0; c < C; c++) m += x[c];
        m /= C;
        /* Two passes: summing squared deviations avoids the cancellation of E[x^2] - E[x]^2. */
        REAL var = 0;
        for (int c = 0; c < C; c++) var += (x[c] - m) * (x[c] - m);
        var /= C;
        REAL s = 1 / sqrt(var + eps);
        for (int c = 0; c < C; c++) y[c] = (x[c] - m) * s * weight[c] + (bias ? bias[c] : 0);
        mean[n] = m;
        rstd[n] = s;
    }
}

static void layernorm_forward(REAL *out, REAL *mean, REAL *rstd, const REAL *inp, const REAL *weight,
                              const REAL *bias, int N, int C, REAL eps) {
    layernorm_rows a = {out, mean, rstd, inp, weight, bias, C, eps};
    cpu_parallel_for((size_t)N, 1 + 4096 / (size_t)C, layernorm_forward_rows, &a);
}

static void layernorm_backward(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout, const REAL *inp,
                               const REAL *weight, const REAL *mean, const REAL *rstd, int N, int C) {
    for (int n = 0; n < N; n++) {
        const REAL *x = inp + (size_t)n * C;
        const REAL *dy = dout + (size_t)n * C;
        REAL m = mean[n], s = rstd[n];
        /* The input gradient needs two row means: of dnorm = dy * weight and of dnorm * norm. */
        REAL mean_dnorm = 0, mean_dnorm_norm = 0;
        for (int c = 0; c < C; c++) {
            REAL dnorm = dy[c] * weight[c];
            mean_dnorm += dnorm;
            mean_dnorm_norm += dnorm * (x[c] - m) * s;
        }
        mean_dnorm /= C;
        mean_dnorm_norm /= C;
        for (int c = 0; c < C; c++) {
            REAL norm = (x[c] - m) * s;
            if (dbias) dbias[c] += dy[c];
            if (dweight) dweight[c] += dy[c] * norm;
            if (dinp) dinp[(size_t)n * C + c] += s * (dy[c] * weight[c] - mean_dnorm - norm * mean_dnorm_norm);
        }
    }
}

/* Explanation mode: out = (inp - mean) * rstd * weight with rstd constant is linear in inp, and
 * dinp = rstd * (dnorm - mean(dnorm)), dnorm = dout * weight: the full backward without its rstd term. */
static void layernorm_explain_backward(REAL *dinp, const REAL *dout, const REAL *weight, const REAL *rstd, int N,
                                       int C) {
    if (!dinp) return;
    for (int n = 0; n < N; n++) {
        const REAL *dy = dout + (size_t)n * C;
        REAL mean_dnorm = 0;
        for (int c = 0; c < C; c++) mean_dnorm += dy[c] * weight[c];
        mean_dnorm /= C;
        for (int c = 0; c < C; c++) dinp[(size_t)n * C + c] += rstd[n] * (dy[c] * weight[c] - mean_dnorm);
    }
}
