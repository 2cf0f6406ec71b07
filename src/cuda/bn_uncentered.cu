/* Uncentered BatchNorm on the GPU, NCHW, as src/cpu/bn_uncentered_impl.h computes it: out = gamma x /
 * sqrt(var + eps) (+ bias_scale bias), with the batch statistics in steps whose results the ranks may
 * sum (the count says how many values they cover). Every statistic is a sum over (image, position) per
 * channel: one block per (image, channel) plane sums it into a partial (written, no atomics), then one
 * thread per channel adds the B partials in double, as the CPU sums in double (a channel may hold 10^6
 * values). The backward's input gradient rides in the same pass over the planes as its sums. */
#include <math.h>

#include "cuda_internal.h"

namespace bcos_cuda {

/* What a plane pass sums: x, (x - mean)^2, or dout x and dout. */
enum plane_stat { VALUES, SQUARED_DEVIATIONS, GRADIENT_TERMS };

/* The inputs of a plane pass; the fields a statistic does not use are NULL. */
struct plane_args {
    const float *inp, *dout, *mean;
    int C, HW;
    /* the backward's input gradient, added as the pass goes: dinp += weight rstd dout + dvar 2 (x - mean)/count */
    float *dinp;
    const float *weight, *var, *dvar;
    float eps, count;
};

/* Block (b*C + c): first[plane] = the plane's sum of the statistic, second[plane] = its sum of dout. */
__global__ void plane_sums_kernel(float *first, float *second, plane_args a, plane_stat stat) {
    int c = blockIdx.x % a.C;
    size_t at = (size_t)blockIdx.x * a.HW;
    float m = stat == SQUARED_DEVIATIONS || (a.dinp && a.dvar) ? a.mean[c] : 0.0f;
    float scale = a.dinp ? a.weight[c] * rsqrtf(a.var[c] + a.eps) : 0.0f;
    float slope = a.dinp && a.dvar ? a.dvar[c] * 2.0f / a.count : 0.0f;
    float s1 = 0, s2 = 0;
    for (int p = threadIdx.x; p < a.HW; p += blockDim.x) {
        float x = a.inp[at + p];
        if (stat == VALUES) {
            s1 += x;
        } else if (stat == SQUARED_DEVIATIONS) {
            s1 += (x - m) * (x - m);
        } else {
            float g = a.dout[at + p];
            s1 += g * x;
            s2 += g;
            if (a.dinp) a.dinp[at + p] += scale * g + slope * (x - m);
        }
    }
    s1 = block_sum(s1);
    if (stat == GRADIENT_TERMS) s2 = block_sum(s2);
    if (threadIdx.x == 0) {
        first[blockIdx.x] = s1;
        if (second) second[blockIdx.x] = s2;
    }
}

/* What the per-channel totals become. */
enum channel_result { MEAN_OR_VAR, DVAR, PARAM_GRADS };

struct channel_args {
    float *out, *out2; /* mean or var or dvar; dweight and dbias (either may be NULL) */
    const float *weight, *var;
    int B, C;
    float eps, count, bias_scale;
};

/* Thread c: the totals over the B planes of channel c, in double, turned into the result. */
__global__ void channel_totals_kernel(const float *first, const float *second, channel_args a, channel_result what) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= a.C) return;
    double t1 = 0, t2 = 0;
    for (int b = 0; b < a.B; b++) {
        t1 += first[(size_t)b * a.C + c];
        if (second) t2 += second[(size_t)b * a.C + c];
    }
    if (what == MEAN_OR_VAR) {
        a.out[c] = (float)(t1 / a.count);
        return;
    }
    double rstd = 1.0 / sqrt((double)a.var[c] + a.eps);
    if (what == DVAR) {
        a.out[c] = (float)(t1 * -0.5 * a.weight[c] * rstd * rstd * rstd);
        return;
    }
    if (a.out) a.out[c] += (float)(t1 * rstd);
    if (a.out2) a.out2[c] += (float)(t2 * a.bias_scale);
}

