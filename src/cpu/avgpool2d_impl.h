/* Average pooling, NCHW (written with REAL, see kernels_impl.h), as torch.nn.AvgPool2d(k): kernel =
 * stride = k, no padding, floor mode, so the last H % k rows and W % k columns are dropped (and get no
 * gradient). out[B,C,H/k,W/k]. */

typedef struct {
    REAL *out;
    const REAL *inp;
    int H, W, k;
} avgpool_planes;

/* Planes [begin, end) of the B * C. */
static void avgpool2d_forward_planes(void *ctx, size_t begin, size_t end) {
    const avgpool_planes *a = ctx;
    REAL *out = a->out;
    const REAL *inp = a->inp;
    int H = a->H, W = a->W, k = a->k, Ho = H / k, Wo = W / k;
    REAL inv = 1 / (REAL)(k * k);
    for (size_t plane = begin; plane < end; plane++) {
        const REAL *x = inp + plane * H * W;
        REAL *o = out + plane * Ho * Wo;
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                REAL sum = 0;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) sum += x[(size_t)(oy * k + ky) * W + ox * k + kx];
                o[(size_t)oy * Wo + ox] = sum * inv;
            }
    }
}

static void avgpool2d_forward(REAL *out, const REAL *inp, int B, int C, int H, int W, int k) {
    avgpool_planes a = {out, inp, H, W, k};
    cpu_parallel_for((size_t)B * C, 1 + ELEMENTWISE_GRAIN / ((size_t)H * W), avgpool2d_forward_planes, &a);
}

static void avgpool2d_backward(REAL *dinp, const REAL *dout, int B, int C, int H, int W, int k) {
    if (!dinp) return;
    int Ho = H / k, Wo = W / k;
    REAL inv = 1 / (REAL)(k * k);
    for (size_t plane = 0; plane < (size_t)B * C; plane++) {
        REAL *dx = dinp + plane * H * W;
        const REAL *d = dout + plane * Ho * Wo;
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                REAL g = d[(size_t)oy * Wo + ox] * inv;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) dx[(size_t)(oy * k + ky) * W + ox * k + kx] += g;
            }
    }
}
