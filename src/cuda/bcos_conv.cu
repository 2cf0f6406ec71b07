/* The B-cos convolution's own pieces on the GPU, as src/cpu/bcos_conv_impl.h computes them (the
 * convolution itself is conv2d): the norm of each input window, n = sqrt(sum over every channel and the
 * K x K window of x^2 + 1e-6), and the scaling of the convolution's output by it, out = s z. The norm
 * sums each pixel's squares over the channels once, then the windows over that plane; its backward
 * gathers, per pixel, dnorm/n over the windows that cover it (no atomics) and multiplies every channel's
 * x there by it. The scaling's backward is one thread per output position: it makes dL/dz of the OC
 * outputs there and sums their dL/dn. */
#include "bcos_factor.h"
#include "cuda_internal.h"

namespace bcos_cuda {

/* The geometry: the input, and the window's size, stride and padding (Ho, Wo as conv2d floors them). */
struct window_shape {
    int B, Cin, H, W, K, stride, pad, Ho, Wo;
};

static window_shape window_of(int B, int Cin, int H, int W, int K, int stride, int pad) {
    BCOS_CHECK(K > 0 && stride > 0 && pad >= 0, "the convolution's kernel, stride and padding are valid");
    window_shape s = {B, Cin, H, W, K, stride, pad, (H + 2 * pad - K) / stride + 1, (W + 2 * pad - K) / stride + 1};
    BCOS_CHECK(s.Ho > 0 && s.Wo > 0, "the convolution's window fits the padded input");
    return s;
}

/* squares[b, y, x] = sum over the channels of inp[b, c, y, x]^2 */
__global__ void channel_squares_kernel(float *squares, const float *inp, window_shape s) {
    size_t plane = (size_t)s.H * s.W;
    FOR_EACH(i, (size_t)s.B * plane) {
        const float *x = inp + i / plane * s.Cin * plane + i % plane;
        float sum = 0;
        for (int c = 0; c < s.Cin; c++) sum += x[c * plane] * x[c * plane];
        squares[i] = sum;
    }
}

/* norm[b, oy, ox] = sqrt(the window's sum of squares + 1e-6); the padding adds nothing. */
__global__ void window_norm_kernel(float *norm, const float *squares, window_shape s) {
    FOR_EACH(i, (size_t)s.B * s.Ho * s.Wo) {
        int ox = (int)(i % s.Wo), oy = (int)(i / s.Wo % s.Ho);
        const float *sq = squares + i / ((size_t)s.Wo * s.Ho) * s.H * s.W;
        int y0 = oy * s.stride - s.pad, x0 = ox * s.stride - s.pad;
        float sum = 0;
        for (int y = max(y0, 0); y < min(y0 + s.K, s.H); y++)
            for (int x = max(x0, 0); x < min(x0 + s.K, s.W); x++) sum += sq[(size_t)y * s.W + x];
        norm[i] = sqrtf(sum + WINDOW_NORM_EPS);
    }
}

/* gather[b, y, x] = sum of dnorm/norm over the windows that cover pixel (y, x): output oy covers row y
 * at tap y + pad - oy*stride in [0, K). */
__global__ void window_gather_kernel(float *gather, const float *dnorm, const float *norm, window_shape s) {
    FOR_EACH(i, (size_t)s.B * s.H * s.W) {
        int x = (int)(i % s.W), y = (int)(i / s.W % s.H);
        size_t out0 = i / ((size_t)s.W * s.H) * s.Ho * s.Wo;
        float acc = 0;
        for (int ky = 0; ky < s.K; ky++) {
            int ty = y + s.pad - ky;
            if (ty < 0 || ty % s.stride || ty / s.stride >= s.Ho) continue;
            for (int kx = 0; kx < s.K; kx++) {
                int tx = x + s.pad - kx;
                if (tx < 0 || tx % s.stride || tx / s.stride >= s.Wo) continue;
                size_t o = out0 + (size_t)(ty / s.stride) * s.Wo + tx / s.stride;
                acc += dnorm[o] / norm[o];
            }
        }
        gather[i] = acc;
    }
}

/* dinp[b, c, y, x] += gather[b, y, x] * inp[b, c, y, x] (dn/dx = x/n) */
__global__ void window_norm_apply_kernel(float *dinp, const float *gather, const float *inp, window_shape s) {
    size_t plane = (size_t)s.H * s.W;
    FOR_EACH(i, (size_t)s.B * s.Cin * plane) dinp[i] += gather[i / (s.Cin * plane) * plane + i % plane] * inp[i];
}

void bcos_window_norm_forward(float *norm, const float *inp, int B, int Cin, int H, int W, int K, int stride,
                              int pad) {
    window_shape s = window_of(B, Cin, H, W, K, stride, pad);
    size_t pixels = (size_t)B * H * W;
    if (pixels == 0) return;
    float *squares = (float *)scratch(pixels * sizeof(float));
    channel_squares_kernel<<<blocks_for(pixels), THREADS, 0, stream()>>>(squares, inp, s);
    CUDA_LAUNCHED();
    size_t outputs = (size_t)B * s.Ho * s.Wo;
    window_norm_kernel<<<blocks_for(outputs), THREADS, 0, stream()>>>(norm, squares, s);
    CUDA_LAUNCHED();
    scratch_free(squares);
}

void bcos_window_norm_backward(float *dinp, const float *dnorm, const float *inp, const float *norm, int B, int Cin,
                               int H, int W, int K, int stride, int pad) {
    window_shape s = window_of(B, Cin, H, W, K, stride, pad);
    size_t pixels = (size_t)B * H * W;
    if (!dinp || pixels == 0 || Cin <= 0) return;
    float *gather = (float *)scratch(pixels * sizeof(float));
    window_gather_kernel<<<blocks_for(pixels), THREADS, 0, stream()>>>(gather, dnorm, norm, s);
    CUDA_LAUNCHED();
    window_norm_apply_kernel<<<blocks_for(pixels * Cin), THREADS, 0, stream()>>>(dinp, gather, inp, s);
    CUDA_LAUNCHED();
    scratch_free(gather);
}

/* out[b, o, p] = s z, or (explain) dz += dout s: one thread per element. */
__global__ void scale_kernel(float *out, const float *dout, const float *z, const float *norm, size_t n, int OC,
                             int HW, float b) {
    FOR_EACH(i, n) {
        float s = factor(z[i], norm[i / ((size_t)OC * HW) * HW + i % HW], b);
        if (dout) out[i] += dout[i] * s;
        else out[i] = s * z[i];
    }
}

/* Thread (b, p): dz[b, o, p] += dout (s + k) for every o, dnorm[b, p] -= sum_o dout k z / n. */
__global__ void scale_backward_kernel(float *dz, float *dnorm, const float *dout, const float *z, const float *norm,
                                      int B, int OC, int HW, float b) {
    FOR_EACH(i, (size_t)B * HW) {
        size_t at = i / HW * OC * HW + i % HW;
        float n = norm[i], sum = 0;
        for (int o = 0; o < OC; o++) {
            size_t j = at + (size_t)o * HW;
            float k, s = factor_slope(z[j], n, b, &k);
            if (dz) dz[j] += dout[j] * (s + k);
            sum += dout[j] * k * z[j];
        }
        if (dnorm) dnorm[i] -= sum / n;
    }
}

static void scale(float *out, const float *dout, const float *z, const float *norm, int B, int OC, int HW, float b) {
    check_exponent(b);
    size_t n = (size_t)B * OC * HW;
    if (!out || n == 0) return;
    scale_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(out, dout, z, norm, n, OC, HW, b);
    CUDA_LAUNCHED();
}

void bcos_scale_forward(float *out, const float *z, const float *norm, int B, int OC, int HW, float b) {
    scale(out, NULL, z, norm, B, OC, HW, b);
}

void bcos_scale_backward(float *dz, float *dnorm, const float *dout, const float *z, const float *norm, int B, int OC,
                         int HW, float b) {
    check_exponent(b);
    size_t n = (size_t)B * HW;
    if ((!dz && !dnorm) || n == 0 || OC <= 0) return;
    scale_backward_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(dz, dnorm, dout, z, norm, B, OC, HW, b);
    CUDA_LAUNCHED();
}

void bcos_scale_explain_backward(float *dz, const float *dout, const float *z, const float *norm, int B, int OC,
                                 int HW, float b) {
    scale(dz, dout, z, norm, B, OC, HW, b);
}

} // namespace bcos_cuda
