/* 2-D convolution, NCHW (written with REAL, see kernels_impl.h), as im2col and one GEMM per image:
 * cols[b] [Ho*Wo, Cin*K*K] holds each output pixel's input window, flattened (c, ky, kx) like
 * weight[OC, Cin, K, K] and like patchify, with zeros where the window reaches into the padding; then
 * out[b] [OC, Ho*Wo] = weight @ cols[b]^T comes out in NCHW directly. The forward keeps cols for the
 * backward, which needs them for dweight and turns dcols back into pixels (col2im). */

/* Walks cols[b] in order: for each output pixel, Cin*K*K window taps. Forward (cols, img given) copies
 * the pixel or 0 for a padding tap; backward (dimg, dcols given) adds dcols onto the pixels. */
static void conv_window_walk(REAL *cols, const REAL *img, REAL *dimg, const REAL *dcols, int Cin, int H, int W,
                             int K, int stride, int pad, int Ho, int Wo) {
    size_t k = 0;
    for (int oy = 0; oy < Ho; oy++)
        for (int ox = 0; ox < Wo; ox++)
            for (int c = 0; c < Cin; c++)
                for (int ky = 0; ky < K; ky++) {
                    int y = oy * stride - pad + ky;
                    for (int kx = 0; kx < K; kx++, k++) {
                        int x = ox * stride - pad + kx;
                        int inside = y >= 0 && y < H && x >= 0 && x < W;
                        size_t at = ((size_t)c * H + (size_t)(inside ? y : 0)) * W + (size_t)(inside ? x : 0);
                        if (cols)
                            cols[k] = inside ? img[at] : 0;
                        else if (inside)
                            dimg[at] += dcols[k];
                    }
                }
}

/* The output side of a K-window with this stride and padding, as PyTorch floors it. */
static int conv_out_size(int n, int K, int stride, int pad) { return (n + 2 * pad - K) / stride + 1; }

static void conv2d_forward(REAL *out, REAL *cols, const REAL *inp, const REAL *weight, const REAL *bias, int B,
                           int Cin, int H, int W, int OC, int K, int stride, int pad) {
    int Ho = conv_out_size(H, K, stride, pad), Wo = conv_out_size(W, K, stride, pad);
    BCOS_CHECK(Ho > 0 && Wo > 0, "the convolution's window fits the padded input");
    size_t HW = (size_t)Ho * Wo, CKK = (size_t)Cin * K * K;
    for (int b = 0; b < B; b++) {
        REAL *cb = cols + (size_t)b * HW * CKK, *ob = out + (size_t)b * OC * HW;
        conv_window_walk(cb, inp + (size_t)b * Cin * H * W, NULL, NULL, Cin, H, W, K, stride, pad, Ho, Wo);
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, OC, (int)HW, (int)CKK, 1, weight, (int)CKK, cb, (int)CKK, 0,
             ob, (int)HW);
        if (bias)
            for (int o = 0; o < OC; o++)
                for (size_t i = 0; i < HW; i++) ob[(size_t)o * HW + i] += bias[o];
    }
}

static void conv2d_backward(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout, const REAL *cols,
                            const REAL *weight, int B, int Cin, int H, int W, int OC, int K, int stride, int pad) {
    int Ho = conv_out_size(H, K, stride, pad), Wo = conv_out_size(W, K, stride, pad);
    size_t HW = (size_t)Ho * Wo, CKK = (size_t)Cin * K * K;
    REAL *dcols = dinp ? xmalloc(HW * CKK * sizeof(REAL)) : NULL;
    for (int b = 0; b < B; b++) {
        const REAL *cb = cols + (size_t)b * HW * CKK, *db = dout + (size_t)b * OC * HW;
        /* dweight[OC, CKK] += dout[b] [OC, HW] @ cols[b] [HW, CKK] */
        if (dweight)
            GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, (int)CKK, (int)HW, 1, db, (int)HW, cb, (int)CKK, 1,
                 dweight, (int)CKK);
        if (dbias)
            for (int o = 0; o < OC; o++)
                for (size_t i = 0; i < HW; i++) dbias[o] += db[(size_t)o * HW + i];
        /* dcols [HW, CKK] = dout[b]^T @ weight, then back onto the pixels */
        if (dinp) {
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)HW, (int)CKK, OC, 1, db, (int)HW, weight, (int)CKK, 0,
                 dcols, (int)CKK);
            conv_window_walk(NULL, NULL, dinp + (size_t)b * Cin * H * W, dcols, Cin, H, W, K, stride, pad, Ho, Wo);
        }
    }
    free(dcols);
}
