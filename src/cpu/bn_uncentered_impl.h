/* Uncentered BatchNorm over NCHW maps (written with REAL, see kernels_impl.h; docs/METHOD.md, "The ResNet
 * student"): out = gamma * x / sqrt(var + eps) (+ bias_scale * bias), no mean subtracted. Training uses the
 * batch's biased variance over (N, H, W), around the batch mean; evaluation and explanation use the running
 * variance. The batch statistics come in steps whose results are sums over the images, divided by the
 * count of values the statistics cover (over every rank): the ranks' partial results then add up to the
 * whole batch's, so that a caller sums them over the ranks between the steps (global statistics) or does
 * not (per-rank statistics, count being its own). Sums are taken in double: a channel may hold ~10^6 values. */

/* mean[C] = sum over (b, p) of inp[b,c,p] / count. */
static void bn_batch_mean(REAL *mean, const REAL *inp, int B, int C, int HW, REAL count) {
    for (int c = 0; c < C; c++) {
        double sum = 0;
        for (int b = 0; b < B; b++) {
            const REAL *x = inp + ((size_t)b * C + c) * HW;
            for (int p = 0; p < HW; p++) sum += x[p];
        }
        mean[c] = (REAL)(sum / count);
    }
}

/* var[C] = sum over (b, p) of (inp[b,c,p] - mean[c])^2 / count, mean being the whole batch's. */
static void bn_batch_var(REAL *var, const REAL *inp, const REAL *mean, int B, int C, int HW, REAL count) {
    for (int c = 0; c < C; c++) {
        double sum = 0;
        for (int b = 0; b < B; b++) {
            const REAL *x = inp + ((size_t)b * C + c) * HW;
            for (int p = 0; p < HW; p++) sum += (double)(x[p] - mean[c]) * (x[p] - mean[c]);
        }
        var[c] = (REAL)(sum / count);
    }
}

static void bn_running_update(REAL *running_var, const REAL *var, int C, REAL momentum) {
    for (int c = 0; c < C; c++) running_var[c] = (1 - momentum) * running_var[c] + momentum * var[c];
}

static void bn_uncentered_forward(REAL *out, const REAL *inp, const REAL *weight, const REAL *bias, const REAL *var,
                                  int B, int C, int HW, REAL eps, REAL bias_scale) {
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            REAL scale = weight[c] / sqrt(var[c] + eps), shift = bias ? bias_scale * bias[c] : 0;
            const REAL *x = inp + ((size_t)b * C + c) * HW;
            REAL *y = out + ((size_t)b * C + c) * HW;
            for (int p = 0; p < HW; p++) y[p] = scale * x[p] + shift;
        }
}

/* dL/dvar[c] = sum over (b, p) of dout * gamma * x * -1/2 (var + eps)^(-3/2): this rank's part, written. */
static void bn_uncentered_dvar(REAL *dvar, const REAL *dout, const REAL *inp, const REAL *weight, const REAL *var,
                               int B, int C, int HW, REAL eps) {
    for (int c = 0; c < C; c++) {
        double sum = 0;
        for (int b = 0; b < B; b++) {
            const REAL *x = inp + ((size_t)b * C + c) * HW, *g = dout + ((size_t)b * C + c) * HW;
            for (int p = 0; p < HW; p++) sum += (double)g[p] * x[p];
        }
        REAL rstd = 1 / sqrt(var[c] + eps);
        dvar[c] = (REAL)(sum * -0.5 * weight[c] * rstd * rstd * rstd);
    }
}

/* dvar[c] d var / dx = dvar[c] * 2 (x - mean) / count: the mean's own term vanishes, since the deviations
 * from the mean sum to zero over the batch. */
static void bn_uncentered_backward(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout, const REAL *inp,
                                   const REAL *weight, const REAL *mean, const REAL *var, const REAL *dvar, int B,
                                   int C, int HW, REAL eps, REAL count, REAL bias_scale) {
    for (int c = 0; c < C; c++) {
        REAL rstd = 1 / sqrt(var[c] + eps), scale = weight[c] * rstd;
        REAL center = dvar ? mean[c] : 0, slope = dvar ? dvar[c] * 2 / count : 0; /* mean unused without dvar */
        double dw = 0, db = 0;
        for (int b = 0; b < B; b++) {
            const REAL *x = inp + ((size_t)b * C + c) * HW, *g = dout + ((size_t)b * C + c) * HW;
            if (dweight || dbias)
                for (int p = 0; p < HW; p++) {
                    dw += (double)g[p] * x[p];
                    db += g[p];
                }
            REAL *dx = dinp ? dinp + ((size_t)b * C + c) * HW : NULL;
            if (dx)
                for (int p = 0; p < HW; p++) dx[p] += scale * g[p] + slope * (x[p] - center);
        }
        if (dweight) dweight[c] += (REAL)(dw * rstd);
        if (dbias) dbias[c] += (REAL)(db * bias_scale);
    }
}
