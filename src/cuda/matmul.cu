/* The linear layer on the GPU: out = inp @ weight^T + bias with the bias in cuBLASLt's epilogue, its
 * backward as two accumulating GEMMs and a column sum, and that column sum (bias gradients). */
#include "cuda_internal.h"

namespace bcos_cuda {

/* Rows per block of the column sums: enough work per thread, few atomics per column. */
constexpr int SUM_ROWS = 64;

/* Block (x, y) sums rows y*SUM_ROWS.. of THREADS columns from x*THREADS, and adds that into out. */
__global__ void column_sums_kernel(float *out, const float *x, int N, int C, long ld, float scale) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    int n0 = blockIdx.y * SUM_ROWS, n1 = min(N, n0 + SUM_ROWS);
    float acc = 0;
    for (int n = n0; n < n1; n++) acc += x[(size_t)n * ld + c];
    atomicAdd(&out[c], scale * acc);
}

void column_sums(float *out, const float *x, int N, int C, long ld, float scale) {
    if (N <= 0 || C <= 0) return;
    dim3 grid((C + THREADS - 1) / THREADS, (N + SUM_ROWS - 1) / SUM_ROWS);
    column_sums_kernel<<<grid, THREADS, 0, stream()>>>(out, x, N, C, ld, scale);
    CUDA_LAUNCHED();
}

void matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N, int IC, int OC) {
    linear(out, inp, weight, bias, N, IC, OC, 0);
}

void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int N, int IC, int OC) {
    if (dinp) linear_backward_inputs(dinp, dout, weight, N, IC, OC);
    if (dweight) linear_backward_weights(dweight, dout, inp, N, IC, OC);
    if (dbias) column_sums(dbias, dout, N, OC, OC, 1);
}

} // namespace bcos_cuda