/* One statistic: the plane pass, then the channel totals. */
static void channel_statistic(const plane_args &p, plane_stat stat, const channel_args &c, channel_result what) {
    size_t planes = (size_t)c.B * c.C;
    BCOS_CHECK(planes <= 0x7fffffffu, "at most 2^31 - 1 (image, channel) planes");
    float *first = (float *)scratch(planes * sizeof(float));
    float *second = stat == GRADIENT_TERMS ? (float *)scratch(planes * sizeof(float)) : NULL;
    plane_sums_kernel<<<(unsigned)planes, THREADS, 0, stream()>>>(first, second, p, stat);
    CUDA_LAUNCHED();
    channel_totals_kernel<<<(c.C + THREADS - 1) / THREADS, THREADS, 0, stream()>>>(first, second, c, what);
    CUDA_LAUNCHED();
    scratch_free(second);
    scratch_free(first);
}

static int empty(int B, int C, int HW) { return B <= 0 || C <= 0 || HW <= 0; }

void bn_batch_mean(float *mean, const float *inp, int B, int C, int HW, float count) {
    if (empty(B, C, HW)) return;
    plane_args p = {inp, NULL, NULL, C, HW, NULL, NULL, NULL, NULL, 0, count};
    channel_args c = {mean, NULL, NULL, NULL, B, C, 0, count, 0};
    channel_statistic(p, VALUES, c, MEAN_OR_VAR);
}

void bn_batch_var(float *var, const float *inp, const float *mean, int B, int C, int HW, float count) {
    if (empty(B, C, HW)) return;
    plane_args p = {inp, NULL, mean, C, HW, NULL, NULL, NULL, NULL, 0, count};
    channel_args c = {var, NULL, NULL, NULL, B, C, 0, count, 0};
    channel_statistic(p, SQUARED_DEVIATIONS, c, MEAN_OR_VAR);
}

__global__ void running_update_kernel(float *running_var, const float *var, int C, float momentum) {
    FOR_EACH(c, (size_t)C) running_var[c] = (1.0f - momentum) * running_var[c] + momentum * var[c];
}

void bn_running_update(float *running_var, const float *var, int C, float momentum) {
    if (C <= 0) return;
    running_update_kernel<<<blocks_for((size_t)C), THREADS, 0, stream()>>>(running_var, var, C, momentum);
    CUDA_LAUNCHED();
}

__global__ void bn_forward_kernel(float *out, const float *inp, const float *weight, const float *bias,
                                  const float *var, size_t n, int C, int HW, float eps, float bias_scale) {
    FOR_EACH(i, n) {
        int c = (int)(i / HW % C);
        out[i] = weight[c] / sqrtf(var[c] + eps) * inp[i] + (bias ? bias_scale * bias[c] : 0.0f);
    }
}

void bn_uncentered_forward(float *out, const float *inp, const float *weight, const float *bias, const float *var,
                           int B, int C, int HW, float eps, float bias_scale) {
    size_t n = (size_t)B * C * HW;
    if (empty(B, C, HW)) return;
    bn_forward_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(out, inp, weight, bias, var, n, C, HW, eps,
                                                               bias_scale);
    CUDA_LAUNCHED();
}

void bn_uncentered_dvar(float *dvar, const float *dout, const float *inp, const float *weight, const float *var,
                        int B, int C, int HW, float eps) {
    if (empty(B, C, HW)) return;
    plane_args p = {inp, dout, NULL, C, HW, NULL, NULL, NULL, NULL, eps, 0};
    channel_args c = {dvar, NULL, weight, var, B, C, eps, 0, 0};
    channel_statistic(p, GRADIENT_TERMS, c, DVAR);
}

void bn_uncentered_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                            const float *weight, const float *mean, const float *var, const float *dvar, int B, int C,
                            int HW, float eps, float count, float bias_scale) {
    if (empty(B, C, HW) || (!dinp && !dweight && !dbias)) return;
    plane_args p = {inp, dout, mean, C, HW, dinp, weight, var, dvar, eps, count};
    channel_args c = {dweight, dbias, weight, var, B, C, eps, count, bias_scale};
    channel_statistic(p, GRADIENT_TERMS, c, PARAM_GRADS);
}

} // namespace bcos_cuda
