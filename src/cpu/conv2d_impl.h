/* 2-D convolution, NCHW (written with REAL, see kernels_impl.h), as im2col and one GEMM per image:
 * cols [Ho*Wo, Cin*K*K] holds each output pixel's input window of one image, flattened (c, ky, kx) like
 * weight[OC, Cin, K, K] and like patchify, with zeros where the window reaches into the padding; then
 * out[b] [OC, Ho*Wo] = weight @ cols^T comes out in NCHW directly. A 1x1 window at stride 1 without
 * padding skips im2col: the image's planes are cols transposed. Nothing is kept between the passes: the
 * backward takes the convolution's input and redoes each image's im2col for dweight (a batch's kept
 * im2col was over a quarter of the ResNet student's activations), and turns dcols back into pixels
 * (col2im). Threads: the images of the forward and of dinp, and fixed blocks of dweight's output
 * channels, each with single-threaded GEMMs (cpu_parallel_for_gemms); an im2col outside those goes over
 * threads by output rows, copying each window's rows of K pixels at once. */

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

/* A 1x1 window at stride 1 without padding reads each pixel once: an image's planes [Cin, H*W] are its
 * im2col transposed, so the GEMMs take them as they are (most of a ResNet's convolutions). */
static int conv_is_pointwise(int K, int stride, int pad) { return K == 1 && stride == 1 && pad == 0; }

/* Images [begin, end) of a convolution's forward, each an im2col (unless pointwise) and one GEMM. */
typedef struct {
    REAL *out;
    const REAL *inp, *weight, *bias;
    int Cin, H, W, OC, K, stride, pad, Ho, Wo;
} conv_images;

static void conv_forward_images(void *ctx, size_t begin, size_t end) {
    const conv_images *a = ctx;
    int Cin = a->Cin, OC = a->OC, K = a->K;
    size_t HW = (size_t)a->Ho * a->Wo, CKK = (size_t)Cin * K * K;
    int pointwise = conv_is_pointwise(K, a->stride, a->pad);
    REAL *cols = pointwise ? NULL : xmalloc(HW * CKK * sizeof(REAL));
    for (size_t b = begin; b < end; b++) {
        REAL *ob = a->out + b * OC * HW;
        const REAL *img = a->inp + b * Cin * a->H * a->W;
        if (pointwise)
            GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, (int)HW, Cin, 1, a->weight, Cin, img, (int)HW, 0, ob,
                 (int)HW);
        else {
            im2col_image(cols, img, Cin, a->H, a->W, K, a->stride, a->pad, a->Ho, a->Wo);
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, OC, (int)HW, (int)CKK, 1, a->weight, (int)CKK, cols,
                 (int)CKK, 0, ob, (int)HW);
        }
        if (a->bias)
            for (int o = 0; o < OC; o++)
                for (size_t i = 0; i < HW; i++) ob[(size_t)o * HW + i] += a->bias[o];
    }
    free(cols);
}

/* The images go over the threads, each with single-threaded GEMMs: a ResNet's maps are too small for
 * OpenBLAS to spread one image's GEMM well, and its threads would spin through the im2col between. */
static void conv2d_forward(REAL *out, const REAL *inp, const REAL *weight, const REAL *bias, int B, int Cin, int H,
                           int W, int OC, int K, int stride, int pad) {
    int Ho = conv_out_size(H, K, stride, pad), Wo = conv_out_size(W, K, stride, pad);
    BCOS_CHECK(Ho > 0 && Wo > 0, "the convolution's window fits the padded input");
    conv_images a = {out, inp, weight, bias, Cin, H, W, OC, K, stride, pad, Ho, Wo};
    cpu_parallel_for_gemms((size_t)B, conv_forward_images, &a);
}

/* Images [begin, end) of a convolution's dinp: dcols [HW, CKK] = dout[b]^T @ weight, then back onto the
 * pixels (col2im); a 1x1 window's dcols is dinp[b]'s transpose, so weight^T @ dout[b] is its planes,
 * added as col2im adds. Each image is independent: they go over the threads. */
typedef struct {
    REAL *dinp;
    const REAL *dout, *weight;
    int Cin, H, W, OC, K, stride, pad, Ho, Wo;
} conv_dinp_images;

