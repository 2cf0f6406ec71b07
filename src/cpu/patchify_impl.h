/* Patch extraction (written with REAL, see kernels_impl.h): the im2col of a stride-P, size-P convolution,
 * so that the patch conv is patchify followed by a matmul with weight[OC, Cin*P*P]. Like the
 * convolution, it drops the last H % P rows and W % P columns (they get no gradient). */

/* Walks the patches in token order, each as Cin*P rows of P pixels, (c, ky, kx) fastest last. Forward
 * (cols, img given) copies the pixels into cols[B, NP, Cin*P*P]; backward (dimg, dcols given) adds
 * dcols back onto the pixels they came from. */
static void patch_walk(REAL *cols, const REAL *img, REAL *dimg, const REAL *dcols, int B, int Cin, int H, int W,
                       int P) {
    int GH = H / P, GW = W / P;
    size_t k = 0;
    for (int b = 0; b < B; b++)
        for (int gy = 0; gy < GH; gy++)
            for (int gx = 0; gx < GW; gx++)
                for (int c = 0; c < Cin; c++)
                    for (int ky = 0; ky < P; ky++) {
                        size_t row = (((size_t)b * Cin + c) * H + (size_t)gy * P + ky) * W + (size_t)gx * P;
                        for (int kx = 0; kx < P; kx++, k++) {
                            if (cols)
                                cols[k] = img[row + kx];
                            else
                                dimg[row + kx] += dcols[k];
                        }
                    }
}

static void patchify_forward(REAL *out, const REAL *img, int B, int Cin, int H, int W, int P) {
    patch_walk(out, img, NULL, NULL, B, Cin, H, W, P);
}

static void patchify_backward(REAL *dimg, const REAL *dout, int B, int Cin, int H, int W, int P) {
    if (dimg) patch_walk(NULL, NULL, dimg, dout, B, Cin, H, W, P);
}
