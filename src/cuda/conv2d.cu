/* 2-D convolution on the GPU, NCHW, as src/cpu/conv2d_impl.h computes it: im2col into a scratch
 * cols[B, Ho*Wo, Cin*K*K], then ONE cuBLASLt GEMM over the whole batch, rows[B*Ho*Wo, OC] = cols @
 * weight^T, and a tiled transpose of each image's [Ho*Wo, OC] into NCHW that adds the bias on the way.
 * Nothing is kept: the backward redoes the im2col from the forward's input for dweight, transposes dout
 * back into rows, so that dweight and dcols are again one GEMM each over the batch, and col2im gathers
 * each input pixel's taps (no atomics: every pixel is one thread's). The scratch lives for one call (the
 * stream-ordered pool takes it back). An implicit GEMM (no cols, no transposes) is the faster design. */
#include "cuda_internal.h"

namespace bcos_cuda {

/* The geometry of one convolution. */
struct conv_shape {
    int B, Cin, H, W, OC, K, stride, pad, Ho, Wo;
    __host__ __device__ size_t pixels() const { return (size_t)Ho * Wo; }     /* output pixels per image */
    __host__ __device__ size_t window() const { return (size_t)Cin * K * K; } /* one output pixel's taps */
    __host__ __device__ size_t rows() const { return (size_t)B * pixels(); }   /* GEMM rows over the batch */
};

/* The output side of a K-window with this stride and padding, as PyTorch floors it. */
static int conv_out_size(int n, int K, int stride, int pad) { return (n + 2 * pad - K) / stride + 1; }

static conv_shape conv_of(int B, int Cin, int H, int W, int OC, int K, int stride, int pad) {
    conv_shape s = {B, Cin, H, W, OC, K, stride, pad, conv_out_size(H, K, stride, pad),
                    conv_out_size(W, K, stride, pad)};
    BCOS_CHECK(K > 0 && stride > 0 && pad >= 0, "the convolution's kernel, stride and padding are valid");
    BCOS_CHECK(s.Ho > 0 && s.Wo > 0, "the convolution's window fits the padded input");
    return s;
}

/* cols[row, (c, ky, kx)] = the input pixel under that tap, 0 in the padding. */
__global__ void im2col_kernel(float *cols, const float *inp, conv_shape s) {
    size_t window = s.window(), n = s.rows() * window;
    FOR_EACH(i, n) {
        size_t row = i / window;
        int tap = (int)(i % window);
        int c = tap / (s.K * s.K), ky = tap / s.K % s.K, kx = tap % s.K;
        size_t b = row / s.pixels();
        int pixel = (int)(row % s.pixels()), oy = pixel / s.Wo, ox = pixel % s.Wo;
        int y = oy * s.stride - s.pad + ky, x = ox * s.stride - s.pad + kx;
        int inside = y >= 0 && y < s.H && x >= 0 && x < s.W;
        cols[i] = inside ? inp[((b * s.Cin + c) * s.H + y) * s.W + x] : 0.0f;
    }
}

/* dinp[b, c, y, x] += the sum of dcols over the taps that read that pixel: output pixel oy reads row y
 * at tap ky = y + pad - oy*stride, for the oy whose window covers y. */
__global__ void col2im_kernel(float *dinp, const float *dcols, conv_shape s) {
    size_t n = (size_t)s.B * s.Cin * s.H * s.W, window = s.window();
    FOR_EACH(i, n) {
        int x = (int)(i % s.W), y = (int)(i / s.W % s.H), c = (int)(i / ((size_t)s.W * s.H) % s.Cin);
        size_t b = i / ((size_t)s.W * s.H * s.Cin);
        float acc = 0;
        for (int ky = 0; ky < s.K; ky++) {
            int ty = y + s.pad - ky;
            if (ty < 0 || ty % s.stride || ty / s.stride >= s.Ho) continue;
            for (int kx = 0; kx < s.K; kx++) {
                int tx = x + s.pad - kx;
                if (tx < 0 || tx % s.stride || tx / s.stride >= s.Wo) continue;
                size_t row = b * s.pixels() + (size_t)(ty / s.stride) * s.Wo + tx / s.stride;
                acc += dcols[row * window + ((size_t)c * s.K + ky) * s.K + kx];
            }
        }
        dinp[i] += acc;
    }
}

constexpr int TILE = 32;

/* out[b] [cols, rows] = in[b] [rows, cols]^T (+ bias[col] when given), through a shared tile so that
 * both the reads and the writes are coalesced. Grid: (column tiles, row tiles, images). */
__global__ void transpose_kernel(float *out, const float *in, const float *bias, int rows, int cols) {
    __shared__ float tile[TILE][TILE + 1]; /* +1: no bank conflicts on the column reads */
    size_t image = (size_t)blockIdx.z * rows * cols;
    int c0 = blockIdx.x * TILE, r0 = blockIdx.y * TILE;
    for (int dy = threadIdx.y; dy < TILE; dy += blockDim.y) {
        int r = r0 + dy, c = c0 + threadIdx.x;
        if (r < rows && c < cols) tile[dy][threadIdx.x] = in[image + (size_t)r * cols + c];
    }
    __syncthreads();
    for (int dy = threadIdx.y; dy < TILE; dy += blockDim.y) {
        int c = c0 + dy, r = r0 + threadIdx.x;
        if (r < rows && c < cols) out[image + (size_t)c * rows + r] = tile[threadIdx.x][dy] + (bias ? bias[c] : 0.0f);
    }
}

static void transpose(float *out, const float *in, const float *bias, int rows, int cols, int images) {
    dim3 grid((cols + TILE - 1) / TILE, (rows + TILE - 1) / TILE, images), block(TILE, THREADS / TILE);
    transpose_kernel<<<grid, block, 0, stream()>>>(out, in, bias, rows, cols);
    CUDA_LAUNCHED();
}

static void im2col(float *cols, const float *inp, const conv_shape &s) {
    size_t n = s.rows() * s.window();
    im2col_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(cols, inp, s);
    CUDA_LAUNCHED();
}

void conv2d_forward(float *out, const float *inp, const float *weight, const float *bias, int B, int Cin, int H,
                    int W, int OC, int K, int stride, int pad) {
    conv_shape s = conv_of(B, Cin, H, W, OC, K, stride, pad);
    if (B <= 0 || OC <= 0 || Cin <= 0) return;
    float *cols = (float *)scratch(s.rows() * s.window() * sizeof(float));
    im2col(cols, inp, s);
    float *rows = (float *)scratch(s.rows() * OC * sizeof(float));
    linear(rows, cols, weight, NULL, (int)s.rows(), (int)s.window(), OC, 0);
    transpose(out, rows, bias, (int)s.pixels(), OC, B);
    scratch_free(rows);
    scratch_free(cols);
}

void conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                     const float *weight, int B, int Cin, int H, int W, int OC, int K, int stride, int pad) {
    conv_shape s = conv_of(B, Cin, H, W, OC, K, stride, pad);
    if ((!dinp && !dweight && !dbias) || B <= 0 || OC <= 0 || Cin <= 0) return;
    int N = (int)s.rows(), window = (int)s.window();
    /* drows[B*Ho*Wo, OC]: dout with each image's pixels as rows */
    float *drows = (float *)scratch(s.rows() * OC * sizeof(float));
    transpose(drows, dout, NULL, OC, (int)s.pixels(), B);
    if (dweight) {
        float *cols = (float *)scratch(s.rows() * s.window() * sizeof(float));
        im2col(cols, inp, s);
        linear_backward_weights(dweight, drows, cols, N, window, OC);
        scratch_free(cols);
    }
    if (dbias) column_sums(dbias, drows, N, OC, OC, 1);
    if (dinp) {
        /* dcols = drows @ weight, written (not accumulated), then gathered onto the pixels */
        float *dcols = (float *)scratch(s.rows() * s.window() * sizeof(float));
        gemm g = {};
        g.M = N, g.N = window, g.K = OC;
        g.A = drows, g.lda = OC, g.B = weight, g.ldb = window, g.C = dcols, g.ldc = window;
        g.batch = 1, g.alpha = 1, g.beta = 0;
        gemm_run(g);
        size_t n = (size_t)B * Cin * H * W;
        col2im_kernel<<<blocks_for(n), THREADS, 0, stream()>>>(dinp, dcols, s);
        CUDA_LAUNCHED();
        scratch_free(dcols);
    }
    scratch_free(drows);
}

} // namespace bcos_cuda
