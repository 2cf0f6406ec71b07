/* Average pooling on the GPU, NCHW, as src/cpu/avgpool2d_impl.h computes it (torch's AvgPool2d(k):
 * kernel = stride = k, no padding, floor mode). The forward is one thread per output; the backward one
 * thread per input pixel, which reads its window's gradient, so the windows need no atomics (they do
 * not overlap) and the dropped edge gets nothing. */
#include "cuda_internal.h"

namespace bcos_cuda {

__global__ void avgpool2d_kernel(float *out, const float *inp, size_t n, int H, int W, int k) {
    int Ho = H / k, Wo = W / k;
    float inv = 1.0f / (float)(k * k);
    FOR_EACH(i, n) {
        int ox = (int)(i % Wo), oy = (int)(i / Wo % Ho);
        const float *x = inp + i / ((size_t)Wo * Ho) * H * W + (size_t)oy * k * W + (size_t)ox * k;
        float sum = 0;
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) sum += x[(size_t)ky * W + kx];
        out[i] = sum * inv;
    }
}

__global__ void avgpool2d_backward_kernel(float *dinp, const float *dout, size_t n, int H, int W, int k) {
    int Ho = H / k, Wo = W / k;
    float inv = 1.0f / (float)(k * k);
    FOR_EACH(i, n) {
        int x = (int)(i % W), y = (int)(i / W % H);
        if (y >= Ho * k || x >= Wo * k) continue;
        size_t plane = i / ((size_t)W * H);
        dinp[i] += dout[(plane * Ho + y / k) * Wo + x / k] * inv;
    }
}

static void check_window(int k) { BCOS_CHECK(k > 0, "the pooling window is at least 1"); }

void avgpool2d_forward(float *out, const float *inp, int B, int C, int H, int W, int k) {
    check_window(k);
    size_t n = (size_t)B * C * (H / k) * (W / k);
    if (n == 0) return;
    avgpool2d_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(out, inp, n, H, W, k);
    CUDA_LAUNCHED();
}

void avgpool2d_backward(float *dinp, const float *dout, int B, int C, int H, int W, int k) {
    check_window(k);
    size_t n = (size_t)B * C * H * W;
    if (!dinp || n == 0) return;
    avgpool2d_backward_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(dinp, dout, n, H, W, k);
    CUDA_LAUNCHED();
}

} // namespace bcos_cuda