static void conv_dinp_images_range(void *ctx, size_t begin, size_t end) {
    const conv_dinp_images *a = ctx;
    int Cin = a->Cin, OC = a->OC, K = a->K, HW = a->Ho * a->Wo, CKK = Cin * K * K;
    size_t plane = (size_t)Cin * a->H * a->W;
    int pointwise = conv_is_pointwise(K, a->stride, a->pad);
    REAL *scratch = xmalloc((size_t)HW * CKK * sizeof(REAL));
    for (size_t b = begin; b < end; b++) {
        const REAL *db = a->dout + b * OC * HW;
        REAL *di = a->dinp + b * plane;
        if (pointwise) {
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, Cin, HW, OC, 1, a->weight, Cin, db, HW, 0, scratch, HW);
            for (size_t i = 0; i < plane; i++) di[i] += scratch[i];
        } else {
            GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, HW, CKK, OC, 1, db, HW, a->weight, CKK, 0, scratch, CKK);
            col2im_add(di, scratch, Cin, a->H, a->W, K, a->stride, a->pad, a->Ho, a->Wo);
        }
    }
    free(scratch);
}

static void add_bias_grad(REAL *dbias, const REAL *db, int OC, size_t HW) {
    for (int o = 0; o < OC; o++)
        for (size_t i = 0; i < HW; i++) dbias[o] += db[(size_t)o * HW + i];
}

/* Blocks [begin, end) of DWEIGHT_ROWS output channels of one image's dweight [OC, CKK] += dout[b] [OC, HW]
 * @ cols [HW, CKK] (cols: the image's im2col, or its planes [Cin, HW] for a 1x1 window, taken transposed).
 * The blocks are fixed, not one per thread: OpenBLAS's rounding depends a little on a GEMM's row count,
 * and the numbers must not depend on the number of threads. */
enum { DWEIGHT_ROWS = 64 };

typedef struct {
    REAL *dweight;
    const REAL *db, *cols;
    int OC, HW, CKK, pointwise;
} conv_dweight_blocks;

static void conv_dweight_blocks_range(void *ctx, size_t begin, size_t end) {
    const conv_dweight_blocks *a = ctx;
    for (size_t block = begin; block < end; block++) {
        int o0 = (int)block * DWEIGHT_ROWS, M = a->OC - o0 < DWEIGHT_ROWS ? a->OC - o0 : DWEIGHT_ROWS;
        const REAL *db = a->db + (size_t)o0 * a->HW;
        REAL *dw = a->dweight + (size_t)o0 * a->CKK;
        if (a->pointwise)
            GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, M, a->CKK, a->HW, 1, db, a->HW, a->cols, a->HW, 1, dw,
                 a->CKK);
        else
            GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, a->CKK, a->HW, 1, db, a->HW, a->cols, a->CKK, 1, dw,
                 a->CKK);
    }
}

/* dweight and dbias sum over the images, so those go one image after another (each image's im2col in a
 * one-image scratch, or its planes as they are for a 1x1 window), blocks of the image's output channels
 * over the threads; dinp goes over the images. */
static void conv2d_backward(REAL *dinp, REAL *dweight, REAL *dbias, const REAL *dout, const REAL *inp,
                            const REAL *weight, int B, int Cin, int H, int W, int OC, int K, int stride, int pad) {
    int Ho = conv_out_size(H, K, stride, pad), Wo = conv_out_size(W, K, stride, pad);
    size_t HW = (size_t)Ho * Wo, CKK = (size_t)Cin * K * K, plane = (size_t)Cin * H * W;
    int pointwise = conv_is_pointwise(K, stride, pad);
    REAL *cols = dweight && !pointwise ? xmalloc(HW * CKK * sizeof(REAL)) : NULL;
    for (int b = 0; b < B; b++) {
        const REAL *db = dout + (size_t)b * OC * HW, *img = inp + (size_t)b * plane;
        if (dweight) {
            if (!pointwise) im2col_image(cols, img, Cin, H, W, K, stride, pad, Ho, Wo);
            conv_dweight_blocks blocks = {dweight, db, pointwise ? img : cols, OC, (int)HW, (int)CKK, pointwise};
            cpu_parallel_for_gemms((size_t)(OC + DWEIGHT_ROWS - 1) / DWEIGHT_ROWS, conv_dweight_blocks_range, &blocks);
        }
        if (dbias) add_bias_grad(dbias, db, OC, HW);
    }
    free(cols);
    if (!dinp) return;
    conv_dinp_images d = {dinp, dout, weight, Cin, H, W, OC, K, stride, pad, Ho, Wo};
    cpu_parallel_for_gemms((size_t)B, conv_dinp_images_range, &d);
}
