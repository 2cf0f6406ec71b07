/* Patch extraction (kernel template, see kernels_impl.h): the im2col of a stride-P, size-P convolution,
 * so that the patch conv is patchify followed by a matmul with weight[OC, Cin*P*P]. Like the
 * convolution, it drops the last H % P rows and W % P columns (they get no gradient). */

/* The element img[b, c, gy*P + ky, gx*P + kx] for patch (gy, gx), (c, ky) and kx = 0..P-1 starts here. */
static size_t patch_row_offset(int b, int c, int gy, int gx, int ky, int Cin, int H, int W, int P) {
    return (((size_t)b * Cin + c) * H + (size_t)gy * P + ky) * W + (size_t)gx * P;
}

void KERNEL(patchify_forward)(REAL *out, const REAL *img, int B, int Cin, int H, int W, int P) {
    int GH = H / P, GW = W / P;
    for (int b = 0; b < B; b++)
        for (int gy = 0; gy < GH; gy++)
            for (int gx = 0; gx < GW; gx++)
                for (int c = 0; c < Cin; c++)
                    for (int ky = 0; ky < P; ky++) {
                        const REAL *src = img + patch_row_offset(b, c, gy, gx, ky, Cin, H, W, P);
                        memcpy(out, src, (size_t)P * sizeof(REAL));
                        out += P;
                    }
}

void KERNEL(patchify_backward)(REAL *dimg, const REAL *dout, int B, int Cin, int H, int W, int P) {
    if (!dimg) return;
    int GH = H / P, GW = W / P;
    for (int b = 0; b < B; b++)
        for (int gy = 0; gy < GH; gy++)
            for (int gx = 0; gx < GW; gx++)
                for (int c = 0; c < Cin; c++)
                    for (int ky = 0; ky < P; ky++) {
                        REAL *dst = dimg + patch_row_offset(b, c, gy, gx, ky, Cin, H, W, P);
                        for (int kx = 0; kx < P; kx++) dst[kx] += dout[kx];
                        dout += P;
                    }
}
