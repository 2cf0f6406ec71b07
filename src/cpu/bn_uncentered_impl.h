/* Uncentered BatchNorm over NCHW maps (written with REAL, see kernels_impl.h; docs/METHOD.md, "The ResNet
 * student"): out = gamma * x / sqrt(var + eps) (+ bias_scale * bias), no mean subtracted. Training uses the
 * batch's biased variance over (N, H, W), around the batch mean; evaluation and explanation use the running
 * variance. The batch statistics come in steps whose results are sums over the images, divided by the
 * count of values the statistics cover (over every rank): the ranks' partial results then add up to the
 * whole batch's, so that a caller sums them over the ranks between the steps (global statistics) or does
 * not (per-rank statistics, count being its own). Sums are taken in double: a channel may hold ~10^6 values. */

/* The per-channel loops over threads, a channel each: its sum is taken in one thread, in order. */
typedef struct {
    REAL *out, *dinp, *dweight, *dbias;
    const REAL *inp, *dout, *weight, *mean, *var, *dvar;
    int B, C, HW;
    REAL count, eps, bias_scale;
} bn_channels;

/* sum over the batch and map of f(x) for channel c, in double; f: x, or (x - mean)^2. */
static double bn_channel_sum(const bn_channels *a, int c, int squared_deviation) {
    double sum = 0;
    for (int b = 0; b < a->B; b++) {
        const REAL *x = a->inp + ((size_t)b * a->C + c) * a->HW;
        if (squared_deviation)
            for (int p = 0; p < a->HW; p++) sum += (double)(x[p] - a->mean[c]) * (x[p] - a->mean[c]);
        else
            for (int p = 0; p < a->HW; p++) sum += x[p];
    }
    return sum;
}

static void bn_mean_channels(void *ctx, size_t begin, size_t end) {
    const bn_channels *a = ctx;
    for (size_t c = begin; c < end; c++) a->out[c] = (REAL)(bn_channel_sum(a, (int)c, 0) / a->count);
}

static void bn_var_channels(void *ctx, size_t begin, size_t end) {
    const bn_channels *a = ctx;
    for (size_t c = begin; c < end; c++) a->out[c] = (REAL)(bn_channel_sum(a, (int)c, 1) / a->count);
}

static size_t bn_grain(int B, int HW) { return 1 + ELEMENTWISE_GRAIN / ((size_t)B * HW); }

/* mean[C] = sum over (b, p) of inp[b,c,p] / count. */
static void bn_batch_mean(REAL *mean, const REAL *inp, int B, int C, int HW, REAL count) {
    bn_channels a = {.out = mean, .inp = inp, .B = B, .C = C, .HW = HW, .count = count};
    cpu_parallel_for((size_t)C, bn_grain(B, HW), bn_mean_channels, &a);
}

/* var[C] = sum over (b, p) of (inp[b,c,p] - mean[c])^2 / count, mean being the whole batch's. */
static void bn_batch_var(REAL *var, const REAL *inp, const REAL *mean, int B, int C, int HW, REAL count) {
    bn_channels a = {.out = var, .inp = inp, .mean = mean, .B = B, .C = C, .HW = HW, .count = count};
    cpu_parallel_for((size_t)C, bn_grain(B, HW), bn_var_channels, &a);
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
static void bn_dvar_channels(void *ctx, size_t begin, size_t end) {
    const bn_channels *a = ctx;
    for (size_t c = begin; c < end; c++) {
        double sum = 0;
        for (int b = 0; b < a->B; b++) {
            const REAL *x = a->inp + ((size_t)b * a->C + c) * a->HW, *g = a->dout + ((size_t)b * a->C + c) * a->HW;
            for (int p = 0; p < a->HW; p++) sum += (double)g[p] * x[p];
        }
        REAL rstd = 1 / sqrt(a->var[c] + a->eps);
        a->out[c] = (REAL)(sum * -0.5 * a->weight[c] * rstd * rstd * rstd);
    }
}

static void bn_uncentered_dvar(REAL *dvar, const REAL *dout, const REAL *inp, const REAL *weight, const REAL *var,
                               int B, int C, int HW, REAL eps) {
    bn_channels a = {.out = dvar, .inp = inp, .dout = dout, .weight = weight, .var = var, .B = B, .C = C, .HW = HW,
                     .eps = eps};
    cpu_parallel_for((size_t)C, bn_grain(B, HW), bn_dvar_channels, &a);
}

/* dvar[c] d var / dx = dvar[c] * 2 (x - mean) / count: the mean's own term vanishes, since the deviations
 * from the mean sum to zero over the batch. */
static void bn_backward_channels(void *ctx, size_t begin, size_t end) {
    const bn_channels *a = ctx;
    for (size_t c = begin; c < end; c++) {
        REAL rstd = 1 / sqrt(a->var[c] + a->eps), scale = a->weight[c] * rstd;
        /* mean unused without dvar */
        REAL center = a->dvar ? a->mean[c] : 0, slope = a->dvar ? a->dvar[c] * 2 / a->count : 0;
        double dw = 0, db = 0;
        for (int b = 0; b < a->B; b++) {
            const REAL *x = a->inp + ((size_t)b * a->C + c) * a->HW, *g = a->dout + ((size_t)b * a->C + c) * a->HW;
            if (a->dweight || a->dbias)
                for (int p = 0; p < a->HW; p++) {
                    dw += (double)g[p] * x[p];
                    db += g[p];
                }
            REAL *dx = a->dinp ? a->dinp + ((size_t)b * a->C + c) * a->HW : NULL;
            if (dx)
                for (int p = 0; p < a->HW; p++) dx[p] += scale * g[p] + slope * (x[p] - center);
        }
        if (a->dweight) a->dweight[c] += (REAL)(dw * rstd);
        if (a->dbias) a->dbias[c] += (REAL)(db * a->bias_scale);
    }
}

static void bn_uncentered_backward(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout, const REAL *inp,
                                   const REAL *weight, const REAL *mean, const REAL *var, const REAL *dvar, int B,
                                   int C, int HW, REAL eps, REAL count, REAL bias_scale) {
    bn_channels a = {.dinp = dinp, .dweight = dweight, .dbias = dbias, .inp = inp, .dout = dout, .weight = weight,
                     .mean = mean, .var = var, .dvar = dvar, .B = B, .C = C, .HW = HW, .count = count, .eps = eps,
                     .bias_scale = bias_scale};
    cpu_parallel_for((size_t)C, bn_grain(B, HW), bn_backward_channels, &a);
}
