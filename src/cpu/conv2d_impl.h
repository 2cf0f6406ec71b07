/* 2-D convolution, NCHW (written with REAL, see kernels_impl.h), as im2col and one GEMM per image:
 * cols [Ho*Wo, Cin*K*K] holds each output pixel's input window of one image, flattened (c, ky, kx) like
 * weight[OC, Cin, K, K] and like patchify, with zeros where the window reaches into the padding; then
 * out[b] [OC, Ho*Wo] = weight @ cols^T comes out in NCHW directly. Nothing is kept between the passes:
 * the backward takes the convolution's input and redoes each image's im2col for dweight (a batch's
 * kept im2col was over a quarter of the ResNet student's activations), and turns dcols back into
 * pixels (col2im) in the same one-image scratch. im2col goes over threads by output rows, copying each
 * window's rows of K pixels at once. */

/* col2im: walks dcols[b] in order (for each output pixel, Cin*K*K window taps) and adds each tap onto
 * its pixel of dimg; padding taps go nowhere. */
static void col2im_add(REAL *dimg, const REAL *dcols, int Cin, int H, int W, int K, int stride, int pad, int Ho,
                       int Wo) {
    size_t k = 0;
    for (int oy = 0; oy < Ho; oy++)
        for (int ox = 0; ox < Wo; ox++)
            for (int c = 0; c < Cin; c++)
                for (int ky = 0; ky < K; ky++) {
                    int y = oy * stride - pad + ky;
                    for (int kx = 0; kx < K; kx++, k++) {
                        int x = ox * stride - pad + kx;
                        if (y >= 0 && y < H && x >= 0 && x < W) dimg[((size_t)c * H + (size_t)y) * W + x] += dcols[k];
                    }
                }
}

/* im2col of one image's output rows [begin, end): each output pixel's window in col2im_add's order, a
 * window row inside the image copied as K consecutive pixels, one outside it as K zeros. */
typedef struct {
    REAL *cols;
    const REAL *inp;
    int Cin, H, W, K, stride, pad, Wo;
} im2col_rows;

/* A 1x1 window without padding is one pixel of each channel: the row's cols are the transpose of its
 * [Cin, Wo] pixels, written a tile of channels at a time so that each cache line of cols fills at once. */
static void im2col_pointwise_row(REAL *cols, const REAL *img, int Cin, int H, int W, int stride, int oy, int Wo) {
    enum { TILE = 16 };
    const REAL *line = img + (size_t)oy * stride * W;
    for (int c0 = 0; c0 < Cin; c0 += TILE) {
        int c1 = c0 + TILE < Cin ? c0 + TILE : Cin;
        for (int ox = 0; ox < Wo; ox++) {
            REAL *k = cols + (size_t)ox * Cin;
            const REAL *src = line + (size_t)ox * stride;
            for (int c = c0; c < c1; c++) k[c] = src[(size_t)c * H * W];
        }
    }
}

/* One output row's windows for a K x K kernel; inlined with K = 3 (RN50's windows) so that the copy of
 * a window row unrolls. */
__attribute__((always_inline)) static inline void im2col_row(REAL *k, const REAL *img, int Cin, int H, int W,
                                                              int K, int stride, int pad, int oy, int Wo) {
    for (int ox = 0; ox < Wo; ox++) {
        int x0 = ox * stride - pad;
        int whole = x0 >= 0 && x0 + K <= W;
        for (int c = 0; c < Cin; c++)
            for (int ky = 0; ky < K; ky++, k += K) {
                int y = oy * stride - pad + ky;
                if (y < 0 || y >= H) {
                    for (int kx = 0; kx < K; kx++) k[kx] = 0;
                    continue;
                }
                const REAL *line = img + ((size_t)c * H + (size_t)y) * W;
                if (whole)
                    for (int kx = 0; kx < K; kx++) k[kx] = line[x0 + kx];
                else
                    for (int kx = 0; kx < K; kx++) k[kx] = x0 + kx >= 0 && x0 + kx < W ? line[x0 + kx] : 0;
            }
    }
}

