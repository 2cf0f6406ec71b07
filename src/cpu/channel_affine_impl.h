/* A per-channel affine map over NCHW (written with REAL, see kernels_impl.h): out = inp * scale[c] +
 * shift[c]. BatchNorm in evaluation mode is this map, with scale = gamma / sqrt(running_var + eps) and
 * shift = beta - running_mean * scale (as PyTorch's CPU inference computes it). */

typedef struct {
    REAL *out;
    const REAL *inp, *scale, *shift;
    int C, HW;
} channel_affine_planes;

/* Planes [begin, end) of the B * C, numbered b * C + c. */
static void channel_affine_forward_planes(void *ctx, size_t begin, size_t end) {
    const channel_affine_planes *a = ctx;
    for (size_t plane = begin; plane < end; plane++) {
        size_t c = plane % (size_t)a->C, at = plane * a->HW;
        REAL s = a->scale[c], t = a->shift ? a->shift[c] : 0;
        for (int i = 0; i < a->HW; i++) a->out[at + i] = a->inp[at + i] * s + t;
    }
}

static void channel_affine_forward(REAL *out, const REAL *inp, const REAL *scale, const REAL *shift, int B, int C,
                                   int HW) {
    channel_affine_planes a = {out, inp, scale, shift, C, HW};
    cpu_parallel_for((size_t)B * C, 1 + ELEMENTWISE_GRAIN / (size_t)HW, channel_affine_forward_planes, &a);
}

static void channel_affine_backward(REAL *dinp, REAL *dscale, REAL *dshift, const REAL *dout, const REAL *inp,
                                    const REAL *scale, int B, int C, int HW) {
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            size_t at = ((size_t)b * C + c) * HW;
            REAL ds = 0, dt = 0;
            for (int i = 0; i < HW; i++) {
                ds += dout[at + i] * inp[at + i];
                dt += dout[at + i];
                if (dinp) dinp[at + i] += dout[at + i] * scale[c];
            }
            if (dscale) dscale[c] += ds;
            if (dshift) dshift[c] += dt;
        }
}
