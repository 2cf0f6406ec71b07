/* The elementwise ops on the GPU, as src/cpu computes them: QuickGELU and GELU (x times a gate; the
 * explanation mode's backward holds the gate constant), ReLU, the residual sum, and the scaled bias. */
#include "cuda_internal.h"

namespace bcos_cuda {

enum gate_kind { QUICKGELU, GELU };

__device__ inline float gate(float x, gate_kind kind) {
    return kind == QUICKGELU ? 1.0f / (1.0f + expf(-1.702f * x)) : 0.5f * (1.0f + erff(x * 0.70710678118654752f));
}

/* d/dx of x * gate(x). */
__device__ inline float gated_slope(float x, gate_kind kind) {
    float g = gate(x, kind);
    if (kind == QUICKGELU) return g + x * 1.702f * g * (1.0f - g);
    return g + x * 0.39894228040143268f * expf(-0.5f * x * x);
}

__global__ void gated_forward(float *out, const float *inp, size_t n, gate_kind kind) {
    FOR_EACH(i, n) out[i] = inp[i] * gate(inp[i], kind);
}

/* dinp += dout * slope; explain: dinp += dout * gate. */
__global__ void gated_backward(float *dinp, const float *inp, const float *dout, size_t n, gate_kind kind,
                               int explain) {
    FOR_EACH(i, n) dinp[i] += dout[i] * (explain ? gate(inp[i], kind) : gated_slope(inp[i], kind));
}

static void forward(float *out, const float *inp, size_t n, gate_kind kind) {
    if (n == 0) return;
    gated_forward<<<blocks_for(n), THREADS, 0, stream()>>>(out, inp, n, kind);
    CUDA_LAUNCHED();
}

static void backward(float *dinp, const float *inp, const float *dout, size_t n, gate_kind kind, int explain) {
    if (!dinp || n == 0) return;
    gated_backward<<<blocks_for(n), THREADS, 0, stream()>>>(dinp, inp, dout, n, kind, explain);
    CUDA_LAUNCHED();
}

void quickgelu_forward(float *out, const float *inp, size_t n) { forward(out, inp, n, QUICKGELU); }
void quickgelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
    backward(dinp, inp, dout, n, QUICKGELU, 0);
}
void quickgelu_explain_backward(float *dinp, const float *inp, const float *dout, size_t n) {
    backward(dinp, inp, dout, n, QUICKGELU, 1);
}
void gelu_forward(float *out, const float *inp, size_t n) { forward(out, inp, n, GELU); }
void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
    backward(dinp, inp, dout, n, GELU, 0);
}
void gelu_explain_backward(float *dinp, const float *inp, const float *dout, size_t n) {
    backward(dinp, inp, dout, n, GELU, 1);
}

/* ReLU; its backward reads the forward's output, so the forward may run in place. */
__global__ void relu_kernel(float *out, const float *inp, size_t n) {
    FOR_EACH(i, n) out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

__global__ void relu_backward_kernel(float *dinp, const float *out, const float *dout, size_t n) {
    FOR_EACH(i, n) if (out[i] > 0.0f) dinp[i] += dout[i];
}

void relu_forward(float *out, const float *inp, size_t n) {
    if (n == 0) return;
    relu_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(out, inp, n);
    CUDA_LAUNCHED();
}

void relu_backward(float *dinp, const float *out, const float *dout, size_t n) {
    if (!dinp || n == 0) return;
    relu_backward_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(dinp, out, dout, n);
    CUDA_LAUNCHED();
}

__global__ void residual_kernel(float *out, const float *a, const float *b, size_t n) {
    FOR_EACH(i, n) out[i] = a[i] + b[i];
}

/* da += dout, db += dout (either may be NULL). */
__global__ void residual_backward_kernel(float *da, float *db, const float *dout, size_t n) {
    FOR_EACH(i, n) {
        if (da) da[i] += dout[i];
        if (db) db[i] += dout[i];
    }
}

void residual_forward(float *out, const float *a, const float *b, size_t n) {
    if (n == 0) return;
    residual_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(out, a, b, n);
    CUDA_LAUNCHED();
}

void residual_backward(float *da, float *db, const float *dout, size_t n) {
    if (n == 0 || (!da && !db)) return;
    residual_backward_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(da, db, dout, n);
    CUDA_LAUNCHED();
}

__global__ void bias_add_kernel(float *out, const float *bias, float scale, size_t n, int C) {
    FOR_EACH(i, n) out[i] += scale * bias[i % C];
}

void bias_add_forward(float *out, const float *bias, float scale, int N, int C) {
    size_t n = (size_t)N * C;
    if (n == 0) return;
    bias_add_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(out, bias, scale, n, C);
    CUDA_LAUNCHED();
}

void bias_add_backward(float *dbias, const float *dout, float scale, int N, int C) {
    column_sums(dbias, dout, N, C, C, scale);
}

} // namespace bcos_cuda