static void im2col_rows_of(void *ctx, size_t begin, size_t end) {
    const im2col_rows *a = ctx;
    int Cin = a->Cin, H = a->H, W = a->W, K = a->K, stride = a->stride, pad = a->pad, Wo = a->Wo;
    size_t CKK = (size_t)Cin * K * K;
    const REAL *img = a->inp;
    for (size_t row = begin; row < end; row++) {
        int oy = (int)row;
        REAL *k = a->cols + row * Wo * CKK;
        if (K == 1 && pad == 0)
            im2col_pointwise_row(k, img, Cin, H, W, stride, oy, Wo);
        else if (K == 3)
            im2col_row(k, img, Cin, H, W, 3, stride, pad, oy, Wo);
        else
            im2col_row(k, img, Cin, H, W, K, stride, pad, oy, Wo);
    }
}

/* The output side of a K-window with this stride and padding, as PyTorch floors it. */
static int conv_out_size(int n, int K, int stride, int pad) { return (n + 2 * pad - K) / stride + 1; }

/* cols [Ho*Wo, Cin*K*K] = the im2col of one image img[Cin,H,W], its output rows over the threads. */
static void im2col_image(REAL *cols, const REAL *img, int Cin, int H, int W, int K, int stride, int pad, int Ho,
                         int Wo) {
    im2col_rows rows = {cols, img, Cin, H, W, K, stride, pad, Wo};
    cpu_parallel_for((size_t)Ho, 1 + ELEMENTWISE_GRAIN / ((size_t)Wo * Cin * K * K), im2col_rows_of, &rows);
}

static void conv2d_forward(REAL *out, const REAL *inp, const REAL *weight, const REAL *bias, int B, int Cin, int H,
                           int W, int OC, int K, int stride, int pad) {
    int Ho = conv_out_size(H, K, stride, pad), Wo = conv_out_size(W, K, stride, pad);
    BCOS_CHECK(Ho > 0 && Wo > 0, "the convolution's window fits the padded input");
    size_t HW = (size_t)Ho * Wo, CKK = (size_t)Cin * K * K;
    REAL *cols = xmalloc(HW * CKK * sizeof(REAL));
    for (int b = 0; b < B; b++) {
        REAL *ob = out + (size_t)b * OC * HW;
        im2col_image(cols, inp + (size_t)b * Cin * H * W, Cin, H, W, K, stride, pad, Ho, Wo);
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, OC, (int)HW, (int)CKK, 1, weight, (int)CKK, cols, (int)CKK, 0,
             ob, (int)HW);
        if (bias)
            for (int o = 0; o < OC; o++)
                for (size_t i = 0; i < HW; i++) ob[(size_t)o * HW + i] += bias[o];
    }
    free(cols);
}

/* One image scratch serves both halves of each image's backward: its im2col for dweight, then (once
 * dweight has read it) its dcols. */
static void conv2d_backward(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout, const REAL *inp,
                            const REAL *weight, int B, int Cin, int H, int W, int OC, int K, int stride, int pad) {
    int Ho = conv_out_size(H, K, stride, pad), Wo = conv_out_size(W, K, stride, pad);
    size_t HW = (size_t)Ho * Wo, CKK = (size_t)Cin * K * K;
    REAL *cols = dinp || dweight ? xmalloc(HW * CKK * sizeof(REAL)) : NULL;
    for (int b = 0; b < B; b++) {
        const REAL *db = dout + (size_t)b * OC * HW;
        /* dweight[OC, CKK] += dout[b] [OC, HW] @ cols [HW, CKK] */
        if (dweight) {
            im2col_image(cols, inp + (size_t)b * Cin * H * W, Cin, H, W, K, stride, pad, Ho, Wo);
            GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, (int)CKK, (int)HW, 1, db, (int)HW, cols, (int)CKK, 1,
                 dweight, (int)CKK);
        }
        if (dbias)
            for (int o = 0; o < OC; o++)
                for (size_t i = 0; i < HW; i++) dbias[o] += db[(size_t)o * HW + i];
        /* dcols [HW, CKK] = dout[b]^T @ weight, then back onto the pixels */
        if (dinp) {
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)HW, (int)CKK, OC, 1, db, (int)HW, weight, (int)CKK, 0,
                 cols, (int)CKK);
            col2im_add(dinp + (size_t)b * Cin * H * W, cols, Cin, H, W, K, stride, pad, Ho, Wo);
        }
    }
    free(cols);
}
