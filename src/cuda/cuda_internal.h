/* What the files of src/cuda share: the checked wrappers of CUDA and cuBLAS calls, the backend's
 * context (device, stream, cuBLASLt handle), stream-ordered scratch memory, the GEMM through
 * cuBLASLt, launch shapes, and the declarations of every op of include/bcos/backend_ops.h in the
 * namespace bcos_cuda (each defined in its concern's .cu file; cuda_backend.cu makes the tables). */
#ifndef BCOS_CUDA_INTERNAL_H
#define BCOS_CUDA_INTERNAL_H

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <stddef.h>

extern "C" {
#include "bcos/check.h"
}
#include "bcos/backend.h"

/* "file:line: call: the runtime's message (hint)" and exit, like every other checked call. */
#define CUDA_CHECK(call)                                                                                    \
    do {                                                                                                    \
        cudaError_t cuda_rc_ = (call);                                                                      \
        if (cuda_rc_ != cudaSuccess)                                                                        \
            bcos_die_at(__FILE__, __LINE__, "a CUDA call failed: out of device memory, a bad launch, or a " \
                        "kernel that faulted earlier (run under compute-sanitizer)", "%s: %s", #call,       \
                        cudaGetErrorString(cuda_rc_));                                                      \
    } while (0)
/* After every launch: a bad configuration shows here, a fault at the next synchronising call. */
#define CUDA_LAUNCHED() CUDA_CHECK(cudaGetLastError())
#define CUBLAS_CHECK(call)                                                                                  \
    do {                                                                                                    \
        cublasStatus_t cublas_rc_ = (call);                                                                 \
        if (cublas_rc_ != CUBLAS_STATUS_SUCCESS)                                                            \
            bcos_die_at(__FILE__, __LINE__, "a cuBLAS call failed: an unsupported shape or alignment, or " \
                        "out of device memory", "%s: %s", #call, cublasGetStatusString(cublas_rc_));       \
    } while (0)

namespace bcos_cuda {

/* The stream every op runs on, and the cuBLASLt handle; the first call sets the device up. */
cudaStream_t stream();
cublasLtHandle_t lt();
/* A GEMM workspace for cuBLASLt, its size in bytes. */
void *gemm_workspace(size_t *bytes);
/* Device memory for one op's intermediates, ordered on the stream (cudaMallocAsync). */
void *scratch(size_t bytes);
void scratch_free(void *p);

/* The GEMMs' operand precision, set for the calls of one table (cuda_backend.cu): 0 fp32 (exact fp32
 * products, no TF32), 1 bf16 operands with fp32 accumulation and fp32 output. */
void set_bf16(int on);

/* C = alpha op(A) op(B) + beta C (+ bias per column of C), row-major like cblas: op(A) is M x K, op(B)
 * K x N; A is M x K (K x M when trans_a), lda its row stride; batch > 1 repeats it at the given element
 * strides. beta = 0 never reads C. */
struct gemm {
    int trans_a, trans_b, M, N, K;
    const float *A;
    long lda;
    long long stride_a;
    const float *B;
    long ldb;
    long long stride_b;
    float *C;
    long ldc;
    long long stride_c;
    int batch;
    float alpha, beta;
    const float *bias;
};
void gemm_run(const gemm &g);
/* The common case: out[N,OC] (+)= inp[N,IC] @ weight[OC,IC]^T (+ bias), and the two products of its
 * backward, accumulating. */
void linear(float *out, const float *inp, const float *weight, const float *bias, int N, int IC, int OC,
            float beta);
void linear_backward_inputs(float *dinp, const float *dout, const float *weight, int N, int IC, int OC);
void linear_backward_weights(float *dweight, const float *dout, const float *inp, int N, int IC, int OC);

/* out[c] += scale * sum_n x[n*ld + c] for c < C, n < N: bias gradients and positional sums. */
void column_sums(float *out, const float *x, int N, int C, long ld, float scale);

/* Blocks of THREADS threads covering n elements (capped; the kernels loop with a grid stride). */
constexpr int THREADS = 256;
inline unsigned blocks_for(size_t n) {
    size_t b = (n + THREADS - 1) / THREADS;
    return (unsigned)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

/* Sums over a warp, and over a block of whole warps (at most 1024 threads; every thread gets it). */
__device__ inline float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ inline float block_sum(float v) {
    __shared__ float partial[32];
    __syncthreads(); /* partial may still be read from a previous call */
    v = warp_sum(v);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = lane < warps ? partial[lane] : 0.0f;
    return warp_sum(v);
}

/* Grid-stride loop over n elements. */
#define FOR_EACH(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

#define BCOS_CUDA_DECLARE_OP(name, params) void name params;
BCOS_BACKEND_OPS(BCOS_CUDA_DECLARE_OP, float)
#undef BCOS_CUDA_DECLARE_OP

} // namespace bcos_cuda

#endif
