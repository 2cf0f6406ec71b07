/* A per-channel affine map over NCHW (written with REAL, see kernels_impl.h): out = inp * scale[c] +
 * shift[c]. BatchNorm in evaluation mode is this map, with scale = gamma / sqrt(running_var + eps) and
 * shift = beta - running_mean * scale (as PyTorch's CPU inference computes it). */

static void channel_affine_forward(REAL *out, const REAL *inp, const REAL *scale, const REAL *shift, int B, int C,
                                   int HW) {
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            size_t at = ((size_t)b * C + c) * HW;
            REAL s = scale[c], t = shift ? shift[c] : 0;
            for (int i = 0; i < HW; i++) out[at + i] = inp[at + i] * s + t;
        }
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
