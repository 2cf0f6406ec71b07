/* LayerNorm on the GPU, as src/cpu/layernorm_impl.h computes it (biased variance, two passes over the
 * row): one warp per row for the forward and the input gradient, column blocks for the weight and bias
 * gradients. Explanation mode holds rstd constant. */
#include "cuda_internal.h"

namespace bcos_cuda {

constexpr int ROWS_PER_BLOCK = THREADS / 32;
/* Rows per block of the weight and bias gradients. */
constexpr int GRAD_ROWS = 64;

static unsigned row_blocks(int N) { return (unsigned)((N + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK); }

__global__ void layernorm_forward_kernel(float *out, float *mean, float *rstd, const float *inp,
                                         const float *weight, const float *bias, int N, int C, float eps) {
    int n = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (n >= N) return;
    const float *x = inp + (size_t)n * C;
    float sum = 0;
    for (int c = lane; c < C; c += 32) sum += x[c];
    float m = warp_sum(sum) / C;
    float squares = 0;
    for (int c = lane; c < C; c += 32) squares += (x[c] - m) * (x[c] - m);
    float s = rsqrtf(warp_sum(squares) / C + eps);
    float *y = out + (size_t)n * C;
    for (int c = lane; c < C; c += 32) y[c] = (x[c] - m) * s * weight[c] + (bias ? bias[c] : 0.0f);
    if (lane == 0) {
        mean[n] = m;
        rstd[n] = s;
    }
}

/* dinp += rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)), dnorm = dout * weight; explain
 * drops the last term (with_norm = 0). */
__global__ void layernorm_inputs_kernel(float *dinp, const float *dout, const float *inp, const float *weight,
                                        const float *mean, const float *rstd, int N, int C, int with_norm) {
    int n = blockIdx.x * ROWS_PER_BLOCK + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (n >= N) return;
    const float *dy = dout + (size_t)n * C;
    const float *x = with_norm ? inp + (size_t)n * C : NULL;
    float m = with_norm ? mean[n] : 0.0f, s = rstd[n];
    float sum_dnorm = 0, sum_dnorm_norm = 0;
    for (int c = lane; c < C; c += 32) {
        float dnorm = dy[c] * weight[c];
        sum_dnorm += dnorm;
        if (with_norm) sum_dnorm_norm += dnorm * (x[c] - m) * s;
    }
    float mean_dnorm = warp_sum(sum_dnorm) / C, mean_dnorm_norm = with_norm ? warp_sum(sum_dnorm_norm) / C : 0.0f;
    float *dx = dinp + (size_t)n * C;
    for (int c = lane; c < C; c += 32) {
        float norm = with_norm ? (x[c] - m) * s : 0.0f;
        dx[c] += s * (dy[c] * weight[c] - mean_dnorm - norm * mean_dnorm_norm);
    }
}

/* dweight[c] += sum_n dout * norm, dbias[c] += sum_n dout over a block of GRAD_ROWS rows. */
__global__ void layernorm_params_kernel(float *dweight, float *dbias, const float *dout, const float *inp,
                                        const float *mean, const float *rstd, int N, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    int n0 = blockIdx.y * GRAD_ROWS, n1 = min(N, n0 + GRAD_ROWS);
    float dw = 0, db = 0;
    for (int n = n0; n < n1; n++) {
        float dy = dout[(size_t)n * C + c];
        dw += dy * (inp[(size_t)n * C + c] - mean[n]) * rstd[n];
        db += dy;
    }
    if (dweight) atomicAdd(&dweight[c], dw);
    if (dbias) atomicAdd(&dbias[c], db);
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *weight,
                       const float *bias, int N, int C, float eps) {
    if (N <= 0) return;
    layernorm_forward_kernel<<<row_blocks(N), THREADS, 0, stream()>>>(out, mean, rstd, inp, weight, bias, N, C, eps);
    CUDA_LAUNCHED();
}

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                        const float *weight, const float *mean, const float *rstd, int N, int C) {
    if (N <= 0) return;
    if (dinp) {
        layernorm_inputs_kernel<<<row_blocks(N), THREADS, 0, stream()>>>(dinp, dout, inp, weight, mean, rstd, N, C,
                                                                         1);
        CUDA_LAUNCHED();
    }
    if (dweight || dbias) {
        dim3 grid((C + THREADS - 1) / THREADS, (N + GRAD_ROWS - 1) / GRAD_ROWS);
        layernorm_params_kernel<<<grid, THREADS, 0, stream()>>>(dweight, dbias, dout, inp, mean, rstd, N, C);
        CUDA_LAUNCHED();
    }
}

void layernorm_explain_backward(float *dinp, const float *dout, const float *weight, const float *rstd, int N,
                                int C) {
    if (!dinp || N <= 0) return;
    layernorm_inputs_kernel<<<row_blocks(N), THREADS, 0, stream()>>>(dinp, dout, NULL, weight, NULL, rstd, N, C, 0);
    CUDA_LAUNCHED();
}

} // namespace bcos_cuda
