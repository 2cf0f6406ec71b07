/* The per-channel affine map on the GPU, NCHW (BatchNorm in evaluation mode), as
 * src/cpu/channel_affine_impl.h computes it: out = inp * scale[c] + shift[c]. The backward gives one
 * block to each (image, channel) plane: it adds the input gradient and sums the plane's dscale and
 * dshift terms, one atomic add per plane and parameter. */
#include "cuda_internal.h"

namespace bcos_cuda {

__global__ void channel_affine_kernel(float *out, const float *inp, const float *scale, const float *shift, size_t n,
                                      int C, int HW) {
    FOR_EACH(i, n) {
        int c = (int)(i / HW % C);
        out[i] = inp[i] * scale[c] + (shift ? shift[c] : 0.0f);
    }
}

/* Block (b*C + c): plane c of image b. */
__global__ void channel_affine_backward_kernel(float *dinp, float *dscale, float *dshift, const float *dout,
                                               const float *inp, const float *scale, int C, int HW) {
    int c = blockIdx.x % C;
    size_t at = (size_t)blockIdx.x * HW;
    float ds = 0, dt = 0, s = scale[c];
    for (int i = threadIdx.x; i < HW; i += blockDim.x) {
        float d = dout[at + i];
        ds += d * inp[at + i];
        dt += d;
        if (dinp) dinp[at + i] += d * s;
    }
    if (dscale) {
        ds = block_sum(ds);
        if (threadIdx.x == 0) atomicAdd(&dscale[c], ds);
    }
    if (dshift) {
        dt = block_sum(dt);
        if (threadIdx.x == 0) atomicAdd(&dshift[c], dt);
    }
}

void channel_affine_forward(float *out, const float *inp, const float *scale, const float *shift, int B, int C,
                            int HW) {
    size_t n = (size_t)B * C * HW;
    if (n == 0) return;
    channel_affine_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(out, inp, scale, shift, n, C, HW);
    CUDA_LAUNCHED();
}

void channel_affine_backward(float *dinp, float *dscale, float *dshift, const float *dout, const float *inp,
                             const float *scale, int B, int C, int HW) {
    size_t planes = (size_t)B * C;
    if ((!dinp && !dscale && !dshift) || planes == 0 || HW <= 0) return;
    BCOS_CHECK(planes <= 0x7fffffffu, "at most 2^31 - 1 (image, channel) planes");
    channel_affine_backward_kernel<<<(unsigned)planes, THREADS, 0, stream()>>>(dinp, dscale, dshift, dout, inp, scale,
                                                                               C, HW);
    CUDA_LAUNCHED();
}

} // namespace bcos_cuda
