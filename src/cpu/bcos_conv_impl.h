/* The B-cos convolution's own pieces (written with REAL, see kernels_impl.h; docs/METHOD.md, "The ResNet
 * student"). The convolution z = W * x itself is conv2d; this file adds the norm of each input window,
 *     n = sqrt(sum over every input channel and the K x K window of x^2 + 1e-6)   (zero padding adds 0),
 * and the B-cos scaling of the conv's output by it, out = (|z|/n + 1e-6)^(B-1) * z, with the same factor
 * as the B-cos units (bcos_factor, bcos_unit_impl.h). Keeping the norm apart from the conv lets one conv
 * kernel serve the teacher and the student. Needs conv2d_impl.h (conv_out_size) and bcos_unit_impl.h. */

#define BCOS_WINDOW_EPS ((REAL)1e-6) /* under the root, as the bcos package's conv */

/* squares[H,W] = sum over the Cin channels of x^2, for one image x[Cin,H,W]. */
static void channel_squares(REAL *squares, const REAL *x, int Cin, int H, int W) {
    size_t plane = (size_t)H * W;
    for (size_t i = 0; i < plane; i++) squares[i] = 0;
    for (int c = 0; c < Cin; c++)
        for (size_t i = 0; i < plane; i++) squares[i] += x[c * plane + i] * x[c * plane + i];
}

/* The input rows and columns of output position (oy, ox)'s window, clipped to the image. */
typedef struct {
    int y0, y1, x0, x1;
} window;

static window window_at(int oy, int ox, int H, int W, int K, int stride, int pad) {
    window w = {oy * stride - pad, oy * stride - pad + K, ox * stride - pad, ox * stride - pad + K};
    if (w.y0 < 0) w.y0 = 0;
    if (w.x0 < 0) w.x0 = 0;
    if (w.y1 > H) w.y1 = H;
    if (w.x1 > W) w.x1 = W;
    return w;
}

static void bcos_window_norm_forward(REAL *norm, const REAL *inp, int B, int Cin, int H, int W, int K, int stride,
                                     int pad) {
    int Ho = conv_out_size(H, K, stride, pad), Wo = conv_out_size(W, K, stride, pad);
    REAL *squares = xmalloc((size_t)H * W * sizeof(REAL));
    for (int b = 0; b < B; b++) {
        channel_squares(squares, inp + (size_t)b * Cin * H * W, Cin, H, W);
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                window w = window_at(oy, ox, H, W, K, stride, pad);
                REAL sum = 0;
                for (int y = w.y0; y < w.y1; y++)
                    for (int x = w.x0; x < w.x1; x++) sum += squares[(size_t)y * W + x];
                norm[((size_t)b * Ho + oy) * Wo + ox] = sqrt(sum + BCOS_WINDOW_EPS);
            }
    }
    free(squares);
}

/* dn/dx = x / n for every x of the window: each pixel gathers sum over its windows of dnorm / n, then
 * every channel's x there is multiplied by it. */
typedef struct {
    REAL *dinp;
    const REAL *dnorm, *inp, *norm;
    int Cin, H, W, K, stride, pad;
} window_norm_images;

static void window_norm_backward_images(void *ctx, size_t begin, size_t end) {
    const window_norm_images *a = ctx;
    int Cin = a->Cin, H = a->H, W = a->W, K = a->K, stride = a->stride, pad = a->pad;
    const REAL *dnorm = a->dnorm, *norm = a->norm;
    int Ho = conv_out_size(H, K, stride, pad), Wo = conv_out_size(W, K, stride, pad);
    size_t plane = (size_t)H * W;
    REAL *gather = xmalloc(plane * sizeof(REAL));
    for (size_t b = begin; b < end; b++) {
        for (size_t i = 0; i < plane; i++) gather[i] = 0;
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                size_t o = ((size_t)b * Ho + oy) * Wo + ox;
                REAL g = dnorm[o] / norm[o];
                window w = window_at(oy, ox, H, W, K, stride, pad);
                for (int y = w.y0; y < w.y1; y++)
                    for (int x = w.x0; x < w.x1; x++) gather[(size_t)y * W + x] += g;
            }
        const REAL *x = a->inp + b * Cin * plane;
        REAL *dx = a->dinp + b * Cin * plane;
        for (int c = 0; c < Cin; c++)
            for (size_t i = 0; i < plane; i++) dx[c * plane + i] += gather[i] * x[c * plane + i];
    }
    free(gather);
}

static void bcos_window_norm_backward(REAL *dinp, const REAL *dnorm, const REAL *inp, const REAL *norm, int B, int Cin,
                                      int H, int W, int K, int stride, int pad) {
    if (!dinp) return;
    window_norm_images a = {dinp, dnorm, inp, norm, Cin, H, W, K, stride, pad};
    cpu_parallel_for((size_t)B, 1 + ELEMENTWISE_GRAIN / ((size_t)Cin * H * W), window_norm_backward_images, &a);
}

static void bcos_scale_forward(REAL *out, const REAL *z, const REAL *norm, int B, int OC, int HW, REAL b) {
    bcos_check_exponent(b);
    for (int n = 0; n < B; n++)
        for (int o = 0; o < OC; o++) {
            size_t base = ((size_t)n * OC + o) * HW;
            for (int p = 0; p < HW; p++)
                out[base + p] = bcos_factor(z[base + p], norm[(size_t)n * HW + p], b) * z[base + p];
        }
}

/* The unit's exact gradient (bcos_unit_backward) with the norm shared by the OC outputs of a position:
 * dL/dz = g (s + k), dL/dn = -sum_o g_o k_o z_o / n. */
typedef struct {
    REAL *dz, *dnorm;
    const REAL *dout, *z, *norm;
    int OC, HW;
    REAL b;
} bcos_scale_images;

/* Images [begin, end): each image's dnorm sums over its channels, so an image is one thread's. */
static void bcos_scale_backward_images(void *ctx, size_t begin, size_t end) {
    const bcos_scale_images *a = ctx;
    int OC = a->OC, HW = a->HW;
    for (size_t n = begin; n < end; n++)
        for (int o = 0; o < OC; o++) {
            size_t base = (n * OC + o) * HW;
            for (int p = 0; p < HW; p++) {
                size_t j = base + p;
                REAL nrm = a->norm[n * HW + p], k, s = bcos_factor_slope(a->z[j], nrm, a->b, &k);
                if (a->dz) a->dz[j] += a->dout[j] * (s + k);
                if (a->dnorm) a->dnorm[n * HW + p] -= a->dout[j] * k * a->z[j] / nrm;
            }
        }
}

static void bcos_scale_backward(REAL *dz, REAL *dnorm, const REAL *dout, const REAL *z, const REAL *norm, int B, int OC,
                                int HW, REAL b) {
    bcos_check_exponent(b);
    bcos_scale_images a = {dz, dnorm, dout, z, norm, OC, HW, b};
    cpu_parallel_for((size_t)B, 1 + ELEMENTWISE_GRAIN / ((size_t)OC * HW), bcos_scale_backward_images, &a);
}

static void bcos_scale_explain_backward(REAL *dz, const REAL *dout, const REAL *z, const REAL *norm, int B, int OC,
                                        int HW, REAL b) {
    bcos_check_exponent(b);
    if (!dz) return;
    for (int n = 0; n < B; n++)
        for (int o = 0; o < OC; o++) {
            size_t base = ((size_t)n * OC + o) * HW;
            for (int p = 0; p < HW; p++)
                dz[base + p] += dout[base + p] * bcos_factor(z[base + p], norm[(size_t)n * HW + p], b);
        }
}

#undef BCOS_WINDOW_EPS
