/* The B-cos units on the GPU (docs/METHOD.md, "The B-cos unit"; src/cpu/bcos_unit_impl.h has the
 * formulas): z = x W^T through cuBLASLt, and beside it one kernel per row of x that takes the row's norm
 * and scales the row's outputs, out = (|z|/n + 1e-6)^(B-1) z; in the backward one kernel per row makes
 * dL/dz and adds the norm's term to dL/dx before the two GEMMs. So the B-cos scaling costs one pass
 * over z and x next to the plain linear layer's GEMM. The patch unit is patchify then the same unit with
 * the window norm. */
#include "bcos_factor.h"
#include "cuda_internal.h"

namespace bcos_cuda {

enum norm_mode { TOKEN_NORM, WINDOW_NORM };

/* Block n: norm[n] of x[n, :K], then out[n, o] = factor * z[n, o]. */
__global__ void scale_rows(float *out, float *norm, const float *z, const float *x, int K, int OC, float b,
                           norm_mode mode) {
    size_t n = blockIdx.x;
    const float *row = x + n * K;
    float squares = 0;
    for (int i = threadIdx.x; i < K; i += blockDim.x) squares += row[i] * row[i];
    squares = block_sum(squares);
    float nrm = mode == TOKEN_NORM ? sqrtf(squares) + TOKEN_NORM_EPS : sqrtf(squares + WINDOW_NORM_EPS);
    if (threadIdx.x == 0) norm[n] = nrm;
    for (int o = threadIdx.x; o < OC; o += blockDim.x) {
        float zj = z[n * OC + o];
        out[n * OC + o] = factor(zj, nrm, b) * zj;
    }
}

/* Block n: dz[n, :] = dout (s + k), and dx[n, :] += dL/dn x / root (dx may be NULL). */
__global__ void unit_backward_rows(float *dz, float *dx, const float *dout, const float *x, const float *z,
                                   const float *norm, int K, int OC, float b, norm_mode mode) {
    size_t n = blockIdx.x;
    float nrm = norm[n], dnorm = 0;
    for (int o = threadIdx.x; o < OC; o += blockDim.x) {
        size_t j = n * OC + o;
        float k, s = factor_slope(z[j], nrm, b, &k);
        dz[j] = dout[j] * (s + k);
        dnorm -= dout[j] * k * z[j];
    }
    dnorm = block_sum(dnorm) / nrm;
    float root = mode == TOKEN_NORM ? nrm - TOKEN_NORM_EPS : nrm;
    if (!dx || root <= 0) return;
    for (int i = threadIdx.x; i < K; i += blockDim.x) dx[n * K + i] += dnorm * x[n * K + i] / root;
}

/* dz = dout * the factor, held constant (explanation mode). */
__global__ void explain_rows(float *dz, const float *dout, const float *z, const float *norm, size_t n_out, int OC,
                             float b) {
    FOR_EACH(j, n_out) dz[j] = dout[j] * factor(z[j], norm[j / OC], b);
}

static void unit_forward(float *out, float *z, float *norm, const float *x, const float *weight, int N, int K,
                         int OC, float b, norm_mode mode) {
    check_exponent(b);
    if (N <= 0) return;
    linear(z, x, weight, NULL, N, K, OC, 0);
    scale_rows<<<N, THREADS, 0, stream()>>>(out, norm, z, x, K, OC, b, mode);
    CUDA_LAUNCHED();
}

static void unit_backward(float *dx, float *dweight, const float *dout, const float *x, const float *weight,
                          const float *z, const float *norm, int N, int K, int OC, float b, norm_mode mode) {
    check_exponent(b);
    if ((!dx && !dweight) || N <= 0) return;
    float *dz = (float *)scratch((size_t)N * OC * sizeof(float));
    unit_backward_rows<<<N, THREADS, 0, stream()>>>(dz, dx, dout, x, z, norm, K, OC, b, mode);
    CUDA_LAUNCHED();
    if (dx) linear_backward_inputs(dx, dz, weight, N, K, OC);
    if (dweight) linear_backward_weights(dweight, dz, x, N, K, OC);
    scratch_free(dz);
}

void bcos_linear_forward(float *out, float *z, float *norm, const float *inp, const float *weight, int N, int IC,
                         int OC, float b) {
    unit_forward(out, z, norm, inp, weight, N, IC, OC, b, TOKEN_NORM);
}

void bcos_linear_backward(float *dinp, float *dweight, const float *dout, const float *inp, const float *weight,
                          const float *z, const float *norm, int N, int IC, int OC, float b) {
    unit_backward(dinp, dweight, dout, inp, weight, z, norm, N, IC, OC, b, TOKEN_NORM);
}

void bcos_linear_explain_backward(float *dinp, const float *dout, const float *weight, const float *z,
                                  const float *norm, int N, int IC, int OC, float b) {
    check_exponent(b);
    if (!dinp || N <= 0) return;
    size_t n_out = (size_t)N * OC;
    float *dz = (float *)scratch(n_out * sizeof(float));
    explain_rows<<<blocks_for(n_out), THREADS, 0, stream()>>>(dz, dout, z, norm, n_out, OC, b);
    CUDA_LAUNCHED();
    linear_backward_inputs(dinp, dz, weight, N, IC, OC);
    scratch_free(dz);
}

/* The patch unit's rows: one per patch, Cin*P*P wide. */
static void patch_rows(int *rows, int *width, int B, int Cin, int H, int W, int P) {
    *rows = B * (H / P) * (W / P);
    *width = Cin * P * P;
}

void bcos_patch_forward(float *out, float *cols, float *z, float *norm, const float *img, const float *weight, int B,
                        int Cin, int H, int W, int P, int OC, float b) {
    int rows, width;
    patch_rows(&rows, &width, B, Cin, H, W, P);
    patchify_forward(cols, img, B, Cin, H, W, P);
    unit_forward(out, z, norm, cols, weight, rows, width, OC, b, WINDOW_NORM);
}

/* The patches' gradient in zeroed scratch, then onto the pixels. */
static float *patch_grad(int rows, int width) {
    float *dcols = (float *)scratch((size_t)rows * width * sizeof(float));
    CUDA_CHECK(cudaMemsetAsync(dcols, 0, (size_t)rows * width * sizeof(float), stream()));
    return dcols;
}

void bcos_patch_backward(float *dimg, float *dweight, const float *dout, const float *cols, const float *weight,
                         const float *z, const float *norm, int B, int Cin, int H, int W, int P, int OC, float b) {
    int rows, width;
    patch_rows(&rows, &width, B, Cin, H, W, P);
    float *dcols = dimg ? patch_grad(rows, width) : NULL;
    unit_backward(dcols, dweight, dout, cols, weight, z, norm, rows, width, OC, b, WINDOW_NORM);
    if (dimg) {
        patchify_backward(dimg, dcols, B, Cin, H, W, P);
        scratch_free(dcols);
    }
}

void bcos_patch_explain_backward(float *dimg, const float *dout, const float *weight, const float *z,
                                 const float *norm, int B, int Cin, int H, int W, int P, int OC, float b) {
    if (!dimg) return;
    int rows, width;
    patch_rows(&rows, &width, B, Cin, H, W, P);
    float *dcols = patch_grad(rows, width);
    bcos_linear_explain_backward(dcols, dout, weight, z, norm, rows, width, OC, b);
    patchify_backward(dimg, dcols, B, Cin, H, W, P);
    scratch_free(dcols);
}

} // namespace bcos_cuda
